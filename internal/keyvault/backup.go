package keyvault

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// backupBlob is what a backup holds, sealed under the subscription's backup context. Private
// keys and secret values travel inside it in plaintext form (the blob is sealed as a whole).
type backupBlob struct {
	Kind     string          `json:"kind"` // "key" | "secret"
	Name     string          `json:"name"`
	Current  string          `json:"current"`
	Versions []backupVersion `json:"versions"`
	Policy   *rotationPolicy `json:"rotationPolicy,omitempty"`
	Managed  bool            `json:"managed,omitempty"`
	// A certificate's backup also holds its policy and its key's and secret's backups.
	CertPolicy *certPolicy `json:"certPolicy,omitempty"`
	Key        *backupBlob `json:"key,omitempty"`
	Secret     *backupBlob `json:"secret,omitempty"`
}

// backupVersion is one version in a backup: its record with Sealed cleared, and the
// plaintext that was sealed.
type backupVersion struct {
	Meta  json.RawMessage `json:"meta"`
	Plain []byte          `json:"plain"`
}

func (c *call) backupContext() string {
	return "keyvault/backup/" + strings.ToLower(c.vault.SubscriptionID)
}

func (c *call) sealBackup(b backupBlob) (map[string]any, error) {
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return map[string]any{"value": b64enc(c.svc.barrier.Seal(c.backupContext(), raw))}, nil
}

func (c *call) openBackup(kind string) (backupBlob, error) {
	var in struct {
		Value string `json:"value"`
	}
	var b backupBlob
	if err := c.decode(&in); err != nil {
		return b, err
	}
	raw, err := b64(in.Value)
	if err != nil || len(raw) == 0 {
		return b, badParameter("The backup 'value' is not base64url.")
	}
	plain, err := c.svc.barrier.Open(c.backupContext(), raw)
	if err != nil || json.Unmarshal(plain, &b) != nil || b.Kind != kind {
		return b, badParameter("The backup blob is corrupt, is not a %s backup, or was made in another subscription or by another server; backups restore only within the subscription they were taken in.", kind)
	}
	if err := checkName(kind, b.Name); err != nil {
		return b, err
	}
	return b, nil
}

// sealedVersion is a key or secret version record, as backups carry and restore it.
type sealedVersion interface {
	ident() (name, version string)
	sealedMaterial() *[]byte
	rename(name string)
}

func (kv *keyVersion) ident() (string, string)    { return kv.Name, kv.Version }
func (kv *keyVersion) sealedMaterial() *[]byte    { return &kv.Sealed }
func (kv *keyVersion) rename(name string)         { kv.Name = name }
func (sv *secretVersion) ident() (string, string) { return sv.Name, sv.Version }
func (sv *secretVersion) sealedMaterial() *[]byte { return &sv.Sealed }
func (sv *secretVersion) rename(name string)      { sv.Name = name }

// backupTx collects every version of object o of kind k, unsealed, into a backup blob.
func backupTx[V any, P interface {
	*V
	sealedVersion
}](c *call, tx store.Tx, k kind, o object) (backupBlob, error) {
	b := backupBlob{Kind: strings.ToLower(k.name), Name: o.Name, Current: o.Current, Policy: o.Policy, Managed: o.Managed}
	items, err := tx.List(k.verCol, objKey(c.vault.Name, o.Name)+"/")
	if err != nil {
		return b, err
	}
	for _, it := range items {
		var v V
		if err := json.Unmarshal(it.Value, &v); err != nil {
			return b, err
		}
		p := P(&v)
		name, version := p.ident()
		plain, err := c.svc.barrier.Open(k.sealCtx(c.vault, name, version), *p.sealedMaterial())
		if err != nil {
			return b, err
		}
		*p.sealedMaterial() = nil
		meta, _ := json.Marshal(v)
		b.Versions = append(b.Versions, backupVersion{meta, plain})
	}
	return b, nil
}

// restorableTx refuses to restore over an object of kind k named name, live or deleted.
func (c *call) restorableTx(tx store.Tx, k kind, name string) error {
	var existing object
	err := getJSON(tx, k.objCol, objKey(c.vault.Name, name), &existing)
	if err == nil {
		if existing.Deleted != nil {
			return deletedButRecoverable(k.name, name)
		}
		noun := strings.ToLower(k.name)
		return azerr.Conflict("Conflict", "There was a conflict restoring the %s '%s': a %s of that name already exists in this vault. Delete and purge it first, or restore into another vault.", noun, name, noun)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// restoreTx writes backup b as object b.Name of kind k in this vault, every version sealed
// again for its new place, and returns the current version. A name in use, live or deleted,
// is refused.
func restoreTx[V any, P interface {
	*V
	sealedVersion
}](c *call, tx store.Tx, k kind, b backupBlob) (V, error) {
	var current V
	if err := c.restorableTx(tx, k, b.Name); err != nil {
		return current, err
	}
	found := false
	for _, bv := range b.Versions {
		var v V
		p := P(&v)
		err := json.Unmarshal(bv.Meta, &v)
		_, version := p.ident()
		if err != nil || !versionRE.MatchString(version) {
			return current, badParameter("The backup blob is corrupt.")
		}
		p.rename(b.Name)
		*p.sealedMaterial() = c.svc.barrier.Seal(k.sealCtx(c.vault, b.Name, version), bv.Plain)
		if err := putJSON(tx, k.verCol, objKey(c.vault.Name, b.Name)+"/"+version, v); err != nil {
			return current, err
		}
		if version == b.Current {
			current, found = v, true
		}
	}
	if !found {
		return current, badParameter("The backup blob is corrupt: it has no current version.")
	}
	return current, putJSON(tx, k.objCol, objKey(c.vault.Name, b.Name), object{Name: b.Name, Current: b.Current, Policy: b.Policy, Managed: b.Managed})
}

func (c *call) backupKey(name string) (int, any, error) {
	var b backupBlob
	err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		o, err := c.loadKey(tx, name, false)
		if err != nil {
			return err
		}
		if o.Managed {
			return managedByCertificate(keyKind, "backup", name)
		}
		b, err = backupTx[keyVersion](c, tx, keyKind, o)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	out, err := c.sealBackup(b)
	return http.StatusOK, out, err
}

func (c *call) restoreKey() (int, any, error) {
	b, err := c.openBackup("key")
	if err != nil {
		return 0, nil, err
	}
	if err := c.authorize("Microsoft.KeyVault/vaults/keys/restore/action", c.keyScope(b.Name), permission{"keys", "restore"}); err != nil {
		return 0, nil, err
	}
	var current keyVersion
	err = c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		current, err = restoreTx[keyVersion](c, tx, keyKind, b)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.keyBundle(current), nil
}
