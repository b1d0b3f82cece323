package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/cerulean-azure/cerulean/internal/ntfs"
	"github.com/cerulean-azure/cerulean/internal/smb"
)

type uidMap map[uint32]files.Actor

func (m uidMap) Actor(_ context.Context, c smb.Caller, _ string) (files.Actor, bool) {
	a, ok := m[c.UID]
	return a, ok
}

// TestFUSE_SharesByCaller: the shares mounted through FUSE act for the calling uid's
// principal: a Contributor writes, a Reader reads but cannot write, create or delete, an
// unknown uid sees nothing; the NT ACL attribute is the node's descriptor.
func TestFUSE_SharesByCaller(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting FUSE and acting as other uids needs root (CI runs as root)")
	}
	w := newFSWorld(t)
	alice, bob := w.principal("alice", roleSMBContributor), w.principal("bob", roleSMBReader)
	ids := uidMap{20001: alice, 20002: bob, 0: {AccountKey: true}}
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(base); d != "/" && d != "." && d != os.TempDir(); d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755) // the test's own temporary folders, so other uids reach the mount
	}
	mnt := filepath.Join(base, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	server, err := smb.New(w.srv.Files.FS(), ids).Mount(mnt)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	defer server.Unmount()
	share := filepath.Join(mnt, "fsacct", "data")
	as := func(uid uint32, script string) (string, error) {
		cmd := exec.Command("/bin/sh", "-c", script)
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	if out, err := as(20001, "mkdir "+share+"/d && printf 'hello through FUSE' > "+share+"/d/a.txt && cat "+share+"/d/a.txt"); err != nil || out != "hello through FUSE" {
		t.Fatalf("Contributor: %q %v", out, err)
	}
	if out, err := as(20002, "cat "+share+"/d/a.txt"); err != nil || out != "hello through FUSE" {
		t.Errorf("Reader reads: %q %v", out, err)
	}
	for _, script := range []string{"printf x | tee -a " + share + "/d/a.txt", "touch " + share + "/d/new.txt", "rm " + share + "/d/a.txt", "mkdir " + share + "/e"} {
		if out, err := as(20002, script); err == nil || !strings.Contains(out, "ermission denied") {
			t.Errorf("Reader: %s: %q %v, want permission denied", script, out, err)
		}
	}
	// Renames: the Contributor moves its file and back; the Reader may not.
	if out, err := as(20001, "mv "+share+"/d/a.txt "+share+"/moved.txt && mv "+share+"/moved.txt "+share+"/d/a.txt && ls "+share+"/d"); err != nil || strings.TrimSpace(out) != "a.txt" {
		t.Errorf("Contributor renames: %q %v", out, err)
	}
	if out, err := as(20002, "mv "+share+"/d/a.txt "+share+"/d/b.txt"); err == nil || !strings.Contains(out, "ermission denied") {
		t.Errorf("Reader renames: %q %v, want permission denied", out, err)
	}
	if out, err := as(20003, "ls "+share); err == nil {
		t.Errorf("an unknown uid lists the share: %q", out)
	}
	// The content went through the File service: the key actor reads it there too.
	buf := make([]byte, 64)
	n, err := w.srv.Files.FS().ReadAt(context.Background(), files.Actor{AccountKey: true}, "fsacct", "data", "d/a.txt", 0, buf)
	if err != nil || string(buf[:n]) != "hello through FUSE" {
		t.Errorf("the File service reads %q %v", buf[:n], err)
	}
	// Writes through one open file are gathered, yet the file's size and content are what
	// its writer wrote to anyone who looks before it is closed, and everything is stored at
	// the close.
	if out, err := as(20001, "exec 3>"+share+"/d/g.txt; printf aaaa >&3; stat -c %s "+share+"/d/g.txt; cat "+share+"/d/g.txt; echo; printf bbbb >&3; exec 3>&-; cat "+share+"/d/g.txt"); err != nil || out != "4\naaaa\naaaabbbb" {
		t.Errorf("gathered writes: %q %v", out, err)
	}
	if n, err := w.srv.Files.FS().ReadAt(context.Background(), files.Actor{AccountKey: true}, "fsacct", "data", "d/g.txt", 0, buf); err != nil || string(buf[:n]) != "aaaabbbb" {
		t.Errorf("the File service reads the gathered writes as %q %v", buf[:n], err)
	}
	// The NT ACL attribute (as root, which the map makes the account key): alice owns the file.
	attr := make([]byte, 4096)
	sz, err := syscall.Getxattr(share+"/d/a.txt", smb.NTACLAttr, attr)
	if err != nil {
		t.Fatalf("getxattr: %v", err)
	}
	sd, err := smb.DecodeNTACL(attr[:sz])
	aliceSID, _ := directory.SID(alice.Principal.ObjectID)
	if err != nil || sd.Owner != aliceSID {
		t.Fatalf("NT ACL owner %v (%v), want %s", sd, err, aliceSID)
	}
	// Writing it back with alice denied writing takes effect at once.
	sd.DACL = append([]ntfs.ACE{{Type: "D", Rights: "0x100116", SID: aliceSID}}, sd.DACL...)
	blob, _ := smb.EncodeNTACL(sd)
	if err := syscall.Setxattr(share+"/d/a.txt", smb.NTACLAttr, blob, 0); err != nil {
		t.Fatalf("setxattr: %v", err)
	}
	if out, err := as(20001, "printf x | tee -a "+share+"/d/a.txt"); err == nil || !strings.Contains(out, "ermission denied") {
		t.Errorf("alice after the deny: %q %v", out, err)
	}
	// A write already open when alice loses the right: the next write is refused at once,
	// and what she wrote before is stored only if she still may (here: refused at the close).
	sync := t.TempDir()
	if err := os.Chmod(sync, 0o777); err != nil {
		t.Fatal(err)
	}
	// (One descriptor throughout, which a shell cannot do: every close of a copy flushes.)
	if err := syscall.Mkfifo(sync+"/go", 0o666); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", "-c", `import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
os.write(fd, b"one")
open(sys.argv[2] + "/ready", "w").close()
open(sys.argv[2] + "/go").read()
try:
    os.write(fd, b"two")
except PermissionError:
    print("REFUSED")
try:
    os.close(fd)
except PermissionError:
    print("CLOSE-REFUSED")
`, share+"/d/g.txt", sync)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 20001, Gid: 20001}}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if _, err := os.Stat(sync + "/ready"); err == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	g, err := w.srv.Files.FS().Security(context.Background(), files.Actor{AccountKey: true}, "fsacct", "data", "d/g.txt")
	if err != nil {
		t.Fatal(err)
	}
	g.DACL = append([]ntfs.ACE{{Type: "D", Rights: "0x100116", SID: aliceSID}}, g.DACL...)
	if err := w.srv.Files.FS().SetSecurity(context.Background(), files.Actor{AccountKey: true}, "fsacct", "data", "d/g.txt", g); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sync+"/go", []byte("go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if out.String() != "REFUSED\nCLOSE-REFUSED\n" {
		t.Errorf("a write after the deny, through a file opened before it, and its close: %q, want both refused", out.String())
	}
	if n, err := w.srv.Files.FS().ReadAt(context.Background(), files.Actor{AccountKey: true}, "fsacct", "data", "d/g.txt", 0, buf); err != nil || string(buf[:n]) != "aaaabbbb" {
		t.Errorf("after the deny the file holds %q %v, want only what was stored before it", buf[:n], err)
	}
}
