package arm

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/store/sqlite"
)

// store.RevisionCache, as the resource-group cache uses it: it answers from memory only at the revision it read under: a
// change by this store handle or by another one on the same file (an offline command) is
// seen by the next read, a deletion at once, and nothing deleted is served.
func TestDocCache_Strict(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	other, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	put := func(s store.Store, loc string) {
		t.Helper()
		b, _ := json.Marshal(ResourceGroup{Name: "rg", Location: loc})
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(colResourceGroups, rgKey("sub", "rg"), b) }); err != nil {
			t.Fatal(err)
		}
	}
	c := store.RevisionCache[ResourceGroup]{Collections: []string{colResourceGroups}}
	get := func() (ResourceGroup, error) {
		return c.Get(ctx, st, rgKey("sub", "rg"), func(tx store.Tx) (ResourceGroup, error) { return getResourceGroup(tx, "sub", "rg") })
	}
	if _, err := get(); !isNotFound(err) {
		t.Fatalf("before it exists: %v", err)
	}
	put(st, "westus")
	for i, loc := range []string{"westus", "eastus", "northeurope"} {
		if i > 0 {
			put(other, loc)
		}
		for j := 0; j < 2; j++ { // the second read is the cached one
			g, err := get()
			if err != nil || g.Location != loc {
				t.Fatalf("round %d.%d: %+v %v, want location %s", i, j, g, err, loc)
			}
		}
	}
	if err := other.Update(ctx, func(tx store.Tx) error { return tx.Delete(colResourceGroups, rgKey("sub", "rg")) }); err != nil {
		t.Fatal(err)
	}
	if _, err := get(); !isNotFound(err) {
		t.Fatalf("after another handle deleted it: %v, want not found", err)
	}
}

// A cache over several collections (a host's identities: resources and principals) is
// invalid as soon as any of them changes.
func TestDocCache_AnyCollection(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	loads := 0
	c := store.RevisionCache[int]{Collections: []string{colResources, "directory.principals"}}
	get := func() {
		t.Helper()
		if _, err := c.Get(ctx, st, "host", func(store.Tx) (int, error) { loads++; return loads, nil }); err != nil {
			t.Fatal(err)
		}
	}
	get()
	get()
	if loads != 1 {
		t.Fatalf("%d loads with nothing changed, want 1", loads)
	}
	for i, col := range []string{"directory.principals", colResources, "unrelated"} {
		if err := st.Update(ctx, func(tx store.Tx) error { return tx.Put(col, "k", []byte("v")) }); err != nil {
			t.Fatal(err)
		}
		get()
		want := 2 + i
		if col == "unrelated" {
			want = 3
		}
		if loads != want {
			t.Fatalf("after a write to %s: %d loads, want %d", col, loads, want)
		}
	}
}
