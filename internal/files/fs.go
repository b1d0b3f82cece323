package files

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/ntfs"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// FS is identity-based access to the shares, the file-system view the SMB path serves: every
// call names its actor and is authorized as Windows would authorize the open behind it, with
// the actor's share-level rights and the object's ACL (the more restrictive wins), after the
// account's data key is checked. Content goes through the same encryption as the REST API.
type FS struct{ s *Service }

// FS returns the identity-based file-system view of the service.
func (s *Service) FS() *FS { return &FS{s} }

// Entry describes a file or directory.
type Entry struct {
	Name       string
	Dir        bool
	ID         uint64
	Size       int64
	Attributes string
	Created    time.Time
	Modified   time.Time
	Changed    time.Time
}

func entryOf(n Node) Entry {
	return Entry{Name: n.Name(), Dir: n.Dir, ID: n.ID, Size: n.Size, Attributes: n.Attributes,
		Created: n.CreationTime, Modified: n.LastWriteTime, Changed: n.ChangeTime}
}

// ErrAccessDenied is what a refused identity-based operation answers (SMB's
// STATUS_ACCESS_DENIED; the FUSE layer answers EACCES).
func errAccessDenied(what, path string) error {
	return azerr.Forbidden("AccessDenied", "Access is denied: %s needs %s.", path, what)
}

// IsAccessDenied reports whether err is an identity-based refusal.
func IsAccessDenied(err error) bool {
	e, ok := azerr.As(err)
	return ok && e.Status == http.StatusForbidden
}

// op is one identity-based operation in progress: the account, the actor's rights, and a
// transaction to work in.
type op struct {
	f     *FS
	ctx   context.Context
	a     Account
	share string
	r     actorRights
}

func (f *FS) begin(ctx context.Context, actor Actor, account, share string, needKey bool) (*op, error) {
	a, ok := f.s.Account(ctx, account)
	if !ok {
		return nil, azerr.NotFound("AccountNotFound", "The storage account '%s' does not exist.", account)
	}
	if needKey {
		if _, err := f.s.dataKey(ctx, a); err != nil {
			return nil, err
		}
	}
	r, err := f.s.rightsFor(ctx, actor, a, share)
	if err != nil {
		return nil, err
	}
	if r.share.Mask() == 0 {
		return nil, errAccessDenied("a share-level permission (a Storage File Data SMB role at the share)", "//"+account+"/"+share)
	}
	return &op{f: f, ctx: ctx, a: a, share: share, r: r}, nil
}

// rights is what the actor may do on node n.
func (o *op) rights(tx store.Tx, n Node) (uint32, error) {
	sddl, err := getPermissionTx(tx, o.a.Name, o.share, n.PermissionKey)
	if err != nil {
		return 0, err
	}
	c, err := o.f.s.compiled(sddl)
	if err != nil {
		return 0, err
	}
	return o.r.onCompiled(c), nil
}

// load returns the node at path and what the actor may do on it.
func (o *op) load(tx store.Tx, path string) (Node, uint32, error) {
	n, err := getNodeTx(tx, o.a.Name, o.share, path)
	if err != nil {
		return n, 0, err
	}
	m, err := o.rights(tx, n)
	return n, m, err
}

// need loads the node at path and checks the actor holds want on it.
func (o *op) need(tx store.Tx, path string, want uint32, what string) (Node, error) {
	n, m, err := o.load(tx, path)
	if err != nil {
		return n, err
	}
	if m&want != want {
		return n, errAccessDenied(what, o.where(path))
	}
	return n, nil
}

func (o *op) where(path string) string { return "//" + o.a.Name + "/" + o.share + "/" + path }

// Stat describes path: it needs FILE_READ_ATTRIBUTES on it, or listing its directory.
func (f *FS) Stat(ctx context.Context, actor Actor, account, share, path string) (Entry, error) {
	o, err := f.begin(ctx, actor, account, share, true)
	if err != nil {
		return Entry{}, err
	}
	var e Entry
	err = f.s.st.View(ctx, func(tx store.Tx) error {
		n, m, err := o.load(tx, path)
		if err != nil {
			return err
		}
		if m&ntfs.FileReadAttributes == 0 && path != "" {
			if _, err := o.need(tx, parentPath(path), ntfs.FileReadData, "FILE_READ_ATTRIBUTES, or listing its directory"); err != nil {
				return err
			}
		} else if m&ntfs.FileReadAttributes == 0 {
			return errAccessDenied("FILE_READ_ATTRIBUTES", o.where(path))
		}
		e = entryOf(n)
		return nil
	})
	return e, err
}

// List lists a directory: it needs FILE_LIST_DIRECTORY on it.
func (f *FS) List(ctx context.Context, actor Actor, account, share, dir string) ([]Entry, error) {
	o, err := f.begin(ctx, actor, account, share, true)
	if err != nil {
		return nil, err
	}
	var out []Entry
	err = f.s.st.View(ctx, func(tx store.Tx) error {
		n, err := o.need(tx, dir, ntfs.FileReadData, "FILE_LIST_DIRECTORY")
		if err != nil {
			return err
		}
		if !n.Dir {
			return azerr.BadRequest("NotADirectory", "%s is a file.", o.where(dir))
		}
		kids, err := childrenTx(tx, account, share, dir)
		for _, k := range kids {
			out = append(out, entryOf(k))
		}
		return err
	})
	return out, err
}

// Create makes a file or directory at path: it needs FILE_ADD_FILE (or, for a directory,
// FILE_ADD_SUBDIRECTORY) on the parent. The actor owns it, and its ACL is inherited from the
// parent with CREATOR OWNER standing for the actor.
func (f *FS) Create(ctx context.Context, actor Actor, account, share, path string, dir bool) (Entry, error) {
	if err := ValidPath(path); err != nil || path == "" {
		return Entry{}, azerr.BadRequest("InvalidResourceName", "'%s' is not a valid file or directory name.", path)
	}
	o, err := f.begin(ctx, actor, account, share, true)
	if err != nil {
		return Entry{}, err
	}
	want, what := ntfs.FileWriteData, "FILE_ADD_FILE on its directory"
	if dir {
		want, what = ntfs.FileAppendData, "FILE_ADD_SUBDIRECTORY on its directory"
	}
	var e Entry
	err = f.s.st.Update(ctx, func(tx store.Tx) error {
		parent, err := o.need(tx, parentPath(path), want, what)
		if err != nil {
			return err
		}
		if !parent.Dir {
			return errParentNotFound()
		}
		if _, err := getNodeTx(tx, account, share, path); err == nil {
			return azerr.Conflict("ResourceAlreadyExists", "%s already exists.", o.where(path))
		}
		psd, err := nodeDescriptorTx(tx, account, share, parent)
		if err != nil {
			return err
		}
		owner := "BA" // the account key: files belong to the administrators, as on a key-mounted share
		if o.r.sid != "" {
			owner = o.r.sid
		}
		key, err := putPermissionTx(tx, account, share, ntfs.Inherit(psd, dir, owner).String())
		if err != nil {
			return err
		}
		id, err := nextID(tx, account, share)
		if err != nil {
			return err
		}
		now := f.s.now().UTC()
		attrs := "Archive"
		if dir {
			attrs = "Directory"
		}
		n := Node{Path: path, Dir: dir, ID: id, ParentID: parent.ID, Attributes: attrs, Generation: id, PermissionKey: key,
			CreationTime: now, LastWriteTime: now, ChangeTime: now, LastModified: now, ETag: newETag(now)}
		e = entryOf(n)
		return putNodeTx(tx, account, share, n)
	})
	return e, err
}

// ReadAt reads from a file at off into buf: it needs FILE_READ_DATA. It returns how many
// bytes it read (fewer at the end of the file).
func (f *FS) ReadAt(ctx context.Context, actor Actor, account, share, path string, off int64, buf []byte) (int, error) {
	return f.ReadAtCached(ctx, actor, account, share, path, off, buf, nil)
}

// ReadWindow is one reader's last few 4 MiB-aligned windows of a file, decrypted, so that
// reads that do not line up with chunks (SMB's, split by the kernel at 1 MiB less a header,
// several streams at once) decrypt each chunk once. A window answers only while the file is
// the same object with the same content (ID, Generation, Content, Size, Ranges), checked on
// every read after the read is authorized and the file's key found usable: it saves
// decryption, never a check.
type ReadWindow struct {
	mu   sync.Mutex
	wins [4]*window // each immutable once here
	next int
}

type window struct {
	id, gen, cont uint64
	size          int64
	ranges        [][2]int64
	off           int64
	data          []byte
}

const windowSize = 4 << 20

// find is the window holding offset off of file n as it is now, or nil.
func (r *ReadWindow) find(n Node, off int64) *window {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.wins {
		if w != nil && w.id == n.ID && w.gen == n.Generation && w.cont == n.Content && w.size == n.Size &&
			slices.Equal(w.ranges, n.Ranges) && off >= w.off && off < w.off+int64(len(w.data)) {
			return w
		}
	}
	return nil
}

func (r *ReadWindow) keep(w *window) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wins[r.next] = w
	r.next = (r.next + 1) % len(r.wins)
}

// ReadAtCached is ReadAt through a reader's window (nil: none).
func (f *FS) ReadAtCached(ctx context.Context, actor Actor, account, share, path string, off int64, buf []byte, w *ReadWindow) (int, error) {
	o, err := f.begin(ctx, actor, account, share, true)
	if err != nil {
		return 0, err
	}
	read := 0
	err = f.s.st.View(ctx, func(tx store.Tx) error {
		n, err := o.need(tx, path, ntfs.FileReadData, "FILE_READ_DATA")
		if err != nil {
			return err
		}
		if n.Dir {
			return azerr.BadRequest("IsADirectory", "%s is a directory.", o.where(path))
		}
		if off >= n.Size {
			return nil
		}
		read = int(min(int64(len(buf)), n.Size-off))
		c, err := f.s.fileCipher(ctx, o.a, share, n)
		if err != nil {
			return err
		}
		if w == nil {
			return readIntoTx(tx, c, account, share, n, off, buf[:read])
		}
		for done := 0; done < read; {
			at := off + int64(done)
			win := w.find(n, at)
			if win == nil {
				start := at &^ (windowSize - 1)
				win = &window{id: n.ID, gen: n.Generation, cont: n.Content, size: n.Size, ranges: slices.Clone(n.Ranges), off: start,
					data: make([]byte, min(windowSize, n.Size-start))}
				if err := readIntoTx(tx, c, account, share, n, start, win.data); err != nil {
					return err
				}
				w.keep(win)
			}
			done += copy(buf[done:read], win.data[at-win.off:])
		}
		return nil
	})
	return read, err
}

// WriteAt writes data into a file at off, extending it as needed: it needs FILE_WRITE_DATA
// (or FILE_APPEND_DATA for a write at the end of the file).
func (f *FS) WriteAt(ctx context.Context, actor Actor, account, share, path string, off int64, data []byte) error {
	if off < 0 || off+int64(len(data)) > MaxFileSize {
		return azerr.BadRequest("OutOfRangeInput", "The write lies outside 0 to 4 TiB.")
	}
	o, err := f.begin(ctx, actor, account, share, true)
	if err != nil {
		return err
	}
	return f.s.st.Update(ctx, func(tx store.Tx) error {
		n, err := o.writable(tx, path, off, -1)
		if err != nil {
			return err
		}
		if end := off + int64(len(data)); end > n.Size {
			if err := f.s.resizeTx(ctx, tx, o.a, share, &n, end); err != nil {
				return err
			}
		}
		c, err := f.s.fileCipher(ctx, o.a, share, n)
		if err != nil {
			return err
		}
		if err := writeRangeTx(tx, c, account, share, &n, off, data); err != nil {
			return err
		}
		n.Ranges = addRange(n.Ranges, off, off+int64(len(data)))
		now := f.s.now().UTC()
		n.LastModified, n.ETag, n.LastWriteTime, n.ChangeTime = now, newETag(now), now, now
		return putNodeTx(tx, account, share, n)
	})
}

// writable loads the file at path for a write at off: it needs FILE_WRITE_DATA, or
// FILE_APPEND_DATA for a write at the file's end (or at end, where writes not yet stored end).
func (o *op) writable(tx store.Tx, path string, off, end int64) (Node, error) {
	n, m, err := o.load(tx, path)
	if err != nil {
		return n, err
	}
	if m&ntfs.FileWriteData == 0 && !(m&ntfs.FileAppendData != 0 && (off == n.Size || off == end)) {
		return n, errAccessDenied("FILE_WRITE_DATA", o.where(path))
	}
	if n.Dir {
		return n, azerr.BadRequest("IsADirectory", "%s is a directory.", o.where(path))
	}
	return n, checkLease(n, "", true) // a leased file takes writes only with its lease (REST)
}

// CheckWrite answers whether actor may write to the file at path at off now, as WriteAt
// would, without writing; end is where writes made but not yet stored end (-1: none).
func (f *FS) CheckWrite(ctx context.Context, actor Actor, account, share, path string, off, end int64) error {
	if off < 0 || off > MaxFileSize {
		return azerr.BadRequest("OutOfRangeInput", "The write lies outside 0 to 4 TiB.")
	}
	o, err := f.begin(ctx, actor, account, share, true)
	if err != nil {
		return err
	}
	return f.s.st.View(ctx, func(tx store.Tx) error {
		_, err := o.writable(tx, path, off, end)
		return err
	})
}

// Truncate sets a file's size: it needs FILE_WRITE_DATA.
func (f *FS) Truncate(ctx context.Context, actor Actor, account, share, path string, size int64) error {
	if size < 0 || size > MaxFileSize {
		return azerr.BadRequest("OutOfRangeInput", "The size lies outside 0 to 4 TiB.")
	}
	o, err := f.begin(ctx, actor, account, share, true)
	if err != nil {
		return err
	}
	return f.s.st.Update(ctx, func(tx store.Tx) error {
		n, err := o.need(tx, path, ntfs.FileWriteData, "FILE_WRITE_DATA")
		if err != nil {
			return err
		}
		if n.Dir {
			return azerr.BadRequest("IsADirectory", "%s is a directory.", o.where(path))
		}
		if err := checkLease(n, "", true); err != nil {
			return err
		}
		if err := f.s.resizeTx(ctx, tx, o.a, share, &n, size); err != nil {
			return err
		}
		now := f.s.now().UTC()
		n.LastModified, n.ETag, n.LastWriteTime, n.ChangeTime = now, newETag(now), now, now
		return putNodeTx(tx, account, share, n)
	})
}

// Remove deletes a file or an empty directory: it needs DELETE on it, or FILE_DELETE_CHILD
// on its directory.
func (f *FS) Remove(ctx context.Context, actor Actor, account, share, path string) error {
	if path == "" {
		return errAccessDenied("a path: a share's root cannot be deleted", "//"+account+"/"+share)
	}
	o, err := f.begin(ctx, actor, account, share, false)
	if err != nil {
		return err
	}
	err = f.s.st.Update(ctx, func(tx store.Tx) error {
		n, m, err := o.load(tx, path)
		if err != nil {
			return err
		}
		if m&ntfs.Delete == 0 {
			if _, err := o.need(tx, parentPath(path), ntfs.FileDeleteChild, "DELETE, or FILE_DELETE_CHILD on its directory"); err != nil {
				return err
			}
		}
		if n.Dir {
			if kids, err := hasChildrenTx(tx, account, share, path); err != nil {
				return err
			} else if kids {
				return azerr.Conflict("DirectoryNotEmpty", "%s is not empty.", o.where(path))
			}
			return tx.Delete(colNodes, nodeKey(account, share, path))
		}
		if err := checkLease(n, "", true); err != nil {
			return err
		}
		return removeFileTx(tx, account, share, n)
	})
	if err == nil {
		_ = f.s.sweep(ctx)
	}
	return err
}

// Rename moves from to to within a share: it needs DELETE on the source (or
// FILE_DELETE_CHILD on its directory) and FILE_ADD_FILE (FILE_ADD_SUBDIRECTORY for a
// directory) on the target's directory; replacing an existing file needs DELETE on it too.
// A directory is never replaced.
func (f *FS) Rename(ctx context.Context, actor Actor, account, share, from, to string, replace bool) error {
	if from == "" || to == "" {
		return errAccessDenied("a path: a share's root cannot be moved", "//"+account+"/"+share)
	}
	if err := ValidPath(to); err != nil {
		return err
	}
	o, err := f.begin(ctx, actor, account, share, true)
	if err != nil {
		return err
	}
	return f.s.st.Update(ctx, func(tx store.Tx) error {
		src, m, err := o.load(tx, from)
		if err != nil {
			return err
		}
		if m&ntfs.Delete == 0 {
			if _, err := o.need(tx, parentPath(from), ntfs.FileDeleteChild, "DELETE, or FILE_DELETE_CHILD on its directory"); err != nil {
				return err
			}
		}
		want, what := ntfs.FileWriteData, "FILE_ADD_FILE on the target's directory"
		if src.Dir {
			want, what = ntfs.FileAppendData, "FILE_ADD_SUBDIRECTORY on the target's directory"
		}
		parent, err := o.need(tx, parentPath(to), want, what)
		if err != nil {
			return err
		}
		if !parent.Dir {
			return errParentNotFound()
		}
		if src.Dir && strings.HasPrefix(strings.ToLower(to)+"/", strings.ToLower(from)+"/") {
			return azerr.BadRequest("InvalidInput", "A directory cannot be moved into itself.")
		}
		if !src.Dir {
			if err := checkLease(src, "", true); err != nil {
				return err
			}
		}
		if old, om, err := o.load(tx, to); err == nil && !strings.EqualFold(old.Path, src.Path) {
			if !replace || old.Dir || src.Dir {
				return azerr.Conflict("ResourceAlreadyExists", "%s already exists.", o.where(to))
			}
			if om&ntfs.Delete == 0 {
				return errAccessDenied("DELETE on the file it replaces", o.where(to))
			}
			if err := checkLease(old, "", true); err != nil {
				return err
			}
			if err := removeFileTx(tx, account, share, old); err != nil {
				return err
			}
		}
		_, err = moveNodeTx(tx, account, share, src, to, parent.ID, f.s.now().UTC())
		return err
	})
}

// Security returns the descriptor of path (READ_CONTROL); SetSecurity replaces it (WRITE_DAC
// for the DACL, WRITE_OWNER for the owner), and children re-inherit.
func (f *FS) Security(ctx context.Context, actor Actor, account, share, path string) (*ntfs.SecurityDescriptor, error) {
	sd, _, err := f.s.Descriptor(ctx, actor, account, share, path)
	return sd, err
}

// SetSecurity replaces the descriptor of path (see ChangeACL).
func (f *FS) SetSecurity(ctx context.Context, actor Actor, account, share, path string, sd *ntfs.SecurityDescriptor) error {
	_, fails, err := f.s.ChangeACL(ctx, actor, account, share, path, false, func(cur, _ *ntfs.SecurityDescriptor, _ bool) error {
		*cur = *sd
		return nil
	})
	if err != nil {
		return err
	}
	if len(fails) > 0 && fails[0].Path == path {
		return fails[0].Err
	}
	return nil
}

// SIDs is a principal's SID and the SIDs of the groups it is in (nested ones too): what an
// SMB server's token for it must hold beside the well-known SIDs.
func (f *FS) SIDs(ctx context.Context, objectID string) (string, []string, error) {
	return f.s.sids(ctx, access.Principal{ObjectID: objectID})
}

// ShareMask is every right a principal's share-level roles allow on a share (none when the
// account or share does not exist).
func (f *FS) ShareMask(ctx context.Context, objectID, account, share string) (uint32, error) {
	a, ok := f.s.Account(ctx, account)
	if !ok {
		return 0, nil
	}
	r, _, err := f.s.shareRights(ctx, access.Principal{ObjectID: objectID}, a, share)
	return r.Mask(), err
}

// SplitPath splits "<share>/<path>" as a file-system view names objects.
func SplitPath(p string) (share, path string) {
	share, path, _ = strings.Cut(strings.Trim(p, "/"), "/")
	return share, path
}

// ShareExists reports whether account has share.
func (f *FS) ShareExists(ctx context.Context, account, share string) bool {
	ok := false
	_ = f.s.st.View(ctx, func(tx store.Tx) error {
		_, err := GetShareTx(tx, account, share)
		ok = err == nil
		return nil
	})
	return ok
}

// Shares lists the shares of an account.
func (f *FS) Shares(ctx context.Context, account string) ([]string, error) {
	var out []string
	err := f.s.st.View(ctx, func(tx store.Tx) error {
		list, err := ListSharesTx(tx, account)
		for _, s := range list {
			out = append(out, s.Name)
		}
		return err
	})
	return out, err
}

// SMBLogin is what a storage-key SMB login needs of an account: its name and its keys.
type SMBLogin struct {
	Account string
	Keys    []string
}

// KeyLogins lists every account with its keys (opened), for the SMB server's key logins (as
// `net use ... /user:localhost\<account> <key>` does against Azure).
func (f *FS) KeyLogins(ctx context.Context) ([]SMBLogin, error) {
	var out []SMBLogin
	err := f.s.st.View(ctx, func(tx store.Tx) error {
		items, err := tx.List(colAccounts, "")
		for _, it := range items {
			a, err := GetAccountTx(tx, it.Key)
			if err != nil {
				continue
			}
			keys, err := AccountKeys(f.s.barrier, a)
			if err != nil {
				return err
			}
			l := SMBLogin{Account: a.Name}
			for _, name := range []string{"key1", "key2"} {
				if k, ok := keys[name]; ok {
					l.Keys = append(l.Keys, k)
				}
			}
			out = append(out, l)
		}
		return err
	})
	return out, err
}

// AccountExists reports whether the account exists.
func (f *FS) AccountExists(ctx context.Context, account string) bool {
	_, ok := f.s.Account(ctx, account)
	return ok
}

// Usage is a share's quota and the bytes its files take, in bytes.
func (f *FS) Usage(ctx context.Context, account, share string) (quota, used int64, err error) {
	err = f.s.st.View(ctx, func(tx store.Tx) error {
		sh, err := GetShareTx(tx, account, share)
		quota, used = int64(sh.Quota)<<30, sh.UsedBytes
		return err
	})
	return quota, used, err
}
