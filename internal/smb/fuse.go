// Package smb serves Azure file shares to SMB clients: a FUSE file system over the shares,
// in which every operation is authorized for the principal behind the calling uid and
// stored through the File service's encryption, for Samba to serve (docs/design/smb.md).
//
// The mount's layout is <mount>/<account>/<share>/<path>. Who acts is told by the caller's
// uid (Identities); the kernel does no permission checks of its own (no default_permissions).
package smb

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/cerulean-azure/cerulean/internal/ntfs"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// NTACLAttr is the extended attribute Samba's acl_xattr keeps a file's NT ACL in.
const NTACLAttr = "security.NTACL"

// Caller is the process a FUSE call comes from: its uid and its (thread) id.
type Caller struct{ UID, PID uint32 }

// Identities says who acts for a FUSE caller: the actor for the caller on account, or false
// when it may not act there at all.
type Identities interface {
	Actor(ctx context.Context, c Caller, account string) (files.Actor, bool)
}

// SIDTranslator is an Identities that also knows the SIDs the SMB server gives its own users
// (its local domain's): Translate rewrites them in sd into the principals' SIDs, so that what
// smbd writes names the same principals Cerulean's descriptors do.
type SIDTranslator interface {
	Translate(sd *ntfs.SecurityDescriptor)
}

// FileSystem is the mounted view of the shares.
type FileSystem struct {
	fs  *files.FS
	ids Identities

	mu    sync.Mutex
	fresh map[string]freshObject      // account/share/path -> just created, not yet given an NT ACL
	open  map[string]map[*handle]bool // account/share/path -> its open handles
}

// freshObject is an object a process has just created. smbd writes the new object's
// inherited NT ACL right after creating it (as root): that write is the inheritance Cerulean
// already did when it created the object, so it keeps its own (docs/design/smb.md).
type freshObject struct {
	tgid int
	at   time.Time
}

// freshFor is how long a created object waits for smbd's inheritance write.
const freshFor = 10 * time.Second

// New returns the file system over the File service's identity-based view.
func New(view *files.FS, ids Identities) *FileSystem {
	return &FileSystem{fs: view, ids: ids, fresh: map[string]freshObject{}, open: map[string]map[*handle]bool{}}
}

// Mount mounts the shares at dir; Unmount the returned server to stop.
func (f *FileSystem) Mount(dir string) (*fuse.Server, error) {
	zero := time.Duration(0)
	root := &node{f: f}
	defer closeFUSEOnExec()
	return fs.Mount(dir, root, &fs.Options{
		// No kernel caching of names, attributes or pages: a revoked role or key takes effect
		// on the next call.
		EntryTimeout: &zero, AttrTimeout: &zero, NegativeTimeout: &zero,
		// Reads and writes of up to 1 MiB, the File service's chunk: fewer, whole-chunk
		// transactions.
		MountOptions: fuse.MountOptions{AllowOther: true, FsName: "cerulean", Name: "cerulean", DirectMount: true,
			MaxWrite: 1 << 20, DisableSplice: true},
	})
}

// closeFUSEOnExec marks this process's /dev/fuse descriptors close-on-exec. A child that
// inherited one (smbd) would keep the FUSE connection alive after Cerulean dies, and its own
// I/O on the mount would then wait forever; without it the kernel ends the connection and
// every pending call fails.
func closeFUSEOnExec() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == "/dev/fuse" {
			if fd, err := strconv.Atoi(e.Name()); err == nil {
				syscall.CloseOnExec(fd)
			}
		}
	}
}

// node is the root (account ""), an account (share ""), a share's root (path "") or an object.
type node struct {
	fs.Inode
	f                    *FileSystem
	account, share, path string
	dir                  bool
}

var (
	_ fs.NodeLookuper    = (*node)(nil)
	_ fs.NodeGetattrer   = (*node)(nil)
	_ fs.NodeReaddirer   = (*node)(nil)
	_ fs.NodeOpendirer   = (*node)(nil)
	_ fs.NodeCreater     = (*node)(nil)
	_ fs.NodeMkdirer     = (*node)(nil)
	_ fs.NodeOpener      = (*node)(nil)
	_ fs.NodeReader      = (*node)(nil)
	_ fs.NodeWriter      = (*node)(nil)
	_ fs.NodeSetattrer   = (*node)(nil)
	_ fs.NodeUnlinker    = (*node)(nil)
	_ fs.NodeRmdirer     = (*node)(nil)
	_ fs.NodeRenamer     = (*node)(nil)
	_ fs.NodeStatfser    = (*node)(nil)
	_ fs.NodeGetxattrer  = (*node)(nil)
	_ fs.NodeSetxattrer  = (*node)(nil)
	_ fs.NodeListxattrer = (*node)(nil)
)

// actor is who acts for this call, or EACCES.
func (n *node) actor(ctx context.Context) (files.Actor, syscall.Errno) {
	c, ok := fuse.FromContext(ctx)
	if !ok {
		return files.Actor{}, syscall.EACCES
	}
	a, ok := n.f.ids.Actor(ctx, Caller{UID: c.Uid, PID: c.Pid}, n.account)
	if !ok {
		return files.Actor{}, syscall.EACCES
	}
	return a, 0
}

// present tells the identities who is calling even where nothing is authorized (the walk to a
// share when a client connects), so that a new user on an old connection shows up before any
// call smbd makes as root for it (see sessions).
func (n *node) present(ctx context.Context) {
	if c, ok := fuse.FromContext(ctx); ok && c.Uid != 0 {
		n.f.ids.Actor(ctx, Caller{UID: c.Uid, PID: c.Pid}, n.account)
	}
}

// errno maps the File service's errors to the file system's.
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	e, ok := azerr.As(err)
	if !ok {
		return syscall.EIO
	}
	switch {
	case e.Status == http.StatusForbidden:
		return syscall.EACCES
	case e.Status == http.StatusNotFound:
		return syscall.ENOENT
	case e.Code == "DirectoryNotEmpty":
		return syscall.ENOTEMPTY
	case e.Status == http.StatusConflict:
		return syscall.EEXIST
	case e.Code == "IsADirectory":
		return syscall.EISDIR
	case e.Code == "NotADirectory":
		return syscall.ENOTDIR
	case e.Status == http.StatusRequestEntityTooLarge:
		return syscall.ENOSPC
	case e.Status == http.StatusBadRequest:
		return syscall.EINVAL
	}
	return syscall.EIO
}

func (n *node) child(name string, dir bool) *node {
	c := &node{f: n.f, account: n.account, share: n.share, dir: dir}
	switch {
	case n.account == "":
		c.account, c.dir = name, true
	case n.share == "":
		c.share, c.dir = name, true
	default:
		c.path = path.Join(n.path, name)
	}
	return c
}

func fillAttr(out *fuse.Attr, e files.Entry) {
	out.Ino = e.ID
	if e.Dir {
		out.Mode = fuse.S_IFDIR | 0o777
		out.Nlink = 2
	} else {
		out.Mode = fuse.S_IFREG | 0o666
		out.Nlink = 1
		out.Size = uint64(e.Size)
		out.Blocks = (uint64(e.Size) + 511) / 512
	}
	out.SetTimes(nil, &e.Modified, &e.Changed)
}

func dirAttr(out *fuse.Attr) { out.Mode, out.Nlink = fuse.S_IFDIR|0o555, 2 }

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.share == "" {
		n.present(ctx)
	}
	switch {
	case n.account == "":
		if !n.f.fs.AccountExists(ctx, name) {
			return nil, syscall.ENOENT
		}
		dirAttr(&out.Attr)
		return n.NewInode(ctx, n.child(name, true), fs.StableAttr{Mode: fuse.S_IFDIR}), 0
	case n.share == "":
		if !n.f.fs.ShareExists(ctx, n.account, name) {
			return nil, syscall.ENOENT
		}
		dirAttr(&out.Attr)
		return n.NewInode(ctx, n.child(name, true), fs.StableAttr{Mode: fuse.S_IFDIR}), 0
	}
	a, e := n.actor(ctx)
	if e != 0 {
		return nil, e
	}
	c := n.child(name, false)
	st, err := n.f.fs.Stat(ctx, a, n.account, n.share, c.path)
	if err != nil {
		return nil, errno(err)
	}
	c.dir = st.Dir
	st.Size = max(st.Size, c.pendingEnd())
	fillAttr(&out.Attr, st)
	mode := uint32(fuse.S_IFREG)
	if st.Dir {
		mode = fuse.S_IFDIR
	}
	return n.NewInode(ctx, c, fs.StableAttr{Mode: mode}), 0
}

func (n *node) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if n.path == "" {
		// The mount's top levels and a share's root are plain directories to look at (smbd
		// checks a share's path as root when a client connects); what is in them is not.
		n.present(ctx)
		dirAttr(&out.Attr)
		out.Mode |= 0o777
		return 0
	}
	a, e := n.actor(ctx)
	if e != 0 {
		return e
	}
	st, err := n.f.fs.Stat(ctx, a, n.account, n.share, n.path)
	if err != nil {
		return errno(err)
	}
	st.Size = max(st.Size, n.pendingEnd())
	fillAttr(&out.Attr, st)
	return 0
}

// Statfs reports a share's quota as its size and what its files do not take as free space,
// so SMB clients see the share's capacity.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	const block = 4096
	out.Bsize, out.Frsize, out.NameLen = block, block, 255
	if n.share == "" {
		return 0
	}
	quota, used, err := n.f.fs.Usage(ctx, n.account, n.share)
	if err != nil {
		return errno(err)
	}
	free := max(quota-used, 0)
	out.Blocks, out.Bfree, out.Bavail = uint64(quota/block), uint64(free/block), uint64(free/block)
	return 0
}

// Opendir refuses a directory the caller may not list, so that a refusal is not mistaken for
// an empty directory.
func (n *node) Opendir(ctx context.Context) syscall.Errno {
	if n.share == "" {
		return 0
	}
	a, e := n.actor(ctx)
	if e != 0 {
		return e
	}
	_, err := n.f.fs.List(ctx, a, n.account, n.share, n.path)
	return errno(err)
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	switch {
	case n.account == "":
		return fs.NewListDirStream(nil), 0
	case n.share == "":
		names, err := n.f.fs.Shares(ctx, n.account)
		if err != nil {
			return nil, errno(err)
		}
		var list []fuse.DirEntry
		for _, s := range names {
			list = append(list, fuse.DirEntry{Name: s, Mode: fuse.S_IFDIR})
		}
		return fs.NewListDirStream(list), 0
	}
	a, e := n.actor(ctx)
	if e != 0 {
		return nil, e
	}
	entries, err := n.f.fs.List(ctx, a, n.account, n.share, n.path)
	if err != nil {
		return nil, errno(err)
	}
	list := make([]fuse.DirEntry, 0, len(entries))
	for _, en := range entries {
		mode := uint32(fuse.S_IFREG)
		if en.Dir {
			mode = fuse.S_IFDIR
		}
		list = append(list, fuse.DirEntry{Name: en.Name, Mode: mode, Ino: en.ID})
	}
	return fs.NewListDirStream(list), 0
}

// make creates a file or directory named name under n.
func (n *node) make(ctx context.Context, name string, dir bool, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.share == "" {
		return nil, syscall.EACCES
	}
	a, e := n.actor(ctx)
	if e != 0 {
		return nil, e
	}
	c := n.child(name, dir)
	st, err := n.f.fs.Create(ctx, a, n.account, n.share, c.path, dir)
	if err != nil {
		return nil, errno(err)
	}
	if caller, ok := fuse.FromContext(ctx); ok {
		if tgid, ok := ThreadGroup(caller.Pid); ok {
			n.f.mu.Lock()
			now := time.Now()
			for k, v := range n.f.fresh {
				if now.Sub(v.at) > freshFor {
					delete(n.f.fresh, k)
				}
			}
			n.f.fresh[c.key()] = freshObject{tgid: tgid, at: now}
			n.f.mu.Unlock()
		}
	}
	fillAttr(&out.Attr, st)
	mode := uint32(fuse.S_IFREG)
	if dir {
		mode = fuse.S_IFDIR
	}
	return n.NewInode(ctx, c, fs.StableAttr{Mode: mode}), 0
}

func (n *node) Create(ctx context.Context, name string, _ uint32, _ uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	in, e := n.make(ctx, name, false, out)
	if e != 0 {
		return nil, nil, 0, e
	}
	return in, in.Operations().(*node).newHandle(), fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) Mkdir(ctx context.Context, name string, _ uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return n.make(ctx, name, true, out)
}

// Open opens without caching: every read and every write reaches the File service (writes
// gathered per handle, see handle), so a revoked role or key stops the next one.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 {
		a, e := n.actor(ctx)
		if e != 0 {
			return nil, 0, e
		}
		n.settle(ctx)
		if err := n.f.fs.Truncate(ctx, a, n.account, n.share, n.path, 0); err != nil {
			return nil, 0, errno(err)
		}
	}
	return n.newHandle(), fuse.FOPEN_DIRECT_IO, 0
}

func (n *node) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	a, e := n.actor(ctx)
	if e != 0 {
		return nil, e
	}
	n.settle(ctx)
	var window *files.ReadWindow
	if h, ok := fh.(*handle); ok {
		window = &h.window
	}
	got, err := n.f.fs.ReadAtCached(ctx, a, n.account, n.share, n.path, off, dest, window)
	if err != nil {
		return nil, errno(err)
	}
	return fuse.ReadResultData(dest[:got]), 0
}

func (n *node) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	a, e := n.actor(ctx)
	if e != 0 {
		return 0, e
	}
	if h, ok := fh.(*handle); ok {
		if e := h.write(ctx, a, data, off); e != 0 {
			return 0, e
		}
		return uint32(len(data)), 0
	}
	if err := n.f.fs.WriteAt(ctx, a, n.account, n.share, n.path, off, data); err != nil {
		return 0, errno(err)
	}
	return uint32(len(data)), 0
}

func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		a, e := n.actor(ctx)
		if e != 0 {
			return e
		}
		n.settle(ctx)
		if err := n.f.fs.Truncate(ctx, a, n.account, n.share, n.path, int64(size)); err != nil {
			return errno(err)
		}
	}
	return n.Getattr(ctx, fh, out)
}

func (n *node) remove(ctx context.Context, name string) syscall.Errno {
	if n.share == "" {
		return syscall.EACCES
	}
	a, e := n.actor(ctx)
	if e != 0 {
		return e
	}
	n.settleChild(ctx, name)
	return errno(n.f.fs.Remove(ctx, a, n.account, n.share, path.Join(n.path, name)))
}

// Rename moves within one share (RENAME_NOREPLACE refuses to replace; other flags are not
// supported).
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	to, ok := newParent.(*node)
	if !ok || n.share == "" || to.share == "" || to.account != n.account || to.share != n.share {
		return syscall.EXDEV
	}
	const noReplace = 1 // RENAME_NOREPLACE
	if flags&^noReplace != 0 {
		return syscall.EINVAL
	}
	a, e := n.actor(ctx)
	if e != 0 {
		return e
	}
	n.settleChild(ctx, name)
	return errno(n.f.fs.Rename(ctx, a, n.account, n.share, path.Join(n.path, name), path.Join(to.path, newName), flags&noReplace == 0))
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno { return n.remove(ctx, name) }
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno  { return n.remove(ctx, name) }

func (n *node) key() string { return n.account + "/" + n.share + "/" + n.path }

// Getxattr answers the NT ACL from the object's descriptor (READ_CONTROL); no other
// attribute exists. smbd reads descriptors as root to run its own access check for
// whichever user it serves (docs/design/smb.md): root reads them unchecked (nothing is
// granted by reading, and root of this machine holds the data folder anyway).
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr != NTACLAttr || n.share == "" {
		return 0, syscall.ENODATA
	}
	a, e := files.Actor{AccountKey: true}, syscall.Errno(0)
	if c, ok := fuse.FromContext(ctx); !ok || c.Uid != 0 {
		a, e = n.actor(ctx)
	}
	if e != 0 {
		return 0, e
	}
	sd, err := n.f.fs.Security(ctx, a, n.account, n.share, n.path)
	if err != nil {
		return 0, errno(err)
	}
	blob, err := EncodeNTACL(sd)
	if err != nil {
		return 0, syscall.EIO
	}
	if len(dest) < len(blob) {
		return uint32(len(blob)), syscall.ERANGE
	}
	return uint32(copy(dest, blob)), 0
}

// Setxattr replaces the object's descriptor from an NT ACL blob (WRITE_DAC / WRITE_OWNER),
// as whoever the caller acts for. The first NT ACL written for an object its writer's process
// has just created is that object's inheritance, which Cerulean has already applied: it is
// taken as done.
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, _ uint32) syscall.Errno {
	if attr != NTACLAttr || n.share == "" {
		return syscall.ENOTSUP
	}
	a, e := n.actor(ctx)
	if e != 0 {
		return e
	}
	sd, err := DecodeNTACL(data)
	if err != nil {
		return syscall.EINVAL
	}
	if c, ok := fuse.FromContext(ctx); ok {
		if tgid, ok := ThreadGroup(c.Pid); ok {
			n.f.mu.Lock()
			f, fresh := n.f.fresh[n.key()]
			if fresh {
				delete(n.f.fresh, n.key())
			}
			n.f.mu.Unlock()
			if fresh && f.tgid == tgid && time.Since(f.at) <= freshFor {
				return 0
			}
		}
	}
	if t, ok := n.f.ids.(SIDTranslator); ok {
		t.Translate(sd)
	}
	return errno(n.f.fs.SetSecurity(ctx, a, n.account, n.share, n.path, sd))
}

// ThreadGroup is the process (thread group) a thread belongs to, from /proc: FUSE names the
// calling thread, and smbd serves each client connection from one process of many threads.
func ThreadGroup(tid uint32) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(tid), 10) + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			return n, err == nil
		}
	}
	return 0, false
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	name := []byte(NTACLAttr + "\x00")
	if n.share == "" {
		return 0, 0
	}
	if len(dest) < len(name) {
		return uint32(len(name)), syscall.ERANGE
	}
	return uint32(copy(dest, name)), 0
}

// Samba's xattr_NTACL blob (librpc/idl/xattr.idl), as docs/design/smb.md lays it out: a
// version, the union's switch, a pointer referent, then (after a version's hash fields) the
// self-relative descriptor, whose owner, group, SACL and DACL offsets count from the start of
// the blob rather than of the descriptor.

// ntaclStart is where the descriptor begins in a blob of each version Samba writes unhashed.
var ntaclStart = map[uint16]int{1: 8, 2: 28, 3: 80}

// EncodeNTACL wraps a descriptor as a version 1 blob.
func EncodeNTACL(sd *ntfs.SecurityDescriptor) ([]byte, error) {
	b, err := sd.MarshalBinary()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 8, 8+len(b))
	binary.LittleEndian.PutUint16(out[0:], 1)
	binary.LittleEndian.PutUint16(out[2:], 1)
	binary.LittleEndian.PutUint32(out[4:], 0x00020000)
	out = append(out, b...)
	shiftOffsets(out[8:], 8)
	return out, nil
}

// DecodeNTACL reads a version 1, 2 or 3 blob.
func DecodeNTACL(blob []byte) (*ntfs.SecurityDescriptor, error) {
	if len(blob) < 8 {
		return nil, errors.New("the NT ACL blob is too short")
	}
	start, ok := ntaclStart[binary.LittleEndian.Uint16(blob)]
	if !ok || len(blob) < start+20 {
		return nil, errors.New("the NT ACL blob has an unsupported version")
	}
	sd := append([]byte(nil), blob[start:]...)
	if err := shiftOffsetsBack(sd, start); err != nil {
		return nil, err
	}
	return ntfs.UnmarshalBinary(sd)
}

// shiftOffsets adds delta to the descriptor's non-zero owner, group, SACL and DACL offsets.
func shiftOffsets(sd []byte, delta int) {
	for _, at := range []int{4, 8, 12, 16} {
		if v := binary.LittleEndian.Uint32(sd[at:]); v != 0 {
			binary.LittleEndian.PutUint32(sd[at:], v+uint32(delta))
		}
	}
}

func shiftOffsetsBack(sd []byte, delta int) error {
	for _, at := range []int{4, 8, 12, 16} {
		v := binary.LittleEndian.Uint32(sd[at:])
		if v == 0 {
			continue
		}
		if v < uint32(delta) {
			return errors.New("an offset in the NT ACL blob points before its descriptor")
		}
		binary.LittleEndian.PutUint32(sd[at:], v-uint32(delta))
	}
	return nil
}
