// Package storetest is the conformance suite every store.Store implementation must pass.
// Call Run from the implementation's tests with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cerulean-azure/cerulean/internal/store"
)

// Run runs the whole suite. open must return a new empty store for each call.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	t.Run("GetMissing", func(t *testing.T) {
		s := open(t)
		err := s.View(ctx, func(tx store.Tx) error { _, err := tx.Get("c", "k"); return err })
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})
	t.Run("PutGet", func(t *testing.T) {
		s := open(t)
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("c", "k", []byte("v1")) })
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("c", "k", []byte("v2")) })
		if got := get(t, s, "c", "k"); got != "v2" {
			t.Fatalf("got %q, want v2", got)
		}
	})
	t.Run("GetFunc", func(t *testing.T) {
		s := open(t)
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("c", "k", []byte("value")) })
		var got string
		mustView(t, s, func(tx store.Tx) error {
			return tx.GetFunc("c", "k", func(v []byte) error { got = string(v); return nil })
		})
		if got != "value" {
			t.Fatalf("GetFunc saw %q, want value", got)
		}
		called := false
		err := s.View(ctx, func(tx store.Tx) error {
			return tx.GetFunc("c", "missing", func([]byte) error { called = true; return nil })
		})
		if !errors.Is(err, store.ErrNotFound) || called {
			t.Fatalf("missing key: %v (fn called: %v), want ErrNotFound without a call", err, called)
		}
		stop := errors.New("fn's own error")
		err = s.View(ctx, func(tx store.Tx) error { return tx.GetFunc("c", "k", func([]byte) error { return stop }) })
		if !errors.Is(err, stop) {
			t.Fatalf("GetFunc returned %v, want fn's error", err)
		}
		// Inside an update, it sees the update's own writes.
		mustUpdate(t, s, func(tx store.Tx) error {
			if err := tx.Put("c", "k", []byte("new")); err != nil {
				return err
			}
			return tx.GetFunc("c", "k", func(v []byte) error {
				if string(v) != "new" {
					return fmt.Errorf("GetFunc in the update saw %q", v)
				}
				return nil
			})
		})
	})
	t.Run("CollectionsAreSeparate", func(t *testing.T) {
		s := open(t)
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("a", "k", []byte("in a")) })
		err := s.View(ctx, func(tx store.Tx) error { _, err := tx.Get("b", "k"); return err })
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
	})
	t.Run("CreateExisting", func(t *testing.T) {
		s := open(t)
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Create("c", "k", []byte("first")) })
		err := s.Update(ctx, func(tx store.Tx) error { return tx.Create("c", "k", []byte("second")) })
		if !errors.Is(err, store.ErrExists) {
			t.Fatalf("got %v, want ErrExists", err)
		}
		if got := get(t, s, "c", "k"); got != "first" {
			t.Fatalf("got %q, want first", got)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("c", "k", []byte("v")) })
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Delete("c", "k") })
		err := s.Update(ctx, func(tx store.Tx) error { return tx.Delete("c", "k") })
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: got %v, want ErrNotFound", err)
		}
	})
	t.Run("ListPrefixOrdered", func(t *testing.T) {
		s := open(t)
		mustUpdate(t, s, func(tx store.Tx) error {
			for _, k := range []string{"/b/2", "/a/1", "/b/1", "/b", "/c", "/b0"} {
				if err := tx.Put("c", k, []byte(k)); err != nil {
					return err
				}
			}
			return tx.Put("other", "/b/9", []byte("x"))
		})
		var keys []string
		mustView(t, s, func(tx store.Tx) error {
			items, err := tx.List("c", "/b/")
			for _, it := range items {
				keys = append(keys, it.Key)
				if string(it.Value) != it.Key {
					return fmt.Errorf("value of %s is %q", it.Key, it.Value)
				}
			}
			return err
		})
		if fmt.Sprint(keys) != "[/b/1 /b/2]" {
			t.Fatalf("got %v, want [/b/1 /b/2]", keys)
		}
		mustView(t, s, func(tx store.Tx) error {
			items, err := tx.List("c", "")
			if len(items) != 6 {
				return fmt.Errorf("list all: got %d items, want 6", len(items))
			}
			return err
		})
	})
	t.Run("KeysRangeAndLimit", func(t *testing.T) {
		s := open(t)
		mustUpdate(t, s, func(tx store.Tx) error {
			for _, k := range []string{"f/003", "f/001", "f/010", "f/002", "g/001", "e/999"} {
				if err := tx.Put("c", k, []byte("value of "+k)); err != nil {
					return err
				}
			}
			return tx.Put("other", "f/004", []byte("x"))
		})
		for _, tt := range []struct {
			from, to string
			limit    int
			want     string
		}{
			{"f/", "f/\xff", 0, "[f/001 f/002 f/003 f/010]"},
			{"f/002", "f/010", 0, "[f/002 f/003]"},
			{"f/002", "", 0, "[f/002 f/003 f/010 g/001]"},
			{"f/", "g/", 2, "[f/001 f/002]"},
			{"f/011", "g/", 5, "[]"},
		} {
			mustView(t, s, func(tx store.Tx) error {
				keys, err := tx.Keys("c", tt.from, tt.to, tt.limit)
				if got := fmt.Sprint(keys); err == nil && got != tt.want {
					return fmt.Errorf("Keys(%q, %q, %d) = %s, want %s", tt.from, tt.to, tt.limit, got, tt.want)
				}
				return err
			})
		}
	})
	t.Run("ListHighBytePrefix", func(t *testing.T) {
		s := open(t)
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("c", "a\xff\xff", []byte("x")) })
		mustView(t, s, func(tx store.Tx) error {
			items, err := tx.List("c", "a\xff")
			if len(items) != 1 {
				return fmt.Errorf("got %d items, want 1", len(items))
			}
			return err
		})
	})
	t.Run("RollbackOnError", func(t *testing.T) {
		s := open(t)
		boom := errors.New("boom")
		err := s.Update(ctx, func(tx store.Tx) error {
			if err := tx.Put("c", "k1", []byte("v")); err != nil {
				return err
			}
			if err := tx.Put("c", "k2", []byte("v")); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("got %v, want the function's error", err)
		}
		mustView(t, s, func(tx store.Tx) error {
			items, err := tx.List("c", "")
			if len(items) != 0 {
				return fmt.Errorf("half-written transaction left %d items", len(items))
			}
			return err
		})
	})
	t.Run("ViewIsReadOnly", func(t *testing.T) {
		s := open(t)
		err := s.View(ctx, func(tx store.Tx) error { return tx.Put("c", "k", []byte("v")) })
		if err == nil {
			t.Fatal("Put inside View succeeded")
		}
	})
	t.Run("Revision", func(t *testing.T) {
		s := open(t)
		r0 := revision(t, s, "c")
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("c", "k", []byte("v")) })
		r1 := revision(t, s, "c")
		if r1 == r0 {
			t.Fatalf("revision did not change after a write: %d", r1)
		}
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("other", "k", []byte("v")) })
		if r2 := revision(t, s, "c"); r2 != r1 {
			t.Fatalf("revision of c changed on a write to another collection: %d -> %d", r1, r2)
		}
		_ = s.Update(ctx, func(tx store.Tx) error {
			_ = tx.Put("c", "k2", []byte("v"))
			return errors.New("abort")
		})
		if r3 := revision(t, s, "c"); r3 != r1 {
			t.Fatalf("revision changed on a rolled-back write: %d -> %d", r1, r3)
		}
	})
	t.Run("RevisionOfSeveral", func(t *testing.T) {
		s := open(t)
		several := func() int64 {
			t.Helper()
			r, err := s.Revision(ctx, "a", "b", "never-written")
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		r0 := several()
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("b", "k", []byte("v")) })
		r1 := several()
		if r1 == r0 {
			t.Fatal("revision of several did not change after a write to one of them")
		}
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("a", "k", []byte("v")) })
		r2 := several()
		if r2 == r1 {
			t.Fatal("revision of several did not change after a write to another of them")
		}
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Put("elsewhere", "k", []byte("v")) })
		if r3 := several(); r3 != r2 {
			t.Fatalf("revision of several changed on a write elsewhere: %d -> %d", r2, r3)
		}
	})
	t.Run("ConcurrentCreateOneWins", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				err := s.Update(ctx, func(tx store.Tx) error { return tx.Create("c", "k", []byte(fmt.Sprint(i))) })
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if !errors.Is(err, store.ErrExists) {
					t.Errorf("create %d: %v", i, err)
				}
			}(i)
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("got %d winners, want 1", wins)
		}
	})
	t.Run("ClosedStore", func(t *testing.T) {
		s := open(t)
		s.Close()
		err := s.View(ctx, func(tx store.Tx) error { return nil })
		if !errors.Is(err, store.ErrClosed) {
			t.Fatalf("got %v, want ErrClosed", err)
		}
	})
}

func mustUpdate(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func mustView(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, s store.Store, c, k string) string {
	t.Helper()
	var v []byte
	mustView(t, s, func(tx store.Tx) error {
		var err error
		v, err = tx.Get(c, k)
		return err
	})
	return string(v)
}

func revision(t *testing.T, s store.Store, c string) int64 {
	t.Helper()
	r, err := s.Revision(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
