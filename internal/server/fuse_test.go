package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

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
}
