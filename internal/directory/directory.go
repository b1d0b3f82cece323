// Package directory is Cerulean's Microsoft Entra tenant: the tenant itself, its principals
// (users, service principals with their client-secret and certificate credentials, managed
// identities) and the internal certificate credential each managed identity holds.
//
// Every principal has an object id; service principals and managed identities have an
// application (client) id; every principal has the Windows SID Entra derives from its object
// id. Deleted managed identities stay listable as soft-deleted for 30 days and cannot be
// restored.
//
// It does not issue tokens (package sts) or decide permissions (package authz).
package directory

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

// PrincipalsCollection holds every principal; its revision changes when one is created,
// changed or (soft-)deleted, e.g. a managed identity deleted with its resource.
const PrincipalsCollection = "directory.principals"

// Collections this package owns.
const (
	colTenant      = "directory.tenant"
	colPrincipals  = PrincipalsCollection
	colByAppID     = "directory.principalsByAppId"
	colCredentials = "directory.credentials"
)

// Kind is what a principal is.
type Kind string

// Principal kinds.
const (
	KindUser             Kind = "User"
	KindServicePrincipal Kind = "ServicePrincipal"
	KindManagedIdentity  Kind = "ManagedIdentity"
)

// Managed identity types.
const (
	SystemAssigned = "SystemAssigned"
	UserAssigned   = "UserAssigned"
)

// SoftDeleteRetention is how long a deleted managed identity stays listable.
const SoftDeleteRetention = 30 * 24 * time.Hour

// Tenant is the one tenant a Cerulean instance serves.
type Tenant struct {
	ID             string    `json:"id"`
	DisplayName    string    `json:"displayName"`
	DefaultDomain  string    `json:"defaultDomain"`
	SubscriptionID string    `json:"subscriptionId"`
	CreatedAt      time.Time `json:"createdAt"`
}

// Principal is a security principal of the tenant.
type Principal struct {
	ObjectID          string `json:"objectId"`
	Kind              Kind   `json:"kind"`
	DisplayName       string `json:"displayName"`
	AppID             string `json:"appId,omitempty"`
	UserPrincipalName string `json:"userPrincipalName,omitempty"`
	// ManagedIdentityType is SystemAssigned or UserAssigned for managed identities.
	ManagedIdentityType string `json:"managedIdentityType,omitempty"`
	// ResourceID is the ARM id behind a managed identity: the user-assigned identity
	// resource, or the host resource of a system-assigned identity (the xms_mirid claim).
	ResourceID string `json:"resourceId,omitempty"`
	// GraphPermissions are the Microsoft Graph application permissions granted to a service
	// principal (e.g. "Directory.Read.All"), carried in its Graph tokens' roles claim.
	GraphPermissions []string   `json:"graphPermissions,omitempty"`
	CreatedAt        time.Time  `json:"createdAt"`
	DeletedAt        *time.Time `json:"deletedAt,omitempty"`
}

// PrincipalType is the value role assignments carry in principalType.
func (p Principal) PrincipalType() string {
	if p.Kind == KindUser {
		return "User"
	}
	return "ServicePrincipal"
}

// Deleted reports whether the principal is soft-deleted.
func (p Principal) Deleted() bool { return p.DeletedAt != nil }

// SID returns the Windows security identifier Entra derives from an object id:
// S-1-12-1- followed by the GUID's 16 bytes, in Microsoft's mixed-endian layout, read as four
// little-endian 32-bit numbers.
func SID(objectID string) (string, error) {
	u, err := uuid.Parse(objectID)
	if err != nil {
		return "", fmt.Errorf("object id %q is not a GUID", objectID)
	}
	var ms [16]byte
	// uuid.UUID is in RFC 4122 (big-endian) order; Windows stores the first three fields
	// little-endian.
	ms[0], ms[1], ms[2], ms[3] = u[3], u[2], u[1], u[0]
	ms[4], ms[5] = u[5], u[4]
	ms[6], ms[7] = u[7], u[6]
	copy(ms[8:], u[8:])
	return fmt.Sprintf("S-1-12-1-%d-%d-%d-%d",
		binary.LittleEndian.Uint32(ms[0:4]), binary.LittleEndian.Uint32(ms[4:8]),
		binary.LittleEndian.Uint32(ms[8:12]), binary.LittleEndian.Uint32(ms[12:16])), nil
}

// SID returns the principal's Windows SID.
func (p Principal) SID() string {
	s, _ := SID(p.ObjectID)
	return s
}

// Directory is the tenant's principal store.
type Directory struct {
	st      store.Store
	barrier *seal.Barrier
	now     func() time.Time
}

// New returns a Directory over st. now is the clock (time.Now outside tests).
func New(st store.Store, barrier *seal.Barrier, now func() time.Time) *Directory {
	if now == nil {
		now = time.Now
	}
	return &Directory{st: st, barrier: barrier, now: now}
}

// Now is the directory's clock.
func (d *Directory) Now() time.Time { return d.now() }

// Store is the store the directory writes to, for callers that compose transactions.
func (d *Directory) Store() store.Store { return d.st }

// ErrNoTenant is returned before EnsureTenant has run.
var ErrNoTenant = errors.New("directory: no tenant yet")

// EnsureTenant returns the tenant, creating it (with a random id and a default subscription
// id) on first call.
func (d *Directory) EnsureTenant(ctx context.Context) (Tenant, bool, error) {
	var t Tenant
	created := false
	err := d.st.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Get(colTenant, "default")
		if err == nil {
			return json.Unmarshal(b, &t)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		t = Tenant{ID: uuid.NewString(), DisplayName: "Cerulean", DefaultDomain: "cerulean.local",
			SubscriptionID: uuid.NewString(), CreatedAt: d.now().UTC()}
		created = true
		return putJSON(tx, colTenant, "default", t)
	})
	return t, created, err
}

// Tenant returns the tenant or ErrNoTenant.
func (d *Directory) Tenant(ctx context.Context) (Tenant, error) {
	var t Tenant
	err := d.st.View(ctx, func(tx store.Tx) error {
		b, err := tx.Get(colTenant, "default")
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoTenant
		}
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &t)
	})
	return t, err
}

func putJSON(tx store.Tx, col, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", col, err)
	}
	return tx.Put(col, key, b)
}

func getJSON(tx store.Tx, col, key string, v any) error {
	b, err := tx.Get(col, key)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// CreatePrincipal stores a new principal in tx, filling in its object id (and app id for
// service principals and managed identities) when empty.
func (d *Directory) CreatePrincipal(tx store.Tx, p Principal) (Principal, error) {
	if p.ObjectID == "" {
		p.ObjectID = uuid.NewString()
	}
	if p.AppID == "" && p.Kind != KindUser {
		p.AppID = uuid.NewString()
	}
	p.ObjectID = strings.ToLower(p.ObjectID)
	p.AppID = strings.ToLower(p.AppID)
	p.CreatedAt = d.now().UTC()
	b, err := json.Marshal(p)
	if err != nil {
		return p, err
	}
	if err := tx.Create(colPrincipals, p.ObjectID, b); err != nil {
		return p, fmt.Errorf("create principal %s: %w", p.ObjectID, err)
	}
	if p.AppID != "" {
		if err := tx.Create(colByAppID, p.AppID, []byte(p.ObjectID)); err != nil {
			return p, fmt.Errorf("index app id %s: %w", p.AppID, err)
		}
	}
	if p.Kind == KindManagedIdentity {
		if _, err := d.rollManagedIdentityCredential(tx, p.ObjectID); err != nil {
			return p, err
		}
	}
	return p, nil
}

// ErrPrincipalNotFound is returned by lookups (test with errors.Is).
var ErrPrincipalNotFound = errors.New("directory: principal not found")

// GetTx returns a principal by object id, including soft-deleted ones within retention.
func (d *Directory) GetTx(tx store.Tx, objectID string) (Principal, error) {
	var p Principal
	err := getJSON(tx, colPrincipals, strings.ToLower(objectID), &p)
	if errors.Is(err, store.ErrNotFound) {
		return p, ErrPrincipalNotFound
	}
	if err == nil && p.Deleted() && d.now().Sub(*p.DeletedAt) > SoftDeleteRetention {
		return Principal{}, ErrPrincipalNotFound
	}
	return p, err
}

// Get returns a principal by object id, including soft-deleted ones within retention.
func (d *Directory) Get(ctx context.Context, objectID string) (Principal, error) {
	var p Principal
	err := d.st.View(ctx, func(tx store.Tx) error {
		var err error
		p, err = d.GetTx(tx, objectID)
		return err
	})
	return p, err
}

// GetByAppID returns a principal by application (client) id.
func (d *Directory) GetByAppID(ctx context.Context, appID string) (Principal, error) {
	var p Principal
	err := d.st.View(ctx, func(tx store.Tx) error {
		oid, err := tx.Get(colByAppID, strings.ToLower(appID))
		if errors.Is(err, store.ErrNotFound) {
			return ErrPrincipalNotFound
		}
		if err != nil {
			return err
		}
		p, err = d.GetTx(tx, string(oid))
		return err
	})
	return p, err
}

// DeleteTx soft-deletes a managed identity (kept listable for 30 days) or removes any other
// principal with its credentials.
func (d *Directory) DeleteTx(tx store.Tx, objectID string) error {
	p, err := d.GetTx(tx, objectID)
	if err != nil {
		return err
	}
	if p.Deleted() {
		return nil
	}
	if p.Kind == KindManagedIdentity {
		now := d.now().UTC()
		p.DeletedAt = &now
		return putJSON(tx, colPrincipals, p.ObjectID, p)
	}
	creds, err := tx.List(colCredentials, p.ObjectID+"/")
	if err != nil {
		return err
	}
	for _, c := range creds {
		if err := tx.Delete(colCredentials, c.Key); err != nil {
			return err
		}
	}
	if p.AppID != "" {
		if err := tx.Delete(colByAppID, p.AppID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return tx.Delete(colPrincipals, p.ObjectID)
}

// List returns principals; deleted ones only when includeDeleted, and never past retention.
func (d *Directory) List(ctx context.Context, includeDeleted bool) ([]Principal, error) {
	var out []Principal
	err := d.st.View(ctx, func(tx store.Tx) error {
		items, err := tx.List(colPrincipals, "")
		if err != nil {
			return err
		}
		for _, it := range items {
			var p Principal
			if err := json.Unmarshal(it.Value, &p); err != nil {
				return err
			}
			if p.Deleted() && (!includeDeleted || d.now().Sub(*p.DeletedAt) > SoftDeleteRetention) {
				continue
			}
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// ListDeleted returns the soft-deleted managed identities still within retention.
func (d *Directory) ListDeleted(ctx context.Context) ([]Principal, error) {
	all, err := d.List(ctx, true)
	var out []Principal
	for _, p := range all {
		if p.Deleted() {
			out = append(out, p)
		}
	}
	return out, err
}

// RevokeGraphPermissionTx takes a Microsoft Graph application permission back.
func (d *Directory) RevokeGraphPermissionTx(tx store.Tx, objectID, permission string) error {
	p, err := d.GetTx(tx, objectID)
	if err != nil {
		return err
	}
	kept := p.GraphPermissions[:0]
	for _, g := range p.GraphPermissions {
		if !strings.EqualFold(g, permission) {
			kept = append(kept, g)
		}
	}
	p.GraphPermissions = kept
	return putJSON(tx, colPrincipals, p.ObjectID, p)
}

// GrantGraphPermissionTx grants a service principal a Microsoft Graph application
// permission (such as "Directory.Read.All"); it is idempotent.
func (d *Directory) GrantGraphPermissionTx(tx store.Tx, objectID, permission string) error {
	p, err := d.GetTx(tx, objectID)
	if err != nil {
		return err
	}
	for _, g := range p.GraphPermissions {
		if strings.EqualFold(g, permission) {
			return nil
		}
	}
	p.GraphPermissions = append(p.GraphPermissions, permission)
	return putJSON(tx, colPrincipals, p.ObjectID, p)
}
