// Package sts is Cerulean's security token service: the token-signing keys and their JWKS,
// OpenID discovery, the OAuth2 token endpoint (v1, v2 and ADFS-style; client credentials
// with a client secret or a certificate-signed client assertion), the managed-identity token
// endpoints (IMDS-compatible, App Service-compatible, Cloud Shell-style) with seed 003's
// default-identity rules and limits, and the token validation every other endpoint uses.
//
// Tokens are RS256 JWTs carrying Azure's claims. The service serves one tenant; a token or a
// request for any other tenant is refused (cross-tenant is not supported).
//
// It does not decide what a principal may do (package authz) and knows nothing of ARM beyond
// the HostResolver interface through which it learns which identities a host carries.
package sts

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// Settings are the service's tunables, with Azure's defaults from DefaultSettings.
type Settings struct {
	// AppTokenLifetime is the lifetime of client-credential tokens (Entra: 60-90 minutes).
	AppTokenLifetime time.Duration
	// ManagedIdentityTokenLifetime is the lifetime of managed-identity tokens (about 24 h).
	ManagedIdentityTokenLifetime time.Duration
	// ManagedIdentityRate and ManagedIdentityBurst limit token requests per host
	// (seed 003: 20 requests per second); ManagedIdentityConcurrency caps requests in flight
	// per host (5). Zero disables a limit.
	ManagedIdentityRate        float64
	ManagedIdentityBurst       int
	ManagedIdentityConcurrency int
	// ManagedIdentityCacheRefresh: a cached managed-identity token is reused until it has less
	// than this long to live.
	ManagedIdentityCacheRefresh time.Duration
	// ClockSkew is the leeway allowed on nbf/exp when validating.
	ClockSkew time.Duration
	// DefaultIMDSHost is the ARM id of the host an IMDS call without proxy credentials
	// comes from; empty means such calls find no identity.
	DefaultIMDSHost string
}

// DefaultSettings returns Azure's documented behaviour.
func DefaultSettings() Settings {
	return Settings{
		AppTokenLifetime:             time.Hour + 30*time.Minute,
		ManagedIdentityTokenLifetime: 24 * time.Hour,
		ManagedIdentityRate:          20,
		ManagedIdentityBurst:         20,
		ManagedIdentityConcurrency:   5,
		ManagedIdentityCacheRefresh:  5 * time.Minute,
		ClockSkew:                    5 * time.Minute,
	}
}

// Service is the token service.
type Service struct {
	dir      *directory.Directory
	keys     *keyring
	settings Settings
	tenant   directory.Tenant
	hostKey  []byte
	hosts    HostResolver
	now      func() time.Time

	cacheMu  sync.Mutex
	cache    map[cacheKey]cachedToken
	verified verifiedCache
	limits   *hostLimiter
	arc      arcChallenges
}

// New creates the service, loading (or creating) its signing keys.
func New(ctx context.Context, dir *directory.Directory, st store.Store, barrier *seal.Barrier, rootKey []byte, settings Settings) (*Service, error) {
	t, err := dir.Tenant(ctx)
	if err != nil {
		return nil, fmt.Errorf("sts: %w", err)
	}
	s := &Service{dir: dir, keys: newKeyring(st, barrier), settings: settings, tenant: t,
		hostKey: deriveHostKey(rootKey), now: dir.Now, cache: map[cacheKey]cachedToken{},
		limits: newHostLimiter(settings)}
	if err := s.keys.ensure(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// SetHostResolver connects the service to whatever knows identity-bearing hosts (ARM).
func (s *Service) SetHostResolver(h HostResolver) { s.hosts = h }

// TenantID is the tenant the service serves.
func (s *Service) TenantID() string { return s.tenant.ID }

// RotateSigningKey makes a new current signing key; tokens signed by the previous key keep
// verifying.
func (s *Service) RotateSigningKey(ctx context.Context) error { return s.keys.rotate(ctx) }

// Claims are the claims of an access token Cerulean issues and validates.
type Claims struct {
	Audience          string   `json:"aud"`
	Issuer            string   `json:"iss"`
	IssuedAt          int64    `json:"iat"`
	NotBefore         int64    `json:"nbf"`
	Expiry            int64    `json:"exp"`
	AppID             string   `json:"appid,omitempty"`
	AppIDACR          string   `json:"appidacr,omitempty"`
	AuthorizedParty   string   `json:"azp,omitempty"`
	AzpACR            string   `json:"azpacr,omitempty"`
	IdentityProvider  string   `json:"idp,omitempty"`
	IdentityType      string   `json:"idtyp"`
	ObjectID          string   `json:"oid"`
	Subject           string   `json:"sub"`
	TenantID          string   `json:"tid"`
	Version           string   `json:"ver"`
	Name              string   `json:"name,omitempty"`
	UserPrincipalName string   `json:"upn,omitempty"`
	ManagedIdentityID string   `json:"xms_mirid,omitempty"`
	HostResourceID    string   `json:"xms_az_rid,omitempty"`
	TokenID           string   `json:"uti,omitempty"`
	Roles             []string `json:"roles,omitempty"`
}

// GraphAudience is Microsoft Graph's token audience.
const GraphAudience = "https://graph.microsoft.com"

// v1Issuer and v2Issuer are the issuers Entra puts in v1 and v2 access tokens.
func v1Issuer(tid string) string { return "https://sts.windows.net/" + tid + "/" }
func v2Issuer(tid string) string { return "https://login.microsoftonline.com/" + tid + "/v2.0" }

// Issued is a signed access token with its timing.
type Issued struct {
	Token     string
	KeyID     string // the signing key's kid
	Audience  string
	IssuedAt  time.Time
	ExpiresOn time.Time
}

// Application authentication methods, as appidacr/azpacr spell them.
const (
	acrSecret      = "1"
	acrCertificate = "2"
)

// issue signs a token for principal p with audience aud. hostID is the host a managed
// identity token was requested from ("" otherwise); v2 selects v2-shaped claims; acr is
// how an application authenticated (acrSecret or acrCertificate; managed identities are
// always acrCertificate).
func (s *Service) issue(p directory.Principal, aud string, lifetime time.Duration, v2 bool, hostID, acr string) (Issued, error) {
	key, err := s.keys.current()
	if err != nil {
		return Issued{}, err
	}
	now := s.now().UTC().Truncate(time.Second)
	exp := now.Add(lifetime)
	c := Claims{
		Audience: aud, IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: exp.Unix(),
		ObjectID: p.ObjectID, Subject: p.ObjectID, TenantID: s.tenant.ID, TokenID: uuid.NewString(),
	}
	if normAudience(aud) == GraphAudience && len(p.GraphPermissions) > 0 {
		c.Roles = p.GraphPermissions // application permissions travel in the roles claim
	}
	if v2 {
		c.Issuer, c.Version = v2Issuer(s.tenant.ID), "2.0"
	} else {
		c.Issuer, c.Version = v1Issuer(s.tenant.ID), "1.0"
		c.IdentityProvider = c.Issuer
	}
	switch p.Kind {
	case directory.KindUser:
		c.IdentityType, c.Name, c.UserPrincipalName = "user", p.DisplayName, p.UserPrincipalName
	default:
		c.IdentityType = "app"
		if p.Kind == directory.KindManagedIdentity {
			acr = acrCertificate
		}
		if v2 {
			c.AuthorizedParty, c.AzpACR = p.AppID, acr
		} else {
			c.AppID, c.AppIDACR = p.AppID, acr
		}
		if p.Kind == directory.KindManagedIdentity {
			c.ManagedIdentityID = lowerResourceGroups(p.ResourceID)
			c.HostResourceID = strings.ToLower(hostID)
		}
	}
	tok, err := jwt.Signed(key.signer).Claims(c).Serialize()
	if err != nil {
		return Issued{}, fmt.Errorf("sign token: %w", err)
	}
	return Issued{Token: tok, KeyID: key.kid, Audience: aud, IssuedAt: now, ExpiresOn: exp}, nil
}

// lowerResourceGroups spells the resourceGroups segment as ARM echoes it in xms_mirid.
func lowerResourceGroups(id string) string {
	i := strings.Index(strings.ToLower(id), "/resourcegroups/")
	if i < 0 {
		return id
	}
	return id[:i] + "/resourcegroups/" + id[i+len("/resourcegroups/"):]
}
