package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// kidOf returns a JWT's kid header.
func kidOf(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}

// TestSigningKeyRotate: `cerulean signing-key rotate` against the data folder of a running
// server makes a new current key; the server signs with it within its refresh interval,
// publishes both keys in JWKS, and still accepts tokens signed by the previous key.
func TestSigningKeyRotate(t *testing.T) {
	type key struct {
		Kid     string `json:"kid"`
		Current bool   `json:"current"`
	}
	var before, after []key
	decodeJSON(t, cerulean(t, "signing-key", "list"), &before)
	if len(before) == 0 || !before[0].Current {
		t.Fatalf("signing-key list = %+v, want a current key first", before)
	}
	old, err := adminCredential(t).GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{armScope}})
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, old.Token) != before[0].Kid {
		t.Fatalf("token kid %s, want the current key %s", kidOf(t, old.Token), before[0].Kid)
	}
	decodeJSON(t, cerulean(t, "signing-key", "rotate"), &after)
	if len(after) != 2 || after[0].Kid == before[0].Kid || after[1].Kid != before[0].Kid || !after[0].Current {
		t.Fatalf("signing-key rotate = %+v, want a new current key and %s as the previous one", after, before[0].Kid)
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		// A new credential each time: azidentity caches tokens per credential.
		tok, err := adminCredential(t).GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{armScope}})
		if err != nil {
			t.Fatal(err)
		}
		if kidOf(t, tok.Token) == after[0].Kid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server still signs with %s 30 s after the rotation, want %s", kidOf(t, tok.Token), after[0].Kid)
		}
		time.Sleep(time.Second)
	}

	hc := httpClient(t)
	resp, err := hc.Get(srv.AuthorityHost + "/" + srv.TenantID + "/discovery/v2.0/keys")
	if err != nil {
		t.Fatal(err)
	}
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	err = json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	if err != nil || len(jwks.Keys) != 2 || jwks.Keys[0].Kid != after[0].Kid || jwks.Keys[1].Kid != before[0].Kid {
		t.Fatalf("JWKS after rotation = %+v (%v), want [%s %s]", jwks, err, after[0].Kid, before[0].Kid)
	}

	req, _ := http.NewRequest(http.MethodGet, srv.ResourceManagerEndpoint+"/subscriptions?api-version=2022-12-01", nil)
	req.Header.Set("Authorization", "Bearer "+old.Token)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ARM with a token signed by the previous key: %d, want 200", resp.StatusCode)
	}
}
