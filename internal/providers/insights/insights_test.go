package insights

import (
	"testing"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
)

func TestParseFilter(t *testing.T) {
	q, err := parseFilter("s", "eventTimestamp ge 2026-12-01T08:30:17.758735 and eventTimestamp le '2026-12-01T09:30:17Z' and resourceGroupName eq 'app'")
	if err != nil {
		t.Fatal(err)
	}
	if !q.filter.From.Equal(time.Date(2026, 12, 1, 8, 30, 17, 758735000, time.UTC)) || q.scope != "/subscriptions/s/resourceGroups/app" || q.filter.Scope != q.scope {
		t.Fatalf("parsed %+v", q)
	}
	for _, bad := range []string{"", "resourceGroupName eq 'app'", "eventTimestamp ge 'yesterday'",
		"eventTimestamp ge '2020-01-01' and eventTimestamp le '2020-12-01'", "eventTimestamp ge '2026-01-01' or 1 eq 1",
		"eventTimestamp ge '2026-12-01' and resourceUri eq '/subscriptions/other/resourceGroups/x'"} {
		if _, err := parseFilter("s", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	f.Add("eventTimestamp ge '2026-12-01T00:00:00Z' and resourceGroupName eq 'x'")
	f.Add("eventTimestamp ge 2026-12-01 and correlationId eq 'c' and caller eq 'x' and resourceProvider eq 'Microsoft.Storage'")
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := parseFilter("s", s); err != nil {
			if e, ok := azerr.As(err); !ok || e.Status != 400 {
				t.Fatalf("%q: %v is not a 400", s, err)
			}
		}
	})
}
