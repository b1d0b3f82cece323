package keyvault

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/sts"
)

// Audience is the token audience Key Vault accepts (scope https://vault.azure.net/.default).
const Audience = "https://vault.azure.net"

// DNSSuffix is the host suffix of vault URIs: https://<vault>.vault.azure.net/.
const DNSSuffix = ".vault.azure.net"

// maxBody bounds a data-plane request body (a secret is at most 25 KB; an imported RSA-4096
// JWK with private parts or a backup blob is far below this).
const maxBody = 1 << 20

// Settings tune the data plane.
type Settings struct {
	// Throttle enables Key Vault's documented per-vault transaction budgets (429 with
	// Retry-After beyond them). Off by default.
	Throttle bool
	// RotationInterval is how often key rotation policies are evaluated.
	RotationInterval time.Duration
}

// DefaultSettings: throttling off, rotation policies checked every minute.
func DefaultSettings() Settings { return Settings{RotationInterval: time.Minute} }

// Service is the Key Vault data plane for every vault of the server.
type Service struct {
	st       store.Store
	barrier  *seal.Barrier
	tokens   *sts.Service
	gate     *access.Gate
	now      func() time.Time
	settings Settings
	limits   *throttle
	keyCache *keyCache
	vaults   vaultCache
	// versions are the key versions crypto operations use, by vault uid, name and version
	// asked for, at the revision of keys and their versions (a disable, a deletion, a new
	// version or a rotation changes it).
	versions store.RevisionCache[keyVersion]
}

// vaultCache holds every vault record as of one revision of the vault collection: the data
// plane reads a vault on every call, and vaults change rarely.
type vaultCache struct {
	mu  sync.Mutex
	rev int64
	m   map[string]Vault
}

// vault returns the record of the named vault, live or deleted.
func (s *Service) vault(ctx context.Context, name string) (Vault, error) {
	rev, err := s.st.Revision(ctx, colVaults)
	if err != nil {
		return Vault{}, err
	}
	s.vaults.mu.Lock()
	if s.vaults.m != nil && s.vaults.rev == rev {
		v, ok := s.vaults.m[vaultKey(name)]
		s.vaults.mu.Unlock()
		if !ok {
			return v, ErrVaultNotFound
		}
		return v, nil
	}
	s.vaults.mu.Unlock()
	var all []Vault
	if err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		all, err = ListVaultsTx(tx)
		return err
	}); err != nil {
		return Vault{}, err
	}
	m := make(map[string]Vault, len(all))
	for _, v := range all {
		m[vaultKey(v.Name)] = v
	}
	s.vaults.mu.Lock()
	s.vaults.rev, s.vaults.m = rev, m
	s.vaults.mu.Unlock()
	v, ok := m[vaultKey(name)]
	if !ok {
		return v, ErrVaultNotFound
	}
	return v, nil
}

// New returns the data plane.
func New(st store.Store, barrier *seal.Barrier, tokens *sts.Service, gate *access.Gate, now func() time.Time, settings Settings) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, barrier: barrier, tokens: tokens, gate: gate, now: now, settings: settings,
		limits: newThrottle(), keyCache: newKeyCache(4096),
		versions: store.RevisionCache[keyVersion]{Collections: []string{colKeys, colKeyVersions}}}
}

// VaultURI is the canonical URI of a vault, as ARM reports it and as key ids use it.
func VaultURI(name string) string { return "https://" + strings.ToLower(name) + DNSSuffix }

// call is one authenticated data-plane request.
type call struct {
	ctx    context.Context
	r      *http.Request
	vault  Vault
	claims sts.Claims
	caller access.Principal
	// base is the URL the client used for the vault (path- or host-style), for nextLink.
	base string
	body []byte
	svc  *Service
}

// ServeVault serves one request for the vault named vault. base is the URL prefix the client
// used for it (https://<vault>.vault.azure.net or https://127.0.0.1:<port>/vaults/<vault>) and
// path the rest ("/keys/k1/create").
func (s *Service) ServeVault(w http.ResponseWriter, r *http.Request, vault, base, path string) {
	status, body, err := s.serve(w, r, vault, base, path)
	w.Header().Set("x-ms-keyvault-service-version", "1.9.0.0")
	w.Header().Set("x-ms-keyvault-network-info", "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;")
	if err != nil {
		azerr.WriteKeyVault(w, err)
		return
	}
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func badParameter(format string, args ...any) *azerr.Error {
	return azerr.BadRequest("BadParameter", format, args...)
}

var apiVersionRE = regexp.MustCompile(`^(7\.[0-9](-preview(\.[0-9]+)?)?|20[2-9][0-9]-[01][0-9]-[0-3][0-9](-preview)?)$`)

func (s *Service) serve(w http.ResponseWriter, r *http.Request, vaultName, base, path string) (int, any, error) {
	if r.TLS == nil {
		return 0, nil, azerr.BadRequest("HttpsRequired", "Key Vault is served over HTTPS only: use https://%s.", r.Host)
	}
	v := r.URL.Query().Get("api-version")
	if v == "" {
		for k, vs := range r.URL.Query() {
			if strings.EqualFold(k, "api-version") && len(vs) > 0 {
				v = vs[0]
			}
		}
	}
	if v == "" {
		return 0, nil, badParameter("The api-version query parameter is required: add ?api-version=7.5 (or the version your SDK uses).")
	}
	if !apiVersionRE.MatchString(v) {
		return 0, nil, badParameter("The specified version (%s) is not recognized. Consider using the latest supported version (7.6 or 2025-07-01).", v)
	}
	vault, err := s.vault(r.Context(), vaultName)
	if err == ErrVaultNotFound || (err == nil && vault.Deleted()) {
		return 0, nil, azerr.NotFound("VaultNotFound", "No key vault named '%s' exists (or it is soft-deleted): create it through Resource Manager (az keyvault create) or recover it first.", vaultName)
	}
	if err != nil {
		return 0, nil, err
	}
	if r.Header.Get("Authorization") == "" {
		return 0, nil, azerr.Unauthorized("Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.").
			WithHeader("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/`+vault.TenantID+`", resource="`+Audience+`"`)
	}
	claims, err := s.tokens.VerifyBearer(r, []string{Audience})
	if err != nil {
		e := azerr.From(err)
		return 0, nil, azerr.Unauthorized("Unauthorized", "%s", e.Message).
			WithHeader("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/`+vault.TenantID+`", resource="`+Audience+`"`)
	}
	if claims.TenantID != vault.TenantID {
		return 0, nil, azerr.Unauthorized("Unauthorized", "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/%s/, found https://sts.windows.net/%s/.", vault.TenantID, claims.TenantID)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return 0, nil, azerr.New(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request body exceeds %d bytes.", maxBody)
	}
	display := claims.AppID
	if display == "" {
		display = claims.AuthorizedParty
	}
	c := &call{ctx: r.Context(), r: r, vault: vault, claims: claims, body: body, svc: s,
		caller: access.Principal{ObjectID: claims.ObjectID, Display: display, IssuedAt: time.Unix(claims.IssuedAt, 0)}, base: strings.TrimRight(base, "/")}
	return s.route(c, strings.Split(strings.TrimPrefix(path, "/"), "/"))
}

// decode unmarshals the body into v (which must be a pointer to a struct).
func (c *call) decode(v any) error {
	if len(strings.TrimSpace(string(c.body))) == 0 {
		return badParameter("The request body is empty; send a JSON object.")
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return badParameter("The request body is not valid JSON for this operation: %v.", err)
	}
	return nil
}

// permission names an access-policy permission, for vaults that do not use RBAC.
type permission struct {
	kind string // "keys" | "secrets"
	name string // "get", "wrapKey", ...
}

// authorize checks the caller may perform the data action at scope (a key or secret id
// under the vault, or the vault itself): Azure RBAC when the vault uses it, else the vault's
// access policies.
func (c *call) authorize(action, scope string, perm permission) error {
	if c.vault.EnableRBAC {
		d, err := c.svc.gate.Decide(c.ctx, access.Request{Principal: c.caller, Action: action, DataAction: true, Scope: scope})
		if err != nil {
			return err
		}
		if d.Allowed {
			return nil
		}
		msg := strings.Join([]string{
			"Caller is not authorized to perform action on resource.",
			"If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.",
			"Caller: " + c.callerString(),
			"Action: '" + action + "'",
			"Resource: '" + strings.ToLower(scope) + "'",
			"Assignment: (not found)",
			"DenyAssignmentId: null",
			"DecisionReason: 'DeniedWithNoValidRBAC' ",
			"Vault: " + c.vault.Name + ";location=" + c.vault.Location,
			"",
		}, "\r\n")
		return azerr.Forbidden("Forbidden", "%s", msg).WithInner("ForbiddenByRbac")
	}
	for _, p := range c.vault.AccessPolicies {
		if !strings.EqualFold(p.ObjectID, c.caller.ObjectID) || !strings.EqualFold(p.TenantID, c.vault.TenantID) {
			continue
		}
		if p.ApplicationID != "" && !strings.EqualFold(p.ApplicationID, c.caller.Display) {
			continue
		}
		list := p.Permissions.Keys
		switch perm.kind {
		case "secrets":
			list = p.Permissions.Secrets
		case "certificates":
			list = p.Permissions.Certificates
		}
		for _, g := range list {
			if strings.EqualFold(g, perm.name) || strings.EqualFold(g, "all") {
				return nil
			}
		}
	}
	return azerr.Forbidden("Forbidden",
		"The user, group or application '%s' does not have %s %s permission on key vault '%s;location=%s'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
		c.callerString(), perm.kind, perm.name, c.vault.Name, c.vault.Location).WithInner("AccessDenied")
}

func (c *call) callerString() string {
	return "appid=" + c.caller.Display + ";oid=" + c.caller.ObjectID + ";iss=" + c.claims.Issuer
}

// keyScope and secretScope are the ARM scopes RBAC checks a key or secret at.
func (c *call) keyScope(name string) string    { return c.vault.ResourceID + "/keys/" + name }
func (c *call) secretScope(name string) string { return c.vault.ResourceID + "/secrets/" + name }

func notSupported(what string) error {
	return azerr.BadRequest("NotSupported", "%s is not supported by this version of Cerulean's Key Vault.", what)
}

func methodNotAllowed(r *http.Request) error {
	return azerr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '%s'.", r.Method)
}

var nameRE = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return badParameter("The %s name '%s' is invalid: names are 1-127 characters of letters, digits and dashes.", kind, name)
	}
	return nil
}

var versionRE = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

// route dispatches by path: segs is the path after the vault, split on '/' (empty segments
// kept, so /keys/k/ names the latest version).
func (s *Service) route(c *call, segs []string) (int, any, error) {
	if len(segs) == 0 || segs[0] == "" {
		return 0, nil, azerr.NotFound("NotFound", "The path must name a collection of the vault: /keys, /secrets, /certificates, /deletedkeys, /deletedsecrets or /deletedcertificates.")
	}
	if err := s.limits.allow(c, segs); err != nil {
		return 0, nil, err
	}
	o, p, found := match(c.r.Method, segs)
	if o == nil {
		return 0, nil, methodNotAllowedOr404(c, found, segs)
	}
	return c.dispatch(o, p)
}

func notFoundPath(segs []string) error {
	return azerr.NotFound("NotFound", "The path '/%s' is not a Key Vault API.", strings.Join(segs, "/"))
}

// ---- small helpers shared by keys and secrets ----

// attributes are a key's or secret's attributes, as stored (times in unix seconds).
type attributes struct {
	Enabled   bool   `json:"enabled"`
	NotBefore *int64 `json:"nbf,omitempty"`
	Expires   *int64 `json:"exp,omitempty"`
	Created   int64  `json:"created"`
	Updated   int64  `json:"updated"`
	// Exportable is a key attribute only.
	Exportable *bool `json:"exportable,omitempty"`
}

// attributesIn is the request form of attributes (every field optional).
type attributesIn struct {
	Enabled    *bool  `json:"enabled"`
	NotBefore  *int64 `json:"nbf"`
	Expires    *int64 `json:"exp"`
	Exportable *bool  `json:"exportable"`
}

func (a *attributes) apply(in *attributesIn) {
	if in == nil {
		return
	}
	if in.Enabled != nil {
		a.Enabled = *in.Enabled
	}
	if in.NotBefore != nil {
		a.NotBefore = in.NotBefore
	}
	if in.Expires != nil {
		a.Expires = in.Expires
	}
}

func (c *call) attributesView(a attributes) map[string]any {
	m := map[string]any{"enabled": a.Enabled, "created": a.Created, "updated": a.Updated,
		"recoveryLevel": c.vault.RecoveryLevel(), "recoverableDays": c.vault.RetentionDays}
	if a.NotBefore != nil {
		m["nbf"] = *a.NotBefore
	}
	if a.Expires != nil {
		m["exp"] = *a.Expires
	}
	if a.Exportable != nil {
		m["exportable"] = *a.Exportable
	}
	return m
}

// deletion is the soft-delete state of a key or secret.
type deletion struct {
	DeletedDate        int64 `json:"deletedDate"`
	ScheduledPurgeDate int64 `json:"scheduledPurgeDate"`
}

func validTags(tags map[string]string) error {
	if len(tags) > 15 {
		return badParameter("At most 15 tags are allowed, got %d.", len(tags))
	}
	for k, v := range tags {
		if len(k) > 512 || len(v) > 256 {
			return badParameter("Tag names are at most 512 characters and values at most 256.")
		}
	}
	return nil
}

// page is one page of a list: maxresults (1-25, default 25) items after the $skiptoken.
func (c *call) page(names []string, path string) (from, to int, next string, err error) {
	q := c.r.URL.Query()
	max := 25
	if m := q.Get("maxresults"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > 25 {
			return 0, 0, "", badParameter("maxresults must be an integer from 1 to 25, got '%s'.", m)
		}
		max = n
	}
	from = 0
	if tok := q.Get("$skiptoken"); tok != "" {
		for from < len(names) && names[from] <= tok {
			from++
		}
	}
	to = from + max
	if to >= len(names) {
		return from, len(names), "", nil
	}
	u := c.base + path + "?api-version=" + url.QueryEscape(c.r.URL.Query().Get("api-version")) + "&$skiptoken=" + url.QueryEscape(names[to-1]) + "&maxresults=" + strconv.Itoa(max)
	return from, to, u, nil
}

// keyCache keeps parsed private keys by (vault uid, name, version): parsing a PKCS#8 RSA key
// costs as much as a small crypto operation. Entries are dropped on purge; state checks
// (enabled, nbf, exp, deleted) always come from the store.
type keyCache struct {
	mu  sync.Mutex
	max int
	m   map[string]any
}

func newKeyCache(max int) *keyCache { return &keyCache{max: max, m: map[string]any{}} }

func (k *keyCache) get(id string) (any, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[id]
	return v, ok
}

func (k *keyCache) put(id string, v any) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.m) >= k.max {
		k.m = map[string]any{}
	}
	k.m[id] = v
}

func (k *keyCache) dropPrefix(prefix string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id := range k.m {
		if strings.HasPrefix(id, prefix) {
			delete(k.m, id)
		}
	}
}
