package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/google/uuid"
)

// registerCloudConfig registers Cerulean from the cloud definition `cerulean env` writes:
// every endpoint, Microsoft Graph, and the Key Vault and storage suffixes.
func (a *azCLI) registerCloudConfig() {
	a.t.Helper()
	if srv.AzCloudConfigFile == "" {
		a.t.Fatal("cerulean env --json printed no azCloudConfigFile")
	}
	a.ok("cloud", "register", "-n", "Cerulean", "--cloud-config", "@"+srv.AzCloudConfigFile, "-o", "none")
	a.ok("cloud", "set", "-n", "Cerulean")
}

// TestAzureCLI_KeyVault is seed 002's Key Vault steps with Debian's az: create a vault with
// purge protection (an access-policy vault: az grants its caller a policy through Microsoft
// Graph), switch it to RBAC with az keyvault update, grant Key Vault Crypto Officer with az
// role assignment create, and the vault's soft-delete lifecycle. Keys themselves are made
// with azkeys: Debian's az cannot load its key data-plane module.
func TestAzureCLI_KeyVault(t *testing.T) {
	admin := newAzCLI(t, "kv-admin")
	admin.registerCloudConfig()
	admin.loginSP(srv.AdminClientID, srv.AdminClientSecret)
	rg := "azkv-" + uuid.NewString()[:8]
	name := newVaultName()
	admin.ok("group", "create", "-n", rg, "-l", "westus", "-o", "none")

	var vault struct {
		ID         string `json:"id"`
		Properties struct {
			VaultURI                string `json:"vaultUri"`
			EnablePurgeProtection   bool   `json:"enablePurgeProtection"`
			EnableSoftDelete        bool   `json:"enableSoftDelete"`
			EnableRbacAuthorization bool   `json:"enableRbacAuthorization"`
			Retention               int    `json:"softDeleteRetentionInDays"`
			AccessPolicies          []struct {
				ObjectID    string `json:"objectId"`
				Permissions struct {
					Keys []string `json:"keys"`
				} `json:"permissions"`
			} `json:"accessPolicies"`
		} `json:"properties"`
	}
	admin.json(&vault, "keyvault", "create", "-g", rg, "-n", name, "-l", "westus", "--enable-purge-protection", "true")
	p := vault.Properties
	if !p.EnablePurgeProtection || !p.EnableSoftDelete || p.EnableRbacAuthorization || p.Retention != 90 ||
		p.VaultURI != "https://"+name+".vault.azure.net/" || len(p.AccessPolicies) != 1 ||
		p.AccessPolicies[0].ObjectID != srv.AdminObjectID || strings.Join(p.AccessPolicies[0].Permissions.Keys, ",") != "all" {
		t.Fatalf("az keyvault create = %+v", p)
	}
	if !strings.EqualFold(vault.ID, vaultScope(rg, name)) {
		t.Fatalf("vault id %s, want %s", vault.ID, vaultScope(rg, name))
	}

	// The access policy az wrote lets the admin create keys; a principal without a policy
	// is refused with AccessDenied.
	kc := keysClient(t, name, adminCredential(t))
	if _, err := kc.CreateKey(ctxT(t), "by-policy", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil); err != nil {
		t.Fatalf("admin with the access policy az created: %v", err)
	}
	sp := newServicePrincipal(t, "azkv-nopolicy")
	_, err := keysClient(t, name, spCredential(t, sp.AppID, sp.Password)).GetKey(ctxT(t), "by-policy", "", nil)
	wantKVError(t, err, http.StatusForbidden, "Forbidden", "AccessDenied")

	// Purge protection cannot be turned off; retention cannot change.
	admin.fails("cannot be set to false", "keyvault", "update", "-n", name, "-g", rg, "--enable-purge-protection", "false")
	admin.fails("softDeleteRetentionInDays cannot be changed", "keyvault", "update", "-n", name, "-g", rg, "--retention-days", "30")

	// Switch to RBAC: the access policy no longer counts, and Owner has no data actions.
	admin.json(&vault, "keyvault", "update", "-n", name, "-g", rg, "--enable-rbac-authorization", "true")
	if !vault.Properties.EnableRbacAuthorization || !vault.Properties.EnablePurgeProtection {
		t.Fatalf("az keyvault update = %+v", vault.Properties)
	}
	_, err = kc.CreateKey(ctxT(t), "cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
	wantKVError(t, err, http.StatusForbidden, "Forbidden", "ForbiddenByRbac")

	out, errOut, err := admin.roleAssign(srv.AdminObjectID, "Key Vault Crypto Officer", vault.ID)
	if err != nil {
		t.Fatalf("az role assignment create --role \"Key Vault Crypto Officer\": %v\n%s\n%s", err, out, errOut)
	}
	if !strings.Contains(out, roleKVCryptoOfficer) {
		t.Fatalf("role assignment output does not name Key Vault Crypto Officer (%s): %s", roleKVCryptoOfficer, out)
	}
	if _, err := kc.CreateKey(ctxT(t), "cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](3072)}, nil); err != nil {
		t.Fatalf("create key as Crypto Officer: %v", err)
	}

	var shown struct {
		Name       string `json:"name"`
		Properties struct {
			EnablePurgeProtection bool `json:"enablePurgeProtection"`
		} `json:"properties"`
	}
	admin.json(&shown, "keyvault", "show", "-n", name)
	if shown.Name != name || !shown.Properties.EnablePurgeProtection {
		t.Fatalf("az keyvault show = %+v", shown)
	}
	var listed []struct {
		Name string `json:"name"`
	}
	admin.json(&listed, "keyvault", "list", "-g", rg)
	if len(listed) != 1 || listed[0].Name != name {
		t.Fatalf("az keyvault list -g %s = %+v", rg, listed)
	}

	// Soft delete, recover with the key intact, and purge refused under purge protection.
	admin.ok("keyvault", "delete", "-n", name, "-g", rg)
	var deleted []struct {
		Name       string `json:"name"`
		Properties struct {
			VaultID                string `json:"vaultId"`
			PurgeProtectionEnabled bool   `json:"purgeProtectionEnabled"`
		} `json:"properties"`
	}
	admin.json(&deleted, "keyvault", "list-deleted")
	found := false
	for _, d := range deleted {
		if d.Name == name {
			found = d.Properties.PurgeProtectionEnabled && strings.EqualFold(d.Properties.VaultID, vault.ID)
		}
	}
	if !found {
		t.Fatalf("az keyvault list-deleted = %+v, want %s with purge protection", deleted, name)
	}
	admin.fails("DeletedVaultPurge", "keyvault", "purge", "-n", name)
	admin.ok("keyvault", "recover", "-n", name, "-o", "none")
	if _, err := kc.GetKey(ctxT(t), "cmk", "", nil); err != nil {
		t.Fatalf("the key after az keyvault recover: %v", err)
	}
}
