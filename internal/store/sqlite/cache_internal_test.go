package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cerulean-azure/cerulean/internal/store"
)

// TestPageCacheSizes: every connection's page cache holds as many bytes as Open says, in
// pages of the file's size (a size in KiB was read with a 4 KiB page and made the caches
// 16 times larger).
func TestPageCacheSizes(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		name string
		pool *sql.DB
		kib  int
	}{{"writer", db.write, writerCacheKiB}, {"reader", db.read, readerCacheKiB}, {"checkpointer", db.ckpt, checkpointerCacheKiB}} {
		var got int
		if err := c.pool.QueryRow("PRAGMA cache_size").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if want := c.kib << 10 / pageSize; got != want {
			t.Errorf("%s: cache_size %d, want %d pages of %d bytes", c.name, got, want, pageSize)
		}
	}
}

// TestReleaseMemory: the page caches that reads filled are emptied, and the store works on.
// The caches live in SQLite's memory, outside Go's heap: the process's anonymous RSS shows
// them (8 readers × 8 MiB filled, then released).
func TestReleaseMemory(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		if err := db.Update(ctx, func(tx store.Tx) error { return tx.Put("c", fmt.Sprint(i), v) }); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ { // every reader connection at once, each reading 8 MiB
		wg.Add(1)
		go func() {
			defer wg.Done()
			db.View(ctx, func(tx store.Tx) error {
				for i := 0; i < 8; i++ {
					if _, err := tx.Get("c", fmt.Sprint(g*8+i)); err != nil {
						t.Error(err)
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	before := rssAnonKiB(t)
	if err := db.ReleaseMemory(ctx); err != nil {
		t.Fatal(err)
	}
	after := rssAnonKiB(t)
	if before-after < 16<<10 {
		t.Errorf("RssAnon %d KiB before ReleaseMemory, %d after: the page caches were not emptied", before, after)
	}
	if err := db.View(ctx, func(tx store.Tx) error { _, err := tx.Get("c", "3"); return err }); err != nil {
		t.Fatalf("a read after ReleaseMemory: %v", err)
	}
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.Put("c", "x", v) }); err != nil {
		t.Fatalf("an update after ReleaseMemory: %v", err)
	}
}

func rssAnonKiB(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssAnon:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Skip("no RssAnon")
	return 0
}
