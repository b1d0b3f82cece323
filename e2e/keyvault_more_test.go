package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/google/uuid"
)

// newVaultName returns a fresh vault name (3-24 characters, starting with a letter).
func newVaultName() string { return "kv" + strings.ReplaceAll(uuid.NewString(), "-", "")[:14] }

// vaultFixture is a resource group with an RBAC vault in it, made by the admin.
func vaultFixture(t *testing.T, purgeProtection bool) (rg, name string) {
	t.Helper()
	rg = "kvx-" + uuid.NewString()[:8]
	if err := createGroup(t, adminCredential(t), rg); err != nil {
		t.Fatal(err)
	}
	name = newVaultName()
	createVault(t, rg, name, purgeProtection)
	return rg, name
}

// TestKeyVault_Secrets: the secret lifecycle through azsecrets.
func TestKeyVault_Secrets(t *testing.T) {
	admin := adminCredential(t)
	rg, name := vaultFixture(t, false)
	sc := secretsClient(t, name, admin)
	_, err := sc.SetSecret(ctxT(t), "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("s3cret-value-for-the-store-scan")}, nil)
	wantKVError(t, err, http.StatusForbidden, "Forbidden", "ForbiddenByRbac")
	if err := assignRole(t, admin, vaultScope(rg, name), roleKVSecretsOfficer, srv.AdminObjectID); err != nil {
		t.Fatal(err)
	}
	rememberSensitive(t, []byte("s3cret-value-for-the-store-scan"))
	rememberSensitive(t, []byte("rotated-value-for-the-store-scan"))
	set, err := sc.SetSecret(ctxT(t), "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("s3cret-value-for-the-store-scan"), ContentType: to.Ptr("text/plain"),
		Tags: map[string]*string{"env": to.Ptr("test")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *set.Value != "s3cret-value-for-the-store-scan" || set.ID.Name() != "db-password" || len(set.ID.Version()) != 32 || *set.ContentType != "text/plain" {
		t.Fatalf("set secret = %+v", set)
	}
	v1 := set.ID.Version()
	set2, err := sc.SetSecret(ctxT(t), "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("rotated-value-for-the-store-scan")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sc.GetSecret(ctxT(t), "db-password", "", nil)
	if err != nil || *got.Value != "rotated-value-for-the-store-scan" || got.ID.Version() != set2.ID.Version() {
		t.Fatalf("get latest: %v %+v", err, got)
	}
	old, err := sc.GetSecret(ctxT(t), "db-password", v1, nil)
	if err != nil || *old.Value != "s3cret-value-for-the-store-scan" {
		t.Fatalf("get v1: %v %+v", err, old)
	}
	n := 0
	for pager := sc.NewListSecretPropertiesVersionsPager("db-password", nil); pager.More(); {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 2 {
		t.Fatalf("%d versions, want 2", n)
	}
	if _, err := sc.UpdateSecretProperties(ctxT(t), "db-password", v1, azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)}}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = sc.GetSecret(ctxT(t), "db-password", v1, nil)
	wantKVError(t, err, http.StatusForbidden, "Forbidden", "SecretDisabled")

	// Many secrets page through nextLink.
	for i := 0; i < 27; i++ {
		if _, err := sc.SetSecret(ctxT(t), "bulk-"+string(rune('a'+i%26))+strings.Repeat("x", i/26), azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	listed, pages := 0, 0
	for pager := sc.NewListSecretPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		listed += len(page.Value)
		pages++
	}
	if listed != 28 || pages < 2 {
		t.Fatalf("listed %d secrets in %d pages, want 28 in at least 2", listed, pages)
	}

	backup, err := sc.BackupSecret(ctxT(t), "db-password", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.DeleteSecret(ctxT(t), "db-password", nil); err != nil {
		t.Fatal(err)
	}
	_, err = sc.GetSecret(ctxT(t), "db-password", "", nil)
	wantKVError(t, err, http.StatusNotFound, "SecretNotFound", "")
	if _, err := sc.GetDeletedSecret(ctxT(t), "db-password", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.RecoverDeletedSecret(ctxT(t), "db-password", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.DeleteSecret(ctxT(t), "db-password", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.PurgeDeletedSecret(ctxT(t), "db-password", nil); err != nil {
		t.Fatalf("purge without purge protection: %v", err)
	}
	_, err = sc.GetDeletedSecret(ctxT(t), "db-password", nil)
	wantKVError(t, err, http.StatusNotFound, "SecretNotFound", "")
	restored, err := sc.RestoreSecret(ctxT(t), azsecrets.RestoreSecretParameters{SecretBackup: backup.Value}, nil)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if restored.ID.Name() != "db-password" {
		t.Fatalf("restored %v", restored.ID)
	}
	got, err = sc.GetSecret(ctxT(t), "db-password", "", nil)
	if err != nil || *got.Value != "rotated-value-for-the-store-scan" {
		t.Fatalf("get after restore: %v %+v", err, got)
	}
	_, err = sc.RestoreSecret(ctxT(t), azsecrets.RestoreSecretParameters{SecretBackup: backup.Value}, nil)
	wantKVError(t, err, http.StatusConflict, "Conflict", "")
	_, err = sc.RestoreSecret(ctxT(t), azsecrets.RestoreSecretParameters{SecretBackup: []byte("not a backup")}, nil)
	wantKVError(t, err, http.StatusBadRequest, "BadParameter", "")
}

// TestKeyVault_ImportAndBackup imports a JWK with private parts, backs it up and restores it
// into another vault of the subscription.
func TestKeyVault_ImportAndBackup(t *testing.T) {
	admin := adminCredential(t)
	rg, name := vaultFixture(t, false)
	if err := assignRole(t, admin, vaultScope(rg, name), roleKVCryptoOfficer, srv.AdminObjectID); err != nil {
		t.Fatal(err)
	}
	kc := keysClient(t, name, admin)
	priv, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	jwk := &azkeys.JSONWebKey{Kty: to.Ptr(azkeys.KeyTypeRSA), N: priv.N.Bytes(), E: []byte{1, 0, 1}, D: priv.D.Bytes(),
		P: priv.Primes[0].Bytes(), Q: priv.Primes[1].Bytes(), DP: priv.Precomputed.Dp.Bytes(), DQ: priv.Precomputed.Dq.Bytes(), QI: priv.Precomputed.Qinv.Bytes()}
	rememberSensitive(t, priv.D.Bytes())
	rememberSensitive(t, priv.Primes[0].Bytes())
	imp, err := kc.ImportKey(ctxT(t), "imported", azkeys.ImportKeyParameters{Key: jwk}, nil)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if string(imp.Key.N) != string(priv.N.Bytes()) || imp.Key.D != nil {
		t.Fatal("imported key's modulus differs, or its private part was returned")
	}
	// What the service wraps, the local private key unwraps.
	w, err := kc.WrapKey(ctxT(t), "imported", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSA15), Value: []byte("dek")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := rsa.DecryptPKCS1v15(nil, priv, w.Result)
	if err != nil || string(plain) != "dek" {
		t.Fatalf("local unwrap of the service's wrap: %v %q", err, plain)
	}
	bad := *jwk
	bad.D = nil
	_, err = kc.ImportKey(ctxT(t), "nopriv", azkeys.ImportKeyParameters{Key: &bad}, nil)
	wantKVError(t, err, http.StatusBadRequest, "BadParameter", "")

	backup, err := kc.BackupKey(ctxT(t), "imported", nil)
	if err != nil {
		t.Fatal(err)
	}
	other := newVaultName()
	createVault(t, rg, other, false)
	if err := assignRole(t, admin, vaultScope(rg, other), roleKVCryptoOfficer, srv.AdminObjectID); err != nil {
		t.Fatal(err)
	}
	kc2 := keysClient(t, other, admin)
	restored, err := kc2.RestoreKey(ctxT(t), azkeys.RestoreKeyParameters{KeyBackup: backup.Value}, nil)
	if err != nil {
		t.Fatalf("restore into another vault: %v", err)
	}
	if !strings.HasPrefix(string(*restored.Key.KID), "https://"+other+".vault.azure.net/keys/imported/") {
		t.Fatalf("restored kid %s", *restored.Key.KID)
	}
	u, err := kc2.UnwrapKey(ctxT(t), "imported", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSA15), Value: w.Result}, nil)
	if err != nil || string(u.Result) != "dek" {
		t.Fatalf("unwrap with the restored key: %v %q", err, u.Result)
	}
}

// TestKeyVault_VaultLifecycle: delete into the soft-deleted state, list and get deleted
// vaults, recover with everything in it, purge (refused under purge protection).
func TestKeyVault_VaultLifecycle(t *testing.T) {
	admin := adminCredential(t)
	rg, name := vaultFixture(t, false)
	if err := assignRole(t, admin, vaultScope(rg, name), roleKVSecretsOfficer, srv.AdminObjectID); err != nil {
		t.Fatal(err)
	}
	if _, err := secretsClient(t, name, admin).SetSecret(ctxT(t), "kept", azsecrets.SetSecretParameters{Value: to.Ptr("across recovery")}, nil); err != nil {
		t.Fatal(err)
	}
	vc := vaultsClient(t, admin)
	if _, err := vc.Delete(ctxT(t), rg, name, nil); err != nil {
		t.Fatal(err)
	}
	_, err := vc.Get(ctxT(t), rg, name, nil)
	wantARMError(t, err, http.StatusNotFound, "ResourceNotFound")
	d, err := vc.GetDeleted(ctxT(t), name, "westus", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(*d.Properties.VaultID, vaultScope(rg, name)) || d.Properties.ScheduledPurgeDate == nil {
		t.Fatalf("deleted vault = %+v", d.Properties)
	}
	found := false
	for pager := vc.NewListDeletedPager(nil); pager.More(); {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, dv := range page.Value {
			found = found || *dv.Name == name
		}
	}
	if !found {
		t.Fatalf("deleted vault %s not listed", name)
	}
	// The name stays taken while the vault is soft-deleted.
	_, err = vc.BeginCreateOrUpdate(ctxT(t), rg, name, armkeyvault.VaultCreateOrUpdateParameters{Location: to.Ptr("westus"),
		Properties: &armkeyvault.VaultProperties{TenantID: to.Ptr(srv.TenantID), SKU: &armkeyvault.SKU{Family: to.Ptr(armkeyvault.SKUFamilyA), Name: to.Ptr(armkeyvault.SKUNameStandard)}}}, nil)
	wantARMError(t, err, http.StatusConflict, "ConflictError")
	poller, err := vc.BeginCreateOrUpdate(ctxT(t), rg, name, armkeyvault.VaultCreateOrUpdateParameters{Location: to.Ptr("westus"),
		Properties: &armkeyvault.VaultProperties{TenantID: to.Ptr(srv.TenantID), CreateMode: to.Ptr(armkeyvault.CreateModeRecover),
			SKU: &armkeyvault.SKU{Family: to.Ptr(armkeyvault.SKUFamilyA), Name: to.Ptr(armkeyvault.SKUNameStandard)}}}, nil)
	if err != nil {
		t.Fatalf("recover: %v", err)
	}
	rec, err := poller.PollUntilDone(ctxT(t), nil)
	if err != nil || !*rec.Properties.EnableRbacAuthorization || *rec.Properties.SoftDeleteRetentionInDays != 7 {
		t.Fatalf("recovered vault: %v %+v", err, rec.Properties)
	}
	got, err := secretsClient(t, name, admin).GetSecret(ctxT(t), "kept", "", nil)
	if err != nil || *got.Value != "across recovery" {
		t.Fatalf("secret after vault recovery: %v %+v", err, got)
	}
	// Purge: removes the vault and its contents; the name is free again.
	if _, err := vc.Delete(ctxT(t), rg, name, nil); err != nil {
		t.Fatal(err)
	}
	pp, err := vc.BeginPurgeDeleted(ctxT(t), name, "westus", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pp.PollUntilDone(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	_, err = vc.GetDeleted(ctxT(t), name, "westus", nil)
	wantARMError(t, err, http.StatusNotFound, "ResourceNotFound")
	createVault(t, rg, name, true)
	if _, err := secretsClient(t, name, admin).GetSecret(ctxT(t), "kept", "", nil); err == nil {
		t.Fatal("a purged vault's secret came back in the new vault of the same name")
	}
	// With purge protection the deleted vault cannot be purged.
	if _, err := vc.Delete(ctxT(t), rg, name, nil); err != nil {
		t.Fatal(err)
	}
	_, err = vc.BeginPurgeDeleted(ctxT(t), name, "westus", nil)
	wantARMError(t, err, http.StatusMethodNotAllowed, "MethodNotAllowed")
}

// TestKeyVault_ManagedIdentityReadsSecret is seed 001's first use of managed identities: code
// on a VM reads a secret with ManagedIdentityCredential, refused until the VM's identity holds
// Key Vault Secrets User.
func TestKeyVault_ManagedIdentityReadsSecret(t *testing.T) {
	admin := adminCredential(t)
	rg, name := vaultFixture(t, false)
	if err := assignRole(t, admin, vaultScope(rg, name), roleKVSecretsOfficer, srv.AdminObjectID); err != nil {
		t.Fatal(err)
	}
	rememberSensitive(t, []byte("from the vault"))
	if _, err := secretsClient(t, name, admin).SetSecret(ctxT(t), "app-secret", azsecrets.SetSecretParameters{Value: to.Ptr("from the vault")}, nil); err != nil {
		t.Fatal(err)
	}
	vmID, ident := createHost(t, rg, "Microsoft.Compute/virtualMachines", "app-vm",
		&armresources.Identity{Type: to.Ptr(armresources.ResourceIdentityTypeSystemAssigned)})
	e, err := ceruleanEnv(vmID)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("IDENTITY_ENDPOINT", e.IdentityEndpoint)
	t.Setenv("IDENTITY_HEADER", e.IdentityHeader)
	mi, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: azcore.ClientOptions{Transport: httpClient(t)}})
	if err != nil {
		t.Fatal(err)
	}
	sc := secretsClient(t, name, mi)
	_, err = sc.GetSecret(ctxT(t), "app-secret", "", nil)
	wantKVError(t, err, http.StatusForbidden, "Forbidden", "ForbiddenByRbac")
	if err := assignRole(t, admin, vaultScope(rg, name)+"/secrets/app-secret", roleKVSecretsUser, *ident.PrincipalID); err != nil {
		t.Fatal(err)
	}
	got, err := sc.GetSecret(ctxT(t), "app-secret", "", nil)
	if err != nil || *got.Value != "from the vault" {
		t.Fatalf("managed identity reads the secret: %v %+v", err, got)
	}
	// The assignment is scoped to that one secret.
	if _, err := secretsClient(t, name, admin).SetSecret(ctxT(t), "other", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = sc.GetSecret(ctxT(t), "other", "", nil)
	wantKVError(t, err, http.StatusForbidden, "Forbidden", "ForbiddenByRbac")
}

// TestKeyVault_HostStyleThroughProxy runs azkeys and azsecrets with no options at all, on
// https://<vault>.vault.azure.net, in a child process configured only by HTTPS_PROXY and
// SSL_CERT_FILE: challenge resource verification stays on.
func TestKeyVault_HostStyleThroughProxy(t *testing.T) {
	admin := adminCredential(t)
	rg, name := vaultFixture(t, false)
	for _, role := range []string{roleKVCryptoOfficer, roleKVSecretsOfficer} {
		if err := assignRole(t, admin, vaultScope(rg, name), role, srv.AdminObjectID); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildHostStyle$", "-test.v")
	cmd.Env = append(os.Environ(), "CERULEAN_E2E_CHILD=hoststyle", "CERULEAN_VAULT="+name,
		"CERULEAN_TENANT="+srv.TenantID, "CERULEAN_CLIENT="+srv.AdminClientID, "CERULEAN_SECRET="+srv.AdminClientSecret,
		"CERULEAN_AUTHORITY="+srv.AuthorityHost,
		"HTTPS_PROXY="+srv.Proxy, "NO_PROXY=127.0.0.1,localhost", "SSL_CERT_FILE="+srv.CACertFile)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "HOSTSTYLE=ok") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestChildHostStyle(t *testing.T) {
	if os.Getenv("CERULEAN_E2E_CHILD") != "hoststyle" {
		t.Skip("run by TestKeyVault_HostStyleThroughProxy in a child process")
	}
	// The parent's server settings come in the environment (the child runs no server).
	cred, err := azidentity.NewClientSecretCredential(os.Getenv("CERULEAN_TENANT"), os.Getenv("CERULEAN_CLIENT"), os.Getenv("CERULEAN_SECRET"),
		&azidentity.ClientSecretCredentialOptions{DisableInstanceDiscovery: true,
			ClientOptions: azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: os.Getenv("CERULEAN_AUTHORITY") + "/"}}})
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + os.Getenv("CERULEAN_VAULT") + ".vault.azure.net"
	kc, err := azkeys.NewClient(url, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k, err := kc.CreateKey(ctx, "hk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kc.WrapKey(ctx, "hk", k.Key.KID.Version(), azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: []byte("dek")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := kc.UnwrapKey(ctx, "hk", k.Key.KID.Version(), azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: w.Result}, nil)
	if err != nil || string(u.Result) != "dek" {
		t.Fatalf("unwrap: %v %q", err, u.Result)
	}
	sc, err := azsecrets.NewClient(url, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.SetSecret(ctx, "hs", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := sc.GetSecret(ctx, "hs", "", nil); err != nil || *got.Value != "v" {
		t.Fatalf("get secret: %v", err)
	}
	os.Stdout.WriteString("HOSTSTYLE=ok\n")
}
