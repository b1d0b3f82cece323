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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/files"
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
// Shares are named <account>.<share>. smbd maps no NT ACLs yet (nt acl support = no): the
// ACL × share-RBAC checks are Cerulean's, at the FUSE layer.
type Server struct {
	view    *files.FS
	st      store.Store
	barrier *seal.Barrier
	dir     string // <data>/smb: smbd's state, passdb, config (root only)
	mnt     string // the FUSE mount of the shares, outside the data folder (smbd's users traverse to it)
	addr    string
	log     *slog.Logger

	mu       sync.Mutex
	byUID    map[uint32]identity
	secrets  map[string]string // SMB user -> the password it was set to
	shares   string            // the share list the config was written for
	fuse     *fuse.Server
	smbd     *exec.Cmd
	smbdDone chan struct{}
}

// NewServer prepares the SMB server for the shares of view, with its state in dir, listening
// on addr (host:port).
// The directory logins come from st (opened with barrier).
func NewServer(view *files.FS, st store.Store, barrier *seal.Barrier, dir, addr string, log *slog.Logger) *Server {
	return &Server{view: view, st: st, barrier: barrier, dir: dir, addr: addr, log: log, byUID: map[uint32]identity{}, secrets: map[string]string{}}
}

// identity is who an SMB user's uid stands for: an account's key, or a principal.
type identity struct {
	account  string // a key login's account
	objectID string // a directory login's principal
}

// Actor is the Identities of the mount: a key user acts as the account key on its own
// account; a directory login acts as its principal anywhere.
func (s *Server) Actor(_ context.Context, uid uint32, account string) (files.Actor, bool) {
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
	for _, d := range []string{"private", "lock", "state", "cache", "pid", "ncalrpc", "log", "etc"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o700); err != nil {
			return err
		}
	}
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
			s.log.Error("smbd exited; SMB is no longer served (see " + filepath.Join(s.dir, "log") + ")")
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
	for _, l := range dirLogins {
		pw, err := l.OpenPassword(s.barrier)
		if err != nil {
			return err
		}
		if addUser(l.User, "principal "+l.ObjectID, identity{objectID: l.ObjectID}, pw) {
			members = append(members, l.User)
		}
	}
	fmt.Fprintf(&group, "cerulean-principals:x:%d:%s\n", identitiesGID, strings.Join(members, ","))
	for _, acct := range accounts {
		names, err := s.view.Shares(ctx, acct)
		if err != nil {
			return err
		}
		for _, sh := range names {
			fmt.Fprintf(&shares, "[%s.%s]\n    path = %s\n    read only = no\n    valid users = %s @cerulean-principals\n", acct, sh,
				filepath.Join(s.mnt, acct, sh), acct)
		}
	}
	s.mu.Lock()
	s.byUID = byUID
	changed := shares.String() != s.shares
	s.shares = shares.String()
	s.mu.Unlock()
	// The files are rewritten in place: smbd's namespace bind-mounts them by inode.
	if err := writeInPlace(filepath.Join(s.dir, "etc", "passwd"), passwd.Bytes()); err != nil {
		return err
	}
	if err := writeInPlace(filepath.Join(s.dir, "etc", "group"), group.Bytes()); err != nil {
		return err
	}
	if err := writeInPlace(filepath.Join(s.dir, "smb.conf"), []byte(s.config()+shares.String())); err != nil {
		return err
	}
	if first {
		if err := s.startSMBD(); err != nil {
			return err
		}
	} else if changed {
		_ = s.inNamespace("smbcontrol", "-s", filepath.Join(s.dir, "smb.conf"), "smbd", "reload-config")
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
		s.mu.Unlock()
	}
	return nil
}

func writeInPlace(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err = f.WriteAt(b, 0)
	return err
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
		"    nt acl support = no",
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
	script := fmt.Sprintf("mount --bind %s /etc/passwd && mount --bind %s /etc/group && exec smbd --foreground --no-process-group -s %s --debug-stdout -d0",
		filepath.Join(etc, "passwd"), filepath.Join(etc, "group"), filepath.Join(s.dir, "smb.conf"))
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
	if s.smbd == nil || s.smbd.Process == nil {
		return errors.New("smbd is not running")
	}
	pid := s.nsPID()
	cmd := exec.Command("nsenter", append([]string{"-t", fmt.Sprint(pid), "-m", "--"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
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
	if s.smbd != nil && s.smbd.Process != nil {
		_ = syscall.Kill(-s.smbd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.smbdDone:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-s.smbd.Process.Pid, syscall.SIGKILL)
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.dir, "pid", "samba-dcerpcd.pid")); err == nil {
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
	if s.fuse != nil {
		if err := s.fuse.Unmount(); err != nil {
			_ = exec.Command("umount", "-l", s.mnt).Run()
		}
		_ = os.Remove(s.mnt)
	}
}
