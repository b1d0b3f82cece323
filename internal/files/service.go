// Package files is Cerulean's Azure Files REST data plane: shares, directories, files and
// their ranges, properties, metadata and security descriptors, with Shared Key
// authentication and content encrypted at rest through package encryption. It also keeps the
// registry of storage accounts and shares the Microsoft.Storage resource provider writes.
//
// It is not the ARM side of Storage (internal/providers/storage) and holds no key material in
// the clear: account keys and data keys are sealed or wrapped.
package files

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/encryption"
	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/sts"
)

// DNSSuffix is the host suffix of the File service: <account>.file.core.windows.net.
const DNSSuffix = ".file.core.windows.net"

// ServiceVersion is the x-ms-version Cerulean answers with.
const ServiceVersion = "2025-05-05"

// MaxRange is the most a Put Range writes (4 MiB).
const MaxRange = 4 << 20

// chunkSize is the unit of encryption and storage of file content.
const chunkSize = 1 << 20

// Settings tune the File service.
type Settings struct {
	// CMKCacheTTL is the longest a data key unwrapped by a customer-managed key is used
	// before Key Vault is asked again. Revocation does not wait for it: a cached key is
	// dropped as soon as anything its unwrap depended on changes (see SetKeyDependencies).
	CMKCacheTTL time.Duration
	// ShareDeleteDelay is how long a deleted share stays "being deleted", as Azure's do
	// (deleted in the background): a second Delete Share is accepted again, Create Share of
	// that name answers 409 ShareBeingDeleted. 0: gone at once.
	ShareDeleteDelay time.Duration
}

// DefaultSettings: customer-key unwraps are cached for 5 minutes.
func DefaultSettings() Settings { return Settings{CMKCacheTTL: 5 * time.Minute} }

// Service is the File service of every account of the server.
type Service struct {
	st       store.Store
	barrier  *seal.Barrier
	kv       *encryption.KeyVault
	tokens   *sts.Service
	gate     *access.Gate
	now      func() time.Time
	settings Settings

	// keyDeps are the collections whose changes can revoke a customer key (keys, vaults,
	// role assignments, groups, principals): a cached unwrap is used only while their
	// revision is the one it was validated at.
	keyDeps []string

	compiledDescs compiledCache // descriptors compiled for identity-based access checks

	mu       sync.Mutex
	dataKeys map[string]cachedKey // account uid → unwrapped data key
	accounts accountCache

	// swept is the garbage collection's revision when a sweep last found it empty (-1: not
	// yet looked at): until it moves there is nothing to sweep.
	swept atomic.Int64

	inheritMu sync.Mutex
	inherit   map[string]string // parent permission key + kind → the SDDL a child inherits

	smbServing smbFlag // the shares are served over SMB too (handles.go)

	deletingMu sync.Mutex
	deleting   map[string]time.Time // account/share → when its deletion completes (ShareDeleteDelay)
}

// cachedKey is an unwrapped data key and what it was validated against: the wrapped form
// and, under a customer-managed key, the identity that unwrapped it and the store revision
// of keyDeps at the time. A cache may make reads faster, never more lenient.
type cachedKey struct {
	key      []byte
	wrapped  string
	identity string
	rev      int64
	expires  time.Time
}

type accountCache struct {
	rev int64
	m   map[string]Account
}

// New returns the File service; kv reaches customer-managed keys.
func New(st store.Store, barrier *seal.Barrier, kv *encryption.KeyVault, tokens *sts.Service, gate *access.Gate, now func() time.Time, settings Settings) *Service {
	if now == nil {
		now = time.Now
	}
	s := &Service{st: st, barrier: barrier, kv: kv, tokens: tokens, gate: gate, now: now, settings: settings, dataKeys: map[string]cachedKey{}, inherit: map[string]string{}}
	s.swept.Store(-1) // garbage a crash left is swept by the first request that sweeps
	return s
}

// Account returns the account record (cached per store revision), for routing.
func (s *Service) Account(ctx context.Context, name string) (Account, bool) {
	rev, err := s.st.Revision(ctx, colAccounts)
	if err != nil {
		return Account{}, false
	}
	s.mu.Lock()
	if s.accounts.m == nil || s.accounts.rev != rev {
		s.mu.Unlock()
		m := map[string]Account{}
		err := s.st.View(ctx, func(tx store.Tx) error {
			items, err := tx.List(colAccounts, "")
			for _, it := range items {
				if a, err := GetAccountTx(tx, it.Key); err == nil {
					m[it.Key] = a
				}
			}
			return err
		})
		if err != nil {
			return Account{}, false
		}
		s.mu.Lock()
		s.accounts = accountCache{rev: rev, m: m}
	}
	a, ok := s.accounts.m[accountKey(name)]
	s.mu.Unlock()
	return a, ok
}

// SetKeyDependencies names the store collections, besides the account records, that a
// customer key unwrap depends on (server.Build passes Key Vault's, the RBAC gate's and the
// directory's). Until it is called, customer-key unwraps are not cached at all.
func (s *Service) SetKeyDependencies(collections ...string) {
	s.mu.Lock()
	s.keyDeps = append([]string(nil), collections...)
	s.mu.Unlock()
}

// dataKey unwraps an account's data key: under Microsoft-managed keys with the root key,
// under a customer-managed key by asking Key Vault with the account's identity. A customer
// key that cannot be used answers Storage's 403. Customer-key unwraps are cached until
// anything that could revoke them changes (a key disabled, deleted or purged, a role or
// group membership removed, the identity deleted or detached, the vault deleted or its
// access model changed), and never longer than CMKCacheTTL.
func (s *Service) dataKey(ctx context.Context, a Account) ([]byte, error) {
	s.mu.Lock()
	c, ok := s.dataKeys[a.UID]
	deps := s.keyDeps
	s.mu.Unlock()
	if a.KeySource != KeySourceKeyVault {
		if ok && c.wrapped == string(a.WrappedKey) {
			return c.key, nil
		}
		k, err := UnwrapDataKey(ctx, s.barrier, s.kv, a)
		if err != nil {
			return nil, err
		}
		s.remember(a, cachedKey{key: k, wrapped: string(a.WrappedKey)})
		return k, nil
	}
	// The revision is read before Key Vault is asked, so a change that commits during the
	// unwrap leaves an entry that is already stale.
	var rev int64
	if len(deps) > 0 {
		var err error
		if rev, err = s.st.Revision(ctx, deps...); err != nil {
			return nil, err
		}
	}
	now := s.now()
	if ok && len(deps) > 0 && c.rev == rev && c.wrapped == string(a.WrappedKey) && c.identity == a.CMKIdentity && now.Before(c.expires) {
		return c.key, nil
	}
	k, err := UnwrapDataKey(ctx, s.barrier, s.kv, a)
	if err != nil {
		s.forget(a.UID)
		return nil, err
	}
	if len(deps) > 0 {
		s.remember(a, cachedKey{key: k, wrapped: string(a.WrappedKey), identity: a.CMKIdentity, rev: rev, expires: now.Add(s.settings.CMKCacheTTL)})
	}
	return k, nil
}

func (s *Service) remember(a Account, c cachedKey) {
	s.mu.Lock()
	s.dataKeys[a.UID] = c
	s.mu.Unlock()
}

func (s *Service) forget(uid string) {
	s.mu.Lock()
	delete(s.dataKeys, uid)
	s.mu.Unlock()
}

// UnwrapDataKey opens an account's data key without caching (key changes and polls).
func UnwrapDataKey(ctx context.Context, b *seal.Barrier, kv *encryption.KeyVault, a Account) ([]byte, error) {
	if a.KeySource != KeySourceKeyVault {
		return b.Open(dataKeyContext(a.UID), a.WrappedKey)
	}
	k, err := kv.Unwrap(ctx, a.CMKIdentity, a.ResourceID, a.WrappingKeyID, a.WrappedKey)
	if err != nil {
		var f *encryption.Failure
		if errors.As(err, &f) {
			return nil, azerr.Forbidden(f.Code, "%s %s", f.Message, f.Detail)
		}
		return nil, err
	}
	return k, nil
}

// SealDataKey wraps a data key under Microsoft-managed keys.
func SealDataKey(b *seal.Barrier, a Account, dataKey []byte) []byte {
	return b.Seal(dataKeyContext(a.UID), dataKey)
}

// ---- requests ----

type request struct {
	ctx     context.Context
	r       *http.Request
	w       http.ResponseWriter
	svc     *Service
	account Account
	caller  caller
	share   string
	path    string // within the share, "" for the root
	base    string // the URL prefix of the account, for ServiceEndpoint
	query   map[string]string
}

func (q *request) q(name string) string { return q.query[name] }

// storageError renders Azure Storage's XML error.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := azerr.From(err)
	for k, vs := range e.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("x-ms-error-code", e.Code)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return
	}
	type xmlErr struct {
		XMLName    xml.Name `xml:"Error"`
		Code       string   `xml:"Code"`
		Message    string   `xml:"Message"`
		HeaderName string   `xml:"HeaderName,omitempty"`
		Detail     string   `xml:"AuthenticationErrorDetail,omitempty"`
	}
	x := xmlErr{Code: e.Code, Message: e.Message + "\nRequestId:" + w.Header().Get("x-ms-request-id") + "\nTime:" + time.Now().UTC().Format("2006-01-02T15:04:05.0000000Z"), HeaderName: e.Target}
	if e.Code == "AuthenticationFailed" && len(e.Details) > 0 {
		x.Detail = e.Details[0].Message
	}
	io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(x)
}

func missingHeader(name string) error {
	e := azerr.BadRequest("MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.")
	e.Target = name
	return e
}

func invalidHeader(name, why string) error {
	e := azerr.BadRequest("InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format: %s %s.", name, why)
	e.Target = name
	return e
}

func authFailed(detail string) error {
	e := azerr.Forbidden("AuthenticationFailed", "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.")
	e.Details = []*azerr.Error{{Message: detail}}
	return e
}

// ServeAccount serves one request to an account's File service. base is the URL prefix of
// the account as the client used it; path is the rest ("/share/dir/file").
func (s *Service) ServeAccount(w http.ResponseWriter, r *http.Request, account, base, path string) {
	w.Header().Set("x-ms-version", ServiceVersion)
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	if err := s.serve(w, r, account, base, path); err != nil {
		writeError(w, r, err)
	}
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request, accountName, base, path string) error {
	a, ok := s.Account(r.Context(), accountName)
	if !ok {
		return azerr.BadRequest("AccountNotFound", "The storage account '%s' does not exist: create it with Resource Manager (az storage account create).", accountName)
	}
	if r.TLS == nil && !a.AllowHTTP {
		return azerr.BadRequest("AccountRequiresHttps", "The account being accessed does not support http.")
	}
	if v := r.Header.Get("x-ms-version"); v == "" {
		return missingHeader("x-ms-version")
	} else if len(v) != 10 || v < "2014-02-14" {
		return invalidHeader("x-ms-version", "'"+v+"' is not a File service version (2014-02-14 or later)")
	}
	segs0 := strings.Split(strings.Trim(path, "/"), "/")
	shareName, objPath := segs0[0], strings.Join(segs0[1:], "/")
	who, err := s.authenticate(r, a, shareName, objPath)
	if err != nil {
		return err
	}
	q := &request{ctx: r.Context(), r: r, w: w, svc: s, account: a, caller: who, base: strings.TrimRight(base, "/"), query: map[string]string{}}
	for k, vs := range r.URL.Query() {
		if len(vs) > 0 {
			q.query[strings.ToLower(k)] = vs[0]
		}
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) == 1 && segs[0] == "" {
		return q.serveService()
	}
	q.share = segs[0]
	q.path = strings.Join(segs[1:], "/")
	if !strings.EqualFold(r.Header.Get("x-ms-allow-trailing-dot"), "true") {
		q.path = trimTrailingDots(q.path)
	}
	if q.path != "" {
		if err := ValidPath(q.path); err != nil {
			return err
		}
	}
	if err := q.useSnapshot(); err != nil {
		return err
	}
	if q.path == "" && q.q("restype") == "share" {
		return q.serveShare()
	}
	if q.q("restype") == "directory" {
		return q.serveDirectory()
	}
	if q.path == "" {
		return q.serveDirectory()
	}
	if r.Method == http.MethodPut || r.Method == http.MethodDelete {
		// Clearing, truncating, replacing or deleting a file may leave garbage to sweep.
		defer func() { _ = s.sweep(q.ctx) }()
	}
	return q.serveFile()
}

// authenticate checks Shared Key (the account key is the super-user, as in Azure), a shared
// access signature, or a bearer token with its data actions, and says who the caller is.
func (s *Service) authenticate(r *http.Request, a Account, share, path string) (caller, error) {
	query := map[string]string{}
	for k, vs := range r.URL.Query() {
		query[strings.ToLower(k)] = vs[0]
	}
	// Every request is one declared operation, or refused here, before any credential or
	// resource is looked at.
	op, err := classify(r, share, path, query)
	if err != nil {
		return caller{}, err
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		if r.URL.Query().Get("sig") != "" {
			// A user delegation SAS (skoid) is Entra-based: it works with Shared Key off.
			if !a.AllowSharedKeyAccess && r.URL.Query().Get("skoid") == "" {
				return caller{}, errKeyAuthNotPermitted()
			}
			return caller{sas: r.URL.Query()}, s.checkSAS(r, a, share, path, op)
		}
		return caller{}, azerr.Unauthorized("NoAuthenticationInformation", "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.")
	}
	scheme, cred, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "SharedKey"):
		if !a.AllowSharedKeyAccess {
			return caller{}, errKeyAuthNotPermitted()
		}
		if err := checkRequestDate(r.Header, s.now()); err != nil {
			return caller{}, err
		}
		name, sig, ok := strings.Cut(strings.TrimSpace(cred), ":")
		if !ok || !strings.EqualFold(name, a.Name) {
			return caller{}, authFailed("The MAC signature found in the HTTP request is not for this account: the Authorization header names '" + name + "'.")
		}
		keys, err := AccountKeys(s.barrier, a)
		if err != nil {
			return caller{}, err
		}
		sts := stringToSign(r, a.Name)
		for _, k := range keys {
			if want, ok := signSharedKey(k, sts); ok && equalSig(want, sig) {
				return caller{sharedKey: true}, nil
			}
		}
		return caller{}, authFailed("The MAC signature found in the HTTP request '" + sig + "' is not the same as any computed signature. Server used following string to sign: '" + strings.ReplaceAll(sts, "\n", `\n`) + "'.")
	case strings.EqualFold(scheme, "Bearer"):
		p, err := s.checkBearer(r, a, share, path, op)
		return caller{principal: p}, err
	}
	return caller{}, authFailed("The Authorization header scheme '" + scheme + "' is not supported: use SharedKey.")
}

func errKeyAuthNotPermitted() error {
	return azerr.Forbidden("KeyBasedAuthenticationNotPermitted", "Key based authentication is not permitted on this storage account.")
}

// ---- common response helpers ----

func fileTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

func parseFileTime(v string, def time.Time) (time.Time, error) {
	switch strings.ToLower(v) {
	case "", "now", "preserve":
		return def, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return def, err
	}
	return t.UTC(), nil
}

func metadataFrom(h http.Header) (map[string]string, error) {
	m := map[string]string{}
	total := 0
	for k, vs := range h {
		lk := strings.ToLower(k)
		if !strings.HasPrefix(lk, "x-ms-meta-") {
			continue
		}
		name := lk[len("x-ms-meta-"):]
		if name == "" || !validMetaName(name) {
			return nil, azerr.BadRequest("InvalidMetadata", "The metadata specified is invalid. It has characters that are not permitted: '%s'.", name)
		}
		m[name] = strings.Join(vs, ",")
		total += len(name) + len(m[name])
	}
	if total > 8*1024 {
		return nil, azerr.BadRequest("MetadataTooLarge", "The size of the specified metadata exceeds the maximum size permitted (8 KiB).")
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

func validMetaName(n string) bool {
	for i, r := range n {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' && i > 0) {
			return false
		}
	}
	return true
}

// writeMetadata sends metadata as Azure does: header names x-ms-meta-<name> in lower case,
// not canonicalized (Python clients match the prefix case-sensitively).
func writeMetadata(w http.ResponseWriter, m map[string]string) {
	for k, v := range m {
		w.Header()["x-ms-meta-"+k] = []string{v}
	}
}

// leaseHeaders reports the lease state of a share or file: Cerulean has no leases, so every
// one is unlocked and available.

func writeXML(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, xml.Header)
	return xml.NewEncoder(w).Encode(v)
}

func maxResults(q *request) (int, error) {
	v := q.q("maxresults")
	if v == "" {
		return 5000, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 5000 {
		e := azerr.BadRequest("OutOfRangeQueryParameterValue", "One of the query parameters specified in the request URI is outside the permissible range: maxresults must be 1-5000.")
		e.Target = "maxresults"
		return 0, e
	}
	return n, nil
}
