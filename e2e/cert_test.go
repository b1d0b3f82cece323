package e2e

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/uuid"
)

// certCredential builds azidentity's ClientCertificateCredential from a PEM bundle.
func certCredential(t *testing.T, clientID, pemFile string) azcore.TokenCredential {
	t.Helper()
	b, err := os.ReadFile(pemFile)
	if err != nil {
		t.Fatal(err)
	}
	certs, key, err := azidentity.ParseCertificates(b, nil)
	if err != nil {
		t.Fatalf("azidentity.ParseCertificates(%s): %v", pemFile, err)
	}
	cred, err := azidentity.NewClientCertificateCredential(srv.TenantID, clientID, certs, key, &azidentity.ClientCertificateCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost + "/"}, Transport: httpClient(t)},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// TestSDK_ClientCertificateCredential: a service principal created with a certificate
// (`cerulean sp create --create-cert`) signs in with azidentity's certificate credential,
// is refused without a role and allowed with one; a certificate that was never registered,
// and one registered for another principal, get no token.
func TestSDK_ClientCertificateCredential(t *testing.T) {
	dir := t.TempDir()
	pemFile := filepath.Join(dir, "sp.pem")
	var sp struct {
		servicePrincipal
		Thumbprint string `json:"certificateThumbprint"`
	}
	decodeJSON(t, cerulean(t, "sp", "create", "sdk-cert", "--create-cert", pemFile), &sp)
	if len(sp.Thumbprint) != 40 {
		t.Fatalf("sp create --create-cert: thumbprint %q, want 40 hex digits", sp.Thumbprint)
	}
	if fi, err := os.Stat(pemFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("created certificate file: %v, mode %v; want mode 0600", err, fi.Mode())
	}
	cred := certCredential(t, sp.AppID, pemFile)

	tok, err := cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{armScope}})
	if err != nil {
		t.Fatalf("GetToken with the registered certificate: %v", err)
	}
	c := claimsOf(t, tok.Token)
	if c["appid"] != sp.AppID || c["oid"] != sp.ObjectID || c["tid"] != srv.TenantID || c["appidacr"] != "2" {
		t.Fatalf("token claims %v: want appid %s, oid %s, tid %s and appidacr 2 (certificate)", c, sp.AppID, sp.ObjectID, srv.TenantID)
	}

	rg := "sdk-cert-" + uuid.NewString()[:8]
	wantARMError(t, createGroup(t, cred, rg), http.StatusForbidden, "AuthorizationFailed")
	if err := assignRole(t, adminCredential(t), subScope(), roleContributor, sp.ObjectID); err != nil {
		t.Fatalf("assign Contributor: %v", err)
	}
	if err := createGroup(t, cred, rg); err != nil {
		t.Fatalf("certificate principal with Contributor creates a group: %v", err)
	}

	t.Run("unregistered certificate refused", func(t *testing.T) {
		other := filepath.Join(dir, "other.pem")
		var o servicePrincipal
		decodeJSON(t, cerulean(t, "sp", "create", "sdk-cert-other", "--create-cert", other), &o)
		// sp's client id with the other principal's certificate.
		_, err := certCredential(t, sp.AppID, other).GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{armScope}})
		wantAuthError(t, err, "invalid_client")
	})
	t.Run("certificate added later with sp credential add", func(t *testing.T) {
		later := filepath.Join(dir, "later.pem")
		var added struct {
			Thumbprint string `json:"thumbprint"`
		}
		decodeJSON(t, cerulean(t, "sp", "credential", "add", sp.AppID, "--create-cert", later), &added)
		if added.Thumbprint == "" || added.Thumbprint == sp.Thumbprint {
			t.Fatalf("sp credential add: thumbprint %q, want a new one", added.Thumbprint)
		}
		if _, err := certCredential(t, sp.AppID, later).GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{armScope}}); err != nil {
			t.Fatalf("GetToken with the added certificate: %v", err)
		}
	})
}

func decodeJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
}

// wantAuthError asserts err is azidentity's authentication failure carrying the OAuth2
// error code from Cerulean's token endpoint.
func wantAuthError(t *testing.T, err error, code string) {
	t.Helper()
	var af *azidentity.AuthenticationFailedError
	if !errors.As(err, &af) {
		t.Fatalf("got %v, want an AuthenticationFailedError with %q", err, code)
	}
	if af.RawResponse == nil || af.RawResponse.StatusCode != http.StatusUnauthorized || !strings.Contains(err.Error(), code) {
		t.Fatalf("got %v, want 401 %s", err, code)
	}
}
