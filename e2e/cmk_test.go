package e2e

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/directory"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/service"
	"github.com/google/uuid"
)

const roleKVCryptoSEUName = "Key Vault Crypto Service Encryption User"

func cmkEncryption(vault, key, version, uami string) *armstorage.Encryption {
	e := &armstorage.Encryption{KeySource: to.Ptr(armstorage.KeySourceMicrosoftKeyvault),
		KeyVaultProperties: &armstorage.KeyVaultProperties{KeyName: to.Ptr(key), KeyVaultURI: to.Ptr("https://" + vault + ".vault.azure.net"), KeyVersion: to.Ptr(version)}}
	if uami != "" {
		e.EncryptionIdentity = &armstorage.EncryptionIdentity{EncryptionUserAssignedIdentity: to.Ptr(uami)}
	}
	return e
}

func sharedKeyService(t *testing.T, rg, name string) *service.Client {
	t.Helper()
	a, err := accountsClient(t, adminCredential(t)).GetProperties(ctxT(t), rg, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := accountsClient(t, adminCredential(t)).ListKeys(ctxT(t), rg, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := service.NewSharedKeyCredential(name, *keys.Keys[0].Value)
	c, err := service.NewClientWithSharedKeyCredential(*a.Properties.PrimaryEndpoints.File, cred, &service.ClientOptions{
		ClientOptions: azcore.ClientOptions{Transport: httpClient(t), Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createCMKAccount creates a new account in rg encrypted with key "cmk" of vault (its
// newest version, followed automatically) through the user-assigned identity uamiID, and
// returns its name.
func createCMKAccount(t *testing.T, rg, vault, uamiID string) string {
	t.Helper()
	name := newAccountName()
	p, err := accountsClient(t, adminCredential(t)).BeginCreate(ctxT(t), rg, name, armstorage.AccountCreateParameters{
		Kind: to.Ptr(armstorage.KindStorageV2), Location: to.Ptr("westus"), SKU: &armstorage.SKU{Name: to.Ptr(armstorage.SKUNameStandardLRS)},
		Identity: &armstorage.Identity{Type: to.Ptr(armstorage.IdentityTypeUserAssigned),
			UserAssignedIdentities: map[string]*armstorage.UserAssignedIdentity{uamiID: {}}},
		Properties: &armstorage.AccountPropertiesCreateParameters{Encryption: cmkEncryption(vault, "cmk", "", uamiID)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.PollUntilDone(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	return name
}

// cmkSetup makes seed 002's prerequisites in a new resource group: a vault with purge
// protection on which the administrator is Key Vault Crypto Officer (kc is its keys client
// as the administrator), and a user-assigned identity with no role yet.
func cmkSetup(t *testing.T, rgPrefix string) (rg, vault string, kc *azkeys.Client, mc *armmsi.UserAssignedIdentitiesClient, uami armmsi.UserAssignedIdentitiesClientCreateOrUpdateResponse) {
	t.Helper()
	admin := adminCredential(t)
	rg = rgPrefix + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	vault = newVaultName()
	createVault(t, rg, vault, true)
	if err := assignRole(t, admin, vaultScope(rg, vault), roleKVCryptoOfficer, srv.AdminObjectID); err != nil {
		t.Fatal(err)
	}
	mc, _ = armmsi.NewUserAssignedIdentitiesClient(srv.SubscriptionID, admin, armOptions(t))
	uami, err := mc.CreateOrUpdate(ctxT(t), rg, "cmk-id", armmsi.Identity{Location: to.Ptr("westus")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rg, vault, keysClient(t, vault, admin), mc, uami
}

// TestStorage_CMKSeed002 is seed 002 start to finish: a vault with purge protection, a key,
// a user-assigned identity granted Key Vault Crypto Service Encryption User, CMK on a new
// account (user-assigned only) and on an existing one (system-assigned), automatic and
// manual key versions, a change of key, revocation by disabling the key (every data
// operation fails with 403), re-enabling with nothing lost, and back to Microsoft keys.
func TestStorage_CMKSeed002(t *testing.T) {
	admin := adminCredential(t)
	rg, vault, kc, _, uami := cmkSetup(t, "cmk-")
	k1, err := kc.CreateKey(ctxT(t), "cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](3072)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ac := accountsClient(t, admin)
	create := func(name string, params armstorage.AccountCreateParameters) (armstorage.Account, error) {
		params.Kind, params.Location, params.SKU = to.Ptr(armstorage.KindStorageV2), to.Ptr("westus"), &armstorage.SKU{Name: to.Ptr(armstorage.SKUNameStandardLRS)}
		poller, err := ac.BeginCreate(ctxT(t), rg, name, params, nil)
		if err != nil {
			return armstorage.Account{}, err
		}
		res, err := poller.PollUntilDone(ctxT(t), nil)
		return res.Account, err
	}
	uamiIdentity := &armstorage.Identity{Type: to.Ptr(armstorage.IdentityTypeUserAssigned),
		UserAssignedIdentities: map[string]*armstorage.UserAssignedIdentity{*uami.ID: {}}}

	// The identity has no role on the key yet: the new account is refused, nothing created.
	name := newAccountName()
	_, err = create(name, armstorage.AccountCreateParameters{Identity: uamiIdentity,
		Properties: &armstorage.AccountPropertiesCreateParameters{Encryption: cmkEncryption(vault, "cmk", "", *uami.ID)}})
	wantARMError(t, err, http.StatusBadRequest, "KeyVaultAuthenticationFailure")
	if _, err := ac.GetProperties(ctxT(t), rg, name, nil); err == nil {
		t.Fatal("a refused create left the account behind")
	}
	if err := assignRole(t, admin, vaultScope(rg, vault), roleKVCryptoSEU, *uami.Properties.PrincipalID); err != nil {
		t.Fatal(err)
	}
	acct, err := create(name, armstorage.AccountCreateParameters{Identity: uamiIdentity,
		Properties: &armstorage.AccountPropertiesCreateParameters{Encryption: cmkEncryption(vault, "cmk", "", *uami.ID)}})
	if err != nil {
		t.Fatalf("new account with CMK through its user-assigned identity: %v", err)
	}
	enc := acct.Properties.Encryption
	if *enc.KeySource != armstorage.KeySourceMicrosoftKeyvault || *enc.KeyVaultProperties.CurrentVersionedKeyIdentifier != string(*k1.Key.KID) ||
		enc.KeyVaultProperties.LastKeyRotationTimestamp == nil || !strings.EqualFold(*enc.EncryptionIdentity.EncryptionUserAssignedIdentity, *uami.ID) {
		t.Fatalf("encryption = %+v / %+v", enc, enc.KeyVaultProperties)
	}

	t.Run("new account with the system identity refused", func(t *testing.T) {
		_, err := create(newAccountName(), armstorage.AccountCreateParameters{Identity: &armstorage.Identity{Type: to.Ptr(armstorage.IdentityTypeSystemAssigned)},
			Properties: &armstorage.AccountPropertiesCreateParameters{Encryption: cmkEncryption(vault, "cmk", "", "")}})
		wantARMError(t, err, http.StatusBadRequest, "InvalidRequestPropertyValue")
	})
	t.Run("existing account through its system identity", func(t *testing.T) {
		other := newAccountName()
		a, err := create(other, armstorage.AccountCreateParameters{Identity: &armstorage.Identity{Type: to.Ptr(armstorage.IdentityTypeSystemAssigned)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := assignRole(t, admin, vaultScope(rg, vault), roleKVCryptoSEU, *a.Identity.PrincipalID); err != nil {
			t.Fatal(err)
		}
		upd, err := ac.Update(ctxT(t), rg, other, armstorage.AccountUpdateParameters{Properties: &armstorage.AccountPropertiesUpdateParameters{
			Encryption: cmkEncryption(vault, "cmk", "", "")}}, nil)
		if err != nil || *upd.Properties.Encryption.KeySource != armstorage.KeySourceMicrosoftKeyvault {
			t.Fatalf("CMK on an existing account with its system identity: %v", err)
		}
	})
	t.Run("vault without purge protection refused", func(t *testing.T) {
		plain := newVaultName()
		createVault(t, rg, plain, false)
		if err := assignRole(t, admin, vaultScope(rg, plain), roleKVCryptoOfficer, srv.AdminObjectID); err != nil {
			t.Fatal(err)
		}
		if _, err := keysClient(t, plain, admin).CreateKey(ctxT(t), "k", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil); err != nil {
			t.Fatal(err)
		}
		_, err := ac.Update(ctxT(t), rg, name, armstorage.AccountUpdateParameters{Properties: &armstorage.AccountPropertiesUpdateParameters{
			Encryption: cmkEncryption(plain, "k", "", *uami.ID)}}, nil)
		wantARMError(t, err, http.StatusBadRequest, "KeyVaultPolicyError")
	})

	// Write files under the customer key.
	svc := sharedKeyService(t, rg, name)
	sc := svc.NewShareClient("finance")
	if _, err := sc.Create(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	dir := sc.NewDirectoryClient("q1")
	if _, err := dir.Create(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("cmk-protected-content-"), 100000)
	rememberSensitive(t, content[:44])
	fc := dir.NewFileClient("ledger.csv")
	if _, err := fc.Create(ctxT(t), int64(len(content)), nil); err != nil {
		t.Fatal(err)
	}
	if err := fc.UploadBuffer(ctxT(t), content, nil); err != nil {
		t.Fatal(err)
	}
	readBack := func() {
		t.Helper()
		got := make([]byte, len(content))
		if _, err := fc.DownloadBuffer(ctxT(t), got, nil); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("reading the file back: %v", err)
		}
	}
	current := func() string {
		t.Helper()
		a, err := ac.GetProperties(ctxT(t), rg, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		return *a.Properties.Encryption.KeyVaultProperties.CurrentVersionedKeyIdentifier
	}

	// Automatic version updating: a new key version is picked up after the poll.
	k2, err := kc.RotateKey(ctxT(t), "cmk", nil)
	if err != nil {
		t.Fatal(err)
	}
	if current() != string(*k1.Key.KID) {
		t.Fatal("the account moved to the new version before any poll")
	}
	cerulean(t, "storage", "poll-keys")
	deadline := time.Now().Add(20 * time.Second)
	for current() != string(*k2.Key.KID) {
		if time.Now().After(deadline) {
			t.Fatalf("after poll-keys the account still uses %s, want %s", current(), *k2.Key.KID)
		}
		time.Sleep(200 * time.Millisecond)
	}
	readBack()

	// Manual version: only an explicit update changes it.
	if _, err := ac.Update(ctxT(t), rg, name, armstorage.AccountUpdateParameters{Properties: &armstorage.AccountPropertiesUpdateParameters{
		Encryption: cmkEncryption(vault, "cmk", k2.Key.KID.Version(), *uami.ID)}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.RotateKey(ctxT(t), "cmk", nil); err != nil {
		t.Fatal(err)
	}
	cerulean(t, "storage", "poll-keys")
	time.Sleep(time.Second)
	if current() != string(*k2.Key.KID) {
		t.Fatalf("a pinned key version moved to %s", current())
	}

	// Change the key.
	other, err := kc.CreateKey(ctxT(t), "cmk2", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Update(ctxT(t), rg, name, armstorage.AccountUpdateParameters{Properties: &armstorage.AccountPropertiesUpdateParameters{
		Encryption: cmkEncryption(vault, "cmk2", "", *uami.ID)}}, nil); err != nil {
		t.Fatal(err)
	}
	if current() != string(*other.Key.KID) {
		t.Fatalf("after changing the key the account uses %s, want %s", current(), *other.Key.KID)
	}
	readBack()

	// Revoke: disable the key. At once (the cache lifetime is long) every listed operation fails.
	setEnabled := func(on bool) {
		t.Helper()
		if _, err := kc.UpdateKey(ctxT(t), "cmk2", other.Key.KID.Version(), azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(on)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	setEnabled(false)
	const revoked = "KeyVaultEncryptionKeyNotFound"
	ops := map[string]func() error{
		"list directories and files": func() error {
			_, err := sc.NewRootDirectoryClient().NewListFilesAndDirectoriesPager(nil).NextPage(ctxT(t))
			return err
		},
		"create directory": func() error { _, err := sc.NewDirectoryClient("q2").Create(ctxT(t), nil); return err },
		"get directory":    func() error { _, err := dir.GetProperties(ctxT(t), nil); return err },
		"set directory metadata": func() error {
			_, err := dir.SetMetadata(ctxT(t), &directory.SetMetadataOptions{Metadata: map[string]*string{"a": to.Ptr("b")}})
			return err
		},
		"create file":       func() error { _, err := dir.NewFileClient("new.txt").Create(ctxT(t), 10, nil); return err },
		"get file":          func() error { _, err := fc.DownloadStream(ctxT(t), nil); return err },
		"get file metadata": func() error { _, err := fc.GetProperties(ctxT(t), nil); return err },
		"set file metadata": func() error {
			_, err := fc.SetMetadata(ctxT(t), &file.SetMetadataOptions{Metadata: map[string]*string{"a": to.Ptr("b")}})
			return err
		},
		"put range": func() error { _, err := fc.UploadRange(ctxT(t), 0, streamOf([]byte("x")), nil); return err },
		"copy": func() error {
			_, err := dir.NewFileClient("copy.csv").StartCopyFromURL(ctxT(t), fc.URL(), nil)
			return err
		},
		"rename": func() error { _, err := fc.Rename(ctxT(t), "q1/renamed.csv", nil); return err },
	}
	for what, op := range ops {
		err := op()
		var re *azcore.ResponseError
		if !errorAs(err, &re) || re.StatusCode != http.StatusForbidden || re.ErrorCode != revoked {
			t.Errorf("with the key disabled, %s: %v; want 403 %s", what, err, revoked)
		}
	}
	if _, err := svc.NewListSharesPager(nil).NextPage(ctxT(t)); err != nil {
		t.Errorf("listing shares touches no data and should still work: %v", err)
	}
	setEnabled(true)
	readBack()

	// Back to Microsoft-managed keys: readable, and no longer tied to the customer key.
	if _, err := ac.Update(ctxT(t), rg, name, armstorage.AccountUpdateParameters{Properties: &armstorage.AccountPropertiesUpdateParameters{
		Encryption: &armstorage.Encryption{KeySource: to.Ptr(armstorage.KeySourceMicrosoftStorage)}}}, nil); err != nil {
		t.Fatal(err)
	}
	setEnabled(false)
	readBack()
}
