package store

import (
	"context"
	"sync"
)

// RevisionCache keeps what hot paths read on every request (a request's subscription and
// resource group, a host's identities, a key version), valid only at the store revision of the collections
// it was read from: a write to any of them, by this server or an offline command beside it,
// changes the revision, and the next read goes to the store (issue 14). It is
// never more lenient: a document newer than its tag is merely read again. Callers treat
// what it returns as read-only (it is shared).
type RevisionCache[T any] struct {
	Collections []string // the collections the documents are read from
	mu          sync.Mutex
	rev         int64
	m           map[string]cachedDoc[T]
}

type cachedDoc[T any] struct{ v T }

// Get returns the document under key, reading it with load when it is not cached at the
// collection's current revision.
func (c *RevisionCache[T]) Get(ctx context.Context, st Store, key string, load func(tx Tx) (T, error)) (T, error) {
	rev, err := st.Revision(ctx, c.Collections...)
	if err != nil {
		var zero T
		return zero, err
	}
	c.mu.Lock()
	if c.rev != rev || c.m == nil {
		c.rev, c.m = rev, map[string]cachedDoc[T]{}
	}
	d, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return d.v, nil
	}
	var v T
	err = st.View(ctx, func(tx Tx) error {
		var err error
		v, err = load(tx)
		return err
	})
	if err != nil {
		return v, err // not found (or the store failed): asked again next time
	}
	c.mu.Lock()
	if c.rev == rev && len(c.m) < 4096 {
		c.m[key] = cachedDoc[T]{v}
	}
	c.mu.Unlock()
	return v, nil
}
