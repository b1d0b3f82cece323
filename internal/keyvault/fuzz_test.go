package keyvault

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
)

// checkFuzzResult fails unless a request ended in success or one of Key Vault's 4xx errors.
func checkFuzzResult(t *testing.T, status int, err error) {
	t.Helper()
	if err == nil {
		if status < 200 || status >= 300 {
			t.Fatalf("status %d without an error", status)
		}
		return
	}
	e, ok := azerr.As(err)
	if !ok || e.Status < 400 || e.Status >= 500 {
		t.Fatalf("got %v (not a 4xx Azure error)", err)
	}
}

// fuzzService is a data plane with an RSA and an EC key, living as long as the fuzz target.
func fuzzService(f *testing.F) (*Service, Vault) {
	s, v := newTestService(f, &clock{time.Now()}, DefaultSettings())
	mustCall(f, s, v, http.MethodPost, "/keys/rsa/create", `{"kty":"RSA"}`)
	mustCall(f, s, v, http.MethodPost, "/keys/ec/create", `{"kty":"EC"}`)
	mustCall(f, s, v, http.MethodPost, "/certificates/c/create", `{"policy":{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=c"}}}`)
	return s, v
}

// FuzzImportJWK sends arbitrary bodies to the import endpoint: every one is imported or
// refused with a 4xx, never a panic or a 500.
func FuzzImportJWK(f *testing.F) {
	for _, seed := range []string{
		`{"key":{"kty":"RSA","n":"AQAB","e":"AQAB","d":"AQAB","p":"Aw","q":"BQ"}}`,
		`{"key":{"kty":"EC","crv":"P-256","d":"AQ","x":"AQ","y":"AQ"}}`,
		`{"key":{"kty":"EC","crv":"P-256","d":"` + b64enc(make([]byte, 33)) + `"}}`,
		`{"key":{"kty":"oct","k":"AAAA"}}`,
		`{"key":{"kty":"RSA-HSM"}, "Hsm": true}`,
		`{"key":{"kty":"RSA","key_ops":["fly"]}}`,
		`{"key":null}`, `{}`, `[]`, `null`, ``, `{"key":{"kty":"EC","crv":"P-521","d":"////"}}`,
	} {
		f.Add(seed)
	}
	s, v := fuzzService(f)
	f.Fuzz(func(t *testing.T, body string) {
		status, _, err := testCall(t, s, v, http.MethodPut, "/keys/imported", body)
		checkFuzzResult(t, status, err)
	})
}

// FuzzCryptoRequest sends arbitrary bodies to every key operation of an RSA and an EC key.
func FuzzCryptoRequest(f *testing.F) {
	ops := []string{"encrypt", "decrypt", "wrapkey", "unwrapkey", "sign", "verify"}
	for i, seed := range []string{
		`{"alg":"RSA-OAEP","value":"AAAA"}`, `{"alg":"RSA-OAEP-256","value":"` + b64enc(make([]byte, 256)) + `"}`,
		`{"alg":"RSA1_5","value":"!!"}`, `{"alg":"RS256","value":"` + b64enc(make([]byte, 32)) + `"}`,
		`{"alg":"ES256","digest":"` + b64enc(make([]byte, 32)) + `","value":"` + b64enc(make([]byte, 64)) + `"}`,
		`{"alg":"A256GCM","value":"AAAA","iv":"AAAA"}`, `{"alg":""}`, `{}`, `[1]`, `"x"`,
	} {
		f.Add(uint8(i), seed, i%2 == 0)
	}
	s, v := fuzzService(f)
	f.Fuzz(func(t *testing.T, op uint8, body string, rsaKey bool) {
		key := "ec"
		if rsaKey {
			key = "rsa"
		}
		status, _, err := testCall(t, s, v, http.MethodPost, "/keys/"+key+"/"+ops[int(op)%len(ops)], body)
		checkFuzzResult(t, status, err)
	})
}

// FuzzMatch: the operation table's matcher never panics, and whatever it matches carries a
// declared action (or is a declared unsupported API).
func FuzzMatch(f *testing.F) {
	for _, p := range []string{"keys", "keys/k", "keys/k/", "keys/k//wrapkey", "keys/k/0123456789abcdef0123456789abcdef/sign",
		"secrets/s/versions", "deletedsecrets/s/recover", "keys/restore", "certificates", "rng", "", "/", "keys/k/release"} {
		for _, m := range []string{"GET", "PUT", "POST", "PATCH", "DELETE"} {
			f.Add(m, p)
		}
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		o, p, _ := match(method, strings.Split(path, "/"))
		if o == nil {
			return
		}
		if o.Unsupported == "" && o.Action == "" && (p.op == "" || cryptoOps[p.op].action == "") {
			t.Fatalf("%s %s matched %v with no action", method, path, o.Path)
		}
	})
}

// FuzzCertImport sends arbitrary values (as PFX base64 or PEM text, with a password) to the
// certificate import endpoint: each is imported or refused with a 4xx, never a panic or 500.
func FuzzCertImport(f *testing.F) {
	f.Add(`MIIJsQIBAzCCCXcGCSqGSIb3DQEHAaCCCWgEgglkMIIJYDCCBBcGCSqGSIb3DQEHBqCCBAgwggQEAgEAMIID`, "")
	f.Add("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n", "")
	f.Add("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "pw")
	f.Add("", "")
	f.Add("!!!", "x")
	s, v := fuzzService(f)
	f.Fuzz(func(t *testing.T, value, pwd string) {
		status, _, err := testCall(t, s, v, http.MethodPost, "/certificates/imported/import", `{"value":`+mustJSON(value)+`,"pwd":`+mustJSON(pwd)+`}`)
		checkFuzzResult(t, status, err)
	})
}

// FuzzCertPolicy sends arbitrary policies to certificate creation and policy update.
func FuzzCertPolicy(f *testing.F) {
	for _, seed := range []string{
		`{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=a"}}`,
		`{"issuer":{"name":"Unknown"},"key_props":{"kty":"EC","crv":"P-521"},"x509_props":{"subject":"CN=a, O=b","sans":{"dns_names":["a"],"emails":["a@b"]},"validity_months":1}}`,
		`{"issuer":{"name":"Self"},"key_props":{"kty":"RSA","key_size":4096,"reuse_key":true},"x509_props":{"subject":"CN=\"x,y\"","ekus":["1.2.3"],"key_usage":["cRLSign"]},"lifetime_actions":[{"trigger":{"days_before_expiry":3},"action":{"action_type":"EmailContacts"}}]}`,
		`{"secret_props":{"contentType":"application/x-pem-file"}}`, `{"x509_props":{"subject":"=\\"}}`, `null`, `[]`, `{"key_props":{"kty":"oct"}}`,
	} {
		f.Add(seed, false)
	}
	s, v := fuzzService(f)
	f.Fuzz(func(t *testing.T, policy string, update bool) {
		if update {
			status, _, err := testCall(t, s, v, http.MethodPatch, "/certificates/c/policy", policy)
			checkFuzzResult(t, status, err)
			return
		}
		status, _, err := testCall(t, s, v, http.MethodPost, "/certificates/c/create", `{"policy":`+policy+`}`)
		checkFuzzResult(t, status, err)
	})
}
