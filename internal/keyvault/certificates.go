package keyvault

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Certificates, as Key Vault keeps them: a certificate version is three objects of the same
// name and version — the certificate (its DER and attributes), a key holding its private key
// and a secret holding the certificate with that key (PKCS #12 or PEM) — the key and secret
// marked managed, so only the certificate can change or delete them. The certificate
// object carries the policy and the last creation operation ("pending"). Issuer Self signs
// at once; issuer Unknown keeps the new private key sealed in the pending operation until
// the signed certificate is merged.

// certVersion is one version of a certificate.
type certVersion struct {
	Name              string            `json:"name"`
	Version           string            `json:"version"`
	CER               []byte            `json:"cer"`
	ContentType       string            `json:"contentType"`
	Attributes        attributes        `json:"attributes"`
	Tags              map[string]string `json:"tags,omitempty"`
	PreserveCertOrder *bool             `json:"preserveCertOrder,omitempty"`
}

// certOperation is a certificate's creation operation (GET /certificates/{name}/pending).
type certOperation struct {
	RequestID         string           `json:"requestId"`
	Issuer            certIssuerParams `json:"issuer"`
	CSR               []byte           `json:"csr"`
	Status            string           `json:"status"` // inProgress | completed | cancelled
	StatusDetails     string           `json:"statusDetails"`
	Cancelled         bool             `json:"cancellationRequested"`
	PreserveCertOrder *bool            `json:"preserveCertOrder,omitempty"`
	// While in progress: the version being made, its private key (PKCS #8, sealed), and
	// what the merge applies.
	Version    string            `json:"version,omitempty"`
	SealedKey  []byte            `json:"sealedKey,omitempty"`
	Policy     *certPolicy       `json:"policy,omitempty"`
	Attributes *attributesIn     `json:"attributes,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
}

const (
	opInProgress = "inProgress"
	opCompleted  = "completed"
	opCancelled  = "cancelled"
)

var certKind = kind{"Certificate", colCertificates, colCertificateVersions, nil}

func pendingKeySealContext(v Vault, name, version string) string {
	return "keyvault/certpending/" + v.UID + "/" + strings.ToLower(name) + "/" + strings.ToLower(version)
}

func (c *call) certID(name, version string) string {
	id := VaultURI(c.vault.Name) + "/certificates/" + name
	if version != "" {
		id += "/" + version
	}
	return id
}

func (c *call) certScope(name string) string { return c.vault.ResourceID + "/certificates/" + name }

func managedByCertificate(k kind, op, name string) error {
	return azerr.Forbidden("Forbidden", "Operation \"%s\" is not allowed as this object's lifetime is managed by Key Vault: %s '%s' is managed by certificate '%s'; act on the certificate instead.",
		op, strings.ToLower(k.name), name, name).WithInner(k.name + "ManagedByKeyVault")
}

func pendingNotFound(name string) error {
	return azerr.NotFound("PendingCertificateNotFound", "Pending certificate not found: certificate %s has no creation operation.", name)
}

// ---- views ----

func (c *call) certBundle(cv certVersion, p *certPolicy) map[string]any {
	m := map[string]any{"id": c.certID(cv.Name, cv.Version), "kid": c.kid(cv.Name, cv.Version), "sid": c.secretID(cv.Name, cv.Version),
		"x5t": x5t(cv.CER), "cer": base64.StdEncoding.EncodeToString(cv.CER), "contentType": cv.ContentType,
		"attributes": c.attributesView(cv.Attributes)}
	if p != nil {
		m["policy"] = c.certPolicyView(cv.Name, p)
	}
	if len(cv.Tags) > 0 {
		m["tags"] = cv.Tags
	}
	if cv.PreserveCertOrder != nil {
		m["preserveCertOrder"] = *cv.PreserveCertOrder
	}
	return m
}

// certItem is a certificate in a list; an object with no completed version yet (listed
// with includePending) shows only its id and policy state.
func (c *call) certItem(o object, cv *certVersion, withVersion bool) map[string]any {
	if cv == nil {
		enabled := o.CertPolicy != nil && o.CertPolicy.Attributes != nil && o.CertPolicy.Attributes.Enabled != nil && *o.CertPolicy.Attributes.Enabled
		return map[string]any{"id": c.certID(o.Name, ""), "attributes": map[string]any{"enabled": enabled}}
	}
	version := ""
	if withVersion {
		version = cv.Version
	}
	attrs := c.attributesView(cv.Attributes)
	delete(attrs, "recoveryLevel")
	delete(attrs, "recoverableDays")
	m := map[string]any{"id": c.certID(cv.Name, version), "x5t": x5t(cv.CER), "attributes": attrs}
	if len(cv.Tags) > 0 {
		m["tags"] = cv.Tags
	}
	return m
}

func (c *call) operationView(name string, op *certOperation) map[string]any {
	issuer := map[string]any{"name": op.Issuer.Name}
	if op.Issuer.CertType != "" {
		issuer["cty"] = op.Issuer.CertType
	}
	if op.Issuer.CertTransparency != nil {
		issuer["cert_transparency"] = *op.Issuer.CertTransparency
	}
	m := map[string]any{"id": c.certID(name, "") + "/pending", "issuer": issuer, "csr": base64.StdEncoding.EncodeToString(op.CSR),
		"cancellation_requested": op.Cancelled, "status": op.Status, "status_details": op.StatusDetails, "request_id": op.RequestID}
	if op.Status == opCompleted {
		m["target"] = c.certID(name, "")
	}
	if op.PreserveCertOrder != nil {
		m["preserveCertOrder"] = *op.PreserveCertOrder
	}
	return m
}

// deletedCertView is a deleted certificate: its current version (if it has one) and the
// soft-delete fields.
func (c *call) deletedCertView(o object, cv *certVersion) map[string]any {
	m := map[string]any{"id": c.certID(o.Name, "")}
	if cv != nil {
		m = c.certBundle(*cv, o.CertPolicy)
	} else if o.CertPolicy != nil {
		m["policy"] = c.certPolicyView(o.Name, o.CertPolicy)
	}
	return c.deletedFields(certKind, m, o.Name, o.Deleted)
}

// ---- loading ----

// loadCert returns a live certificate and, if it has one, the version asked for ("" is the
// current one).
func (c *call) loadCert(tx store.Tx, name, version string) (object, certVersion, error) {
	var cv certVersion
	o, err := c.loadObject(tx, certKind, name, false)
	if err != nil {
		return o, cv, err
	}
	return o, cv, c.loadVersionOf(tx, certKind, o, version, &cv)
}

// ---- create, import, merge ----

type createCertRequest struct {
	Policy            json.RawMessage   `json:"policy"`
	Attributes        *attributesIn     `json:"attributes"`
	Tags              map[string]string `json:"tags"`
	PreserveCertOrder *bool             `json:"preserveCertOrder"`
}

// generateCertKey makes a key of the type a policy names (any curve Go can sign
// certificates with).
func generateCertKey(k *certKeyProps) (crypto.Signer, error) {
	var size *int
	if isRSA(k.Kty) {
		size = k.KeySize
	}
	key, err := generateKey(k.Kty, size, nil, k.Crv)
	if err != nil {
		return nil, err
	}
	if _, err := certKty(key.Public()); err != nil {
		return nil, err
	}
	return key, nil
}

func (c *call) createCertificate(name string) (int, any, error) {
	var in createCertRequest
	if err := c.decodeTagged(&in, &in.Tags); err != nil {
		return 0, nil, err
	}
	pol, err := decodePolicy(in.Policy)
	if err != nil {
		return 0, nil, err
	}
	var existing object
	var current certVersion
	err = c.svc.st.View(c.ctx, func(tx store.Tx) error {
		err := getJSON(tx, colCertificates, objKey(c.vault.Name, name), &existing)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if existing.Deleted != nil {
			return deletedButRecoverable("Certificate", name)
		}
		if existing.Current != "" {
			return c.loadVersionOf(tx, certKind, existing, "", &current)
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	if pol == nil {
		if existing.CertPolicy == nil {
			return 0, nil, badParameter("The request has no 'policy': a new certificate needs a policy (issuer, subject, key properties).")
		}
		cp := *existing.CertPolicy
		pol = &cp
	} else if err := pol.validate(); err != nil {
		return 0, nil, err
	}
	now := c.svc.now().UTC()
	pol.withDefaults(now.Unix())
	self := strings.EqualFold(pol.Issuer.Name, issuerSelf)
	if !self && !strings.EqualFold(pol.Issuer.Name, issuerUnknown) {
		return 0, nil, c.unsupportedIssuer(pol.Issuer.Name)
	}
	if _, err := certTemplate(pol); err != nil {
		return 0, nil, err
	}
	var key crypto.Signer
	if *pol.KeyProps.ReuseKey && existing.Current != "" {
		key, err = c.managedPrivateKey(name, existing.Current)
	} else {
		key, err = generateCertKey(pol.KeyProps)
	}
	if err != nil {
		return 0, nil, err
	}
	csr, err := certRequest(pol, key)
	if err != nil {
		return 0, nil, err
	}
	op := &certOperation{RequestID: newVersion(), Issuer: *pol.Issuer, CSR: csr, PreserveCertOrder: in.PreserveCertOrder, Version: newVersion()}
	if self {
		leaf, err := selfSign(pol, key, now)
		if err != nil {
			return 0, nil, err
		}
		op.Status, op.StatusDetails = opCompleted, "The certificate was issued by the Self issuer (signed with its own key)."
		m := certMaterial{key: key, leaf: leaf, chain: []*x509.Certificate{leaf}}
		err = c.svc.st.Update(c.ctx, func(tx store.Tx) error {
			_, err := c.completeCertTx(tx, name, op.Version, m, pol, in.Attributes, in.Tags, in.PreserveCertOrder, op)
			return err
		})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusAccepted, c.operationView(c.certNameTx(name), op), nil
	}
	der, err := marshalPrivateKey(key)
	if err != nil {
		return 0, nil, err
	}
	op.Status, op.StatusDetails = opInProgress, "The certificate request is waiting for the certificate signed by the issuer: merge it with POST /certificates/"+name+"/pending/merge."
	op.SealedKey = c.svc.barrier.Seal(pendingKeySealContext(c.vault, name, op.Version), der)
	op.Policy, op.Attributes, op.Tags = pol, in.Attributes, in.Tags
	var o object
	err = c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		if o, err = c.liveOrNewCertTx(tx, name); err != nil {
			return err
		}
		if err := c.checkOwnedNamesTx(tx, name); err != nil {
			return err
		}
		o.CertPolicy, o.Pending = pol, op
		return putJSON(tx, colCertificates, objKey(c.vault.Name, name), o)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, c.operationView(o.Name, op), nil
}

// certNameTx returns the spelling the certificate was first created with.
func (c *call) certNameTx(name string) string {
	var o object
	_ = c.svc.st.View(c.ctx, func(tx store.Tx) error { return getJSON(tx, colCertificates, objKey(c.vault.Name, name), &o) })
	if o.Name == "" {
		return name
	}
	return o.Name
}

func (c *call) unsupportedIssuer(name string) error {
	var iss issuerRecord
	err := c.svc.st.View(c.ctx, func(tx store.Tx) error { return getJSON(tx, colCertIssuers, objKey(c.vault.Name, name), &iss) })
	if err == nil {
		return badParameter("Issuer '%s' (provider %s) cannot issue certificates here: Cerulean has no certificate authority integrations. Use issuer Self (self-signed) or Unknown (sign the request elsewhere and merge it).", name, iss.Provider)
	}
	return badParameter("Issuer '%s' is not known: Cerulean issues certificates with issuer Self (self-signed) or Unknown (sign the request elsewhere and merge it); it has no certificate authority integrations.", name)
}

// managedPrivateKey opens the private key of a certificate version's managed key.
func (c *call) managedPrivateKey(name, version string) (crypto.Signer, error) {
	var kv keyVersion
	err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		return getJSON(tx, colKeyVersions, objKey(c.vault.Name, name)+"/"+version, &kv)
	})
	if err != nil {
		return nil, err
	}
	return c.privateKey(kv)
}

// liveOrNewCertTx returns the live certificate object, or a new one; a deleted one is a
// conflict.
func (c *call) liveOrNewCertTx(tx store.Tx, name string) (object, error) {
	var o object
	err := getJSON(tx, colCertificates, objKey(c.vault.Name, name), &o)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return object{Name: name}, nil
	case err != nil:
		return o, err
	case o.Deleted != nil:
		return o, deletedButRecoverable("Certificate", name)
	}
	return o, nil
}

// checkOwnedNamesTx refuses a certificate name that a key or secret of the vault already
// uses on its own: the certificate's key and secret need it.
func (c *call) checkOwnedNamesTx(tx store.Tx, name string) error {
	for _, k := range []kind{keyKind, secretKind} {
		var o object
		err := getJSON(tx, k.objCol, objKey(c.vault.Name, name), &o)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !o.Managed {
			noun := strings.ToLower(k.name)
			return azerr.Conflict("Conflict", "A %s named '%s' already exists in this vault: a certificate's key and secret take the certificate's name, so pick another name or delete and purge the %s.", noun, name, noun)
		}
		if o.Deleted != nil {
			return deletedButRecoverable(k.name, name)
		}
	}
	return nil
}

// completeCertTx writes a completed certificate version — the certificate, its managed key
// and its managed secret, all of version version — and makes it current. op, if not nil,
// becomes the certificate's (completed) operation.
func (c *call) completeCertTx(tx store.Tx, name, version string, m certMaterial, pol *certPolicy, attrsIn *attributesIn, tags map[string]string, preserve *bool, op *certOperation) (certVersion, error) {
	o, err := c.liveOrNewCertTx(tx, name)
	if err != nil {
		return certVersion{}, err
	}
	if err := c.checkOwnedNamesTx(tx, name); err != nil {
		return certVersion{}, err
	}
	kty, err := certKty(m.leaf.PublicKey)
	if err != nil {
		return certVersion{}, err
	}
	if pol.KeyProps != nil && (pol.KeyProps.Kty == ktyRSAHSM || pol.KeyProps.Kty == ktyECHSM) {
		kty += "-HSM"
	}
	now := c.svc.now().UTC().Unix()
	nbf, exp := m.leaf.NotBefore.Unix(), m.leaf.NotAfter.Unix()
	attrs := attributes{Enabled: true, NotBefore: &nbf, Expires: &exp, Created: now, Updated: now}
	if pol.Attributes != nil && pol.Attributes.Enabled != nil {
		attrs.Enabled = *pol.Attributes.Enabled
	}
	if attrsIn != nil && attrsIn.Enabled != nil {
		attrs.Enabled = *attrsIn.Enabled
	}
	exportable := pol.exportable()
	name = o.Name
	kv := keyVersion{Name: name, Version: version, Kty: kty, KeyOps: defaultKeyOps(kty), Attributes: attrs, Managed: true}
	kv.Attributes.Exportable = &exportable
	if err := c.sealVersion(&kv, m.key); err != nil {
		return certVersion{}, err
	}
	value, err := secretValue(pol.contentType(), m, exportable)
	if err != nil {
		return certVersion{}, err
	}
	sv := secretVersion{Name: name, Version: version, ContentType: pol.contentType(), Attributes: attrs, Managed: true, Kid: c.kid(name, version)}
	sv.Sealed = c.svc.barrier.Seal(secretSealContext(c.vault, name, version), []byte(value))
	cv := certVersion{Name: name, Version: version, CER: m.leaf.Raw, ContentType: pol.contentType(), Attributes: attrs, Tags: tags, PreserveCertOrder: preserve}
	base := objKey(c.vault.Name, name)
	if err := putJSON(tx, colKeyVersions, base+"/"+version, kv); err != nil {
		return cv, err
	}
	if err := putJSON(tx, colSecretVersions, base+"/"+version, sv); err != nil {
		return cv, err
	}
	if err := putJSON(tx, colCertificateVersions, base+"/"+version, cv); err != nil {
		return cv, err
	}
	for _, col := range []string{colKeys, colSecrets} {
		if err := putJSON(tx, col, base, object{Name: name, Current: version, Managed: true}); err != nil {
			return cv, err
		}
	}
	o.Current, o.CertPolicy = version, pol
	if op != nil {
		op.Version, op.SealedKey, op.Policy, op.Attributes, op.Tags = "", nil, nil, nil, nil
		o.Pending = op
	}
	return cv, putJSON(tx, colCertificates, base, o)
}

type importCertRequest struct {
	Value             string            `json:"value"`
	Pwd               string            `json:"pwd"`
	Policy            json.RawMessage   `json:"policy"`
	Attributes        *attributesIn     `json:"attributes"`
	Tags              map[string]string `json:"tags"`
	PreserveCertOrder *bool             `json:"preserveCertOrder"`
}

func (c *call) importCertificate(name string) (int, any, error) {
	var in importCertRequest
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Value == "" {
		return 0, nil, badParameter("The request has no 'value': send the certificate as base64 PKCS #12 (PFX) or PEM text with its private key.")
	}
	if err := validTags(in.Tags); err != nil {
		return 0, nil, err
	}
	given, err := decodePolicy(in.Policy)
	if err != nil {
		return 0, nil, err
	}
	if given != nil {
		if err := given.validate(); err != nil {
			return 0, nil, err
		}
	}
	m, format, err := parseCertImport(in.Value, in.Pwd, in.PreserveCertOrder != nil && *in.PreserveCertOrder)
	if err != nil {
		return 0, nil, err
	}
	kty, _ := certKty(m.leaf.PublicKey)
	pol := policyFromCertificate(m.leaf, kty)
	pol.SecretProps = &certSecretProps{ContentType: format}
	if given != nil {
		if given.KeyProps != nil {
			pol.KeyProps.Exportable, pol.KeyProps.ReuseKey = given.KeyProps.Exportable, given.KeyProps.ReuseKey
		}
		if given.SecretProps != nil && given.SecretProps.ContentType != "" {
			pol.SecretProps = given.SecretProps
		}
		pol.LifetimeActions, pol.Issuer, pol.Attributes = given.LifetimeActions, given.Issuer, given.Attributes
	}
	pol.withDefaults(c.svc.now().UTC().Unix())
	var cv certVersion
	err = c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		cv, err = c.completeCertTx(tx, name, newVersion(), m, pol, in.Attributes, in.Tags, in.PreserveCertOrder, nil)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.certBundle(cv, pol), nil
}

func (c *call) mergeCertificate(name string) (int, any, error) {
	var in struct {
		X5C        []string          `json:"x5c"`
		Attributes *attributesIn     `json:"attributes"`
		Tags       map[string]string `json:"tags"`
	}
	if err := c.decodeTagged(&in, &in.Tags); err != nil {
		return 0, nil, err
	}
	certs, err := parseX5C(in.X5C)
	if err != nil {
		return 0, nil, err
	}
	o, err := c.liveCert(name)
	if err != nil {
		return 0, nil, err
	}
	op := o.Pending
	if op == nil || op.Status != opInProgress || op.SealedKey == nil {
		return 0, nil, pendingNotFound(name)
	}
	der, err := c.svc.barrier.Open(pendingKeySealContext(c.vault, o.Name, op.Version), op.SealedKey)
	if err != nil {
		return 0, nil, err
	}
	k, err := parsePrivateKey(der)
	if err != nil {
		return 0, nil, err
	}
	m, err := assemble(k, certs, op.PreserveCertOrder != nil && *op.PreserveCertOrder)
	if err != nil {
		return 0, nil, badParameter("The certificate merged does not hold the public key of the pending request: merge the certificate issued for this request's CSR.")
	}
	attrs, tags := op.Attributes, op.Tags
	if in.Attributes != nil {
		attrs = in.Attributes
	}
	if in.Tags != nil {
		tags = in.Tags
	}
	pol := op.Policy
	var cv certVersion
	err = c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var cur object
		if err := getJSON(tx, colCertificates, objKey(c.vault.Name, name), &cur); err != nil || cur.Pending == nil || cur.Pending.RequestID != op.RequestID || cur.Deleted != nil {
			return pendingNotFound(name)
		}
		done := *op
		done.Status, done.StatusDetails = opCompleted, "The signed certificate was merged."
		var err error
		cv, err = c.completeCertTx(tx, name, op.Version, m, pol, attrs, tags, op.PreserveCertOrder, &done)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, c.certBundle(cv, pol), nil
}

// ---- the pending operation ----

// liveCert reads a live certificate object.
func (c *call) liveCert(name string) (object, error) {
	var o object
	err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		o, err = c.loadObject(tx, certKind, name, false)
		return err
	})
	return o, err
}

func (c *call) getCertOperation(name string) (int, any, error) {
	o, err := c.liveCert(name)
	if err != nil {
		return 0, nil, err
	}
	if o.Pending == nil {
		return 0, nil, pendingNotFound(name)
	}
	return http.StatusOK, c.operationView(o.Name, o.Pending), nil
}

func (c *call) updateCertOperation(name string) (int, any, error) {
	var in struct {
		Cancel *bool `json:"cancellation_requested"`
	}
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Cancel == nil {
		return 0, nil, badParameter("The request has no 'cancellation_requested'.")
	}
	var o object
	err := c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		if o, err = c.loadObject(tx, certKind, name, false); err != nil {
			return err
		}
		op := o.Pending
		if op == nil {
			return pendingNotFound(name)
		}
		if *in.Cancel && op.Status == opInProgress {
			op.Cancelled, op.Status, op.StatusDetails = true, opCancelled, "The certificate request was cancelled."
			op.SealedKey = nil
		}
		return putJSON(tx, colCertificates, objKey(c.vault.Name, name), o)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.operationView(o.Name, o.Pending), nil
}

// deleteCertOperation removes the operation; a certificate that never completed a version
// goes with it.
func (c *call) deleteCertOperation(name string) (int, any, error) {
	var o object
	var op *certOperation
	err := c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		var err error
		if o, err = c.loadObject(tx, certKind, name, false); err != nil {
			return err
		}
		if op = o.Pending; op == nil {
			return pendingNotFound(name)
		}
		if o.Current == "" {
			return tx.Delete(colCertificates, objKey(c.vault.Name, name))
		}
		o.Pending = nil
		return putJSON(tx, colCertificates, objKey(c.vault.Name, name), o)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.operationView(o.Name, op), nil
}
