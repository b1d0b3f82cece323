package keyvault

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/store"
)

// maxSecretBytes is Key Vault's limit on a secret value.
const maxSecretBytes = 25 * 1024

// secretVersion is one version of a secret; Sealed is the value sealed under the root key.
type secretVersion struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	ContentType string            `json:"contentType,omitempty"`
	Sealed      []byte            `json:"sealed"`
	Attributes  attributes        `json:"attributes"`
	Tags        map[string]string `json:"tags,omitempty"`
	// Managed secrets hold a certificate with its key; Kid is that key's version.
	Managed bool   `json:"managed,omitempty"`
	Kid     string `json:"kid,omitempty"`
}

func secretSealContext(v Vault, name, version string) string {
	return "keyvault/secret/" + v.UID + "/" + strings.ToLower(name) + "/" + strings.ToLower(version)
}

func (c *call) secretID(name, version string) string {
	id := VaultURI(c.vault.Name) + "/secrets/" + name
	if version != "" {
		id += "/" + version
	}
	return id
}

// secretView renders a version; withValue adds the opened value (a SecretBundle), without it
// the view is a SecretItem.
func (c *call) secretView(sv secretVersion, withVersion, withValue bool) (map[string]any, error) {
	version := ""
	if withVersion {
		version = sv.Version
	}
	m := map[string]any{"id": c.secretID(sv.Name, version), "attributes": c.attributesView(sv.Attributes)}
	if sv.ContentType != "" {
		m["contentType"] = sv.ContentType
	}
	if len(sv.Tags) > 0 {
		m["tags"] = sv.Tags
	}
	if sv.Managed {
		m["managed"] = true
		if withValue {
			m["kid"] = sv.Kid
		}
	}
	if withValue {
		v, err := c.svc.barrier.Open(secretSealContext(c.vault, sv.Name, sv.Version), sv.Sealed)
		if err != nil {
			return nil, err
		}
		m["value"] = string(v)
	}
	return m, nil
}

func (c *call) purgeSecret(name string) (int, any, error) {
	if err := c.purge(secretKind, name); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (c *call) recoverSecret(name string) (int, any, error) {
	var sv secretVersion
	if err := c.recover(secretKind, name, &sv); err != nil {
		return 0, nil, err
	}
	out, err := c.secretView(sv, true, false)
	return http.StatusOK, out, err
}

type setSecretRequest struct {
	Value       *string           `json:"value"`
	ContentType string            `json:"contentType"`
	Attributes  *attributesIn     `json:"attributes"`
	Tags        map[string]string `json:"tags"`
}

func (c *call) setSecret(name string) (int, any, error) {
	var in setSecretRequest
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Value == nil {
		return 0, nil, badParameter("The request has no 'value': send the secret's value.")
	}
	if len(*in.Value) > maxSecretBytes {
		return 0, nil, badParameter("The secret value is %d bytes; Key Vault secrets are at most %d bytes.", len(*in.Value), maxSecretBytes)
	}
	if len(in.ContentType) > 255 {
		return 0, nil, badParameter("contentType is at most 255 characters.")
	}
	if err := validTags(in.Tags); err != nil {
		return 0, nil, err
	}
	now := c.svc.now().UTC().Unix()
	sv := secretVersion{Name: name, Version: newVersion(), ContentType: in.ContentType, Tags: in.Tags,
		Attributes: attributes{Enabled: true, Created: now, Updated: now}}
	sv.Attributes.apply(in.Attributes)
	sv.Sealed = c.svc.barrier.Seal(secretSealContext(c.vault, name, sv.Version), []byte(*in.Value))
	err := c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var o object
		err := getJSON(tx, colSecrets, objKey(c.vault.Name, name), &o)
		switch {
		case errors.Is(err, store.ErrNotFound):
			o = object{Name: name}
		case err != nil:
			return err
		case o.Deleted != nil:
			return deletedButRecoverable("Secret", name)
		case o.Managed:
			return managedByCertificate(secretKind, "set", name)
		}
		sv.Name, o.Current = o.Name, sv.Version
		if err := putJSON(tx, colSecretVersions, objKey(c.vault.Name, name)+"/"+sv.Version, sv); err != nil {
			return err
		}
		return putJSON(tx, colSecrets, objKey(c.vault.Name, name), o)
	})
	if err != nil {
		return 0, nil, err
	}
	out, err := c.secretView(sv, true, true)
	return http.StatusOK, out, err
}

func (c *call) loadSecretVersion(tx store.Tx, name, version string) (secretVersion, error) {
	var sv secretVersion
	o, err := c.loadObject(tx, secretKind, name, false)
	if err != nil {
		return sv, err
	}
	return sv, c.loadVersionOf(tx, secretKind, o, version, &sv)
}

func (c *call) getSecret(name, version string) (int, any, error) {
	var sv secretVersion
	if err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		sv, err = c.loadSecretVersion(tx, name, version)
		return err
	}); err != nil {
		return 0, nil, err
	}
	if !sv.Attributes.Enabled {
		return 0, nil, disabledErr("get", "Secret")
	}
	out, err := c.secretView(sv, true, true)
	return http.StatusOK, out, err
}

func (c *call) updateSecret(name, version string) (int, any, error) {
	var in struct {
		ContentType *string           `json:"contentType"`
		Attributes  *attributesIn     `json:"attributes"`
		Tags        map[string]string `json:"tags"`
	}
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if err := validTags(in.Tags); err != nil {
		return 0, nil, err
	}
	var sv secretVersion
	err := c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		if sv, err = c.loadSecretVersion(tx, name, version); err != nil {
			return err
		}
		if sv.Managed {
			return managedByCertificate(secretKind, "update", name)
		}
		sv.Attributes.apply(in.Attributes)
		if in.ContentType != nil {
			sv.ContentType = *in.ContentType
		}
		if in.Tags != nil {
			sv.Tags = in.Tags
		}
		sv.Attributes.Updated = c.svc.now().UTC().Unix()
		return putJSON(tx, colSecretVersions, objKey(c.vault.Name, name)+"/"+sv.Version, sv)
	})
	if err != nil {
		return 0, nil, err
	}
	out, err := c.secretView(sv, true, false)
	return http.StatusOK, out, err
}

// secretsTx lists the vault's secrets (deleted ones only if deleted), with current versions.
func (c *call) secretsTx(tx store.Tx, deleted bool) ([]object, map[string]secretVersion, error) {
	cur := map[string]secretVersion{}
	objs, err := c.listObjects(tx, secretKind, deleted, func(o object, raw []byte) error {
		var sv secretVersion
		if err := json.Unmarshal(raw, &sv); err != nil {
			return err
		}
		cur[strings.ToLower(o.Name)] = sv
		return nil
	})
	return objs, cur, err
}

func (c *call) listSecretsPage(deleted bool, path string) (int, any, error) {
	var objs []object
	var cur map[string]secretVersion
	if err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		objs, cur, err = c.secretsTx(tx, deleted)
		return err
	}); err != nil {
		return 0, nil, err
	}
	return c.objectsPage(objs, path, func(o object) (map[string]any, error) {
		sv := cur[strings.ToLower(o.Name)]
		m, err := c.secretView(sv, false, false)
		if err == nil && deleted {
			m = c.deletedFields(secretKind, m, sv.Name, o.Deleted)
		}
		return m, err
	})
}

func (c *call) listSecrets() (int, any, error) { return c.listSecretsPage(false, "/secrets") }
func (c *call) listDeletedSecrets() (int, any, error) {
	return c.listSecretsPage(true, "/deletedsecrets")
}

func (c *call) listSecretVersions(name string) (int, any, error) {
	return listVersionsPage(c, secretKind, name, func(v secretVersion) string { return v.Version },
		func(sv secretVersion) (map[string]any, error) { return c.secretView(sv, true, false) })
}

func (c *call) deleteSecret(name string) (int, any, error) {
	var sv secretVersion
	o, err := c.softDelete(secretKind, name, &sv)
	if err != nil {
		return 0, nil, err
	}
	m, err := c.secretView(sv, true, false)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.deletedFields(secretKind, m, sv.Name, o.Deleted), nil
}

func (c *call) getDeletedSecret(name string) (int, any, error) {
	var sv secretVersion
	o, err := c.deleted(secretKind, name, &sv)
	if err != nil {
		return 0, nil, err
	}
	m, err := c.secretView(sv, true, false)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.deletedFields(secretKind, m, sv.Name, o.Deleted), nil
}

func (c *call) backupSecret(name string) (int, any, error) {
	var b backupBlob
	err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		o, err := c.loadObject(tx, secretKind, name, false)
		if err != nil {
			return err
		}
		if o.Managed {
			return managedByCertificate(secretKind, "backup", name)
		}
		b, err = backupTx[secretVersion](c, tx, secretKind, o)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	out, err := c.sealBackup(b)
	return http.StatusOK, out, err
}

func (c *call) restoreSecret() (int, any, error) {
	b, err := c.openBackup("secret")
	if err != nil {
		return 0, nil, err
	}
	if err := c.authorize("Microsoft.KeyVault/vaults/secrets/restore/action", c.secretScope(b.Name), permission{"secrets", "restore"}); err != nil {
		return 0, nil, err
	}
	var current secretVersion
	err = c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		current, err = restoreTx[secretVersion](c, tx, secretKind, b)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	out, err := c.secretView(current, true, false)
	return http.StatusOK, out, err
}
