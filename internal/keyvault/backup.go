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

func (c *call) backupKey(name string) (int, any, error) {
	if err := c.authorize("Microsoft.KeyVault/vaults/keys/backup/action", c.keyScope(name), permission{"keys", "backup"}); err != nil {
		return 0, nil, err
	}
	var b backupBlob
	err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		o, err := c.loadKey(tx, name, false)
		if err != nil {
			return err
		}
		vs, err := c.versionsTx(tx, name)
		if err != nil {
			return err
		}
		b = backupBlob{Kind: "key", Name: o.Name, Current: o.Current, Policy: o.Policy}
		for _, kv := range vs {
			plain, err := c.svc.barrier.Open(keySealContext(c.vault, kv.Name, kv.Version), kv.Sealed)
			if err != nil {
				return err
			}
			kv.Sealed = nil
			meta, _ := json.Marshal(kv)
			b.Versions = append(b.Versions, backupVersion{meta, plain})
		}
		return nil
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
		var existing object
		err := getJSON(tx, colKeys, objKey(c.vault.Name, b.Name), &existing)
		if err == nil {
			if existing.Deleted != nil {
				return deletedButRecoverable("Key", b.Name)
			}
			return azerr.Conflict("Conflict", "There was a conflict restoring the key '%s': a key of that name already exists in this vault. Delete and purge it first, or restore into another vault.", b.Name)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, v := range b.Versions {
			var kv keyVersion
			if err := json.Unmarshal(v.Meta, &kv); err != nil || !versionRE.MatchString(kv.Version) {
				return badParameter("The backup blob is corrupt.")
			}
			kv.Name = b.Name
			kv.Sealed = c.svc.barrier.Seal(keySealContext(c.vault, kv.Name, kv.Version), v.Plain)
			if err := putJSON(tx, colKeyVersions, objKey(c.vault.Name, b.Name)+"/"+kv.Version, kv); err != nil {
				return err
			}
			if kv.Version == b.Current {
				current = kv
			}
		}
		if current.Version == "" {
			return badParameter("The backup blob is corrupt: it has no current version.")
		}
		return putJSON(tx, colKeys, objKey(c.vault.Name, b.Name), object{Name: b.Name, Current: b.Current, Policy: b.Policy})
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.keyBundle(current), nil
}
