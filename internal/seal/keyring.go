package seal

import (
	"github.com/cerulean-azure/cerulean/internal/atomicfile"

	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// keyringFile is the on-disk keyring: the data-encryption keys by term, each sealed under
// the root key (the key-encryption key) with the context "seal/keyring/<term>".
type keyringFile struct {
	Version int           `json:"version"`
	Current uint32        `json:"current"`
	Terms   []keyringTerm `json:"terms"`
}

type keyringTerm struct {
	Term   uint32 `json:"term"`
	Sealed []byte `json:"sealed"`
}

func termContext(term uint32) string { return fmt.Sprintf("seal/keyring/%d", term) }

// kek is the root key as a key-encryption key: it seals only keyring terms, in the version-1
// format.
func kek(rootKey []byte) (*Barrier, error) { return newSingle(rootKey) }

// OpenKeyring opens the barrier of a data folder: the root key at rootKeyPath (created if
// absent) unlocks the keyring at keyringPath. A data folder without a keyring gets one: when
// legacy says values were sealed directly under the root key (data folders from before the
// keyring), term 0 is the root key's own bytes, so they still open; otherwise term 0 is a
// fresh random key. The returned secret is term 0's key: stable across root-key rotations,
// it is what other keys are derived from.
func OpenKeyring(rootKeyPath, keyringPath string, legacy bool) (*Barrier, []byte, error) {
	root, err := LoadOrCreateRootKey(rootKeyPath)
	if err != nil {
		return nil, nil, err
	}
	kr, err := readKeyring(keyringPath)
	if errors.Is(err, os.ErrNotExist) {
		term0 := make([]byte, 32)
		if legacy {
			copy(term0, root)
		} else if _, err := rand.Read(term0); err != nil {
			return nil, nil, fmt.Errorf("generate data key: %w", err)
		}
		if err := writeKeyring(keyringPath, root, map[uint32][]byte{0: term0}, 0); err != nil {
			return nil, nil, err
		}
		kr, err = readKeyring(keyringPath)
	}
	if err != nil {
		return nil, nil, err
	}
	keys, err := openTerms(kr, root)
	if err != nil {
		// A rotation that stopped after rewriting the keyring but before replacing the root
		// key leaves the new key beside the old one.
		if next, rerr := os.ReadFile(rootKeyPath + ".new"); rerr == nil && len(next) == 32 {
			if keys, err = openTerms(kr, next); err == nil {
				if err := os.Rename(rootKeyPath+".new", rootKeyPath); err != nil {
					return nil, nil, fmt.Errorf("finish root key rotation: %w", err)
				}
			}
		}
	}
	if err != nil {
		return nil, nil, err
	}
	b, err := newKeyring(keys, kr.Current)
	if err != nil {
		return nil, nil, err
	}
	return b, keys[0], nil
}

// RotateRootKey replaces the root key: the keyring is re-sealed under newRoot (random when
// nil) and the old root key stops opening anything. Sealed values in the store are untouched:
// they are sealed under the data keys, which do not change. The server may be running.
func RotateRootKey(rootKeyPath, keyringPath string, newRoot []byte) error {
	old, err := os.ReadFile(rootKeyPath)
	if err != nil {
		return fmt.Errorf("read root key: %w", err)
	}
	kr, err := readKeyring(keyringPath)
	if err != nil {
		return err
	}
	keys, err := openTerms(kr, old)
	if err != nil {
		return err
	}
	if newRoot == nil {
		newRoot = make([]byte, 32)
		if _, err := rand.Read(newRoot); err != nil {
			return fmt.Errorf("generate root key: %w", err)
		}
	}
	if len(newRoot) != 32 {
		return fmt.Errorf("the new root key has %d bytes, want 32", len(newRoot))
	}
	// Order matters for a crash at any point: the new key is written beside the old one,
	// then the keyring is re-sealed, then the new key replaces the old one.
	if err := atomicfile.Write(rootKeyPath+".new", newRoot, 0o600); err != nil {
		return err
	}
	if err := writeKeyring(keyringPath, newRoot, keys, kr.Current); err != nil {
		return err
	}
	return os.Rename(rootKeyPath+".new", rootKeyPath)
}

func readKeyring(path string) (keyringFile, error) {
	var kr keyringFile
	b, err := os.ReadFile(path)
	if err != nil {
		return kr, err
	}
	if err := json.Unmarshal(b, &kr); err != nil || kr.Version != 1 || len(kr.Terms) == 0 {
		return kr, fmt.Errorf("keyring %s is corrupt: restore it from backup", path)
	}
	return kr, nil
}

func openTerms(kr keyringFile, root []byte) (map[uint32][]byte, error) {
	k, err := kek(root)
	if err != nil {
		return nil, err
	}
	keys := map[uint32][]byte{}
	for _, t := range kr.Terms {
		key, err := k.Open(termContext(t.Term), t.Sealed)
		if err != nil || len(key) != 32 {
			return nil, errors.New("the root key does not open the keyring: this is not the root key of this data folder (restore root.key, or the --root-key-file you started with)")
		}
		keys[t.Term] = key
	}
	if _, ok := keys[0]; !ok {
		return nil, errors.New("the keyring has no term 0")
	}
	return keys, nil
}

func writeKeyring(path string, root []byte, keys map[uint32][]byte, current uint32) error {
	k, err := kek(root)
	if err != nil {
		return err
	}
	kr := keyringFile{Version: 1, Current: current}
	for term := uint32(0); term <= current; term++ {
		if key, ok := keys[term]; ok {
			kr.Terms = append(kr.Terms, keyringTerm{Term: term, Sealed: k.Seal(termContext(term), key)})
		}
	}
	b, _ := json.MarshalIndent(kr, "", "  ")
	return atomicfile.Write(path, b, 0o600)
}

// newKeyring returns a barrier that seals under the current term and opens every term.
func newKeyring(keys map[uint32][]byte, current uint32) (*Barrier, error) {
	b := &Barrier{terms: map[uint32]cipher.AEAD{}, current: current}
	for term, key := range keys {
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		b.terms[term] = aead
	}
	if _, ok := b.terms[current]; !ok {
		return nil, fmt.Errorf("the keyring has no current term %d", current)
	}
	return b, nil
}

// sealTerm is the version-2 form: version byte, term (4 bytes, big-endian), nonce,
// ciphertext+tag.
func (b *Barrier) sealTerm(context string, plaintext []byte) []byte {
	aead := b.terms[b.current]
	n := aead.NonceSize()
	out := make([]byte, 5+n, 5+n+len(plaintext)+aead.Overhead())
	out[0] = versionTerm
	binary.BigEndian.PutUint32(out[1:5], b.current)
	if _, err := rand.Read(out[5:]); err != nil {
		panic("seal: no randomness: " + err.Error())
	}
	return aead.Seal(out, out[5:5+n], plaintext, []byte(context))
}

func (b *Barrier) openTerm(context string, sealed []byte) ([]byte, error) {
	if len(sealed) < 5 {
		return nil, ErrOpen
	}
	aead, ok := b.terms[binary.BigEndian.Uint32(sealed[1:5])]
	if !ok {
		return nil, ErrOpen
	}
	n := aead.NonceSize()
	if len(sealed) < 5+n+aead.Overhead() {
		return nil, ErrOpen
	}
	pt, err := aead.Open(nil, sealed[5:5+n], sealed[5+n:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}
