package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/service"
	"github.com/cerulean-azure/cerulean/internal/ntfs"
)

// smbACL is a descriptor as smbcacls --numeric prints it.
type smbACL struct {
	Owner, Group string
	ACEs         []string // "<SID> <type> <flags> <mask>", e.g. "S-1-5-11 0 0x3 0x001301bf"
}

// smbcacls runs smbcacls on //127.0.0.1/<share> <file> as user (port 445: smbcacls 4.17
// connects nowhere else) and returns its output and whether it succeeded.
func smbcacls(t *testing.T, share, file, user, password string, args ...string) (string, bool) {
	t.Helper()
	out, err := exec.Command("smbcacls", append([]string{"//127.0.0.1/" + share, file, "-U", user + "%" + password}, args...)...).CombinedOutput()
	return string(out), err == nil && !strings.Contains(string(out), "NT_STATUS")
}

// readSMBACL reads a descriptor over SMB with smbcacls --numeric.
func readSMBACL(t *testing.T, share, file, user, password string) smbACL {
	t.Helper()
	out, ok := smbcacls(t, share, file, user, password, "--numeric")
	if !ok {
		t.Fatalf("smbcacls %s as %s: %s", file, user, out)
	}
	var a smbACL
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "OWNER:"):
			a.Owner = strings.TrimPrefix(line, "OWNER:")
		case strings.HasPrefix(line, "GROUP:"):
			a.Group = strings.TrimPrefix(line, "GROUP:")
		case strings.HasPrefix(line, "ACL:"):
			// ACL:<sid>:<type>/<flags>/<mask>
			rest := strings.TrimPrefix(line, "ACL:")
			i := strings.LastIndexByte(rest, ':')
			a.ACEs = append(a.ACEs, rest[:i]+" "+strings.ReplaceAll(rest[i+1:], "/", " "))
		}
	}
	return a
}

// hasACE reports whether sd's DACL holds an ACE of type typ ("A", "D") for sid with exactly
// mask.
func hasACE(sd *ntfs.SecurityDescriptor, typ, sid string, mask uint32) bool {
	for _, a := range sd.DACL {
		if m, err := ntfs.RightsMask(a.Rights); err == nil && a.Type == typ && ntfs.CanonicalSID(a.SID) == sid && m == mask {
			return true
		}
	}
	return false
}

func (a smbACL) has(ace string) bool {
	for _, x := range a.ACEs {
		if x == ace {
			return true
		}
	}
	return false
}

// maxAccess is the maximum access smbd grants user on file (smbcacls -x: the MxAc create
// context, the share ACL and the NT ACL together), as R X W A D letters.
func maxAccess(t *testing.T, share, file, user, password string) string {
	t.Helper()
	out, _ := smbcacls(t, share, file, user, password, "-x")
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Maximum access: "); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 0, 32)
			if err != nil {
				t.Fatalf("smbcacls -x: %s", out)
			}
			return rightsLetters(uint32(m))
		}
	}
	return "" // no access at all: the open fails
}

// TestSMB_ACLs (issue 11, "Done when"): smbcacls reads and writes the same descriptors REST
// and 'cerulean icacls' do, as real directory principals:
//   - a share's root has exactly seed 004's descriptor, over SMB too;
//   - what a principal creates over SMB is its own, with CREATOR OWNER's entry for it and the
//     root's inheritable entries marked inherited;
//   - icacls → smbcacls and smbcacls → icacls and REST round-trip;
//   - a principal without WRITE_DAC cannot change an ACL (a Contributor owning the file, an
//     Elevated Contributor the ACL gives no WRITE_DAC);
//   - Storage File Data SMB Admin takes ownership, which an Elevated Contributor cannot, and
//     then can change the ACL;
//   - the storage-key login can do everything, on a file whose ACL grants nobody anything;
//   - explain --path names the rights smbd grants each of them (smbcacls -x).
func TestSMB_ACLs(t *testing.T) {
	requireSMB445(t)
	s, port, key := startSMBServer(t, "smbacl", 445)
	const share = "smbacl.docs"
	scope := "/subscriptions/" + s.env.SubscriptionID + "/resourceGroups/smb/providers/Microsoft.Storage/storageAccounts/smbacl/fileServices/default/fileshares/docs"
	alice := s.smbPrincipal(t, "acl-alice", roleSMBShareContributor, scope)
	bob := s.smbPrincipal(t, "acl-bob", roleSMBShareElevated, scope)
	carol := s.smbPrincipal(t, "acl-carol", roleSMBAdmin, scope)
	dave := s.smbPrincipal(t, "acl-dave", roleSMBShareReader, scope)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "local.txt"), []byte("seed 004"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitSMB(t, port, share, "smbacl", key, "ls", dir)
	for _, u := range []smbUser{alice, bob, carol, dave} {
		waitSMB(t, port, share, u.User, u.Password, "ls", dir)
	}
	cred, _ := service.NewSharedKeyCredential("smbacl", key)
	svc, err := service.NewClientWithSharedKeyCredential(s.env.ResourceManagerEndpoint+"/smbacl/", cred, &service.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: httpClientFor(t, s.env.CACertFile), Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	restSDDL := func(path string) string {
		t.Helper()
		sc := svc.NewShareClient("docs")
		props, err := sc.NewRootDirectoryClient().NewFileClient(path).GetProperties(ctxT(t), nil)
		if err != nil {
			t.Fatalf("REST properties of %s: %v", path, err)
		}
		p, err := sc.GetPermission(ctxT(t), *props.FilePermissionKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		return *p.Permission
	}
	icaclsKey := func(path string, args ...string) string {
		t.Helper()
		out, err := exec.Command(binary, append([]string{"icacls", "//smbacl/docs/" + path, "--key", key, "--data", s.data}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("icacls %s %v: %v\n%s", path, args, err, out)
		}
		return string(out)
	}

	// The share's root: seed 004's descriptor, to the key and to a directory principal.
	seedRoot := []string{
		"S-1-5-32-544 0 0x3 0x001f01ff", "S-1-5-32-545 0 0x0 0x001200a9", "S-1-5-32-545 0 0xb 0xa0000000",
		"S-1-5-11 0 0x3 0x001301bf", "S-1-5-18 0 0x3 0x001f01ff", "S-1-5-18 0 0x0 0x001f01ff", "S-1-3-0 0 0xb 0x10000000",
	}
	for _, u := range []struct{ user, password string }{{"smbacl", key}, {dave.User, dave.Password}} {
		root := readSMBACL(t, share, "", u.user, u.password)
		if root.Owner != "S-1-5-32-544" || root.Group != "S-1-5-18" || strings.Join(root.ACEs, ",") != strings.Join(seedRoot, ",") {
			t.Errorf("the share root over SMB as %s: %+v, want seed 004's %v", u.user, root, seedRoot)
		}
	}

	// Created over SMB: the creator owns it, CREATOR OWNER's entry becomes the creator's.
	waitSMB(t, port, share, alice.User, alice.Password, "put local.txt a.txt; mkdir adir; put local.txt adir/b.txt", dir)
	a := readSMBACL(t, share, "a.txt", alice.User, alice.Password)
	if a.Owner != alice.SID {
		t.Errorf("a.txt, made over SMB by %s, is owned by %s", alice.SID, a.Owner)
	}
	for _, want := range []string{alice.SID + " 0 0x10 0x001f01ff", "S-1-5-11 0 0x10 0x001301bf", "S-1-5-32-545 0 0x10 0x001200a9"} {
		if !a.has(want) {
			t.Errorf("a.txt lacks the inherited %q: %v", want, a.ACEs)
		}
	}
	adir := readSMBACL(t, share, "adir", alice.User, alice.Password)
	if adir.Owner != alice.SID || !adir.has(alice.SID+" 0 0x10 0x001f01ff") || !adir.has("S-1-3-0 0 0x1b 0x10000000") || !adir.has("S-1-5-11 0 0x13 0x001301bf") {
		t.Errorf("adir, made over SMB by alice: %+v", adir)
	}
	if b := readSMBACL(t, share, "adir/b.txt", alice.User, alice.Password); b.Owner != alice.SID || !b.has(alice.SID+" 0 0x10 0x001f01ff") {
		t.Errorf("adir/b.txt: %+v", b)
	}

	// icacls → SMB: a grant made with icacls is what smbcacls reads (R = 0x120089).
	icaclsKey("a.txt", "/grant", dave.Name+":R")
	if !readSMBACL(t, share, "a.txt", "smbacl", key).has(dave.SID + " 0 0x0 0x00120089") {
		t.Errorf("icacls /grant %s:R is not seen over SMB", dave.Name)
	}
	// SMB → icacls and REST: a deny added with smbcacls.
	if out, ok := smbcacls(t, share, "a.txt", "smbacl", key, "--set-security-info=4", "-a", "ACL:"+dave.SID+":DENIED/0x0/0x00000002"); !ok {
		t.Fatalf("smbcacls -a as the key: %s", out)
	}
	if out := icaclsKey("a.txt"); !strings.Contains(out, dave.Name+":(DENY)(W") {
		t.Errorf("icacls does not show the deny smbcacls added:\n%s", out)
	}
	if sd, err := ntfs.Parse(restSDDL("a.txt")); err != nil || !hasACE(sd, "D", dave.SID, ntfs.FileWriteData) {
		t.Errorf("REST does not show the deny smbcacls added: %v %v", sd, err)
	}

	// No WRITE_DAC, no change: alice owns a.txt but is a Contributor (no modifyPermissions);
	// bob is an Elevated Contributor whom the ACL gives Modify (Authenticated Users).
	before := restSDDL("a.txt")
	for _, u := range []smbUser{alice, bob, carol} {
		if out, ok := smbcacls(t, share, "a.txt", u.User, u.Password, "--set-security-info=4", "-a", "ACL:S-1-5-18:ALLOWED/0x0/0x00000001"); ok || !strings.Contains(out, "NT_STATUS_ACCESS_DENIED") {
			t.Errorf("%s changed a.txt's ACL without WRITE_DAC: %s", u.Name, out)
		}
	}
	if after := restSDDL("a.txt"); after != before {
		t.Errorf("a refused change changed the descriptor: %s → %s", before, after)
	}

	// Taking ownership: not with Elevated Contributor; with SMB Admin, and then carol can.
	if out, ok := smbcacls(t, share, "a.txt", bob.User, bob.Password, "-C", bob.SID); ok || !strings.Contains(out, "NT_STATUS_ACCESS_DENIED") {
		t.Errorf("an Elevated Contributor took ownership: %s", out)
	}
	if out, ok := smbcacls(t, share, "a.txt", carol.User, carol.Password, "-C", carol.SID); !ok {
		t.Fatalf("SMB Admin takes ownership: %s", out)
	}
	if got := readSMBACL(t, share, "a.txt", carol.User, carol.Password); got.Owner != carol.SID {
		t.Errorf("after taking ownership the owner is %s", got.Owner)
	}
	if sddl := restSDDL("a.txt"); !strings.HasPrefix(sddl, "O:"+carol.SID) {
		t.Errorf("REST after carol took ownership: %s", sddl)
	}
	if out, ok := smbcacls(t, share, "a.txt", carol.User, carol.Password, "--set-security-info=4", "-a", "ACL:"+carol.SID+":ALLOWED/0x0/FULL"); !ok {
		t.Errorf("the new owner (SMB Admin) changes the ACL: %s", out)
	}
	if out := icaclsKey("a.txt"); !strings.Contains(out, carol.Name+":(F)") {
		t.Errorf("icacls does not show carol's own entry:\n%s", out)
	}

	// The key can do everything, even where the ACL grants nobody anything.
	waitSMB(t, port, share, "smbacl", key, "put local.txt k.txt", dir)
	icaclsKey("k.txt", "/inheritance:r")
	if out, err := smbclient(t, port, share, alice.User, alice.Password, "get k.txt k-alice.txt", dir); err == nil && !strings.Contains(out, "NT_STATUS_ACCESS_DENIED") {
		t.Errorf("alice read a file whose ACL is empty: %s", out)
	}
	waitSMB(t, port, share, "smbacl", key, "get k.txt k-back.txt; put local.txt k.txt", dir)
	if out, ok := smbcacls(t, share, "k.txt", "smbacl", key, "--set-security-info=4", "-a", "ACL:"+alice.SID+":ALLOWED/0x0/READ"); !ok {
		t.Errorf("the key applies permissions on an empty ACL: %s", out)
	}
	if got := maxAccess(t, share, "k.txt", "smbacl", key); got != "RXWAD" {
		t.Errorf("the key's maximum access over SMB: %q", got)
	}

	// explain --path names what smbd grants each principal (share ACL × NT ACL).
	for _, u := range []smbUser{alice, bob, carol, dave} {
		for _, f := range []string{"a.txt", "adir", "adir/b.txt", "k.txt"} {
			smbSays := maxAccess(t, share, f, u.User, u.Password)
			if explained := explainLetters(t, s, u.AppID, "//smbacl/docs/"+f); explained != smbSays {
				t.Errorf("%s on %s: explain --path says %q, smbd grants %q", u.Name, f, explained, smbSays)
			}
		}
	}
	waitSMB(t, port, share, "smbacl", key, "rm k.txt", dir)
}
