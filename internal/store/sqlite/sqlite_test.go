package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

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

// A data folder made before documents moved to a rowid table opens with its documents.
func TestOpen_MigratesDocumentsTable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)`,
		`CREATE TABLE documents (collection TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (collection, key)) WITHOUT ROWID`,
		`CREATE TABLE revisions (collection TEXT PRIMARY KEY, revision INTEGER NOT NULL) WITHOUT ROWID`,
		`INSERT INTO schema_migrations VALUES (1), (2)`,
		`INSERT INTO documents VALUES ('files.chunks', 'a/0', zeroblob(1048576)), ('nodes', 'a', 'node a'), ('nodes', 'b', 'node b')`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(ctx, func(tx store.Tx) error {
		if v, err := tx.Get("nodes", "b"); err != nil || string(v) != "node b" {
			t.Errorf("nodes/b after the migration: %q %v", v, err)
		}
		if v, err := tx.Get("files.chunks", "a/0"); err != nil || len(v) != 1<<20 {
			t.Errorf("the chunk after the migration: %d bytes, %v", len(v), err)
		}
		items, err := tx.List("nodes", "")
		if err != nil || len(items) != 2 {
			t.Errorf("list after the migration: %v %v", items, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.Create("nodes", "a", []byte("again")) }); err != store.ErrExists {
		t.Errorf("the migrated keys are not unique: %v", err)
	}
}

// Updates committed together stay each in its own transaction: one that fails (or panics)
// leaves nothing, its neighbours everything, and revisions count only what was written.
func TestUpdate_GroupCommitIsolation(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before, _ := db.Revision(ctx, "bad")
	var wg sync.WaitGroup
	errs := make([]error, 60)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Update(ctx, func(tx store.Tx) error {
				switch {
				case i%10 == 3:
					if err := tx.Put("bad", fmt.Sprint(i), []byte("x")); err != nil {
						return err
					}
					return errors.New("refused")
				case i%10 == 7:
					_ = tx.Put("bad", fmt.Sprint(i), []byte("x"))
					panic("boom")
				}
				return tx.Put("good", fmt.Sprint(i), []byte(fmt.Sprint(i)))
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if bad := i%10 == 3 || i%10 == 7; bad != (err != nil) {
			t.Errorf("update %d: %v", i, err)
		}
	}
	if err := db.View(ctx, func(tx store.Tx) error {
		good, err := tx.List("good", "")
		if err != nil {
			return err
		}
		bad, err := tx.List("bad", "")
		if len(good) != 48 || len(bad) != 0 {
			t.Errorf("%d good and %d bad documents, want 48 and 0", len(good), len(bad))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if after, _ := db.Revision(ctx, "bad"); after != before {
		t.Errorf("the failed updates bumped the revision: %d -> %d", before, after)
	}
	// Still usable, and closing waits for nothing left.
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.Put("good", "last", []byte("1")) }); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointer: committed pages reach the database file shortly after their commit,
// copied by the background checkpointer (the writer itself would wait for 256 MiB of WAL),
// and a reopened store reads them.
func TestCheckpointer(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	value := bytes.Repeat([]byte("c"), 256<<10)
	for i := 0; i < 8; i++ {
		if err := db.Update(ctx, func(tx store.Tx) error { return tx.Put("c", fmt.Sprint(i), value) }); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for size() < before+8*256<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes (%d before 2 MiB of commits): the WAL was not checkpointed", size(), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	db.Close()
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(ctx, func(tx store.Tx) error {
		got, err := tx.Get("c", "7")
		if err == nil && !bytes.Equal(got, value) {
			err = errors.New("value differs")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
