package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cerulean-azure/cerulean/internal/store"
)

// A revision served without a query is never older than the last commit: commits by this
// handle and by another handle on the same file (an offline command beside the server) are
// seen by the very next Revision.
func TestRevision_CachedUntilAnyCommit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok := a.wal.header(); !ok {
		t.Fatal("the WAL index is not mapped: Revision would always query")
	}
	put := func(db *DB, col string) {
		t.Helper()
		if err := db.Update(ctx, func(tx store.Tx) error { return tx.Put(col, "k", []byte("v")) }); err != nil {
			t.Fatal(err)
		}
	}
	rev := func(db *DB, cols ...string) int64 {
		t.Helper()
		r, err := db.Revision(ctx, cols...)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	var want int64
	for i := 0; i < 200; i++ {
		if got := rev(a, "c"); got != want {
			t.Fatalf("round %d: revision %d, want %d", i, got, want)
		}
		if got := rev(a, "c"); got != want { // cached now
			t.Fatalf("round %d (cached): revision %d, want %d", i, got, want)
		}
		if len(a.revs.m) == 0 {
			t.Fatal("nothing cached")
		}
		writer := b
		if i%3 == 0 {
			writer = a
		}
		put(writer, "c")
		if i%5 == 0 {
			put(writer, "other") // a commit that does not touch "c"
		}
		want++
	}
	if got := rev(a, "c", "other"); got != want+40 {
		t.Fatalf("sum of revisions %d, want %d", got, want+40)
	}
}
