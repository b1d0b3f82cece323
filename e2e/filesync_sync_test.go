package e2e

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/share"
	"github.com/cerulean-azure/cerulean/internal/ntfs"
	"github.com/google/uuid"
)

// syncTopology is a Storage Sync Service with one sync group whose cloud endpoint is share
// "data" of a new account.
type syncTopology struct {
	rg, account, service, group string
	key                         string
}

func newSyncTopology(t *testing.T) syncTopology {
	t.Helper()
	rg := "afss-" + uuid.NewString()[:8]
	if err := createGroup(t, adminCredential(t), rg); err != nil {
		t.Fatal(err)
	}
	name := newAccountName()
	accountWithShares(t, rg, name, "data")
	return syncTopologyOn(t, rg, name)
}

// syncTopologyOn builds the topology on an existing account (with share "data") of rg.
func syncTopologyOn(t *testing.T, rg, account string) syncTopology {
	t.Helper()
	admin := adminCredential(t)
	tp := syncTopology{rg: rg, account: account}
	a, err := accountsClient(t, admin).GetProperties(ctxT(t), rg, account, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := accountsClient(t, admin).ListKeys(ctxT(t), tp.rg, tp.account, nil)
	if err != nil {
		t.Fatal(err)
	}
	tp.key = *keys.Keys[0].Value
	tp.service = "/subscriptions/" + srv.SubscriptionID + "/resourceGroups/" + tp.rg + "/providers/Microsoft.StorageSync/storageSyncServices/sync"
	tp.group = tp.service + "/syncGroups/g"
	for _, put := range [][2]string{{tp.service, `{"location":"westus","properties":{}}`}, {tp.group, `{"properties":{}}`},
		{tp.group + "/cloudEndpoints/c", `{"properties":{"storageAccountResourceId":"` + *a.ID + `","azureFileShareName":"data"}}`}} {
		if st, _, out := rawARM(t, http.MethodPut, put[0]+"?api-version=2022-09-01", put[1]); st >= 300 {
			t.Fatalf("PUT %s: %d %s", put[0], st, out)
		}
	}
	return tp
}

// syncServer is a machine running 'cerulean agent': its state folder, the folder its
// server endpoint syncs, and its environment (its managed identity's endpoint, when the
// machine has one).
type syncServer struct {
	name, state, folder, resourceID string
	env                             []string
}

// agentEnv is a child's environment without credentials or proxies of the test's own.
func agentEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT",
			"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_AUTHORITY_HOST", "SSL_CERT_FILE", "CERULEAN_ARM_ENDPOINT":
			continue
		}
		out = append(out, kv)
	}
	return append(append(out, "SSL_CERT_FILE="+srv.CACertFile), extra...)
}

// newSyncServer registers a server named name with the topology's service, as the admin,
// on a machine with vm's managed identity ("" for a machine without one), and gives it a
// server endpoint.
func newSyncServer(t *testing.T, tp syncTopology, name, vm string) syncServer {
	t.Helper()
	s := syncServer{name: name, state: filepath.Join(t.TempDir(), "state"), folder: filepath.Join(t.TempDir(), name)}
	if vm != "" {
		e, err := ceruleanEnv(vm)
		if err != nil {
			t.Fatal(err)
		}
		s.env = []string{"IDENTITY_ENDPOINT=" + e.IdentityEndpoint, "IDENTITY_HEADER=" + e.IdentityHeader}
		if e.ArcIdentityEndpoint != "" { // an Arc machine's own endpoint, with its secret-file challenge
			s.env = []string{"IDENTITY_ENDPOINT=" + e.ArcIdentityEndpoint, "IMDS_ENDPOINT=" + e.ArcIMDSEndpoint}
		}
	}
	cmd := exec.Command(binary, "agent", "register", "--service", tp.service, "--name", name, "--state", s.state)
	cmd.Env = agentEnv(append([]string{"CERULEAN_ARM_ENDPOINT=" + srv.ResourceManagerEndpoint, "AZURE_AUTHORITY_HOST=" + srv.AuthorityHost,
		"AZURE_TENANT_ID=" + srv.TenantID, "AZURE_CLIENT_ID=" + srv.AdminClientID, "AZURE_CLIENT_SECRET=" + srv.AdminClientSecret}, s.env...)...)
	out, err := cmd.Output()
	var reg struct{ ResourceID string }
	if err != nil || json.Unmarshal(out, &reg) != nil {
		t.Fatalf("agent register %s: %v %s %s", name, err, out, stderrOf(err))
	}
	s.resourceID = reg.ResourceID
	if st, _, out := rawARM(t, http.MethodPut, tp.group+"/serverEndpoints/"+name+"?api-version=2022-09-01",
		`{"properties":{"serverLocalPath":"`+s.folder+`","serverResourceId":"`+s.resourceID+`"}}`); st >= 300 {
		t.Fatalf("server endpoint of %s: %d %s", name, st, out)
	}
	return s
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// sync runs the server's agent once; it fails the test when the run fails.
func (s syncServer) sync(t *testing.T) string {
	t.Helper()
	out, err := s.syncMay(t)
	if err != nil {
		t.Fatalf("agent run --once on %s: %v\n%s", s.name, err, out)
	}
	return out
}

func (s syncServer) syncMay(t *testing.T) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, "agent", "run", "--once", "--state", s.state)
	cmd.Env = agentEnv(s.env...)
	out, err := cmd.CombinedOutput()
	t.Logf("%s: %s", s.name, out)
	return string(out), err
}

// syncShareClient is a File REST client of the topology's share, with the account key.
func syncShareClient(t *testing.T, tp syncTopology) *share.Client {
	t.Helper()
	a, err := accountsClient(t, adminCredential(t)).GetProperties(ctxT(t), tp.rg, tp.account, nil)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := share.NewSharedKeyCredential(tp.account, tp.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := share.NewClientWithSharedKeyCredential(*a.Properties.PrimaryEndpoints.File+"data", cred, &share.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: httpClient(t)}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tree reads a folder as path → content.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(root, p)
			b, _ := os.ReadFile(p)
			out[filepath.ToSlash(rel)] = string(b)
		}
		return nil
	})
	return out
}

func sameTree(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func treeNames(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"("+itoa(len(v))+")")
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestFileSync_TwoServers (issue 12 item 2, seed 000): two registered servers, one on a VM
// with a system-assigned identity and one without, sync their folders through the share
// with 'cerulean agent': registration reports the VM's identity as latestApplicationId
// (the other has none); files made on either server (a large one in ranges too) reach the
// other; concurrent edits keep both versions, the server's named <name>-<server>.<ext>;
// deletions travel; a security descriptor set on one server arrives on the share and on the
// other server; names Azure Files refuses are reported, not skipped silently. Then the VM's
// server is configured to use its identity: without Storage File Data Privileged
// Contributor on the share its sync is refused (nothing lost), with it the server syncs as
// its identity while the other keeps the key.
func TestFileSync_TwoServers(t *testing.T) {
	tp := newSyncTopology(t)
	vm, ident := createHost(t, tp.rg, "Microsoft.Compute/virtualMachines", "afs-server-a", &armresources.Identity{Type: to.Ptr(armresources.ResourceIdentityTypeSystemAssigned)})
	a := newSyncServer(t, tp, "srv-a", vm)
	b := newSyncServer(t, tp, "srv-b", "")
	props := func(s syncServer) map[string]any {
		_, _, body := rawARM(t, http.MethodGet, s.resourceID+"?api-version=2022-09-01", "")
		var v struct{ Properties map[string]any }
		_ = json.Unmarshal([]byte(body), &v)
		return v.Properties
	}
	if p := props(a); p["latestApplicationId"] != *ident.PrincipalID || p["activeAuthType"] != "Certificate" {
		t.Errorf("the VM's server after registering: %v", p)
	}
	if p := props(b); p["latestApplicationId"] != "" || p["agentVersion"] != "20.0.0.0" {
		t.Errorf("the server without an identity after registering: %v", p)
	}

	big := make([]byte, 9<<20+321)
	rand.Read(big)
	writeFile(t, filepath.Join(a.folder, "a.txt"), []byte("from a"))
	writeFile(t, filepath.Join(a.folder, "dir", "nested", "b.txt"), []byte("nested from a"))
	writeFile(t, filepath.Join(a.folder, "big.bin"), big)
	writeFile(t, filepath.Join(b.folder, "c.txt"), []byte("from b"))
	a.sync(t)
	b.sync(t)
	a.sync(t)
	want := map[string]string{"a.txt": "from a", "dir/nested/b.txt": "nested from a", "big.bin": string(big), "c.txt": "from b"}
	for _, s := range []syncServer{a, b} {
		if got := tree(t, s.folder); !sameTree(got, want) {
			t.Fatalf("%s after syncing: %v", s.name, treeNames(got))
		}
	}

	// Concurrent edits: the share's version keeps the name, the other is kept beside it.
	writeFile(t, filepath.Join(a.folder, "a.txt"), []byte("edited on a"))
	writeFile(t, filepath.Join(b.folder, "a.txt"), []byte("edited on b"))
	a.sync(t)
	b.sync(t)
	a.sync(t)
	want["a.txt"], want["a-srv-b.txt"] = "edited on a", "edited on b"
	for _, s := range []syncServer{a, b} {
		if got := tree(t, s.folder); !sameTree(got, want) {
			t.Errorf("%s after a conflict: %v", s.name, treeNames(got))
		}
	}

	// Deletions travel.
	if err := os.Remove(filepath.Join(b.folder, "dir", "nested", "b.txt")); err != nil {
		t.Fatal(err)
	}
	b.sync(t)
	a.sync(t)
	delete(want, "dir/nested/b.txt")
	if got := tree(t, a.folder); !sameTree(got, want) {
		t.Errorf("a after b deleted a file: %v", treeNames(got))
	}

	// A rename is a rename on the share (nothing sent again) and reaches the other server.
	if err := os.Rename(filepath.Join(a.folder, "big.bin"), filepath.Join(a.folder, "renamed.bin")); err != nil {
		t.Fatal(err)
	}
	if out := a.sync(t); !strings.Contains(out, "up 0,") || !strings.Contains(out, "renamed 1") {
		t.Errorf("a local rename: %s", out)
	}
	b.sync(t)
	want["renamed.bin"] = want["big.bin"]
	delete(want, "big.bin")
	if got := tree(t, b.folder); !sameTree(got, want) {
		t.Errorf("b after a renamed a file: %v", treeNames(got))
	}

	// Renames made on the share (here by a File REST client) are renames on both servers:
	// nothing downloaded again. A file moves into a folder the servers do not have yet, and
	// a folder moves with what it holds.
	writeFile(t, filepath.Join(a.folder, "dir", "nested", "deep.txt"), []byte("deep"))
	a.sync(t)
	b.sync(t)
	sc := syncShareClient(t, tp)
	root := sc.NewRootDirectoryClient()
	if _, err := root.NewSubdirectoryClient("new").Create(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := root.NewFileClient("renamed.bin").Rename(ctxT(t), "new/moved.bin", nil); err != nil {
		t.Fatalf("rename on the share: %v", err)
	}
	if _, err := root.NewSubdirectoryClient("dir").Rename(ctxT(t), "folder", nil); err != nil {
		t.Fatalf("folder rename on the share: %v", err)
	}
	want["new/moved.bin"], want["folder/nested/deep.txt"] = want["renamed.bin"], "deep"
	delete(want, "renamed.bin")
	for _, s := range []syncServer{a, b} {
		if out := s.sync(t); !strings.Contains(out, "down 0,") || !strings.Contains(out, "renamed 2") {
			t.Errorf("%s after renames on the share: %s, want down 0 and renamed 2", s.name, out)
		}
		if got := tree(t, s.folder); !sameTree(got, want) {
			t.Errorf("%s after renames on the share: %v", s.name, treeNames(got))
		}
		if out := s.sync(t); !strings.Contains(out, "up 0, down 0, deleted 0/0") {
			t.Errorf("%s: a second run after the renames still moves things: %s", s.name, out)
		}
	}

	// Renamed and then changed on the share: downloaded, never renamed with stale bytes.
	if _, err := root.NewFileClient("a.txt").Rename(ctxT(t), "a-moved.txt", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := root.NewFileClient("a-moved.txt").UploadRange(ctxT(t), 0, streaming.NopCloser(strings.NewReader("EDITED")), nil); err != nil {
		t.Fatal(err)
	}
	want["a-moved.txt"] = "EDITED on a"
	delete(want, "a.txt")
	for _, s := range []syncServer{a, b} {
		if out := s.sync(t); !strings.Contains(out, "down 1,") || !strings.Contains(out, "deleted 0/1") || strings.Contains(out, "renamed") {
			t.Errorf("%s after a rename and a change on the share: %s, want down 1, deleted 0/1", s.name, out)
		}
		if got := tree(t, s.folder); !sameTree(got, want) {
			t.Errorf("%s after a rename and a change on the share: %v", s.name, treeNames(got))
		}
	}

	// A security descriptor travels server → share → server.
	const sddl = "O:BAG:SYD:P(A;;FA;;;BA)(A;;0x1200a9;;;AU)"
	secure := filepath.Join(a.folder, "secure.txt")
	writeFile(t, secure, []byte("guarded"))
	if err := syscall.Setxattr(secure, "user.cerulean.sddl", []byte(sddl), 0); err != nil {
		t.Fatalf("setxattr: %v", err)
	}
	a.sync(t)
	b.sync(t)
	buf := make([]byte, 4096)
	n, err := syscall.Getxattr(filepath.Join(b.folder, "secure.txt"), "user.cerulean.sddl", buf)
	if err != nil {
		t.Fatalf("the descriptor on b: %v", err)
	}
	got, err1 := ntfs.Parse(string(buf[:n]))
	exp, err2 := ntfs.Parse(sddl)
	if err1 != nil || err2 != nil || got.String() != exp.String() {
		t.Errorf("the descriptor set on a arrives on b as %q, want %q", buf[:n], sddl)
	}

	// A name Azure Files refuses is reported.
	writeFile(t, filepath.Join(a.folder, "what?.txt"), []byte("?"))
	out := a.sync(t)
	if !strings.Contains(out, "errors 1") {
		t.Errorf("a name Azure Files refuses: %s", out)
	}
	st, _ := exec.Command(binary, "agent", "status", "--state", a.state).CombinedOutput()
	if !strings.Contains(string(st), "what?.txt") || !strings.Contains(string(st), "does not allow") {
		t.Errorf("agent status does not report the refused name:\n%s", st)
	}
	if err := os.Remove(filepath.Join(a.folder, "what?.txt")); err != nil {
		t.Fatal(err)
	}

	// The VM's server uses its identity: refused without a role on the share, nothing lost;
	// with Storage File Data Privileged Contributor it syncs as itself.
	if st, _, body := rawARM(t, http.MethodPatch, a.resourceID+"?api-version=2022-09-01", `{"properties":{"identity":true}}`); st != http.StatusAccepted {
		t.Fatalf("PATCH identity: %d %s", st, body)
	}
	writeFile(t, filepath.Join(a.folder, "with-identity.txt"), []byte("as the VM"))
	if out, err := a.syncMay(t); err == nil || !strings.Contains(out, "ManagedIdentity") {
		t.Errorf("the identity without a role on the share synced: %v\n%s", err, out)
	}
	shareScope := "/subscriptions/" + srv.SubscriptionID + "/resourceGroups/" + tp.rg + "/providers/Microsoft.Storage/storageAccounts/" + tp.account + "/fileServices/default/fileshares/data"
	if err := assignRole(t, adminCredential(t), shareScope, "69566ab7-960f-475b-8e7c-b3118f30c6bd", *ident.PrincipalID); err != nil {
		t.Fatal(err)
	}
	if out := a.sync(t); !strings.Contains(out, "(ManagedIdentity)") || !strings.Contains(out, "up 1") {
		t.Errorf("the identity with its role: %s", out)
	}
	if out := b.sync(t); !strings.Contains(out, "(Certificate)") {
		t.Errorf("the server without an identity keeps its certificate and the key: %s", out)
	}
	want["secure.txt"], want["with-identity.txt"] = "guarded", "as the VM"
	if got := tree(t, b.folder); !sameTree(got, want) {
		t.Errorf("b after a synced with its identity: %v", treeNames(got))
	}

}

// TestFileSync_AgentCrash (issue 12, faults): an agent killed with -9 in the middle of its
// first sync of 400 small files and two 24 MiB files, then run again, leaves the share
// exactly the folder: nothing lost, nothing duplicated, no conflict copies. A second
// server then receives the same tree.
func TestFileSync_AgentCrash(t *testing.T) {
	tp := newSyncTopology(t)
	a := newSyncServer(t, tp, "crash-a", "")
	want := map[string]string{}
	for i := 0; i < 400; i++ {
		p := filepath.Join("d"+itoa(i%7), "f"+itoa(i)+".txt")
		want[filepath.ToSlash(p)] = strings.Repeat("x", i)
		writeFile(t, filepath.Join(a.folder, p), []byte(want[filepath.ToSlash(p)]))
	}
	for _, n := range []string{"big1.bin", "big2.bin"} {
		b := make([]byte, 24<<20)
		rand.Read(b)
		want[n] = string(b)
		writeFile(t, filepath.Join(a.folder, n), b)
	}
	for round := 0; round < 2; round++ {
		cmd := exec.Command(binary, "agent", "run", "--interval", "1s", "--state", a.state)
		cmd.Env = agentEnv(a.env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(600+400*round) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	a.sync(t)
	out := a.sync(t) // nothing left to do
	if !strings.Contains(out, "up 0, down 0, deleted 0/0, conflicts 0, errors 0") {
		t.Errorf("a run after the resumed one still had work: %s", out)
	}
	if got := tree(t, a.folder); !sameTree(got, want) {
		t.Errorf("the folder after the crashes: %d files, want %d", len(got), len(want))
	}
	b := newSyncServer(t, tp, "crash-b", "")
	b.sync(t)
	if got := tree(t, b.folder); !sameTree(got, want) {
		t.Errorf("another server after the crashes: %d files, want %d (no duplicates, no conflict copies)", len(got), len(want))
	}
}

// TestFileSync_ResumeLargeUpload (issue 12 item 2): an agent killed while it uploads a
// large file in ranges takes the upload up at the range it reached (its journal records
// each range with the ETag it left, and a range that landed before its record is recognised
// by its MD5), and the share's copy ends byte for byte the file.
func TestFileSync_ResumeLargeUpload(t *testing.T) {
	tp := newSyncTopology(t)
	a := newSyncServer(t, tp, "resume-a", "")
	fc := syncShareClient(t, tp).NewRootDirectoryClient().NewFileClient("big.bin")
	big := make([]byte, 96<<20)
	for attempt := 0; attempt < 4; attempt++ {
		rand.Read(big)
		writeFile(t, filepath.Join(a.folder, "big.bin"), big)
		cmd := exec.Command(binary, "agent", "run", "--interval", "1h", "--state", a.state)
		cmd.Env = agentEnv(a.env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Killed once the share holds 12 MiB or more of this version of the file.
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			got := int64(0)
			if rl, err := fc.GetRangeList(ctxT(t), nil); err == nil {
				for _, r := range rl.Ranges {
					got += *r.End - *r.Start + 1
				}
			}
			if got >= 12<<20 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Killed as soon as a range shows: often before the agent could record it (then the
		// resume finds that range on the share by its MD5), else mid-way through the next.
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		out := a.sync(t)
		resp, err := fc.DownloadStream(ctxT(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		onShare, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(onShare, big) {
			t.Fatalf("the share's copy after the agent was killed mid-upload differs from the file (%d bytes, %v)", len(onShare), err)
		}
		if strings.Contains(out, "resumed 1") {
			if props, err := fc.GetProperties(ctxT(t), nil); err != nil || len(props.ContentMD5) == 0 {
				t.Errorf("the resumed upload left no Content-MD5: %v", err)
			} else if sum := md5.Sum(big); !bytes.Equal(props.ContentMD5, sum[:]) {
				t.Errorf("the resumed upload's Content-MD5 is not the file's")
			}
			return
		}
		t.Logf("attempt %d: the upload started over (%s)", attempt, strings.TrimSpace(out))
	}
	t.Fatal("an upload killed mid-way never resumed where it stopped")
}

// TestFileSync_ChangeEvents (issue 12 item 2): a running agent hears a change in its folder
// (file-system events) and syncs it within seconds, long before its next scan (an hour).
func TestFileSync_ChangeEvents(t *testing.T) {
	tp := newSyncTopology(t)
	a := newSyncServer(t, tp, "events-a", "")
	cmd := exec.Command(binary, "agent", "run", "--interval", "1h", "--state", a.state)
	cmd.Env = agentEnv(a.env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	fc := sharedKeyService(t, tp.rg, tp.account).NewShareClient("data").NewRootDirectoryClient()
	// The first sync (at start) is over once it left its status; then a file appears in a
	// new subfolder.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if out, err := exec.Command(binary, "agent", "status", "--json", "--state", a.state).Output(); err == nil && strings.Contains(string(out), "lastSuccess") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent's first sync did not end")
		}
		time.Sleep(100 * time.Millisecond)
	}
	writeFile(t, filepath.Join(a.folder, "new", "event.txt"), []byte("heard"))
	for {
		if _, err := fc.NewSubdirectoryClient("new").NewFileClient("event.txt").GetProperties(ctxT(t), nil); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a file written in the folder did not reach the share within 20 s (the next scan is an hour away)")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFileSync_ArcServer (issue 12 item 2): a server that is an Azure Arc-enabled machine
// reaches its identity through Arc's local endpoint (a 401 naming a secret file in
// /var/opt/azcmagent/tokens that only root reads, then the secret): the agent reports that
// identity, enable-identity configures it, and the server syncs as itself.
func TestFileSync_ArcServer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("Arc's identity endpoint writes its secret in /var/opt/azcmagent/tokens: needs root (CI runs as root)")
	}
	tp := newSyncTopology(t)
	arc, ident := createHost(t, tp.rg, "Microsoft.HybridCompute/machines", "afs-arc", &armresources.Identity{Type: to.Ptr(armresources.ResourceIdentityTypeSystemAssigned)})
	a := newSyncServer(t, tp, "arc-a", arc)
	_, _, body := rawARM(t, http.MethodGet, a.resourceID+"?api-version=2022-09-01", "")
	if !strings.Contains(body, `"latestApplicationId":"`+*ident.PrincipalID+`"`) {
		t.Fatalf("the Arc server did not report its identity: %s", body)
	}
	if out, err := enableIdentityAs(t, tp, srv.AdminClientID, srv.AdminClientSecret); err != nil {
		t.Fatalf("enable-identity: %v\n%s", err, out)
	}
	writeFile(t, filepath.Join(a.folder, "from-arc.txt"), []byte("via Arc's endpoint"))
	if out := a.sync(t); !strings.Contains(out, "(ManagedIdentity)") || !strings.Contains(out, "up 1") {
		t.Errorf("the Arc server after enable-identity: %s", out)
	}
	left, _ := filepath.Glob("/var/opt/azcmagent/tokens/*.key")
	for _, f := range left {
		if st, err := os.Stat(f); err == nil && st.Mode().Perm() != 0o600 {
			t.Errorf("a secret file others can read: %s %v", f, st.Mode())
		}
	}
}
