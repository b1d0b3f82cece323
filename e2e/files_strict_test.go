package e2e

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/fileerror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/service"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/share"
	"github.com/google/uuid"
)

// storageAnswer is a File service response: its status, the error code (x-ms-error-code and
// the XML body must agree) and the AuthenticationErrorDetail, if any.
type storageAnswer struct {
	status       int
	code, detail string
	message      string
}

func storageDo(t *testing.T, hc *http.Client, req *http.Request) storageAnswer {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	a := storageAnswer{status: resp.StatusCode, code: resp.Header.Get("x-ms-error-code")}
	if resp.StatusCode >= 400 {
		var e struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
			Detail  string `xml:"AuthenticationErrorDetail"`
		}
		if err := xml.Unmarshal(b, &e); err != nil || e.Code != a.code {
			t.Fatalf("%s %s: %d with x-ms-error-code %q and body %q: not Azure's XML error envelope", req.Method, req.URL, resp.StatusCode, a.code, b)
		}
		a.detail, a.message = e.Detail, e.Message
	}
	return a
}

// wantStorage sends req and fails unless Azure's status and error code come back.
func wantStorage(t *testing.T, hc *http.Client, req *http.Request, status int, code string) storageAnswer {
	t.Helper()
	a := storageDo(t, hc, req)
	if a.status != status || a.code != code {
		t.Fatalf("%s %s: %d %s (%s %s), want %d %s", req.Method, req.URL, a.status, a.code, a.message, a.detail, status, code)
	}
	return a
}

func accountKey(t *testing.T, rg, account string) string {
	t.Helper()
	keys, err := accountsClient(t, adminCredential(t)).ListKeys(ctxT(t), rg, account, nil)
	if err != nil {
		t.Fatal(err)
	}
	return *keys.Keys[0].Value
}

// setHTTPSOnly sets the account's supportsHttpsTrafficOnly through Resource Manager.
func setHTTPSOnly(t *testing.T, rg, account string, on bool) {
	t.Helper()
	_, err := accountsClient(t, adminCredential(t)).Update(ctxT(t), rg, account, armstorage.AccountUpdateParameters{
		Properties: &armstorage.AccountPropertiesUpdateParameters{EnableHTTPSTrafficOnly: to.Ptr(on)}}, nil)
	if err != nil {
		t.Fatalf("set supportsHttpsTrafficOnly=%v: %v", on, err)
	}
}

// TestFiles_SharedKeyRequestDate (issue 10 item 8): a Shared Key request carries the time it
// was signed (x-ms-date, or Date without it) and is refused more than 15 minutes off or with
// no date at all, so a captured request cannot be replayed forever. Refused writes write
// nothing.
func TestFiles_SharedKeyRequestDate(t *testing.T) {
	svc, account, rg, _ := filesFixture(t)
	key := accountKey(t, rg, account)
	base := strings.TrimSuffix(svc.URL(), "/")
	hc := httpClient(t)
	now := time.Now().UTC()
	create := func(name string, headers map[string]string) *http.Request {
		req, err := http.NewRequest(http.MethodPut, base+"/data/dir/"+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-ms-version", "2025-05-05")
		req.Header.Set("x-ms-type", "file")
		req.Header.Set("x-ms-content-length", "1")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		signSharedKey(t, req, account, key, 0)
		return req
	}
	refused := []struct {
		name    string
		headers map[string]string
		detail  string
	}{
		{"x-ms-date a day old", map[string]string{"x-ms-date": now.Add(-24 * time.Hour).Format(http.TimeFormat)}, "Request date header too old"},
		{"x-ms-date 16 minutes old", map[string]string{"x-ms-date": now.Add(-16 * time.Minute).Format(http.TimeFormat)}, "Request date header too old"},
		{"x-ms-date an hour ahead", map[string]string{"x-ms-date": now.Add(time.Hour).Format(http.TimeFormat)}, "in the future"},
		{"Date a day old, no x-ms-date", map[string]string{"Date": now.Add(-24 * time.Hour).Format(http.TimeFormat)}, "Request date header too old"},
		{"no date at all", nil, "Request date header not specified"},
		{"unreadable x-ms-date", map[string]string{"x-ms-date": "yesterday"}, "The Date header in the request is incorrect."},
	}
	for i, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			a := wantStorage(t, hc, create("refused"+string(rune('a'+i)), tt.headers), http.StatusForbidden, "AuthenticationFailed")
			if !strings.Contains(a.detail, tt.detail) {
				t.Fatalf("AuthenticationErrorDetail %q, want it to say %q", a.detail, tt.detail)
			}
		})
	}
	dir := svc.NewShareClient("data").NewDirectoryClient("dir")
	for i := range refused {
		_, err := dir.NewFileClient("refused"+string(rune('a'+i))).GetProperties(ctxT(t), nil)
		wantFileError(t, err, http.StatusNotFound, fileerror.ResourceNotFound)
	}

	// Accepted: a fresh Date without x-ms-date (signed), an x-ms-date 10 minutes old, and
	// an x-ms-date request a proxy stamped with its own Date after signing (not signed).
	for name, h := range map[string]map[string]string{
		"date-only":   {"Date": now.Format(http.TimeFormat)},
		"ten-minutes": {"x-ms-date": now.Add(-10 * time.Minute).Format(http.TimeFormat)},
	} {
		wantStorage(t, hc, create(name, h), http.StatusCreated, "")
	}
	req := create("proxied", map[string]string{"x-ms-date": now.Format(http.TimeFormat)})
	req.Header.Set("Date", now.Add(-time.Hour).Format(http.TimeFormat))
	wantStorage(t, hc, req, http.StatusCreated, "")
}

// TestFiles_HTTPSOnly (issue 10 item 10): an account with supportsHttpsTrafficOnly (Azure's
// default) answers plain HTTP with 400 AccountRequiresHttps whatever the credential, and
// writes nothing; turning the setting off through Resource Manager serves HTTP.
func TestFiles_HTTPSOnly(t *testing.T) {
	svc, account, rg, _ := filesFixture(t)
	a, err := accountsClient(t, adminCredential(t)).GetProperties(ctxT(t), rg, account, nil)
	if err != nil || a.Properties.EnableHTTPSTrafficOnly == nil || !*a.Properties.EnableHTTPSTrafficOnly {
		t.Fatalf("a new account reports supportsHttpsTrafficOnly %v (%v), want Azure's default true", a.Properties.EnableHTTPSTrafficOnly, err)
	}
	key := accountKey(t, rg, account)
	hc := httpClient(t)
	httpsBase := strings.TrimSuffix(svc.URL(), "/")
	if !strings.HasPrefix(httpsBase, "https://") {
		t.Fatalf("file endpoint %s is not https", httpsBase)
	}
	plainBase := "http://" + strings.TrimPrefix(httpsBase, "https://")

	readShare := func(base string) *http.Request {
		return signedRequest(t, http.MethodGet, base+"/data?restype=share", account, key, nil, nil)
	}
	createFile := func(base string) *http.Request {
		return signedRequest(t, http.MethodPut, base+"/data/dir/plain.txt", account, key, map[string]string{"x-ms-type": "file", "x-ms-content-length": "1"}, nil)
	}
	ans := wantStorage(t, hc, readShare(plainBase), http.StatusBadRequest, "AccountRequiresHttps")
	if !strings.HasPrefix(ans.message, "The account being accessed does not support http.") {
		t.Fatalf("message %q", ans.message)
	}
	wantStorage(t, hc, createFile(plainBase), http.StatusBadRequest, "AccountRequiresHttps")
	sasURL, err := svc.NewShareClient("data").GetSASURL(sas.SharePermissions{Read: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	sasReq, _ := http.NewRequest(http.MethodGet, strings.Replace(sasURL, "https://", "http://", 1)+"&restype=share", nil)
	sasReq.Header.Set("x-ms-version", "2025-05-05")
	wantStorage(t, hc, sasReq, http.StatusBadRequest, "AccountRequiresHttps")
	_, err = svc.NewShareClient("data").NewDirectoryClient("dir").NewFileClient("plain.txt").GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusNotFound, fileerror.ResourceNotFound)
	wantStorage(t, hc, readShare(httpsBase), http.StatusOK, "")

	// supportsHttpsTrafficOnly false: plain HTTP is served; true again: refused again.
	setHTTPSOnly(t, rg, account, false)
	wantStorage(t, hc, readShare(plainBase), http.StatusOK, "")
	wantStorage(t, hc, createFile(plainBase), http.StatusCreated, "")
	setHTTPSOnly(t, rg, account, true)
	wantStorage(t, hc, readShare(plainBase), http.StatusBadRequest, "AccountRequiresHttps")
}

// createShare creates a share with Azure's default properties.
func createShare(t *testing.T, svc *service.Client, name string) *share.Client {
	t.Helper()
	sc := svc.NewShareClient(name)
	if _, err := sc.Create(ctxT(t), nil); err != nil {
		t.Fatalf("create share %s: %v", name, err)
	}
	return sc
}

// readFile downloads a whole file through c.
func readFile(t *testing.T, c *file.Client) string {
	t.Helper()
	resp, err := c.DownloadStream(ctxT(t), nil)
	if err != nil {
		t.Fatalf("read %s: %v", c.URL(), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// putFile creates a file holding content through a Shared Key client.
func putFile(t *testing.T, c *file.Client, content string) {
	t.Helper()
	if _, err := c.Create(ctxT(t), int64(len(content)), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadRange(ctxT(t), 0, streamOf([]byte(content)), nil); err != nil {
		t.Fatal(err)
	}
}

// wantAbsent fails unless c names no file.
func wantAbsent(t *testing.T, c *file.Client) {
	t.Helper()
	_, err := c.GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusNotFound, fileerror.ResourceNotFound)
}

func accountScopeOf(rg, account string) string {
	return subScope() + "/resourceGroups/" + rg + "/providers/Microsoft.Storage/storageAccounts/" + account
}

// oauthFile is a file client authenticated with a principal's token and the backup intent.
func oauthFile(t *testing.T, url string, cred azcore.TokenCredential) *file.Client {
	t.Helper()
	c, err := file.NewClient(url, cred, &file.ClientOptions{ClientOptions: noRetryFile(t), FileRequestIntent: to.Ptr(file.ShareTokenIntentBackup)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFiles_CopySourceAuthorized (issue 10 item 3): Copy File reads its source as the same
// caller, or with the SAS the source URL carries. A share SAS or an OAuth principal limited to
// share pub cannot copy out of share secret: 403 CannotVerifyCopySource, the same whether the
// source exists or not, and nothing is written.
func TestFiles_CopySourceAuthorized(t *testing.T) {
	svc, account, rg, _ := fileServiceCred(t)
	pubRoot, secretRoot := createShare(t, svc, "pub").NewRootDirectoryClient(), createShare(t, svc, "secret").NewRootDirectoryClient()
	secret, public := secretRoot.NewFileClient("s.txt"), pubRoot.NewFileClient("p.txt")
	putFile(t, secret, "secret content")
	putFile(t, public, "public content")
	missing := secretRoot.NewFileClient("missing.txt").URL()
	cannotVerify := fileerror.Code("CannotVerifyCopySource")

	pubSAS, err := svc.NewShareClient("pub").GetSASURL(sas.SharePermissions{Read: true, Create: true, Write: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	withSAS, err := share.NewClientWithNoCredential(pubSAS, &share.ClientOptions{ClientOptions: noRetryFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	viaSAS := func(name string) *file.Client { return withSAS.NewRootDirectoryClient().NewFileClient(name) }
	_, err = viaSAS("stolen1.txt").StartCopyFromURL(ctxT(t), secret.URL(), nil)
	wantFileError(t, err, http.StatusForbidden, cannotVerify)
	_, err = viaSAS("stolen2.txt").StartCopyFromURL(ctxT(t), missing, nil)
	wantFileError(t, err, http.StatusForbidden, cannotVerify)
	writeOnly, _ := secret.GetSASURL(sas.FilePermissions{Write: true}, time.Now().Add(time.Hour), nil)
	_, err = viaSAS("stolen3.txt").StartCopyFromURL(ctxT(t), writeOnly, nil)
	wantFileError(t, err, http.StatusForbidden, cannotVerify)
	// A source the share SAS covers, and a source with its own read SAS, are copied.
	if _, err := viaSAS("copy.txt").StartCopyFromURL(ctxT(t), public.URL(), nil); err != nil {
		t.Fatalf("copy within the SAS's share: %v", err)
	}
	readable, _ := secret.GetSASURL(sas.FilePermissions{Read: true}, time.Now().Add(time.Hour), nil)
	if _, err := viaSAS("granted.txt").StartCopyFromURL(ctxT(t), readable, nil); err != nil {
		t.Fatalf("copy from a source with its own read SAS: %v", err)
	}
	if got := readFile(t, pubRoot.NewFileClient("granted.txt")); got != "secret content" {
		t.Fatalf("granted copy reads %q", got)
	}

	// OAuth: Storage File Data Privileged Contributor on share pub only.
	sp := newServicePrincipal(t, "files-copy-"+account)
	if err := assignRole(t, adminCredential(t), accountScopeOf(rg, account)+"/fileServices/default/fileshares/pub", "69566ab7-960f-475b-8e7c-b3118f30c6bd", sp.ObjectID); err != nil {
		t.Fatal(err)
	}
	spCred := spCredential(t, sp.AppID, sp.Password)
	viaToken := func(name string) *file.Client { return oauthFile(t, pubRoot.NewFileClient(name).URL(), spCred) }
	_, err = viaToken("stolen4.txt").StartCopyFromURL(ctxT(t), secret.URL(), nil)
	wantFileError(t, err, http.StatusForbidden, cannotVerify)
	_, err = viaToken("stolen5.txt").StartCopyFromURL(ctxT(t), missing, nil)
	wantFileError(t, err, http.StatusForbidden, cannotVerify)
	if _, err := viaToken("token-copy.txt").StartCopyFromURL(ctxT(t), public.URL(), nil); err != nil {
		t.Fatalf("copy within the principal's share: %v", err)
	}
	if got := readFile(t, pubRoot.NewFileClient("token-copy.txt")); got != "public content" {
		t.Fatalf("copy reads %q", got)
	}
	for i := 1; i <= 5; i++ {
		wantAbsent(t, pubRoot.NewFileClient("stolen"+string(rune('0'+i))+".txt"))
	}

	// The account key is the super-user: it copies from any share of the account.
	if _, err := pubRoot.NewFileClient("by-key.txt").StartCopyFromURL(ctxT(t), secret.URL(), nil); err != nil {
		t.Fatalf("copy with Shared Key: %v", err)
	}
}

// TestFiles_RenameSourceAuthorized (issue 10 item 5): Rename authorizes its source for the same
// caller. A file SAS for pub/a.txt cannot move pub/other.txt onto a.txt (403
// AuthorizationFailure, whether other.txt exists or not); a source with its own SAS, or a
// share SAS covering both, renames; a principal needs the delete data action at the source.
func TestFiles_RenameSourceAuthorized(t *testing.T) {
	svc, account, rg, _ := fileServiceCred(t)
	root := createShare(t, svc, "pub").NewRootDirectoryClient()
	a, other := root.NewFileClient("a.txt"), root.NewFileClient("other.txt")
	putFile(t, a, "content of a")
	putFile(t, other, "content of other")
	hc := httpClient(t)
	rename := func(dest, source string) *http.Request {
		req, err := http.NewRequest(http.MethodPut, dest+"&comp=rename", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-ms-version", "2025-05-05")
		req.Header.Set("x-ms-file-rename-source", source)
		req.Header.Set("x-ms-file-rename-replace-if-exists", "true")
		return req
	}
	aSAS, err := a.GetSASURL(sas.FilePermissions{Read: true, Create: true, Write: true, Delete: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantStorage(t, hc, rename(aSAS, other.URL()), http.StatusForbidden, "AuthorizationFailure")
	wantStorage(t, hc, rename(aSAS, root.NewFileClient("missing.txt").URL()), http.StatusForbidden, "AuthorizationFailure")
	// The SDK way: a client for other.txt holding a.txt's SAS sends it in the source URL.
	misused, err := file.NewClientWithNoCredential(other.URL()+"?"+strings.SplitN(aSAS, "?", 2)[1], &file.ClientOptions{ClientOptions: noRetryFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = misused.Rename(ctxT(t), "a.txt", &file.RenameOptions{ReplaceIfExists: to.Ptr(true)})
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationFailure)
	if got := readFile(t, a); got != "content of a" {
		t.Fatalf("a.txt reads %q after refused renames", got)
	}
	if got := readFile(t, other); got != "content of other" {
		t.Fatalf("other.txt reads %q after refused renames", got)
	}

	// The source with its own SAS (write) renames onto a.txt.
	otherSAS, _ := other.GetSASURL(sas.FilePermissions{Write: true}, time.Now().Add(time.Hour), nil)
	wantStorage(t, hc, rename(aSAS, otherSAS), http.StatusOK, "")
	if got := readFile(t, a); got != "content of other" {
		t.Fatalf("a.txt reads %q after the rename", got)
	}
	wantAbsent(t, other)

	// A share SAS (read, create, write) covers both ends, as in the SDK's own test.
	b := root.NewFileClient("b.txt")
	putFile(t, b, "content of b")
	shareSAS, _ := svc.NewShareClient("pub").GetSASURL(sas.SharePermissions{Read: true, Create: true, Write: true}, time.Now().Add(time.Hour), nil)
	bViaSAS, _ := file.NewClientWithNoCredential(b.URL()+"?"+strings.SplitN(shareSAS, "?", 2)[1], &file.ClientOptions{ClientOptions: noRetryFile(t)})
	if _, err := bViaSAS.Rename(ctxT(t), "c.txt", nil); err != nil {
		t.Fatalf("rename with a share SAS: %v", err)
	}

	// OAuth: read and write with backup semantics, but no delete, cannot move a file away.
	shareScope := accountScopeOf(rg, account) + "/fileServices/default/fileshares/pub"
	roleID := uuid.NewString()
	rgScope := subScope() + "/resourceGroups/" + rg
	_, err = roleDefinitions(t, adminCredential(t)).CreateOrUpdate(ctxT(t), rgScope, roleID, armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
		RoleName: to.Ptr("File writer without delete " + roleID[:8]), RoleType: to.Ptr("CustomRole"), AssignableScopes: []*string{to.Ptr(rgScope)},
		Permissions: []*armauthorization.Permission{{DataActions: []*string{
			to.Ptr("Microsoft.Storage/storageAccounts/fileServices/fileshares/files/read"),
			to.Ptr("Microsoft.Storage/storageAccounts/fileServices/fileshares/files/write"),
			to.Ptr("Microsoft.Storage/storageAccounts/fileServices/readFileBackupSemantics/action"),
			to.Ptr("Microsoft.Storage/storageAccounts/fileServices/writeFileBackupSemantics/action")}}}}}, nil)
	if err != nil {
		t.Fatalf("create custom role: %v", err)
	}
	writer := newServicePrincipal(t, "files-rename-writer-"+account)
	if err := assignRole(t, adminCredential(t), shareScope, roleID, writer.ObjectID); err != nil {
		t.Fatal(err)
	}
	_, err = oauthFile(t, root.NewFileClient("c.txt").URL(), spCredential(t, writer.AppID, writer.Password)).Rename(ctxT(t), "d.txt", nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationPermissionMismatch)
	if got := readFile(t, root.NewFileClient("c.txt")); got != "content of b" {
		t.Fatalf("c.txt reads %q", got)
	}
	contributor := newServicePrincipal(t, "files-rename-contrib-"+account)
	if err := assignRole(t, adminCredential(t), shareScope, "69566ab7-960f-475b-8e7c-b3118f30c6bd", contributor.ObjectID); err != nil {
		t.Fatal(err)
	}
	if _, err := oauthFile(t, root.NewFileClient("c.txt").URL(), spCredential(t, contributor.AppID, contributor.Password)).Rename(ctxT(t), "d.txt", nil); err != nil {
		t.Fatalf("rename by a Privileged Contributor: %v", err)
	}
	if got := readFile(t, root.NewFileClient("d.txt")); got != "content of b" {
		t.Fatalf("d.txt reads %q", got)
	}
}

// serverRSS is the server's resident memory in bytes (/proc/<pid>/status VmRSS).
func serverRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(serverPID) + "/status")
	if err != nil {
		t.Skipf("cannot read the server's memory use: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS line %q", line)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// sparseContent is what a sparse file holds: zeros except the pieces written at offsets.
type sparseContent map[int64][]byte

// fill writes into buf the file's bytes from off.
func (s sparseContent) fill(off int64, buf []byte) {
	clear(buf)
	for at, p := range s {
		lo, hi := max(at, off), min(at+int64(len(p)), off+int64(len(buf)))
		if lo < hi {
			copy(buf[lo-off:hi-off], p[lo-at:hi-at])
		}
	}
}

// writeSparse writes each piece of s into the file with Put Range.
func writeSparse(t *testing.T, fc *file.Client, s sparseContent) {
	t.Helper()
	for off, p := range s {
		if _, err := fc.UploadRange(ctxT(t), off, streamOf(p), nil); err != nil {
			t.Fatalf("put range at %d: %v", off, err)
		}
	}
}

// wantContent reads n bytes of the file from off with a ranged GET and compares them.
func wantContent(t *testing.T, fc *file.Client, s sparseContent, off, n int64) {
	t.Helper()
	resp, err := fc.DownloadStream(ctxT(t), &file.DownloadStreamOptions{Range: file.HTTPRange{Offset: off, Count: n}})
	if err != nil {
		t.Fatalf("read [%d, %d): %v", off, off+n, err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := make([]byte, n)
	s.fill(off, want)
	if !bytes.Equal(got, want) {
		t.Fatalf("bytes [%d, %d) differ from what was written", off, off+n)
	}
}

// TestFiles_LargeSparseRead (issue 10 item 4): a GET streams a file chunk by chunk with memory
// bounded per request, whatever its size: a 4 TiB sparse file (Azure's largest; one byte more
// is 400 OutOfRangeInput) is served from its first bytes, and reading all of a 1 GiB sparse
// file leaves the server's memory where it was. Unwritten ranges read as zeros.
func TestFiles_LargeSparseRead(t *testing.T) {
	svc, account, rg, _ := fileServiceCred(t)
	sc := createShare(t, svc, "large")
	root := sc.NewRootDirectoryClient()
	key := accountKey(t, rg, account)
	hc := httpClient(t)
	base := strings.TrimSuffix(sc.URL(), "/")
	tooBig := signedRequest(t, http.MethodPut, base+"/too-big.bin", account, key, map[string]string{"x-ms-type": "file", "x-ms-content-length": "4398046511105"}, nil)
	wantStorage(t, hc, tooBig, http.StatusBadRequest, "OutOfRangeInput")
	wantAbsent(t, root.NewFileClient("too-big.bin"))

	const tib4 = 4 << 40
	huge := root.NewFileClient("four-tib.bin")
	if _, err := huge.Create(ctxT(t), tib4, nil); err != nil {
		t.Fatalf("create a 4 TiB file: %v", err)
	}
	_, err := huge.Resize(ctxT(t), -4, nil)
	wantFileError(t, err, http.StatusBadRequest, fileerror.OutOfRangeInput)
	_, err = huge.Resize(ctxT(t), tib4+1, nil)
	wantFileError(t, err, http.StatusBadRequest, fileerror.OutOfRangeInput)
	pieces := sparseContent{0: []byte("the first bytes of a 4 TiB file"), 3<<20 - 4: []byte("across a chunk boundary"), tib4 - 9: []byte("last byte")}
	writeSparse(t, huge, pieces)

	// No range: the whole 4 TiB is the answer; read its first 5 MiB and hang up.
	resp, err := hc.Do(signedRequest(t, http.MethodGet, huge.URL(), account, key, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.ContentLength != tib4 {
		t.Fatalf("GET of the 4 TiB file: %d, Content-Length %d", resp.StatusCode, resp.ContentLength)
	}
	head := make([]byte, 5<<20)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatalf("read the first 5 MiB: %v", err)
	}
	resp.Body.Close()
	want := make([]byte, len(head))
	pieces.fill(0, want)
	if !bytes.Equal(head, want) {
		t.Fatal("the first 5 MiB differ from what was written")
	}
	wantContent(t, huge, pieces, tib4-(6<<20), 6<<20)
	wantContent(t, huge, pieces, 2<<40, 1<<20) // never written

	// All of a 1 GiB sparse file, while the server's memory is watched.
	const gib = 1 << 30
	g := root.NewFileClient("one-gib.bin")
	if _, err := g.Create(ctxT(t), gib, nil); err != nil {
		t.Fatal(err)
	}
	gp := sparseContent{7: []byte("near the start"), gib/2 + 3: bytes.Repeat([]byte("middle "), 300000), gib - 4: []byte("end!")}
	writeSparse(t, g, gp)
	before := serverRSS(t)
	peak := before
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				peak = max(peak, serverRSS(t))
			}
		}
	}()
	resp, err = hc.Do(signedRequest(t, http.MethodGet, g.URL(), account, key, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	buf, exp := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		n, err := io.ReadFull(resp.Body, buf)
		if n > 0 {
			gp.fill(off, exp[:n])
			if !bytes.Equal(buf[:n], exp[:n]) {
				t.Fatalf("bytes at %d differ from what was written", off)
			}
			off += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
	}
	resp.Body.Close()
	close(stop)
	<-sampled
	if off != gib {
		t.Fatalf("read %d bytes of a 1 GiB file", off)
	}
	if grew := peak - before; grew > 256<<20 {
		t.Fatalf("the server's memory grew by %d MiB serving a 1 GiB file (from %d MiB)", grew>>20, before>>20)
	}
	t.Logf("server RSS %d MiB, peak %d MiB while serving 1 GiB", before>>20, peak>>20)
	if _, err := sc.GetProperties(ctxT(t), nil); err != nil {
		t.Fatalf("the server no longer answers: %v", err)
	}
}

// TestFiles_ClearIsProportional (issue 10 item 6): clearing, shrinking and deleting cost time
// in proportion to the chunks stored, never to the length of the range, and never hold other
// writers up for long: clearing 256 GiB of a sparse file with a few written chunks returns
// while another write goes through promptly, and the range list is exact afterwards. Chunks
// that go out of reach never come back: not after growing the file again, not in a new file
// of the same name. A dense file (more chunks than one transaction deletes) is cleared too.
func TestFiles_ClearIsProportional(t *testing.T) {
	svc, _, _, _ := fileServiceCred(t)
	sc := createShare(t, svc, "sparse")
	root := sc.NewRootDirectoryClient()
	const gib = int64(1 << 30)
	size := 300 * gib
	f := root.NewFileClient("sparse.bin")
	if _, err := f.Create(ctxT(t), size, nil); err != nil {
		t.Fatal(err)
	}
	pieces := sparseContent{0: bytes.Repeat([]byte("head"), 1<<18), 100*gib + 123: []byte("at 100 GiB"), 200 * gib: bytes.Repeat([]byte("x"), 1<<20), 299 * gib: []byte("at 299 GiB")}
	writeSparse(t, f, pieces)
	other := root.NewFileClient("other.bin")
	if _, err := other.Create(ctxT(t), 1<<20, nil); err != nil {
		t.Fatal(err)
	}

	clearFrom, clearTo := int64(1<<20-1000), int64(1<<20)+256*gib+500 // partial chunks at both ends
	cleared := make(chan error, 1)
	go func() {
		_, err := f.ClearRange(ctxT(t), file.HTTPRange{Offset: clearFrom, Count: clearTo - clearFrom}, nil)
		cleared <- err
	}()
	time.Sleep(200 * time.Millisecond)
	began := time.Now()
	if _, err := other.UploadRange(ctxT(t), 0, streamOf([]byte("a write meanwhile")), nil); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(began); waited > 5*time.Second {
		t.Fatalf("a Put Range on another file waited %v behind a 256 GiB clear", waited)
	}
	select {
	case err := <-cleared:
		if err != nil {
			t.Fatalf("clear 256 GiB: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("clearing 256 GiB of a file holding 3 MiB took over 30 s")
	}
	for off, p := range pieces {
		if lo, hi := max(off, clearFrom), min(off+int64(len(p)), clearTo); lo < hi {
			delete(pieces, off)
			if off < lo {
				pieces[off] = p[:lo-off]
			}
			if hi < off+int64(len(p)) {
				pieces[hi] = p[hi-off:]
			}
		}
	}
	// The unaligned start of the clear is zeroed but stays listed (Azure lists 512-byte units).
	wantRanges(t, f, [][2]int64{{0, (clearFrom + 511) / 512 * 512}, {299 * gib, 299*gib + 10}})
	wantContent(t, f, pieces, 0, 2<<20)
	wantContent(t, f, pieces, 100*gib, 1<<20)
	wantContent(t, f, pieces, 200*gib, 1<<20)

	// Shrink to 150 GiB and grow back: what was past 150 GiB reads as zeros.
	if _, err := f.Resize(ctxT(t), 150*gib, nil); err != nil {
		t.Fatalf("shrink: %v", err)
	}
	if _, err := f.Resize(ctxT(t), size, nil); err != nil {
		t.Fatalf("grow: %v", err)
	}
	delete(pieces, 299*gib)
	wantRanges(t, f, [][2]int64{{0, (clearFrom + 511) / 512 * 512}})
	wantContent(t, f, pieces, 299*gib, 1<<20)

	// Delete, and a new file of the same name starts empty.
	if _, err := f.Delete(ctxT(t), nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := f.Create(ctxT(t), size, nil); err != nil {
		t.Fatal(err)
	}
	wantRanges(t, f, nil)
	wantContent(t, f, nil, 0, 2<<20)

	// A dense file: more chunks than one transaction deletes, cleared whole and in part.
	dense := root.NewFileClient("dense.bin")
	const denseSize = 80 << 20
	data := bytes.Repeat([]byte("dense file content "), denseSize/19+1)[:denseSize]
	if _, err := dense.Create(ctxT(t), denseSize, nil); err != nil {
		t.Fatal(err)
	}
	if err := dense.UploadBuffer(ctxT(t), data, &file.UploadBufferOptions{Concurrency: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := dense.ClearRange(ctxT(t), file.HTTPRange{Offset: 5, Count: denseSize - 10}, nil); err != nil {
		t.Fatalf("clear the dense file: %v", err)
	}
	dp := sparseContent{0: data[:5], denseSize - 5: data[denseSize-5:]}
	wantRanges(t, dense, [][2]int64{{0, 512}, {denseSize - 512, denseSize}}) // the unaligned ends are zeroed, still listed
	// Writing into a cleared chunk again brings back none of what was cleared.
	if _, err := dense.UploadRange(ctxT(t), 40<<20+10, streamOf([]byte("new")), nil); err != nil {
		t.Fatal(err)
	}
	dp[40<<20+10] = []byte("new")
	wantContent(t, dense, dp, 0, denseSize)
}

// wantRanges compares a file's range list (inclusive ends on the wire) with [start, end) pairs.
func wantRanges(t *testing.T, fc *file.Client, want [][2]int64) {
	t.Helper()
	rl, err := fc.GetRangeList(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got [][2]int64
	for _, r := range rl.Ranges {
		got = append(got, [2]int64{*r.Start, *r.End + 1})
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("range list %v, want %v", got, want)
	}
}
