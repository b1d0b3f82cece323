package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/google/uuid"
)

// TestStorage_CMKRevocationIsImmediate (issue 10 item 15): seed 002 says disabling or deleting
// the customer key blocks the file share's data at once. The server's --cmk-cache-ttl is 10
// minutes, yet a read right after each revoking event — key disabled, key deleted, the
// identity's role removed, its group membership removed, the vault switched to access
// policies, the identity detached from the account, the vault deleted, the identity deleted —
// is refused with 403 and Storage's code, and undoing the event restores access at once.
func TestStorage_CMKRevocationIsImmediate(t *testing.T) {
	admin := adminCredential(t)
	rg, vault, kc, mc, uami := cmkSetup(t, "cmkrev-")
	if _, err := kc.CreateKey(ctxT(t), "cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil); err != nil {
		t.Fatal(err)
	}
	principal := *uami.Properties.PrincipalID
	rc, _ := armauthorization.NewRoleAssignmentsClient(srv.SubscriptionID, admin, armOptions(t))
	grant := func(principalID string, typ armauthorization.PrincipalType) string {
		t.Helper()
		name := uuid.NewString()
		if _, err := rc.Create(ctxT(t), vaultScope(rg, vault), name, armauthorization.RoleAssignmentCreateParameters{
			Properties: &armauthorization.RoleAssignmentProperties{
				RoleDefinitionID: to.Ptr(subScope() + "/providers/Microsoft.Authorization/roleDefinitions/" + roleKVCryptoSEU),
				PrincipalID:      to.Ptr(principalID), PrincipalType: to.Ptr(typ)}}, nil); err != nil {
			t.Fatal(err)
		}
		return name
	}
	revoke := func(name string) {
		t.Helper()
		if _, err := rc.Delete(ctxT(t), vaultScope(rg, vault), name, nil); err != nil {
			t.Fatal(err)
		}
	}
	direct := grant(principal, armauthorization.PrincipalTypeServicePrincipal)

	ac := accountsClient(t, admin)
	name := createCMKAccount(t, rg, vault, *uami.ID)
	uamiIdentity := &armstorage.Identity{Type: to.Ptr(armstorage.IdentityTypeUserAssigned),
		UserAssignedIdentities: map[string]*armstorage.UserAssignedIdentity{*uami.ID: {}}}
	sc := sharedKeyService(t, rg, name).NewShareClient("vault")
	if _, err := sc.Create(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("revocable-"), 1000)
	fc := sc.NewRootDirectoryClient().NewFileClient("data.bin")
	if _, err := fc.Create(ctxT(t), int64(len(content)), nil); err != nil {
		t.Fatal(err)
	}
	if err := fc.UploadBuffer(ctxT(t), content, nil); err != nil {
		t.Fatal(err)
	}
	readable := func(when string) {
		t.Helper()
		got := make([]byte, len(content))
		if _, err := fc.DownloadBuffer(ctxT(t), got, nil); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("%s: reading the file: %v", when, err)
		}
	}
	refused := func(when, code string) {
		t.Helper()
		_, err := fc.GetProperties(ctxT(t), nil)
		var re *azcore.ResponseError
		if !errorAs(err, &re) || re.StatusCode != http.StatusForbidden || re.ErrorCode != code {
			t.Fatalf("right after %s, get file properties: %v; want 403 %s", when, err, code)
		}
		_, err = fc.DownloadStream(ctxT(t), nil)
		if !errorAs(err, &re) || re.StatusCode != http.StatusForbidden || re.ErrorCode != code {
			t.Fatalf("right after %s, read the file: %v; want 403 %s", when, err, code)
		}
	}
	readable("before any revocation") // the data key is now cached for 10 minutes

	setEnabled := func(on bool) {
		t.Helper()
		if _, err := kc.UpdateKey(ctxT(t), "cmk", "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(on)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	setEnabled(false)
	refused("disabling the key", "KeyVaultEncryptionKeyNotFound")
	setEnabled(true)
	readable("re-enabling the key")

	if _, err := kc.DeleteKey(ctxT(t), "cmk", nil); err != nil {
		t.Fatal(err)
	}
	refused("deleting the key", "KeyVaultEncryptionKeyNotFound")
	if _, err := kc.RecoverDeletedKey(ctxT(t), "cmk", nil); err != nil {
		t.Fatal(err)
	}
	readable("recovering the key")

	revoke(direct)
	refused("removing the identity's role", "KeyVaultEncryptionKeyNotFound")
	direct = grant(principal, armauthorization.PrincipalTypeServicePrincipal)
	readable("granting the role again")

	// The role through a group: removing the identity from the group revokes.
	var group struct {
		ObjectID string `json:"objectId"`
	}
	if err := json.Unmarshal(cerulean(t, "group", "create", "cmk-"+name), &group); err != nil {
		t.Fatal(err)
	}
	grant(group.ObjectID, armauthorization.PrincipalTypeGroup)
	cerulean(t, "group", "member", "add", group.ObjectID, principal)
	revoke(direct)
	readable("moving the role to a group the identity is in")
	cerulean(t, "group", "member", "remove", group.ObjectID, principal)
	refused("removing the identity from the group", "KeyVaultEncryptionKeyNotFound")
	cerulean(t, "group", "member", "add", group.ObjectID, principal)
	readable("adding the identity to the group again")

	// The vault switched to access policies, none of which names the identity.
	vc := vaultsClient(t, admin)
	setRBAC := func(on bool) {
		t.Helper()
		if _, err := vc.Update(ctxT(t), rg, vault, armkeyvault.VaultPatchParameters{
			Properties: &armkeyvault.VaultPatchProperties{EnableRbacAuthorization: to.Ptr(on)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	setRBAC(false)
	refused("switching the vault to access policies", "KeyVaultEncryptionKeyNotFound")
	setRBAC(true)
	readable("switching the vault back to RBAC")

	// The identity detached from the account, then attached again.
	setIdentity := func(id *armstorage.Identity) {
		t.Helper()
		if _, err := ac.Update(ctxT(t), rg, name, armstorage.AccountUpdateParameters{Identity: id}, nil); err != nil {
			t.Fatal(err)
		}
	}
	setIdentity(&armstorage.Identity{Type: to.Ptr(armstorage.IdentityTypeNone)})
	refused("detaching the identity", "KeyVaultAccessTokenCannotBeAcquired")
	setIdentity(uamiIdentity)
	readable("attaching the identity again")

	if _, err := vc.Delete(ctxT(t), rg, vault, nil); err != nil {
		t.Fatal(err)
	}
	refused("deleting the vault", "KeyVaultVaultNotFound")
	if _, err := mc.Delete(ctxT(t), rg, "cmk-id", nil); err != nil {
		t.Fatal(err)
	}
	refused("deleting the identity", "KeyVaultAccessTokenCannotBeAcquired")
}

// TestStorage_CMKConfigurationErrors (issue 10 item 15): the configuration errors Azure
// names: keySource Microsoft.Keyvault without keyvaultproperties, and invalid account names
// on create and in checkNameAvailability.
func TestStorage_CMKConfigurationErrors(t *testing.T) {
	admin := adminCredential(t)
	rg := "cmkcfg-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	ac := accountsClient(t, admin)
	create := func(name string, props *armstorage.AccountPropertiesCreateParameters) error {
		poller, err := ac.BeginCreate(ctxT(t), rg, name, armstorage.AccountCreateParameters{
			Kind: to.Ptr(armstorage.KindStorageV2), Location: to.Ptr("westus"), SKU: &armstorage.SKU{Name: to.Ptr(armstorage.SKUNameStandardLRS)},
			Identity:   &armstorage.Identity{Type: to.Ptr(armstorage.IdentityTypeSystemAssigned)},
			Properties: props}, nil)
		if err != nil {
			return err
		}
		_, err = poller.PollUntilDone(ctxT(t), nil)
		return err
	}
	t.Run("keySource Microsoft.Keyvault without keyvaultproperties", func(t *testing.T) {
		err := create(newAccountName(), &armstorage.AccountPropertiesCreateParameters{
			Encryption: &armstorage.Encryption{KeySource: to.Ptr(armstorage.KeySourceMicrosoftKeyvault)}})
		wantARMError(t, err, http.StatusBadRequest, "MissingKeyvaultProperties")
		name := newAccountName()
		if err := create(name, nil); err != nil {
			t.Fatal(err)
		}
		_, err = ac.Update(ctxT(t), rg, name, armstorage.AccountUpdateParameters{Properties: &armstorage.AccountPropertiesUpdateParameters{
			Encryption: &armstorage.Encryption{KeySource: to.Ptr(armstorage.KeySourceMicrosoftKeyvault)}}}, nil)
		wantARMError(t, err, http.StatusBadRequest, "MissingKeyvaultProperties")
	})
	t.Run("invalid account name", func(t *testing.T) {
		for _, bad := range []string{"Upper1234", "ab", "with-dash", "vaults"} {
			var re *azcore.ResponseError
			if err := create(bad, nil); !errorAs(err, &re) || re.StatusCode != http.StatusBadRequest || re.ErrorCode != "AccountNameInvalid" {
				t.Errorf("create %q: %v; want 400 AccountNameInvalid", bad, err)
			}
			got, err := ac.CheckNameAvailability(ctxT(t), armstorage.AccountCheckNameAvailabilityParameters{
				Name: to.Ptr(bad), Type: to.Ptr("Microsoft.Storage/storageAccounts")}, nil)
			if err != nil || got.NameAvailable == nil || *got.NameAvailable || got.Reason == nil || *got.Reason != armstorage.ReasonAccountNameInvalid {
				t.Errorf("checkNameAvailability %q = %+v, %v; want unavailable, AccountNameInvalid", bad, got, err)
			}
		}
	})
}
