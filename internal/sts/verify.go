package sts

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// VerifyBearer validates the Authorization header of r for one of audiences (compared
// ignoring a trailing slash and case) and returns the token's claims. Every endpoint that
// takes a bearer token calls it: it checks the signature (RS256 only, by a current or
// previous signing key), the issuer and tenant, the audience, and the lifetime.
func (s *Service) VerifyBearer(r *http.Request, audiences []string) (Claims, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Claims{}, azerr.Unauthorized("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return Claims{}, azerr.Unauthorized("AuthenticationFailed", "Authentication failed. The 'Authorization' header is provided in an invalid format.")
	}
	return s.Verify(r.Context(), strings.TrimSpace(tok), audiences)
}

func invalidToken(reason string) error {
	return azerr.Unauthorized("InvalidAuthenticationToken", "The access token is invalid: %s.", reason)
}

// Verify validates a raw JWT for one of audiences. A token whose signature, issuer and
// tenant have been checked once is remembered (while its signing key is still published), so
// repeated calls with it only re-check audience and lifetime.
func (s *Service) Verify(ctx context.Context, raw string, audiences []string) (Claims, error) {
	if c, ok := s.verified.get(raw, s.keys); ok {
		return s.checkClaims(c, audiences)
	}
	c, kid, err := s.verifySignature(ctx, raw)
	if err != nil {
		return Claims{}, err
	}
	s.verified.put(raw, c, kid)
	return s.checkClaims(c, audiences)
}

// verifySignature checks a token's form, signature, issuer and tenant.
func (s *Service) verifySignature(ctx context.Context, raw string) (Claims, string, error) {
	var c Claims
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return c, "", invalidToken("it is not a JWT signed with RS256")
	}
	if len(tok.Headers) != 1 {
		return c, "", invalidToken("it must carry exactly one signature")
	}
	key, ok := s.keys.publicKey(ctx, tok.Headers[0].KeyID)
	if !ok {
		return c, "", invalidToken("it is not signed by a key of this service (unknown kid)")
	}
	if err := tok.Claims(key, &c); err != nil {
		return c, "", invalidToken("the signature does not verify")
	}
	if c.TenantID != s.tenant.ID || (c.Issuer != v1Issuer(s.tenant.ID) && c.Issuer != v2Issuer(s.tenant.ID)) {
		return Claims{}, "", azerr.Unauthorized("InvalidAuthenticationTokenTenant",
			"The access token is from the wrong issuer '%s'. It must match the tenant 'https://sts.windows.net/%s/' associated with this subscription. Cross-tenant access is not supported: please use a token issued by this tenant.",
			c.Issuer, s.tenant.ID)
	}
	return c, tok.Headers[0].KeyID, nil
}

// checkClaims checks what depends on the call and the time: audience, lifetime, oid.
func (s *Service) checkClaims(c Claims, audiences []string) (Claims, error) {
	if !audienceMatches(c.Audience, audiences) {
		return Claims{}, azerr.Unauthorized("InvalidAuthenticationTokenAudience",
			"The access token has been obtained for wrong audience or resource '%s'. It should exactly match with one of the allowed audiences '%s'.",
			c.Audience, strings.Join(audiences, "','"))
	}
	now := s.now()
	if c.Expiry == 0 || now.After(time.Unix(c.Expiry, 0).Add(s.settings.ClockSkew)) {
		return Claims{}, azerr.Unauthorized("ExpiredAuthenticationToken",
			"The access token expiry UTC time '%s' is earlier than current UTC time '%s'.",
			time.Unix(c.Expiry, 0).UTC().Format("1/2/2006 3:04:05 PM"), now.UTC().Format("1/2/2006 3:04:05 PM"))
	}
	if c.NotBefore != 0 && now.Add(s.settings.ClockSkew).Before(time.Unix(c.NotBefore, 0)) {
		return Claims{}, invalidToken("it is not valid yet (nbf is in the future)")
	}
	if c.ObjectID == "" {
		return Claims{}, invalidToken("it has no oid claim")
	}
	return c, nil
}

func normAudience(a string) string { return strings.ToLower(strings.TrimRight(a, "/")) }

func audienceMatches(aud string, allowed []string) bool {
	a := normAudience(aud)
	if a == "" {
		return false
	}
	for _, x := range allowed {
		if normAudience(x) == a {
			return true
		}
	}
	return false
}

// verifiedCache remembers tokens whose signature verified, by their raw text.
type verifiedCache struct {
	mu sync.Mutex
	m  map[string]verifiedEntry
}

type verifiedEntry struct {
	claims Claims
	kid    string
}

const verifiedCacheMax = 10000

func (v *verifiedCache) get(raw string, keys *keyring) (Claims, bool) {
	v.mu.Lock()
	e, ok := v.m[raw]
	v.mu.Unlock()
	if !ok || !keys.has(e.kid) {
		return Claims{}, false
	}
	return e.claims, true
}

func (v *verifiedCache) put(raw string, c Claims, kid string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil || len(v.m) >= verifiedCacheMax {
		v.m = map[string]verifiedEntry{}
	}
	v.m[raw] = verifiedEntry{c, kid}
}
