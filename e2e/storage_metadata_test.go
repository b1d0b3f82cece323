package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/service"
	"github.com/google/uuid"
)

// TestStorage_ProviderMetadata (issue 13, armstorage's live suite): the operations list names
// what Microsoft.Storage serves, the SKU list what accounts take, usages count a
// subscription's accounts per location beside the limit, and revoking user delegation keys
// answers for an existing account (404 for a missing one, 403 without a role).
func TestStorage_ProviderMetadata(t *testing.T) {
	admin := adminCredential(t)
	opts := armOptions(t)
	ops, err := armstorage.NewOperationsClient(admin, opts)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for pager := ops.NewListPager(nil); pager.More(); {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatalf("Operations_List: %v", err)
		}
		for _, o := range page.Value {
			names[*o.Name] = true
		}
	}
	for _, want := range []string{"Microsoft.Storage/storageAccounts/listkeys/action", "Microsoft.Storage/storageAccounts/write", "Microsoft.Storage/storageAccounts/fileServices/shares/read"} {
		if !names[want] {
			t.Errorf("Operations_List lacks %s (%d listed)", want, len(names))
		}
	}
	skus, err := armstorage.NewSKUsClient(srv.SubscriptionID, admin, opts)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for pager := skus.NewListPager(nil); pager.More(); {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatalf("SKUs_List: %v", err)
		}
		for _, s := range page.Value {
			found = found || (*s.Name == armstorage.SKUNamePremiumLRS && *s.Kind == armstorage.KindFileStorage)
		}
	}
	if !found {
		t.Error("SKUs_List lacks Premium_LRS for FileStorage")
	}

	rg := "stmeta-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	name := newAccountName()
	createAccount(t, rg, name)
	usages, err := armstorage.NewUsagesClient(srv.SubscriptionID, admin, opts)
	if err != nil {
		t.Fatal(err)
	}
	page, err := usages.NewListByLocationPager("westus", nil).NextPage(ctxT(t))
	if err != nil || len(page.Value) != 1 || *page.Value[0].Name.Value != "StorageAccounts" || *page.Value[0].CurrentValue < 1 || *page.Value[0].Limit != 250 {
		t.Fatalf("Usages_ListByLocation: %v %+v", err, page.Value)
	}

	accounts := accountsClient(t, admin)
	if _, err := accounts.RevokeUserDelegationKeys(ctxT(t), rg, name, nil); err != nil {
		t.Errorf("RevokeUserDelegationKeys: %v", err)
	}
	if _, err := accounts.RevokeUserDelegationKeys(ctxT(t), rg, "missing"+name[:10], nil); respStatus(err) != http.StatusNotFound {
		t.Errorf("RevokeUserDelegationKeys of a missing account: %v, want 404", err)
	}
	nobody := newServicePrincipal(t, "stmeta-nobody")
	if _, err := accountsClient(t, spCredential(t, nobody.AppID, nobody.Password)).RevokeUserDelegationKeys(ctxT(t), rg, name, nil); respStatus(err) != http.StatusForbidden ||
		!strings.Contains(err.Error(), "AuthorizationFailed") {
		t.Errorf("RevokeUserDelegationKeys without a role: %v, want 403", err)
	}
}

// TestStorage_ListSAS (issue 13, armstorage's live suite): Resource Manager computes account
// and service SAS tokens with an account key, and the File service takes them as it takes
// any client's: an account SAS lists shares, a share SAS reads a file, within their rights.
func TestStorage_ListSAS(t *testing.T) {
	svc, account, rg, _ := filesFixture(t) // share "data" with dir/a.txt
	accounts := accountsClient(t, adminCredential(t))
	expiry := time.Now().Add(time.Hour).UTC()
	as, err := accounts.ListAccountSAS(ctxT(t), rg, account, armstorage.AccountSasParameters{KeyToSign: to.Ptr("key1"), SharedAccessExpiryTime: &expiry,
		Permissions: to.Ptr(armstorage.PermissionsL), Protocols: to.Ptr(armstorage.HTTPProtocolHTTPS), ResourceTypes: to.Ptr(armstorage.SignedResourceTypesS),
		Services: to.Ptr(armstorage.ServicesF)}, nil)
	if err != nil || as.AccountSasToken == nil {
		t.Fatalf("ListAccountSAS: %v", err)
	}
	sc, err := service.NewClientWithNoCredential(strings.TrimSuffix(svc.URL(), "/")+"/?"+*as.AccountSasToken, &service.ClientOptions{ClientOptions: noRetryFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	if page, err := sc.NewListSharesPager(nil).NextPage(ctxT(t)); err != nil || len(page.Shares) != 1 {
		t.Errorf("list shares with the account SAS from ARM: %v", err)
	}
	ss, err := accounts.ListServiceSAS(ctxT(t), rg, account, armstorage.ServiceSasParameters{CanonicalizedResource: to.Ptr("/file/" + account + "/data"),
		SharedAccessExpiryTime: &expiry, Permissions: to.Ptr(armstorage.PermissionsR), Resource: to.Ptr(armstorage.SignedResourceS)}, nil)
	if err != nil || ss.ServiceSasToken == nil {
		t.Fatalf("ListServiceSAS: %v", err)
	}
	fc, err := file.NewClientWithNoCredential(svc.NewShareClient("data").NewDirectoryClient("dir").NewFileClient("a.txt").URL()+"?"+*ss.ServiceSasToken,
		&file.ClientOptions{ClientOptions: noRetryFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := fc.DownloadStream(ctxT(t), nil)
	if err != nil {
		t.Fatalf("read with the share SAS from ARM: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello files" {
		t.Errorf("read %q", body)
	}
	if _, err := fc.SetMetadata(ctxT(t), &file.SetMetadataOptions{Metadata: map[string]*string{"a": to.Ptr("b")}}); respStatus(err) != http.StatusForbidden {
		t.Errorf("a read-only SAS from ARM writes: %v, want 403", err)
	}
}
