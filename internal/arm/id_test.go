package arm

import (
	"strings"
	"testing"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		path, scope, typ, name string
		collection             bool
	}{
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1", "/subscriptions/s/resourceGroups/rg", "Microsoft.Compute/virtualMachines", "vm1", false},
		{"/subscriptions/s/resourcegroups/rg/providers/Microsoft.Compute/virtualMachines", "/subscriptions/s/resourceGroups/rg", "Microsoft.Compute/virtualMachines", "", true},
		{"/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/g", "/subscriptions/s", "Microsoft.Authorization/roleAssignments", "g", false},
		{"/providers/Microsoft.Authorization/roleDefinitions", "", "Microsoft.Authorization/roleDefinitions", "", true},
		{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1/providers/Microsoft.Authorization/roleAssignments/g",
			"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1", "Microsoft.Authorization/roleAssignments", "g", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			segs, err := CleanPath(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			id, err := ParseID(segs)
			if err != nil {
				t.Fatal(err)
			}
			if id.Scope != tt.scope || id.FullType() != tt.typ || id.Name() != tt.name || id.IsCollection() != tt.collection {
				t.Fatalf("got scope=%q type=%q name=%q collection=%v", id.Scope, id.FullType(), id.Name(), id.IsCollection())
			}
		})
	}
}

func TestCleanPath_Tricks(t *testing.T) {
	for _, p := range []string{"/subscriptions/../x", "/a/./b", "/a%2fb", "/a%5Cb", `/a\b`, "/a%00b", "/a%zz", "/a%0ab"} {
		if _, err := CleanPath(p); err == nil {
			t.Errorf("CleanPath(%q) accepted", p)
		}
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1",
		"/providers/Microsoft.Authorization/roleDefinitions", "/subscriptions/s/providers/a/b/c/providers/d/e",
		"//a//b/%41", "/subscriptions/..", "/providers/providers/providers",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		segs, err := CleanPath(p)
		if err != nil {
			return
		}
		for _, s := range segs {
			if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") {
				t.Fatalf("CleanPath(%q) let through segment %q", p, s)
			}
		}
		id, err := ParseID(segs)
		if err != nil {
			return
		}
		_ = id.ResourceID()
		_ = id.FullType()
		if len(id.Names) > len(id.Types) {
			t.Fatalf("ParseID(%q): more names than types", p)
		}
	})
}
