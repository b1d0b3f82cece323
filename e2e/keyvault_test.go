package e2e

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/google/uuid"
)

// Built-in Key Vault role GUIDs.
const (
	roleKVAdministrator  = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
	roleKVReader         = "21090545-7ca7-4776-b22c-e363652d74d2"
	roleKVSecretsUser    = "4633458b-17de-408a-b874-0445c86b69e6"
	roleKVSecretsOfficer = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
	roleKVCryptoUser     = "12338af0-0e69-4776-bea7-57ae8d297424"
	roleKVCryptoOfficer  = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"
	roleKVCryptoSEU      = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
	roleKVCertsOfficer   = "a4417e6f-fecd-4de8-b567-7b0420556985"
)

// noRetry turns the SDK's retries off: a test wants the first answer.
var noRetry = policy.RetryOptions{MaxRetries: -1}

func vaultsClient(t *testing.T, cred azcore.TokenCredential) *armkeyvault.VaultsClient {
	t.Helper()
	c, err := armkeyvault.NewVaultsClient(srv.SubscriptionID, cred, armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createVault creates a vault with RBAC authorization through armkeyvault.
func createVault(t *testing.T, rg, name string, purgeProtection bool) armkeyvault.Vault {
	t.Helper()
	props := &armkeyvault.VaultProperties{
		TenantID:                  to.Ptr(srv.TenantID),
		SKU:                       &armkeyvault.SKU{Family: to.Ptr(armkeyvault.SKUFamilyA), Name: to.Ptr(armkeyvault.SKUNameStandard)},
		EnableRbacAuthorization:   to.Ptr(true),
		SoftDeleteRetentionInDays: to.Ptr[int32](7),
	}
	if purgeProtection {
		props.EnablePurgeProtection = to.Ptr(true)
	}
	poller, err := vaultsClient(t, adminCredential(t)).BeginCreateOrUpdate(ctxT(t), rg, name,
		armkeyvault.VaultCreateOrUpdateParameters{Location: to.Ptr("westus"), Properties: props}, nil)
	if err != nil {
		t.Fatalf("create vault %s: %v", name, err)
	}
	res, err := poller.PollUntilDone(ctxT(t), nil)
	if err != nil {
		t.Fatalf("create vault %s: %v", name, err)
	}
	return res.Vault
}

// vaultURL is the path-style URL of a vault on Cerulean's own address.
func vaultURL(name string) string { return srv.ResourceManagerEndpoint + "/vaults/" + name }

func keysClient(t *testing.T, vault string, cred azcore.TokenCredential) *azkeys.Client {
	t.Helper()
	c, err := azkeys.NewClient(vaultURL(vault), cred, &azkeys.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: httpClient(t), Retry: noRetry},
		DisableChallengeResourceVerification: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func secretsClient(t *testing.T, vault string, cred azcore.TokenCredential) *azsecrets.Client {
	t.Helper()
	c, err := azsecrets.NewClient(vaultURL(vault), cred, &azsecrets.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: httpClient(t), Retry: noRetry},
		DisableChallengeResourceVerification: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantKVError asserts err is a Key Vault response error with the status and code (and, if
// given, the innererror code in the body).
func wantKVError(t *testing.T, err error, status int, code, inner string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("got error %v, want a Key Vault %d %s", err, status, code)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("got %d %s, want %d %s: %v", re.StatusCode, re.ErrorCode, status, code, err)
	}
	if inner != "" && !strings.Contains(err.Error(), `"code":"`+inner+`"`) && !strings.Contains(err.Error(), `"code": "`+inner+`"`) {
		t.Fatalf("error has no innererror %s: %v", inner, err)
	}
}

func vaultScope(rg, name string) string {
	return subScope() + "/resourceGroups/" + rg + "/providers/Microsoft.KeyVault/vaults/" + name
}

// TestKeyVault_SDK drives vaults (armkeyvault), keys (azkeys) and secrets (azsecrets) through
// seed 002's first steps and the whole key lifecycle.
func TestKeyVault_SDK(t *testing.T) {
	admin := adminCredential(t)
	rg := "kv-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	name := "kv" + strings.ReplaceAll(uuid.NewString()[:12], "-", "")
	v := createVault(t, rg, name, true)
	p := v.Properties
	if p == nil || *p.VaultURI != "https://"+name+".vault.azure.net/" || *p.TenantID != srv.TenantID ||
		!*p.EnablePurgeProtection || !*p.EnableSoftDelete || *p.SoftDeleteRetentionInDays != 7 || !*p.EnableRbacAuthorization {
		t.Fatalf("vault properties = %+v", p)
	}

	t.Run("purge protection cannot be turned off", func(t *testing.T) {
		_, err := vaultsClient(t, admin).Update(ctxT(t), rg, name, armkeyvault.VaultPatchParameters{
			Properties: &armkeyvault.VaultPatchProperties{EnablePurgeProtection: to.Ptr(false)}}, nil)
		wantARMError(t, err, http.StatusBadRequest, "BadRequest")
	})
	t.Run("vault names are global", func(t *testing.T) {
		rg2 := rg + "b"
		if err := createGroup(t, admin, rg2); err != nil {
			t.Fatal(err)
		}
		_, err := vaultsClient(t, admin).BeginCreateOrUpdate(ctxT(t), rg2, name, armkeyvault.VaultCreateOrUpdateParameters{
			Location: to.Ptr("westus"), Properties: &armkeyvault.VaultProperties{TenantID: to.Ptr(srv.TenantID),
				SKU: &armkeyvault.SKU{Family: to.Ptr(armkeyvault.SKUFamilyA), Name: to.Ptr(armkeyvault.SKUNameStandard)}}}, nil)
		wantARMError(t, err, http.StatusConflict, "VaultAlreadyExists")
	})

	// Seed 002: without Key Vault Crypto Officer even the subscription Owner cannot create a
	// key; as Owner it can grant the role to itself.
	kc := keysClient(t, name, admin)
	_, err := kc.CreateKey(ctxT(t), "cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)}, nil)
	wantKVError(t, err, http.StatusForbidden, "Forbidden", "ForbiddenByRbac")
	if err := assignRole(t, admin, vaultScope(rg, name), roleKVCryptoOfficer, srv.AdminObjectID); err != nil {
		t.Fatal(err)
	}
	created, err := kc.CreateKey(ctxT(t), "cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)}, nil)
	if err != nil {
		t.Fatalf("Crypto Officer creates a key: %v", err)
	}
	kid := created.Key.KID
	if kid.Name() != "cmk" || len(kid.Version()) != 32 || !strings.HasPrefix(string(*kid), "https://"+name+".vault.azure.net/keys/cmk/") {
		t.Fatalf("kid %s: name %q version %q", *kid, kid.Name(), kid.Version())
	}
	if *created.Key.Kty != azkeys.KeyTypeRSA || len(created.Key.N) != 256 || created.Key.D != nil {
		t.Fatalf("created key: kty %v, %d-byte modulus, private part present: %v", *created.Key.Kty, len(created.Key.N), created.Key.D != nil)
	}
	if *created.Attributes.RecoveryLevel != "CustomizedRecoverable" || *created.Attributes.RecoverableDays != 7 {
		t.Fatalf("recovery level %v / %d days, want CustomizedRecoverable / 7 (purge protection, 7-day retention)", *created.Attributes.RecoveryLevel, *created.Attributes.RecoverableDays)
	}
	version := kid.Version()

	t.Run("wrap and unwrap", func(t *testing.T) {
		dek := bytes.Repeat([]byte{7}, 32)
		for _, alg := range []azkeys.EncryptionAlgorithm{azkeys.EncryptionAlgorithmRSAOAEP256, azkeys.EncryptionAlgorithmRSAOAEP, azkeys.EncryptionAlgorithmRSA15} {
			w, err := kc.WrapKey(ctxT(t), "cmk", version, azkeys.KeyOperationParameters{Algorithm: to.Ptr(alg), Value: dek}, nil)
			if err != nil {
				t.Fatalf("wrap %s: %v", alg, err)
			}
			if len(w.Result) != 256 || *w.KID != *kid {
				t.Fatalf("wrap %s: %d bytes, kid %s", alg, len(w.Result), *w.KID)
			}
			u, err := kc.UnwrapKey(ctxT(t), "cmk", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(alg), Value: w.Result}, nil)
			if err != nil || !bytes.Equal(u.Result, dek) {
				t.Fatalf("unwrap %s: %v, got %x", alg, err, u.Result)
			}
		}
		_, err := kc.UnwrapKey(ctxT(t), "cmk", version, azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: []byte("short")}, nil)
		wantKVError(t, err, http.StatusBadRequest, "BadParameter", "")
	})
	t.Run("encrypt and decrypt", func(t *testing.T) {
		e, err := kc.Encrypt(ctxT(t), "cmk", version, azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: []byte("hello")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := kc.Decrypt(ctxT(t), "cmk", version, azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: e.Result}, nil)
		if err != nil || string(d.Result) != "hello" {
			t.Fatalf("decrypt: %v %q", err, d.Result)
		}
	})
	t.Run("sign and verify", func(t *testing.T) {
		digest := sha256.Sum256([]byte("message"))
		for _, alg := range []azkeys.SignatureAlgorithm{azkeys.SignatureAlgorithmRS256, azkeys.SignatureAlgorithmPS256} {
			s, err := kc.Sign(ctxT(t), "cmk", version, azkeys.SignParameters{Algorithm: to.Ptr(alg), Value: digest[:]}, nil)
			if err != nil {
				t.Fatalf("sign %s: %v", alg, err)
			}
			ok, err := kc.Verify(ctxT(t), "cmk", version, azkeys.VerifyParameters{Algorithm: to.Ptr(alg), Digest: digest[:], Signature: s.Result}, nil)
			if err != nil || !*ok.Value {
				t.Fatalf("verify %s: %v %v", alg, err, ok.Value)
			}
			bad := append([]byte(nil), s.Result...)
			bad[0] ^= 1
			ok, err = kc.Verify(ctxT(t), "cmk", version, azkeys.VerifyParameters{Algorithm: to.Ptr(alg), Digest: digest[:], Signature: bad}, nil)
			if err != nil || *ok.Value {
				t.Fatalf("verify of a tampered %s signature: %v %v, want false", alg, err, ok.Value)
			}
		}
		_, err := kc.Sign(ctxT(t), "cmk", version, azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: []byte("not a digest")}, nil)
		wantKVError(t, err, http.StatusBadRequest, "BadParameter", "")
	})
	t.Run("rotate, versions, disable", func(t *testing.T) {
		rot, err := kc.RotateKey(ctxT(t), "cmk", nil)
		if err != nil {
			t.Fatal(err)
		}
		if rot.Key.KID.Version() == version {
			t.Fatal("rotate kept the version")
		}
		latest, err := kc.GetKey(ctxT(t), "cmk", "", nil)
		if err != nil || latest.Key.KID.Version() != rot.Key.KID.Version() {
			t.Fatalf("latest after rotate: %v %v", err, latest.Key.KID)
		}
		n := 0
		pager := kc.NewListKeyPropertiesVersionsPager("cmk", nil)
		for pager.More() {
			page, err := pager.NextPage(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			n += len(page.Value)
		}
		if n != 2 {
			t.Fatalf("%d versions after one rotation, want 2", n)
		}
		// The old version still unwraps what it wrapped; disabled, it refuses.
		_, err = kc.UpdateKey(ctxT(t), "cmk", version, azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(false)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = kc.GetKey(ctxT(t), "cmk", version, nil)
		wantKVError(t, err, http.StatusForbidden, "Forbidden", "KeyDisabled")
		_, err = kc.WrapKey(ctxT(t), "cmk", version, azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: []byte("k")}, nil)
		wantKVError(t, err, http.StatusForbidden, "Forbidden", "KeyDisabled")
		if _, err := kc.UpdateKey(ctxT(t), "cmk", version, azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(true)}}, nil); err != nil {
			t.Fatal(err)
		}
		// An expired version refuses new wraps but still unwraps.
		past := time.Now().Add(-time.Hour)
		if _, err := kc.UpdateKey(ctxT(t), "cmk", version, azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Expires: &past}}, nil); err != nil {
			t.Fatal(err)
		}
		_, err = kc.WrapKey(ctxT(t), "cmk", version, azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: []byte("k")}, nil)
		wantKVError(t, err, http.StatusForbidden, "Forbidden", "KeyExpired")
	})
	t.Run("delete, recover, purge refused under purge protection", func(t *testing.T) {
		del, err := kc.DeleteKey(ctxT(t), "cmk", nil)
		if err != nil {
			t.Fatal(err)
		}
		if del.RecoveryID == nil || !strings.HasSuffix(*del.RecoveryID, "/deletedkeys/cmk") || del.ScheduledPurgeDate == nil {
			t.Fatalf("deleted key bundle = %+v", del)
		}
		_, err = kc.GetKey(ctxT(t), "cmk", "", nil)
		wantKVError(t, err, http.StatusNotFound, "KeyNotFound", "")
		_, err = kc.CreateKey(ctxT(t), "cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
		wantKVError(t, err, http.StatusConflict, "Conflict", "ObjectIsDeletedButRecoverable")
		_, err = kc.PurgeDeletedKey(ctxT(t), "cmk", nil)
		wantKVError(t, err, http.StatusForbidden, "Forbidden", "")
		if _, err := kc.RecoverDeletedKey(ctxT(t), "cmk", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := kc.GetKey(ctxT(t), "cmk", "", nil); err != nil {
			t.Fatalf("get after recover: %v", err)
		}
	})
	t.Run("bad names and versions", func(t *testing.T) {
		_, err := kc.CreateKey(ctxT(t), "bad_name", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
		wantKVError(t, err, http.StatusBadRequest, "BadParameter", "")
		_, err = kc.CreateKey(ctxT(t), "k1024", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](1024)}, nil)
		wantKVError(t, err, http.StatusBadRequest, "BadParameter", "")
		_, err = kc.GetKey(ctxT(t), "cmk", strings.Repeat("0", 32), nil)
		wantKVError(t, err, http.StatusNotFound, "KeyNotFound", "")
	})
}
