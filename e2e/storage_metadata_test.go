package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
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
