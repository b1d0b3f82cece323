package smb

import (
	"context"
	"sync"
	"syscall"

	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/hanwen/go-fuse/v2/fs"
)

// runMax is the most a handle gathers before storing: the REST API's largest range, and
// the unit its writes are stored in (one transaction and one sync each).
const runMax = 4 << 20

// handle is an open file. Consecutive writes through it are gathered into runs stored in
// one transaction each, as SMB lets a server hold writes that are not write-through until
// the file is flushed or closed: a run is stored when it reaches runMax or a 4 MiB boundary,
// when a write does not follow it, and before anything else reads or changes the file
// (reads, truncation, renames, removal), on fsync and on close. A full run is stored in the
// background while the next one gathers (one at a time, in order); the close, fsync or next
// write reports its failure. Every write is authorized when it is made, and the run again
// when it is stored.
type handle struct {
	n *node

	mu     sync.Mutex
	actor  files.Actor
	off    int64
	buf    []byte
	spare  []byte  // the buffer of the run last stored, for the next
	flight *flight // the run being stored in the background
	err    syscall.Errno

	window files.ReadWindow // what reads through the handle decrypted last
}

// flight is a run being stored in the background.
type flight struct {
	done chan struct{}
	end  int64
	err  syscall.Errno
}

var (
	_ fs.NodeFlusher  = (*node)(nil)
	_ fs.NodeFsyncer  = (*node)(nil)
	_ fs.NodeReleaser = (*node)(nil)
)

// newHandle opens n through a handle of its own, registered so that other calls on the file
// store its runs first.
func (n *node) newHandle() *handle {
	h := &handle{n: n}
	n.f.mu.Lock()
	if n.f.open[n.key()] == nil {
		n.f.open[n.key()] = map[*handle]bool{}
	}
	n.f.open[n.key()][h] = true
	n.f.mu.Unlock()
	return h
}

// write gathers data at off into the handle's run, storing the run first when data does
// not extend it.
func (h *handle) write(ctx context.Context, a files.Actor, data []byte, off int64) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.flight != nil {
		select {
		case <-h.flight.done:
			h.landLocked()
		default:
		}
	}
	if h.err != 0 {
		return h.err
	}
	if len(h.buf) > 0 && (off != h.off+int64(len(h.buf)) || !sameActor(h.actor, a) || len(h.buf)+len(data) > runMax) {
		if e := h.storeLocked(ctx); e != 0 {
			return e
		}
	}
	n := h.n
	end := h.endLocked()
	if end == 0 {
		end = -1
	}
	if err := n.f.fs.CheckWrite(ctx, a, n.account, n.share, n.path, off, end); err != nil {
		return errno(err)
	}
	if len(h.buf) == 0 {
		h.off, h.actor = off, a
		if h.buf == nil {
			h.buf = make([]byte, 0, runMax)
		}
	}
	h.buf = append(h.buf, data...)
	// A run that reaches a 4 MiB boundary is stored: runs then stay aligned with what they
	// are stored in.
	if end := h.off + int64(len(h.buf)); len(h.buf) >= runMax || end%runMax == 0 {
		return h.launchLocked(ctx)
	}
	return 0
}

// endLocked is where the writes not yet stored end (0: none).
func (h *handle) endLocked() int64 {
	var end int64
	if h.flight != nil {
		end = h.flight.end
	}
	if len(h.buf) > 0 {
		end = max(end, h.off+int64(len(h.buf)))
	}
	return end
}

// landLocked waits for the run in flight, keeping its failure.
func (h *handle) landLocked() {
	if h.flight == nil {
		return
	}
	<-h.flight.done
	if h.flight.err != 0 && h.err == 0 {
		h.err = h.flight.err
	}
	h.flight = nil
}

// launchLocked stores the run in the background, after the one in flight.
func (h *handle) launchLocked(ctx context.Context) syscall.Errno {
	h.landLocked()
	if h.err != 0 {
		return h.err
	}
	n, run, off, actor := h.n, h.buf, h.off, h.actor
	f := &flight{done: make(chan struct{}), end: off + int64(len(run))}
	h.flight = f
	h.buf, h.spare = h.spare[:0], run
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer close(f.done)
		f.err = errno(n.f.fs.WriteAt(ctx, actor, n.account, n.share, n.path, off, run))
	}()
	return 0
}

// store stores the handle's run and waits for it; it reports (and forgets) a failure.
func (h *handle) store(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.storeLocked(ctx)
	h.err = 0
	return e
}

func (h *handle) storeLocked(ctx context.Context) syscall.Errno {
	h.landLocked()
	if h.err != 0 {
		return h.err
	}
	if len(h.buf) == 0 {
		return 0
	}
	n := h.n
	err := n.f.fs.WriteAt(ctx, h.actor, n.account, n.share, n.path, h.off, h.buf)
	h.buf = h.buf[:0]
	return errno(err)
}

// handles are the open handles of n's file.
func (n *node) handles() []*handle {
	n.f.mu.Lock()
	defer n.f.mu.Unlock()
	hs := make([]*handle, 0, len(n.f.open[n.key()]))
	for h := range n.f.open[n.key()] {
		hs = append(hs, h)
	}
	return hs
}

// settle stores every open handle's run of n's file, before another call looks at it.
// A failure is kept for the handle's next call (its writer learns of it, not this caller).
func (n *node) settle(ctx context.Context) {
	for _, h := range n.handles() {
		h.mu.Lock()
		if e := h.storeLocked(ctx); e != 0 && h.err == 0 {
			h.err = e
		}
		h.mu.Unlock()
	}
}

// pendingEnd is where the writes not yet stored through n's open handles end (0: none), so
// attributes report the size the file has to its writers.
func (n *node) pendingEnd() int64 {
	var end int64
	for _, h := range n.handles() {
		h.mu.Lock()
		end = max(end, h.endLocked())
		h.mu.Unlock()
	}
	return end
}

// settleChild settles the file name under n.
func (n *node) settleChild(ctx context.Context, name string) {
	if n.share != "" {
		n.child(name, false).settle(ctx)
	}
}

// Flush is close(2): the run is stored, and a failure is the close's.
func (n *node) Flush(ctx context.Context, fh fs.FileHandle) syscall.Errno {
	if h, ok := fh.(*handle); ok {
		return h.store(ctx)
	}
	return 0
}

// Fsync stores the run.
func (n *node) Fsync(ctx context.Context, fh fs.FileHandle, _ uint32) syscall.Errno {
	if h, ok := fh.(*handle); ok {
		return h.store(ctx)
	}
	return 0
}

// Release forgets the handle (its run was stored at Flush; stored again in case).
func (n *node) Release(ctx context.Context, fh fs.FileHandle) syscall.Errno {
	h, ok := fh.(*handle)
	if !ok {
		return 0
	}
	e := h.store(ctx)
	n.f.mu.Lock()
	delete(n.f.open[n.key()], h)
	if len(n.f.open[n.key()]) == 0 {
		delete(n.f.open, n.key())
	}
	n.f.mu.Unlock()
	return e
}

func sameActor(a, b files.Actor) bool {
	return a.AccountKey == b.AccountKey && a.Principal.ObjectID == b.Principal.ObjectID
}
