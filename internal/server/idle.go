package server

import (
	"context"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// idleRelease gives the memory a burst of requests left behind back to the system once the
// server falls quiet: the store's page caches, filled up to their bounds, and Go's freed heap
// pages, which its runtime returns only gradually — after a load the server kept tens of MiB
// it no longer used (issue 14's soak).
type idleRelease struct {
	requests atomic.Int64 // counted by ServeHTTP
	seen     int64        // the count at the previous tick
	busy     bool         // requests came since the last release
}

// idleReleaseEvery is how long the server must see no request before it releases memory.
const idleReleaseEvery = 2 * time.Second

// step takes a tick at which the request count is n and reports whether to release: once
// after every stretch of requests, at the first tick that finds none since the previous.
func (r *idleRelease) step(n int64) bool {
	if n != r.seen {
		r.seen, r.busy = n, true
		return false
	}
	release := r.busy
	r.busy = false
	return release
}

// memoryReleaser is a store whose caches can be emptied (the SQLite store's page caches).
type memoryReleaser interface {
	ReleaseMemory(ctx context.Context) error
}

func (s *Server) releaseWhenIdle(ctx context.Context) {
	t := time.NewTicker(idleReleaseEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.idle.step(s.idle.requests.Load()) {
				if s.store != nil {
					if err := s.store.ReleaseMemory(ctx); err != nil && ctx.Err() == nil {
						s.Log.Warn("releasing the store's caches", "error", err)
					}
				}
				debug.FreeOSMemory()
			}
		}
	}
}
