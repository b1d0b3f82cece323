package files

import (
	"testing"
	"time"
)

func TestDeletedShareRetention(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s := Share{Name: "docs", Deleted: true, Version: "01", DeletedTime: at, RetentionDays: 3}
	for _, c := range []struct {
		now     time.Time
		days    int
		expired bool
	}{
		{at, 3, false},
		{at.Add(time.Hour), 3, false},
		{at.Add(24 * time.Hour), 2, false},
		{at.Add(71 * time.Hour), 1, false},
		{at.Add(72*time.Hour + time.Second), 0, true},
	} {
		if got := s.remainingDays(c.now); got != c.days || s.expired(c.now) != c.expired {
			t.Errorf("at %v: %d days, expired %v; want %d, %v", c.now.Sub(at), got, s.expired(c.now), c.days, c.expired)
		}
	}
	if got := (Share{Name: "docs", Version: "0A", Snapshot: "2026-12-01T10:00:00.0000000Z"}).stored(); got != "docs#0A@2026-12-01T10:00:00.0000000Z" || baseShareName(got) != "docs" {
		t.Errorf("stored name %q (base %q)", got, baseShareName(got))
	}
}
