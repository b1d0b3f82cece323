package directory

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/store/sqlite"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newDir(t *testing.T) (*Directory, *clock) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "d.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	b, err := seal.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(db, b, c.now), c
}

func TestSID(t *testing.T) {
	tests := []struct{ oid, want string }{
		{"00000000-0000-0000-0000-000000000001", "S-1-12-1-0-0-0-16777216"},
		{"00000001-0000-0000-0000-000000000000", "S-1-12-1-1-0-0-0"},
		{"00000000-0002-0003-0000-000000000000", "S-1-12-1-0-196610-0-0"},
		{"00000000-0000-0000-0400-000000000000", "S-1-12-1-0-0-4-0"},
	}
	for _, tt := range tests {
		t.Run(tt.oid, func(t *testing.T) {
			got, err := SID(tt.oid)
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := SID("not-a-guid"); err == nil {
		t.Fatal("SID accepted a non-GUID")
	}
}

func TestDirectory_ClientSecret(t *testing.T) {
	d, c := newDir(t)
	ctx := context.Background()
	var sp Principal
	var secret string
	err := d.Store().Update(ctx, func(tx store.Tx) error {
		var err error
		sp, err = d.CreatePrincipal(tx, Principal{Kind: KindServicePrincipal, DisplayName: "app"})
		if err != nil {
			return err
		}
		secret, _, err = d.AddClientSecretTx(tx, sp.ObjectID, time.Hour, true)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(s string) error {
		return d.Store().View(ctx, func(tx store.Tx) error { return d.CheckClientSecret(tx, sp.ObjectID, s) })
	}
	t.Run("right secret", func(t *testing.T) {
		if err := check(secret); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		if err := check(secret + "x"); !errors.Is(err, ErrInvalidCredential) {
			t.Fatalf("got %v, want ErrInvalidCredential", err)
		}
	})
	t.Run("retrievable", func(t *testing.T) {
		var got string
		_ = d.Store().View(ctx, func(tx store.Tx) error { got, err = d.ClientSecret(tx, sp.ObjectID); return err })
		if got != secret {
			t.Fatalf("got %q, want the issued secret", got)
		}
	})
	t.Run("by app id", func(t *testing.T) {
		p, err := d.GetByAppID(ctx, sp.AppID)
		if err != nil || p.ObjectID != sp.ObjectID {
			t.Fatalf("got %v, %v", p.ObjectID, err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		c.t = c.t.Add(2 * time.Hour)
		if err := check(secret); !errors.Is(err, ErrInvalidCredential) {
			t.Fatalf("got %v, want ErrInvalidCredential", err)
		}
	})
}

func TestDirectory_ManagedIdentityCredentialRolls(t *testing.T) {
	d, c := newDir(t)
	ctx := context.Background()
	var mi Principal
	cred := func() Credential {
		var cr Credential
		if err := d.Store().Update(ctx, func(tx store.Tx) error {
			var err error
			cr, err = d.ManagedIdentityCredentialTx(tx, mi.ObjectID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return cr
	}
	if err := d.Store().Update(ctx, func(tx store.Tx) error {
		var err error
		mi, err = d.CreatePrincipal(tx, Principal{Kind: KindManagedIdentity, ManagedIdentityType: UserAssigned, DisplayName: "id1"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	first := cred()
	if got, want := first.NotAfter.Sub(first.NotBefore), ManagedIdentityCredentialLifetime; got != want {
		t.Fatalf("lifetime %v, want %v", got, want)
	}
	c.t = c.t.Add(44 * 24 * time.Hour)
	if got := cred(); got.Thumbprint != first.Thumbprint {
		t.Fatal("credential rolled before 45 days")
	}
	c.t = c.t.Add(24 * time.Hour)
	second := cred()
	if second.Thumbprint == first.Thumbprint {
		t.Fatal("credential not rolled at 45 days")
	}
	if !second.NotBefore.Equal(c.t) {
		t.Fatalf("rolled credential starts %v, want %v", second.NotBefore, c.t)
	}
}

func TestDirectory_SoftDelete(t *testing.T) {
	d, c := newDir(t)
	ctx := context.Background()
	var mi Principal
	if err := d.Store().Update(ctx, func(tx store.Tx) error {
		var err error
		mi, err = d.CreatePrincipal(tx, Principal{Kind: KindManagedIdentity, ManagedIdentityType: SystemAssigned, DisplayName: "vm1"})
		if err != nil {
			return err
		}
		return d.DeleteTx(tx, mi.ObjectID)
	}); err != nil {
		t.Fatal(err)
	}
	deleted, err := d.ListDeleted(ctx)
	if err != nil || len(deleted) != 1 || deleted[0].ObjectID != mi.ObjectID {
		t.Fatalf("ListDeleted = %v, %v; want the deleted identity", deleted, err)
	}
	live, _ := d.List(ctx, false)
	if len(live) != 0 {
		t.Fatalf("List(false) = %d principals, want 0", len(live))
	}
	c.t = c.t.Add(SoftDeleteRetention + time.Hour)
	if _, err := d.Get(ctx, mi.ObjectID); !errors.Is(err, ErrPrincipalNotFound) {
		t.Fatalf("after retention Get = %v, want ErrPrincipalNotFound", err)
	}
	if deleted, _ := d.ListDeleted(ctx); len(deleted) != 0 {
		t.Fatalf("after retention ListDeleted = %d, want 0", len(deleted))
	}
}
