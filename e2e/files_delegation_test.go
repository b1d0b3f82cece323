package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/fileerror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/service"
)

// TestFiles_UserDelegationSAS (issue 13): Get User Delegation Key over OAuth (Storage File
// Delegator's generateUserDelegationKey action; not with Shared Key; another tenant's
// delegated user refused with 403 AuthenticationFailed), and a user delegation SAS signed
// with it reaching only as far as both its permissions and its principal's data roles,
// checked at every request; RevokeUserDelegationKeys voids it.
func TestFiles_UserDelegationSAS(t *testing.T) {
	keySvc, account, rg, _ := filesFixture(t)
	// Host-style, through Cerulean's proxy, as with Azure: azfile takes the account name for
	// a user delegation SAS from the host (a path-style URL would give it "127").
	proxied := noRetryFile(t)
	tr := proxied.Transport.(*http.Client).Transport.(*http.Transport).Clone()
	proxyURL, _ := url.Parse(srv.Proxy)
	tr.Proxy = http.ProxyURL(proxyURL)
	proxied.Transport = &http.Client{Timeout: 30 * time.Second, Transport: tr}
	hostURL := "https://" + account + ".file.core.windows.net/"
	accountScope := subScope() + "/resourceGroups/" + rg + "/providers/Microsoft.Storage/storageAccounts/" + account
	delegate := newServicePrincipal(t, "files-delegator")
	dcred := spCredential(t, delegate.AppID, delegate.Password)
	tokenSvc, err := service.NewClient(hostURL, dcred, &service.ClientOptions{ClientOptions: proxied})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	info := service.KeyInfo{Start: to.Ptr(now.Add(-time.Minute).Format(time.RFC3339)), Expiry: to.Ptr(now.Add(time.Hour).Format(time.RFC3339))}
	_, err = tokenSvc.GetUserDelegationCredential(ctxT(t), info, nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationPermissionMismatch)
	if err := assignRole(t, adminCredential(t), accountScope, "765a04e0-5de8-4bb2-9bf6-b2a30bc03e91", delegate.ObjectID); err != nil { // Storage File Delegator
		t.Fatal(err)
	}
	_, err = tokenSvc.GetUserDelegationCredential(ctxT(t), service.KeyInfo{Start: info.Start, Expiry: info.Expiry,
		DelegatedUserTenantID: to.Ptr("00000000-0000-0000-0000-000000000000")}, nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthenticationFailed)
	_, err = tokenSvc.GetUserDelegationCredential(ctxT(t), service.KeyInfo{Start: info.Start, Expiry: to.Ptr(now.Add(8 * 24 * time.Hour).Format(time.RFC3339))}, nil)
	wantFileError(t, err, http.StatusBadRequest, fileerror.Code("InvalidXmlNodeValue"))
	_, err = keySvc.GetUserDelegationCredential(ctxT(t), info, nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthenticationFailed) // the account key cannot delegate
	udc, err := tokenSvc.GetUserDelegationCredential(ctxT(t), info, nil)
	if err != nil {
		t.Fatal(err)
	}

	fileURL := hostURL + "data/dir/a.txt"
	sasClient := func(perms sas.FilePermissions) *file.Client {
		t.Helper()
		qp, err := sas.SignatureValues{Protocol: sas.ProtocolHTTPS, ExpiryTime: time.Now().Add(time.Hour), ShareName: "data",
			FilePath: "dir/a.txt", Permissions: perms.String()}.SignWithUserDelegation(udc)
		if err != nil {
			t.Fatal(err)
		}
		c, err := file.NewClientWithNoCredential(fileURL+"?"+qp.Encode(), &file.ClientOptions{ClientOptions: proxied})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// The delegator signs, but holds no data role: nothing is reachable yet.
	_, err = sasClient(sas.FilePermissions{Read: true}).DownloadStream(ctxT(t), nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationPermissionMismatch)
	if err := assignRole(t, adminCredential(t), accountScope, "aba4ae5f-2193-4029-9191-0cb91df5e314", delegate.ObjectID); err != nil { // SMB Share Reader
		t.Fatal(err)
	}
	if got := download(t, sasClient(sas.FilePermissions{Read: true})); got != "hello files" {
		t.Errorf("read with a user delegation SAS: %q", got)
	}
	// Write permission in the SAS, but the principal only reads.
	_, err = sasClient(sas.FilePermissions{Read: true, Write: true}).SetMetadata(ctxT(t), nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationPermissionMismatch)
	// A tampered signature (another path) fails.
	good := sasClient(sas.FilePermissions{Read: true}).URL()
	forged, _ := file.NewClientWithNoCredential(strings.Replace(good, "/dir/a.txt", "/dir/b.txt", 1), &file.ClientOptions{ClientOptions: proxied})
	_, err = forged.GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthenticationFailed)

	// Revoking the account's delegation keys voids the SAS at once.
	accounts := accountsClient(t, adminCredential(t))
	if _, err := accounts.RevokeUserDelegationKeys(ctxT(t), rg, account, nil); err != nil {
		t.Fatal(err)
	}
	_, err = sasClient(sas.FilePermissions{Read: true}).GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthenticationFailed)
}
