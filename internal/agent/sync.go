package agent

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/directory"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/fileerror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/share"
	"github.com/cerulean-azure/cerulean/internal/providers/storagesync"
	"github.com/cerulean-azure/cerulean/internal/store"
	"golang.org/x/sys/unix"
)

// SDAttr is the extended attribute a local file's Windows security descriptor (SDDL) is
// kept in: uploaded as the share's x-ms-file-permission, written back on download, so ACLs
// travel server → share → server.
const SDAttr = "user.cerulean.sddl"

// rangeSize is the largest range uploaded at once (the File service's maximum).
const rangeSize = 4 << 20

// tmpPrefix names the agent's own temporary files, never synced.
const tmpPrefix = ".cerulean-sync-"

// Syncer syncs one server endpoint's folder with its cloud endpoint's share.
type Syncer struct {
	Endpoint storagesync.AgentEndpoint
	Server   string // the server's name, which conflict copies carry
	Share    *share.Client
	Journal  store.Store
	// Progress, when set, hears how far a run is.
	Progress func(done, total int)

	mu       sync.Mutex
	batch    map[string][]byte // journal records not yet written
	unsynced atomic.Bool       // files were written that the file system has not synced
	perms    map[string]string // permission key -> SDDL, this run's
}

// side is one side's state of a path, as last synced (journal) or now.
type side struct {
	Exists bool   `json:"exists"`
	Dir    bool   `json:"dir,omitempty"`
	Size   int64  `json:"size,omitempty"`
	Mtime  int64  `json:"mtime,omitempty"` // local: nanoseconds
	Ino    uint64 `json:"ino,omitempty"`   // local
	ETag   string `json:"etag,omitempty"`  // remote
	ID     string `json:"id,omitempty"`    // remote: the share's file id, which a rename keeps
}

// entry is a path's journal record: both sides as last synced, and an operation under way
// (written before it starts, so that a crash is resumed, not mistaken for a conflict).
type entry struct {
	Local         side   `json:"local"`
	Remote        side   `json:"remote"`
	Pending       string `json:"pending,omitempty"` // "upload" or "download"
	PendingLocal  side   `json:"pendingLocal,omitzero"`
	PendingRemote side   `json:"pendingRemote,omitzero"`
	// PendingOffset is how far a multi-range upload got: the share's copy held the local
	// file's first PendingOffset bytes at ETag PendingRemote.ETag.
	PendingOffset int64 `json:"pendingOffset,omitempty"`
}

// ItemError is a path that did not sync, and why.
type ItemError struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// Result is what a run did.
type Result struct {
	Uploaded, Downloaded, DeletedRemote, DeletedLocal, Conflicts, Renamed int
	Resumed                                                               int // uploads taken up where a crash left them
	Errors                                                                []ItemError
	Pending                                                               int
}

// workers is how many files sync at once.
const workers = 32

// journalBatch is how many journal records are written in one transaction.
const journalBatch = 256

func (r *Result) add(o Result) {
	r.Uploaded += o.Uploaded
	r.Downloaded += o.Downloaded
	r.DeletedRemote += o.DeletedRemote
	r.DeletedLocal += o.DeletedLocal
	r.Conflicts += o.Conflicts
	r.Renamed += o.Renamed
	r.Resumed += o.Resumed
}

func (s *Syncer) col() string { return "journal/" + strings.ToLower(s.Endpoint.ID) }

func sameLocal(a, b side) bool {
	return a.Exists == b.Exists && (!a.Exists || (a.Dir == b.Dir && (a.Dir || (a.Size == b.Size && a.Mtime == b.Mtime && a.Ino == b.Ino))))
}

func sameRemote(a, b side) bool {
	return a.Exists == b.Exists && (!a.Exists || (a.Dir == b.Dir && (a.Dir || a.ETag == b.ETag)))
}

// Run syncs once: both sides are listed, compared with the journal, and each path's change
// is carried to the other side (conflicts kept as both versions). Per-item failures are in
// the result; an error means the run could not proceed (the share unreachable, refused).
func (s *Syncer) Run(ctx context.Context) (Result, error) {
	var res Result
	remote, err := s.listRemote(ctx)
	if err != nil {
		return res, err
	}
	local, localErrs := s.listLocal()
	res.Errors = append(res.Errors, localErrs...)
	journal := map[string]entry{}
	if err := s.Journal.View(ctx, func(tx store.Tx) error {
		items, err := tx.List(s.col(), "")
		for _, it := range items {
			var e entry
			if json.Unmarshal(it.Value, &e) == nil {
				journal[it.Key] = e
			}
		}
		return err
	}); err != nil {
		return res, err
	}
	first := len(journal) == 0
	// Renames made on the share (found by file id) are made here too, not downloaded again.
	s.remoteRenames(ctx, local, remote, journal, &res)
	paths := map[string]bool{}
	for p := range remote {
		paths[p] = true
	}
	for p := range local {
		paths[p] = true
	}
	for p := range journal {
		paths[p] = true
	}
	// Creations and updates parents first; deletions children first.
	ordered := make([]string, 0, len(paths))
	for p := range paths {
		ordered = append(ordered, p)
	}
	sort.Strings(ordered)
	var deletes []string
	isDir := func(p string) bool {
		j := journal[p]
		return local[p].Dir || remote[p].Dir || j.Local.Dir || j.Remote.Dir
	}
	var mu sync.Mutex
	var fatalErr error
	do := func(p string) {
		l, r := local[p], remote[p]
		j, known := journal[p]
		var one Result
		del, err := s.reconcile(ctx, p, l, r, j, known, first, &one)
		mu.Lock()
		defer mu.Unlock()
		res.add(one)
		switch {
		case del:
			deletes = append(deletes, p)
		case err != nil && fatal(err):
			if fatalErr == nil {
				fatalErr = err
			}
		case err != nil:
			res.Errors = append(res.Errors, ItemError{Path: p, Error: err.Error()})
		}
	}
	// Folders first, in order (parents before children); then files, several at once.
	var filePaths []string
	for _, p := range ordered {
		if !isDir(p) {
			filePaths = append(filePaths, p)
			continue
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		do(p)
		if fatalErr != nil {
			return res, fatalErr
		}
	}
	// Local renames (a file gone and a new one with its inode and time) are renamed on the
	// share too, not sent again.
	renamed := s.renames(ctx, local, remote, journal, &res)
	work := make(chan string)
	var wg sync.WaitGroup
	var done atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				do(p)
				if n := done.Add(1); s.Progress != nil && n%100 == 0 {
					s.Progress(int(n), len(filePaths))
				}
			}
		}()
	}
	for _, p := range interleave(filePaths) {
		if renamed[p] {
			continue
		}
		mu.Lock()
		stop := fatalErr != nil
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		work <- p
	}
	close(work)
	wg.Wait()
	if err := s.flush(ctx); err != nil {
		return res, err
	}
	if fatalErr != nil {
		return res, fatalErr
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(deletes)))
	for _, p := range deletes {
		l, r := local[p], remote[p]
		j := journal[p]
		if err := s.delete(ctx, p, l, r, j, &res); err != nil {
			_ = s.flush(ctx)
			if fatal(err) {
				return res, err
			}
			res.Errors = append(res.Errors, ItemError{Path: p, Error: err.Error()})
		}
	}
	if s.Progress != nil {
		s.Progress(len(filePaths), len(filePaths))
	}
	res.Pending = len(res.Errors)
	return res, s.flush(ctx)
}

// fatal tells an error that stops the run (authorization, the account's key, the service)
// from one about an item.
func fatal(err error) bool {
	return fileerror.HasCode(err, fileerror.AuthenticationFailed, fileerror.AuthorizationFailure,
		fileerror.AuthorizationPermissionMismatch, fileerror.InsufficientAccountPermissions, fileerror.ShareNotFound) || strings.Contains(err.Error(), "KeyVault") || errors.Is(err, context.Canceled)
}

// reconcile carries a path's change across, or says it is a deletion to make later.
func (s *Syncer) reconcile(ctx context.Context, p string, l, r side, j entry, known, first bool, res *Result) (bool, error) {
	lc, rc := l.Exists, r.Exists
	if known {
		lc, rc = !sameLocal(l, j.Local), !sameRemote(r, j.Remote)
		switch j.Pending {
		case "upload":
			if sameLocal(l, j.PendingLocal) {
				rc = false // the remote change is our own upload, cut short
			}
		case "download":
			if sameRemote(r, j.PendingRemote) && sameLocal(l, j.PendingLocal) {
				return false, s.record(ctx, p, entry{Local: l, Remote: r}) // it finished; only the journal did not
			}
		}
		// An upload cut short resumes where it stopped: the local file as it was, the
		// share's copy the same file, as the last recorded range left it (nobody wrote to it
		// since) or with just the next range more, which landed before its record could.
		if j.Pending == "upload" && j.PendingOffset > 0 && sameLocal(l, j.PendingLocal) && r.Exists && !r.Dir &&
			r.Size == l.Size && r.ID == j.PendingRemote.ID && s.resumable(ctx, p, &j, r) {
			got, err := s.upload(ctx, p, &j)
			if err != nil {
				return false, err
			}
			res.Uploaded++
			res.Resumed++
			got.Size = l.Size
			return false, s.record(ctx, p, entry{Local: l, Remote: got})
		}
	}
	switch {
	case !lc && !rc:
		if known && j.Pending != "" {
			return false, s.record(ctx, p, entry{Local: l, Remote: r})
		}
		return false, nil
	case lc && !rc:
		if !l.Exists {
			return r.Exists, s.forget(ctx, p, r.Exists)
		}
		return false, s.push(ctx, p, l, r, res)
	case !lc && rc:
		if !r.Exists {
			return l.Exists, s.forget(ctx, p, l.Exists)
		}
		return false, s.pull(ctx, p, l, r, res)
	}
	// Both sides changed.
	switch {
	case !l.Exists && !r.Exists:
		return false, s.forget(ctx, p, false)
	case l.Exists && !r.Exists:
		return false, s.push(ctx, p, l, r, res)
	case !l.Exists && r.Exists:
		if first && s.Endpoint.InitialUploadPolicy == "ServerAuthoritative" {
			return true, nil // the server's namespace wins: what it lacks goes
		}
		return false, s.pull(ctx, p, l, r, res)
	case l.Dir && r.Dir:
		return false, s.record(ctx, p, entry{Local: l, Remote: r})
	}
	if !l.Dir && !r.Dir && l.Size == r.Size {
		if same, err := s.sameContent(ctx, p); err == nil && same {
			return false, s.record(ctx, p, entry{Local: l, Remote: r})
		}
	}
	if !known && first && s.Endpoint.InitialUploadPolicy == "ServerAuthoritative" {
		return false, s.push(ctx, p, l, r, res)
	}
	return false, s.conflict(ctx, p, l, r, res)
}

// renames finds files renamed locally since the last sync (gone from one path, found at a
// new one with the same inode, size and time, the share's copy unchanged and the new name
// free there) and renames them on the share. It returns the paths it handled.
func (s *Syncer) renames(ctx context.Context, local, remote map[string]side, journal map[string]entry, res *Result) map[string]bool {
	type key struct {
		ino         uint64
		size, mtime int64
	}
	gone := map[key]string{}
	for p, j := range journal {
		l, r := local[p], remote[p]
		if !l.Exists && !j.Local.Dir && j.Local.Ino != 0 && r.Exists && sameRemote(r, j.Remote) && j.Pending == "" {
			gone[key{j.Local.Ino, j.Local.Size, j.Local.Mtime}] = p
		}
	}
	done := map[string]bool{}
	if len(gone) == 0 {
		return done
	}
	for q, l := range local {
		if l.Dir || remote[q].Exists {
			continue
		}
		if _, known := journal[q]; known {
			continue
		}
		p, ok := gone[key{l.Ino, l.Size, l.Mtime}]
		if !ok || validName(q) != nil {
			continue
		}
		delete(gone, key{l.Ino, l.Size, l.Mtime})
		if _, err := s.Share.NewRootDirectoryClient().NewFileClient(p).Rename(ctx, q, nil); err != nil {
			continue // sent the long way instead
		}
		got, err := s.statRemote(ctx, q, false)
		if err != nil {
			continue
		}
		if s.forget(ctx, p, false) != nil || s.record(ctx, q, entry{Local: l, Remote: got}) != nil {
			continue
		}
		done[p], done[q] = true, true
		res.Renamed++
	}
	return done
}

// forget drops a path's journal entry (when the other side must still be deleted, the
// deletion records it).
func (s *Syncer) forget(ctx context.Context, p string, later bool) error {
	if later {
		return nil
	}
	s.mu.Lock()
	delete(s.batch, p)
	s.mu.Unlock()
	return s.Journal.Update(ctx, func(tx store.Tx) error {
		err := tx.Delete(s.col(), p)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
}

func (s *Syncer) record(ctx context.Context, p string, e entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.batch == nil {
		s.batch = map[string][]byte{}
	}
	s.batch[p] = b
	full := len(s.batch) >= journalBatch
	s.mu.Unlock()
	if full {
		return s.flush(ctx)
	}
	return nil
}

// recordNow writes a journal record at once (with those batched before it): a pending
// operation must be on disk before the operation starts.
func (s *Syncer) recordNow(ctx context.Context, p string, e entry) error {
	if err := s.record(ctx, p, e); err != nil {
		return err
	}
	return s.flush(ctx)
}

// flush writes the batched journal records. Records lost to a crash before it cost a
// comparison (the copies are found equal by their MD5), never a wrong conflict.
func (s *Syncer) flush(ctx context.Context) error {
	s.mu.Lock()
	batch := s.batch
	s.batch = nil
	s.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	// Files downloaded for these records reach the disk before the journal says so: one
	// sync of the folder's file system for the batch, not one per file.
	if s.unsynced.Swap(false) {
		if err := syncFS(s.Endpoint.ServerLocalPath); err != nil {
			s.unsynced.Store(true)
			s.mu.Lock()
			for p, b := range batch {
				if _, newer := s.batch[p]; !newer {
					if s.batch == nil {
						s.batch = map[string][]byte{}
					}
					s.batch[p] = b
				}
			}
			s.mu.Unlock()
			return err
		}
	}
	return s.Journal.Update(ctx, func(tx store.Tx) error {
		for p, b := range batch {
			if err := tx.Put(s.col(), p, b); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Syncer) local(p string) string {
	return filepath.Join(s.Endpoint.ServerLocalPath, filepath.FromSlash(p))
}

// push makes the share's copy of p the local one.
func (s *Syncer) push(ctx context.Context, p string, l, r side, res *Result) error {
	if err := validName(p); err != nil {
		return err
	}
	if r.Exists && r.Dir != l.Dir {
		if err := s.removeRemote(ctx, p, r); err != nil {
			return err
		}
	}
	if l.Dir {
		if err := s.mkdirRemote(ctx, p); err != nil {
			return err
		}
		got, err := s.statRemote(ctx, p, true)
		if err != nil {
			return err
		}
		return s.record(ctx, p, entry{Local: l, Remote: got})
	}
	// The share may already hold these bytes (an upload whose journal record a crash lost).
	if r.Exists && !r.Dir && r.Size == l.Size {
		if same, err := s.sameContent(ctx, p); err == nil && same {
			return s.record(ctx, p, entry{Local: l, Remote: r})
		}
	}
	var pending *entry
	if l.Size > rangeSize {
		// Several requests: the pending record (moved on after each range) lets a crash
		// resume the upload.
		pending = &entry{Remote: r, Pending: "upload", PendingLocal: l}
		if err := s.recordNow(ctx, p, *pending); err != nil {
			return err
		}
	}
	got, err := s.upload(ctx, p, pending)
	if err != nil {
		return err
	}
	res.Uploaded++
	got.Size = l.Size
	return s.record(ctx, p, entry{Local: l, Remote: got})
}

// pull makes the local copy of p the share's.
func (s *Syncer) pull(ctx context.Context, p string, l, r side, res *Result) error {
	dst := s.local(p)
	if l.Exists && l.Dir != r.Dir {
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
	}
	if r.Dir {
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		got, err := statLocal(dst)
		if err != nil {
			return err
		}
		return s.record(ctx, p, entry{Local: got, Remote: r})
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, etag, err := s.download(ctx, p)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if etag != r.ETag {
		return fmt.Errorf("the share's copy changed while it was read; it is taken at the next sync")
	}
	got, err := statLocal(tmp)
	if err != nil {
		return err
	}
	// The local file must still be what was listed: a change made meanwhile is a conflict
	// the next run sees.
	if now, _ := statLocal(dst); !sameLocal(now, l) {
		return fmt.Errorf("the local file changed while the share's copy was read; it is compared again at the next sync")
	}
	// A crash after the rename and before the journal is written finds both copies equal
	// (push compares them) rather than a change to send back.
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	res.Downloaded++
	return s.record(ctx, p, entry{Local: got, Remote: r})
}

// conflict keeps both versions: the share's keeps the name, the server's is renamed
// <name>-<server>[-N].<ext> on both sides.
func (s *Syncer) conflict(ctx context.Context, p string, l, r side, res *Result) error {
	if l.Dir || r.Dir {
		return s.pull(ctx, p, l, r, res) // a folder against a file: the share's wins, the file is kept below
	}
	name := s.conflictName(ctx, p)
	if err := os.Rename(s.local(p), s.local(name)); err != nil {
		return err
	}
	moved, err := statLocal(s.local(name))
	if err != nil {
		return err
	}
	res.Conflicts++
	if err := s.push(ctx, name, moved, side{}, res); err != nil {
		return err
	}
	return s.pull(ctx, p, side{}, r, res)
}

func (s *Syncer) conflictName(ctx context.Context, p string) string {
	dir, base := path.Split(p)
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	for n := 0; ; n++ {
		cand := stem + "-" + s.Server
		if n > 0 {
			cand += fmt.Sprintf("-%d", n)
		}
		cand = dir + cand + ext
		if _, err := os.Lstat(s.local(cand)); err == nil {
			continue
		}
		if _, err := s.Share.NewRootDirectoryClient().NewFileClient(cand).GetProperties(ctx, nil); err == nil {
			continue
		}
		return cand
	}
}

// delete removes p from the side where it still is, the other side having deleted it.
func (s *Syncer) delete(ctx context.Context, p string, l, r side, j entry, res *Result) error {
	if l.Exists {
		if l.Dir {
			if err := os.Remove(s.local(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("the folder was deleted on the share, but here it holds new items: %w", err)
			}
		} else if err := os.Remove(s.local(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		res.DeletedLocal++
	} else if r.Exists {
		if err := s.removeRemote(ctx, p, r); err != nil {
			return err
		}
		res.DeletedRemote++
	}
	return s.forget(ctx, p, false)
}

func (s *Syncer) removeRemote(ctx context.Context, p string, r side) error {
	root := s.Share.NewRootDirectoryClient()
	var err error
	if r.Dir {
		_, err = root.NewSubdirectoryClient(p).Delete(ctx, nil)
	} else {
		_, err = root.NewFileClient(p).Delete(ctx, nil)
	}
	if fileerror.HasCode(err, fileerror.ResourceNotFound, fileerror.ParentNotFound) {
		return nil
	}
	return err
}

func (s *Syncer) mkdirRemote(ctx context.Context, p string) error {
	parts := strings.Split(p, "/")
	for i := range parts {
		_, err := s.Share.NewRootDirectoryClient().NewSubdirectoryClient(strings.Join(parts[:i+1], "/")).Create(ctx, nil)
		if err != nil && !fileerror.HasCode(err, fileerror.ResourceAlreadyExists) {
			return err
		}
	}
	return nil
}

func (s *Syncer) statRemote(ctx context.Context, p string, dir bool) (side, error) {
	root := s.Share.NewRootDirectoryClient()
	if dir {
		props, err := root.NewSubdirectoryClient(p).GetProperties(ctx, nil)
		if err != nil {
			return side{}, err
		}
		return side{Exists: true, Dir: true, ID: deref(props.ID)}, nil
	}
	props, err := root.NewFileClient(p).GetProperties(ctx, nil)
	if err != nil {
		return side{}, err
	}
	return side{Exists: true, Size: *props.ContentLength, ETag: string(*props.ETag), ID: deref(props.ID)}, nil
}

// upload writes the local file p to the share with its security descriptor and MD5: in
// one request up to 4 MiB, in 4 MiB ranges beyond. It returns the share copy's ETag and id.
// A file of several ranges records its progress in pending after each range; a pending
// record with an offset resumes there.
func (s *Syncer) upload(ctx context.Context, p string, pending *entry) (side, error) {
	got, err := s.uploadOnce(ctx, p, pending)
	if fileerror.HasCode(err, fileerror.ParentNotFound) && (pending == nil || pending.PendingOffset == 0) {
		// Its folder went from the share meanwhile (folders are made before files).
		if err := s.mkdirRemote(ctx, path.Dir(p)); err != nil {
			return side{}, err
		}
		got, err = s.uploadOnce(ctx, p, pending)
	}
	return got, err
}

func (s *Syncer) uploadOnce(ctx context.Context, p string, pending *entry) (side, error) {
	f, err := os.Open(s.local(p))
	if err != nil {
		return side{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return side{}, err
	}
	fc := s.Share.NewRootDirectoryClient().NewFileClient(p)
	opts := &file.CreateOptions{}
	if sddl, ok := readSD(s.local(p)); ok {
		opts.Permissions = &file.Permissions{Permission: &sddl}
	}
	if st.Size() <= rangeSize {
		b, err := io.ReadAll(io.LimitReader(f, rangeSize+1))
		if err != nil {
			return side{}, err
		}
		if int64(len(b)) != st.Size() {
			return side{}, fmt.Errorf("the file changed while it was read; it is sent at the next sync")
		}
		sum := md5.Sum(b)
		opts.HTTPHeaders = &file.HTTPHeaders{ContentMD5: sum[:]}
		opts.ContentMD5 = sum[:] // and checked by the service on the way
		if len(b) > 0 {
			opts.OptionalBody, opts.ContentLength = streaming.NopCloser(bytes.NewReader(b)), to.Ptr(int64(len(b)))
		}
		resp, err := fc.Create(ctx, st.Size(), opts)
		if err != nil {
			return side{}, err
		}
		return side{Exists: true, ETag: string(*resp.ETag), ID: deref(resp.ID)}, nil
	}
	if pending == nil {
		pending = &entry{}
	}
	h := md5.New()
	off, id := pending.PendingOffset, pending.PendingRemote.ID
	if off == 0 {
		resp, err := fc.Create(ctx, st.Size(), opts)
		if err != nil {
			return side{}, err
		}
		id = deref(resp.ID)
	} else if _, err := io.CopyN(h, f, off); err != nil { // the MD5 covers what was sent before
		return side{}, err
	}
	buf := make([]byte, rangeSize)
	for off < st.Size() {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			h.Write(buf[:n])
			resp, err := fc.UploadRange(ctx, off, streaming.NopCloser(bytes.NewReader(buf[:n])), nil)
			if err != nil {
				return side{}, err
			}
			off += int64(n)
			if pending.Pending != "" && off < st.Size() {
				pending.PendingOffset = off
				pending.PendingRemote = side{Exists: true, Size: st.Size(), ETag: string(*resp.ETag), ID: id}
				if err := s.recordNow(ctx, p, *pending); err != nil {
					return side{}, err
				}
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return side{}, err
		}
	}
	resp, err := fc.SetHTTPHeaders(ctx, &file.SetHTTPHeadersOptions{HTTPHeaders: &file.HTTPHeaders{ContentMD5: h.Sum(nil)}})
	if err != nil {
		return side{}, err
	}
	return side{Exists: true, ETag: string(*resp.ETag), ID: deref(resp.ID)}, nil
}

// resumable tells whether an upload cut short can go on from its record j: the share's copy
// is at the recorded ETag, or its next range holds exactly the local bytes (checked by the
// MD5 the service computes for the range), when j moves past it.
func (s *Syncer) resumable(ctx context.Context, p string, j *entry, r side) bool {
	if r.ETag == j.PendingRemote.ETag {
		return true
	}
	off := j.PendingOffset
	n := min(int64(rangeSize), r.Size-off)
	if n <= 0 {
		return false
	}
	sum, err := s.localMD5(p, off, n)
	if err != nil {
		return false
	}
	resp, err := s.Share.NewRootDirectoryClient().NewFileClient(p).DownloadStream(ctx, &file.DownloadStreamOptions{
		Range: file.HTTPRange{Offset: off, Count: n}, RangeGetContentMD5: to.Ptr(true)})
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.ETag == nil || string(*resp.ETag) != r.ETag || !bytes.Equal(resp.ContentMD5, sum) {
		return false
	}
	j.PendingOffset += n
	return true
}

// download reads the share's p into a temporary file beside its place, with its security
// descriptor, and returns it with the ETag it was read at.
func (s *Syncer) download(ctx context.Context, p string) (string, string, error) {
	fc := s.Share.NewRootDirectoryClient().NewFileClient(p)
	resp, err := fc.DownloadStream(ctx, nil)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(s.local(p)), tmpPrefix)
	if err != nil {
		return "", "", err
	}
	if _, err := io.Copy(tmp, resp.Body); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", "", err
	}
	// Synced with the journal batch that records it (flush), not file by file.
	s.unsynced.Store(true)
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", "", err
	}
	if resp.FilePermissionKey != nil {
		if sddl, ok := s.permission(ctx, *resp.FilePermissionKey); ok {
			writeSD(tmp.Name(), sddl)
		}
	}
	return tmp.Name(), string(*resp.ETag), nil
}

// permission is the SDDL of a share permission key (asked once per run).
func (s *Syncer) permission(ctx context.Context, key string) (string, bool) {
	s.mu.Lock()
	sddl, ok := s.perms[key]
	s.mu.Unlock()
	if ok {
		return sddl, true
	}
	perm, err := s.Share.GetPermission(ctx, key, nil)
	if err != nil || perm.Permission == nil {
		return "", false
	}
	s.mu.Lock()
	if s.perms == nil {
		s.perms = map[string]string{}
	}
	s.perms[key] = *perm.Permission
	s.mu.Unlock()
	return *perm.Permission, true
}

// sameContent compares the local and share copies of p by MD5 (the share's as uploaded).
func (s *Syncer) sameContent(ctx context.Context, p string) (bool, error) {
	return s.sameBytes(ctx, p, p), nil
}

// listRemote lists the whole share.
func (s *Syncer) listRemote(ctx context.Context) (map[string]side, error) {
	out := map[string]side{}
	queue := []string{""}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		dc := s.Share.NewRootDirectoryClient()
		if dir != "" {
			dc = dc.NewSubdirectoryClient(dir)
		}
		pager := dc.NewListFilesAndDirectoriesPager(&directory.ListFilesAndDirectoriesOptions{Include: directory.ListFilesInclude{ETag: true, Timestamps: true}})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, d := range page.Segment.Directories {
				p := path.Join(dir, *d.Name)
				out[p] = side{Exists: true, Dir: true, ID: deref(d.ID)}
				queue = append(queue, p)
			}
			for _, f := range page.Segment.Files {
				e := side{Exists: true, ID: deref(f.ID)}
				if f.Properties != nil {
					if f.Properties.ContentLength != nil {
						e.Size = *f.Properties.ContentLength
					}
					if f.Properties.ETag != nil {
						e.ETag = string(*f.Properties.ETag)
					}
				}
				out[path.Join(dir, *f.Name)] = e
			}
		}
	}
	return out, nil
}

// listLocal lists the endpoint's folder (its own temporary files aside).
func (s *Syncer) listLocal() (map[string]side, []ItemError) {
	out := map[string]side{}
	var errs []ItemError
	root := s.Endpoint.ServerLocalPath
	_ = filepath.WalkDir(root, func(full string, d fs.DirEntry, err error) error {
		if err != nil {
			if full != root {
				errs = append(errs, ItemError{Path: full, Error: err.Error()})
			}
			return nil
		}
		if full == root {
			return nil
		}
		rel, _ := filepath.Rel(root, full)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			errs = append(errs, ItemError{Path: rel, Error: "symbolic links are not synced (Azure Files has no equivalent)"})
			return nil
		}
		st, err := statLocal(full)
		if err != nil {
			errs = append(errs, ItemError{Path: rel, Error: err.Error()})
			return nil
		}
		out[rel] = st
		return nil
	})
	return out, errs
}

func statLocal(p string) (side, error) {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return side{}, nil
	}
	if err != nil {
		return side{}, err
	}
	st := side{Exists: true, Dir: fi.IsDir()}
	if !st.Dir {
		st.Size, st.Mtime = fi.Size(), fi.ModTime().UnixNano()
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			st.Ino = sys.Ino
		}
	}
	return st, nil
}

// validName refuses names the File service does not take, before anything is sent.
func validName(p string) error {
	for _, seg := range strings.Split(p, "/") {
		if len(seg) > 255 {
			return fmt.Errorf("'%s' is longer than Azure Files' 255 characters: rename it to sync it", seg)
		}
		if strings.HasSuffix(seg, ".") || strings.HasSuffix(seg, " ") {
			return fmt.Errorf("'%s' ends with a dot or a space, which Azure Files does not allow: rename it to sync it", seg)
		}
		for _, r := range seg {
			if r < 0x20 || strings.ContainsRune(`"\:|<>*?`, r) {
				return fmt.Errorf("'%s' holds %q, which Azure Files does not allow in names: rename it to sync it", seg, r)
			}
		}
	}
	return nil
}

func readSD(p string) (string, bool) {
	buf := make([]byte, 64<<10)
	n, err := syscall.Getxattr(p, SDAttr, buf)
	if err != nil || n == 0 {
		return "", false
	}
	return string(buf[:n]), true
}

func writeSD(p, sddl string) { _ = syscall.Setxattr(p, SDAttr, []byte(sddl), 0) }

// syncFS flushes the file system holding dir to disk (syncfs(2)).
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("sync the file system of %s: %w", dir, err)
	}
	return nil
}

// interleave orders paths round-robin across their folders (each folder's in order), so
// that files synced at once are mostly in different folders: creating files in one folder
// takes the file system's lock on it, and workers all in one folder wait on each other.
func interleave(paths []string) []string {
	var dirs []string
	by := map[string][]string{}
	for _, p := range paths {
		d := path.Dir(p)
		if _, ok := by[d]; !ok {
			dirs = append(dirs, d)
		}
		by[d] = append(by[d], p)
	}
	out := make([]string, 0, len(paths))
	for len(dirs) > 0 {
		left := dirs[:0] // folders with files still to take
		for _, d := range dirs {
			q := by[d]
			out = append(out, q[0])
			if by[d] = q[1:]; len(q) > 1 {
				left = append(left, d)
			}
		}
		dirs = left
	}
	return out
}
