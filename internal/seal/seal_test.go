package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestBarrier_SealOpen(t *testing.T) {
	key, err := LoadOrCreateRootKey(filepath.Join(t.TempDir(), "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("client secret")
	sealed := b.Seal("a/1", secret)
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed value contains the plaintext")
	}
	t.Run("same context", func(t *testing.T) {
		got, err := b.Open("a/1", sealed)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("got %q, %v; want %q", got, err, secret)
		}
	})
	t.Run("other context", func(t *testing.T) {
		if _, err := b.Open("a/2", sealed); !errors.Is(err, ErrOpen) {
			t.Fatalf("got %v, want ErrOpen", err)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		bad := bytes.Clone(sealed)
		bad[len(bad)-1] ^= 1
		if _, err := b.Open("a/1", bad); !errors.Is(err, ErrOpen) {
			t.Fatalf("got %v, want ErrOpen", err)
		}
	})
	t.Run("short", func(t *testing.T) {
		if _, err := b.Open("a/1", []byte{1, 2}); !errors.Is(err, ErrOpen) {
			t.Fatalf("got %v, want ErrOpen", err)
		}
	})
}

func TestLoadOrCreateRootKey_Stable(t *testing.T) {
	p := filepath.Join(t.TempDir(), "root.key")
	k1, err := LoadOrCreateRootKey(p)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateRootKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("second load returned another key")
	}
}

func TestKeyring_RotateRootKey(t *testing.T) {
	dir := t.TempDir()
	keyPath, ringPath := filepath.Join(dir, "root.key"), filepath.Join(dir, "keyring.json")
	b, secret, err := OpenKeyring(keyPath, ringPath, false)
	if err != nil {
		t.Fatal(err)
	}
	sealed := b.Seal("ctx", []byte("kept across rotations"))
	oldRoot, _ := os.ReadFile(keyPath)
	if bytes.Equal(oldRoot, secret) {
		t.Fatal("a fresh keyring's term-0 key equals the root key")
	}
	if err := RotateRootKey(keyPath, ringPath, nil); err != nil {
		t.Fatal(err)
	}
	newRoot, _ := os.ReadFile(keyPath)
	if bytes.Equal(newRoot, oldRoot) {
		t.Fatal("the root key did not change")
	}
	b2, secret2, err := OpenKeyring(keyPath, ringPath, false)
	if err != nil {
		t.Fatalf("open with the new root key: %v", err)
	}
	if got, err := b2.Open("ctx", sealed); err != nil || string(got) != "kept across rotations" {
		t.Fatalf("value sealed before the rotation: %q, %v", got, err)
	}
	if !bytes.Equal(secret, secret2) {
		t.Fatal("the derivation secret changed with the root key")
	}
	oldPath := filepath.Join(dir, "old.key")
	os.WriteFile(oldPath, oldRoot, 0o600)
	if _, _, err := OpenKeyring(oldPath, ringPath, false); err == nil {
		t.Fatal("the old root key still opens the keyring")
	}
	// A rotation interrupted after the keyring was re-sealed finishes on the next open.
	if err := RotateRootKey(keyPath, ringPath, bytes.Repeat([]byte{9}, 32)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(keyPath+".new", bytes.Repeat([]byte{7}, 32), 0o600)
	kr, _ := readKeyring(ringPath)
	keys, _ := openTerms(kr, bytes.Repeat([]byte{9}, 32))
	if err := writeKeyring(ringPath, bytes.Repeat([]byte{7}, 32), keys, kr.Current); err != nil {
		t.Fatal(err)
	}
	b3, _, err := OpenKeyring(keyPath, ringPath, false)
	if err != nil {
		t.Fatalf("open after an interrupted rotation: %v", err)
	}
	if got, _ := os.ReadFile(keyPath); !bytes.Equal(got, bytes.Repeat([]byte{7}, 32)) {
		t.Fatal("the interrupted rotation was not finished")
	}
	if _, err := b3.Open("ctx", sealed); err != nil {
		t.Fatal(err)
	}
}

func TestKeyring_LegacyValues(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "root.key")
	root, _ := LoadOrCreateRootKey(keyPath)
	old, _ := New(root)
	sealed := old.Seal("ctx", []byte("sealed before the keyring"))
	b, _, err := OpenKeyring(keyPath, filepath.Join(dir, "keyring.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Open("ctx", sealed); err != nil || string(got) != "sealed before the keyring" {
		t.Fatalf("legacy value: %q, %v", got, err)
	}
	if fresh := b.Seal("ctx", []byte("x")); fresh[0] != versionTerm {
		t.Fatalf("new values are sealed in version %d, want %d", fresh[0], versionTerm)
	}
}
