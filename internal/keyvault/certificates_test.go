package keyvault

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

func wantStatus(t *testing.T, err error, status int, code string) {
	t.Helper()
	e, ok := azerr.As(err)
	if !ok || e.Status != status || (code != "" && e.Code != code) {
		t.Fatalf("got %v, want %d %s", err, status, code)
	}
}

func cerOf(t *testing.T, m map[string]any) *x509.Certificate {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(m["cer"].(string))
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCertificate_SelfSigned: a Self certificate is issued at once with what its policy
// asks; its secret holds the private key matching the certificate; its key and secret are
// managed (no direct delete, update or new version); deleting, recovering and purging the
// certificate carry them along.
func TestCertificate_SelfSigned(t *testing.T) {
	clk := &clock{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	s, v := newTestService(t, clk, DefaultSettings())
	op := mustCall(t, s, v, http.MethodPost, "/certificates/web/create",
		`{"policy":{"issuer":{"name":"self"},"key_props":{"kty":"EC","crv":"P-384"},"secret_props":{"contentType":"application/x-pem-file"},
		  "x509_props":{"subject":"CN=www.contoso.com, O=Contoso","sans":{"dns_names":["www.contoso.com","contoso.com"]},"validity_months":6}}}`)
	if op["status"] != "completed" || op["csr"] == "" || op["id"] != "https://unit.vault.azure.net/certificates/web/pending" {
		t.Fatalf("operation %v", op)
	}
	got := mustCall(t, s, v, http.MethodGet, "/certificates/web", "")
	cert := cerOf(t, got)
	if cert.Subject.CommonName != "www.contoso.com" || len(cert.Subject.Organization) != 1 || strings.Join(cert.DNSNames, ",") != "www.contoso.com,contoso.com" {
		t.Fatalf("certificate subject %v, SANs %v", cert.Subject, cert.DNSNames)
	}
	if !cert.NotAfter.Equal(clk.t.AddDate(0, 6, 0)) || cert.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P384() {
		t.Fatalf("not after %v, key %T", cert.NotAfter, cert.PublicKey)
	}
	if cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) != nil {
		t.Fatal("the Self certificate is not signed by its own key")
	}
	version := strings.TrimPrefix(got["id"].(string), "https://unit.vault.azure.net/certificates/web/")
	if got["kid"] != "https://unit.vault.azure.net/keys/web/"+version || got["sid"] != "https://unit.vault.azure.net/secrets/web/"+version {
		t.Fatalf("kid %v sid %v, want version %s", got["kid"], got["sid"], version)
	}
	attrs := got["attributes"].(map[string]any)
	if int64(attrs["exp"].(float64)) != cert.NotAfter.Unix() || attrs["enabled"] != true {
		t.Fatalf("attributes %v", attrs)
	}

	sec := mustCall(t, s, v, http.MethodGet, "/secrets/web", "")
	if sec["managed"] != true || sec["contentType"] != contentTypePEM || sec["kid"] != got["kid"] {
		t.Fatalf("secret %v", sec)
	}
	m, err := parseSecretValue(contentTypePEM, sec["value"].(string))
	if err != nil || !publicKeysEqual(m.key.Public(), cert.PublicKey) || !m.leaf.Equal(cert) {
		t.Fatalf("the secret does not hold the certificate with its key: %v", err)
	}
	key := mustCall(t, s, v, http.MethodGet, "/keys/web", "")
	if key["managed"] != true || key["key"].(map[string]any)["crv"] != "P-384" {
		t.Fatalf("key %v", key)
	}

	for _, req := range [][3]string{
		{http.MethodDelete, "/keys/web", ""}, {http.MethodDelete, "/secrets/web", ""},
		{http.MethodPatch, "/keys/web", `{"attributes":{"enabled":false}}`}, {http.MethodPatch, "/secrets/web", `{"contentType":"x"}`},
		{http.MethodPut, "/secrets/web", `{"value":"v"}`}, {http.MethodPost, "/keys/web/create", `{"kty":"EC"}`},
		{http.MethodPost, "/keys/web/rotate", ""}, {http.MethodPost, "/keys/web/backup", ""},
	} {
		_, _, err := testCall(t, s, v, req[0], req[1], req[2])
		wantStatus(t, err, http.StatusForbidden, "Forbidden")
	}

	del := mustCall(t, s, v, http.MethodDelete, "/certificates/web", "")
	if del["recoveryId"] != "https://unit.vault.azure.net/deletedcertificates/web" || del["cer"] != got["cer"] {
		t.Fatalf("deleted %v", del)
	}
	_, _, err = testCall(t, s, v, http.MethodGet, "/keys/web", "")
	wantStatus(t, err, http.StatusNotFound, "KeyNotFound")
	_, _, err = testCall(t, s, v, http.MethodGet, "/secrets/web", "")
	wantStatus(t, err, http.StatusNotFound, "SecretNotFound")
	if dk := mustCall(t, s, v, http.MethodGet, "/deletedkeys", ""); len(dk["value"].([]any)) != 0 {
		t.Fatalf("a certificate's deleted key is listed on its own: %v", dk)
	}
	_, _, err = testCall(t, s, v, http.MethodPost, "/deletedkeys/web/recover", "")
	wantStatus(t, err, http.StatusForbidden, "Forbidden")
	mustCall(t, s, v, http.MethodPost, "/deletedcertificates/web/recover", "")
	mustCall(t, s, v, http.MethodGet, "/keys/web", "")
	mustCall(t, s, v, http.MethodGet, "/secrets/web", "")

	mustCall(t, s, v, http.MethodDelete, "/certificates/web", "")
	if st, _, err := testCall(t, s, v, http.MethodDelete, "/deletedcertificates/web", ""); err != nil || st != http.StatusNoContent {
		t.Fatalf("purge: %d %v", st, err)
	}
	for _, p := range []string{"/deletedkeys/web", "/deletedsecrets/web", "/deletedcertificates/web"} {
		if _, _, err := testCall(t, s, v, http.MethodGet, p, ""); err == nil {
			t.Errorf("%s still there after the purge", p)
		}
	}
	// The name is free again, for a certificate or a plain secret.
	mustCall(t, s, v, http.MethodPut, "/secrets/web", `{"value":"plain"}`)
	_, _, err = testCall(t, s, v, http.MethodPost, "/certificates/web/create", `{"policy":{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=x"}}}`)
	wantStatus(t, err, http.StatusConflict, "Conflict")
}

// TestCertificate_Merge: issuer Unknown leaves the operation in progress with a CSR; the
// certificate signed elsewhere is merged and becomes the current version, its key the one
// the CSR was made with.
func TestCertificate_Merge(t *testing.T) {
	s, v := newTestService(t, &clock{time.Now()}, DefaultSettings())
	op := mustCall(t, s, v, http.MethodPost, "/certificates/ext/create", `{"policy":{"issuer":{"name":"Unknown"},"x509_props":{"subject":"CN=ext"}}}`)
	if op["status"] != "inProgress" {
		t.Fatalf("operation %v", op)
	}
	_, _, err := testCall(t, s, v, http.MethodGet, "/certificates/ext", "")
	wantStatus(t, err, http.StatusNotFound, "CertificateNotFound")
	csrDER, _ := base64.StdEncoding.DecodeString(op["csr"].(string))
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil || csr.CheckSignature() != nil || csr.Subject.CommonName != "ext" {
		t.Fatalf("csr: %v", err)
	}
	ca, caKey := testCA(t)
	signed := signCSR(t, csr, ca, caKey)

	// A certificate for another key is refused, and nothing changes.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	wrong := signCSR(t, &x509.CertificateRequest{Subject: csr.Subject, PublicKey: &other.PublicKey}, ca, caKey)
	_, _, err = testCall(t, s, v, http.MethodPost, "/certificates/ext/pending/merge", `{"x5c":["`+base64.StdEncoding.EncodeToString(wrong)+`"]}`)
	wantStatus(t, err, http.StatusBadRequest, "BadParameter")

	st, got, err := testCall(t, s, v, http.MethodPost, "/certificates/ext/pending/merge",
		`{"x5c":["`+base64.StdEncoding.EncodeToString(signed)+`","`+base64.StdEncoding.EncodeToString(ca.Raw)+`"]}`)
	if err != nil || st != http.StatusCreated {
		t.Fatalf("merge: %d %v", st, err)
	}
	if !cerOf(t, got).Equal(mustParse(t, signed)) {
		t.Fatal("the merged certificate is not current")
	}
	if op := mustCall(t, s, v, http.MethodGet, "/certificates/ext/pending", ""); op["status"] != "completed" || op["target"] != "https://unit.vault.azure.net/certificates/ext" {
		t.Fatalf("operation after merge: %v", op)
	}
	sec := mustCall(t, s, v, http.MethodGet, "/secrets/ext", "")
	m, err := parseSecretValue(contentTypePKCS12, sec["value"].(string))
	if err != nil || len(m.chain) != 2 || !publicKeysEqual(m.key.Public(), csr.PublicKey) {
		t.Fatalf("secret after merge: %v (%d certificates)", err, len(m.chain))
	}
	_, _, err = testCall(t, s, v, http.MethodPost, "/certificates/ext/pending/merge", `{"x5c":["`+base64.StdEncoding.EncodeToString(signed)+`"]}`)
	wantStatus(t, err, http.StatusNotFound, "PendingCertificateNotFound")

	// Cancel and delete an operation: a certificate that never completed goes with it.
	mustCall(t, s, v, http.MethodPost, "/certificates/never/create", `{"policy":{"issuer":{"name":"Unknown"},"x509_props":{"subject":"CN=never"}}}`)
	if op := mustCall(t, s, v, http.MethodPatch, "/certificates/never/pending", `{"cancellation_requested":true}`); op["status"] != "cancelled" || op["cancellation_requested"] != true {
		t.Fatalf("cancelled: %v", op)
	}
	mustCall(t, s, v, http.MethodDelete, "/certificates/never/pending", "")
	_, _, err = testCall(t, s, v, http.MethodGet, "/certificates/never/pending", "")
	wantStatus(t, err, http.StatusNotFound, "CertificateNotFound")
}

// TestCertificate_Import: PFX (with and without a password) and PEM import with the policy
// Key Vault derives; bad input is a 400 that writes nothing.
func TestCertificate_Import(t *testing.T) {
	s, v := newTestService(t, &clock{time.Now()}, DefaultSettings())
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	leaf := selfSigned(t, key, "CN=imported")
	pfx, _ := pkcs12.LegacyDES.Encode(key, leaf, nil, "pw")
	got := mustCall(t, s, v, http.MethodPost, "/certificates/pfx/import", `{"value":"`+base64.StdEncoding.EncodeToString(pfx)+`","pwd":"pw","attributes":{"enabled":false}}`)
	pol := got["policy"].(map[string]any)
	if !cerOf(t, got).Equal(leaf) || got["attributes"].(map[string]any)["enabled"] != false || pol["issuer"].(map[string]any)["name"] != "Unknown" ||
		pol["x509_props"].(map[string]any)["subject"] != "CN=imported" || pol["key_props"].(map[string]any)["key_size"] != float64(2048) {
		t.Fatalf("imported %v", got)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})) + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	got = mustCall(t, s, v, http.MethodPost, "/certificates/pem/import", `{"value":`+mustJSON(pemText)+`}`)
	if got["contentType"] != contentTypePEM || !cerOf(t, got).Equal(leaf) {
		t.Fatalf("PEM import: %v", got)
	}

	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallPFX, _ := pkcs12.LegacyDES.Encode(small, selfSigned(t, small, "CN=small"), nil, "")
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherDER, _ := x509.MarshalPKCS8PrivateKey(otherKey)
	for name, body := range map[string]string{
		"not base64":        `{"value":"!!!"}`,
		"not a PFX":         `{"value":"` + base64.StdEncoding.EncodeToString([]byte("hello")) + `"}`,
		"wrong password":    `{"value":"` + base64.StdEncoding.EncodeToString(pfx) + `","pwd":"nope"}`,
		"PEM without key":   `{"value":` + mustJSON(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))) + `}`,
		"PEM key mismatch":  `{"value":` + mustJSON(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))+string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: otherDER}))) + `}`,
		"PEM garbage cert":  `{"value":` + mustJSON("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n") + `}`,
		"RSA 1024":          `{"value":"` + base64.StdEncoding.EncodeToString(smallPFX) + `"}`,
		"empty value":       `{"value":""}`,
		"bad policy":        `{"value":"` + base64.StdEncoding.EncodeToString(pfx) + `","pwd":"pw","policy":{"secret_props":{"contentType":"text/plain"}}}`,
		"not json":          `{"value":`,
		"encrypted PEM key": `{"value":` + mustJSON("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n") + `}`,
	} {
		_, _, err := testCall(t, s, v, http.MethodPost, "/certificates/bad/import", body)
		e, ok := azerr.As(err)
		if !ok || e.Status != http.StatusBadRequest || e.Code != "BadParameter" {
			t.Errorf("%s: %v, want 400 BadParameter", name, err)
		}
	}
	for _, p := range []string{"/certificates/bad", "/keys/bad", "/secrets/bad"} {
		if _, _, err := testCall(t, s, v, http.MethodGet, p, ""); err == nil {
			t.Errorf("%s exists after refused imports", p)
		}
	}
	_, _, err := testCall(t, s, v, http.MethodPost, "/certificates/bad_name/import", `{"value":"x"}`)
	wantStatus(t, err, http.StatusBadRequest, "BadParameter")
}

func TestCertificate_PolicyValidation(t *testing.T) {
	s, v := newTestService(t, &clock{time.Now()}, DefaultSettings())
	for _, pol := range []string{
		`{"issuer":{"name":"Self"}}`, // no subject
		`{"issuer":{"name":"Self"},"x509_props":{"subject":"not a dn"}}`,
		`{"issuer":{"name":"Self"},"x509_props":{"subject":"XX=foo"}}`,
		`{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=a"},"key_props":{"kty":"oct"}}`,
		`{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=a"},"key_props":{"kty":"RSA","key_size":1000}}`,
		`{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=a"},"key_props":{"kty":"EC","crv":"P-256K"}}`,
		`{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=a","validity_months":0}}`,
		`{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=a","key_usage":["everything"]}}`,
		`{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=a","ekus":["server"]}}`,
		`{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=a"},"lifetime_actions":[{"trigger":{},"action":{"action_type":"AutoRenew"}}]}`,
		`{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=a"},"lifetime_actions":[{"trigger":{"lifetime_percentage":100},"action":{"action_type":"AutoRenew"}}]}`,
		`{"issuer":{"name":"DigiCert"},"x509_props":{"subject":"CN=a"}}`,
		`{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=a","sans":{"upns":["a@b"]}}}`,
		`{"issuer":{"name":"Self"},"x509_props":"CN=a"}`,
	} {
		_, _, err := testCall(t, s, v, http.MethodPost, "/certificates/c/create", `{"policy":`+pol+`}`)
		if e, ok := azerr.As(err); !ok || e.Status != http.StatusBadRequest {
			t.Errorf("policy %s: %v, want 400", pol, err)
		}
	}
	_, _, err := testCall(t, s, v, http.MethodPost, "/certificates/c/create", `{}`)
	wantStatus(t, err, http.StatusBadRequest, "BadParameter")
	if _, _, err := testCall(t, s, v, http.MethodGet, "/certificates?includePending=true", ""); err != nil {
		t.Fatal(err)
	}
	if l := mustCall(t, s, v, http.MethodGet, "/certificates?includePending=true", ""); len(l["value"].([]any)) != 0 {
		t.Fatalf("refused creations left certificates: %v", l)
	}
}

func TestParseSubject(t *testing.T) {
	for in, want := range map[string]string{
		"CN=www.contoso.com":                      "CN=www.contoso.com",
		"CN=a, O=Contoso, C=US":                   "CN=a,O=Contoso,C=US",
		`CN="Doe, John", OU=R\,D`:                 `CN=Doe\, John,OU=R\,D`,
		"CN=a;O=b":                                "CN=a,O=b",
		"CN=x, 2.5.4.11=dept, DC=contoso, DC=com": "CN=x,OU=dept,0.9.2342.19200300.100.1.25=#1307636f6e746f736f,0.9.2342.19200300.100.1.25=#1303636f6d",
	} {
		n, err := parseSubject(in)
		if err != nil {
			t.Errorf("parseSubject(%q): %v", in, err)
		} else if got := n.String(); got != want {
			t.Errorf("parseSubject(%q) = %s, want %s", in, got, want)
		}
	}
	if n, err := parseSubject("CN=x, E=a@b.com"); err != nil || n.CommonName != "x" || len(n.Names) != 2 {
		t.Errorf("parseSubject with an email attribute: %v %v", n, err)
	}
	for _, in := range []string{"", "CN", "=x", "CN=", "FOO=bar", `CN="open`, `CN=a\`, "CN=a,,O=b"} {
		if _, err := parseSubject(in); err == nil {
			t.Errorf("parseSubject(%q) accepted", in)
		}
	}
}

func TestCertificate_BackupRestore(t *testing.T) {
	s, v := newTestService(t, &clock{time.Now()}, DefaultSettings())
	created := mustCall(t, s, v, http.MethodPost, "/certificates/b/create", `{"policy":{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=b"}}}`)
	_ = created
	orig := mustCall(t, s, v, http.MethodGet, "/certificates/b", "")
	backup := mustCall(t, s, v, http.MethodPost, "/certificates/b/backup", "")
	_, _, err := testCall(t, s, v, http.MethodPost, "/certificates/restore", `{"value":"`+backup["value"].(string)+`"}`)
	wantStatus(t, err, http.StatusConflict, "Conflict")
	mustCall(t, s, v, http.MethodDelete, "/certificates/b", "")
	mustCall(t, s, v, http.MethodDelete, "/deletedcertificates/b", "")
	restored := mustCall(t, s, v, http.MethodPost, "/certificates/restore", `{"value":"`+backup["value"].(string)+`"}`)
	if restored["id"] != orig["id"] || restored["cer"] != orig["cer"] {
		t.Fatalf("restored %v, want %v", restored["id"], orig["id"])
	}
	sec := mustCall(t, s, v, http.MethodGet, "/secrets/b", "")
	if sec["managed"] != true {
		t.Fatalf("restored secret %v", sec)
	}
	_, _, err = testCall(t, s, v, http.MethodDelete, "/secrets/b", "")
	wantStatus(t, err, http.StatusForbidden, "Forbidden")
	// A key backup is not a certificate backup.
	mustCall(t, s, v, http.MethodPost, "/keys/plain/create", `{"kty":"RSA"}`)
	kb := mustCall(t, s, v, http.MethodPost, "/keys/plain/backup", "")
	_, _, err = testCall(t, s, v, http.MethodPost, "/certificates/restore", `{"value":"`+kb["value"].(string)+`"}`)
	wantStatus(t, err, http.StatusBadRequest, "BadParameter")
}

// ---- helpers ----

func selfSigned(t *testing.T, key *rsa.PrivateKey, subject string) *x509.Certificate {
	t.Helper()
	name, err := parseSubject(subject)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: name, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		DNSNames: []string{"imported.example"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, der)
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return mustParse(t, der), key
}

func signCSR(t *testing.T, csr *x509.CertificateRequest, ca *x509.Certificate, caKey *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: csr.Subject, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, csr.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestCertificate_AutoRenew: the policy sweep renews a Self certificate when its AutoRenew
// action fires (at a lifetime percentage), keeping its policy; a certificate whose action
// is EmailContacts is left alone.
func TestCertificate_AutoRenew(t *testing.T) {
	clk := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, v := newTestService(t, clk, DefaultSettings())
	mustCall(t, s, v, http.MethodPost, "/certificates/renewed/create", `{"policy":{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=r","validity_months":10},
		"lifetime_actions":[{"trigger":{"lifetime_percentage":50},"action":{"action_type":"AutoRenew"}}]}}`)
	mustCall(t, s, v, http.MethodPost, "/certificates/notified/create", `{"policy":{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=n","validity_months":10},
		"lifetime_actions":[{"trigger":{"lifetime_percentage":50},"action":{"action_type":"EmailContacts"}}]}}`)
	first := mustCall(t, s, v, http.MethodGet, "/certificates/renewed", "")["id"]
	clk.t = clk.t.AddDate(0, 4, 0)
	if ids, err := s.RotateDue(context.Background()); err != nil || len(ids) != 0 {
		t.Fatalf("at 40%% of the lifetime: %v %v", ids, err)
	}
	clk.t = clk.t.AddDate(0, 1, 1)
	ids, err := s.RotateDue(context.Background())
	if err != nil || len(ids) != 1 {
		t.Fatalf("past 50%% of the lifetime: renewed %v, %v; want the AutoRenew certificate only", ids, err)
	}
	got := mustCall(t, s, v, http.MethodGet, "/certificates/renewed", "")
	if got["id"] == first || got["id"] != ids[0] || !cerOf(t, got).NotBefore.Equal(clk.t) {
		t.Fatalf("after renewal: %v (first %v)", got["id"], first)
	}
	if ids, _ := s.RotateDue(context.Background()); len(ids) != 0 {
		t.Fatalf("renewed again at once: %v", ids)
	}
}

// TestCertificate_AccessPolicy: in a vault with access policies, certificate operations need
// the certificates permission Key Vault names for each.
func TestCertificate_AccessPolicy(t *testing.T) {
	s, v := newTestService(t, &clock{time.Now()}, DefaultSettings())
	mustCall(t, s, v, http.MethodPost, "/certificates/ap/create", `{"policy":{"issuer":{"name":"Self"},"x509_props":{"subject":"CN=ap"}}}`)
	limited := v
	limited.AccessPolicies = []AccessPolicy{{TenantID: "t", ObjectID: testOID, Permissions: Permissions{Certificates: []string{"Get", "List"}}}}
	mustCall(t, s, limited, http.MethodGet, "/certificates/ap", "")
	mustCall(t, s, limited, http.MethodGet, "/certificates", "")
	for _, req := range [][3]string{
		{http.MethodPost, "/certificates/ap/create", `{}`}, {http.MethodDelete, "/certificates/ap", ""},
		{http.MethodPut, "/certificates/contacts", `{"contacts":[{"email":"a@b"}]}`}, {http.MethodGet, "/certificates/issuers", ""},
		{http.MethodGet, "/secrets/ap", ""},
	} {
		_, _, err := testCall(t, s, limited, req[0], req[1], req[2])
		if e, ok := azerr.As(err); !ok || e.Status != http.StatusForbidden || !strings.Contains(mustJSON(e), "AccessDenied") {
			t.Errorf("%s %s with certificates get/list only: %v, want 403 AccessDenied", req[0], req[1], err)
		}
	}
}
