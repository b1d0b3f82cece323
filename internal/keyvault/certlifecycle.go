package keyvault

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/store"
)

// The certificate lifecycle after creation: get, update, policy, list and versions, soft
// delete with recover and purge, backup and restore — each carrying the certificate's
// managed key and secret along in the same transaction.

// ---- get, update, policy, list ----

func (c *call) getCertificate(name, version string) (int, any, error) {
	var o object
	var cv certVersion
	if err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		o, cv, err = c.loadCert(tx, name, version)
		return err
	}); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.certBundle(cv, o.CertPolicy), nil
}

func (c *call) updateCertificate(name, version string) (int, any, error) {
	var in struct {
		Policy     json.RawMessage   `json:"policy"`
		Attributes *attributesIn     `json:"attributes"`
		Tags       map[string]string `json:"tags"`
	}
	if err := c.decodeTagged(&in, &in.Tags); err != nil {
		return 0, nil, err
	}
	pol, err := decodePolicy(in.Policy)
	if err != nil {
		return 0, nil, err
	}
	if pol != nil {
		if err := pol.validate(); err != nil {
			return 0, nil, err
		}
	}
	var o object
	var cv certVersion
	err = c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		if o, cv, err = c.loadCert(tx, name, version); err != nil {
			return err
		}
		now := c.svc.now().UTC().Unix()
		cv.Attributes.apply(in.Attributes)
		cv.Attributes.Updated = now
		if in.Tags != nil {
			cv.Tags = in.Tags
		}
		base := objKey(c.vault.Name, name) + "/" + cv.Version
		if err := putJSON(tx, colCertificateVersions, base, cv); err != nil {
			return err
		}
		// The managed key and secret follow the certificate's enabled state and dates.
		if err := c.followAttributesTx(tx, base, cv.Attributes); err != nil {
			return err
		}
		if pol != nil {
			o.CertPolicy.merge(pol)
			o.CertPolicy.Attributes.Updated = now
			return putJSON(tx, colCertificates, objKey(c.vault.Name, name), o)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.certBundle(cv, o.CertPolicy), nil
}

func (c *call) followAttributesTx(tx store.Tx, key string, a attributes) error {
	var kv keyVersion
	if err := getJSON(tx, colKeyVersions, key, &kv); err == nil {
		kv.Attributes.Enabled, kv.Attributes.NotBefore, kv.Attributes.Expires, kv.Attributes.Updated = a.Enabled, a.NotBefore, a.Expires, a.Updated
		if err := putJSON(tx, colKeyVersions, key, kv); err != nil {
			return err
		}
	}
	var sv secretVersion
	if err := getJSON(tx, colSecretVersions, key, &sv); err == nil {
		sv.Attributes.Enabled, sv.Attributes.NotBefore, sv.Attributes.Expires, sv.Attributes.Updated = a.Enabled, a.NotBefore, a.Expires, a.Updated
		return putJSON(tx, colSecretVersions, key, sv)
	}
	return nil
}

func (c *call) certificatePolicy(name string) (int, any, error) {
	var upd *certPolicy
	if c.r.Method == http.MethodPatch {
		var err error
		if err = c.decode(&struct{}{}); err != nil {
			return 0, nil, err
		}
		if upd, err = decodePolicy(c.body); err != nil {
			return 0, nil, err
		}
		if upd == nil {
			return 0, nil, badParameter("The request body is not a certificate policy.")
		}
		if err := upd.validate(); err != nil {
			return 0, nil, err
		}
	}
	var o object
	err := c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		if o, err = c.loadObject(tx, certKind, name, false); err != nil {
			return err
		}
		if upd == nil || o.CertPolicy == nil {
			return nil
		}
		o.CertPolicy.merge(upd)
		o.CertPolicy.Attributes.Updated = c.svc.now().UTC().Unix()
		return putJSON(tx, colCertificates, objKey(c.vault.Name, name), o)
	})
	if err != nil {
		return 0, nil, err
	}
	if o.CertPolicy == nil {
		return 0, nil, certKind.notFound(name + "/policy")
	}
	return http.StatusOK, c.certPolicyView(o.Name, o.CertPolicy), nil
}

// certsTx lists certificates (deleted ones only if deleted) with their current versions;
// those with none yet are left out unless includePending.
func (c *call) certsTx(tx store.Tx, deleted, includePending bool) ([]object, map[string]*certVersion, error) {
	cur := map[string]*certVersion{}
	objs, err := c.listObjects(tx, certKind, deleted, func(o object, raw []byte) error {
		if raw == nil {
			return nil
		}
		var cv certVersion
		if err := json.Unmarshal(raw, &cv); err != nil {
			return err
		}
		cur[strings.ToLower(o.Name)] = &cv
		return nil
	})
	if includePending || err != nil {
		return objs, cur, err
	}
	kept := objs[:0]
	for _, o := range objs {
		if cur[strings.ToLower(o.Name)] != nil {
			kept = append(kept, o)
		}
	}
	return kept, cur, nil
}

func (c *call) listCertsPage(deleted bool, path string) (int, any, error) {
	includePending := strings.EqualFold(c.r.URL.Query().Get("includePending"), "true")
	var objs []object
	var cur map[string]*certVersion
	if err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		objs, cur, err = c.certsTx(tx, deleted, includePending)
		return err
	}); err != nil {
		return 0, nil, err
	}
	return c.objectsPage(objs, path, func(o object) (map[string]any, error) {
		m := c.certItem(o, cur[strings.ToLower(o.Name)], false)
		if deleted {
			m = c.deletedFields(certKind, m, o.Name, o.Deleted)
		}
		return m, nil
	})
}

func (c *call) listCertificates() (int, any, error) { return c.listCertsPage(false, "/certificates") }
func (c *call) listDeletedCertificates() (int, any, error) {
	return c.listCertsPage(true, "/deletedcertificates")
}

func (c *call) listCertificateVersions(name string) (int, any, error) {
	return listVersionsPage(c, certKind, name, func(v certVersion) string { return v.Version },
		func(cv certVersion) (map[string]any, error) { return c.certItem(object{}, &cv, true), nil })
}

// ---- delete, deleted, recover, purge ----

// ownedTx applies f to the certificate's managed key and secret objects that exist in the
// state wanted (deleted or live).
func (c *call) ownedTx(tx store.Tx, name string, deleted bool, f func(k kind, o *object) error) error {
	for _, k := range []kind{keyKind, secretKind} {
		var o object
		err := getJSON(tx, k.objCol, objKey(c.vault.Name, name), &o)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !o.Managed || (o.Deleted != nil) != deleted {
			continue
		}
		if err := f(k, &o); err != nil {
			return err
		}
	}
	return nil
}

// certWithCurrentTx loads a certificate, live or deleted as asked, and its current version
// (nil if it has none yet).
func (c *call) certWithCurrentTx(tx store.Tx, name string, deleted bool) (object, *certVersion, error) {
	o, err := c.loadObject(tx, certKind, name, deleted)
	if err != nil || o.Current == "" {
		return o, nil, err
	}
	var cv certVersion
	if err := c.loadVersionOf(tx, certKind, o, "", &cv); err != nil {
		return o, nil, err
	}
	return o, &cv, nil
}

func (c *call) deleteCertificate(name string) (int, any, error) {
	var o object
	var cv *certVersion
	err := c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		if o, cv, err = c.certWithCurrentTx(tx, name, false); err != nil {
			return err
		}
		now := c.svc.now().UTC()
		o.Deleted = &deletion{DeletedDate: now.Unix(), ScheduledPurgeDate: now.AddDate(0, 0, c.vault.RetentionDays).Unix()}
		if err := c.ownedTx(tx, name, false, func(k kind, owned *object) error {
			owned.Deleted = o.Deleted
			return putJSON(tx, k.objCol, objKey(c.vault.Name, name), owned)
		}); err != nil {
			return err
		}
		return putJSON(tx, colCertificates, objKey(c.vault.Name, name), o)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.deletedCertView(o, cv), nil
}

func (c *call) getDeletedCertificate(name string) (int, any, error) {
	var o object
	var cv *certVersion
	err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		o, cv, err = c.certWithCurrentTx(tx, name, true)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.deletedCertView(o, cv), nil
}

func (c *call) recoverCertificate(name string) (int, any, error) {
	var o object
	var cv *certVersion
	err := c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		if o, cv, err = c.certWithCurrentTx(tx, name, true); err != nil {
			return err
		}
		if err := c.ownedTx(tx, name, true, func(k kind, owned *object) error {
			owned.Deleted = nil
			return putJSON(tx, k.objCol, objKey(c.vault.Name, name), owned)
		}); err != nil {
			return err
		}
		o.Deleted = nil
		return putJSON(tx, colCertificates, objKey(c.vault.Name, name), o)
	})
	if err != nil {
		return 0, nil, err
	}
	if cv == nil {
		return http.StatusOK, map[string]any{"id": c.certID(o.Name, ""), "policy": c.certPolicyView(o.Name, o.CertPolicy)}, nil
	}
	return http.StatusOK, c.certBundle(*cv, o.CertPolicy), nil
}

func (c *call) purgeCertificate(name string) (int, any, error) {
	err := c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		if _, err := c.loadObject(tx, certKind, name, true); err != nil {
			return err
		}
		if c.vault.PurgeProtection {
			return purgeProtected()
		}
		key := objKey(c.vault.Name, name)
		if err := c.ownedTx(tx, name, true, func(k kind, _ *object) error {
			return purgeObjectTx(tx, k.objCol, k.verCol, key)
		}); err != nil {
			return err
		}
		return purgeObjectTx(tx, colCertificates, colCertificateVersions, key)
	})
	if err != nil {
		return 0, nil, err
	}
	c.svc.keyCache.dropPrefix(keySealContext(c.vault, name, ""))
	return http.StatusNoContent, nil, nil
}

// ---- backup and restore ----

func (c *call) backupCertificate(name string) (int, any, error) {
	var b backupBlob
	err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		o, err := c.loadObject(tx, certKind, name, false)
		if err != nil {
			return err
		}
		if o.Current == "" {
			return badParameter("Certificate %s has no completed version to back up: complete or delete its pending operation first.", name)
		}
		b = backupBlob{Kind: "certificate", Name: o.Name, Current: o.Current, CertPolicy: o.CertPolicy}
		items, err := tx.List(colCertificateVersions, objKey(c.vault.Name, name)+"/")
		if err != nil {
			return err
		}
		for _, it := range items {
			b.Versions = append(b.Versions, backupVersion{Meta: it.Value})
		}
		for _, k := range []kind{keyKind, secretKind} {
			owned, err := c.loadObject(tx, k, name, false)
			if err != nil {
				return err
			}
			var sub backupBlob
			if k.name == keyKind.name {
				sub, err = backupTx[keyVersion](c, tx, k, owned)
				b.Key = &sub
			} else {
				sub, err = backupTx[secretVersion](c, tx, k, owned)
				b.Secret = &sub
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	out, err := c.sealBackup(b)
	return http.StatusOK, out, err
}

func (c *call) restoreCertificate() (int, any, error) {
	b, err := c.openBackup("certificate")
	if err != nil {
		return 0, nil, err
	}
	if b.Key == nil || b.Secret == nil || b.CertPolicy == nil {
		return 0, nil, badParameter("The backup blob is corrupt: it lacks the certificate's key, secret or policy.")
	}
	if err := c.authorize("Microsoft.KeyVault/vaults/certificates/restore/action", c.certScope(b.Name), permission{"certificates", "restore"}); err != nil {
		return 0, nil, err
	}
	var current certVersion
	err = c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		if err := c.restorableTx(tx, certKind, b.Name); err != nil {
			return err
		}
		b.Key.Name, b.Secret.Name, b.Key.Managed, b.Secret.Managed = b.Name, b.Name, true, true
		if _, err := restoreTx[keyVersion](c, tx, keyKind, *b.Key); err != nil {
			return err
		}
		if _, err := restoreTx[secretVersion](c, tx, secretKind, *b.Secret); err != nil {
			return err
		}
		found := false
		for _, bv := range b.Versions {
			var cv certVersion
			if json.Unmarshal(bv.Meta, &cv) != nil || !versionRE.MatchString(cv.Version) {
				return badParameter("The backup blob is corrupt.")
			}
			cv.Name = b.Name
			if err := putJSON(tx, colCertificateVersions, objKey(c.vault.Name, b.Name)+"/"+cv.Version, cv); err != nil {
				return err
			}
			if cv.Version == b.Current {
				current, found = cv, true
			}
		}
		if !found {
			return badParameter("The backup blob is corrupt: it has no current version.")
		}
		return putJSON(tx, colCertificates, objKey(c.vault.Name, b.Name), object{Name: b.Name, Current: b.Current, CertPolicy: b.CertPolicy})
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.certBundle(current, b.CertPolicy), nil
}
