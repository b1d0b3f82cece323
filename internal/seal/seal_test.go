package seal

import (
	"bytes"
	"errors"
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
