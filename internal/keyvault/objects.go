package keyvault

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// kind describes where a kind of vault object (keys, secrets) is stored and how it is
// named in errors.
type kind struct {
	name    string // "Key" | "Secret"
	objCol  string
	verCol  string
	sealCtx func(v Vault, name, version string) string // where a version's material is sealed
}

var (
	keyKind    = kind{"Key", colKeys, colKeyVersions, keySealContext}
	secretKind = kind{"Secret", colSecrets, colSecretVersions, secretSealContext}
)

func (k kind) notFound(name string) error {
	if k.name == "Key" {
		return keyNotFound(name)
	}
	return azerr.NotFound("SecretNotFound", "A secret with (name/id) %s was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", name)
}

// loadObject returns an object; deleted objects count as absent unless wantDeleted.
func (c *call) loadObject(tx store.Tx, k kind, name string, wantDeleted bool) (object, error) {
	var o object
	err := getJSON(tx, k.objCol, objKey(c.vault.Name, name), &o)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (o.Deleted != nil) != wantDeleted) {
		if wantDeleted {
			return o, azerr.NotFound(k.name+"NotFound", "Deleted %s not found: %s", k.name, name)
		}
		return o, k.notFound(name)
	}
	return o, err
}

// loadVersionOf decodes an object's version ("" is the current one) into v.
func (c *call) loadVersionOf(tx store.Tx, k kind, o object, version string, v any) error {
	if version == "" {
		version = o.Current
	}
	err := getJSON(tx, k.verCol, objKey(c.vault.Name, o.Name)+"/"+strings.ToLower(version), v)
	if errors.Is(err, store.ErrNotFound) {
		return k.notFound(o.Name + "/" + version)
	}
	return err
}

// listObjects returns the vault's objects of a kind, live or deleted, sorted by name, with
// each one's current version decoded by decode.
func (c *call) listObjects(tx store.Tx, k kind, deleted bool, decode func(o object, raw []byte) error) ([]object, error) {
	items, err := tx.List(k.objCol, vaultKey(c.vault.Name)+"/")
	if err != nil {
		return nil, err
	}
	var objs []object
	for _, it := range items { // keys are lower-case names: already sorted
		var o object
		if err := json.Unmarshal(it.Value, &o); err != nil {
			return nil, err
		}
		if (o.Deleted != nil) != deleted {
			continue
		}
		raw, err := tx.Get(k.verCol, it.Key+"/"+o.Current)
		if err != nil {
			return nil, err
		}
		if err := decode(o, raw); err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// softDelete marks a live object deleted, scheduled for purge after the vault's retention.
// current receives its current version.
func (c *call) softDelete(k kind, name string, current any) (object, error) {
	var o object
	err := c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		if o, err = c.loadObject(tx, k, name, false); err != nil {
			return err
		}
		if err := c.loadVersionOf(tx, k, o, "", current); err != nil {
			return err
		}
		now := c.svc.now().UTC()
		o.Deleted = &deletion{DeletedDate: now.Unix(), ScheduledPurgeDate: now.AddDate(0, 0, c.vault.RetentionDays).Unix()}
		return putJSON(tx, k.objCol, objKey(c.vault.Name, name), o)
	})
	return o, err
}

// deleted returns a soft-deleted object and its current version.
func (c *call) deleted(k kind, name string, current any) (object, error) {
	var o object
	err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		if o, err = c.loadObject(tx, k, name, true); err != nil {
			return err
		}
		return c.loadVersionOf(tx, k, o, "", current)
	})
	return o, err
}

// recover brings a soft-deleted object back.
func (c *call) recover(k kind, name string, current any) error {
	return c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		o, err := c.loadObject(tx, k, name, true)
		if err != nil {
			return err
		}
		if err := c.loadVersionOf(tx, k, o, "", current); err != nil {
			return err
		}
		o.Deleted = nil
		return putJSON(tx, k.objCol, objKey(c.vault.Name, name), o)
	})
}

// purge removes a soft-deleted object for good, unless the vault has purge protection.
func (c *call) purge(k kind, name string) error {
	return c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		if _, err := c.loadObject(tx, k, name, true); err != nil {
			return err
		}
		if c.vault.PurgeProtection {
			return purgeProtected()
		}
		return purgeObjectTx(tx, k.objCol, k.verCol, objKey(c.vault.Name, name))
	})
}

// deletedFields adds the soft-delete fields to an item or bundle view.
func (c *call) deletedFields(k kind, m map[string]any, name string, d *deletion) map[string]any {
	m["recoveryId"] = VaultURI(c.vault.Name) + "/deleted" + strings.ToLower(k.name) + "s/" + name
	m["deletedDate"], m["scheduledPurgeDate"] = d.DeletedDate, d.ScheduledPurgeDate
	return m
}
