package keyvault

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/store"
)

// Collections this package owns.
const (
	colVaults         = "keyvault.vaults"
	colKeys           = "keyvault.keys"
	colKeyVersions    = "keyvault.keyVersions"
	colSecrets        = "keyvault.secrets"
	colSecretVersions = "keyvault.secretVersions"
	// Certificates, their versions, a vault's certificate issuers and its contacts.
	colCertificates        = "keyvault.certificates"
	colCertificateVersions = "keyvault.certificateVersions"
	colCertIssuers         = "keyvault.certificateIssuers"
	colCertContacts        = "keyvault.certificateContacts"
)

// KeyCollections are the store collections the outcome of a key operation depends on,
// besides the RBAC gate's: vaults (existence, soft delete, access policies, permission
// model), keys and key versions (attributes, deletion, purge). A cache of a key operation's
// result must be dropped when their revision changes.
func KeyCollections() []string { return []string{colVaults, colKeys, colKeyVersions} }

// Vault is what the data plane knows of a vault; the resource provider writes it.
type Vault struct {
	Name string `json:"name"`
	// UID is random per vault incarnation: a purged and re-created vault of the same name
	// has another, so old ciphertexts cannot be opened under it.
	UID            string `json:"uid"`
	ResourceID     string `json:"resourceId"`
	SubscriptionID string `json:"subscriptionId"`
	TenantID       string `json:"tenantId"`
	Location       string `json:"location"`
	SKU            string `json:"sku"`
	// EnableRBAC selects Azure RBAC for data actions; otherwise AccessPolicies apply.
	EnableRBAC      bool              `json:"enableRbacAuthorization"`
	AccessPolicies  []AccessPolicy    `json:"accessPolicies,omitempty"`
	RetentionDays   int               `json:"softDeleteRetentionInDays"`
	PurgeProtection bool              `json:"enablePurgeProtection"`
	Tags            map[string]string `json:"tags,omitempty"`
	// ARMProperties are the resource provider's stored properties, kept so a recovered
	// vault comes back as it was.
	ARMProperties      json.RawMessage `json:"armProperties,omitempty"`
	DeletedAt          *time.Time      `json:"deletedAt,omitempty"`
	ScheduledPurgeDate *time.Time      `json:"scheduledPurgeDate,omitempty"`
}

// AccessPolicy is one entry of a vault's accessPolicies.
type AccessPolicy struct {
	TenantID      string      `json:"tenantId"`
	ObjectID      string      `json:"objectId"`
	ApplicationID string      `json:"applicationId,omitempty"`
	Permissions   Permissions `json:"permissions"`
}

// Permissions are an access policy's permission lists.
type Permissions struct {
	Keys         []string `json:"keys,omitempty"`
	Secrets      []string `json:"secrets,omitempty"`
	Certificates []string `json:"certificates,omitempty"`
	Storage      []string `json:"storage,omitempty"`
}

// Deleted reports whether the vault is soft-deleted.
func (v Vault) Deleted() bool { return v.DeletedAt != nil }

// RecoveryLevel is the recoveryLevel Key Vault reports for objects in the vault.
func (v Vault) RecoveryLevel() string {
	level := "Recoverable"
	if v.RetentionDays < 90 {
		level = "CustomizedRecoverable"
	}
	if !v.PurgeProtection {
		level += "+Purgeable"
	}
	return level
}

// ErrVaultNotFound is returned for a vault name no vault (live or deleted) has.
var ErrVaultNotFound = errors.New("keyvault: vault not found")

func vaultKey(name string) string { return strings.ToLower(name) }

// GetVaultTx returns the vault with the name, live or deleted.
func GetVaultTx(tx store.Tx, name string) (Vault, error) {
	var v Vault
	b, err := tx.Get(colVaults, vaultKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return v, ErrVaultNotFound
	}
	if err != nil {
		return v, err
	}
	return v, json.Unmarshal(b, &v)
}

// PutVaultTx creates or replaces the vault record.
func PutVaultTx(tx store.Tx, v Vault) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode vault: %w", err)
	}
	return tx.Put(colVaults, vaultKey(v.Name), b)
}

// ListVaultsTx returns every vault record, live and deleted.
func ListVaultsTx(tx store.Tx) ([]Vault, error) {
	items, err := tx.List(colVaults, "")
	if err != nil {
		return nil, err
	}
	out := make([]Vault, 0, len(items))
	for _, it := range items {
		var v Vault
		if err := json.Unmarshal(it.Value, &v); err != nil {
			return nil, fmt.Errorf("decode vault %s: %w", it.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// SoftDeleteVaultTx marks the vault deleted; its keys and secrets stay, unreachable, until
// it is recovered or purged.
func SoftDeleteVaultTx(tx store.Tx, name string, now time.Time) (Vault, error) {
	v, err := GetVaultTx(tx, name)
	if err != nil {
		return v, err
	}
	now = now.UTC()
	purge := now.AddDate(0, 0, v.RetentionDays)
	v.DeletedAt, v.ScheduledPurgeDate = &now, &purge
	return v, PutVaultTx(tx, v)
}

// RecoverVaultTx brings a soft-deleted vault back with everything it held.
func RecoverVaultTx(tx store.Tx, name string) (Vault, error) {
	v, err := GetVaultTx(tx, name)
	if err != nil {
		return v, err
	}
	v.DeletedAt, v.ScheduledPurgeDate = nil, nil
	return v, PutVaultTx(tx, v)
}

// PurgeVaultTx removes a vault record and every key and secret it held. The caller checks
// purge protection.
func PurgeVaultTx(tx store.Tx, name string) error {
	prefix := vaultKey(name) + "/"
	for _, col := range []string{colKeys, colKeyVersions, colSecrets, colSecretVersions, colCertificates, colCertificateVersions, colCertIssuers, colCertContacts} {
		items, err := tx.List(col, prefix)
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := tx.Delete(col, it.Key); err != nil {
				return err
			}
		}
	}
	err := tx.Delete(colVaults, vaultKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return ErrVaultNotFound
	}
	return err
}
