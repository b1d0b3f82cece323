// Package seal is the one place Cerulean encrypts secrets before they reach the store.
//
// Cryptography in brief: the server has a 256-bit root key, generated on first start and kept
// in the data folder as root.key (mode 0600), or supplied by the operator with --root-key-file;
// it is never in the store. The root key is a key-encryption key: it seals only the keyring
// (keyring.json beside it), which holds the data-encryption keys by term. Seal encrypts a
// value with AES-256-GCM under the current term's key with a fresh 96-bit nonce, and binds
// the caller's context string (for example "sts/signing-key/<kid>") as associated data, so a
// sealed value copied to another place in the store fails to open. The sealed form is:
// version byte 2, term (4 bytes), nonce, ciphertext+tag; version 1 (no term) is term 0.
//
// Rotating the root key (cerulean root-key rotate) re-seals only the keyring under a new root
// key; stored values keep opening, and the old root key no longer opens anything.
//
// It is not a key-management service: customer keys and Key Vault live elsewhere.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
)

const (
	version     = 1 // nonce, ciphertext: a single key (term 0, or the key-encryption key)
	versionTerm = 2 // term, nonce, ciphertext
)

// Barrier seals and opens values under a keyring of data keys (or a single key).
type Barrier struct {
	aead    cipher.AEAD // single-key barriers (New)
	terms   map[uint32]cipher.AEAD
	current uint32
}

// New returns a Barrier for one 32-byte key (tests, and the root key sealing the keyring).
func New(rootKey []byte) (*Barrier, error) { return newSingle(rootKey) }

func newSingle(rootKey []byte) (*Barrier, error) {
	if len(rootKey) != 32 {
		return nil, fmt.Errorf("root key must be 32 bytes, got %d", len(rootKey))
	}
	block, err := aes.NewCipher(rootKey)
	if err != nil {
		return nil, fmt.Errorf("root key cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("root key gcm: %w", err)
	}
	return &Barrier{aead: aead}, nil
}

// LoadOrCreateRootKey reads the root key file at path, creating it with a random key when it
// does not exist.
func LoadOrCreateRootKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("root key file %s has %d bytes, want 32: restore it from backup or remove the data folder to start afresh", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read root key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate root key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create root key: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("write root key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("sync root key: %w", err)
	}
	return key, f.Close()
}

// Seal encrypts plaintext bound to context.
func (b *Barrier) Seal(context string, plaintext []byte) []byte {
	if b.terms != nil {
		return b.sealTerm(context, plaintext)
	}
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	out[0] = version
	if _, err := rand.Read(out[1:]); err != nil {
		panic("seal: no randomness: " + err.Error())
	}
	return b.aead.Seal(out, out[1:1+b.aead.NonceSize()], plaintext, []byte(context))
}

// ErrOpen is returned for a sealed value that is corrupt, foreign or bound to another context.
var ErrOpen = errors.New("seal: cannot open sealed value")

// Open decrypts a value sealed with the same context.
func (b *Barrier) Open(context string, sealed []byte) ([]byte, error) {
	if len(sealed) > 0 && sealed[0] == versionTerm && b.terms != nil {
		return b.openTerm(context, sealed)
	}
	aead := b.aead
	if b.terms != nil {
		aead = b.terms[0] // version 1 under a keyring: sealed before terms existed
	}
	n := aead.NonceSize()
	if len(sealed) < 1+n+aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	pt, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
