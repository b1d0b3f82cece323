package keyvault

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"strings"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// certMaterial is a certificate with its private key: what an import brings and what a
// certificate's secret holds. Chain starts with the leaf unless the caller asked to keep
// the order it was given in.
type certMaterial struct {
	key   crypto.Signer
	leaf  *x509.Certificate
	chain []*x509.Certificate
}

// maxImportBytes bounds an imported PFX or PEM (Key Vault's limit on a secret is 25 KB; a
// long chain in base64 stays well under this).
const maxImportBytes = 64 * 1024

// parseCertImport reads an import's value: base64 PKCS #12 (with password pwd) or PEM text
// holding the certificate chain and an unencrypted private key. It returns the material and
// the content type the value was in.
func parseCertImport(value, pwd string, preserveOrder bool) (certMaterial, string, error) {
	var m certMaterial
	if len(value) > maxImportBytes {
		return m, "", badParameter("The certificate value is %d bytes; at most %d are accepted.", len(value), maxImportBytes)
	}
	if strings.Contains(value, "-----BEGIN") {
		m, err := parsePEMImport(value, preserveOrder)
		return m, contentTypePEM, err
	}
	der, err := decodeBase64Any(value)
	if err != nil || len(der) == 0 {
		return m, "", badParameter("The certificate value is neither base64 PKCS #12 (PFX) nor PEM text.")
	}
	if bytes.Contains(der, []byte("-----BEGIN")) {
		m, err := parsePEMImport(string(der), preserveOrder)
		return m, contentTypePEM, err
	}
	key, leaf, cas, err := pkcs12.DecodeChain(der, pwd)
	if err != nil {
		if strings.Contains(err.Error(), "password") {
			return m, "", badParameter("The PKCS #12 (PFX) certificate cannot be opened with the password given: send its password in 'pwd'.")
		}
		return m, "", badParameter("The PKCS #12 (PFX) certificate cannot be read (%v): send a PFX holding the certificate and its private key.", err)
	}
	m, err = assemble(key, append([]*x509.Certificate{leaf}, cas...), preserveOrder)
	return m, contentTypePKCS12, err
}

func decodeBase64Any(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return b64(s)
}

func parsePEMImport(text string, preserveOrder bool) (certMaterial, error) {
	var certs []*x509.Certificate
	var key any
	rest := []byte(text)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return certMaterial{}, badParameter("A CERTIFICATE block of the PEM cannot be parsed: %v.", err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if key != nil {
				return certMaterial{}, badParameter("The PEM holds more than one private key.")
			}
			k, err := parsePEMKey(block)
			if err != nil {
				return certMaterial{}, badParameter("The PEM's %s cannot be parsed: %v.", block.Type, err)
			}
			key = k
		case "ENCRYPTED PRIVATE KEY":
			return certMaterial{}, badParameter("Encrypted PEM private keys are not accepted: import the key unencrypted in the PEM, or import a password-protected PFX.")
		}
	}
	if len(certs) == 0 {
		return certMaterial{}, badParameter("The PEM holds no CERTIFICATE block.")
	}
	if key == nil {
		return certMaterial{}, badParameter("The PEM holds no private key: put the certificate's private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY) in the PEM with it.")
	}
	return assemble(key, certs, preserveOrder)
}

func parsePEMKey(b *pem.Block) (any, error) {
	switch b.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(b.Bytes)
	}
	return x509.ParsePKCS8PrivateKey(b.Bytes)
}

// assemble checks the key is one Key Vault keeps and matches one of the certificates (the
// leaf), and orders the chain leaf first unless preserveOrder.
func assemble(key any, certs []*x509.Certificate, preserveOrder bool) (certMaterial, error) {
	var m certMaterial
	signer, ok := key.(crypto.Signer)
	if !ok {
		return m, badParameter("The private key is of a type Key Vault does not keep: use RSA or EC (P-256, P-384, P-521).")
	}
	if _, err := certKty(signer.Public()); err != nil {
		return m, err
	}
	leafAt := -1
	for i, c := range certs {
		if publicKeysEqual(c.PublicKey, signer.Public()) {
			leafAt = i
			break
		}
	}
	if leafAt < 0 {
		return m, badParameter("The private key does not belong to any of the certificates given.")
	}
	m.key, m.leaf = signer, certs[leafAt]
	if preserveOrder {
		m.chain = certs
		return m, nil
	}
	m.chain = append([]*x509.Certificate{m.leaf}, certs[:leafAt]...)
	m.chain = append(m.chain, certs[leafAt+1:]...)
	return m, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// certKty names the Key Vault key type of a certificate's key, refusing the ones it does
// not keep.
func certKty(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if !rsaSizes[k.N.BitLen()] {
			return "", badParameter("The certificate's RSA key is %d bits; Key Vault keeps 2048, 3072 and 4096-bit RSA keys.", k.N.BitLen())
		}
		return ktyRSA, nil
	case *ecdsa.PublicKey:
		switch curveName(k.Curve) {
		case "P-256", "P-384", "P-521":
			return ktyEC, nil
		}
	}
	return "", badParameter("The certificate's key type is not supported: use RSA (2048, 3072, 4096) or EC (P-256, P-384, P-521).")
}

// secretValue renders a certificate as its secret holds it: base64 PKCS #12 without a
// password, or PEM (private key first, then the chain). A key that is not exportable stays
// out of the secret.
func secretValue(contentType string, m certMaterial, exportable bool) (string, error) {
	if contentType == contentTypePEM {
		var b bytes.Buffer
		if exportable {
			der, err := x509.MarshalPKCS8PrivateKey(m.key)
			if err != nil {
				return "", err
			}
			_ = pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		}
		for _, c := range m.chain {
			_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
		}
		return b.String(), nil
	}
	var pfx []byte
	var err error
	if exportable {
		var cas []*x509.Certificate
		for _, c := range m.chain {
			if c != m.leaf {
				cas = append(cas, c)
			}
		}
		pfx, err = pkcs12.LegacyDES.Encode(m.key, m.leaf, cas, "")
	} else {
		pfx, err = pkcs12.LegacyDES.EncodeTrustStore(m.chain, "")
	}
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(pfx), nil
}

// parseSecretValue reads back what secretValue wrote.
func parseSecretValue(contentType, value string) (certMaterial, error) {
	if contentType == contentTypePEM {
		return parsePEMImport(value, true)
	}
	der, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return certMaterial{}, err
	}
	key, leaf, cas, err := pkcs12.DecodeChain(der, "")
	if err != nil {
		return certMaterial{}, err
	}
	return assemble(key, append([]*x509.Certificate{leaf}, cas...), true)
}

func x5t(der []byte) string {
	sum := sha1.Sum(der)
	return b64enc(sum[:])
}

// certTemplate is the certificate (or request) a policy describes for key.
func certTemplate(p *certPolicy) (*x509.Certificate, error) {
	x := p.X509Props
	if x == nil || strings.TrimSpace(x.Subject) == "" {
		return nil, badParameter("The policy has no x509_props.subject: a certificate needs a subject such as CN=www.contoso.com.")
	}
	subject, err := parseSubject(x.Subject)
	if err != nil {
		return nil, err
	}
	t := &x509.Certificate{Subject: subject}
	if x.SANs != nil {
		if len(x.SANs.UPNs) > 0 {
			return nil, notSupported("A user principal name (sans.upns) in a certificate")
		}
		t.DNSNames, t.EmailAddresses = x.SANs.DNSNames, x.SANs.Emails
	}
	for _, u := range x.KeyUsage {
		t.KeyUsage |= keyUsageBits[canonicalKeyUsage(u)]
	}
	for _, e := range x.EKUs {
		oid, err := parseOID(e)
		if err != nil {
			return nil, badParameter("policy.x509_props.ekus '%s' is not an object identifier.", e)
		}
		t.UnknownExtKeyUsage = append(t.UnknownExtKeyUsage, oid)
	}
	return t, nil
}

// selfSign issues the certificate a policy describes, signed by its own key, valid from now
// for the policy's validity_months.
func selfSign(p *certPolicy, key crypto.Signer, now time.Time) (*x509.Certificate, error) {
	t, err := certTemplate(p)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	months := 12
	if p.X509Props.ValidityMonths != nil {
		months = *p.X509Props.ValidityMonths
	}
	t.SerialNumber = serial
	t.NotBefore = now.UTC().Truncate(time.Second)
	t.NotAfter = t.NotBefore.AddDate(0, months, 0)
	t.BasicConstraintsValid = true
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		Key       asn1.BitString
	}
	if _, err := asn1.Unmarshal(pubDER, &spki); err == nil {
		ski := sha1.Sum(spki.Key.Bytes)
		t.SubjectKeyId = ski[:]
	}
	der, err := x509.CreateCertificate(rand.Reader, t, t, key.Public(), key)
	if err != nil {
		return nil, badParameter("The certificate cannot be issued from this policy: %v.", err)
	}
	return x509.ParseCertificate(der)
}

// certRequest is the PKCS #10 request a policy describes for key (the operation's csr).
func certRequest(p *certPolicy, key crypto.Signer) ([]byte, error) {
	t, err := certTemplate(p)
	if err != nil {
		return nil, err
	}
	req := &x509.CertificateRequest{Subject: t.Subject, DNSNames: t.DNSNames, EmailAddresses: t.EmailAddresses}
	der, err := x509.CreateCertificateRequest(rand.Reader, req, key)
	if err != nil {
		return nil, badParameter("The certificate request cannot be made from this policy: %v.", err)
	}
	return der, nil
}

// parseX5C reads a merge's x5c: each entry base64 DER, or base64 of PEM text (possibly
// holding several certificates).
func parseX5C(x5c []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for i, e := range x5c {
		raw, err := decodeBase64Any(e)
		if err != nil || len(raw) == 0 {
			return nil, badParameter("x5c[%d] is not base64.", i)
		}
		if bytes.Contains(raw, []byte("-----BEGIN")) {
			rest := raw
			for {
				var b *pem.Block
				b, rest = pem.Decode(rest)
				if b == nil {
					break
				}
				if b.Type != "CERTIFICATE" {
					continue
				}
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					return nil, badParameter("x5c[%d] holds a certificate that cannot be parsed: %v.", i, err)
				}
				out = append(out, c)
			}
			continue
		}
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, badParameter("x5c[%d] is not a DER X.509 certificate: %v.", i, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, badParameter("The merge has no certificate in 'x5c': send the signed certificate (and its chain).")
	}
	return out, nil
}

// policyFromCertificate is the policy Key Vault derives for an imported certificate.
func policyFromCertificate(leaf *x509.Certificate, kty string) *certPolicy {
	p := &certPolicy{KeyProps: &certKeyProps{Kty: kty}, X509Props: &x509Props{Subject: leaf.Subject.String()}}
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		p.KeyProps.KeySize = ptr(k.N.BitLen())
	case *ecdsa.PublicKey:
		p.KeyProps.Crv = curveName(k.Curve)
		p.KeyProps.KeySize = ptr(k.Curve.Params().BitSize)
	}
	if len(leaf.DNSNames)+len(leaf.EmailAddresses) > 0 {
		p.X509Props.SANs = &certSANs{DNSNames: leaf.DNSNames, Emails: leaf.EmailAddresses}
	}
	var ekus []string
	for _, u := range leaf.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageServerAuth:
			ekus = append(ekus, "1.3.6.1.5.5.7.3.1")
		case x509.ExtKeyUsageClientAuth:
			ekus = append(ekus, "1.3.6.1.5.5.7.3.2")
		case x509.ExtKeyUsageCodeSigning:
			ekus = append(ekus, "1.3.6.1.5.5.7.3.3")
		case x509.ExtKeyUsageEmailProtection:
			ekus = append(ekus, "1.3.6.1.5.5.7.3.4")
		}
	}
	for _, oid := range leaf.UnknownExtKeyUsage {
		ekus = append(ekus, oid.String())
	}
	p.X509Props.EKUs = ekus
	if ekus == nil {
		p.X509Props.EKUs = []string{}
	}
	p.X509Props.KeyUsage = []string{}
	for _, name := range []string{"digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly"} {
		if leaf.KeyUsage&keyUsageBits[name] != 0 {
			p.X509Props.KeyUsage = append(p.X509Props.KeyUsage, name)
		}
	}
	months := (leaf.NotAfter.Year()-leaf.NotBefore.Year())*12 + int(leaf.NotAfter.Month()-leaf.NotBefore.Month())
	if months < 1 {
		months = 1
	}
	p.X509Props.ValidityMonths = ptr(months)
	return p
}
