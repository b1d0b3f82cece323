package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/store/sqlite"
	"github.com/cerulean-azure/cerulean/internal/store/storetest"
)

func TestDB_Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestOpen_Reopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.Put("c", "k", []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	var got []byte
	if err := db.View(ctx, func(tx store.Tx) error { got, err = tx.Get("c", "k"); return err }); err != nil {
		t.Fatal(err)
	}
	if string(got) != "v" {
		t.Fatalf("got %q, want v", got)
	}
}
