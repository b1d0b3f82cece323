package encryption

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
)

// TokenFunc returns a bearer token for a managed identity (its principal id) for a resource,
// as the identity's host (the storage account, hostID) would obtain it.
type TokenFunc func(ctx context.Context, principalID, resource, hostID string) (string, error)

// KeyVault reaches customer keys the way any client does: HTTPS requests to
// https://<vault>.vault.azure.net with a bearer token for the storage account's managed
// identity, answered by the server's own request handler — the same routing, token
// verification and RBAC check as for any caller. Nothing about the caller is trusted
// because it is in-process.
type KeyVault struct {
	mu      sync.RWMutex
	handler http.Handler
	token   TokenFunc
}

// NewKeyVault returns a client; SetHandler must be called once the server exists.
func NewKeyVault(token TokenFunc) *KeyVault { return &KeyVault{token: token} }

// SetHandler connects the client to the server's handler.
func (k *KeyVault) SetHandler(h http.Handler) {
	k.mu.Lock()
	k.handler = h
	k.mu.Unlock()
}

// Failure is why a customer key could not be used, in Storage's terms.
type Failure struct {
	Code    string // KeyVaultEncryptionKeyNotFound, KeyVaultAccessTokenCannotBeAcquired, KeyVaultVaultNotFound
	Message string
	Detail  string // what Key Vault answered
	// Denied is set when the identity could not reach the key at all: no token, or Key
	// Vault refused it (no role, no access policy). Configuring a key reports that as
	// KeyVaultAuthenticationFailure; the data plane as Code.
	Denied bool
}

func (f *Failure) Error() string { return f.Code + ": " + f.Message + " (" + f.Detail + ")" }

func keyNotFound(detail string) error {
	return &Failure{Code: "KeyVaultEncryptionKeyNotFound", Message: "The key vault key is not found to unwrap the encryption key.", Detail: detail}
}

// KeyRef names a customer key: the vault URI and key name, and a version or "" for the
// latest.
type KeyRef struct {
	VaultURI string
	Name     string
	Version  string
}

// ParseKeyID splits a key identifier https://<vault>.vault.azure.net/keys/<name>[/<version>].
func ParseKeyID(kid string) (KeyRef, error) {
	u, err := url.Parse(kid)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return KeyRef{}, fmt.Errorf("%q is not a key identifier", kid)
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(segs) < 2 || len(segs) > 3 || segs[0] != "keys" {
		return KeyRef{}, fmt.Errorf("%q is not a key identifier (https://<vault>.vault.azure.net/keys/<name>[/<version>])", kid)
	}
	r := KeyRef{VaultURI: "https://" + u.Host, Name: segs[1]}
	if len(segs) == 3 {
		r.Version = segs[2]
	}
	return r, nil
}

func (r KeyRef) path() string {
	p := "/keys/" + r.Name
	if r.Version != "" {
		p += "/" + r.Version
	}
	return p
}

// call sends one Key Vault request as principal and decodes the JSON answer into out.
func (k *KeyVault) call(ctx context.Context, principal, hostID string, ref KeyRef, method, path string, body, out any) error {
	k.mu.RLock()
	h := k.handler
	k.mu.RUnlock()
	if h == nil {
		return &Failure{Code: "KeyVaultVaultNotFound", Message: "The key vault is not found for encryption.", Detail: "no Key Vault handler"}
	}
	tok, err := k.token(ctx, principal, "https://vault.azure.net", hostID)
	if err != nil {
		return tokenFailure(err.Error())
	}
	u, err := url.Parse(ref.VaultURI)
	if err != nil || !strings.HasSuffix(strings.ToLower(u.Host), ".vault.azure.net") {
		return &Failure{Code: "KeyVaultVaultNotFound", Message: "The key vault is not found for encryption.", Detail: ref.VaultURI + " is not a vault URI"}
	}
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, "https://"+u.Host+path+"?api-version=7.5", rd).WithContext(ctx)
	req.TLS = &tls.ConnectionState{HandshakeComplete: true, ServerName: u.Host}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code == http.StatusOK {
		return json.Unmarshal(rec.Body.Bytes(), out)
	}
	var e struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	detail := fmt.Sprintf("Key Vault answered %d %s: %s", rec.Code, e.Error.Code, e.Error.Message)
	switch {
	case rec.Code == http.StatusNotFound && e.Error.Code == "VaultNotFound":
		return &Failure{Code: "KeyVaultVaultNotFound", Message: "The key vault is not found for encryption.", Detail: detail}
	case rec.Code == http.StatusUnauthorized:
		return tokenFailure(detail)
	case rec.Code == http.StatusForbidden && (e.Error.InnerError.Code == "ForbiddenByRbac" || e.Error.InnerError.Code == "AccessDenied"):
		// Azure Storage reports a key the identity may not use like a missing one.
		f := keyNotFound(detail).(*Failure)
		f.Denied = true
		return f
	}
	return keyNotFound(detail)
}

func tokenFailure(detail string) error {
	return &Failure{Code: "KeyVaultAccessTokenCannotBeAcquired", Message: "Could not acquire access token to Key Vault from Microsoft Entra ID with this resource's identity.", Detail: detail, Denied: true}
}

// Key is a customer key version as Key Vault returns it.
type Key struct {
	KID     string
	Kty     string
	Enabled bool
}

// GetKey reads a key version (the latest when ref.Version is "").
func (k *KeyVault) GetKey(ctx context.Context, principal, hostID string, ref KeyRef) (Key, error) {
	var out struct {
		Key struct {
			KID string `json:"kid"`
			Kty string `json:"kty"`
		} `json:"key"`
		Attributes struct {
			Enabled bool `json:"enabled"`
		} `json:"attributes"`
	}
	if err := k.call(ctx, principal, hostID, ref, http.MethodGet, ref.path(), nil, &out); err != nil {
		return Key{}, err
	}
	return Key{KID: out.Key.KID, Kty: out.Key.Kty, Enabled: out.Attributes.Enabled}, nil
}

// Wrap wraps a data key with RSA-OAEP-256 under the key version kid.
func (k *KeyVault) Wrap(ctx context.Context, principal, hostID, kid string, dataKey []byte) ([]byte, error) {
	ref, err := ParseKeyID(kid)
	if err != nil {
		return nil, keyNotFound(err.Error())
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := k.call(ctx, principal, hostID, ref, http.MethodPost, ref.path()+"/wrapkey",
		map[string]string{"alg": "RSA-OAEP-256", "value": base64.RawURLEncoding.EncodeToString(dataKey)}, &out); err != nil {
		return nil, err
	}
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(out.Value, "="))
}

// Unwrap unwraps a data key wrapped by Wrap under kid.
func (k *KeyVault) Unwrap(ctx context.Context, principal, hostID, kid string, wrapped []byte) ([]byte, error) {
	ref, err := ParseKeyID(kid)
	if err != nil {
		return nil, keyNotFound(err.Error())
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := k.call(ctx, principal, hostID, ref, http.MethodPost, ref.path()+"/unwrapkey",
		map[string]string{"alg": "RSA-OAEP-256", "value": base64.RawURLEncoding.EncodeToString(wrapped)}, &out); err != nil {
		return nil, err
	}
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(out.Value, "="))
}
