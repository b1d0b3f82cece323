// Package store is Cerulean's persistence boundary: documents (opaque byte values, usually
// JSON) kept under a collection and a key, read and written in transactions. Every component
// persists through this interface, so the embedded SQLite store and a PostgreSQL store are
// interchangeable; package storetest is the conformance suite both must pass.
//
// It knows nothing of Azure: keys are chosen (and case-folded) by the components. Values that
// hold secrets must be sealed by the caller before they reach a Store.
package store

import (
	"context"
	"errors"
)

// Errors every implementation returns (test with errors.Is).
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	ErrClosed   = errors.New("store: closed")
)

// Item is one document returned by List.
type Item struct {
	Key   string
	Value []byte
}

// Store is a transactional document store.
type Store interface {
	// View runs fn in a read-only transaction that sees one consistent snapshot.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction. It commits durably when fn returns nil and
	// rolls everything back when fn returns an error (which Update returns unchanged).
	Update(ctx context.Context, fn func(Tx) error) error
	// Revision returns a number that changes whenever a transaction that wrote to one of the
	// collections commits, so callers can cache state derived from them with one read.
	Revision(ctx context.Context, collections ...string) (int64, error)
	Close() error
}

// Tx is a transaction. It must not be used after the function it was passed to returns.
type Tx interface {
	// Get returns the value under (collection, key) or ErrNotFound.
	Get(collection, key string) ([]byte, error)
	// GetFunc calls fn with the value under (collection, key) and returns what fn returns, or
	// ErrNotFound without calling it. The value is the store's own memory, valid only while fn
	// runs: fn must not keep or change it (no copy is made; Get copies).
	GetFunc(collection, key string, fn func(value []byte) error) error
	// Put creates or replaces the value; value is not retained after Put returns.
	Put(collection, key string, value []byte) error
	// Create stores the value only if the key is absent; otherwise ErrExists.
	Create(collection, key string, value []byte) error
	// Delete removes the value or returns ErrNotFound.
	Delete(collection, key string) error
	// List returns the collection's items whose key starts with prefix, ordered by key
	// (byte-wise).
	List(collection, prefix string) ([]Item, error)
	// Keys returns, ordered by key (byte-wise), at most limit keys k of the collection with
	// from <= k < to (no upper bound when to is ""; no limit when limit <= 0), without their
	// values: what a caller needs to find or delete documents in a key range cheaply.
	Keys(collection, from, to string, limit int) ([]string, error)
}
