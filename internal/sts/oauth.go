package sts

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// maxFormBody bounds token request bodies.
const maxFormBody = 64 << 10

// aadError is an Entra (AAD) OAuth2 error.
type aadError struct {
	status int
	code   string // OAuth2 error, e.g. invalid_client
	aadsts int    // AADSTS number
	msg    string
}

func (e *aadError) Error() string { return fmt.Sprintf("AADSTS%d: %s", e.aadsts, e.msg) }

func aadErr(status int, code string, n int, format string, args ...any) *aadError {
	return &aadError{status: status, code: code, aadsts: n, msg: fmt.Sprintf(format, args...)}
}

func writeAADError(w http.ResponseWriter, err error) {
	var e *aadError
	if !errors.As(err, &e) {
		e = aadErr(http.StatusInternalServerError, "server_error", 90000, "The token service failed to process the request; see the server log.")
	}
	trace, corr := uuid.NewString(), uuid.NewString()
	now := time.Now().UTC()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error": e.code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			e.aadsts, e.msg, trace, corr, now.Format("2006-01-02 15:04:05Z")),
		"error_codes":    []int{e.aadsts},
		"timestamp":      now.Format("2006-01-02 15:04:05Z"),
		"trace_id":       trace,
		"correlation_id": corr,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// IsAuthorityPath reports whether an URL path belongs to the token service (Entra's
// login.microsoftonline.com paths): /{tenant}/..., /common/..., /organizations/..., /adfs/...
func IsAuthorityPath(p string) bool {
	seg, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	switch strings.ToLower(seg) {
	case "adfs", "common", "organizations", "consumers":
		return true
	}
	if _, err := uuid.Parse(seg); err == nil && len(seg) == 36 {
		return true
	}
	return strings.Contains(seg, ".") && !strings.Contains(seg, ":") // a tenant domain name
}

// ServeAuthority serves the Entra token-service paths. base is the scheme and host clients
// reached it at (e.g. https://127.0.0.1:8443 or https://login.microsoftonline.com).
func (s *Service) ServeAuthority(w http.ResponseWriter, r *http.Request, base string) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	tenant := segs[0]
	rest := strings.ToLower(strings.Join(segs[1:], "/"))
	if strings.EqualFold(tenant, "adfs") {
		s.serveADFS(w, r, base, rest)
		return
	}
	if rest == "discovery/instance" {
		s.serveInstanceDiscovery(w, r, base)
		return
	}
	if err := s.checkTenant(tenant); err != nil {
		writeAADError(w, err)
		return
	}
	switch rest {
	case "oauth2/v2.0/token":
		s.serveToken(w, r, true, false)
	case "oauth2/token":
		s.serveToken(w, r, false, false)
	case "v2.0/.well-known/openid-configuration":
		writeJSON(w, http.StatusOK, s.openIDConfiguration(base, tenant, true))
	case ".well-known/openid-configuration":
		writeJSON(w, http.StatusOK, s.openIDConfiguration(base, tenant, false))
	case "discovery/v2.0/keys", "discovery/keys":
		writeJSON(w, http.StatusOK, s.keys.jwks(v2Issuer(s.tenant.ID)))
	default:
		writeAADError(w, aadErr(http.StatusNotFound, "invalid_request", 900561,
			"The endpoint %s is not served by Cerulean's token service; use /%s/oauth2/v2.0/token or /%s/oauth2/token.", r.URL.Path, s.tenant.ID, s.tenant.ID))
	}
}

func (s *Service) checkTenant(t string) error {
	switch strings.ToLower(t) {
	case strings.ToLower(s.tenant.ID), strings.ToLower(s.tenant.DefaultDomain), "common", "organizations":
		return nil
	}
	return aadErr(http.StatusBadRequest, "invalid_request", 90002,
		"Tenant '%s' not found. This Cerulean instance serves only tenant '%s'; cross-tenant requests are not supported.", t, s.tenant.ID)
}

func (s *Service) openIDConfiguration(base, tenant string, v2 bool) map[string]any {
	if strings.EqualFold(tenant, "common") || strings.EqualFold(tenant, "organizations") {
		tenant = s.tenant.ID
	}
	prefix := base + "/" + tenant
	if v2 {
		return map[string]any{
			"issuer":                                base + "/" + s.tenant.ID + "/v2.0",
			"authorization_endpoint":                prefix + "/oauth2/v2.0/authorize",
			"token_endpoint":                        prefix + "/oauth2/v2.0/token",
			"device_authorization_endpoint":         prefix + "/oauth2/v2.0/devicecode",
			"end_session_endpoint":                  prefix + "/oauth2/v2.0/logout",
			"jwks_uri":                              prefix + "/discovery/v2.0/keys",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"response_modes_supported":              []string{"query", "fragment", "form_post"},
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
			"request_uri_parameter_supported":       false,
			"tenant_region_scope":                   nil,
			"cloud_instance_name":                   "microsoftonline.com",
			"cloud_graph_host_name":                 "graph.windows.net",
			"msgraph_host":                          "graph.microsoft.com",
		}
	}
	return map[string]any{
		"issuer":                                v1Issuer(s.tenant.ID),
		"authorization_endpoint":                prefix + "/oauth2/authorize",
		"token_endpoint":                        prefix + "/oauth2/token",
		"jwks_uri":                              base + "/common/discovery/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "token id_token", "token"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"tenant_region_scope":                   nil,
		"cloud_instance_name":                   "microsoftonline.com",
	}
}

// serveInstanceDiscovery answers MSAL's instance discovery for the host it asks about, so
// clients aimed at login.microsoftonline.com through the proxy never leave the machine.
func (s *Service) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request, base string) {
	host := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
	tenant := s.tenant.ID
	if ae := r.URL.Query().Get("authorization_endpoint"); ae != "" {
		if u, err := url.Parse(ae); err == nil && u.Host != "" {
			host = u.Host
			if seg, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/"); seg != "" {
				tenant = seg
			}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": "https://" + host + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": host, "preferred_cache": host, "aliases": []string{host},
		}},
	})
}

func (s *Service) serveADFS(w http.ResponseWriter, r *http.Request, base, rest string) {
	switch rest {
	case ".well-known/openid-configuration":
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                base + "/adfs",
			"authorization_endpoint":                base + "/adfs/oauth2/authorize",
			"token_endpoint":                        base + "/adfs/oauth2/token",
			"jwks_uri":                              base + "/adfs/discovery/keys",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic", "private_key_jwt"},
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token", "code token", "code id_token token"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
			"access_token_issuer":                   v1Issuer(s.tenant.ID),
		})
	case "oauth2/token", "oauth2/v2.0/token":
		s.serveToken(w, r, false, true)
	case "discovery/keys":
		writeJSON(w, http.StatusOK, s.keys.jwks(v1Issuer(s.tenant.ID)))
	default:
		writeAADError(w, aadErr(http.StatusNotFound, "invalid_request", 900561, "The ADFS endpoint %s is not served by Cerulean.", r.URL.Path))
	}
}

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// serveToken is the OAuth2 token endpoint: client credentials with a secret or a
// certificate-signed assertion. v2 takes scope=<resource>/.default, v1 takes resource=.
// ADFS answers like v1 but with numbers, not strings, for the times (MSAL Python adds
// expires_in to the request time).
func (s *Service) serveToken(w http.ResponseWriter, r *http.Request, v2, adfs bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeAADError(w, aadErr(http.StatusMethodNotAllowed, "invalid_request", 900561, "The token endpoint accepts only POST requests."))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		writeAADError(w, aadErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must be a form (application/x-www-form-urlencoded) of at most 64 KiB: %v.", err))
		return
	}
	resp, err := s.tokenForClient(r.Context(), r, v2)
	if err != nil {
		writeAADError(w, err)
		return
	}
	if adfs {
		for _, k := range []string{"expires_in", "ext_expires_in", "expires_on", "not_before"} {
			if v, ok := resp[k].(string); ok {
				resp[k], _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Service) tokenForClient(ctx context.Context, r *http.Request, v2 bool) (map[string]any, error) {
	f := r.PostForm
	grant := f.Get("grant_type")
	if grant == "" {
		return nil, aadErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	}
	if grant != "client_credentials" {
		return nil, aadErr(http.StatusBadRequest, "unsupported_grant_type", 70003,
			"The app requested an unsupported grant type '%s'. Cerulean supports client_credentials (with a client secret or a certificate assertion); managed identities use the managed-identity endpoints.", grant)
	}
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		if clientID == "" {
			clientID, _ = url.QueryUnescape(u)
		}
		if secret == "" {
			secret, _ = url.QueryUnescape(p)
		}
	}
	if clientID == "" {
		return nil, aadErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
	}
	var resource string
	if v2 {
		var err error
		if resource, err = resourceFromScope(f.Get("scope")); err != nil {
			return nil, err
		}
	} else {
		resource = f.Get("resource")
		if resource == "" && f.Get("scope") != "" {
			var err error
			if resource, err = resourceFromScope(f.Get("scope")); err != nil {
				return nil, err
			}
		}
		if resource == "" {
			return nil, aadErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'resource'.")
		}
	}
	if !KnownResource(resource) {
		return nil, aadErr(http.StatusBadRequest, "invalid_resource", 500011,
			"The resource principal named %s was not found in the tenant named %s. Cerulean issues tokens for Azure's resource URIs (for example https://management.azure.com/, https://vault.azure.net, https://storage.azure.com/).", resource, s.tenant.ID)
	}
	p, err := s.dir.GetByAppID(ctx, clientID)
	if err != nil || p.Kind != directory.KindServicePrincipal || p.Deleted() {
		if err != nil && !errors.Is(err, directory.ErrPrincipalNotFound) {
			return nil, err
		}
		return nil, aadErr(http.StatusBadRequest, "unauthorized_client", 700016,
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant.", clientID, s.tenant.ID)
	}
	acr := acrSecret
	switch {
	case f.Get("client_assertion") != "":
		acr = acrCertificate
		if f.Get("client_assertion_type") != assertionType {
			return nil, aadErr(http.StatusBadRequest, "invalid_request", 50027, "client_assertion_type must be '%s'.", assertionType)
		}
		if err := s.checkAssertion(ctx, p, f.Get("client_assertion")); err != nil {
			return nil, err
		}
	case secret != "":
		err := s.dir.Store().View(ctx, func(tx store.Tx) error { return s.dir.CheckClientSecret(tx, p.ObjectID, secret) })
		if errors.Is(err, directory.ErrInvalidCredential) {
			return nil, aadErr(http.StatusUnauthorized, "invalid_client", 7000215,
				"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID)
		}
		if err != nil {
			return nil, err
		}
	default:
		return nil, aadErr(http.StatusUnauthorized, "invalid_client", 7000218,
			"The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	iss, err := s.issue(p, resource, s.settings.AppTokenLifetime, v2 && strings.HasPrefix(resource, "api://"), "", acr)
	if err != nil {
		return nil, err
	}
	secs := int64(iss.ExpiresOn.Sub(iss.IssuedAt) / time.Second)
	if v2 {
		return map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": iss.Token}, nil
	}
	return map[string]any{
		"token_type": "Bearer", "expires_in": strconv.FormatInt(secs, 10), "ext_expires_in": strconv.FormatInt(secs, 10),
		"expires_on": strconv.FormatInt(iss.ExpiresOn.Unix(), 10), "not_before": strconv.FormatInt(iss.IssuedAt.Unix(), 10),
		"resource": resource, "access_token": iss.Token,
	}, nil
}

// resourceFromScope turns a v2 scope ("<resource>/.default", plus any OIDC scopes) into the
// resource the token is for.
func resourceFromScope(scope string) (string, error) {
	var res []string
	for _, sc := range strings.Fields(scope) {
		switch sc {
		case "openid", "profile", "offline_access", "email":
			continue
		}
		if !strings.HasSuffix(sc, "/.default") {
			return "", aadErr(http.StatusBadRequest, "invalid_scope", 1002012,
				"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", sc)
		}
		res = append(res, strings.TrimSuffix(sc, ".default"))
	}
	if len(res) != 1 {
		return "", aadErr(http.StatusBadRequest, "invalid_scope", 70011,
			"The provided request must include exactly one '<resource>/.default' scope, got %q.", scope)
	}
	// "https://management.core.windows.net//.default" names the resource
	// "https://management.core.windows.net/"; "https://vault.azure.net/.default" names
	// "https://vault.azure.net".
	return strings.TrimSuffix(res[0], "/"), nil
}

// knownResources are the resource URIs (application ID URIs) of the Azure services whose
// tokens Cerulean issues, compared ignoring case and a trailing slash.
var knownResources = []string{
	"https://management.azure.com", "https://management.core.windows.net",
	"https://vault.azure.net", "https://storage.azure.com",
	"https://graph.microsoft.com", "https://graph.windows.net",
	"https://database.windows.net", "https://ossrdbms-aad.database.windows.net",
	"https://servicebus.azure.net", "https://eventhubs.azure.net",
	"https://cognitiveservices.azure.com", "https://monitor.azure.com",
	"https://datalake.azure.net", "https://api.loganalytics.io",
	"https://azurefilesync.azure.com",
}

// KnownResource reports whether Cerulean issues tokens for resource: one of Azure's service
// URIs, an account's own storage endpoint (https://<account>.<service>.core.windows.net), or
// an api:// application URI.
func KnownResource(resource string) bool {
	n := normAudience(resource)
	for _, k := range knownResources {
		if n == k {
			return true
		}
	}
	if strings.HasPrefix(n, "api://") && len(n) > len("api://") {
		return true
	}
	u, err := url.Parse(n)
	if err != nil || u.Scheme != "https" || u.Path != "" {
		return false
	}
	return strings.HasSuffix(u.Host, ".core.windows.net") || strings.HasSuffix(u.Host, ".vault.azure.net")
}

// assertionClaims are the claims of a client assertion.
type assertionClaims struct {
	jwt.Claims
}

// checkAssertion verifies a certificate-signed client assertion against the principal's
// registered certificates.
func (s *Service) checkAssertion(ctx context.Context, p directory.Principal, raw string) error {
	bad := func(why string) error {
		return aadErr(http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation or is malformed: %s.", why)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256})
	if err != nil || len(tok.Headers) != 1 {
		return bad("it is not a JWT signed with RS256, PS256 or ES256")
	}
	var certs []*x509.Certificate
	if err := s.dir.Store().View(ctx, func(tx store.Tx) error {
		var err error
		certs, err = s.dir.Certificates(tx, p.ObjectID)
		return err
	}); err != nil {
		return err
	}
	if len(certs) == 0 {
		return aadErr(http.StatusUnauthorized, "invalid_client", 700027, "The application '%s' has no certificate credentials; register one first.", p.AppID)
	}
	h := tok.Headers[0]
	x5t, _ := h.ExtraHeaders["x5t"].(string)
	x5t256, _ := h.ExtraHeaders["x5t#S256"].(string)
	var claims assertionClaims
	verified := false
	for _, c := range certs {
		s1, s256 := sha1.Sum(c.Raw), sha256.Sum256(c.Raw)
		if x5t != "" && !thumbprintMatches(x5t, s1[:]) {
			continue
		}
		if x5t256 != "" && !thumbprintMatches(x5t256, s256[:]) {
			continue
		}
		if tok.Claims(c.PublicKey, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return aadErr(http.StatusUnauthorized, "invalid_client", 700027,
			"Client assertion contains an invalid signature: it is not signed by a certificate registered for application '%s'.", p.AppID)
	}
	if !strings.EqualFold(claims.Issuer, p.AppID) || !strings.EqualFold(claims.Subject, p.AppID) {
		return bad("its iss and sub must both be the client id")
	}
	okAud := false
	for _, a := range claims.Audience {
		if strings.Contains(a, "/oauth2/") || strings.HasSuffix(strings.TrimRight(a, "/"), "/adfs") || strings.HasSuffix(strings.TrimRight(a, "/"), "/v2.0") {
			okAud = true
		}
	}
	if !okAud {
		return bad("its aud must be the token endpoint")
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Time: s.now()}, s.settings.ClockSkew); err != nil || claims.Expiry == nil {
		return aadErr(http.StatusUnauthorized, "invalid_client", 700024, "Client assertion is not within its valid time range.")
	}
	return nil
}

// thumbprintMatches compares an x5t/x5t#S256 header with a certificate digest. RFC 7515
// says base64url without padding; MSAL Go sends standard base64 with padding and MSAL
// Python base64url with padding, so every spelling is decoded.
func thumbprintMatches(header string, digest []byte) bool {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(header); err == nil {
			return subtle.ConstantTimeCompare(b, digest) == 1
		}
	}
	return false
}
