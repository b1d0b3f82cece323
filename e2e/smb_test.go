package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/service"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/ntfs"
	"github.com/google/uuid"
)

// smbclient runs Samba's smbclient against //127.0.0.1/<share> on port as user%password.
func smbclient(t *testing.T, port int, share, user, password, commands, dir string) (string, error) {
	t.Helper()
	cmd := exec.Command("smbclient", "//127.0.0.1/"+share, "-p", strconv.Itoa(port), "-U", user+"%"+password, "-c", commands)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSMB_Logins (issue 11 item 4): `cerulean serve --smb` serves every share
// through Samba over Cerulean's FUSE layer. The storage-account key logs in as the account
// name, as `net use ... /user:localhost\<account> <key>` does against Azure; what is written
// over SMB is stored encrypted and reads back over REST, and the other way round; a wrong key
// and another account's key are refused. Directory principals given a login ('cerulean smb
// login') act as themselves: an SMB Share Contributor writes and owns what it creates, a
// Reader reads but cannot write or delete, a principal with no role cannot list the share.
func TestSMB_Logins(t *testing.T) {
	if _, err := exec.LookPath("smbclient"); err != nil {
		t.Fatal("smbclient is not installed: scripts/install-test-deps installs Debian's samba and smbclient")
	}
	if os.Geteuid() != 0 {
		t.Skip("--smb needs root (smbd switches to each user's uid; CI runs as root)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	mounts := func() int {
		b, _ := os.ReadFile("/proc/mounts")
		return bytes.Count(b, []byte("cerulean-smb-"))
	}
	before := mounts() // the shared server may have its own
	s := startOwnServer(t, t.TempDir(), "--smb", "127.0.0.1:"+strconv.Itoa(port))
	defer func() {
		s.cmd.Process.Signal(os.Interrupt)
		s.cmd.Wait()
		if mounts() != before {
			t.Error("the shares are still mounted after the server stopped")
		}
	}()
	sub := "/subscriptions/" + s.env.SubscriptionID + "/resourceGroups/smb"
	s.arm(t, "PUT", sub+"?api-version=2021-04-01", `{"location":"westus"}`)
	keys := map[string]string{}
	for _, acct := range []string{"smbone", "smbtwo"} {
		keys[acct] = s.accountWithShare(t, "smb", acct, "docs")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "local.txt"), []byte("written over SMB"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The SMB server picks new accounts up within a few seconds.
	var out string
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err = smbclient(t, port, "smbone.docs", "smbone", keys["smbone"], "put local.txt remote.txt; mkdir sub; get remote.txt back.txt; ls", dir)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil || !strings.Contains(out, "remote.txt") || !strings.Contains(out, "sub") {
		t.Fatalf("smbclient with the account key: %v\n%s", err, out)
	}
	// Over SMB the share's size is its quota.
	if strings.Contains(out, " 0 blocks of size") || !strings.Contains(out, "blocks of size") {
		t.Errorf("the share reports no capacity over SMB:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "back.txt")); string(b) != "written over SMB" {
		t.Fatalf("read back over SMB: %q", b)
	}

	// REST sees what SMB wrote, and SMB sees what REST writes.
	cred, _ := service.NewSharedKeyCredential("smbone", keys["smbone"])
	svc, err := service.NewClientWithSharedKeyCredential(s.env.ResourceManagerEndpoint+"/smbone/", cred, &service.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: httpClientFor(t, s.env.CACertFile), Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	fc := svc.NewShareClient("docs").NewRootDirectoryClient().NewFileClient("remote.txt")
	resp, err := fc.DownloadStream(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(resp.Body)
	if got.String() != "written over SMB" {
		t.Fatalf("REST reads %q", got.String())
	}
	rc := svc.NewShareClient("docs").NewDirectoryClient("sub").NewFileClient("from-rest.txt")
	if _, err := rc.Create(ctxT(t), 9, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.UploadRange(ctxT(t), 0, streamOf([]byte("from REST")), nil); err != nil {
		t.Fatal(err)
	}
	if out, err := smbclient(t, port, "smbone.docs", "smbone", keys["smbone"], "get sub/from-rest.txt fromrest.txt", dir); err != nil {
		t.Fatalf("smbclient get: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "fromrest.txt")); string(b) != "from REST" {
		t.Fatalf("SMB reads %q", b)
	}

	// A wrong key, and another account's key, are refused.
	if out, err := smbclient(t, port, "smbone.docs", "smbone", "bm90LXRoZS1rZXk=", "ls", dir); err == nil || !strings.Contains(out, "NT_STATUS_LOGON_FAILURE") {
		t.Errorf("a wrong key: %v\n%s", err, out)
	}
	if out, err := smbclient(t, port, "smbone.docs", "smbtwo", keys["smbtwo"], "ls", dir); err == nil {
		t.Errorf("another account's key reached smbone's share:\n%s", out)
	}
	if out, err := smbclient(t, port, "smbtwo.docs", "smbtwo", keys["smbtwo"], "ls", dir); err != nil {
		t.Errorf("smbtwo's own share: %v\n%s", err, out)
	}

	// Directory principals log in as themselves: seed 004's share level × ACL over SMB.
	shareScope := sub + "/providers/Microsoft.Storage/storageAccounts/smbone/fileServices/default/fileshares/docs"
	login := func(name, role string) (user, password string) {
		u := s.smbPrincipal(t, name, role, shareScope)
		return u.User, u.Password
	}
	cu, cp := login("smb-contrib", roleSMBShareContributor)
	ru, rp := login("smb-reader", roleSMBShareReader)
	nu, np := login("smb-nobody", "")
	deadline = time.Now().Add(30 * time.Second)
	for {
		out, err = smbclient(t, port, "smbone.docs", cu, cp, "put local.txt by-contrib.txt; ls", dir)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil || !strings.Contains(out, "by-contrib.txt") {
		t.Fatalf("SMB Share Contributor writes: %v\n%s", err, out)
	}
	if out, err := smbclient(t, port, "smbone.docs", ru, rp, "get by-contrib.txt reader-copy.txt", dir); err != nil {
		t.Errorf("SMB Share Reader reads: %v\n%s", err, out)
	}
	if out, err := smbclient(t, port, "smbone.docs", ru, rp, "put local.txt by-reader.txt", dir); err == nil || !strings.Contains(out, "NT_STATUS_ACCESS_DENIED") {
		t.Errorf("SMB Share Reader writes: %v\n%s", err, out)
	}
	if out, err := smbclient(t, port, "smbone.docs", ru, rp, "rm by-contrib.txt", dir); err == nil && !strings.Contains(out, "NT_STATUS_ACCESS_DENIED") {
		t.Errorf("SMB Share Reader deletes: %v\n%s", err, out)
	}
	// A wrong password and an unknown user are refused alike: nothing tells which was wrong.
	for _, who := range [][2]string{{cu, cp + "x"}, {"no-such-user", cp}} {
		if out, err := smbclient(t, port, "smbone.docs", who[0], who[1], "ls", dir); err == nil || !strings.Contains(out, "NT_STATUS_LOGON_FAILURE") {
			t.Errorf("login as %s with a wrong password: %v\n%s", who[0], err, out)
		}
	}
	// No share-level role: the share refuses the connection, as Azure refuses the mount.
	if out, err := smbclient(t, port, "smbone.docs", nu, np, "ls", dir); err == nil || !strings.Contains(out, "NT_STATUS_ACCESS_DENIED") {
		t.Errorf("a principal with no role lists the share: %v\n%q", err, out)
	}
	// The file the Contributor made is its own: its SID is the owner.
	if out, err := exec.Command(binary, "icacls", "//smbone/docs/by-contrib.txt", "--key", keys["smbone"], "--data", s.data).CombinedOutput(); err != nil || !strings.Contains(string(out), "smb-contrib:(I)(F)") {
		t.Errorf("the Contributor's file does not carry CREATOR OWNER's entry for it: %v\n%s", err, out)
	}
}

// startSMBServer starts an own server with --smb on port (0: any free one), an account with
// share "docs", and returns it with the SMB port and the account's key.
func startSMBServer(t *testing.T, account string, port int) (s *ownServer, _ int, key string) {
	t.Helper()
	if port == 0 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	s = startOwnServer(t, t.TempDir(), "--smb", "127.0.0.1:"+strconv.Itoa(port))
	t.Cleanup(func() { s.cmd.Process.Signal(os.Interrupt); s.cmd.Wait() })
	s.arm(t, "PUT", "/subscriptions/"+s.env.SubscriptionID+"/resourceGroups/smb?api-version=2021-04-01", `{"location":"westus"}`)
	return s, port, s.accountWithShare(t, "smb", account, "docs")
}

// accountWithShare makes a storage account with one share in resource group rg (which must
// exist) and returns the account's key1.
func (s *ownServer) accountWithShare(t *testing.T, rg, account, share string) string {
	t.Helper()
	id := "/subscriptions/" + s.env.SubscriptionID + "/resourceGroups/" + rg + "/providers/Microsoft.Storage/storageAccounts/" + account
	s.arm(t, "PUT", id+"?api-version=2023-05-01", `{"location":"westus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`)
	s.arm(t, "PUT", id+"/fileServices/default/shares/"+share+"?api-version=2023-05-01", `{}`)
	var k struct {
		Keys []struct {
			Value string `json:"value"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(s.arm(t, "POST", id+"/listKeys?api-version=2023-05-01", ""), &k); err != nil || len(k.Keys) == 0 {
		t.Fatalf("keys of %s: %v", account, err)
	}
	return k.Keys[0].Value
}

// smbUser is a service principal with an SMB login.
type smbUser struct {
	Name, AppID, ObjectID, SID string
	User, Password             string // the SMB login
}

// smbPrincipal makes a service principal named name, assigns it role at scope (none for ""),
// and gives it an SMB login.
func (s *ownServer) smbPrincipal(t *testing.T, name, role, scope string) smbUser {
	t.Helper()
	var sp servicePrincipal
	out, err := exec.Command(binary, "sp", "create", name, "--data", s.data).Output()
	if err != nil || json.Unmarshal(out, &sp) != nil {
		t.Fatalf("sp create: %v %s", err, out)
	}
	if role != "" {
		s.arm(t, "PUT", scope+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=2022-04-01",
			`{"properties":{"roleDefinitionId":"/providers/Microsoft.Authorization/roleDefinitions/`+role+`","principalId":"`+sp.ObjectID+`","principalType":"ServicePrincipal"}}`)
	}
	var l struct{ User, Password string }
	out, err = exec.Command(binary, "smb", "login", sp.AppID, "--data", s.data).Output()
	if err != nil || json.Unmarshal(out, &l) != nil {
		t.Fatalf("smb login: %v %s", err, out)
	}
	sid, err := directory.SID(sp.ObjectID)
	if err != nil {
		t.Fatal(err)
	}
	return smbUser{Name: name, AppID: sp.AppID, ObjectID: sp.ObjectID, SID: sid, User: l.User, Password: l.Password}
}

// waitSMB retries smbclient commands as user until they succeed (the SMB server picks new
// accounts, logins and roles up within its sync interval) and returns the last output.
func waitSMB(t *testing.T, port int, share, user, password, commands, dir string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := smbclient(t, port, share, user, password, commands, dir)
		if err == nil && !strings.Contains(out, "NT_STATUS") {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("smbclient %s as %s: %v\n%s", commands, user, err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// smbOps runs SMB opens as user through Samba's own client library (python3-samba, which
// Debian's samba brings): each op is "read", "write", "exec", "delete" or "writedac" and a
// file name, opened for exactly that access (smbclient opens for read and write together and
// cannot ask to run a file); the answer for each is "ok", "denied" or an error.
func smbOps(t *testing.T, share, user, password string, ops []string) []string {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "smb/ops.py", "127.0.0.1", share, user, password)
	cmd.Stdin = strings.NewReader(strings.Join(ops, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != len(ops) {
		t.Fatalf("smb/ops.py as %s: %v\n%s", user, err, out)
	}
	return lines
}

// TestSMB_Seed004Table (issue 11 item 3 over SMB): seed 004's table cell by cell with real
// SMB clients: four directory principals (no role, SMB Share Reader, Contributor, Elevated
// Contributor) on files whose only ACL entry gives them None, Read, Run & Execute, List
// Folder, Write, Modify or Full. Each cell reads (smbclient get), runs (an open for execute),
// writes (an open for write only), applies permissions (smbcacls -a) and deletes (smbclient
// rm), and 'cerulean access explain --path' must name exactly the rights that worked.
// "Apply permissions to your own files" is the owner's: an Elevated Contributor owning a file
// it may Modify applies permissions; a Contributor owning one cannot.
func TestSMB_Seed004Table(t *testing.T) {
	requireSMB445(t)
	s, port, key := startSMBServer(t, "smbtable", 445)
	share := "/subscriptions/" + s.env.SubscriptionID + "/resourceGroups/smb/providers/Microsoft.Storage/storageAccounts/smbtable/fileServices/default/fileshares/docs"
	roles := []struct{ name, role string }{{"none", ""}, {"reader", roleSMBShareReader}, {"contrib", roleSMBShareContributor}, {"elevated", roleSMBShareElevated}}
	var logins []smbUser
	for _, r := range roles {
		logins = append(logins, s.smbPrincipal(t, "cell-"+r.name, r.role, share))
	}
	rows := []struct {
		ntfs, perm string
		want       [4]string // R read, X run, W write, A apply permissions, D delete; per role
	}{
		{"None", "", [4]string{"", "", "", ""}},
		{"Read", "R", [4]string{"", "R", "R", "R"}},
		{"Run & Execute", "RX", [4]string{"", "RX", "RX", "RX"}},
		{"List Folder", "RX", [4]string{"", "RX", "RX", "RX"}},
		// icacls W is write-only: the seed's "Read"/"Run" in this row cannot come from it
		// (internal/ntfs TestSeed004Table says why).
		{"Write", "W", [4]string{"", "", "W", "W"}},
		{"Modify", "M", [4]string{"", "RX", "RXWD", "RXWD"}},
		{"Full", "F", [4]string{"", "RX", "RXWD", "RXWAD"}},
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "seed.txt"), []byte("seed 004"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The files, made over SMB with the key, each with an ACL of one row for every principal.
	var puts []string
	for i := range rows {
		for j := range roles {
			puts = append(puts, fmt.Sprintf("put seed.txt f%d%d.txt", i, j))
		}
	}
	waitSMB(t, port, "smbtable.docs", "smbtable", key, strings.Join(puts, "; "), dir)
	for i, row := range rows {
		for j := range roles {
			args := []string{"icacls", fmt.Sprintf("//smbtable/docs/f%d%d.txt", i, j), "--key", key, "--data", s.data, "/inheritance:r"}
			if row.perm != "" {
				for _, l := range logins {
					args = append(args, "/grant", l.Name+":"+row.perm)
				}
			}
			if out, err := exec.Command(binary, args...).CombinedOutput(); err != nil {
				t.Fatalf("icacls: %v\n%s", err, out)
			}
		}
	}
	// "Apply permissions to your own files": files the Elevated Contributor and the
	// Contributor make themselves, each then given Modify only for its owner.
	waitSMB(t, port, "smbtable.docs", logins[3].User, logins[3].Password, "put seed.txt own-elevated.txt", dir)
	waitSMB(t, port, "smbtable.docs", logins[2].User, logins[2].Password, "put seed.txt own-contrib.txt", dir)
	for _, f := range []struct{ file, who string }{{"own-elevated.txt", logins[3].Name}, {"own-contrib.txt", logins[2].Name}} {
		if out, err := exec.Command(binary, "icacls", "//smbtable/docs/"+f.file, "--key", key, "--data", s.data, "/inheritance:r", "/grant", f.who+":M").CombinedOutput(); err != nil {
			t.Fatalf("icacls: %v\n%s", err, out)
		}
	}
	type cell struct {
		file, who, want string
		l               smbUser
	}
	var cells []cell
	for i, row := range rows {
		for j, l := range logins {
			cells = append(cells, cell{fmt.Sprintf("f%d%d.txt", i, j), "NTFS " + row.ntfs + " × " + roles[j].name, row.want[j], l})
		}
	}
	cells = append(cells, cell{"own-elevated.txt", "owner with Modify × elevated", "RXWAD", logins[3]},
		cell{"own-contrib.txt", "owner with Modify × contrib", "RXWD", logins[2]})
	for _, c := range cells {
		// What explain says first: every later step may change the file.
		explained := explainLetters(t, s, c.l.AppID, "//smbtable/docs/"+c.file)
		got := ""
		if out, err := smbclient(t, port, "smbtable.docs", c.l.User, c.l.Password, "get "+c.file+" out.txt", dir); err == nil && !strings.Contains(out, "NT_STATUS") {
			got += "R"
		}
		res := smbOps(t, "smbtable.docs", c.l.User, c.l.Password, []string{"exec " + c.file, "write " + c.file})
		if res[0] == "ok" {
			got += "X"
		}
		if res[1] == "ok" {
			got += "W"
		}
		// Applying permissions: an entry for SYSTEM, whom nobody holds (seed 004), setting the
		// DACL alone as Windows' icacls does (smbcacls sends the owner too unless told).
		if out, err := exec.Command("smbcacls", "//127.0.0.1/smbtable.docs", c.file, "-U", c.l.User+"%"+c.l.Password,
			"--set-security-info=4", "-a", "ACL:S-1-5-18:ALLOWED/0x0/0x00000001").CombinedOutput(); err == nil && !strings.Contains(string(out), "NT_STATUS") {
			got += "A"
		}
		if out, err := smbclient(t, port, "smbtable.docs", c.l.User, c.l.Password, "rm "+c.file, dir); err == nil && !strings.Contains(out, "NT_STATUS") {
			got += "D"
		}
		if got != c.want {
			t.Errorf("%s over SMB: can %q, want %q", c.who, got, c.want)
		}
		if explained != c.want {
			t.Errorf("%s: explain --path says %q, SMB did %q", c.who, explained, got)
		}
	}
}

// requireSMB445 skips a test that needs SMB on port 445 (smbcacls 4.17 connects to 445 only)
// unless it runs as root; smbclient and smbcacls must be installed.
func requireSMB445(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"smbclient", "smbcacls"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: scripts/install-test-deps installs Debian's samba and smbclient", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Skip("--smb needs root (smbd switches to each user's uid; CI runs as root)")
	}
}

// explainLetters is what 'cerulean access explain --path' says principal may do on path, as
// the letters R (read), X (run), W (write), A (apply permissions), D (delete).
func explainLetters(t *testing.T, s *ownServer, principal, path string) string {
	t.Helper()
	out, err := exec.Command(binary, "access", "explain", "--principal", principal, "--path", path, "--json", "--data", s.data).Output()
	var a pathAccess
	if json.Unmarshal(out, &a) != nil {
		t.Fatalf("explain --path %s: %v %s", path, err, out)
	}
	return rightsLetters(a.Mask)
}

func rightsLetters(m uint32) string {
	var b strings.Builder
	for _, c := range []struct {
		letter string
		bit    uint32
	}{{"R", ntfs.FileReadData}, {"X", ntfs.FileExecute}, {"W", ntfs.FileWriteData}, {"A", ntfs.WriteDAC}, {"D", ntfs.Delete}} {
		if m&c.bit != 0 {
			b.WriteString(c.letter)
		}
	}
	return b.String()
}

// TestSMB_CMKRevocation (seed 002 over SMB): "You can immediately block access to encrypted
// file share data by disabling or deleting the customer-managed key" holds over SMB too: with
// the key disabled, an SMB read of the share fails at once; re-enabled, it reads again.
func TestSMB_CMKRevocation(t *testing.T) {
	if smbPort == 0 {
		if os.Geteuid() != 0 {
			t.Skip("the shared server serves SMB only as root (CI runs as root)")
		}
		t.Fatal("the shared server does not serve SMB: is smbclient installed (scripts/install-test-deps)?")
	}
	admin := adminCredential(t)
	rg, vault, kc, _, uami := cmkSetup(t, "smbcmk-")
	key, err := kc.CreateKey(ctxT(t), "cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := assignRole(t, admin, vaultScope(rg, vault), roleKVCryptoSEU, *uami.Properties.PrincipalID); err != nil {
		t.Fatal(err)
	}
	name := createCMKAccount(t, rg, vault, *uami.ID)
	svc := sharedKeyService(t, rg, name)
	if _, err := svc.NewShareClient("docs").Create(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	keys, err := accountsClient(t, admin).ListKeys(ctxT(t), rg, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	pw := *keys.Keys[0].Value
	dir := t.TempDir()
	rememberSensitive(t, []byte("under the customer's key")) // written over SMB: the store scan looks for it too
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("under the customer's key"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		out, err = smbclient(t, smbPort, name+".docs", name, pw, "put secret.txt s.txt; get s.txt back.txt", dir)
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || strings.Contains(out, "NT_STATUS") {
		t.Fatalf("SMB under a usable customer key: %v\n%s", err, out)
	}
	setEnabled := func(on bool) {
		t.Helper()
		if _, err := kc.UpdateKey(ctxT(t), "cmk", key.Key.KID.Version(), azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(on)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	setEnabled(false)
	if out, err := smbclient(t, smbPort, name+".docs", name, pw, "get s.txt revoked.txt", dir); err == nil && !strings.Contains(out, "NT_STATUS") {
		t.Fatalf("SMB read with the key disabled succeeded:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "revoked.txt")); err == nil {
		if b, _ := os.ReadFile(filepath.Join(dir, "revoked.txt")); len(b) > 0 {
			t.Fatalf("SMB read %q with the key disabled", b)
		}
	}
	setEnabled(true)
	if out, err := smbclient(t, smbPort, name+".docs", name, pw, "get s.txt again.txt", dir); err != nil || strings.Contains(out, "NT_STATUS") {
		t.Fatalf("SMB read after re-enabling: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "again.txt")); string(b) != "under the customer's key" {
		t.Fatalf("read back %q", b)
	}
}

// TestSMB_CrashDurability (issue 11: "the crash test covers writes through SMB"): files put
// over SMB whose transfer completed survive kill -9 of the server byte for byte; the file in
// flight when it died holds, at every byte, either what was sent or zeros, never anything else.
func TestSMB_CrashDurability(t *testing.T) {
	if _, err := exec.LookPath("smbclient"); err != nil {
		t.Fatal("smbclient is not installed: scripts/install-test-deps installs Debian's samba and smbclient")
	}
	if os.Geteuid() != 0 {
		t.Skip("--smb needs root (CI runs as root)")
	}
	mountsBefore, _ := os.ReadFile("/proc/mounts")
	s, port, key := startSMBServer(t, "smbcrash", 0)
	dir := t.TempDir()
	sums := map[string][32]byte{}
	for i := 0; i < 3; i++ {
		b := make([]byte, 8<<20)
		rand.Read(b)
		name := fmt.Sprintf("done%d.bin", i)
		sums[name] = sha256.Sum256(b)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 256<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		out, err := smbclient(t, port, "smbcrash.docs", "smbcrash", key, "put done0.bin; put done1.bin; put done2.bin", dir)
		if err == nil && !strings.Contains(out, "NT_STATUS") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("puts before the crash: %v\n%s", err, out)
		}
	}
	inflight := exec.Command("smbclient", "//127.0.0.1/smbcrash.docs", "-p", strconv.Itoa(port), "-U", "smbcrash%"+key, "-c", "put big.bin")
	inflight.Dir = dir
	if err := inflight.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
	inflight.Wait()
	// What the dead server leaves: its SMB helpers (smbd killed by the kernel's parent-death
	// signal; the RPC helper, which detaches itself) and its now disconnected FUSE mount. The
	// next server clears both.
	var dead []string
	if b, err := os.ReadFile("/proc/mounts"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.Contains(f[1], "cerulean-smb-") && !bytes.Contains(mountsBefore, []byte(f[1])) {
				dead = append(dead, f[1])
			}
		}
	}
	rpcPID := 0
	if b, err := os.ReadFile(filepath.Join(s.data, "smb", "pid", "samba-dcerpcd.pid")); err == nil {
		rpcPID, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port2 := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s2 := startOwnServer(t, s.data, "--smb", "127.0.0.1:"+strconv.Itoa(port2))
	defer func() { s2.cmd.Process.Signal(os.Interrupt); s2.cmd.Wait() }()
	mounts, _ := os.ReadFile("/proc/mounts")
	for _, m := range dead {
		if bytes.Contains(mounts, []byte(m+" ")) {
			t.Errorf("the dead server's mount %s is still there after a restart", m)
			exec.Command("umount", "-l", m).Run()
		}
	}
	if rpcPID > 1 {
		if comm, err := os.ReadFile("/proc/" + strconv.Itoa(rpcPID) + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "samba-dcerpcd" {
			t.Errorf("the dead server's samba-dcerpcd (pid %d) still runs after a restart", rpcPID)
			syscall.Kill(rpcPID, syscall.SIGKILL)
		}
	}
	cred, _ := service.NewSharedKeyCredential("smbcrash", key)
	svc, err := service.NewClientWithSharedKeyCredential(s2.env.ResourceManagerEndpoint+"/smbcrash/", cred, &service.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: httpClientFor(t, s2.env.CACertFile), Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	root := svc.NewShareClient("docs").NewRootDirectoryClient()
	download := func(name string) ([]byte, error) {
		resp, err := root.NewFileClient(name).DownloadStream(ctxT(t), nil)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, err = b.ReadFrom(resp.Body)
		return b.Bytes(), err
	}
	for name, sum := range sums {
		b, err := download(name)
		if err != nil || sha256.Sum256(b) != sum {
			t.Fatalf("%s, put over SMB before kill -9: %v (%d bytes)", name, err, len(b))
		}
	}
	b, err := download("big.bin")
	if err != nil {
		t.Logf("the in-flight file did not survive (%v): nothing of it was acknowledged", err)
		return
	}
	if len(b) > len(big) {
		t.Fatalf("the in-flight file grew to %d bytes", len(b))
	}
	written := 0
	for i := range b {
		if b[i] != big[i] && b[i] != 0 {
			t.Fatalf("the in-flight file holds a byte at %d that was never sent", i)
		}
		if b[i] == big[i] && big[i] != 0 {
			written++
		}
	}
	t.Logf("in flight at the kill: %d of %d bytes had reached the store, all as sent", written, len(b))
}
