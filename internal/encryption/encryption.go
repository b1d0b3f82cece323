// Package encryption is storage encryption at rest, always on, in one layer: envelope
// encryption with a data key per storage account.
//
// In plain words: every storage account gets a random 256-bit data key when it is created.
// File content is cut into chunks; each chunk is encrypted with AES-256-GCM under a key
// derived from the account's data key for that one file (HKDF-SHA256 over the share and file
// id), with a fresh random nonce, and with (account, share, file, chunk index, file
// generation) bound as associated data, so a chunk cannot be moved to another file, another
// place in the file, or a later incarnation of the same file. The data key itself is never
// stored in the clear: it is wrapped by a key source —
//
//   - Microsoft-managed keys (keySource Microsoft.Storage): sealed under Cerulean's root key
//     through package seal;
//   - customer-managed keys (keySource Microsoft.Keyvault): wrapped with RSA-OAEP-256 by the
//     customer's key in Key Vault, which the storage account calls itself with a token for
//     its own managed identity (done by the caller of this package, through the Key Vault
//     API like any client).
//
// Changing the key source or the key version re-wraps the data key; content is never
// re-encrypted. Unwrapped data keys are cached (by package files) only while nothing that
// could revoke the customer key has changed, and for a bounded time, so revocation is
// immediate.
//
// It is not the Files API (package files) and holds no HTTP.
package encryption

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/hkdf"
)

// DataKeySize is the size of an account data key.
const DataKeySize = 32

// NewDataKey returns a random account data key.
func NewDataKey() []byte {
	k := make([]byte, DataKeySize)
	if _, err := rand.Read(k); err != nil {
		panic("encryption: no randomness: " + err.Error())
	}
	return k
}

// FileCipher encrypts and decrypts the chunks of one file.
type FileCipher struct {
	aead    cipher.AEAD
	account string
	share   string
	fileID  uint64
	gen     uint64
}

// ForFile derives the chunk cipher of one file (one generation of it) from a data key.
func ForFile(dataKey []byte, account, share string, fileID, generation uint64) (*FileCipher, error) {
	if len(dataKey) != DataKeySize {
		return nil, errors.New("encryption: data key must be 32 bytes")
	}
	info := make([]byte, 0, len(account)+len(share)+10)
	info = append(info, account...)
	info = append(info, 0)
	info = append(info, share...)
	info = append(info, 0)
	info = binary.BigEndian.AppendUint64(info, fileID)
	key := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, dataKey, []byte("cerulean/files/chunk-key"), info), key); err != nil {
		return nil, fmt.Errorf("derive chunk key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &FileCipher{aead: aead, account: account, share: share, fileID: fileID, gen: generation}, nil
}

func (f *FileCipher) aad(chunk uint64) []byte {
	b := make([]byte, 0, len(f.account)+len(f.share)+26)
	b = append(b, f.account...)
	b = append(b, 0)
	b = append(b, f.share...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, f.fileID)
	b = binary.BigEndian.AppendUint64(b, chunk)
	return binary.BigEndian.AppendUint64(b, f.gen)
}

// Seal encrypts one chunk: nonce || ciphertext || tag.
func (f *FileCipher) Seal(chunk uint64, plaintext []byte) []byte {
	return f.SealTo(nil, chunk, plaintext)
}

// SealTo is Seal writing into dst's memory (its contents overwritten) when it has the room,
// else into new memory. dst must not overlap plaintext.
func (f *FileCipher) SealTo(dst []byte, chunk uint64, plaintext []byte) []byte {
	n := f.aead.NonceSize()
	out := dst[:0]
	if size := n + len(plaintext) + f.aead.Overhead(); cap(out) < size {
		out = make([]byte, 0, size)
	}
	out = out[:n]
	if _, err := rand.Read(out); err != nil {
		panic("encryption: no randomness: " + err.Error())
	}
	return f.aead.Seal(out, out[:n], plaintext, f.aad(chunk))
}

// ErrChunk is returned for a chunk that does not decrypt (corrupt, moved or foreign).
var ErrChunk = errors.New("encryption: chunk does not decrypt")

// Open decrypts one chunk.
func (f *FileCipher) Open(chunk uint64, sealed []byte) ([]byte, error) {
	return f.OpenTo(nil, chunk, sealed)
}

// OpenTo is Open decrypting into dst's memory (its contents overwritten) when it has the
// room, else into new memory. dst must not overlap sealed.
func (f *FileCipher) OpenTo(dst []byte, chunk uint64, sealed []byte) ([]byte, error) {
	n := f.aead.NonceSize()
	if len(sealed) < n+f.aead.Overhead() {
		return nil, ErrChunk
	}
	pt, err := f.aead.Open(dst[:0], sealed[:n], sealed[n:], f.aad(chunk))
	if err != nil {
		return nil, ErrChunk
	}
	return pt, nil
}
