package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// jsDir is the node project (e2e/js) holding the official Azure SDK for JavaScript, pinned by
// its package-lock.json and installed by scripts/install-test-deps.
const jsDir = "js"

// jsPackages are the npm packages e2e/js/keyvault.mjs imports.
var jsPackages = []string{"@azure/identity", "@azure/keyvault-keys"}

// requireNode fails the test (never skips) when node or the pinned npm packages are missing.
func requireNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not installed (%v): run scripts/install-test-deps", err)
	}
	for _, p := range jsPackages {
		if _, err := os.Stat(filepath.Join(jsDir, "node_modules", filepath.FromSlash(p), "package.json")); err != nil {
			t.Fatalf("npm package %s is not installed in e2e/js/node_modules (%v): run scripts/install-test-deps", p, err)
		}
	}
}

// runKeyVaultJS runs e2e/js/keyvault.mjs in the given MODE as the service principal sp against
// the vault and decodes the one JSON line it prints into out. The script reaches Cerulean
// directly (no proxy in the environment) on its path-style URLs and trusts Cerulean's CA
// through NODE_EXTRA_CA_CERTS.
func runKeyVaultJS(t *testing.T, mode string, sp servicePrincipal, vault, keyName string, out any) {
	t.Helper()
	cmd := exec.CommandContext(ctxT(t), "node", filepath.Join("e2e", "js", "keyvault.mjs"))
	cmd.Dir = ".." // the repository root: tests run in e2e/
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY":
			continue // replaced below: every request goes straight to Cerulean
		}
		env = append(env, kv)
	}
	cmd.Env = append(env,
		"NODE_EXTRA_CA_CERTS="+srv.CACertFile,
		"NO_PROXY=127.0.0.1,localhost", "HTTPS_PROXY=", "HTTP_PROXY=",
		"MODE="+mode,
		"CERULEAN_TENANT_ID="+srv.TenantID,
		"CERULEAN_AUTHORITY_HOST="+srv.AuthorityHost,
		"CERULEAN_CLIENT_ID="+sp.AppID,
		"CERULEAN_CLIENT_SECRET="+sp.Password,
		"CERULEAN_VAULT_URL="+vaultURL(vault),
		"CERULEAN_KEY_NAME="+keyName,
		// Only the script's CryptographyClient uses the proxy, to reach the canonical
		// https://<vault>.vault.azure.net its key ids name (see makeCryptographyClient).
		"CERULEAN_PROXY="+srv.Proxy,
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node e2e/js/keyvault.mjs (MODE=%s): %v\nstdout:\n%s\nstderr:\n%s", mode, err, stdout.String(), stderr.String())
	}
	line := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	if err := json.Unmarshal([]byte(line), out); err != nil {
		t.Fatalf("MODE=%s: the script's last line is not its JSON result (%v)\nstdout:\n%s\nstderr:\n%s", mode, err, stdout.String(), stderr.String())
	}
	t.Logf("MODE=%s: %s", mode, line)
}

// TestJS_KeyVault drives the Key Vault data plane with the official, unmodified Azure SDK
// for JavaScript (@azure/identity ClientSecretCredential, @azure/keyvault-keys KeyClient and
// CryptographyClient) in node: refused without a role exactly as in Azure, then the key
// lifecycle and crypto operations as Key Vault Crypto Officer.
func TestJS_KeyVault(t *testing.T) {
	requireNode(t)
	admin := adminCredential(t)
	rg := "js-kv-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	name := "jskv" + strings.ReplaceAll(uuid.NewString()[:12], "-", "")
	createVault(t, rg, name, false)
	sp := newServicePrincipal(t, "js-kv")
	const keyName = "js-cmk"

	t.Run("no role: createKey refused", func(t *testing.T) {
		var got struct {
			StatusCode int    `json:"statusCode"`
			Code       string `json:"code"`
			Message    string `json:"message"`
		}
		runKeyVaultJS(t, "denied", sp, name, keyName, &got)
		if got.StatusCode != 403 || got.Code != "Forbidden" {
			t.Fatalf("createKey without a role: got %d %q (%s), want 403 Forbidden", got.StatusCode, got.Code, got.Message)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	if err := assignRole(t, admin, vaultScope(rg, name), roleKVCryptoOfficer, sp.ObjectID); err != nil {
		t.Fatalf("assign Key Vault Crypto Officer: %v", err)
	}

	t.Run("crypto officer: key lifecycle and crypto", func(t *testing.T) {
		var got struct {
			KeyID             string `json:"keyId"`
			KeyName           string `json:"keyName"`
			Version           string `json:"version"`
			Kty               string `json:"kty"`
			ModulusBytes      int    `json:"modulusBytes"`
			GetKeyID          string `json:"getKeyId"`
			Listed            bool   `json:"listed"`
			CryptoKeyID       string `json:"cryptoKeyId"`
			WrapAlgorithm     string `json:"wrapAlgorithm"`
			WrappedBytes      int    `json:"wrappedBytes"`
			WrapKeyID         string `json:"wrapKeyId"`
			UnwrapEqual       bool   `json:"unwrapEqual"`
			SignAlgorithm     string `json:"signAlgorithm"`
			SignatureBytes    int    `json:"signatureBytes"`
			Verified          bool   `json:"verified"`
			TamperedVerified  bool   `json:"tamperedVerified"`
			RotatedKeyID      string `json:"rotatedKeyId"`
			RotatedVersion    string `json:"rotatedVersion"`
			VersionsDiffer    bool   `json:"versionsDiffer"`
			LatestAfterRotate string `json:"latestAfterRotate"`
		}
		runKeyVaultJS(t, "allowed", sp, name, keyName, &got)

		kidRE := regexp.MustCompile(`^https://` + regexp.QuoteMeta(name) + `\.vault\.azure\.net/keys/` + keyName + `/([0-9a-f]{32})$`)
		m := kidRE.FindStringSubmatch(got.KeyID)
		if m == nil {
			t.Fatalf("key id %q, want https://%s.vault.azure.net/keys/%s/<32 hex digits>", got.KeyID, name, keyName)
		}
		if got.KeyName != keyName || got.Version != m[1] {
			t.Errorf("key name %q version %q, want %q %q (from the id)", got.KeyName, got.Version, keyName, m[1])
		}
		if got.Kty != "RSA" || got.ModulusBytes != 256 {
			t.Errorf("kty %q with a %d-byte modulus, want RSA 2048 (256 bytes)", got.Kty, got.ModulusBytes)
		}
		if got.GetKeyID != got.KeyID {
			t.Errorf("getKey returned id %q, want %q", got.GetKeyID, got.KeyID)
		}
		if !got.Listed {
			t.Errorf("listPropertiesOfKeys did not list %s", keyName)
		}
		if got.CryptoKeyID != got.KeyID {
			t.Errorf("CryptographyClient.keyID %q, want %q", got.CryptoKeyID, got.KeyID)
		}
		if got.WrapAlgorithm != "RSA-OAEP-256" || got.WrappedBytes != 256 || got.WrapKeyID != got.KeyID {
			t.Errorf("wrapKey: algorithm %q, %d bytes, kid %q; want RSA-OAEP-256, 256 bytes, %s", got.WrapAlgorithm, got.WrappedBytes, got.WrapKeyID, got.KeyID)
		}
		if !got.UnwrapEqual {
			t.Error("unwrapKey did not return the wrapped 32-byte key")
		}
		if got.SignAlgorithm != "RS256" || got.SignatureBytes != 256 {
			t.Errorf("sign: algorithm %q, %d bytes; want RS256, 256 bytes", got.SignAlgorithm, got.SignatureBytes)
		}
		if !got.Verified {
			t.Error("verify of the RS256 signature returned false")
		}
		if got.TamperedVerified {
			t.Error("verify of a tampered RS256 signature returned true")
		}
		rm := kidRE.FindStringSubmatch(got.RotatedKeyID)
		if rm == nil || rm[1] != got.RotatedVersion {
			t.Fatalf("rotated key id %q (version %q), want https://%s.vault.azure.net/keys/%s/<32 hex digits>", got.RotatedKeyID, got.RotatedVersion, name, keyName)
		}
		if !got.VersionsDiffer || got.RotatedVersion == got.Version {
			t.Errorf("rotateKey kept the version %s", got.Version)
		}
		if got.LatestAfterRotate != got.RotatedKeyID {
			t.Errorf("getKey after rotate returned %q, want the rotated version %q", got.LatestAfterRotate, got.RotatedKeyID)
		}
	})
}
