package sts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"golang.org/x/time/rate"
)

// HostIdentities are the managed identities an identity-bearing resource (a virtual machine,
// an Arc-enabled server) carries.
type HostIdentities struct {
	HostID         string
	SystemAssigned *directory.Principal
	UserAssigned   []directory.Principal
}

// ErrHostNotFound is returned by a HostResolver for an unknown host.
var ErrHostNotFound = errors.New("sts: host resource not found")

// HostResolver tells which identities a host resource carries.
type HostResolver interface {
	HostIdentities(ctx context.Context, hostID string) (HostIdentities, error)
}

// HostSecret returns the secret that identifies requests from hostID: the App Service
// IDENTITY_HEADER, the Cloud Shell MSI_ENDPOINT path and the password of the proxy
// credentials. It carries the host id and an HMAC under a key derived from the root key, so
// it cannot be made without the server.
func (s *Service) HostSecret(hostID string) string { return hostSecret(s.hostKey, hostID) }

// HostSecretFor computes a host secret from the server's root key, for tools that run beside
// the server (cerulean env).
func HostSecretFor(rootKey []byte, hostID string) string {
	return hostSecret(deriveHostKey(rootKey), hostID)
}

func deriveHostKey(rootKey []byte) []byte {
	mac := hmac.New(sha256.New, rootKey)
	mac.Write([]byte("cerulean/sts/host-secret"))
	return mac.Sum(nil)
}

func hostSecret(key []byte, hostID string) string {
	id := strings.ToLower(hostID)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString([]byte(id)) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// HostFromSecret returns the host id a secret was made for, or false.
func (s *Service) HostFromSecret(secret string) (string, bool) {
	enc, sig, ok := strings.Cut(secret, ".")
	if !ok {
		return "", false
	}
	id, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(id) == 0 {
		return "", false
	}
	if !hmac.Equal([]byte(s.HostSecret(string(id))), []byte(secret)) || sig == "" {
		return "", false
	}
	return string(id), true
}

type imdsHostKey struct{}

// WithIMDSHost marks ctx as an IMDS call from hostID (told by the proxy credentials).
func WithIMDSHost(ctx context.Context, hostID string) context.Context {
	return context.WithValue(ctx, imdsHostKey{}, hostID)
}

// miError is an IMDS-style error: {"error","error_description"}.
func miError(status int, code, format string, args ...any) *azerr.Error {
	return azerr.New(status, code, format, args...)
}

var errIdentityNotFound = miError(http.StatusBadRequest, "invalid_request", "Identity not found")

// miFlavor tells the managed-identity endpoints apart: they differ in how the host is told,
// which header guards them, and the response shape.
type miFlavor int

const (
	flavorIMDS miFlavor = iota
	flavorAppService
	flavorCloudShell
)

// ServeIMDS serves /metadata/identity/oauth2/token (IMDS-compatible). The host is the one
// the proxy credentials named (WithIMDSHost) or the configured default host.
func (s *Service) ServeIMDS(w http.ResponseWriter, r *http.Request) {
	host, _ := r.Context().Value(imdsHostKey{}).(string)
	if host == "" {
		host = s.settings.DefaultIMDSHost
	}
	s.serveManagedIdentity(w, r, flavorIMDS, host)
}

// ServeAppService serves the App Service-compatible endpoint (IDENTITY_ENDPOINT +
// X-IDENTITY-HEADER, api-version 2019-08-01).
func (s *Service) ServeAppService(w http.ResponseWriter, r *http.Request) {
	secret := r.Header.Get("X-IDENTITY-HEADER")
	if secret == "" {
		azerr.WriteOAuth(w, miError(http.StatusUnauthorized, "unauthorized_client", "The X-IDENTITY-HEADER header is missing: send the IDENTITY_HEADER value that `cerulean env --resource <id>` printed."))
		return
	}
	host, ok := s.HostFromSecret(secret)
	if !ok {
		azerr.WriteOAuth(w, miError(http.StatusUnauthorized, "unauthorized_client", "The X-IDENTITY-HEADER value is not valid for this server: run `cerulean env --resource <id>` again."))
		return
	}
	s.serveManagedIdentity(w, r, flavorAppService, host)
}

// ServeCloudShell serves the Cloud Shell-style endpoint (MSI_ENDPOINT, POST with a form
// body and Metadata: true); the host secret is the last path segment.
func (s *Service) ServeCloudShell(w http.ResponseWriter, r *http.Request, secret string) {
	host, ok := s.HostFromSecret(secret)
	if !ok {
		azerr.WriteOAuth(w, miError(http.StatusUnauthorized, "unauthorized_client", "The MSI_ENDPOINT path does not name a host of this server: run `cerulean env --resource <id>` again."))
		return
	}
	s.serveManagedIdentity(w, r, flavorCloudShell, host)
}

func (s *Service) serveManagedIdentity(w http.ResponseWriter, r *http.Request, flavor miFlavor, host string) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		azerr.WriteOAuth(w, miError(http.StatusMethodNotAllowed, "invalid_request", "Use GET (query) or POST (form) for the managed identity endpoint."))
		return
	}
	if flavor == flavorIMDS && r.Header.Get("X-Forwarded-For") != "" {
		// IMDS refuses proxied requests so that a server on the machine cannot be made to
		// fetch the machine's tokens for someone else.
		azerr.WriteOAuth(w, miError(http.StatusBadRequest, "invalid_request", "Requests carrying an X-Forwarded-For header are rejected: the Instance Metadata Service answers only requests made directly from the machine."))
		return
	}
	if flavor != flavorAppService && r.Header.Get("Metadata") != "true" {
		azerr.WriteOAuth(w, miError(http.StatusBadRequest, "bad_request_102", "Required metadata header not specified"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		azerr.WriteOAuth(w, miError(http.StatusBadRequest, "invalid_request", "The request could not be parsed: %v", err))
		return
	}
	if flavor == flavorIMDS && r.Form.Get("api-version") == "" {
		azerr.WriteOAuth(w, miError(http.StatusBadRequest, "invalid_request", "Required query variable 'api-version' is missing"))
		return
	}
	release, err := s.limits.acquire(host)
	if err != nil {
		azerr.WriteOAuth(w, err)
		return
	}
	defer release()
	resp, err := s.managedIdentityToken(r.Context(), flavor, host, r.Form.Get)
	if err != nil {
		azerr.WriteOAuth(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// managedIdentityToken applies seed 003's default-identity rules and returns the response.
func (s *Service) managedIdentityToken(ctx context.Context, flavor miFlavor, host string, get func(string) string) (map[string]any, error) {
	resource := get("resource")
	if resource == "" {
		return nil, miError(http.StatusBadRequest, "invalid_request", "Required query variable 'resource' is missing")
	}
	if !KnownResource(resource) {
		return nil, miError(http.StatusBadRequest, "invalid_resource",
			"AADSTS500011: The resource principal named %s was not found in the tenant named %s.", resource, s.tenant.ID)
	}
	if host == "" || s.hosts == nil {
		return nil, errIdentityNotFound
	}
	hi, err := s.hosts.HostIdentities(ctx, host)
	if errors.Is(err, ErrHostNotFound) {
		return nil, errIdentityNotFound
	}
	if err != nil {
		return nil, err
	}
	id, err := selectIdentity(hi, get)
	if err != nil {
		return nil, err
	}
	tok, err := s.cachedManagedIdentityToken(id, resource, hi.HostID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	left := strconv.FormatInt(int64(tok.ExpiresOn.Sub(now)/time.Second), 10)
	on := strconv.FormatInt(tok.ExpiresOn.Unix(), 10)
	switch flavor {
	case flavorAppService:
		return map[string]any{"access_token": tok.Token, "expires_on": on, "resource": resource,
			"token_type": "Bearer", "client_id": id.AppID}, nil
	default:
		return map[string]any{"access_token": tok.Token, "refresh_token": "", "client_id": id.AppID,
			"expires_in": left, "expires_on": on, "ext_expires_in": left,
			"not_before": strconv.FormatInt(tok.IssuedAt.Unix(), 10), "resource": resource, "token_type": "Bearer"}, nil
	}
}

// selectIdentity picks the identity a token request names, or the default one (seed 003):
// the system-assigned identity when enabled, else the only user-assigned identity.
func selectIdentity(hi HostIdentities, get func(string) string) (directory.Principal, error) {
	clientID := firstNonEmpty(get("client_id"), get("clientid"))
	objectID := firstNonEmpty(get("object_id"), get("principal_id"))
	resID := firstNonEmpty(get("msi_res_id"), get("mi_res_id"))
	n := 0
	for _, v := range []string{clientID, objectID, resID} {
		if v != "" {
			n++
		}
	}
	if n > 1 {
		return directory.Principal{}, miError(http.StatusBadRequest, "invalid_request",
			"Only one of client_id, object_id and msi_res_id (mi_res_id) may be specified in the token request")
	}
	all := hi.UserAssigned
	if hi.SystemAssigned != nil {
		all = append([]directory.Principal{*hi.SystemAssigned}, hi.UserAssigned...)
	}
	match := func(ok func(p directory.Principal) bool) (directory.Principal, error) {
		for _, p := range all {
			if ok(p) {
				return p, nil
			}
		}
		return directory.Principal{}, errIdentityNotFound
	}
	switch {
	case clientID != "":
		return match(func(p directory.Principal) bool { return strings.EqualFold(p.AppID, clientID) })
	case objectID != "":
		return match(func(p directory.Principal) bool { return strings.EqualFold(p.ObjectID, objectID) })
	case resID != "":
		return match(func(p directory.Principal) bool {
			return p.ManagedIdentityType == directory.UserAssigned && strings.EqualFold(p.ResourceID, resID)
		})
	}
	if hi.SystemAssigned != nil {
		return *hi.SystemAssigned, nil
	}
	switch len(hi.UserAssigned) {
	case 0:
		return directory.Principal{}, errIdentityNotFound
	case 1:
		return hi.UserAssigned[0], nil
	}
	return directory.Principal{}, miError(http.StatusBadRequest, "invalid_request",
		"Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request")
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

type cacheKey struct{ oid, resource, host string }

type cachedToken = Issued

// cachedManagedIdentityToken returns a cached token for (identity, resource, host) while it
// has more than the refresh window to live and was signed by the current key (a rotation
// renews cached tokens), else issues a new one. The caller has already
// checked that the identity still exists and is attached.
func (s *Service) cachedManagedIdentityToken(p directory.Principal, resource, host string) (Issued, error) {
	k := cacheKey{p.ObjectID, resource, strings.ToLower(host)}
	now := s.now()
	s.cacheMu.Lock()
	t, ok := s.cache[k]
	s.cacheMu.Unlock()
	if ok && t.ExpiresOn.Sub(now) > s.settings.ManagedIdentityCacheRefresh {
		if cur, err := s.keys.current(); err == nil && cur.kid == t.KeyID {
			return t, nil
		}
	}
	t, err := s.issue(p, resource, s.settings.ManagedIdentityTokenLifetime, false, host, acrCertificate)
	if err != nil {
		return t, err
	}
	s.cacheMu.Lock()
	if len(s.cache) > 100000 {
		s.cache = map[cacheKey]cachedToken{}
	}
	s.cache[k] = t
	s.cacheMu.Unlock()
	return t, nil
}

// hostLimiter enforces seed 003's per-host limits on the managed-identity endpoints.
type hostLimiter struct {
	rate        rate.Limit
	burst       int
	concurrency int

	mu    sync.Mutex
	hosts map[string]*hostLimit
}

type hostLimit struct {
	bucket   *rate.Limiter
	inFlight int
}

func newHostLimiter(s Settings) *hostLimiter {
	return &hostLimiter{rate: rate.Limit(s.ManagedIdentityRate), burst: s.ManagedIdentityBurst,
		concurrency: s.ManagedIdentityConcurrency, hosts: map[string]*hostLimit{}}
}

func tooMany(why string) *azerr.Error {
	return miError(http.StatusTooManyRequests, "too_many_requests", "Too many requests: %s. Retry after the time in the Retry-After header.", why).
		WithHeader("Retry-After", "1")
}

// acquire admits one request from host or returns a 429 error.
func (l *hostLimiter) acquire(host string) (func(), error) {
	key := strings.ToLower(host)
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.hosts[key]
	if h == nil {
		h = &hostLimit{}
		if l.rate > 0 {
			h.bucket = rate.NewLimiter(l.rate, max(l.burst, 1))
		}
		l.hosts[key] = h
	}
	if l.concurrency > 0 && h.inFlight >= l.concurrency {
		return nil, tooMany(fmt.Sprintf("more than %d concurrent managed identity requests from this host", l.concurrency))
	}
	if h.bucket != nil && !h.bucket.Allow() {
		return nil, tooMany(fmt.Sprintf("more than %g managed identity requests per second from this host", float64(l.rate)))
	}
	h.inFlight++
	return func() {
		l.mu.Lock()
		h.inFlight--
		l.mu.Unlock()
	}, nil
}

// ErrIdentityUnavailable is returned by ManagedIdentityToken for a principal that is not a
// live managed identity.
var ErrIdentityUnavailable = errors.New("sts: the managed identity does not exist or was deleted")

// ManagedIdentityToken issues (or reuses) a token for a managed identity, the way its host's
// token endpoint would: for Azure services that act with their own identity (a storage
// account reaching its customer-managed key). hostID is the resource acting.
func (s *Service) ManagedIdentityToken(ctx context.Context, principalID, resource, hostID string) (string, error) {
	p, err := s.dir.Get(ctx, principalID)
	if err != nil || p.Kind != directory.KindManagedIdentity || p.Deleted() {
		return "", ErrIdentityUnavailable
	}
	t, err := s.cachedManagedIdentityToken(p, resource, hostID)
	if err != nil {
		return "", err
	}
	return t.Token, nil
}
