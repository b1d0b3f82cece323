package e2e

import (
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// TestKeyVault_Roles gives each Key Vault data role to a fresh service principal at the vault
// and checks one operation Azure grants it and one it refuses.
func TestKeyVault_Roles(t *testing.T) {
	admin := adminCredential(t)
	rg, name := vaultFixture(t, false)
	if err := assignRole(t, admin, vaultScope(rg, name), roleKVAdministrator, srv.AdminObjectID); err != nil {
		t.Fatal(err)
	}
	if _, err := keysClient(t, name, admin).CreateKey(ctxT(t), "k", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := secretsClient(t, name, admin).SetSecret(ctxT(t), "s", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil); err != nil {
		t.Fatal(err)
	}
	wrapped, err := keysClient(t, name, admin).WrapKey(ctxT(t), "k", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: []byte("dek")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	createKey := func(kc *azkeys.Client) error {
		_, err := kc.CreateKey(ctxT(t), "k", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
		return err
	}
	getKey := func(kc *azkeys.Client) error { _, err := kc.GetKey(ctxT(t), "k", "", nil); return err }
	wrap := func(kc *azkeys.Client) error {
		_, err := kc.WrapKey(ctxT(t), "k", "", azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: []byte("x")}, nil)
		return err
	}
	unwrap := func(kc *azkeys.Client) error {
		u, err := kc.UnwrapKey(ctxT(t), "k", wrapped.KID.Version(), azkeys.KeyOperationParameters{Algorithm: to.Ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: wrapped.Result}, nil)
		if err == nil && string(u.Result) != "dek" {
			t.Fatalf("unwrap returned %q", u.Result)
		}
		return err
	}
	sign := func(kc *azkeys.Client) error {
		_, err := kc.Sign(ctxT(t), "k", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: make([]byte, 32)}, nil)
		return err
	}
	getSecret := func(sc *azsecrets.Client) error {
		got, err := sc.GetSecret(ctxT(t), "s", "", nil)
		if err == nil && *got.Value != "v" {
			t.Fatalf("secret value %q", *got.Value)
		}
		return err
	}
	setSecret := func(sc *azsecrets.Client) error {
		_, err := sc.SetSecret(ctxT(t), "s2", azsecrets.SetSecretParameters{Value: to.Ptr("v2")}, nil)
		return err
	}
	listSecrets := func(sc *azsecrets.Client) error {
		_, err := sc.NewListSecretPropertiesPager(nil).NextPage(ctxT(t))
		return err
	}
	type op struct {
		what string
		do   func(kc *azkeys.Client, sc *azsecrets.Client, cred azcore.TokenCredential) error
	}
	k := func(what string, f func(*azkeys.Client) error) op {
		return op{what, func(kc *azkeys.Client, _ *azsecrets.Client, _ azcore.TokenCredential) error { return f(kc) }}
	}
	s := func(what string, f func(*azsecrets.Client) error) op {
		return op{what, func(_ *azkeys.Client, sc *azsecrets.Client, _ azcore.TokenCredential) error { return f(sc) }}
	}
	deleteVault := op{"delete the vault (ARM)", func(_ *azkeys.Client, _ *azsecrets.Client, cred azcore.TokenCredential) error {
		_, err := vaultsClient(t, cred).Delete(ctxT(t), rg, name, nil)
		return err
	}}
	listCertificates := op{"list certificates", func(_ *azkeys.Client, _ *azsecrets.Client, cred azcore.TokenCredential) error {
		tok, err := cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{"https://vault.azure.net/.default"}})
		if err != nil {
			return err
		}
		req, _ := http.NewRequest(http.MethodGet, vaultURL(name)+"/certificates?api-version=7.5", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := httpClient(t).Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusForbidden:
			return &azcore.ResponseError{StatusCode: resp.StatusCode, ErrorCode: resp.Header.Get("x-ms-error-code")}
		case http.StatusOK:
			return nil
		}
		t.Fatalf("GET /certificates: %d", resp.StatusCode)
		return nil
	}}
	tests := []struct {
		role, guid       string
		allowed, refused op
	}{
		{"Key Vault Administrator", roleKVAdministrator, k("create a key", createKey), deleteVault},
		{"Key Vault Reader", roleKVReader, k("get a key", getKey), s("get a secret's value", getSecret)},
		{"Key Vault Secrets User", roleKVSecretsUser, s("get a secret's value", getSecret), s("set a secret", setSecret)},
		{"Key Vault Secrets Officer", roleKVSecretsOfficer, s("set a secret", setSecret), k("get a key", getKey)},
		{"Key Vault Crypto User", roleKVCryptoUser, k("wrap a key", wrap), k("create a key", createKey)},
		{"Key Vault Crypto Officer", roleKVCryptoOfficer, k("create a key", createKey), s("list secrets", listSecrets)},
		{"Key Vault Crypto Service Encryption User", roleKVCryptoSEU, k("unwrap a key", unwrap), k("sign", sign)},
		{"Key Vault Certificates Officer", roleKVCertsOfficer, listCertificates, s("get a secret's value", getSecret)},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			sp := newServicePrincipal(t, "kv-role")
			cred := spCredential(t, sp.AppID, sp.Password)
			kc, sc := keysClient(t, name, cred), secretsClient(t, name, cred)
			if err := tt.allowed.do(kc, sc, cred); err == nil {
				t.Fatalf("before any role: %s succeeded", tt.allowed.what)
			}
			if err := assignRole(t, admin, vaultScope(rg, name), tt.guid, sp.ObjectID); err != nil {
				t.Fatal(err)
			}
			if err := tt.allowed.do(kc, sc, cred); err != nil {
				t.Fatalf("%s: %s refused: %v", tt.role, tt.allowed.what, err)
			}
			err := tt.refused.do(kc, sc, cred)
			if err == nil {
				t.Fatalf("%s: %s allowed, want 403", tt.role, tt.refused.what)
			}
			if tt.refused.what == deleteVault.what {
				wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")
			} else {
				wantKVError(t, err, http.StatusForbidden, "Forbidden", "ForbiddenByRbac")
			}
		})
	}
	if _, err := vaultsClient(t, admin).Get(ctxT(t), rg, name, nil); err != nil {
		t.Fatalf("the vault is gone: %v", err)
	}
}
