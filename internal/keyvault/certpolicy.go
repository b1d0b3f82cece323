package keyvault

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"strings"
)

// certPolicy is a certificate's management policy as Key Vault sends and accepts it. Every
// part is optional on the wire; what a client sets is echoed back as it was set, and what it
// leaves out is filled with Key Vault's defaults when the policy is first stored.
type certPolicy struct {
	KeyProps        *certKeyProps        `json:"key_props,omitempty"`
	SecretProps     *certSecretProps     `json:"secret_props,omitempty"`
	X509Props       *x509Props           `json:"x509_props,omitempty"`
	LifetimeActions []certLifetimeAction `json:"lifetime_actions,omitempty"`
	Issuer          *certIssuerParams    `json:"issuer,omitempty"`
	Attributes      *policyAttributes    `json:"attributes,omitempty"`
}

type certKeyProps struct {
	Exportable *bool  `json:"exportable,omitempty"`
	Kty        string `json:"kty,omitempty"`
	KeySize    *int   `json:"key_size,omitempty"`
	ReuseKey   *bool  `json:"reuse_key,omitempty"`
	Crv        string `json:"crv,omitempty"`
}

type certSecretProps struct {
	ContentType string `json:"contentType,omitempty"`
}

type x509Props struct {
	Subject        string    `json:"subject,omitempty"`
	EKUs           []string  `json:"ekus,omitempty"`
	SANs           *certSANs `json:"sans,omitempty"`
	KeyUsage       []string  `json:"key_usage,omitempty"`
	ValidityMonths *int      `json:"validity_months,omitempty"`
}

type certSANs struct {
	Emails   []string `json:"emails,omitempty"`
	DNSNames []string `json:"dns_names,omitempty"`
	UPNs     []string `json:"upns,omitempty"`
}

type certLifetimeAction struct {
	Trigger struct {
		LifetimePercentage *int `json:"lifetime_percentage,omitempty"`
		DaysBeforeExpiry   *int `json:"days_before_expiry,omitempty"`
	} `json:"trigger"`
	Action struct {
		ActionType string `json:"action_type"`
	} `json:"action"`
}

type certIssuerParams struct {
	Name             string `json:"name,omitempty"`
	CertType         string `json:"cty,omitempty"`
	CertTransparency *bool  `json:"cert_transparency,omitempty"`
}

type policyAttributes struct {
	Enabled   *bool  `json:"enabled,omitempty"`
	NotBefore *int64 `json:"nbf,omitempty"`
	Expires   *int64 `json:"exp,omitempty"`
	Created   int64  `json:"created,omitempty"`
	Updated   int64  `json:"updated,omitempty"`
}

const (
	contentTypePKCS12 = "application/x-pkcs12"
	contentTypePEM    = "application/x-pem-file"
	issuerSelf        = "Self"
	issuerUnknown     = "Unknown"
)

// decodePolicy parses a policy from JSON (as a request carries it).
func decodePolicy(raw json.RawMessage) (*certPolicy, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var p certPolicy
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, badParameter("The certificate policy is not valid: %v.", err)
	}
	return &p, nil
}

// keyUsageBits maps Key Vault's key_usage names to x509 key usages.
var keyUsageBits = map[string]x509.KeyUsage{
	"digitalSignature": x509.KeyUsageDigitalSignature, "nonRepudiation": x509.KeyUsageContentCommitment,
	"keyEncipherment": x509.KeyUsageKeyEncipherment, "dataEncipherment": x509.KeyUsageDataEncipherment,
	"keyAgreement": x509.KeyUsageKeyAgreement, "keyCertSign": x509.KeyUsageCertSign,
	"cRLSign": x509.KeyUsageCRLSign, "encipherOnly": x509.KeyUsageEncipherOnly, "decipherOnly": x509.KeyUsageDecipherOnly,
}

// canonicalKeyUsage spells a key_usage entry as Key Vault does, or returns "".
func canonicalKeyUsage(s string) string {
	for name := range keyUsageBits {
		if strings.EqualFold(name, s) {
			return name
		}
	}
	return ""
}

// validate checks every part of the policy that is present, and spells enumerations
// canonically. It does not fill in defaults (see withDefaults).
func (p *certPolicy) validate() error {
	if k := p.KeyProps; k != nil {
		if k.Kty != "" {
			kty := canonicalKty(k.Kty)
			if kty == "" {
				return badParameter("policy.key_props.kty '%s' is invalid: use RSA, RSA-HSM, EC or EC-HSM.", k.Kty)
			}
			k.Kty = kty
		}
		if k.Crv != "" {
			if c, _, _ := curveByName(k.Crv); c == nil {
				return unsupportedCurve(k.Crv)
			}
			if k.Kty != "" && isRSA(k.Kty) {
				return badParameter("policy.key_props.crv is for EC keys; this policy's kty is %s.", k.Kty)
			}
		}
		if k.KeySize != nil && k.Kty != "" && isRSA(k.Kty) && !rsaSizes[*k.KeySize] {
			return badParameter("policy.key_props.key_size %d is invalid for an RSA key: use 2048, 3072 or 4096.", *k.KeySize)
		}
	}
	if s := p.SecretProps; s != nil && s.ContentType != "" {
		switch strings.ToLower(s.ContentType) {
		case contentTypePKCS12:
			s.ContentType = contentTypePKCS12
		case contentTypePEM:
			s.ContentType = contentTypePEM
		default:
			return badParameter("policy.secret_props.contentType '%s' is invalid: use %s or %s.", s.ContentType, contentTypePKCS12, contentTypePEM)
		}
	}
	if x := p.X509Props; x != nil {
		if x.Subject != "" {
			if _, err := parseSubject(x.Subject); err != nil {
				return err
			}
		}
		for i, u := range x.KeyUsage {
			c := canonicalKeyUsage(u)
			if c == "" {
				return badParameter("policy.x509_props.key_usage '%s' is invalid: use digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment, keyAgreement, keyCertSign, cRLSign, encipherOnly or decipherOnly.", u)
			}
			x.KeyUsage[i] = c
		}
		for _, e := range x.EKUs {
			if _, err := parseOID(e); err != nil {
				return badParameter("policy.x509_props.ekus '%s' is not an object identifier such as 1.3.6.1.5.5.7.3.1.", e)
			}
		}
		if x.ValidityMonths != nil && (*x.ValidityMonths < 1 || *x.ValidityMonths > 1200) {
			return badParameter("policy.x509_props.validity_months must be from 1 to 1200, got %d.", *x.ValidityMonths)
		}
		if x.SANs != nil {
			for _, d := range x.SANs.DNSNames {
				if d == "" || strings.ContainsAny(d, " /@") {
					return badParameter("policy.x509_props.sans.dns_names '%s' is not a DNS name.", d)
				}
			}
			for _, e := range x.SANs.Emails {
				if !strings.Contains(e, "@") {
					return badParameter("policy.x509_props.sans.emails '%s' is not an email address.", e)
				}
			}
		}
	}
	for i := range p.LifetimeActions {
		a := &p.LifetimeActions[i]
		switch {
		case strings.EqualFold(a.Action.ActionType, "AutoRenew"):
			a.Action.ActionType = "AutoRenew"
		case strings.EqualFold(a.Action.ActionType, "EmailContacts"):
			a.Action.ActionType = "EmailContacts"
		default:
			return badParameter("policy.lifetime_actions[%d].action.action_type '%s' is invalid: use AutoRenew or EmailContacts.", i, a.Action.ActionType)
		}
		t := a.Trigger
		if (t.LifetimePercentage == nil) == (t.DaysBeforeExpiry == nil) {
			return badParameter("policy.lifetime_actions[%d].trigger must have exactly one of lifetime_percentage and days_before_expiry.", i)
		}
		if t.LifetimePercentage != nil && (*t.LifetimePercentage < 1 || *t.LifetimePercentage > 99) {
			return badParameter("policy.lifetime_actions[%d].trigger.lifetime_percentage must be from 1 to 99, got %d.", i, *t.LifetimePercentage)
		}
		if t.DaysBeforeExpiry != nil && *t.DaysBeforeExpiry < 1 {
			return badParameter("policy.lifetime_actions[%d].trigger.days_before_expiry must be at least 1, got %d.", i, *t.DaysBeforeExpiry)
		}
	}
	if p.Issuer != nil && p.Issuer.Name != "" && len(p.Issuer.Name) > 127 {
		return badParameter("policy.issuer.name is too long.")
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// withDefaults fills what a new policy leaves out as Key Vault does: an exportable RSA-2048
// key, a PKCS #12 secret, 12 months' validity, server and client authentication, and a
// lifetime action at 80% of the lifetime (AutoRenew for Self, EmailContacts otherwise).
func (p *certPolicy) withDefaults(now int64) {
	if p.KeyProps == nil {
		p.KeyProps = &certKeyProps{}
	}
	k := p.KeyProps
	if k.Kty == "" {
		k.Kty = ktyRSA
		if k.Crv != "" {
			k.Kty = ktyEC
		}
	}
	if k.Exportable == nil {
		k.Exportable = ptr(true)
	}
	if k.ReuseKey == nil {
		k.ReuseKey = ptr(false)
	}
	if isRSA(k.Kty) && k.KeySize == nil {
		k.KeySize = ptr(2048)
	}
	if !isRSA(k.Kty) {
		if k.Crv == "" {
			k.Crv = "P-256"
		}
		if c, _, _ := curveByName(k.Crv); c != nil && k.KeySize == nil {
			k.KeySize = ptr(c.Params().BitSize)
		}
	}
	if p.SecretProps == nil || p.SecretProps.ContentType == "" {
		p.SecretProps = &certSecretProps{ContentType: contentTypePKCS12}
	}
	if p.X509Props == nil {
		p.X509Props = &x509Props{}
	}
	x := p.X509Props
	if x.ValidityMonths == nil {
		x.ValidityMonths = ptr(12)
	}
	if x.EKUs == nil {
		x.EKUs = []string{"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"}
	}
	if x.KeyUsage == nil {
		x.KeyUsage = []string{"digitalSignature", "keyEncipherment"}
		if !isRSA(k.Kty) {
			x.KeyUsage = []string{"digitalSignature"}
		}
	}
	if p.Issuer == nil {
		p.Issuer = &certIssuerParams{}
	}
	if p.Issuer.Name == "" {
		p.Issuer.Name = issuerUnknown
	}
	if p.LifetimeActions == nil {
		a := certLifetimeAction{}
		a.Trigger.LifetimePercentage = ptr(80)
		a.Action.ActionType = "EmailContacts"
		if strings.EqualFold(p.Issuer.Name, issuerSelf) {
			a.Action.ActionType = "AutoRenew"
		}
		p.LifetimeActions = []certLifetimeAction{a}
	}
	if p.Attributes == nil {
		p.Attributes = &policyAttributes{}
	}
	if p.Attributes.Enabled == nil {
		p.Attributes.Enabled = ptr(true)
	}
	if p.Attributes.Created == 0 {
		p.Attributes.Created = now
	}
	p.Attributes.Updated = now
}

// merge applies a policy update: each part the update carries replaces the stored part.
func (p *certPolicy) merge(u *certPolicy) {
	if u.KeyProps != nil {
		p.KeyProps = u.KeyProps
	}
	if u.SecretProps != nil {
		p.SecretProps = u.SecretProps
	}
	if u.X509Props != nil {
		p.X509Props = u.X509Props
	}
	if u.LifetimeActions != nil {
		p.LifetimeActions = u.LifetimeActions
	}
	if u.Issuer != nil {
		p.Issuer = u.Issuer
	}
	if u.Attributes != nil && u.Attributes.Enabled != nil {
		p.Attributes.Enabled = u.Attributes.Enabled
	}
}

func (p *certPolicy) exportable() bool {
	return p.KeyProps == nil || p.KeyProps.Exportable == nil || *p.KeyProps.Exportable
}

func (p *certPolicy) contentType() string {
	if p.SecretProps == nil || p.SecretProps.ContentType == "" {
		return contentTypePKCS12
	}
	return p.SecretProps.ContentType
}

// view renders the policy with its id.
func (c *call) certPolicyView(name string, p *certPolicy) map[string]any {
	b, _ := json.Marshal(p)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["id"] = c.certID(name, "") + "/policy"
	return m
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return nil, errBadOID
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, part := range parts {
		n := 0
		if part == "" || len(part) > 9 {
			return nil, errBadOID
		}
		for _, r := range part {
			if r < '0' || r > '9' {
				return nil, errBadOID
			}
			n = n*10 + int(r-'0')
		}
		oid[i] = n
	}
	return oid, nil
}

var errBadOID = badParameter("not an object identifier")

// subjectAttrs maps the attribute names Key Vault accepts in a subject to their OIDs.
var subjectAttrs = map[string]asn1.ObjectIdentifier{
	"CN": {2, 5, 4, 3}, "SERIALNUMBER": {2, 5, 4, 5}, "C": {2, 5, 4, 6}, "L": {2, 5, 4, 7},
	"S": {2, 5, 4, 8}, "ST": {2, 5, 4, 8}, "STREET": {2, 5, 4, 9}, "O": {2, 5, 4, 10}, "OU": {2, 5, 4, 11},
	"T": {2, 5, 4, 12}, "TITLE": {2, 5, 4, 12}, "POSTALCODE": {2, 5, 4, 17}, "G": {2, 5, 4, 42}, "SN": {2, 5, 4, 4},
	"E": {1, 2, 840, 113549, 1, 9, 1}, "EMAIL": {1, 2, 840, 113549, 1, 9, 1}, "EMAILADDRESS": {1, 2, 840, 113549, 1, 9, 1},
	"DC": {0, 9, 2342, 19200300, 100, 1, 25}, "UID": {0, 9, 2342, 19200300, 100, 1, 1},
}

// parseSubject parses an X.500 distinguished name as Key Vault's policies write it
// ("CN=www.contoso.com, O=Contoso, C=US"): attributes separated by commas or semicolons,
// values optionally quoted, with backslash escapes.
func parseSubject(s string) (pkix.Name, error) {
	var name pkix.Name
	var rdns pkix.RDNSequence
	bad := func(why string) (pkix.Name, error) {
		return name, badParameter("The subject '%s' is not a valid X.500 distinguished name: %s.", s, why)
	}
	if strings.TrimSpace(s) == "" {
		return bad("it is empty")
	}
	var parts []string
	var cur strings.Builder
	quoted, escaped := false, false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped = true
		case r == '"':
			quoted = !quoted
		case (r == ',' || r == ';') && !quoted:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	if quoted || escaped {
		return bad("a quote or escape is not closed")
	}
	parts = append(parts, cur.String())
	for _, part := range parts {
		typ, val, ok := strings.Cut(part, "=")
		typ, val = strings.ToUpper(strings.TrimSpace(typ)), strings.TrimSpace(val)
		if !ok || typ == "" {
			return bad("'" + strings.TrimSpace(part) + "' is not of the form ATTRIBUTE=value")
		}
		oid, known := subjectAttrs[typ]
		if !known {
			if o, err := parseOID(typ); err == nil {
				oid, known = o, true
			}
		}
		if !known {
			return bad("the attribute '" + typ + "' is not known")
		}
		if val == "" || len(val) > 256 {
			return bad("the value of " + typ + " is empty or longer than 256 characters")
		}
		// Written most-specific first (CN=..., O=..., C=...), encoded the other way round, as
		// certificates print their subjects.
		rdns = append(pkix.RDNSequence{{{Type: oid, Value: val}}}, rdns...)
	}
	name.FillFromRDNSequence(&rdns)
	name.ExtraNames = nil
	for _, rdn := range rdns {
		name.ExtraNames = append(name.ExtraNames, rdn...)
	}
	return name, nil
}
