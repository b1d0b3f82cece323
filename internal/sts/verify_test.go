package sts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/store/sqlite"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

var armAudiences = []string{"https://management.core.windows.net/", "https://management.azure.com/"}

func newService(t *testing.T) (*Service, directory.Principal) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	root := make([]byte, 32)
	b, _ := seal.New(root)
	dir := directory.New(db, b, time.Now)
	if _, _, err := dir.EnsureTenant(ctx); err != nil {
		t.Fatal(err)
	}
	var sp directory.Principal
	if err := db.Update(ctx, func(tx store.Tx) error {
		sp, err = dir.CreatePrincipal(tx, directory.Principal{Kind: directory.KindServicePrincipal, DisplayName: "app"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s, err := New(ctx, dir, db, b, root, DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	return s, sp
}

func b64(v any) string {
	j, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(j)
}

// TestService_Verify_Forged shows that no forged or misdirected token is accepted.
func TestService_Verify_Forged(t *testing.T) {
	s, sp := newService(t)
	ctx := context.Background()
	good, err := s.issue(sp, "https://management.azure.com/", time.Hour, false, "", acrSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, good.Token, armAudiences); err != nil {
		t.Fatalf("a genuine token was refused: %v", err)
	}
	key, _ := s.keys.current()
	now := time.Now().Unix()
	claims := func(mod func(m map[string]any)) map[string]any {
		m := map[string]any{"aud": "https://management.azure.com/", "iss": v1Issuer(s.tenant.ID), "tid": s.tenant.ID,
			"oid": sp.ObjectID, "sub": sp.ObjectID, "appid": sp.AppID, "idtyp": "app", "ver": "1.0",
			"iat": now, "nbf": now, "exp": now + 3600}
		if mod != nil {
			mod(m)
		}
		return m
	}
	signWithReal := func(m map[string]any) string {
		tok, err := jwt.Signed(key.signer).Claims(m).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	signWith := func(k *rsa.PrivateKey, kid string, m map[string]any) string {
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jwt.Signed(sig).Claims(m).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.priv.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hs256 := func(secret []byte) string {
		h := b64(map[string]any{"alg": "HS256", "typ": "JWT", "kid": key.kid})
		p := b64(claims(nil))
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(h + "." + p))
		return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	parts := strings.Split(good.Token, ".")
	tests := []struct {
		name, token, wantCode string
	}{
		{"alg none", b64(map[string]any{"alg": "none", "typ": "JWT"}) + "." + b64(claims(nil)) + ".", "InvalidAuthenticationToken"},
		{"alg none with kid", b64(map[string]any{"alg": "none", "kid": key.kid}) + "." + b64(claims(nil)) + ".", "InvalidAuthenticationToken"},
		{"HS256 keyed with the public key PEM", hs256(pubPEM), "InvalidAuthenticationToken"},
		{"HS256 keyed with the public key DER", hs256(pubDER), "InvalidAuthenticationToken"},
		{"unknown kid", signWith(otherKey, "not-a-kid", claims(nil)), "InvalidAuthenticationToken"},
		{"known kid, other key", signWith(otherKey, key.kid, claims(nil)), "InvalidAuthenticationToken"},
		{"tampered payload", parts[0] + "." + b64(claims(func(m map[string]any) { m["oid"] = "00000000-0000-0000-0000-000000000001" })) + "." + parts[2], "InvalidAuthenticationToken"},
		{"signature stripped", parts[0] + "." + parts[1] + ".", "InvalidAuthenticationToken"},
		{"wrong audience", signWithReal(claims(func(m map[string]any) { m["aud"] = "https://vault.azure.net" })), "InvalidAuthenticationTokenAudience"},
		{"no audience", signWithReal(claims(func(m map[string]any) { delete(m, "aud") })), "InvalidAuthenticationTokenAudience"},
		{"wrong issuer", signWithReal(claims(func(m map[string]any) { m["iss"] = "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/" })), "InvalidAuthenticationTokenTenant"},
		{"wrong tenant", signWithReal(claims(func(m map[string]any) { m["tid"] = "72f988bf-86f1-41af-91ab-2d7cd011db47" })), "InvalidAuthenticationTokenTenant"},
		{"expired", signWithReal(claims(func(m map[string]any) { m["exp"] = now - 3600; m["nbf"] = now - 7200 })), "ExpiredAuthenticationToken"},
		{"no expiry", signWithReal(claims(func(m map[string]any) { delete(m, "exp") })), "ExpiredAuthenticationToken"},
		{"not yet valid", signWithReal(claims(func(m map[string]any) { m["nbf"] = now + 3600 })), "InvalidAuthenticationToken"},
		{"no oid", signWithReal(claims(func(m map[string]any) { delete(m, "oid") })), "InvalidAuthenticationToken"},
		{"garbage", "not.a.jwt", "InvalidAuthenticationToken"},
		{"empty", "", "InvalidAuthenticationToken"},
	}
	accepted := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Verify(ctx, tt.token, armAudiences)
			if err == nil {
				accepted++
				t.Fatal("forged token accepted")
			}
			e, ok := azerr.As(err)
			if !ok || e.Status != http.StatusUnauthorized || e.Code != tt.wantCode {
				t.Fatalf("got %v, want 401 %s", err, tt.wantCode)
			}
		})
	}
	t.Logf("forged tokens accepted: %d of %d", accepted, len(tests))
}

func TestService_Verify_PreviousKeyAfterRotation(t *testing.T) {
	s, sp := newService(t)
	ctx := context.Background()
	old, _ := s.issue(sp, "https://management.azure.com/", time.Hour, false, "", acrSecret)
	if err := s.RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, old.Token, armAudiences); err != nil {
		t.Fatalf("token signed by the previous key refused: %v", err)
	}
	if err := s.RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, old.Token, armAudiences); err == nil {
		t.Fatal("token signed by a retired key (two rotations ago) accepted")
	}
}

func TestResourceFromScope(t *testing.T) {
	tests := []struct{ scope, want string }{
		{"https://management.azure.com/.default", "https://management.azure.com"},
		{"https://management.core.windows.net//.default", "https://management.core.windows.net/"},
		{"https://vault.azure.net/.default openid profile offline_access", "https://vault.azure.net"},
	}
	for _, tt := range tests {
		got, err := resourceFromScope(tt.scope)
		if err != nil || got != tt.want {
			t.Errorf("resourceFromScope(%q) = %q, %v; want %q", tt.scope, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "https://vault.azure.net", "a/.default b/.default", "openid"} {
		if _, err := resourceFromScope(bad); err == nil {
			t.Errorf("resourceFromScope(%q) accepted", bad)
		}
	}
}

// TestService_RotationByAnotherInstance: a rotation made by another service on the same
// store (another instance, or `cerulean signing-key rotate`) is picked up for signing after
// the refresh interval, and tokens signed by the new key verify.
func TestService_RotationByAnotherInstance(t *testing.T) {
	s, sp := newService(t)
	ctx := context.Background()
	other, err := New(ctx, s.dir, s.dir.Store(), s.keys.barrier, make([]byte, 32), DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.keys.current()
	if err := other.RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	if k, _ := s.keys.current(); k.kid != before.kid {
		t.Fatalf("signing key changed before the refresh interval")
	}
	s.keys.mu.Lock()
	s.keys.lastReload = time.Now().Add(-2 * s.keys.refresh)
	s.keys.mu.Unlock()
	after, _ := s.keys.current()
	if after.kid == before.kid || after.kid != other.SigningKeys()[0].KeyID {
		t.Fatalf("after the refresh interval signing with %s, want the rotated key %s", after.kid, other.SigningKeys()[0].KeyID)
	}
	fresh, _ := other.issue(sp, "https://management.azure.com/", time.Hour, false, "", acrSecret)
	if _, err := s.Verify(ctx, fresh.Token, armAudiences); err != nil {
		t.Fatalf("token signed by the rotated key refused: %v", err)
	}
}
