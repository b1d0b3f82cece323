package e2e

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/google/uuid"
)

type azAccountEncryption struct {
	ID       string `json:"id"`
	Identity struct {
		Type string `json:"type"`
	} `json:"identity"`
	Encryption struct {
		KeySource          string `json:"keySource"`
		KeyVaultProperties struct {
			KeyName                       string `json:"keyName"`
			KeyVersion                    string `json:"keyVersion"`
			KeyVaultURI                   string `json:"keyVaultUri"`
			CurrentVersionedKeyIdentifier string `json:"currentVersionedKeyIdentifier"`
		} `json:"keyVaultProperties"`
		EncryptionIdentity struct {
			UserAssignedIdentity string `json:"encryptionUserAssignedIdentity"`
		} `json:"encryptionIdentity"`
	} `json:"encryption"`
}

// TestAzureCLI_CMK is seed 002's Azure CLI procedure: az identity show, az keyvault show
// --query properties.vaultUri, az storage account create and update with
// --encryption-key-source Microsoft.Keyvault and a user-assigned identity, a pinned key
// version, and back to Microsoft-managed keys.
func TestAzureCLI_CMK(t *testing.T) {
	admin := newAzCLI(t, "cmk-admin")
	admin.registerCloudConfig()
	admin.loginSP(srv.AdminClientID, srv.AdminClientSecret)
	rg := "azcmk-" + uuid.NewString()[:8]
	vault := newVaultName()
	admin.ok("group", "create", "-n", rg, "-l", "westus", "-o", "none")
	admin.ok("keyvault", "create", "-g", rg, "-n", vault, "-l", "westus", "--enable-purge-protection", "true", "--enable-rbac-authorization", "true", "-o", "none")
	var kv struct {
		ID string `json:"id"`
	}
	admin.json(&kv, "keyvault", "show", "-n", vault)
	vaultURI := strings.TrimSpace(admin.ok("keyvault", "show", "-n", vault, "--query", "properties.vaultUri", "-o", "tsv"))
	if vaultURI != "https://"+vault+".vault.azure.net/" {
		t.Fatalf("vaultUri %q", vaultURI)
	}
	if _, _, err := admin.roleAssign(srv.AdminObjectID, "Key Vault Crypto Officer", kv.ID); err != nil {
		t.Fatal(err)
	}
	key, err := keysClient(t, vault, adminCredential(t)).CreateKey(ctxT(t), "cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	admin.ok("identity", "create", "-g", rg, "-n", "cmk-id", "-o", "none")
	identityID := strings.TrimSpace(admin.ok("identity", "show", "-g", rg, "-n", "cmk-id", "--query", "id", "-o", "tsv"))
	principal := strings.TrimSpace(admin.ok("identity", "show", "-g", rg, "-n", "cmk-id", "--query", "principalId", "-o", "tsv"))
	if _, _, err := admin.roleAssign(principal, "Key Vault Crypto Service Encryption User", kv.ID); err != nil {
		t.Fatal(err)
	}

	check := func(a azAccountEncryption, version string) {
		t.Helper()
		e := a.Encryption
		if e.KeySource != "Microsoft.Keyvault" || e.KeyVaultProperties.KeyName != "cmk" || e.KeyVaultProperties.KeyVersion != version ||
			!strings.HasPrefix(e.KeyVaultProperties.CurrentVersionedKeyIdentifier, "https://"+vault+".vault.azure.net/keys/cmk/") ||
			!strings.EqualFold(e.EncryptionIdentity.UserAssignedIdentity, identityID) {
			t.Fatalf("encryption = %+v", e)
		}
	}
	// A new account, encrypted with the key from the start (user-assigned identity only).
	var created azAccountEncryption
	name := newAccountName()
	admin.json(&created, "storage", "account", "create", "-n", name, "-g", rg, "-l", "westus", "--sku", "Standard_LRS", "--kind", "StorageV2",
		"--identity-type", "UserAssigned", "--user-identity-id", identityID,
		"--encryption-key-vault", vaultURI, "--encryption-key-name", "cmk", "--encryption-key-source", "Microsoft.Keyvault",
		"--key-vault-user-identity-id", identityID)
	check(created, "")

	// An existing account moved to the key, seed 002's update command.
	other := newAccountName()
	admin.ok("storage", "account", "create", "-n", other, "-g", rg, "-l", "westus", "--sku", "Standard_LRS", "--kind", "StorageV2", "-o", "none")
	var updated azAccountEncryption
	admin.json(&updated, "storage", "account", "update", "-n", other, "-g", rg,
		"--encryption-key-vault", vaultURI, "--encryption-key-name", "cmk", "--encryption-key-source", "Microsoft.Keyvault",
		"--key-vault-user-identity-id", identityID, "--identity-type", "UserAssigned", "--user-identity-id", identityID)
	check(updated, "")
	if updated.Encryption.KeyVaultProperties.CurrentVersionedKeyIdentifier != string(*key.Key.KID) {
		t.Fatalf("current key %s, want %s", updated.Encryption.KeyVaultProperties.CurrentVersionedKeyIdentifier, *key.Key.KID)
	}
	// Manual key version.
	admin.json(&updated, "storage", "account", "update", "-n", other, "-g", rg,
		"--encryption-key-vault", vaultURI, "--encryption-key-name", "cmk", "--encryption-key-version", key.Key.KID.Version(),
		"--encryption-key-source", "Microsoft.Keyvault", "--key-vault-user-identity-id", identityID)
	check(updated, key.Key.KID.Version())
	// Back to Microsoft-managed keys.
	admin.json(&updated, "storage", "account", "update", "-n", other, "-g", rg, "--encryption-key-source", "Microsoft.Storage")
	if updated.Encryption.KeySource != "Microsoft.Storage" {
		t.Fatalf("after switching back, keySource %q", updated.Encryption.KeySource)
	}
}
