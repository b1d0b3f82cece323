package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/cerulean-azure/cerulean/internal/ntfs"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

// fsWorld is a server built in-process with an account "fsacct" holding share "data".
type fsWorld struct {
	t    *testing.T
	in   *instance.Instance
	srv  *Server
	tok  string
	acct string // the account's resource id
}

func (w *fsWorld) do(method, path, body string, hdr map[string]string) (int, string) {
	w.t.Helper()
	req := httptest.NewRequest(method, "https://127.0.0.1"+path, strings.NewReader(body))
	req.TLS = &tls.ConnectionState{}
	if w.tok != "" {
		req.Header.Set("Authorization", "Bearer "+w.tok)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	w.srv.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func newFSWorld(t *testing.T) *fsWorld {
	ctx := context.Background()
	in, err := instance.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	srv, err := Build(ctx, in, DefaultSettings(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	w := &fsWorld{t: t, in: in, srv: srv}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {in.Admin.AppID}, "client_secret": {in.Admin.Secret}, "scope": {"https://management.azure.com/.default"}}
	req := httptest.NewRequest(http.MethodPost, "https://127.0.0.1/"+in.Tenant.ID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.TLS = &tls.ConnectionState{}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(rec.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("admin token: %d %v", rec.Code, err)
	}
	w.tok = tok.AccessToken
	rg := in.SubscriptionScope() + "/resourceGroups/fs"
	w.acct = rg + "/providers/Microsoft.Storage/storageAccounts/fsacct"
	for _, put := range []struct{ path, body string }{
		{rg + "?api-version=2021-04-01", `{"location":"westus"}`},
		{w.acct + "?api-version=2023-05-01", `{"location":"westus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`},
		{w.acct + "/fileServices/default/shares/data?api-version=2023-05-01", `{}`},
	} {
		if code, body := w.do(http.MethodPut, put.path, put.body, nil); code >= 300 {
			t.Fatalf("PUT %s: %d %s", put.path, code, body)
		}
	}
	return w
}

// principal makes a service principal holding role at the share (none if role is "").
func (w *fsWorld) principal(name, role string) files.Actor {
	w.t.Helper()
	var p directory.Principal
	err := w.in.Store.Update(context.Background(), func(tx store.Tx) error {
		var err error
		p, err = w.in.Dir.CreatePrincipal(tx, directory.Principal{Kind: directory.KindServicePrincipal, DisplayName: name, AppID: uuid.NewString()})
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if role != "" {
		body := `{"properties":{"roleDefinitionId":"/providers/Microsoft.Authorization/roleDefinitions/` + role + `","principalId":"` + p.ObjectID + `","principalType":"ServicePrincipal"}}`
		if code, out := w.do(http.MethodPut, w.acct+"/fileServices/default/fileshares/data/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=2022-04-01", body, nil); code != http.StatusCreated {
			w.t.Fatalf("assign %s: %d %s", role, code, out)
		}
	}
	return files.Actor{Principal: access.Principal{ObjectID: p.ObjectID, Display: name}}
}

const (
	roleSMBReader      = "aba4ae5f-2193-4029-9191-0cb91df5e314"
	roleSMBContributor = "0c867c2a-1d8c-454a-a3db-ab2ea1bdc8bb"
)

// TestFS_IdentityBasedAccess: the file-system view the SMB path serves authorizes every
// operation with the share-level role and the ACL, gives the creator ownership, and goes
// through the same encrypted content as the REST API.
func TestFS_IdentityBasedAccess(t *testing.T) {
	w := newFSWorld(t)
	ctx := context.Background()
	fs := w.srv.Files.FS()
	alice, bob, nobody := w.principal("alice", roleSMBContributor), w.principal("bob", roleSMBReader), w.principal("nobody", "")
	key := files.Actor{AccountKey: true}

	if _, err := fs.Create(ctx, alice, "fsacct", "data", "dir", true); err != nil {
		t.Fatalf("Contributor creates a directory: %v", err)
	}
	if _, err := fs.Create(ctx, alice, "fsacct", "data", "dir/a.txt", false); err != nil {
		t.Fatalf("Contributor creates a file: %v", err)
	}
	want := []byte(strings.Repeat("seed 004 ", 200000)) // 1.8 MB: crosses chunk boundaries
	if err := fs.WriteAt(ctx, alice, "fsacct", "data", "dir/a.txt", 0, want); err != nil {
		t.Fatalf("Contributor writes: %v", err)
	}
	buf := make([]byte, len(want)+10)
	if n, err := fs.ReadAt(ctx, bob, "fsacct", "data", "dir/a.txt", 0, buf); err != nil || n != len(want) || string(buf[:n]) != string(want) {
		t.Fatalf("Reader reads back %d bytes: %v", n, err)
	}
	// The creator owns it; CREATOR OWNER became alice.
	sd, err := fs.Security(ctx, key, "fsacct", "data", "dir/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	aliceSID, _ := directory.SID(alice.Principal.ObjectID)
	if sd.Owner != aliceSID || !strings.Contains(sd.String(), "(A;ID;FA;;;"+aliceSID+")") {
		t.Errorf("the created file's descriptor: %s, want owner and CREATOR OWNER's ACE for %s", sd.String(), aliceSID)
	}
	// Share Reader: read only, whatever the ACL (Authenticated Users: Modify) grants.
	if err := fs.WriteAt(ctx, bob, "fsacct", "data", "dir/a.txt", 0, []byte("x")); !files.IsAccessDenied(err) {
		t.Errorf("Reader writes: %v, want access denied", err)
	}
	if _, err := fs.Create(ctx, bob, "fsacct", "data", "dir/b.txt", false); !files.IsAccessDenied(err) {
		t.Errorf("Reader creates: %v, want access denied", err)
	}
	if err := fs.Remove(ctx, bob, "fsacct", "data", "dir/a.txt"); !files.IsAccessDenied(err) {
		t.Errorf("Reader deletes: %v, want access denied", err)
	}
	// No role: nothing at all.
	if _, err := fs.Stat(ctx, nobody, "fsacct", "data", "dir/a.txt"); !files.IsAccessDenied(err) {
		t.Errorf("no role stats: %v, want access denied", err)
	}
	// The ACL narrows a Contributor: an explicit deny of writing for alice on the file.
	sd.DACL = append([]ntfs.ACE{{Type: "D", Rights: "0x100116", SID: aliceSID}}, sd.DACL...)
	if err := fs.SetSecurity(ctx, key, "fsacct", "data", "dir/a.txt", sd); err != nil {
		t.Fatal(err)
	}
	if err := fs.WriteAt(ctx, alice, "fsacct", "data", "dir/a.txt", 0, []byte("x")); !files.IsAccessDenied(err) {
		t.Errorf("denied by the ACL, alice writes: %v", err)
	}
	if err := fs.Truncate(ctx, alice, "fsacct", "data", "dir/a.txt", 0); !files.IsAccessDenied(err) {
		t.Errorf("denied by the ACL, alice truncates: %v", err)
	}
	if n, err := fs.ReadAt(ctx, alice, "fsacct", "data", "dir/a.txt", 5, buf[:4]); err != nil || string(buf[:n]) != "004 " {
		t.Errorf("alice still reads: %q %v", buf[:n], err)
	}
	// A non-owner cannot change the ACL; the owner may not either without Elevated Contributor.
	if err := fs.SetSecurity(ctx, bob, "fsacct", "data", "dir/a.txt", sd); !files.IsAccessDenied(err) {
		t.Errorf("Reader changes the ACL: %v", err)
	}
	if err := fs.SetSecurity(ctx, alice, "fsacct", "data", "dir/a.txt", sd); err == nil {
		t.Error("Contributor (the owner) changed the ACL without modifypermissions")
	}
	// Deleting: alice has DELETE through Modify; the directory goes once empty.
	if err := fs.Remove(ctx, alice, "fsacct", "data", "dir"); err == nil {
		t.Error("a non-empty directory was removed")
	}
	if err := fs.Remove(ctx, alice, "fsacct", "data", "dir/a.txt"); err != nil {
		t.Fatalf("alice deletes her file: %v", err)
	}
	if err := fs.Remove(ctx, alice, "fsacct", "data", "dir"); err != nil {
		t.Fatalf("alice deletes the empty directory: %v", err)
	}
	// The account key can do everything.
	if _, err := fs.Create(ctx, key, "fsacct", "data", "k.txt", false); err != nil {
		t.Errorf("the account key creates: %v", err)
	}
	if list, err := fs.List(ctx, key, "fsacct", "data", ""); err != nil || len(list) != 1 || list[0].Name != "k.txt" {
		t.Errorf("the root lists %v %v", list, err)
	}
}

// TestFS_ReadWindow: a reader's window gives the file's current bytes at every offset, also
// across its 4 MiB edge; it never answers after the file changed (written, cleared by a
// truncation, recreated) and never for a reader whose access went away.
func TestFS_ReadWindow(t *testing.T) {
	w := newFSWorld(t)
	ctx := context.Background()
	fs := w.srv.Files.FS()
	alice, bob := w.principal("alice", roleSMBContributor), w.principal("bob", roleSMBReader)
	const name = "win.bin"
	if _, err := fs.Create(ctx, alice, "fsacct", "data", name, false); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 9<<20+123)
	for i := range want {
		want[i] = byte(i * 7 / 5)
	}
	if err := fs.WriteAt(ctx, alice, "fsacct", "data", name, 0, want); err != nil {
		t.Fatal(err)
	}
	var win files.ReadWindow
	check := func(what string, off int64, size int) {
		t.Helper()
		buf := make([]byte, size)
		n, err := fs.ReadAtCached(ctx, bob, "fsacct", "data", name, off, buf, &win)
		end := min(int(off)+size, len(want))
		if err != nil || n != end-int(off) || !bytes.Equal(buf[:n], want[off:end]) {
			t.Errorf("%s: read %d at %d: got %d bytes (%v), not the file's", what, size, off, n, err)
		}
	}
	for _, off := range []int64{0, 1<<20 - 112, 2<<20 - 112, 4<<20 - 112, 4 << 20, 9 << 20} {
		check("first reads", off, 1<<20)
	}
	// Written meanwhile (by someone else): the window must not answer the old bytes.
	check("the window over the first 4 MiB", 1<<20-112, 1<<20)
	copy(want[1<<20:], bytes.Repeat([]byte{0xAB}, 4096))
	if err := fs.WriteAt(ctx, alice, "fsacct", "data", name, 1<<20, want[1<<20:1<<20+4096]); err != nil {
		t.Fatal(err)
	}
	check("after a write", 1<<20-112, 1<<20)
	// Shrunk and grown again: what lay past the cut reads as zeros.
	if err := fs.Truncate(ctx, alice, "fsacct", "data", name, 3<<20); err != nil {
		t.Fatal(err)
	}
	if err := fs.Truncate(ctx, alice, "fsacct", "data", name, int64(len(want))); err != nil {
		t.Fatal(err)
	}
	clear(want[3<<20:])
	check("after a truncation", 3<<20-112, 1<<20)
	check("the window over the first 4 MiB", 0, 100)
	// Recreated with other content at the same path.
	if err := fs.Remove(ctx, alice, "fsacct", "data", name); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Create(ctx, alice, "fsacct", "data", name, false); err != nil {
		t.Fatal(err)
	}
	want = bytes.Repeat([]byte("new "), 1<<18)
	if err := fs.WriteAt(ctx, alice, "fsacct", "data", name, 0, want); err != nil {
		t.Fatal(err)
	}
	check("after a recreation", 0, 1<<20)
	check("the window over the first 4 MiB", 0, 100)
	// Bob loses his read right: the window answers nothing.
	sd, err := fs.Security(ctx, files.Actor{AccountKey: true}, "fsacct", "data", name)
	if err != nil {
		t.Fatal(err)
	}
	bobSID, _ := directory.SID(bob.Principal.ObjectID)
	sd.DACL = append([]ntfs.ACE{{Type: "D", Rights: "0x1", SID: bobSID}}, sd.DACL...)
	if err := fs.SetSecurity(ctx, files.Actor{AccountKey: true}, "fsacct", "data", name, sd); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.ReadAtCached(ctx, bob, "fsacct", "data", name, 0, make([]byte, 100), &win); !files.IsAccessDenied(err) {
		t.Errorf("a denied reader read through its window: %v", err)
	}
}
