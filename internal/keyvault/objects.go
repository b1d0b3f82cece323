package keyvault

import (
	"encoding/json"
	"errors"
	"net/http"
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
	noun := strings.ToLower(k.name)
	return azerr.NotFound(k.name+"NotFound", "A %s with (name/id) %s was not found in this key vault. If you recently deleted this %s you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", noun, name, noun)
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
// each one's current version decoded by decode (raw is nil for a certificate with no
// version yet). Deleted keys and secrets a certificate owns are listed with it, not here.
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
		if (o.Deleted != nil) != deleted || (deleted && o.Managed) {
			continue
		}
		var raw []byte
		if o.Current != "" {
			if raw, err = tx.Get(k.verCol, it.Key+"/"+o.Current); err != nil {
				return nil, err
			}
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
		if o.Managed {
			return managedByCertificate(k, "delete", name)
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
		if o.Managed {
			return managedByCertificate(k, "recover", name)
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
		o, err := c.loadObject(tx, k, name, true)
		if err != nil {
			return err
		}
		if o.Managed {
			return managedByCertificate(k, "purge", name)
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

// listJSON decodes every record of col under prefix, in key order.
func listJSON[T any](tx store.Tx, col, prefix string) ([]T, error) {
	items, err := tx.List(col, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		var v T
		if err := json.Unmarshal(it.Value, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// versioned is a key, secret or certificate version record.
type versioned interface {
	keyVersion | secretVersion | certVersion
}

// listVersionsPage answers GET /{collection}/{name}/versions: one page of the live object's
// versions, each rendered by view.
func listVersionsPage[V versioned](c *call, k kind, name string, version func(V) string, view func(V) (map[string]any, error)) (int, any, error) {
	var vs []V
	err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		if _, err := c.loadObject(tx, k, name, false); err != nil {
			return err
		}
		var err error
		vs, err = listJSON[V](tx, k.verCol, objKey(c.vault.Name, name)+"/")
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	from, to, next, err := c.page(names(vs, version), "/"+strings.ToLower(k.name)+"s/"+name+"/versions")
	if err != nil {
		return 0, nil, err
	}
	out := []any{}
	for _, v := range vs[from:to] {
		m, err := view(v)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, m)
	}
	return http.StatusOK, map[string]any{"value": out, "nextLink": nullable(next)}, nil
}

// decodeTagged decodes the body into v and checks the tags it carried.
func (c *call) decodeTagged(v any, tags *map[string]string) error {
	if err := c.decode(v); err != nil {
		return err
	}
	return validTags(*tags)
}

// objectsPage answers a list of objects (sorted by name): one page, each rendered by view.
func (c *call) objectsPage(objs []object, path string, view func(o object) (map[string]any, error)) (int, any, error) {
	from, to, next, err := c.page(names(objs, func(o object) string { return o.Name }), path)
	if err != nil {
		return 0, nil, err
	}
	out := []any{}
	for _, o := range objs[from:to] {
		m, err := view(o)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, m)
	}
	return http.StatusOK, map[string]any{"value": out, "nextLink": nullable(next)}, nil
}
