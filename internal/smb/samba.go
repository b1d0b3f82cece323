package smb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/cerulean-azure/cerulean/internal/ntfs"
	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Server runs SMB for every share: the FUSE mount of the shares, and smbd (Debian's samba)
// serving it from a private mount namespace whose /etc/passwd and /etc/group Cerulean writes,
// so the host's user database is never touched.
//
// Two kinds of login: for each account, an SMB user named after the account whose password
// is the account's key1, acting as the account key (the superuser) on that account's shares
// only; and for each directory principal given an SMB login ('cerulean smb login'), a user
// acting as that principal on every share, subject to its share-level roles and the ACLs.
// Shares are named <account>.<share>.
//
// Descriptors: smbd's acl_xattr module reads and writes each object's NT ACL through the
// mount's security.NTACL attribute, which is the object's own descriptor in Cerulean, so
// smbcacls sees and edits what REST and icacls do. smbd checks those ACLs itself before it
// calls the mount; Cerulean checks everything again there (share roles, ACL, CMK) as the
// principal, and is the authority (docs/design/smb.md). For smbd's check to agree, its token
// for a directory login holds the principal's SID and its groups' SIDs (each mapped to a Unix
// group of the login), BUILTIN\Users (every login) and the take-ownership privilege, which
// Cerulean grants only through the share's takeOwnership action.
type Server struct {
	view    *files.FS
	st      store.Store
	barrier *seal.Barrier
	dir     string // <data>/smb: smbd's state, passdb, config (root only)
	mnt     string // the FUSE mount of the shares, outside the data folder (smbd's users traverse to it)
	addr    string
	log     *slog.Logger

	sessions *sessions
	stopping atomic.Bool

	mu         sync.Mutex
	byUID      map[uint32]identity
	secrets    map[string]string // SMB user -> the password it was set to
	userSIDs   map[string]string // SMB user -> the SID smbd gave it
	localSIDs  map[string]string // SID smbd gave a directory login -> its principal's SID
	shareACLs  map[string]string // share -> the share ACL smbd was given
	mapped     map[string]bool   // SIDs given a Unix group in smbd's group mapping
	privileged map[string]bool   // SMB users holding the take-ownership privilege
	shares     string            // the share list the config was written for
	fuse       *fuse.Server
	smbd       *exec.Cmd
	smbdDone   chan struct{}
}

// NewServer prepares the SMB server for the shares of view, with its state in dir, listening
// on addr (host:port).
// The directory logins come from st (opened with barrier).
func NewServer(view *files.FS, st store.Store, barrier *seal.Barrier, dir, addr string, log *slog.Logger) *Server {
	s := &Server{view: view, st: st, barrier: barrier, dir: dir, addr: addr, log: log, byUID: map[uint32]identity{}, secrets: map[string]string{},
		userSIDs: map[string]string{}, localSIDs: map[string]string{}, shareACLs: map[string]string{}, mapped: map[string]bool{}, privileged: map[string]bool{}}
	s.sessions = newSessions(func() ([]byte, error) {
		// Processes only: 4.17's JSON of open files can abort (status_json.c "tomap == 0").
		return s.namespaceOutput("smbstatus", "-s", filepath.Join(s.dir, "smb.conf"), "--processes", "--json")
	})
	return s
}

// Translate rewrites the SIDs smbd gives directory logins (its local domain's) into their
// principals' SIDs, in the owner, the group and every ACE.
func (s *Server) Translate(sd *ntfs.SecurityDescriptor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	to := func(sid string) string {
		if p, ok := s.localSIDs[ntfs.CanonicalSID(sid)]; ok {
			return p
		}
		return sid
	}
	sd.Owner, sd.Group = to(sd.Owner), to(sd.Group)
	for i := range sd.DACL {
		sd.DACL[i].SID = to(sd.DACL[i].SID)
	}
}

// sidGroup is the Unix group standing for a principal's or group's SID in smbd's tokens.
func sidGroup(sid string) (string, uint32) {
	h := fnv.New32a()
	h.Write([]byte(strings.ToUpper(sid)))
	gid := 1100000 + h.Sum32()%800000
	return "sid" + strconv.FormatUint(uint64(gid), 10), gid
}

// identity is who an SMB user's uid stands for: an account's key, or a principal.
type identity struct {
	account  string // a key login's account
	objectID string // a directory login's principal
}

// Actor is the Identities of the mount: a key user acts as the account key on its own
// account; a directory login acts as its principal anywhere. smbd acts as root for some
// calls of the user it serves (and for every call of a key user, an admin user of its
// shares): those are attributed to the SMB session the calling process serves.
func (s *Server) Actor(_ context.Context, c Caller, account string) (files.Actor, bool) {
	uid := c.UID
	if uid != 0 {
		s.sessions.note(c.PID, uid)
	}
	if uid == 0 {
		var err error
		if uid, err = s.sessions.uidOf(c.PID); err != nil {
			s.log.Warn("smb: a call smbd made as root acts for no one", "pid", c.PID, "why", err)
			return files.Actor{}, false
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.byUID[uid]
	switch {
	case !ok:
		return files.Actor{}, false
	case id.objectID != "":
		return files.Actor{Principal: access.Principal{ObjectID: id.objectID}}, true
	case strings.EqualFold(id.account, account):
		return files.Actor{AccountKey: true}, true
	}
	return files.Actor{}, false
}

// uidOf is a stable uid for an SMB user.
func uidOf(user string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(user)))
	return 200000 + h.Sum32()%800000
}

// identitiesGID is the group every directory login belongs to (valid users of every share).
const identitiesGID = 199999

// Start mounts the shares and starts smbd; Stop undoes both. It needs root (smbd switches to
// each user's uid; mounting FUSE needs CAP_SYS_ADMIN) and Debian's samba and util-linux.
func (s *Server) Start(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return errors.New("--smb needs root: smbd switches to each SMB user's uid and the shares are mounted with FUSE")
	}
	for _, tool := range []string{"smbd", "smbpasswd", "smbcontrol", "unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("--smb needs %s (apt-get install samba smbclient util-linux): %w", tool, err)
		}
	}
	if _, _, err := net.SplitHostPort(s.addr); err != nil {
		return fmt.Errorf("--smb %s: give host:port, e.g. 127.0.0.1:4450: %w", s.addr, err)
	}
	// smbd would fail on a taken port only in its log, and answering that port is whoever
	// holds it.
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("--smb %s: the address is not free (another SMB server, or another 'cerulean serve --smb'?): %w", s.addr, err)
	}
	ln.Close()
	for _, d := range []string{"private", "lock", "state", "cache", "pid", "ncalrpc", "log", "etc"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o700); err != nil {
			return err
		}
	}
	cleanStaleMounts(s.log)
	s.stopRPCHelper() // one a killed server left behind
	// The data folder is 0700; the mount lives outside it so that smbd, acting as each SMB
	// user's uid, can reach it (every access inside is Cerulean's to allow).
	mnt, err := os.MkdirTemp("", "cerulean-smb-")
	if err != nil {
		return err
	}
	if err := os.Chmod(mnt, 0o755); err != nil {
		return err
	}
	s.mnt = mnt
	fs, err := New(s.view, s).Mount(mnt)
	if err != nil {
		return fmt.Errorf("mount the shares at %s: %w", mnt, err)
	}
	s.fuse = fs
	if err := s.sync(ctx, true); err != nil {
		s.Stop()
		return err
	}
	go s.loop(ctx)
	return nil
}

// loop keeps users, passwords and shares in step with the accounts.
func (s *Server) loop(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.smbdDone:
			if ctx.Err() == nil && !s.stopping.Load() {
				s.log.Error("smbd exited; SMB is no longer served (see " + filepath.Join(s.dir, "log") + ")")
			}
			return
		case <-t.C:
			if err := s.sync(ctx, false); err != nil {
				s.log.Warn("smb sync", "err", err)
			}
		}
	}
}

// sync writes the user database and smb.conf for the current accounts and shares, starts
// smbd the first time, and sets passwords that changed.
func (s *Server) sync(ctx context.Context, first bool) error {
	logins, err := s.view.KeyLogins(ctx)
	if err != nil {
		return err
	}
	sort.Slice(logins, func(i, j int) bool { return logins[i].Account < logins[j].Account })
	var dirLogins []Login
	if err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		dirLogins, err = LoginsTx(tx)
		return err
	}); err != nil {
		return err
	}
	var passwd, group, shares bytes.Buffer
	passwd.WriteString("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
	group.WriteString("root:x:0:\nnogroup:x:65534:\n")
	byUID := map[uint32]identity{}
	passwords := map[string]string{} // SMB user -> password
	taken := map[string]bool{}
	addUser := func(user, gecos string, id identity, password string) bool {
		uid := uidOf(user)
		if _, clash := byUID[uid]; clash || taken[user] {
			s.log.Warn("smb: a user name or uid is taken; this login is not served", "user", user)
			return false
		}
		taken[user], byUID[uid], passwords[user] = true, id, password
		fmt.Fprintf(&passwd, "%s:x:%d:%d:%s:/nonexistent:/usr/sbin/nologin\n", user, uid, uid, gecos)
		fmt.Fprintf(&group, "%s:x:%d:\n", user, uid)
		return true
	}
	var accounts []string
	for _, l := range logins {
		if len(l.Keys) == 0 || !addUser(l.Account, "storage account "+l.Account, identity{account: l.Account}, l.Keys[0]) {
			continue
		}
		accounts = append(accounts, l.Account)
	}
	var members []string
	principals := map[string]string{}   // user -> principal SID
	sidMembers := map[string][]string{} // SID -> users whose tokens hold it
	for _, l := range dirLogins {
		pw, err := l.OpenPassword(s.barrier)
		if err != nil {
			return err
		}
		sid, groups, err := s.view.SIDs(ctx, l.ObjectID)
		if err != nil {
			s.log.Warn("smb: a login's principal has no SID; it is not served", "user", l.User, "err", err)
			continue
		}
		if addUser(l.User, "principal "+l.ObjectID, identity{objectID: l.ObjectID}, pw) {
			members = append(members, l.User)
			principals[l.User] = ntfs.CanonicalSID(sid)
			for _, g := range append([]string{sid}, groups...) {
				g = ntfs.CanonicalSID(g)
				sidMembers[g] = append(sidMembers[g], l.User)
			}
		}
	}
	fmt.Fprintf(&group, "cerulean-principals:x:%d:%s\n", identitiesGID, strings.Join(members, ","))
	sids := make([]string, 0, len(sidMembers))
	for sid := range sidMembers {
		sids = append(sids, sid)
	}
	sort.Strings(sids)
	for _, sid := range sids {
		name, gid := sidGroup(sid)
		fmt.Fprintf(&group, "%s:x:%d:%s\n", name, gid, strings.Join(sidMembers[sid], ","))
	}
	for _, acct := range accounts {
		names, err := s.view.Shares(ctx, acct)
		if err != nil {
			return err
		}
		for _, sh := range names {
			fmt.Fprintf(&shares, "[%s.%s]\n    path = %s\n    read only = no\n    valid users = %s @cerulean-principals\n    admin users = %s\n%s", acct, sh,
				filepath.Join(s.mnt, acct, sh), acct, acct, shareACLConfig)
		}
	}
	s.mu.Lock()
	s.byUID = byUID
	changed := shares.String() != s.shares
	s.shares = shares.String()
	s.mu.Unlock()
	// Files are written only when they change, as smbd and its new connections read them at
	// any time. passwd and group in place (smbd's namespace bind-mounts them by inode), new
	// content first, so they never read empty; smb.conf replaced whole.
	if err := writeInPlace(filepath.Join(s.dir, "etc", "passwd"), passwd.Bytes()); err != nil {
		return err
	}
	if err := writeInPlace(filepath.Join(s.dir, "etc", "group"), group.Bytes()); err != nil {
		return err
	}
	if err := replaceFile(filepath.Join(s.dir, "smb.conf"), []byte(s.config()+shares.String())); err != nil {
		return err
	}
	if first {
		if err := s.startSMBD(); err != nil {
			return err
		}
		// Every directory login is BUILTIN\Users, as seed 004 has it.
		s.mapGroup(ntfs.SIDUsers, "cerulean-principals", "builtin")
	} else if changed {
		_ = s.inNamespace("smbcontrol", "-s", filepath.Join(s.dir, "smb.conf"), "smbd", "reload-config")
	}
	// Each SID a token must hold maps to its Unix group before its users can log in (smbd
	// builds a token at session setup).
	for _, sid := range sids {
		name, _ := sidGroup(sid)
		s.mapGroup(sid, name, "domain")
	}
	for user, pw := range passwords {
		s.mu.Lock()
		same := s.secrets[user] == pw
		s.mu.Unlock()
		if same {
			continue
		}
		if err := s.setPassword(user, pw); err != nil {
			return err
		}
		s.mu.Lock()
		s.secrets[user] = pw
		s.mu.Unlock()
	}
	// What smbd calls each directory login, for Translate; and the take-ownership privilege,
	// so smbd lets an owner change through to Cerulean, which allows it only with the share's
	// takeOwnership action (smbd's share ACL, below, says the same).
	localSIDs := map[string]string{}
	for user, psid := range principals {
		local, err := s.userSID(user)
		if err != nil {
			return err
		}
		localSIDs[local] = psid
		if !s.privileged[user] {
			if err := s.inNamespace("net", "-s", filepath.Join(s.dir, "smb.conf"), "sam", "rights", "grant", user, "SeTakeOwnershipPrivilege"); err != nil {
				return err
			}
			s.privileged[user] = true
		}
	}
	s.mu.Lock()
	s.localSIDs = localSIDs
	s.mu.Unlock()
	if err := s.syncShareACLs(ctx, accounts, dirLogins, principals); err != nil {
		return err
	}
	// Logins that went away lose their password too.
	s.mu.Lock()
	var gone []string
	for user := range s.secrets {
		if _, ok := passwords[user]; !ok {
			gone = append(gone, user)
		}
	}
	s.mu.Unlock()
	for _, user := range gone {
		_ = s.inNamespace("smbpasswd", "-c", filepath.Join(s.dir, "smb.conf"), "-x", user)
		s.mu.Lock()
		delete(s.secrets, user)
		delete(s.privileged, user)
		delete(s.userSIDs, user)
		s.mu.Unlock()
	}
	return nil
}

// shareACLConfig makes smbd keep NT ACLs in the security.NTACL attribute (Cerulean's
// descriptors) and nowhere else, taking the AI flag as clients send it.
const shareACLConfig = "    vfs objects = acl_xattr\n    acl_xattr:ignore system acls = yes\n    acl flag inherited canonicalization = no\n"

// mapGroup maps sid to a Unix group in smbd's group mapping, once.
func (s *Server) mapGroup(sid, group, kind string) {
	if s.mapped[sid] {
		return
	}
	err := s.inNamespace("net", "-s", filepath.Join(s.dir, "smb.conf"), "groupmap", "add", "sid="+sid, "unixgroup="+group, "type="+kind, "ntgroup="+group)
	if err != nil && !strings.Contains(err.Error(), "already mapped") {
		s.log.Warn("smb: group mapping", "sid", sid, "err", err)
		return
	}
	s.mapped[sid] = true
}

// userSID is the SID smbd gave an SMB user (in its local domain).
func (s *Server) userSID(user string) (string, error) {
	if sid, ok := s.userSIDs[user]; ok {
		return sid, nil
	}
	out, err := s.namespaceOutput("pdbedit", "-s", filepath.Join(s.dir, "smb.conf"), "-L", "-v", "-u", user)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "User SID:"); ok {
			sid := ntfs.CanonicalSID(strings.TrimSpace(v))
			s.userSIDs[user] = sid
			return sid, nil
		}
	}
	return "", fmt.Errorf("pdbedit shows no SID for SMB user %s", user)
}

// syncShareACLs gives each share the share ACL (Samba's share permissions, checked when a
// client connects and on every open) that says what Cerulean's share level does: for each
// directory login, the rights of its Storage File Data SMB roles at the share; everything for
// the account's key user. smbd then refuses what the share level refuses when the client
// opens a file, as Azure does, not later when Cerulean would (a refused delete-on-close is
// not reported to the client). Role changes reach smbd within the sync interval and on the
// client's next connection; Cerulean's own check at the mount applies them at once.
func (s *Server) syncShareACLs(ctx context.Context, accounts []string, logins []Login, principals map[string]string) error {
	for _, acct := range accounts {
		keySID, err := s.userSID(acct)
		if err != nil {
			return err
		}
		names, err := s.view.Shares(ctx, acct)
		if err != nil {
			return err
		}
		for _, sh := range names {
			aces := []string{keySID + ":ALLOWED/0x0/FULL"}
			for _, l := range logins {
				psid, ok := principals[l.User]
				if !ok {
					continue
				}
				mask, err := s.view.ShareMask(ctx, l.ObjectID, acct, sh)
				if err != nil {
					return err
				}
				if mask != 0 {
					aces = append(aces, fmt.Sprintf("%s:ALLOWED/0x0/0x%08x", psid, mask))
				}
			}
			name := acct + "." + sh
			acl := strings.Join(aces, ",")
			if s.shareACLs[name] == acl {
				continue
			}
			if err := s.inNamespace("sharesec", "-s", filepath.Join(s.dir, "smb.conf"), name, "-R", acl); err != nil {
				return err
			}
			s.shareACLs[name] = acl
		}
	}
	return nil
}

// stopRPCHelper stops the samba-dcerpcd smbd started on demand: it detaches itself and
// would outlive smbd (docs/design/smb.md).
func (s *Server) stopRPCHelper() {
	b, err := os.ReadFile(filepath.Join(s.dir, "pid", "samba-dcerpcd.pid"))
	if err != nil {
		return
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil || pid <= 1 {
		return
	}
	if comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "samba-dcerpcd" {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
}

// cleanStaleMounts unmounts the share mounts of servers that died without unmounting
// (kill -9): their FUSE connection is gone, and any access to them fails with ENOTCONN.
// Live mounts, another server's, are left alone.
func cleanStaleMounts(log *slog.Logger) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "cerulean" || !strings.HasPrefix(f[2], "fuse") || !strings.Contains(filepath.Base(f[1]), "cerulean-smb-") {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat(f[1], &st); !errors.Is(err, syscall.ENOTCONN) {
			continue
		}
		if err := syscall.Unmount(f[1], syscall.MNT_DETACH); err != nil {
			log.Warn("smb: a dead server's mount could not be removed", "mount", f[1], "err", err)
			continue
		}
		_ = os.Remove(f[1])
		log.Info("smb: removed the mount of a server that died", "mount", f[1])
	}
}

func writeInPlace(path string, b []byte) error {
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, b) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(b, 0); err != nil {
		return err
	}
	return f.Truncate(int64(len(b)))
}

// replaceFile replaces path with b (through a new file renamed over it) when it differs.
func replaceFile(path string, b []byte) error {
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, b) {
		return nil
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (s *Server) config() string {
	host, port, _ := net.SplitHostPort(s.addr)
	d := s.dir
	return strings.Join([]string{
		"[global]",
		"    server role = standalone server",
		"    workgroup = WORKGROUP",
		"    netbios name = CERULEAN",
		"    interfaces = " + host,
		"    bind interfaces only = yes",
		"    smb ports = " + port,
		"    disable netbios = yes",
		"    server min protocol = SMB2_10",
		"    passdb backend = tdbsam:" + d + "/private/passdb.tdb",
		"    private dir = " + d + "/private",
		"    lock directory = " + d + "/lock",
		"    state directory = " + d + "/state",
		"    cache directory = " + d + "/cache",
		"    pid directory = " + d + "/pid",
		"    ncalrpc dir = " + d + "/ncalrpc",
		"    log file = " + d + "/log/%m.log",
		"    load printers = no",
		"    printing = bsd",
		"    printcap name = /dev/null",
		"    disable spoolss = yes",
		"    map to guest = never",
		"    restrict anonymous = 2",
		"    store dos attributes = no",
		"    ea support = no",
		"    map archive = no",
		"    map hidden = no",
		"    map system = no",
		"    map readonly = no",
		"    kernel oplocks = no",
		"    posix locking = no",
		"    strict locking = no",
		"",
	}, "\n") + "\n"
}

// startSMBD starts smbd in a mount namespace of its own, where Cerulean's passwd and group
// files stand in for the host's.
func (s *Server) startSMBD() error {
	etc := filepath.Join(s.dir, "etc")
	// CERULEAN_SMBD_DEBUG (0-10) raises smbd's log level, into <data>/smb/log/smbd.out.
	level := 0
	if v, err := strconv.Atoi(os.Getenv("CERULEAN_SMBD_DEBUG")); err == nil && v >= 0 && v <= 10 {
		level = v
	}
	script := fmt.Sprintf("mount --bind %s /etc/passwd && mount --bind %s /etc/group && exec smbd --foreground --no-process-group -s %s --debug-stdout -d%d",
		filepath.Join(etc, "passwd"), filepath.Join(etc, "group"), filepath.Join(s.dir, "smb.conf"), level)
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script)
	logf, err := os.OpenFile(filepath.Join(s.dir, "log", "smbd.out"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start smbd: %w", err)
	}
	s.smbd, s.smbdDone = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(s.smbdDone) }()
	// Ready when it listens.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.smbdDone:
			b, _ := os.ReadFile(filepath.Join(s.dir, "log", "smbd.out"))
			return fmt.Errorf("smbd exited at start: %s", strings.TrimSpace(string(b)))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("smbd did not listen on %s within 20 s (log in %s)", s.addr, filepath.Join(s.dir, "log"))
}

// inNamespace runs a Samba tool inside smbd's mount namespace (it needs the same users).
func (s *Server) inNamespace(args ...string) error {
	_, err := s.namespaceOutput(args...)
	return err
}

// namespaceOutput runs a Samba tool inside smbd's mount namespace and returns its output.
func (s *Server) namespaceOutput(args ...string) ([]byte, error) {
	if s.smbd == nil || s.smbd.Process == nil {
		return nil, errors.New("smbd is not running")
	}
	cmd := exec.Command("nsenter", append([]string{"-t", fmt.Sprint(s.nsPID()), "-m", "--"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %v: %s", args[0], err, strings.TrimSpace(errb.String()+out.String()))
	}
	return out.Bytes(), nil
}

// nsPID is a process inside smbd's namespace: smbd itself once the shell has exec'd it.
func (s *Server) nsPID() int { return s.smbd.Process.Pid }

func (s *Server) setPassword(user, password string) error {
	cmd := exec.Command("nsenter", "-t", fmt.Sprint(s.nsPID()), "-m", "--", "smbpasswd", "-c", filepath.Join(s.dir, "smb.conf"), "-s", "-a", user)
	cmd.Stdin = strings.NewReader(password + "\n" + password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("set the SMB password of %s: %v: %s", user, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Stop stops smbd (and the RPC helper it starts) and unmounts the shares.
func (s *Server) Stop() {
	s.stopping.Store(true)
	if s.smbd != nil && s.smbd.Process != nil {
		_ = syscall.Kill(-s.smbd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.smbdDone:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-s.smbd.Process.Pid, syscall.SIGKILL)
		}
	}
	s.stopRPCHelper()
	if s.fuse != nil {
		if err := s.fuse.Unmount(); err != nil {
			_ = exec.Command("umount", "-l", s.mnt).Run()
		}
		_ = os.Remove(s.mnt)
	}
}
