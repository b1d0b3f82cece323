package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/fileerror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/service"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/share"
)

func noRetryFile(t *testing.T) azcore.ClientOptions {
	return azcore.ClientOptions{Transport: httpClient(t), Retry: policy.RetryOptions{MaxRetries: -1}}
}

// filesFixture is an account with a share "data" holding dir/a.txt ("hello files").
func filesFixture(t *testing.T) (svc *service.Client, account, rg string, cred *service.SharedKeyCredential) {
	t.Helper()
	svc, account, rg, cred = fileServiceCred(t)
	sc := svc.NewShareClient("data")
	if _, err := sc.Create(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.NewDirectoryClient("dir").Create(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	fc := sc.NewDirectoryClient("dir").NewFileClient("a.txt")
	if _, err := fc.Create(ctxT(t), 11, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.UploadRange(ctxT(t), 0, streamOf([]byte("hello files")), nil); err != nil {
		t.Fatal(err)
	}
	return svc, account, rg, cred
}

// TestFiles_SAS: account and share SAS, HMAC-verified, with permissions, time window and
// protocol enforced.
func TestFiles_SAS(t *testing.T) {
	svc, account, rg, cred := filesFixture(t)
	readList := sas.AccountPermissions{Read: true, List: true}
	all := sas.AccountResourceTypes{Service: true, Container: true, Object: true}
	sasURL, err := svc.GetSASURL(all, readList, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := service.NewClientWithNoCredential(sasURL, &service.ClientOptions{ClientOptions: noRetryFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.NewListSharesPager(nil).NextPage(ctxT(t)); err != nil {
		t.Fatalf("list shares with an r/l account SAS: %v", err)
	}
	fc := ro.NewShareClient("data").NewDirectoryClient("dir").NewFileClient("a.txt")
	if _, err := fc.GetProperties(ctxT(t), nil); err != nil {
		t.Fatalf("read with the SAS: %v", err)
	}
	_, err = ro.NewShareClient("data").NewDirectoryClient("new").Create(ctxT(t), nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationPermissionMismatch)

	// Tampered: widen the permissions without re-signing.
	tampered := strings.Replace(sasURL, "sp=rl", "sp=rwdl", 1)
	if tampered == sasURL {
		t.Fatalf("no sp=rl in %s", sasURL)
	}
	bad, _ := service.NewClientWithNoCredential(tampered, &service.ClientOptions{ClientOptions: noRetryFile(t)})
	_, err = bad.NewShareClient("data").NewDirectoryClient("new").Create(ctxT(t), nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthenticationFailed)

	// Expired.
	old, _ := svc.GetSASURL(all, readList, time.Now().Add(-time.Minute), &service.GetSASURLOptions{StartTime: to.Ptr(time.Now().Add(-time.Hour))})
	exp, _ := service.NewClientWithNoCredential(old, &service.ClientOptions{ClientOptions: noRetryFile(t)})
	_, err = exp.NewListSharesPager(nil).NextPage(ctxT(t))
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthenticationFailed)

	// An HTTPS-only SAS used over plain HTTP (Cerulean answers both on one port), on an
	// account that serves HTTP (not Azure's default).
	setHTTPSOnly(t, rg, account, false)
	qp, err := sas.AccountSignatureValues{Protocol: sas.ProtocolHTTPS, ExpiryTime: time.Now().Add(time.Hour).UTC(),
		Permissions: readList.String(), ResourceTypes: all.String()}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	httpsOnly := strings.Split(sasURL, "?")[0] + "?" + qp.Encode()
	if _, err := service.NewClientWithNoCredential(httpsOnly, &service.ClientOptions{ClientOptions: noRetryFile(t)}); err != nil {
		t.Fatal(err)
	}
	plain, _ := service.NewClientWithNoCredential(strings.Replace(httpsOnly, "https://", "http://", 1), &service.ClientOptions{ClientOptions: noRetryFile(t)})
	_, err = plain.NewListSharesPager(nil).NextPage(ctxT(t))
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationProtocolMismatch)

	// A share SAS (service SAS) reads within its share only.
	shareURL, err := svc.NewShareClient("data").GetSASURL(sas.SharePermissions{Read: true, List: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := share.NewClientWithNoCredential(shareURL, &share.ClientOptions{ClientOptions: noRetryFile(t)})
	if _, err := sh.NewDirectoryClient("dir").NewFileClient("a.txt").GetProperties(ctxT(t), nil); err != nil {
		t.Fatalf("read with a share SAS: %v", err)
	}
	_, err = sh.NewDirectoryClient("dir").NewFileClient("b.txt").Create(ctxT(t), 1, nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationPermissionMismatch)
}

// TestFiles_OAuth: bearer tokens need the backup intent and the privileged data roles.
func TestFiles_OAuth(t *testing.T) {
	svc, _, rg, _ := filesFixture(t)
	url := svc.NewShareClient("data").NewDirectoryClient("dir").NewFileClient("a.txt").URL()
	accountScope := strings.TrimSuffix(subScope()+"/resourceGroups/"+rg+"/providers/Microsoft.Storage/storageAccounts/"+strings.Split(strings.TrimPrefix(url, srv.ResourceManagerEndpoint+"/"), "/")[0], "/")
	tokenClient := func(cred azcore.TokenCredential, intent bool) *file.Client {
		opts := &file.ClientOptions{ClientOptions: noRetryFile(t)}
		if intent {
			opts.FileRequestIntent = to.Ptr(file.ShareTokenIntentBackup)
		}
		c, err := file.NewClient(url, cred, opts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	reader := newServicePrincipal(t, "files-priv-reader")
	rcred := spCredential(t, reader.AppID, reader.Password)
	_, err := tokenClient(rcred, true).GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationPermissionMismatch)
	if err := assignRole(t, adminCredential(t), accountScope, "b8eda974-7b85-4f76-af95-65846b26df6d", reader.ObjectID); err != nil { // Storage File Data Privileged Reader
		t.Fatal(err)
	}
	if _, err := tokenClient(rcred, true).GetProperties(ctxT(t), nil); err != nil {
		t.Fatalf("Privileged Reader reads over OAuth: %v", err)
	}
	_, err = tokenClient(rcred, true).SetMetadata(ctxT(t), &file.SetMetadataOptions{Metadata: map[string]*string{"a": to.Ptr("b")}})
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationPermissionMismatch)
	_, err = tokenClient(rcred, false).GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusBadRequest, fileerror.MissingRequiredHeader)

	smb := newServicePrincipal(t, "files-smb-contrib")
	if err := assignRole(t, adminCredential(t), accountScope, "0c867c2a-1d8c-454a-a3db-ab2ea1bdc8bb", smb.ObjectID); err != nil { // SMB Share Contributor: no backup semantics
		t.Fatal(err)
	}
	_, err = tokenClient(spCredential(t, smb.AppID, smb.Password), true).GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationPermissionMismatch)

	// Share management over OAuth (version 2024-11-04 on) needs no backup intent and is
	// authorized like Microsoft.Storage's shares: a Contributor creates, changes, reads and
	// deletes a share, but reads no file; a data role alone manages no share.
	shareURL := strings.TrimSuffix(svc.URL(), "/") + "/managed"
	shareClient := func(cred azcore.TokenCredential) *share.Client {
		c, err := share.NewClient(shareURL, cred, &share.ClientOptions{ClientOptions: noRetryFile(t)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	_, err = shareClient(rcred).Create(ctxT(t), nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationPermissionMismatch)
	contrib := newServicePrincipal(t, "files-share-contrib")
	ccred := spCredential(t, contrib.AppID, contrib.Password)
	if err := assignRole(t, adminCredential(t), accountScope, roleContributor, contrib.ObjectID); err != nil {
		t.Fatal(err)
	}
	sc := shareClient(ccred)
	if _, err := sc.Create(ctxT(t), nil); err != nil {
		t.Fatalf("a Contributor creates a share over OAuth without the intent: %v", err)
	}
	if _, err := sc.SetProperties(ctxT(t), &share.SetPropertiesOptions{AccessTier: to.Ptr(share.AccessTierCool)}); err != nil {
		t.Fatalf("set share properties over OAuth: %v", err)
	}
	if props, err := sc.GetProperties(ctxT(t), nil); err != nil || props.AccessTier == nil || *props.AccessTier != string(share.AccessTierCool) {
		t.Fatalf("get share properties over OAuth: %v %+v", err, props)
	}
	_, err = tokenClient(ccred, true).GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationPermissionMismatch)
	if _, err := sc.Delete(ctxT(t), nil); err != nil {
		t.Fatalf("delete a share over OAuth: %v", err)
	}
	_, err = sc.Delete(ctxT(t), nil)
	wantFileError(t, err, http.StatusNotFound, fileerror.ShareNotFound)
}
