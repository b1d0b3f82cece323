package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

const roleKVCertUser = "db79e9a7-68ee-4b58-9aeb-b90e7c24fcba"

func certsClient(t *testing.T, vault string, cred azcore.TokenCredential) *azcertificates.Client {
	t.Helper()
	c, err := azcertificates.NewClient(vaultURL(vault), cred, &azcertificates.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: httpClient(t), Retry: noRetry},
		DisableChallengeResourceVerification: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitCertOperation polls the certificate's pending operation as the SDK team's tests do,
// until it leaves inProgress.
func waitCertOperation(t *testing.T, cc *azcertificates.Client, name string) azcertificates.CertificateOperation {
	t.Helper()
	for i := 0; i < 20; i++ {
		op, err := cc.GetCertificateOperation(ctxT(t), name, nil)
		if err != nil {
			t.Fatalf("get the operation of %s: %v", name, err)
		}
		if op.Status == nil || *op.Status != "inProgress" {
			return op.CertificateOperation
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the operation of %s stays in progress", name)
	return azcertificates.CertificateOperation{}
}

func parseCER(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("the certificate's cer does not parse: %v", err)
	}
	return c
}

// secretKeyAndChain downloads a certificate's secret (as clients get a certificate with its
// private key) and parses it by its content type.
func secretKeyAndChain(t *testing.T, sc *azsecrets.Client, name string) (crypto.Signer, []*x509.Certificate, string) {
	t.Helper()
	s, err := sc.GetSecret(ctxT(t), name, "", nil)
	if err != nil {
		t.Fatalf("get the secret of certificate %s: %v", name, err)
	}
	if s.Managed == nil || !*s.Managed || s.KID == nil || s.ContentType == nil {
		t.Fatalf("the secret of certificate %s: managed %v, kid %v, contentType %v", name, s.Managed, s.KID, s.ContentType)
	}
	if *s.ContentType == "application/x-pem-file" {
		var key crypto.Signer
		var chain []*x509.Certificate
		rest := []byte(*s.Value)
		for {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			switch b.Type {
			case "PRIVATE KEY":
				k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				key = k.(crypto.Signer)
				rememberSensitive(t, b.Bytes)
			case "CERTIFICATE":
				chain = append(chain, parseCER(t, b.Bytes))
			}
		}
		return key, chain, *s.ContentType
	}
	pfx, err := base64.StdEncoding.DecodeString(*s.Value)
	if err != nil {
		t.Fatalf("the secret is not base64 PKCS #12: %v", err)
	}
	k, leaf, cas, err := pkcs12.DecodeChain(pfx, "")
	if err != nil {
		t.Fatalf("the secret's PFX does not open without a password: %v", err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	rememberSensitive(t, der)
	return k.(crypto.Signer), append([]*x509.Certificate{leaf}, cas...), *s.ContentType
}

// TestKeyVault_Certificates (issue 13 item 4): the certificates API through the official
// azcertificates client, with its key and secret through azkeys and azsecrets.
func TestKeyVault_Certificates(t *testing.T) {
	admin := adminCredential(t)
	rg, name := vaultFixture(t, false)
	if err := assignRole(t, admin, vaultScope(rg, name), roleKVAdministrator, srv.AdminObjectID); err != nil {
		t.Fatal(err)
	}
	cc, kc, sc := certsClient(t, name, admin), keysClient(t, name, admin), secretsClient(t, name, admin)

	t.Run("self-signed RSA, PKCS #12", func(t *testing.T) {
		policy := azcertificates.CertificatePolicy{
			IssuerParameters: &azcertificates.IssuerParameters{Name: to.Ptr("Self")},
			KeyProperties:    &azcertificates.KeyProperties{KeyType: to.Ptr(azcertificates.KeyTypeRSA), KeySize: to.Ptr[int32](3072), Exportable: to.Ptr(true)},
			SecretProperties: &azcertificates.SecretProperties{ContentType: to.Ptr("application/x-pkcs12")},
			X509CertificateProperties: &azcertificates.X509CertificateProperties{
				Subject:                 to.Ptr("CN=app.contoso.test, O=Contoso"),
				SubjectAlternativeNames: &azcertificates.SubjectAlternativeNames{DNSNames: []*string{to.Ptr("app.contoso.test"), to.Ptr("api.contoso.test")}},
				ValidityInMonths:        to.Ptr[int32](3),
				EnhancedKeyUsage:        []*string{to.Ptr("1.3.6.1.5.5.7.3.1")},
				KeyUsage:                []*azcertificates.KeyUsageType{to.Ptr(azcertificates.KeyUsageTypeDigitalSignature), to.Ptr(azcertificates.KeyUsageTypeKeyEncipherment)},
			},
		}
		created, err := cc.CreateCertificate(ctxT(t), "web", azcertificates.CreateCertificateParameters{CertificatePolicy: &policy, Tags: map[string]*string{"env": to.Ptr("test")}}, nil)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if created.ID == nil || created.ID.Name() != "web" || len(created.CSR) == 0 || created.Status == nil {
			t.Fatalf("create answered %+v", created.CertificateOperation)
		}
		if op := waitCertOperation(t, cc, "web"); *op.Status != "completed" || op.Target == nil {
			t.Fatalf("operation %s, target %v", *op.Status, op.Target)
		}
		got, err := cc.GetCertificate(ctxT(t), "web", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		cert := parseCER(t, got.CER)
		if cert.Subject.CommonName != "app.contoso.test" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "Contoso" {
			t.Errorf("subject %v", cert.Subject)
		}
		if len(cert.DNSNames) != 2 || cert.DNSNames[0] != "app.contoso.test" || cert.DNSNames[1] != "api.contoso.test" {
			t.Errorf("SANs %v", cert.DNSNames)
		}
		if want := cert.NotBefore.AddDate(0, 3, 0); !cert.NotAfter.Equal(want) || time.Since(cert.NotBefore) > time.Hour {
			t.Errorf("valid %v to %v, want 3 months from now", cert.NotBefore, cert.NotAfter)
		}
		if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth || cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
			t.Errorf("EKUs %v, key usage %v", cert.ExtKeyUsage, cert.KeyUsage)
		}
		if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || pub.N.BitLen() != 3072 {
			t.Errorf("public key %T", cert.PublicKey)
		}
		if got.Attributes == nil || got.Attributes.Expires == nil || !got.Attributes.Expires.Equal(cert.NotAfter) || got.KID == nil || got.SID == nil ||
			got.ID.Version() != got.KID.Version() || got.Tags["env"] == nil || got.Policy == nil || *got.Policy.X509CertificateProperties.Subject != "CN=app.contoso.test, O=Contoso" {
			t.Errorf("certificate %+v", got.Certificate)
		}
		sum := x509Thumbprint(cert.Raw)
		if string(got.X509Thumbprint) != string(sum) {
			t.Errorf("x5t %x, want the SHA-1 of the DER %x", got.X509Thumbprint, sum)
		}

		// The secret holds the certificate with its private key.
		key, chain, ct := secretKeyAndChain(t, sc, "web")
		if ct != "application/x-pkcs12" || !chain[0].Equal(cert) || !key.Public().(*rsa.PublicKey).Equal(cert.PublicKey) {
			t.Fatalf("the secret (%s) does not hold the certificate and its key", ct)
		}
		// The key signs; the certificate's public key verifies.
		k, err := kc.GetKey(ctxT(t), "web", "", nil)
		if err != nil || k.Managed == nil || !*k.Managed || k.Key.KID.Version() != got.ID.Version() {
			t.Fatalf("get the key: %v %+v", err, k.Key)
		}
		digest := sha256.Sum256([]byte("signed by a certificate's key"))
		sig, err := kc.Sign(ctxT(t), "web", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmRS256), Value: digest[:]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig.Result); err != nil {
			t.Errorf("the key's signature does not verify with the certificate: %v", err)
		}
		// The managed key and secret refuse direct deletion.
		_, err = kc.DeleteKey(ctxT(t), "web", nil)
		wantKVError(t, err, http.StatusForbidden, "Forbidden", "KeyManagedByKeyVault")
		_, err = sc.DeleteSecret(ctxT(t), "web", nil)
		wantKVError(t, err, http.StatusForbidden, "Forbidden", "SecretManagedByKeyVault")
		_, err = sc.SetSecret(ctxT(t), "web", azsecrets.SetSecretParameters{Value: to.Ptr("overwrite")}, nil)
		wantKVError(t, err, http.StatusForbidden, "Forbidden", "SecretManagedByKeyVault")

		// A second version, then versions and the list.
		if _, err := cc.CreateCertificate(ctxT(t), "web", azcertificates.CreateCertificateParameters{}, nil); err != nil {
			t.Fatalf("a new version with the stored policy: %v", err)
		}
		waitCertOperation(t, cc, "web")
		versions := 0
		for p := cc.NewListCertificatePropertiesVersionsPager("web", nil); p.More(); {
			page, err := p.NextPage(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			versions += len(page.Value)
		}
		if versions != 2 {
			t.Errorf("%d versions, want 2", versions)
		}
		old, err := cc.GetCertificate(ctxT(t), "web", got.ID.Version(), nil)
		if err != nil || string(old.CER) != string(got.CER) {
			t.Errorf("the first version by its id: %v", err)
		}

		// Properties: disabling the certificate disables its secret.
		if _, err := cc.UpdateCertificate(ctxT(t), "web", "", azcertificates.UpdateCertificateParameters{
			CertificateAttributes: &azcertificates.CertificateAttributes{Enabled: to.Ptr(false)}, Tags: map[string]*string{"env": to.Ptr("prod")}}, nil); err != nil {
			t.Fatal(err)
		}
		if g, _ := cc.GetCertificate(ctxT(t), "web", "", nil); g.Attributes == nil || *g.Attributes.Enabled || *g.Tags["env"] != "prod" {
			t.Errorf("after the update: %+v", g.Attributes)
		}
		_, err = sc.GetSecret(ctxT(t), "web", "", nil)
		wantKVError(t, err, http.StatusForbidden, "Forbidden", "SecretDisabled")
		if _, err := cc.UpdateCertificate(ctxT(t), "web", "", azcertificates.UpdateCertificateParameters{CertificateAttributes: &azcertificates.CertificateAttributes{Enabled: to.Ptr(true)}}, nil); err != nil {
			t.Fatal(err)
		}

		// Policy: a lifetime action and the content type change; the rest stays.
		upd, err := cc.UpdateCertificatePolicy(ctxT(t), "web", azcertificates.CertificatePolicy{
			LifetimeActions: []*azcertificates.LifetimeAction{{Action: &azcertificates.LifetimeActionType{ActionType: to.Ptr(azcertificates.CertificatePolicyActionEmailContacts)},
				Trigger: &azcertificates.LifetimeActionTrigger{DaysBeforeExpiry: to.Ptr[int32](10)}}},
			SecretProperties: &azcertificates.SecretProperties{ContentType: to.Ptr("application/x-pem-file")}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		pol, err := cc.GetCertificatePolicy(ctxT(t), "web", nil)
		if err != nil || *pol.SecretProperties.ContentType != "application/x-pem-file" || *pol.LifetimeActions[0].Trigger.DaysBeforeExpiry != 10 ||
			*pol.X509CertificateProperties.Subject != "CN=app.contoso.test, O=Contoso" || *upd.KeyProperties.KeySize != 3072 {
			t.Errorf("policy after the update: %v %+v", err, pol.CertificatePolicy)
		}
	})

	t.Run("self-signed EC, PEM", func(t *testing.T) {
		_, err := cc.CreateCertificate(ctxT(t), "ec", azcertificates.CreateCertificateParameters{CertificatePolicy: &azcertificates.CertificatePolicy{
			IssuerParameters: &azcertificates.IssuerParameters{Name: to.Ptr("Self")},
			KeyProperties:    &azcertificates.KeyProperties{KeyType: to.Ptr(azcertificates.KeyTypeEC), Curve: to.Ptr(azcertificates.CurveNameP256)},
			SecretProperties: &azcertificates.SecretProperties{ContentType: to.Ptr("application/x-pem-file")},
			X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: to.Ptr("CN=ec.contoso.test"),
				SubjectAlternativeNames: &azcertificates.SubjectAlternativeNames{Emails: []*string{to.Ptr("ops@contoso.test")}}},
		}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitCertOperation(t, cc, "ec")
		got, err := cc.GetCertificate(ctxT(t), "ec", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		cert := parseCER(t, got.CER)
		if len(cert.EmailAddresses) != 1 || cert.NotAfter.Sub(cert.NotBefore) < 360*24*time.Hour {
			t.Errorf("emails %v, valid %v to %v (default 12 months)", cert.EmailAddresses, cert.NotBefore, cert.NotAfter)
		}
		key, chain, ct := secretKeyAndChain(t, sc, "ec")
		if ct != "application/x-pem-file" || key == nil || !chain[0].Equal(cert) || !key.Public().(*ecdsa.PublicKey).Equal(cert.PublicKey) {
			t.Fatalf("the PEM secret does not hold the certificate and its key")
		}
		digest := sha256.Sum256([]byte("signed by an EC certificate's key"))
		sig, err := kc.Sign(ctxT(t), "ec", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: digest[:]}, nil)
		if err != nil || len(sig.Result) != 64 {
			t.Fatalf("sign: %v", err)
		}
		pub := cert.PublicKey.(*ecdsa.PublicKey)
		if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig.Result[:32]), new(big.Int).SetBytes(sig.Result[32:])) {
			t.Error("the ES256 signature does not verify with the certificate")
		}
	})

	t.Run("import PFX and PEM", func(t *testing.T) {
		key, _ := rsa.GenerateKey(rand.Reader, 2048)
		keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
		rememberSensitive(t, keyDER)
		ca, caKey := localCA(t)
		leaf := issueLocal(t, &key.PublicKey, pkix.Name{CommonName: "imported.contoso.test"}, ca, caKey)
		pfx, err := pkcs12.LegacyDES.Encode(key, leaf, []*x509.Certificate{ca}, "pfx-password")
		if err != nil {
			t.Fatal(err)
		}
		imp, err := cc.ImportCertificate(ctxT(t), "pfx", azcertificates.ImportCertificateParameters{
			Base64EncodedCertificate: to.Ptr(base64.StdEncoding.EncodeToString(pfx)), Password: to.Ptr("pfx-password")}, nil)
		if err != nil {
			t.Fatalf("import a PFX: %v", err)
		}
		if !parseCER(t, imp.CER).Equal(leaf) || imp.Policy == nil || *imp.Policy.IssuerParameters.Name != "Unknown" || *imp.Policy.X509CertificateProperties.Subject != "CN=imported.contoso.test" {
			t.Errorf("imported %+v", imp.Certificate)
		}
		k, chain, _ := secretKeyAndChain(t, sc, "pfx")
		if len(chain) != 2 || !chain[1].Equal(ca) || !k.Public().(*rsa.PublicKey).Equal(&key.PublicKey) {
			t.Errorf("the imported PFX's secret: %d certificates", len(chain))
		}
		_, err = cc.ImportCertificate(ctxT(t), "pfx2", azcertificates.ImportCertificateParameters{
			Base64EncodedCertificate: to.Ptr(base64.StdEncoding.EncodeToString(pfx)), Password: to.Ptr("wrong")}, nil)
		wantKVError(t, err, http.StatusBadRequest, "BadParameter", "")

		pemText := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})) + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
		imp, err = cc.ImportCertificate(ctxT(t), "pem", azcertificates.ImportCertificateParameters{Base64EncodedCertificate: to.Ptr(pemText),
			CertificatePolicy: &azcertificates.CertificatePolicy{SecretProperties: &azcertificates.SecretProperties{ContentType: to.Ptr("application/x-pem-file")}}}, nil)
		if err != nil {
			t.Fatalf("import PEM: %v", err)
		}
		if *imp.ContentType != "application/x-pem-file" || !parseCER(t, imp.CER).Equal(leaf) {
			t.Errorf("PEM import %+v", imp.Certificate)
		}
		_, err = cc.ImportCertificate(ctxT(t), "pem2", azcertificates.ImportCertificateParameters{Base64EncodedCertificate: to.Ptr(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})))}, nil)
		wantKVError(t, err, http.StatusBadRequest, "BadParameter", "")
		if _, err := cc.GetCertificate(ctxT(t), "pem2", "", nil); err == nil {
			t.Error("a refused import left a certificate")
		}

		listed := map[string]bool{}
		for p := cc.NewListCertificatePropertiesPager(nil); p.More(); {
			page, err := p.NextPage(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.Value {
				listed[c.ID.Name()] = len(c.X509Thumbprint) == 20
			}
		}
		for _, n := range []string{"web", "ec", "pfx", "pem"} {
			if !listed[n] {
				t.Errorf("certificate %s is not listed (or has no x5t): %v", n, listed)
			}
		}
	})

	t.Run("merge for issuer Unknown", func(t *testing.T) {
		_, err := cc.CreateCertificate(ctxT(t), "ext", azcertificates.CreateCertificateParameters{CertificatePolicy: &azcertificates.CertificatePolicy{
			IssuerParameters:          &azcertificates.IssuerParameters{Name: to.Ptr("Unknown")},
			X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: to.Ptr("CN=ext.contoso.test")},
		}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		op, err := cc.GetCertificateOperation(ctxT(t), "ext", nil)
		if err != nil || *op.Status != "inProgress" {
			t.Fatalf("operation: %v %v", err, op.Status)
		}
		csr, err := x509.ParseCertificateRequest(op.CSR)
		if err != nil || csr.CheckSignature() != nil || csr.Subject.CommonName != "ext.contoso.test" {
			t.Fatalf("the csr: %v", err)
		}
		ca, caKey := localCA(t)
		signed := issueLocal(t, csr.PublicKey, csr.Subject, ca, caKey)
		merged, err := cc.MergeCertificate(ctxT(t), "ext", azcertificates.MergeCertificateParameters{X509Certificates: [][]byte{signed.Raw, ca.Raw}}, nil)
		if err != nil {
			t.Fatalf("merge: %v", err)
		}
		if !parseCER(t, merged.CER).Equal(signed) || merged.Policy == nil {
			t.Errorf("merged %+v", merged.Certificate)
		}
		if op := waitCertOperation(t, cc, "ext"); *op.Status != "completed" {
			t.Errorf("operation after the merge: %s", *op.Status)
		}
		key, chain, _ := secretKeyAndChain(t, sc, "ext")
		if len(chain) != 2 || !chain[0].Equal(signed) || !key.Public().(*rsa.PublicKey).Equal(csr.PublicKey) {
			t.Error("the merged certificate's secret does not hold it with the request's key")
		}
		// Cancel and delete another request.
		if _, err := cc.CreateCertificate(ctxT(t), "ext2", azcertificates.CreateCertificateParameters{CertificatePolicy: &azcertificates.CertificatePolicy{
			IssuerParameters:          &azcertificates.IssuerParameters{Name: to.Ptr("Unknown")},
			X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: to.Ptr("CN=ext2")}}}, nil); err != nil {
			t.Fatal(err)
		}
		if c, err := cc.UpdateCertificateOperation(ctxT(t), "ext2", azcertificates.UpdateCertificateOperationParameter{CancellationRequested: to.Ptr(true)}, nil); err != nil || !*c.CancellationRequested {
			t.Fatalf("cancel: %v", err)
		}
		if _, err := cc.DeleteCertificateOperation(ctxT(t), "ext2", nil); err != nil {
			t.Fatal(err)
		}
		// A CA issuer is kept but cannot issue here.
		if _, err := cc.SetIssuer(ctxT(t), "digicert", azcertificates.SetIssuerParameters{Provider: to.Ptr("DigiCert"),
			Credentials: &azcertificates.IssuerCredentials{AccountID: to.Ptr("acct"), Password: to.Ptr("issuer-password-1")}}, nil); err != nil {
			t.Fatal(err)
		}
		rememberSensitive(t, []byte("issuer-password-1"))
		_, err = cc.CreateCertificate(ctxT(t), "byca", azcertificates.CreateCertificateParameters{CertificatePolicy: &azcertificates.CertificatePolicy{
			IssuerParameters:          &azcertificates.IssuerParameters{Name: to.Ptr("digicert")},
			X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: to.Ptr("CN=byca")}}}, nil)
		wantKVError(t, err, http.StatusBadRequest, "BadParameter", "")
		if _, err := cc.SetContacts(ctxT(t), azcertificates.Contacts{ContactList: []*azcertificates.Contact{{Email: to.Ptr("ops@contoso.test")}}}, nil); err != nil {
			t.Fatal(err)
		}
		if c, err := cc.GetContacts(ctxT(t), nil); err != nil || len(c.ContactList) != 1 {
			t.Errorf("contacts: %v", err)
		}
	})

	t.Run("delete, recover, purge, backup, restore", func(t *testing.T) {
		orig, err := cc.GetCertificate(ctxT(t), "pfx", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		backup, err := cc.BackupCertificate(ctxT(t), "pfx", nil)
		if err != nil {
			t.Fatal(err)
		}
		del, err := cc.DeleteCertificate(ctxT(t), "pfx", nil)
		if err != nil || del.RecoveryID == nil || del.ScheduledPurgeDate == nil || del.DeletedDate == nil || string(del.CER) != string(orig.CER) {
			t.Fatalf("delete: %v %+v", err, del.DeletedCertificate)
		}
		if _, err := cc.GetDeletedCertificate(ctxT(t), "pfx", nil); err != nil {
			t.Fatal(err)
		}
		_, err = kc.GetKey(ctxT(t), "pfx", "", nil)
		wantKVError(t, err, http.StatusNotFound, "KeyNotFound", "")
		_, err = sc.GetSecret(ctxT(t), "pfx", "", nil)
		wantKVError(t, err, http.StatusNotFound, "SecretNotFound", "")
		if _, err := cc.RecoverDeletedCertificate(ctxT(t), "pfx", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := kc.GetKey(ctxT(t), "pfx", "", nil); err != nil {
			t.Errorf("the recovered certificate's key: %v", err)
		}
		secretKeyAndChain(t, sc, "pfx")

		if _, err := cc.DeleteCertificate(ctxT(t), "pfx", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := cc.PurgeDeletedCertificate(ctxT(t), "pfx", nil); err != nil {
			t.Fatal(err)
		}
		_, err = cc.GetDeletedCertificate(ctxT(t), "pfx", nil)
		wantKVError(t, err, http.StatusNotFound, "CertificateNotFound", "")
		_, err = kc.GetDeletedKey(ctxT(t), "pfx", nil)
		wantKVError(t, err, http.StatusNotFound, "KeyNotFound", "")

		restored, err := cc.RestoreCertificate(ctxT(t), azcertificates.RestoreCertificateParameters{CertificateBackup: backup.Value}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *restored.ID != *orig.ID || string(restored.CER) != string(orig.CER) {
			t.Errorf("restored %s, want %s", *restored.ID, *orig.ID)
		}
		if _, chain, _ := secretKeyAndChain(t, sc, "pfx"); !chain[0].Equal(parseCER(t, orig.CER)) {
			t.Error("the restored secret holds another certificate")
		}
	})

	t.Run("roles", func(t *testing.T) {
		create := func(cc *azcertificates.Client, n string) error {
			_, err := cc.CreateCertificate(ctxT(t), n, azcertificates.CreateCertificateParameters{CertificatePolicy: &azcertificates.CertificatePolicy{
				IssuerParameters:          &azcertificates.IssuerParameters{Name: to.Ptr("Self")},
				X509CertificateProperties: &azcertificates.X509CertificateProperties{Subject: to.Ptr("CN=" + n)}}}, nil)
			return err
		}
		none := newServicePrincipal(t, "kv-cert-none")
		noneCred := spCredential(t, none.AppID, none.Password)
		_, err := certsClient(t, name, noneCred).GetCertificate(ctxT(t), "web", "", nil)
		wantKVError(t, err, http.StatusForbidden, "Forbidden", "ForbiddenByRbac")

		user := newServicePrincipal(t, "kv-cert-user")
		userCred := spCredential(t, user.AppID, user.Password)
		if err := assignRole(t, admin, vaultScope(rg, name), roleKVCertUser, user.ObjectID); err != nil {
			t.Fatal(err)
		}
		if _, err := certsClient(t, name, userCred).GetCertificate(ctxT(t), "web", "", nil); err != nil {
			t.Errorf("Certificate User gets a certificate: %v", err)
		}
		secretKeyAndChain(t, secretsClient(t, name, userCred), "web")
		wantKVError(t, create(certsClient(t, name, userCred), "by-user"), http.StatusForbidden, "Forbidden", "ForbiddenByRbac")

		officer := newServicePrincipal(t, "kv-cert-officer")
		officerCred := spCredential(t, officer.AppID, officer.Password)
		if err := assignRole(t, admin, vaultScope(rg, name), roleKVCertsOfficer, officer.ObjectID); err != nil {
			t.Fatal(err)
		}
		oc := certsClient(t, name, officerCred)
		if err := create(oc, "by-officer"); err != nil {
			t.Fatalf("Certificates Officer creates: %v", err)
		}
		if _, err := oc.DeleteCertificate(ctxT(t), "by-officer", nil); err != nil {
			t.Errorf("Certificates Officer deletes: %v", err)
		}
		_, err = secretsClient(t, name, officerCred).GetSecret(ctxT(t), "web", "", nil)
		wantKVError(t, err, http.StatusForbidden, "Forbidden", "ForbiddenByRbac")
	})
}

func x509Thumbprint(der []byte) []byte {
	sum := sha1.Sum(der)
	return sum[:]
}

func localCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Local Test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().AddDate(5, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return parseCER(t, der), key
}

func issueLocal(t *testing.T, pub crypto.PublicKey, subject pkix.Name, ca *x509.Certificate, caKey *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: subject, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return parseCER(t, der)
}
