package keyvault

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/store/sqlite"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

const testOID = "11111111-1111-1111-1111-111111111111"

// newTestService is the data plane over a fresh store with one access-policy vault whose
// policy grants testOID everything. Tests call handlers through testCall, past
// authentication (which the end-to-end tests cover with real tokens).
func newTestService(t testing.TB, clk *clock, settings Settings) (*Service, Vault) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kv.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, _ := seal.New(make([]byte, 32))
	s := New(db, b, nil, access.New(db), clk.now, settings)
	v := Vault{Name: "unit", UID: "uid1", ResourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/unit",
		SubscriptionID: "s", TenantID: "t", Location: "westus", RetentionDays: 7,
		AccessPolicies: []AccessPolicy{{TenantID: "t", ObjectID: testOID, Permissions: Permissions{Keys: []string{"all"}, Secrets: []string{"all"}, Certificates: []string{"all"}}}}}
	if err := db.Update(context.Background(), func(tx store.Tx) error { return PutVaultTx(tx, v) }); err != nil {
		t.Fatal(err)
	}
	return s, v
}

// testCall runs one request against the vault as testOID and returns status and JSON body.
func testCall(t testing.TB, s *Service, v Vault, method, path, body string) (int, map[string]any, error) {
	t.Helper()
	r := httptest.NewRequest(method, "https://unit.vault.azure.net"+path, strings.NewReader(body))
	c := &call{ctx: context.Background(), r: r, vault: v, body: []byte(body), svc: s, base: "https://unit.vault.azure.net"}
	c.caller.ObjectID = testOID
	p, _, _ := strings.Cut(path, "?")
	status, out, err := s.route(c, strings.Split(strings.TrimPrefix(p, "/"), "/"))
	if err != nil {
		return 0, nil, err
	}
	var m map[string]any
	if out != nil {
		b, _ := json.Marshal(out)
		_ = json.Unmarshal(b, &m)
	}
	return status, m, nil
}

func mustCall(t testing.TB, s *Service, v Vault, method, path, body string) map[string]any {
	t.Helper()
	status, m, err := testCall(t, s, v, method, path, body)
	if err != nil || status >= 300 {
		t.Fatalf("%s %s: %d %v", method, path, status, err)
	}
	return m
}

func kidOf(m map[string]any) string { return m["key"].(map[string]any)["kid"].(string) }

func TestRotationPolicy_RotatesOnSchedule(t *testing.T) {
	clk := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, v := newTestService(t, clk, DefaultSettings())
	first := kidOf(mustCall(t, s, v, http.MethodPost, "/keys/cmk/create", `{"kty":"RSA"}`))
	mustCall(t, s, v, http.MethodPut, "/keys/cmk/rotationpolicy",
		`{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},"action":{"type":"rotate"}},{"trigger":{"timeBeforeExpiry":"P10D"},"action":{"type":"Notify"}}],"attributes":{"expiryTime":"P90D"}}`)
	pol := mustCall(t, s, v, http.MethodGet, "/keys/cmk/rotationpolicy", "")
	if pol["id"] != "https://unit.vault.azure.net/keys/cmk/rotationpolicy" || !strings.Contains(mustJSON(pol), `"type":"Rotate"`) {
		t.Fatalf("policy = %v", pol)
	}

	clk.t = clk.t.AddDate(0, 0, 29)
	if rotated, err := s.RotateDue(context.Background()); err != nil || len(rotated) != 0 {
		t.Fatalf("day 29: rotated %v, %v; want nothing yet", rotated, err)
	}
	clk.t = clk.t.AddDate(0, 0, 1)
	rotated, err := s.RotateDue(context.Background())
	if err != nil || len(rotated) != 1 {
		t.Fatalf("day 30: rotated %v, %v; want the key", rotated, err)
	}
	latest := mustCall(t, s, v, http.MethodGet, "/keys/cmk", "")
	if kidOf(latest) == first || kidOf(latest) != rotated[0] {
		t.Fatalf("latest %s after rotation, first %s, rotated %v", kidOf(latest), first, rotated)
	}
	attrs := latest["attributes"].(map[string]any)
	wantExp := clk.t.AddDate(0, 0, 90).Unix()
	if int64(attrs["exp"].(float64)) != wantExp {
		t.Fatalf("rotated version expires %v, want expiryTime P90D from rotation (%d)", attrs["exp"], wantExp)
	}
	if rotated, _ := s.RotateDue(context.Background()); len(rotated) != 0 {
		t.Fatalf("rotated again at once: %v", rotated)
	}
	// timeBeforeExpiry: with a Rotate action 10 days before expiry, a version that expires
	// in 9 days is rotated.
	mustCall(t, s, v, http.MethodPut, "/keys/cmk/rotationpolicy",
		`{"lifetimeActions":[{"trigger":{"timeBeforeExpiry":"P10D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P90D"}}`)
	clk.t = clk.t.AddDate(0, 0, 81)
	if rotated, _ := s.RotateDue(context.Background()); len(rotated) != 1 {
		t.Fatalf("9 days before expiry: rotated %v, want the key", rotated)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestRotationPolicy_Validation(t *testing.T) {
	clk := &clock{time.Now()}
	s, v := newTestService(t, clk, DefaultSettings())
	mustCall(t, s, v, http.MethodPost, "/keys/k/create", `{"kty":"RSA"}`)
	for _, body := range []string{
		`{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P6D"},"action":{"type":"Rotate"}}]}`,
		`{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D","timeBeforeExpiry":"P30D"},"action":{"type":"Rotate"}}]}`,
		`{"lifetimeActions":[{"trigger":{},"action":{"type":"Rotate"}}]}`,
		`{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},"action":{"type":"Explode"}}]}`,
		`{"lifetimeActions":[{"trigger":{"timeAfterCreate":"30 days"},"action":{"type":"Rotate"}}]}`,
		`{"lifetimeActions":[],"attributes":{"expiryTime":"P27D"}}`,
		`{"lifetimeActions":[{"trigger":{"timeBeforeExpiry":"P100D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P90D"}}`,
		`{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},"action":{"type":"Notify"}}]}`,
		`{"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},"action":{"type":"Rotate"}},{"trigger":{"timeAfterCreate":"P60D"},"action":{"type":"Rotate"}}]}`,
		`not json`,
	} {
		_, _, err := testCall(t, s, v, http.MethodPut, "/keys/k/rotationpolicy", body)
		if e, ok := azerr.As(err); !ok || e.Status != http.StatusBadRequest || e.Code != "BadParameter" {
			t.Errorf("policy %s: got %v, want 400 BadParameter", body, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]bool{"P90D": true, "P1Y2M": true, "P2W": true, "PT12H": true, "P1DT2H3M4S": true,
		"P": false, "PT": false, "90D": false, "P-1D": false, "P1H": false, "": false} {
		if _, ok := parseDuration(in); ok != want {
			t.Errorf("parseDuration(%q) ok = %v, want %v", in, ok, want)
		}
	}
}

func TestThrottle(t *testing.T) {
	clk := &clock{time.Now()}
	s, v := newTestService(t, clk, Settings{Throttle: true})
	c := &call{ctx: context.Background(), vault: v, svc: s}
	segs := []string{"secrets", "x"}
	for i := 0; i < throttleBudgets["secrets"]; i++ {
		if err := s.limits.allow(c, segs); err != nil {
			t.Fatalf("request %d throttled: %v", i, err)
		}
	}
	err := s.limits.allow(c, segs)
	e, ok := azerr.As(err)
	if !ok || e.Status != http.StatusTooManyRequests || e.Header.Get("Retry-After") == "" {
		t.Fatalf("over budget: %v, want 429 with Retry-After", err)
	}
	clk.t = clk.t.Add(throttleWindow)
	if err := s.limits.allow(c, segs); err != nil {
		t.Fatalf("next window still throttled: %v", err)
	}
	off, v2 := newTestService(t, clk, Settings{})
	c2 := &call{ctx: context.Background(), vault: v2, svc: off}
	for i := 0; i < throttleBudgets["secrets"]+10; i++ {
		if err := off.limits.allow(c2, segs); err != nil {
			t.Fatalf("throttled with throttling off: %v", err)
		}
	}
}

func TestPurgeExpired(t *testing.T) {
	clk := &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, v := newTestService(t, clk, DefaultSettings())
	mustCall(t, s, v, http.MethodPut, "/secrets/old", `{"value":"v"}`)
	mustCall(t, s, v, http.MethodDelete, "/secrets/old", "")
	clk.t = clk.t.AddDate(0, 0, 6)
	s.RotateDue(context.Background())
	if _, _, err := testCall(t, s, v, http.MethodGet, "/deletedsecrets/old", ""); err != nil {
		t.Fatalf("day 6 of 7: the deleted secret is gone: %v", err)
	}
	clk.t = clk.t.AddDate(0, 0, 1)
	s.RotateDue(context.Background())
	if _, _, err := testCall(t, s, v, http.MethodGet, "/deletedsecrets/old", ""); err == nil {
		t.Fatal("past its scheduled purge date the deleted secret is still there")
	}
}

func TestKeyOperationsHonourKeyOps(t *testing.T) {
	s, v := newTestService(t, &clock{time.Now()}, DefaultSettings())
	mustCall(t, s, v, http.MethodPost, "/keys/signer/create", `{"kty":"RSA","key_ops":["sign","verify"]}`)
	_, _, err := testCall(t, s, v, http.MethodPost, "/keys/signer/wrapkey", `{"alg":"RSA-OAEP","value":"AAAA"}`)
	if e, ok := azerr.As(err); !ok || e.Status != http.StatusForbidden {
		t.Fatalf("wrap with a sign-only key: %v, want 403", err)
	}
	mustCall(t, s, v, http.MethodPost, "/keys/signer/sign", `{"alg":"PS256","value":"`+b64enc(make([]byte, 32))+`"}`)
	mustCall(t, s, v, http.MethodPost, "/keys/ec/create", `{"kty":"EC","crv":"P-384"}`)
	sig := mustCall(t, s, v, http.MethodPost, "/keys/ec/sign", `{"alg":"ES384","value":"`+b64enc(make([]byte, 48))+`"}`)
	ok := mustCall(t, s, v, http.MethodPost, "/keys/ec/verify", `{"alg":"ES384","digest":"`+b64enc(make([]byte, 48))+`","value":"`+sig["value"].(string)+`"}`)
	if ok["value"] != true {
		t.Fatalf("ES384 verify = %v", ok)
	}
	_, _, err = testCall(t, s, v, http.MethodPost, "/keys/ec/sign", `{"alg":"RS256","value":"`+b64enc(make([]byte, 32))+`"}`)
	if e, ok := azerr.As(err); !ok || e.Code != "BadParameter" {
		t.Fatalf("RS256 with an EC key: %v, want BadParameter", err)
	}
}
