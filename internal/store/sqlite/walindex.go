package sqlite

import (
	"os"
	"sync"
	"syscall"
)

// Revisions without a query while nothing changed (issue 14). Every commit to a database in
// WAL mode, by any connection of any process, rewrites the WAL-index header at the start of
// the database's "-shm" file, which SQLite maps shared between its connections: mxFrame
// grows with each commit, and the salts change when the log restarts (see SQLite's
// walformat.html). Revision reads that header through a read-only mapping of the same file
// and reuses a revision read from the table only while the header is byte for byte the one
// it saw just before that read. A revision is therefore never older than the last commit
// anyone made, offline commands beside the server included: the cache is never more lenient
// than the query it saves. When the header cannot be mapped, every Revision queries.

// walHdrSize is the first copy of the WAL-index header (WalIndexHdr, 48 bytes).
const walHdrSize = 48

type walIndex struct {
	mem []byte // the mapped first bytes of the -shm file; nil: not mapped
}

// mapWALIndex maps the header of path's WAL index, once the database has one.
func mapWALIndex(path string) *walIndex {
	f, err := os.Open(path + "-shm")
	if err != nil {
		return &walIndex{}
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() < walHdrSize {
		return &walIndex{}
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, walHdrSize, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return &walIndex{}
	}
	return &walIndex{mem: mem}
}

// header copies the current header; false when it is not mapped.
func (w *walIndex) header() (h [walHdrSize]byte, ok bool) {
	if w == nil || w.mem == nil {
		return h, false
	}
	copy(h[:], w.mem)
	return h, true
}

func (w *walIndex) close() {
	if w != nil && w.mem != nil {
		syscall.Munmap(w.mem)
		w.mem = nil
	}
}

// revCache holds revisions read from the table, each with the WAL-index header seen just
// before it was read.
type revCache struct {
	mu sync.Mutex
	m  map[string]cachedRev // collections joined by NUL
}

type cachedRev struct {
	hdr [walHdrSize]byte
	rev int64
}
