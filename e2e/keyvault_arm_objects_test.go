package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
)

// TestKeyVault_ARMKeysAndSecrets (issue 13, armkeyvault's live suite): a vault's keys and
// secrets through Resource Manager, as Bicep and armkeyvault manage them: a key created
// only if missing (the second PUT changes nothing), read, listed with its versions; a
// secret set, read without its value, updated; the data plane sees the same objects. The
// control-plane actions decide: a Reader lists, a Reader cannot write.
func TestKeyVault_ARMKeysAndSecrets(t *testing.T) {
	admin := adminCredential(t)
	rg, name := vaultFixture(t, false)
	keys, err := armkeyvault.NewKeysClient(srv.SubscriptionID, admin, armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	params := armkeyvault.KeyCreateParameters{Properties: &armkeyvault.KeyProperties{Kty: to.Ptr(armkeyvault.JSONWebKeyTypeRSA), KeySize: to.Ptr[int32](2048),
		KeyOps: []*armkeyvault.JSONWebKeyOperation{to.Ptr(armkeyvault.JSONWebKeyOperationWrapKey), to.Ptr(armkeyvault.JSONWebKeyOperationUnwrapKey)}}}
	created, err := keys.CreateIfNotExist(ctxT(t), rg, name, "armkey", params, nil)
	if err != nil || created.Properties == nil || *created.Properties.KeySize != 2048 || *created.Type != "Microsoft.KeyVault/vaults/keys" ||
		!strings.HasPrefix(*created.Properties.KeyURIWithVersion, "https://"+name+".vault.azure.net/keys/armkey/") {
		t.Fatalf("Keys_CreateIfNotExist: %v %+v", err, created)
	}
	again, err := keys.CreateIfNotExist(ctxT(t), rg, name, "armkey", params, nil)
	if err != nil || *again.Properties.KeyURIWithVersion != *created.Properties.KeyURIWithVersion {
		t.Errorf("a second CreateIfNotExist made a new version: %v", err)
	}
	got, err := keys.Get(ctxT(t), rg, name, "armkey", nil)
	if err != nil || *got.Properties.Kty != armkeyvault.JSONWebKeyTypeRSA || len(got.Properties.KeyOps) != 2 {
		t.Errorf("Keys_Get: %v %+v", err, got.Properties)
	}
	listed := 0
	for pager := keys.NewListPager(rg, name, nil); pager.More(); {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		listed += len(page.Value)
	}
	version := (*created.Properties.KeyURIWithVersion)[strings.LastIndex(*created.Properties.KeyURIWithVersion, "/")+1:]
	versions := 0
	for pager := keys.NewListVersionsPager(rg, name, "armkey", nil); pager.More(); {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		versions += len(page.Value)
	}
	if listed != 1 || versions != 1 {
		t.Errorf("listed %d keys and %d versions, want 1 and 1", listed, versions)
	}
	if v, err := keys.GetVersion(ctxT(t), rg, name, "armkey", version, nil); err != nil || *v.Name != version {
		t.Errorf("Keys_GetVersion: %v", err)
	}
	// The data plane holds the same key.
	if err := assignRole(t, admin, vaultScope(rg, name), roleKVCryptoOfficer, srv.AdminObjectID); err != nil {
		t.Fatal(err)
	}
	if k, err := keysClient(t, name, admin).GetKey(ctxT(t), "armkey", "", nil); err != nil || string(*k.Key.KID) != *created.Properties.KeyURIWithVersion {
		t.Errorf("the data plane's view of the key: %v", err)
	}

	rememberSensitive(t, []byte("value-set-through-arm"))
	secrets, err := armkeyvault.NewSecretsClient(srv.SubscriptionID, admin, armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := secrets.CreateOrUpdate(ctxT(t), rg, name, "armsecret", armkeyvault.SecretCreateOrUpdateParameters{Properties: &armkeyvault.SecretProperties{
		Value: to.Ptr("value-set-through-arm"), ContentType: to.Ptr("text/plain")}}, nil)
	if err != nil || s.Properties.Value != nil || *s.Properties.ContentType != "text/plain" {
		t.Fatalf("Secrets_CreateOrUpdate: %v (a value returned: %v)", err, s.Properties != nil && s.Properties.Value != nil)
	}
	if _, err := secrets.Update(ctxT(t), rg, name, "armsecret", armkeyvault.SecretPatchParameters{Properties: &armkeyvault.SecretPatchProperties{ContentType: to.Ptr("application/json")}}, nil); err != nil {
		t.Fatalf("Secrets_Update: %v", err)
	}
	if g, err := secrets.Get(ctxT(t), rg, name, "armsecret", nil); err != nil || *g.Properties.ContentType != "application/json" || g.Properties.Value != nil {
		t.Errorf("Secrets_Get: %v %+v", err, g.Properties)
	}
	if err := assignRole(t, admin, vaultScope(rg, name), roleKVSecretsOfficer, srv.AdminObjectID); err != nil {
		t.Fatal(err)
	}
	if v, err := secretsClient(t, name, admin).GetSecret(ctxT(t), "armsecret", "", nil); err != nil || *v.Value != "value-set-through-arm" {
		t.Errorf("the data plane's view of the secret: %v", err)
	}

	// Control-plane roles decide.
	reader := newServicePrincipal(t, "kv-arm-reader")
	if err := assignRole(t, admin, vaultScope(rg, name), roleReader, reader.ObjectID); err != nil {
		t.Fatal(err)
	}
	rc := spCredential(t, reader.AppID, reader.Password)
	rkeys, _ := armkeyvault.NewKeysClient(srv.SubscriptionID, rc, armOptions(t))
	if _, err := rkeys.Get(ctxT(t), rg, name, "armkey", nil); err != nil {
		t.Errorf("a Reader reads a key's properties: %v", err)
	}
	if _, err := rkeys.CreateIfNotExist(ctxT(t), rg, name, "readerkey", params, nil); respStatus(err) != http.StatusForbidden {
		t.Errorf("a Reader creates a key through Resource Manager: %v, want 403", err)
	}
	rsecrets, _ := armkeyvault.NewSecretsClient(srv.SubscriptionID, rc, armOptions(t))
	if _, err := rsecrets.CreateOrUpdate(ctxT(t), rg, name, "armsecret", armkeyvault.SecretCreateOrUpdateParameters{Properties: &armkeyvault.SecretProperties{Value: to.Ptr("x")}}, nil); respStatus(err) != http.StatusForbidden {
		t.Errorf("a Reader sets a secret through Resource Manager: %v, want 403", err)
	}
	if _, err := keys.Get(ctxT(t), rg, name, "missing", nil); respStatus(err) != http.StatusNotFound {
		t.Errorf("a missing key: %v, want 404", err)
	}
}
