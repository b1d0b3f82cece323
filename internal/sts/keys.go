package sts

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/go-jose/go-jose/v4"
)

const colSigningKeys = "sts.signingKeys"

// signingKeyRecord is a token-signing key as stored: the private key sealed.
type signingKeyRecord struct {
	KeyID     string    `json:"kid"`
	CertDER   []byte    `json:"certDer"`
	SealedKey []byte    `json:"sealedKey"`
	CreatedAt time.Time `json:"createdAt"`
}

type signingKey struct {
	kid     string
	cert    *x509.Certificate
	priv    *rsa.PrivateKey
	created time.Time
	signer  jose.Signer
}

// keyring holds the current signing key and the previous one; JWKS publishes both and tokens
// signed by either verify.
type keyring struct {
	st      store.Store
	barrier *seal.Barrier

	mu         sync.RWMutex
	keys       []*signingKey // newest first; at most two
	lastReload time.Time
	reloading  atomic.Bool
	refresh    time.Duration // keyRefresh; shorter in tests
}

// keyRefresh is how often the signing key is re-read from the store, so a rotation made by
// another instance or by `cerulean signing-key rotate` is picked up while serving.
const keyRefresh = 10 * time.Second

func newKeyring(st store.Store, barrier *seal.Barrier) *keyring {
	return &keyring{st: st, barrier: barrier, refresh: keyRefresh}
}

func sealContext(kid string) string { return "sts/signing-key/" + kid }

// ensure loads the keys, creating the first one if there is none.
func (k *keyring) ensure(ctx context.Context) error {
	if err := k.reload(ctx); err != nil {
		return err
	}
	k.mu.RLock()
	n := len(k.keys)
	k.mu.RUnlock()
	if n > 0 {
		return nil
	}
	return k.rotate(ctx)
}

// rotate makes a new current key; the old current key becomes the previous one and any older
// key is removed.
func (k *keyring) rotate(ctx context.Context) error {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate signing key: %w", err)
	}
	now := time.Now().UTC()
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "Cerulean token signing"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return fmt.Errorf("self-sign signing key: %w", err)
	}
	sum := sha1.Sum(der)
	kid := base64.RawURLEncoding.EncodeToString(sum[:])
	rec := signingKeyRecord{KeyID: kid, CertDER: der, SealedKey: k.barrier.Seal(sealContext(kid), x509.MarshalPKCS1PrivateKey(priv)), CreatedAt: now}
	b, _ := json.Marshal(rec)
	err = k.st.Update(ctx, func(tx store.Tx) error {
		items, err := tx.List(colSigningKeys, "")
		if err != nil {
			return err
		}
		recs := decodeKeyRecords(items)
		// Keep only the newest existing key as "previous".
		for i, r := range recs {
			if i >= 1 {
				if err := tx.Delete(colSigningKeys, r.KeyID); err != nil {
					return err
				}
			}
		}
		return tx.Create(colSigningKeys, kid, b)
	})
	if err != nil {
		return fmt.Errorf("store signing key: %w", err)
	}
	return k.reload(ctx)
}

func decodeKeyRecords(items []store.Item) []signingKeyRecord {
	var recs []signingKeyRecord
	for _, it := range items {
		var r signingKeyRecord
		if json.Unmarshal(it.Value, &r) == nil {
			recs = append(recs, r)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].CreatedAt.After(recs[j].CreatedAt) })
	return recs
}

func (k *keyring) reload(ctx context.Context) error {
	var items []store.Item
	if err := k.st.View(ctx, func(tx store.Tx) error {
		var err error
		items, err = tx.List(colSigningKeys, "")
		return err
	}); err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	var keys []*signingKey
	for _, r := range decodeKeyRecords(items) {
		cert, err := x509.ParseCertificate(r.CertDER)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", r.KeyID, err)
		}
		der, err := k.barrier.Open(sealContext(r.KeyID), r.SealedKey)
		if err != nil {
			return fmt.Errorf("open signing key %s (was the root key replaced?): %w", r.KeyID, err)
		}
		priv, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", r.KeyID, err)
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: r.KeyID}},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("x5t", r.KeyID))
		if err != nil {
			return fmt.Errorf("signer for %s: %w", r.KeyID, err)
		}
		keys = append(keys, &signingKey{kid: r.KeyID, cert: cert, priv: priv, created: r.CreatedAt, signer: signer})
	}
	k.mu.Lock()
	k.keys = keys
	k.lastReload = time.Now()
	k.mu.Unlock()
	return nil
}

var errNoKey = errors.New("sts: no signing key")

func (k *keyring) current() (*signingKey, error) {
	k.mu.RLock()
	stale := time.Since(k.lastReload) > k.refresh
	k.mu.RUnlock()
	if stale && k.reloading.CompareAndSwap(false, true) {
		// One caller re-reads; the others sign with the key they have. A failed re-read
		// keeps the current keys.
		_ = k.reload(context.Background())
		k.reloading.Store(false)
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if len(k.keys) == 0 {
		return nil, errNoKey
	}
	return k.keys[0], nil
}

// publicKey returns the key with kid; on a miss it reloads from the store at most once a
// second (another instance, or `cerulean signing-key rotate`, may have rotated).
func (k *keyring) publicKey(ctx context.Context, kid string) (*rsa.PublicKey, bool) {
	find := func() (*rsa.PublicKey, bool) {
		k.mu.RLock()
		defer k.mu.RUnlock()
		for _, key := range k.keys {
			if key.kid == kid {
				return &key.priv.PublicKey, true
			}
		}
		return nil, false
	}
	if pk, ok := find(); ok {
		return pk, true
	}
	k.mu.RLock()
	recent := time.Since(k.lastReload) < time.Second
	k.mu.RUnlock()
	if recent || k.reload(ctx) != nil {
		return nil, false
	}
	return find()
}

// jwks returns the JSON Web Key Set of the current and previous keys.
func (k *keyring) jwks(issuer string) any {
	k.mu.RLock()
	defer k.mu.RUnlock()
	type jwk struct {
		Kty    string   `json:"kty"`
		Use    string   `json:"use"`
		Kid    string   `json:"kid"`
		X5t    string   `json:"x5t"`
		N      string   `json:"n"`
		E      string   `json:"e"`
		X5c    []string `json:"x5c"`
		Issuer string   `json:"issuer,omitempty"`
	}
	keys := []jwk{}
	for _, key := range k.keys {
		pub := key.priv.PublicKey
		keys = append(keys, jwk{Kty: "RSA", Use: "sig", Kid: key.kid, X5t: key.kid,
			N:   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			E:   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
			X5c: []string{base64.StdEncoding.EncodeToString(key.cert.Raw)}, Issuer: issuer})
	}
	return map[string]any{"keys": keys}
}

// SigningKeyInfo describes a token-signing key: its kid (the x5t of its certificate) and
// when it was made.
type SigningKeyInfo struct {
	KeyID     string    `json:"kid"`
	CreatedAt time.Time `json:"createdAt"`
	Current   bool      `json:"current"`
}

// SigningKeys lists the current and previous signing keys, newest first.
func (s *Service) SigningKeys() []SigningKeyInfo {
	s.keys.mu.RLock()
	defer s.keys.mu.RUnlock()
	out := make([]SigningKeyInfo, 0, len(s.keys.keys))
	for i, k := range s.keys.keys {
		out = append(out, SigningKeyInfo{KeyID: k.kid, CreatedAt: k.created, Current: i == 0})
	}
	return out
}

// has reports whether kid is a current or previous signing key (without re-reading the store).
func (k *keyring) has(kid string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, key := range k.keys {
		if key.kid == kid {
			return true
		}
	}
	return false
}
