package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/directory"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/fileerror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/service"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/share"
	"github.com/google/uuid"
)

// fileService returns an azfile service client for a new account, authenticated with the
// account key (Shared Key), on the primaryEndpoints.file URL ARM reported.
func fileService(t *testing.T) (*service.Client, string, string) {
	c, name, rg, _ := fileServiceCred(t)
	return c, name, rg
}

// fileServiceCred is fileService with the Shared Key credential it used.
func fileServiceCred(t *testing.T) (*service.Client, string, string, *service.SharedKeyCredential) {
	t.Helper()
	rg := "files-" + uuid.NewString()[:8]
	if err := createGroup(t, adminCredential(t), rg); err != nil {
		t.Fatal(err)
	}
	name := newAccountName()
	c, cred := fileServiceOf(t, rg, name, createAccount(t, rg, name))
	return c, name, rg, cred
}

// fileServiceOf is the File service client of an account, with its first key.
func fileServiceOf(t *testing.T, rg, name string, a armstorage.Account) (*service.Client, *service.SharedKeyCredential) {
	t.Helper()
	keys, err := accountsClient(t, adminCredential(t)).ListKeys(ctxT(t), rg, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := service.NewSharedKeyCredential(name, *keys.Keys[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	c, err := service.NewClientWithSharedKeyCredential(*a.Properties.PrimaryEndpoints.File, cred, &service.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: httpClient(t), Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	return c, cred
}

func wantFileError(t *testing.T, err error, status int, code fileerror.Code) {
	t.Helper()
	var re *azcore.ResponseError
	if err == nil || !strings.Contains(err.Error(), "") {
		t.Fatalf("got %v, want %d %s", err, status, code)
	}
	if !fileerror.HasCode(err, code) {
		t.Fatalf("got %v, want error code %s", err, code)
	}
	if ok := errorAs(err, &re); !ok || re.StatusCode != status {
		t.Fatalf("got %v, want status %d", err, status)
	}
}

// TestFiles_SharedKey drives the File REST API with azfile: shares, directories, files,
// ranges, properties, metadata, copy, rename, permissions.
func TestFiles_SharedKey(t *testing.T) {
	svc, account, _ := fileService(t)
	sc := svc.NewShareClient("docs")
	if _, err := sc.Create(ctxT(t), &share.CreateOptions{Quota: to.Ptr[int32](1), Metadata: map[string]*string{"team": to.Ptr("blue")}}); err != nil {
		t.Fatalf("create share: %v", err)
	}
	_, err := sc.Create(ctxT(t), nil)
	wantFileError(t, err, http.StatusConflict, fileerror.ShareAlreadyExists)
	props, err := sc.GetProperties(ctxT(t), nil)
	if err != nil || *props.Quota != 1 || *props.Metadata["Team"] != "blue" && *props.Metadata["team"] != "blue" {
		t.Fatalf("share properties: %v %+v", err, props)
	}
	found := false
	for pager := svc.NewListSharesPager(&service.ListSharesOptions{Include: service.ListSharesInclude{Metadata: true}}); pager.More(); {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.Shares {
			found = found || *s.Name == "docs"
		}
	}
	if !found {
		t.Fatal("list shares: docs missing")
	}

	root := sc.NewRootDirectoryClient()
	dir := sc.NewDirectoryClient("reports")
	if _, err := dir.Create(ctxT(t), &directory.CreateOptions{Metadata: map[string]*string{"kind": to.Ptr("monthly")}}); err != nil {
		t.Fatalf("create directory: %v", err)
	}
	_, err = sc.NewDirectoryClient("missing/child").Create(ctxT(t), nil)
	wantFileError(t, err, http.StatusNotFound, fileerror.ParentNotFound)

	// A file larger than one chunk and than one range, with a known pattern.
	content := make([]byte, 5<<20+123)
	if _, err := rand.Read(content); err != nil {
		t.Fatal(err)
	}
	copy(content, []byte("plaintext-marker-for-the-store-scan"))
	rememberSensitive(t, content[:64])
	rememberSensitive(t, content[3<<20:3<<20+64])
	fc := dir.NewFileClient("big.bin")
	if _, err := fc.Create(ctxT(t), int64(len(content)), nil); err != nil {
		t.Fatalf("create file: %v", err)
	}
	if err := fc.UploadBuffer(ctxT(t), content, &file.UploadBufferOptions{Concurrency: 2}); err != nil {
		t.Fatalf("upload: %v", err)
	}
	got := make([]byte, len(content))
	n, err := fc.DownloadBuffer(ctxT(t), got, &file.DownloadBufferOptions{ChunkSize: 2 << 20, Concurrency: 2})
	if err != nil || n != int64(len(content)) || !bytes.Equal(got, content) {
		t.Fatalf("download: %v, %d bytes, equal %v", err, n, bytes.Equal(got, content))
	}
	part, err := fc.DownloadStream(ctxT(t), &file.DownloadStreamOptions{Range: file.HTTPRange{Offset: 1<<20 - 10, Count: 20}})
	if err != nil {
		t.Fatal(err)
	}
	b := new(bytes.Buffer)
	b.ReadFrom(part.Body)
	if !bytes.Equal(b.Bytes(), content[1<<20-10:1<<20+10]) {
		t.Fatal("ranged download across a chunk boundary differs")
	}
	fp, err := fc.GetProperties(ctxT(t), nil)
	if err != nil || *fp.ContentLength != int64(len(content)) || fp.ID == nil || *fp.IsServerEncrypted != true {
		t.Fatalf("file properties: %v %+v", err, fp)
	}

	// Ranges: clear one MiB in the middle; it reads back as zeros and leaves the range list.
	if _, err := fc.ClearRange(ctxT(t), file.HTTPRange{Offset: 2 << 20, Count: 1 << 20}, nil); err != nil {
		t.Fatalf("clear range: %v", err)
	}
	rl, err := fc.GetRangeList(ctxT(t), nil)
	if err != nil || len(rl.Ranges) != 2 || *rl.Ranges[0].End != 2<<20-1 || *rl.Ranges[1].Start != 3<<20 {
		t.Fatalf("range list after clear: %v %+v", err, rl.Ranges)
	}
	mid, _ := fc.DownloadStream(ctxT(t), &file.DownloadStreamOptions{Range: file.HTTPRange{Offset: 2 << 20, Count: 16}})
	b.Reset()
	b.ReadFrom(mid.Body)
	if !bytes.Equal(b.Bytes(), make([]byte, 16)) {
		t.Fatal("cleared range is not zero")
	}
	_, err = fc.UploadRange(ctxT(t), int64(len(content)), streamOf([]byte("past the end")), nil)
	wantFileError(t, err, http.StatusRequestedRangeNotSatisfiable, fileerror.InvalidRange)

	// Properties and metadata.
	if _, err := fc.SetHTTPHeaders(ctxT(t), &file.SetHTTPHeadersOptions{HTTPHeaders: &file.HTTPHeaders{ContentType: to.Ptr("application/x-report")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.SetMetadata(ctxT(t), &file.SetMetadataOptions{Metadata: map[string]*string{"owner": to.Ptr("finance")}}); err != nil {
		t.Fatal(err)
	}
	fp, _ = fc.GetProperties(ctxT(t), nil)
	if *fp.ContentType != "application/x-report" || (fp.Metadata["Owner"] == nil && fp.Metadata["owner"] == nil) {
		t.Fatalf("properties after set: %+v", fp)
	}

	// Listing.
	small := root.NewFileClient("readme.txt")
	if _, err := small.Create(ctxT(t), 5, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := small.UploadRange(ctxT(t), 0, streamOf([]byte("hello")), nil); err != nil {
		t.Fatal(err)
	}
	var names []string
	for pager := root.NewListFilesAndDirectoriesPager(&directory.ListFilesAndDirectoriesOptions{Include: directory.ListFilesInclude{Timestamps: true, Attributes: true, PermissionKey: true}}); pager.More(); {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Segment.Directories {
			names = append(names, *d.Name+"/")
		}
		for _, f := range page.Segment.Files {
			names = append(names, *f.Name)
		}
	}
	if strings.Join(names, ",") != "reports/,readme.txt" {
		t.Fatalf("root lists %v", names)
	}

	// Copy within the account, rename, delete.
	cp := root.NewFileClient("copy.bin")
	if _, err := cp.StartCopyFromURL(ctxT(t), fc.URL(), nil); err != nil {
		t.Fatalf("copy: %v", err)
	}
	cg := make([]byte, len(content))
	if _, err := cp.DownloadBuffer(ctxT(t), cg, nil); err != nil || !bytes.Equal(cg[:2<<20], content[:2<<20]) {
		t.Fatalf("copied content differs: %v", err)
	}
	if _, err := small.Rename(ctxT(t), "reports/readme-moved.txt", nil); err != nil {
		t.Fatalf("rename: %v", err)
	}
	_, err = small.GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusNotFound, fileerror.ResourceNotFound)
	moved := dir.NewFileClient("readme-moved.txt")
	mv, err := moved.DownloadStream(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	b.ReadFrom(mv.Body)
	if b.String() != "hello" {
		t.Fatalf("renamed file reads %q", b.String())
	}
	_, err = dir.Delete(ctxT(t), nil)
	wantFileError(t, err, http.StatusConflict, fileerror.DirectoryNotEmpty)

	// Security descriptors: the root has seed 004's default; a bad SDDL is refused.
	rp, err := root.GetProperties(ctxT(t), nil)
	if err != nil || rp.FilePermissionKey == nil {
		t.Fatalf("root properties: %v", err)
	}
	perm, err := sc.GetPermission(ctxT(t), *rp.FilePermissionKey, nil)
	if err != nil || !strings.HasPrefix(*perm.Permission, "O:BAG:SYD:(A;OICI;FA;;;BA)") {
		t.Fatalf("root permission: %v %v", err, perm.Permission)
	}
	_, err = sc.CreatePermission(ctxT(t), "O:BAG:SYD:(A;;NOTARIGHT;;;BA)", nil)
	if err == nil {
		t.Fatal("invalid SDDL accepted")
	}
	key, err := sc.CreatePermission(ctxT(t), "O:BAG:SYD:P(A;;FA;;;BA)", nil)
	if err != nil {
		t.Fatal(err)
	}
	locked := root.NewFileClient("locked.txt")
	if _, err := locked.Create(ctxT(t), 1, &file.CreateOptions{Permissions: &file.Permissions{PermissionKey: key.FilePermissionKey}}); err != nil {
		t.Fatal(err)
	}
	lp, _ := locked.GetProperties(ctxT(t), nil)
	if *lp.FilePermissionKey != *key.FilePermissionKey {
		t.Fatalf("file permission key %s, want %s", *lp.FilePermissionKey, *key.FilePermissionKey)
	}

	// Quota: the share holds 1 GiB.
	_, err = root.NewFileClient("huge.bin").Create(ctxT(t), 2<<30, nil)
	if err == nil {
		t.Fatal("a 2 GiB file was created in a 1 GiB share")
	}

	t.Run("wrong key refused", func(t *testing.T) {
		bad, _ := service.NewSharedKeyCredential(account, "AAAA"+strings.Repeat("B", 84))
		c, _ := service.NewClientWithSharedKeyCredential(strings.TrimSuffix(svc.URL(), "/")+"/", bad, &service.ClientOptions{
			ClientOptions: azcore.ClientOptions{Transport: httpClient(t), Retry: policy.RetryOptions{MaxRetries: -1}}})
		_, err := c.NewShareClient("docs").GetProperties(ctxT(t), nil)
		wantFileError(t, err, http.StatusForbidden, fileerror.AuthenticationFailed)
	})
	var _ = armstorage.KindStorageV2
}

type readSeekNopCloser struct{ *bytes.Reader }

func (readSeekNopCloser) Close() error { return nil }

func streamOf(b []byte) readSeekNopCloser { return readSeekNopCloser{bytes.NewReader(b)} }

func errorAs(err error, target **azcore.ResponseError) bool { return errors.As(err, target) }

// TestFiles_HostStyleThroughProxy: azfile with an ordinary connection string (no
// FileEndpoint: https://<account>.file.core.windows.net), in a child process configured only
// by HTTPS_PROXY and SSL_CERT_FILE.
func TestFiles_HostStyleThroughProxy(t *testing.T) {
	_, account, rg := fileService(t)
	keys, err := accountsClient(t, adminCredential(t)).ListKeys(ctxT(t), rg, account, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs := "DefaultEndpointsProtocol=https;AccountName=" + account + ";AccountKey=" + *keys.Keys[0].Value + ";EndpointSuffix=core.windows.net"
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildFilesHostStyle$", "-test.v")
	cmd.Env = append(os.Environ(), "CERULEAN_E2E_CHILD=fileshost", "CERULEAN_CONNECTION_STRING="+cs,
		"HTTPS_PROXY="+srv.Proxy, "NO_PROXY=127.0.0.1,localhost", "SSL_CERT_FILE="+srv.CACertFile)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "FILESHOST=ok") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestChildFilesHostStyle(t *testing.T) {
	if os.Getenv("CERULEAN_E2E_CHILD") != "fileshost" {
		t.Skip("run by TestFiles_HostStyleThroughProxy in a child process")
	}
	c, err := service.NewClientFromConnectionString(os.Getenv("CERULEAN_CONNECTION_STRING"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.URL(), ".file.core.windows.net") {
		t.Fatalf("service URL %s is not host-style", c.URL())
	}
	ctx := context.Background()
	sc := c.NewShareClient("hoststyle")
	if _, err := sc.Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	fc := sc.NewRootDirectoryClient().NewFileClient("f.txt")
	if _, err := fc.Create(ctx, 4, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.UploadRange(ctx, 0, streamOf([]byte("host")), nil); err != nil {
		t.Fatal(err)
	}
	resp, err := fc.DownloadStream(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := new(bytes.Buffer)
	b.ReadFrom(resp.Body)
	if b.String() != "host" {
		t.Fatalf("read %q", b.String())
	}
	os.Stdout.WriteString("FILESHOST=ok\n")
}
