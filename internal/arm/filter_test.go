package arm

import (
	"testing"

	"github.com/cerulean-azure/cerulean/internal/azerr"
)

func TestResourceFilter(t *testing.T) {
	vm := Resource{ID: "/subscriptions/s/resourceGroups/RG1/providers/Microsoft.Compute/virtualMachines/web-01", Name: "web-01",
		Type: "Microsoft.Compute/virtualMachines", Location: "westus", Tags: map[string]string{"Env": "prod"}}
	for _, c := range []struct {
		filter string
		want   bool
	}{
		{"", true},
		{"resourceType eq 'microsoft.compute/virtualmachines'", true},
		{"resourceGroup eq 'rg1'", true},
		{"resourceGroup eq 'rg2'", false},
		{"name eq 'WEB-01'", true},
		{"substringof('eb-0', name)", true},
		{"substringof('db', name)", false},
		{"tagName eq 'env'", true},
		{"tagName eq 'env' and tagValue eq 'prod'", true},
		{"tagName eq 'env' and tagValue eq 'dev'", false},
		{"resourceGroup eq 'rg1' and name eq 'web-01' and location eq 'West US'", true},
		{"name eq 'it''s'", false},
	} {
		f, err := parseResourceFilter(c.filter)
		if err != nil {
			t.Fatalf("%q: %v", c.filter, err)
		}
		if got := f.match(vm); got != c.want {
			t.Errorf("%q matched %v, want %v", c.filter, got, c.want)
		}
	}
	for _, bad := range []string{"tagValue eq 'prod'", "name eq 'a' or name eq 'b'", "name eq 'a' and", "foo eq 'x'", "name eq 'a' and name eq 'b'"} {
		if _, err := parseResourceFilter(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzResourceFilter: any $filter is a filter or a 400, never a panic.
func FuzzResourceFilter(f *testing.F) {
	for _, s := range []string{"name eq 'a'", "tagName eq 'k' and tagValue eq 'v'", "substringof('x', name)", "resourceType eq 'a/b'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := parseResourceFilter(s)
		if err != nil {
			if e, ok := azerr.As(err); !ok || e.Status != 400 {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		fl.match(Resource{ID: "/subscriptions/s/resourceGroups/g/providers/A/b/n", Name: "n", Type: "A/b", Tags: map[string]string{"k": "v"}})
	})
}
