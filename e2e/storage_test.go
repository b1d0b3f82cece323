package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/google/uuid"
)

func accountsClient(t *testing.T, cred azcore.TokenCredential) *armstorage.AccountsClient {
	t.Helper()
	c, err := armstorage.NewAccountsClient(srv.SubscriptionID, cred, armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newAccountName() string { return "st" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16] }

// createAccount creates a StorageV2 account as the admin and returns it.
func createAccount(t *testing.T, rg, name string) armstorage.Account {
	t.Helper()
	return createAccountKind(t, rg, name, armstorage.KindStorageV2, armstorage.SKUNameStandardLRS)
}

func createAccountKind(t *testing.T, rg, name string, kind armstorage.Kind, sku armstorage.SKUName) armstorage.Account {
	t.Helper()
	poller, err := accountsClient(t, adminCredential(t)).BeginCreate(ctxT(t), rg, name, armstorage.AccountCreateParameters{
		Kind: to.Ptr(kind), Location: to.Ptr("westus"),
		SKU: &armstorage.SKU{Name: to.Ptr(sku)}}, nil)
	if err != nil {
		t.Fatalf("create account %s: %v", name, err)
	}
	res, err := poller.PollUntilDone(ctxT(t), nil)
	if err != nil {
		t.Fatalf("create account %s: %v", name, err)
	}
	return res.Account
}

// TestStorage_AccountsARM: armstorage creates an account, reads its keys, regenerates one,
// manages shares; names are global; a principal without a role is refused.
func TestStorage_AccountsARM(t *testing.T) {
	admin := adminCredential(t)
	rg := "st-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	name := newAccountName()
	a := createAccount(t, rg, name)
	p := a.Properties
	if p == nil || *p.ProvisioningState != armstorage.ProvisioningStateSucceeded || p.PrimaryEndpoints == nil || p.PrimaryEndpoints.File == nil ||
		*p.Encryption.KeySource != armstorage.KeySourceMicrosoftStorage || *a.Kind != armstorage.KindStorageV2 || *a.SKU.Name != armstorage.SKUNameStandardLRS {
		t.Fatalf("account = %+v", a)
	}
	if want := srv.ResourceManagerEndpoint + "/" + name + "/"; *p.PrimaryEndpoints.File != want {
		t.Fatalf("primaryEndpoints.file = %s, want %s", *p.PrimaryEndpoints.File, want)
	}
	ac := accountsClient(t, admin)
	keys, err := ac.ListKeys(ctxT(t), rg, name, nil)
	if err != nil || len(keys.Keys) != 2 || *keys.Keys[0].KeyName != "key1" || len(*keys.Keys[0].Value) != 88 {
		t.Fatalf("list keys: %v %+v", err, keys)
	}
	regen, err := ac.RegenerateKey(ctxT(t), rg, name, armstorage.AccountRegenerateKeyParameters{KeyName: to.Ptr("key1")}, nil)
	if err != nil || *regen.Keys[0].Value == *keys.Keys[0].Value || *regen.Keys[1].Value != *keys.Keys[1].Value {
		t.Fatalf("regenerate key1: %v", err)
	}
	t.Run("names are global", func(t *testing.T) {
		rg2 := rg + "b"
		if err := createGroup(t, admin, rg2); err != nil {
			t.Fatal(err)
		}
		_, err := ac.BeginCreate(ctxT(t), rg2, name, armstorage.AccountCreateParameters{Kind: to.Ptr(armstorage.KindStorageV2),
			Location: to.Ptr("westus"), SKU: &armstorage.SKU{Name: to.Ptr(armstorage.SKUNameStandardLRS)}}, nil)
		wantARMError(t, err, http.StatusConflict, "StorageAccountAlreadyTaken")
		avail, err := ac.CheckNameAvailability(ctxT(t), armstorage.AccountCheckNameAvailabilityParameters{Name: to.Ptr(name), Type: to.Ptr("Microsoft.Storage/storageAccounts")}, nil)
		if err != nil || *avail.NameAvailable || *avail.Reason != armstorage.ReasonAlreadyExists {
			t.Fatalf("check name: %v %+v", err, avail)
		}
	})
	t.Run("bad sku refused", func(t *testing.T) {
		_, err := ac.BeginCreate(ctxT(t), rg, newAccountName(), armstorage.AccountCreateParameters{Kind: to.Ptr(armstorage.KindStorageV2),
			Location: to.Ptr("westus"), SKU: &armstorage.SKU{Name: to.Ptr(armstorage.SKUName("Gold_LRS"))}}, nil)
		wantARMError(t, err, http.StatusBadRequest, "SkuNotSupported")
	})
	t.Run("reader cannot list keys", func(t *testing.T) {
		sp := newServicePrincipal(t, "st-reader")
		cred := spCredential(t, sp.AppID, sp.Password)
		if err := assignRole(t, admin, subScope()+"/resourceGroups/"+rg, roleReader, sp.ObjectID); err != nil {
			t.Fatal(err)
		}
		if _, err := accountsClient(t, cred).GetProperties(ctxT(t), rg, name, nil); err != nil {
			t.Fatalf("reader gets the account: %v", err)
		}
		_, err := accountsClient(t, cred).ListKeys(ctxT(t), rg, name, nil)
		wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")
	})

	sc, err := armstorage.NewFileSharesClient(srv.SubscriptionID, admin, armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	share, err := sc.Create(ctxT(t), rg, name, "docs", armstorage.FileShare{FileShareProperties: &armstorage.FileShareProperties{ShareQuota: to.Ptr[int32](100)}}, nil)
	if err != nil || *share.FileShareProperties.ShareQuota != 100 {
		t.Fatalf("create share: %v", err)
	}
	upd, err := sc.Update(ctxT(t), rg, name, "docs", armstorage.FileShare{FileShareProperties: &armstorage.FileShareProperties{ShareQuota: to.Ptr[int32](200)}}, nil)
	if err != nil || *upd.FileShareProperties.ShareQuota != 200 {
		t.Fatalf("update quota: %v", err)
	}
	n := 0
	for pager := sc.NewListPager(rg, name, nil); pager.More(); {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 1 {
		t.Fatalf("%d shares listed, want 1", n)
	}
	_, err = sc.Create(ctxT(t), rg, name, "Bad_Name", armstorage.FileShare{}, nil)
	wantARMError(t, err, http.StatusBadRequest, "InvalidResourceName")
	if _, err := sc.Delete(ctxT(t), rg, name, "docs", nil); err != nil {
		t.Fatal(err)
	}
	_, err = sc.Get(ctxT(t), rg, name, "docs", nil)
	wantARMError(t, err, http.StatusNotFound, "ResourceNotFound")
}
