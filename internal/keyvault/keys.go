package keyvault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// object is a key: its versions live under it in colKeyVersions.
type object struct {
	Name    string          `json:"name"`
	Current string          `json:"current"`
	Deleted *deletion       `json:"deleted,omitempty"`
	Policy  *rotationPolicy `json:"rotationPolicy,omitempty"`
	// Managed marks the key and secret a certificate owns; CertPolicy and Pending are a
	// certificate's policy and creation operation.
	Managed    bool           `json:"managed,omitempty"`
	CertPolicy *certPolicy    `json:"certPolicy,omitempty"`
	Pending    *certOperation `json:"pending,omitempty"`
}

// keyVersion is one version of a key. Sealed holds the PKCS#8 private key, sealed under
// the root key with the version's identity as associated data.
type keyVersion struct {
	Name       string            `json:"name"`
	Version    string            `json:"version"`
	Kty        string            `json:"kty"`
	KeyOps     []string          `json:"keyOps"`
	Public     jsonWebKey        `json:"public"`
	Sealed     []byte            `json:"sealed"`
	Attributes attributes        `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
	Managed    bool              `json:"managed,omitempty"`
}

func objKey(vault, name string) string { return vaultKey(vault) + "/" + strings.ToLower(name) }

func keySealContext(v Vault, name, version string) string {
	return "keyvault/key/" + v.UID + "/" + strings.ToLower(name) + "/" + strings.ToLower(version)
}

func newVersion() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("keyvault: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}

func keyNotFound(name string) error {
	return azerr.NotFound("KeyNotFound", "A key with (name/id) %s was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", name)
}

func deletedButRecoverable(kind, name string) error {
	return azerr.Conflict("Conflict", "%s %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the %s can only be recovered or purged.", kind, name, strings.ToLower(kind)).
		WithInner("ObjectIsDeletedButRecoverable")
}

func getJSON(tx store.Tx, col, key string, v any) error {
	b, err := tx.Get(col, key)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func putJSON(tx store.Tx, col, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(col, key, b)
}

// loadKey returns a key; deleted keys count as absent unless wantDeleted.
func (c *call) loadKey(tx store.Tx, name string, wantDeleted bool) (object, error) {
	return c.loadObject(tx, keyKind, name, wantDeleted)
}

// loadVersion returns a version of a live key ("" is the current one).
func (c *call) loadVersion(tx store.Tx, name, version string) (object, keyVersion, error) {
	var kv keyVersion
	o, err := c.loadKey(tx, name, false)
	if err != nil {
		return o, kv, err
	}
	return o, kv, c.loadVersionOf(tx, keyKind, o, version, &kv)
}

func (c *call) versionsTx(tx store.Tx, name string) ([]keyVersion, error) {
	return listJSON[keyVersion](tx, colKeyVersions, objKey(c.vault.Name, name)+"/")
}

// privateKey opens a version's private key (cached once opened).
func (c *call) privateKey(kv keyVersion) (crypto.Signer, error) {
	ctx := keySealContext(c.vault, kv.Name, kv.Version)
	if k, ok := c.svc.keyCache.get(ctx); ok {
		return k.(crypto.Signer), nil
	}
	der, err := c.svc.barrier.Open(ctx, kv.Sealed)
	if err != nil {
		return nil, fmt.Errorf("open key %s: %w", ctx, err)
	}
	k, err := parsePrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse key %s: %w", ctx, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key %s is not a signer", ctx)
	}
	c.svc.keyCache.put(ctx, signer)
	return signer, nil
}

// sealVersion fills in a version's public and sealed private parts from key.
func (c *call) sealVersion(kv *keyVersion, key crypto.Signer) error {
	der, err := marshalPrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal key: %w", err)
	}
	kv.Sealed = c.svc.barrier.Seal(keySealContext(c.vault, kv.Name, kv.Version), der)
	kv.Public = publicJWK(key.Public(), kv.Kty)
	return nil
}

// kid is a version's key identifier, always in the canonical https://<vault>.vault.azure.net
// form (what Azure returns and what every SDK's id parser expects), whichever URL was used.
func (c *call) kid(name, version string) string {
	id := VaultURI(c.vault.Name) + "/keys/" + name
	if version != "" {
		id += "/" + version
	}
	return id
}

func (c *call) keyBundle(kv keyVersion) map[string]any {
	j := kv.Public
	j.Kid = c.kid(kv.Name, kv.Version)
	j.KeyOps = kv.KeyOps
	m := map[string]any{"key": j, "attributes": c.attributesView(kv.Attributes)}
	if len(kv.Tags) > 0 {
		m["tags"] = kv.Tags
	}
	if kv.Managed {
		m["managed"] = true
	}
	return m
}

func (c *call) deletedKeyBundle(kv keyVersion, d *deletion) map[string]any {
	return c.deletedFields(keyKind, c.keyBundle(kv), kv.Name, d)
}

// ---- routing ----

// ---- create, import, get, update, list ----

type createKeyRequest struct {
	Kty            string            `json:"kty"`
	KeySize        *int              `json:"key_size"`
	PublicExponent *int              `json:"public_exponent"`
	KeyOps         []string          `json:"key_ops"`
	Attributes     *attributesIn     `json:"attributes"`
	Tags           map[string]string `json:"tags"`
	Crv            string            `json:"crv"`
	ReleasePolicy  json.RawMessage   `json:"release_policy"`
}

// generateKey makes new key material of a type.
func generateKey(kty string, size *int, exponent *int, crv string) (crypto.Signer, error) {
	if isRSA(kty) {
		bits := 2048
		if size != nil {
			bits = *size
		}
		if !rsaSizes[bits] {
			return nil, badParameter("Unsupported key_size %d for an RSA key: use 2048, 3072 or 4096.", bits)
		}
		if exponent != nil && *exponent != 65537 {
			return nil, badParameter("Unsupported public_exponent %d: Cerulean creates RSA keys with exponent 65537.", *exponent)
		}
		return rsa.GenerateKey(rand.Reader, bits)
	}
	if crv == "" {
		crv = "P-256"
	}
	curve, _, _ := curveByName(crv)
	if curve == nil {
		return nil, unsupportedCurve(crv)
	}
	if size != nil && *size != curve.Params().BitSize {
		return nil, badParameter("key_size %d does not match the curve %s.", *size, crv)
	}
	return ecdsa.GenerateKey(curve, rand.Reader)
}

func (c *call) createKey(name string) (int, any, error) {
	var in createKeyRequest
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	kty := canonicalKty(in.Kty)
	if kty == "" {
		if strings.HasPrefix(strings.ToLower(in.Kty), "oct") {
			return 0, nil, badParameter("Symmetric (oct) keys are supported by Managed HSM only, not by vaults.")
		}
		return 0, nil, badParameter("Invalid kty '%s': use RSA, RSA-HSM, EC or EC-HSM.", in.Kty)
	}
	if len(in.ReleasePolicy) > 0 && string(in.ReleasePolicy) != "null" {
		return 0, nil, notSupported("A key release policy")
	}
	key, err := generateKey(kty, in.KeySize, in.PublicExponent, in.Crv)
	if err != nil {
		return 0, nil, err
	}
	return c.storeNewVersion(name, kty, key, in.KeyOps, in.Attributes, in.Tags, nil)
}

type importKeyRequest struct {
	Key        *jsonWebKey       `json:"key"`
	HSM        *bool             `json:"Hsm"`
	Attributes *attributesIn     `json:"attributes"`
	Tags       map[string]string `json:"tags"`
}

func (c *call) importKey(name string) (int, any, error) {
	var in importKeyRequest
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Key == nil {
		return 0, nil, badParameter("The request has no 'key': send the JSON Web Key to import.")
	}
	key, kty, err := privateKeyFromJWK(*in.Key)
	if err != nil {
		return 0, nil, err
	}
	if in.HSM != nil && *in.HSM {
		switch kty {
		case ktyRSA:
			kty = ktyRSAHSM
		case ktyEC:
			kty = ktyECHSM
		}
	}
	return c.storeNewVersion(name, kty, key, in.Key.KeyOps, in.Attributes, in.Tags, nil)
}

// storeNewVersion adds a version holding key as the key's current one, creating the key if
// needed. policyExpiry, when set, is the rotation policy's expiryTime for the version.
func (c *call) storeNewVersion(name, kty string, key crypto.Signer, ops []string, attrsIn *attributesIn, tags map[string]string, policyExpiry *int64) (int, any, error) {
	if ops == nil {
		ops = defaultKeyOps(kty)
	}
	ops, err := canonicalKeyOps(ops)
	if err != nil {
		return 0, nil, err
	}
	if err := validTags(tags); err != nil {
		return 0, nil, err
	}
	now := c.svc.now().UTC().Unix()
	kv := keyVersion{Name: name, Version: newVersion(), Kty: kty, KeyOps: ops, Tags: tags,
		Attributes: attributes{Enabled: true, Created: now, Updated: now, Exportable: new(bool)}}
	kv.Attributes.apply(attrsIn)
	if policyExpiry != nil && kv.Attributes.Expires == nil {
		kv.Attributes.Expires = policyExpiry
	}
	if err := c.sealVersion(&kv, key); err != nil {
		return 0, nil, err
	}
	err = c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var o object
		err := getJSON(tx, colKeys, objKey(c.vault.Name, name), &o)
		switch {
		case errors.Is(err, store.ErrNotFound):
			o = object{Name: name}
		case err != nil:
			return err
		case o.Deleted != nil:
			return deletedButRecoverable("Key", name)
		case o.Managed:
			return managedByCertificate(keyKind, "create", name)
		}
		kv.Name = o.Name // keep the spelling of the first version (seal contexts are case-folded)
		o.Current = kv.Version
		if err := putJSON(tx, colKeyVersions, objKey(c.vault.Name, name)+"/"+kv.Version, kv); err != nil {
			return err
		}
		return putJSON(tx, colKeys, objKey(c.vault.Name, name), o)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.keyBundle(kv), nil
}

func disabledErr(op, kind string) error {
	return azerr.Forbidden("Forbidden", "Operation %s is not allowed on a disabled %s.", op, strings.ToLower(kind)).WithInner(kind + "Disabled")
}

func (c *call) getKey(name, version string) (int, any, error) {
	var kv keyVersion
	err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		_, kv, err = c.loadVersion(tx, name, version)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	if !kv.Attributes.Enabled {
		return 0, nil, disabledErr("get", "Key")
	}
	return http.StatusOK, c.keyBundle(kv), nil
}

type updateKeyRequest struct {
	KeyOps        []string          `json:"key_ops"`
	Attributes    *attributesIn     `json:"attributes"`
	Tags          map[string]string `json:"tags"`
	ReleasePolicy json.RawMessage   `json:"release_policy"`
}

func (c *call) updateKey(name, version string) (int, any, error) {
	var in updateKeyRequest
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Attributes != nil && in.Attributes.Exportable != nil && *in.Attributes.Exportable {
		return 0, nil, notSupported("Making a key exportable")
	}
	var ops []string
	if in.KeyOps != nil {
		var err error
		if ops, err = canonicalKeyOps(in.KeyOps); err != nil {
			return 0, nil, err
		}
	}
	if err := validTags(in.Tags); err != nil {
		return 0, nil, err
	}
	var kv keyVersion
	err := c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		var o object
		if o, kv, err = c.loadVersion(tx, name, version); err != nil {
			return err
		}
		if o.Managed {
			return managedByCertificate(keyKind, "update", name)
		}
		kv.Attributes.apply(in.Attributes)
		if ops != nil {
			kv.KeyOps = ops
		}
		if in.Tags != nil {
			kv.Tags = in.Tags
		}
		kv.Attributes.Updated = c.svc.now().UTC().Unix()
		return putJSON(tx, colKeyVersions, objKey(c.vault.Name, name)+"/"+kv.Version, kv)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.keyBundle(kv), nil
}

func (c *call) keyItem(kv keyVersion, withVersion bool) map[string]any {
	version := ""
	if withVersion {
		version = kv.Version
	}
	m := map[string]any{"kid": c.kid(kv.Name, version), "attributes": c.attributesView(kv.Attributes)}
	if len(kv.Tags) > 0 {
		m["tags"] = kv.Tags
	}
	if kv.Managed {
		m["managed"] = true
	}
	return m
}

// keysTx returns the vault's keys (deleted ones only if deleted is set), sorted by name,
// with their current versions by lower-case name.
func (c *call) keysTx(tx store.Tx, deleted bool) ([]object, map[string]keyVersion, error) {
	cur := map[string]keyVersion{}
	objs, err := c.listObjects(tx, keyKind, deleted, func(o object, raw []byte) error {
		var kv keyVersion
		if err := json.Unmarshal(raw, &kv); err != nil {
			return err
		}
		cur[strings.ToLower(o.Name)] = kv
		return nil
	})
	return objs, cur, err
}

func names[T any](xs []T, name func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = strings.ToLower(name(x))
	}
	return out
}

func (c *call) listKeys() (int, any, error) {
	var objs []object
	var cur map[string]keyVersion
	if err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		objs, cur, err = c.keysTx(tx, false)
		return err
	}); err != nil {
		return 0, nil, err
	}
	return c.objectsPage(objs, "/keys", func(o object) (map[string]any, error) {
		return c.keyItem(cur[strings.ToLower(o.Name)], false), nil
	})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (c *call) listKeyVersions(name string) (int, any, error) {
	return listVersionsPage(c, keyKind, name, func(v keyVersion) string { return v.Version },
		func(kv keyVersion) (map[string]any, error) { return c.keyItem(kv, true), nil })
}

// ---- delete, deleted keys, recover, purge ----

func (c *call) deleteKey(name string) (int, any, error) {
	var kv keyVersion
	o, err := c.softDelete(keyKind, name, &kv)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.deletedKeyBundle(kv, o.Deleted), nil
}

func (c *call) listDeletedKeys() (int, any, error) {
	var objs []object
	var cur map[string]keyVersion
	if err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		objs, cur, err = c.keysTx(tx, true)
		return err
	}); err != nil {
		return 0, nil, err
	}
	return c.objectsPage(objs, "/deletedkeys", func(o object) (map[string]any, error) {
		kv := cur[strings.ToLower(o.Name)]
		return c.deletedFields(keyKind, c.keyItem(kv, false), kv.Name, o.Deleted), nil
	})
}

func (c *call) getDeletedKey(name string) (int, any, error) {
	var kv keyVersion
	o, err := c.deleted(keyKind, name, &kv)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.deletedKeyBundle(kv, o.Deleted), nil
}

func (c *call) recoverKey(name string) (int, any, error) {
	var kv keyVersion
	if err := c.recover(keyKind, name, &kv); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.keyBundle(kv), nil
}

func purgeProtected() error {
	return azerr.Forbidden("Forbidden", `Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.`)
}

func (c *call) purgeKey(name string) (int, any, error) {
	if err := c.purge(keyKind, name); err != nil {
		return 0, nil, err
	}
	c.svc.keyCache.dropPrefix(keySealContext(c.vault, name, ""))
	return http.StatusNoContent, nil, nil
}

// purgeObjectTx removes an object and all its versions.
func purgeObjectTx(tx store.Tx, objCol, versionCol, key string) error {
	items, err := tx.List(versionCol, key+"/")
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := tx.Delete(versionCol, it.Key); err != nil {
			return err
		}
	}
	return tx.Delete(objCol, key)
}

// ---- rotate ----

func (c *call) rotateKey(name string) (int, any, error) {
	return c.rotate(name)
}

// rotate makes a new version with fresh material of the current version's type, size and
// operations; the rotation policy's expiryTime sets its expiry.
func (c *call) rotate(name string) (int, any, error) {
	var o object
	var cur keyVersion
	if err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		o, cur, err = c.loadVersion(tx, name, "")
		return err
	}); err != nil {
		return 0, nil, err
	}
	pub, err := c.currentPublic(cur)
	if err != nil {
		return 0, nil, err
	}
	var key crypto.Signer
	switch k := pub.(type) {
	case *rsa.PublicKey:
		bits := k.N.BitLen()
		key, err = generateKey(cur.Kty, &bits, nil, "")
	case *ecdsa.PublicKey:
		key, err = generateKey(cur.Kty, nil, nil, curveName(k.Curve))
	}
	if err != nil {
		return 0, nil, err
	}
	var exp *int64
	if o.Policy != nil && o.Policy.Attributes.ExpiryTime != "" {
		d, _ := parseDuration(o.Policy.Attributes.ExpiryTime)
		e := d.addTo(c.svc.now().UTC()).Unix()
		exp = &e
	}
	return c.storeNewVersion(cur.Name, cur.Kty, key, cur.KeyOps, nil, cur.Tags, exp)
}

// currentPublic parses a version's public key.
func (c *call) currentPublic(kv keyVersion) (crypto.PublicKey, error) {
	if isRSA(kv.Kty) {
		n, err := bigField("n", kv.Public.N)
		if err != nil {
			return nil, err
		}
		e, err := bigField("e", kv.Public.E)
		if err != nil {
			return nil, err
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	}
	curve, _, _ := curveByName(kv.Public.Crv)
	if curve == nil {
		return nil, fmt.Errorf("key %s has unknown curve %q", kv.Name, kv.Public.Crv)
	}
	x, err := bigField("x", kv.Public.X)
	if err != nil {
		return nil, err
	}
	y, err := bigField("y", kv.Public.Y)
	if err != nil {
		return nil, err
	}
	return &ecdsa.PublicKey{Curve: curve, X: x, Y: y}, nil
}

// keyClass returns the size and protection of a key's current version, for throttling.
func (s *Service) keyClass(c *call, name string) (size int, hsm bool, ok bool) {
	var kv keyVersion
	err := s.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		_, kv, err = c.loadVersion(tx, name, "")
		return err
	})
	if err != nil || !isRSA(kv.Kty) {
		return 0, false, false
	}
	nb, err := b64(kv.Public.N)
	if err != nil {
		return 0, false, false
	}
	return len(nb) * 8, kv.Kty == ktyRSAHSM, true
}

// k1Prefix marks a sealed P-256K (secp256k1) private key, which PKCS #8 in Go's x509 does
// not encode: the prefix, then the 32-byte scalar. PKCS #8 DER starts with 0x30, never 0.
var k1Prefix = []byte{0, 'k', '1'}

// marshalPrivateKey encodes a private key for sealing.
func marshalPrivateKey(key crypto.Signer) ([]byte, error) {
	if ec, ok := key.(*ecdsa.PrivateKey); ok && curveName(ec.Curve) == "P-256K" {
		return append(append([]byte(nil), k1Prefix...), ec.D.FillBytes(make([]byte, 32))...), nil
	}
	return x509.MarshalPKCS8PrivateKey(key)
}

// parsePrivateKey decodes what marshalPrivateKey encoded.
func parsePrivateKey(der []byte) (any, error) {
	if len(der) == len(k1Prefix)+32 && string(der[:len(k1Prefix)]) == string(k1Prefix) {
		curve := secp256k1.S256()
		d := der[len(k1Prefix):]
		x, y := curve.ScalarBaseMult(d)
		return &ecdsa.PrivateKey{PublicKey: ecdsa.PublicKey{Curve: curve, X: x, Y: y}, D: new(big.Int).SetBytes(d)}, nil
	}
	return x509.ParsePKCS8PrivateKey(der)
}
