package storage

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/encryption"
	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/cerulean-azure/cerulean/internal/keyvault"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// kvError turns a Key Vault failure met while configuring a customer key into ARM's 400:
// the update is refused and nothing changes. An identity that cannot reach the key (no
// token, no role, no access policy) is Azure's KeyVaultAuthenticationFailure.
func kvError(err error) error {
	var f *encryption.Failure
	if errors.As(err, &f) {
		if f.Denied {
			return azerr.BadRequest("KeyVaultAuthenticationFailure", "The operation failed because of authentication issue on the keyvault. For more information, see - https://aka.ms/storagekeyvaultaccesspolicy (%s %s Grant the account's identity 'Key Vault Crypto Service Encryption User' on the key or vault, or get, wrapKey and unwrapKey in its access policies.)", f.Message, f.Detail)
		}
		return azerr.BadRequest(f.Code, "The storage account cannot use the customer-managed key: %s %s Check the key exists and is enabled.", f.Message, f.Detail)
	}
	if e, ok := azerr.As(err); ok {
		return e
	}
	return err
}

// cmkIdentity picks the principal that reaches the key: the user-assigned identity named in
// encryption.identity, or the account's system-assigned identity.
func cmkIdentity(r *arm.Resource, e encryptionBlock, created bool) (principal, uamiID string, err error) {
	if e.Identity != nil && e.Identity.UserAssignedIdentity != "" {
		want := strings.ToLower(e.Identity.UserAssignedIdentity)
		if r.Identity != nil {
			for id, ref := range r.Identity.UserAssignedIdentities {
				if strings.ToLower(id) == want && ref != nil {
					return ref.PrincipalID, id, nil
				}
			}
		}
		return "", "", bad("InvalidRequestPropertyValue", "encryption.identity.userAssignedIdentity '%s' is not one of the account's user-assigned identities: add it to identity.userAssignedIdentities.", e.Identity.UserAssignedIdentity)
	}
	if created {
		return "", "", bad("InvalidRequestPropertyValue", "A new storage account can use a customer-managed key only through a user-assigned identity (encryption.identity.userAssignedIdentity): its system-assigned identity does not exist yet, so it cannot have been granted access to the key. Create the account, grant its identity access, then configure the key.")
	}
	if r.Identity == nil || r.Identity.PrincipalID == "" {
		return "", "", bad("InvalidRequestPropertyValue", "The account has no managed identity to reach the customer-managed key: enable a system-assigned identity or name a user-assigned one in encryption.identity.")
	}
	return r.Identity.PrincipalID, "", nil
}

// configureEncryption applies the encryption block: with a customer-managed key it checks the
// vault (purge protection), reads the key with the account's identity and re-wraps the data
// key under it; back to Microsoft-managed keys it re-seals the data key under the root key.
// Content is never re-encrypted.
func (p *Provider) configureEncryption(c *arm.Call, tx store.Tx, r *arm.Resource, props *accountProperties, acct *files.Account, created bool) error {
	e := &props.Encryption
	now := time.Now().UTC()
	if e.KeySource != files.KeySourceKeyVault {
		if acct.KeySource == files.KeySourceKeyVault {
			dk, err := files.UnwrapDataKey(c.Ctx, p.barrier, p.kv, *acct)
			if err != nil {
				return kvError(err)
			}
			acct.WrappedKey = files.SealDataKey(p.barrier, *acct, dk)
		}
		acct.KeySource, acct.WrappingKeyID, acct.CMKIdentity, acct.CMKUserAssignedIdentity = files.KeySourceMicrosoft, "", "", ""
		acct.KeyVaultURI, acct.KeyName, acct.KeyVersion = "", "", ""
		return nil
	}
	kvp := e.KeyVaultProperties
	sameKey := acct.KeySource == files.KeySourceKeyVault && strings.EqualFold(acct.KeyVaultURI, kvp.KeyVaultURI) &&
		strings.EqualFold(acct.KeyName, kvp.KeyName) && acct.KeyVersion == kvp.KeyVersion
	named := ""
	if e.Identity != nil {
		named = e.Identity.UserAssignedIdentity
	}
	if sameKey && strings.EqualFold(acct.CMKUserAssignedIdentity, named) {
		// The key configuration is unchanged; only the account's identities may have been.
		// Follow them without asking Key Vault (every unwrap does): an identity detached
		// from the account, or a system-assigned identity disabled, revokes the key at once;
		// attached again (or re-enabled, then granted access), it restores it.
		acct.CMKIdentity, _, _ = cmkIdentity(r, *e, false)
		return nil
	}
	principal, uami, err := cmkIdentity(r, *e, created)
	if err != nil {
		return err
	}
	if uami != "" {
		e.Identity = &encryptionIdentity{UserAssignedIdentity: strings.Replace(uami, "/resourceGroups/", "/resourcegroups/", 1)}
	}
	if sameKey && acct.CMKIdentity == principal {
		acct.CMKUserAssignedIdentity = uami // records written before it was kept
		return nil
	}
	vaultName, ok := vaultNameOf(kvp.KeyVaultURI)
	if !ok {
		return bad("InvalidValuesForRequestParameters", "keyvaulturi '%s' is not a vault URI (https://<vault>.vault.azure.net).", kvp.KeyVaultURI)
	}
	v, err := keyvault.GetVaultTx(tx, vaultName)
	if err != nil || v.Deleted() {
		return azerr.BadRequest("KeyVaultVaultNotFound", "The key vault '%s' is not found for encryption.", kvp.KeyVaultURI)
	}
	if !v.PurgeProtection {
		return bad("KeyVaultPolicyError", "Keyvault policy recoverable is not set: the key vault '%s' must have soft delete and purge protection enabled to hold a storage account's customer-managed key (az keyvault update --enable-purge-protection true).", v.Name)
	}
	key, err := p.kv.GetKey(c.Ctx, principal, r.ID, encryption.KeyRef{VaultURI: keyvault.VaultURI(v.Name), Name: kvp.KeyName, Version: kvp.KeyVersion})
	if err != nil {
		return kvError(err)
	}
	if key.Kty != "RSA" && key.Kty != "RSA-HSM" {
		return bad("InvalidRequestPropertyValue", "The key '%s' is a %s key; a storage account's customer-managed key must be RSA or RSA-HSM.", key.KID, key.Kty)
	}
	dk, err := files.UnwrapDataKey(c.Ctx, p.barrier, p.kv, *acct)
	if err != nil {
		return kvError(err)
	}
	wrapped, err := p.kv.Wrap(c.Ctx, principal, r.ID, key.KID, dk)
	if err != nil {
		return kvError(err)
	}
	// Prove the round trip before committing: the identity must also be able to unwrap.
	if back, err := p.kv.Unwrap(c.Ctx, principal, r.ID, key.KID, wrapped); err != nil || string(back) != string(dk) {
		return kvError(err)
	}
	acct.KeySource, acct.WrappedKey, acct.WrappingKeyID, acct.CMKIdentity, acct.CMKUserAssignedIdentity = files.KeySourceKeyVault, wrapped, key.KID, principal, uami
	acct.KeyVaultURI, acct.KeyName, acct.KeyVersion = kvp.KeyVaultURI, kvp.KeyName, kvp.KeyVersion
	kvp.CurrentVersionedKeyIdentifier, kvp.LastKeyRotationTimestamp = key.KID, &now
	return nil
}

func vaultNameOf(uri string) (string, bool) {
	u := strings.TrimPrefix(strings.ToLower(strings.TrimRight(uri, "/")), "https://")
	name, ok := strings.CutSuffix(u, keyvault.DNSSuffix)
	return name, ok && name != "" && !strings.Contains(name, "/")
}

// PollKeys is automatic key version updating: every account with a customer-managed key and
// no pinned version moves to the key's latest version, re-wrapping its data key (content is
// untouched). It returns the accounts it moved. Failures leave an account as it was.
func (p *Provider) PollKeys(ctx context.Context) ([]string, error) {
	var ids []string
	if err := p.arm.Store().View(ctx, func(tx store.Tx) error {
		items, err := tx.List("arm.resources", "")
		for _, it := range items {
			var r arm.Resource
			if json.Unmarshal(it.Value, &r) == nil && strings.EqualFold(r.Type, AccountType) {
				ids = append(ids, r.ID)
			}
		}
		return err
	}); err != nil {
		return nil, err
	}
	var moved []string
	for _, id := range ids {
		err := p.arm.Store().Update(ctx, func(tx store.Tx) error {
			r, err := arm.GetResourceTx(tx, id)
			if err != nil {
				return err
			}
			acct, err := files.GetAccountTx(tx, r.Name)
			if err != nil || acct.KeySource != files.KeySourceKeyVault || acct.KeyVersion != "" {
				return err
			}
			ref, err := encryption.ParseKeyID(acct.WrappingKeyID)
			if err != nil {
				return err
			}
			ref.Version = ""
			latest, err := p.kv.GetKey(ctx, acct.CMKIdentity, r.ID, ref)
			if err != nil || latest.KID == acct.WrappingKeyID {
				return err
			}
			dk, err := files.UnwrapDataKey(ctx, p.barrier, p.kv, acct)
			if err != nil {
				return err
			}
			wrapped, err := p.kv.Wrap(ctx, acct.CMKIdentity, r.ID, latest.KID, dk)
			if err != nil {
				return err
			}
			acct.WrappedKey, acct.WrappingKeyID = wrapped, latest.KID
			var props accountProperties
			if err := json.Unmarshal(r.Properties, &props); err != nil {
				return err
			}
			now := time.Now().UTC()
			if kvp := props.Encryption.KeyVaultProperties; kvp != nil {
				kvp.CurrentVersionedKeyIdentifier, kvp.LastKeyRotationTimestamp = latest.KID, &now
			}
			if r.Properties, err = json.Marshal(props); err != nil {
				return err
			}
			if err := arm.PutResourceTx(tx, r); err != nil {
				return err
			}
			moved = append(moved, r.ID)
			return files.PutAccountTx(tx, acct)
		})
		if err != nil && ctx.Err() != nil {
			return moved, err
		}
	}
	return moved, nil
}

// RunKeyPoll runs PollKeys every interval, and at once whenever now receives.
func (p *Provider) RunKeyPoll(ctx context.Context, interval time.Duration, now <-chan struct{}, logf func(string, ...any)) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-now:
		}
		moved, err := p.PollKeys(ctx)
		if err != nil {
			logf("customer key poll failed", "error", err)
		}
		for _, id := range moved {
			logf("storage account moved to the latest customer key version", "account", id)
		}
	}
}

var _ = http.StatusOK
