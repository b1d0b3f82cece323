package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// TestRootKeyRotate: `cerulean root-key rotate` on the data folder of the running server
// replaces the root key; sealed values (the admin's secret, Key Vault secrets) stay readable,
// and the old root key no longer opens the data folder.
func TestRootKeyRotate(t *testing.T) {
	admin := adminCredential(t)
	rg, name := vaultFixture(t, false)
	if err := assignRole(t, admin, vaultScope(rg, name), roleKVSecretsOfficer, srv.AdminObjectID); err != nil {
		t.Fatal(err)
	}
	rememberSensitive(t, []byte("sealed-before-root-key-rotation"))
	if _, err := secretsClient(t, name, admin).SetSecret(ctxT(t), "before", azsecrets.SetSecretParameters{Value: to.Ptr("sealed-before-root-key-rotation")}, nil); err != nil {
		t.Fatal(err)
	}
	oldKey, err := os.ReadFile(filepath.Join(dataDir, "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	oldCopy := filepath.Join(t.TempDir(), "old.key")
	if err := os.WriteFile(oldCopy, oldKey, 0o600); err != nil {
		t.Fatal(err)
	}
	out := cerulean(t, "root-key", "rotate")
	if !strings.Contains(string(out), `"rotated"`) {
		t.Fatalf("root-key rotate printed %s", out)
	}
	newKey, _ := os.ReadFile(filepath.Join(dataDir, "root.key"))
	if string(newKey) == string(oldKey) || len(newKey) != 32 {
		t.Fatal("root.key did not change")
	}
	// Offline commands open the data folder with the new key: env unseals the admin secret.
	after, err := ceruleanEnv("")
	if err != nil || after.AdminClientSecret != srv.AdminClientSecret {
		t.Fatalf("cerulean env after rotation: %v (secret unchanged: %v)", err, after.AdminClientSecret == srv.AdminClientSecret)
	}
	// The old key opens nothing.
	cmd := exec.Command(binary, "env", "--json", "--data", dataDir, "--root-key-file", oldCopy)
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "does not open the keyring") {
		t.Fatalf("cerulean env with the old root key: %v\n%s", err, b)
	}
	got, err := secretsClient(t, name, admin).GetSecret(ctxT(t), "before", "", nil)
	if err != nil || *got.Value != "sealed-before-root-key-rotation" {
		t.Fatalf("secret after root key rotation: %v", err)
	}
}
