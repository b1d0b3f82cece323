package directory

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

// Managed identity credential lifetimes (seed 003: valid 90 days, rolled after 45).
const (
	ManagedIdentityCredentialLifetime = 90 * 24 * time.Hour
	ManagedIdentityCredentialRollover = 45 * 24 * time.Hour
)

// CredentialType tells the kinds of credential apart.
type CredentialType string

// Credential types.
const (
	CredentialSecret      CredentialType = "Password"
	CredentialCertificate CredentialType = "AsymmetricX509Cert"
	// CredentialManagedIdentity is the internal certificate a managed identity authenticates
	// with; it is never handed to clients.
	CredentialManagedIdentity CredentialType = "ManagedIdentityCertificate"
)

// Credential is a credential of a principal. Secrets are kept as a salted hash, and only a
// "retrievable" secret (the bootstrap administrator's) is also kept sealed.
type Credential struct {
	KeyID     string         `json:"keyId"`
	Type      CredentialType `json:"type"`
	Hint      string         `json:"hint,omitempty"`
	Salt      []byte         `json:"salt,omitempty"`
	Hash      []byte         `json:"hash,omitempty"`
	Sealed    []byte         `json:"sealed,omitempty"`
	CertDER   []byte         `json:"certDer,omitempty"`
	SealedKey []byte         `json:"sealedKey,omitempty"`
	// Thumbprint is the certificate's SHA-1 thumbprint, upper-case hex, as Azure shows it.
	Thumbprint string    `json:"thumbprint,omitempty"`
	NotBefore  time.Time `json:"notBefore"`
	NotAfter   time.Time `json:"notAfter"`
}

func credKey(oid, keyID string) string { return oid + "/" + keyID }

func hashSecret(salt []byte, secret string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(secret))
	return h.Sum(nil)
}

// AddClientSecretTx creates a client secret for a service principal, valid for lifetime. It
// returns the secret, which is not stored in plaintext. A retrievable secret is also sealed,
// so ClientSecret can return it later (only the bootstrap administrator's is).
func (d *Directory) AddClientSecretTx(tx store.Tx, objectID string, lifetime time.Duration, retrievable bool) (string, Credential, error) {
	p, err := d.GetTx(tx, objectID)
	if err != nil {
		return "", Credential{}, err
	}
	if p.Kind != KindServicePrincipal {
		return "", Credential{}, fmt.Errorf("principal %s is a %s: only service principals have client secrets", objectID, p.Kind)
	}
	raw := make([]byte, 30)
	salt := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", Credential{}, err
	}
	if _, err := rand.Read(salt); err != nil {
		return "", Credential{}, err
	}
	secret := strings.NewReplacer("+", "~", "/", "_", "=", "").Replace(base64.StdEncoding.EncodeToString(raw))
	now := d.now().UTC()
	c := Credential{KeyID: uuid.NewString(), Type: CredentialSecret, Hint: secret[:3], Salt: salt,
		Hash: hashSecret(salt, secret), NotBefore: now, NotAfter: now.Add(lifetime)}
	if retrievable {
		c.Sealed = d.barrier.Seal(sealContext(p.ObjectID, c.KeyID), []byte(secret))
	}
	if err := putJSON(tx, colCredentials, credKey(p.ObjectID, c.KeyID), c); err != nil {
		return "", Credential{}, err
	}
	return secret, c, nil
}

func sealContext(oid, keyID string) string { return "directory/credential/" + oid + "/" + keyID }

// ClientSecret returns a retrievable secret of the principal (the bootstrap administrator's).
func (d *Directory) ClientSecret(tx store.Tx, objectID string) (string, error) {
	creds, err := d.credentialsTx(tx, objectID)
	if err != nil {
		return "", err
	}
	for _, c := range creds {
		if c.Type == CredentialSecret && c.Sealed != nil {
			b, err := d.barrier.Open(sealContext(strings.ToLower(objectID), c.KeyID), c.Sealed)
			return string(b), err
		}
	}
	return "", errors.New("directory: principal has no retrievable secret")
}

// AddCertificateTx registers a certificate credential (public part only) for a service
// principal; clients prove possession by signing client assertions with its key.
func (d *Directory) AddCertificateTx(tx store.Tx, objectID string, cert *x509.Certificate) (Credential, error) {
	p, err := d.GetTx(tx, objectID)
	if err != nil {
		return Credential{}, err
	}
	if p.Kind != KindServicePrincipal {
		return Credential{}, fmt.Errorf("principal %s is a %s: only service principals take certificate credentials", objectID, p.Kind)
	}
	c := Credential{KeyID: uuid.NewString(), Type: CredentialCertificate, CertDER: cert.Raw,
		Thumbprint: Thumbprint(cert), NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC()}
	return c, putJSON(tx, colCredentials, credKey(p.ObjectID, c.KeyID), c)
}

// Thumbprint is a certificate's SHA-1 thumbprint in upper-case hex.
func Thumbprint(cert *x509.Certificate) string {
	s := sha1.Sum(cert.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

func (d *Directory) credentialsTx(tx store.Tx, objectID string) ([]Credential, error) {
	items, err := tx.List(colCredentials, strings.ToLower(objectID)+"/")
	if err != nil {
		return nil, err
	}
	out := make([]Credential, 0, len(items))
	for _, it := range items {
		var c Credential
		if err := json.Unmarshal(it.Value, &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Credentials lists a principal's credentials (secrets as hashes only).
func (d *Directory) Credentials(tx store.Tx, objectID string) ([]Credential, error) {
	return d.credentialsTx(tx, objectID)
}

// ErrInvalidCredential is returned when a secret or certificate does not match.
var ErrInvalidCredential = errors.New("directory: invalid client credential")

// CheckClientSecret reports whether secret is a current client secret of the principal.
func (d *Directory) CheckClientSecret(tx store.Tx, objectID, secret string) error {
	creds, err := d.credentialsTx(tx, objectID)
	if err != nil {
		return err
	}
	now := d.now()
	for _, c := range creds {
		if c.Type != CredentialSecret || now.Before(c.NotBefore.Add(-5*time.Minute)) || now.After(c.NotAfter) {
			continue
		}
		if subtle.ConstantTimeCompare(hashSecret(c.Salt, secret), c.Hash) == 1 {
			return nil
		}
	}
	return ErrInvalidCredential
}

// Certificates returns the principal's current certificate credentials.
func (d *Directory) Certificates(tx store.Tx, objectID string) ([]*x509.Certificate, error) {
	creds, err := d.credentialsTx(tx, objectID)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	now := d.now()
	for _, c := range creds {
		if c.Type != CredentialCertificate || now.After(c.NotAfter) || now.Before(c.NotBefore.Add(-5*time.Minute)) {
			continue
		}
		cert, err := x509.ParseCertificate(c.CertDER)
		if err != nil {
			continue
		}
		out = append(out, cert)
	}
	return out, nil
}

// rollManagedIdentityCredential issues a fresh 90-day certificate for a managed identity and
// drops the expired ones.
func (d *Directory) rollManagedIdentityCredential(tx store.Tx, objectID string) (Credential, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Credential{}, fmt.Errorf("generate managed identity key: %w", err)
	}
	now := d.now().UTC().Truncate(time.Second)
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: objectID},
		NotBefore:    now,
		NotAfter:     now.Add(ManagedIdentityCredentialLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return Credential{}, fmt.Errorf("issue managed identity certificate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Credential{}, err
	}
	c := Credential{KeyID: uuid.NewString(), Type: CredentialManagedIdentity, CertDER: der,
		Thumbprint: Thumbprint(cert), NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC()}
	c.SealedKey = d.barrier.Seal(sealContext(objectID, c.KeyID), keyDER)
	old, err := d.credentialsTx(tx, objectID)
	if err != nil {
		return Credential{}, err
	}
	for _, o := range old {
		if o.Type == CredentialManagedIdentity && now.After(o.NotAfter) {
			if err := tx.Delete(colCredentials, credKey(objectID, o.KeyID)); err != nil {
				return Credential{}, err
			}
		}
	}
	return c, putJSON(tx, colCredentials, credKey(objectID, c.KeyID), c)
}

// ManagedIdentityCredentialTx returns the managed identity's current certificate credential,
// rolling it first when the newest one is 45 days old or more.
func (d *Directory) ManagedIdentityCredentialTx(tx store.Tx, objectID string) (Credential, error) {
	p, err := d.GetTx(tx, objectID)
	if err != nil {
		return Credential{}, err
	}
	if p.Kind != KindManagedIdentity {
		return Credential{}, fmt.Errorf("principal %s is not a managed identity", objectID)
	}
	if p.Deleted() {
		return Credential{}, fmt.Errorf("managed identity %s is deleted", objectID)
	}
	creds, err := d.credentialsTx(tx, p.ObjectID)
	if err != nil {
		return Credential{}, err
	}
	var newest *Credential
	for i := range creds {
		if creds[i].Type == CredentialManagedIdentity && (newest == nil || creds[i].NotBefore.After(newest.NotBefore)) {
			newest = &creds[i]
		}
	}
	if newest != nil && d.now().Sub(newest.NotBefore) < ManagedIdentityCredentialRollover {
		return *newest, nil
	}
	return d.rollManagedIdentityCredential(tx, p.ObjectID)
}
