package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
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
