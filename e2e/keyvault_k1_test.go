package e2e

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// TestKeyVault_P256K (issue 13 item 4): secp256k1 keys, as azkeys' own suite uses them:
// created and imported as P-256K, signed with ES256K (verified locally and by the service),
// rotated on the same curve, backed up and restored; a curve signs only with its own
// algorithm.
func TestKeyVault_P256K(t *testing.T) {
	admin := adminCredential(t)
	rg, name := vaultFixture(t, false)
	if err := assignRole(t, admin, vaultScope(rg, name), roleKVCryptoOfficer, srv.AdminObjectID); err != nil {
		t.Fatal(err)
	}
	kc := keysClient(t, name, admin)
	created, err := kc.CreateKey(ctxT(t), "k1", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP256K)}, nil)
	if err != nil || created.Key.Crv == nil || *created.Key.Crv != azkeys.CurveNameP256K || len(created.Key.X) != 32 || len(created.Key.Y) != 32 {
		t.Fatalf("create a P-256K key: %v %+v", err, created.Key)
	}
	pub := &ecdsa.PublicKey{Curve: secp256k1.S256(), X: new(big.Int).SetBytes(created.Key.X), Y: new(big.Int).SetBytes(created.Key.Y)}
	digest := sha256.Sum256([]byte("signed with secp256k1"))
	sig, err := kc.Sign(ctxT(t), "k1", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256K), Value: digest[:]}, nil)
	if err != nil || len(sig.Result) != 64 {
		t.Fatalf("sign ES256K: %v (%d bytes)", err, len(sig.Result))
	}
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig.Result[:32]), new(big.Int).SetBytes(sig.Result[32:])) {
		t.Error("the ES256K signature does not verify locally")
	}
	v, err := kc.Verify(ctxT(t), "k1", "", azkeys.VerifyParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256K), Digest: digest[:], Signature: sig.Result}, nil)
	if err != nil || v.Value == nil || !*v.Value {
		t.Errorf("verify ES256K: %v %v", err, v.Value)
	}
	_, err = kc.Sign(ctxT(t), "k1", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256), Value: digest[:]}, nil)
	wantKVError(t, err, http.StatusBadRequest, "BadParameter", "")

	// Import: the service signs with the local private key's public half.
	local, err := ecdsa.GenerateKey(secp256k1.S256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rememberSensitive(t, local.D.Bytes())
	imp, err := kc.ImportKey(ctxT(t), "k1imp", azkeys.ImportKeyParameters{Key: &azkeys.JSONWebKey{Kty: to.Ptr(azkeys.KeyTypeEC), Crv: to.Ptr(azkeys.CurveNameP256K),
		X: local.X.FillBytes(make([]byte, 32)), Y: local.Y.FillBytes(make([]byte, 32)), D: local.D.FillBytes(make([]byte, 32))}}, nil)
	if err != nil || imp.Key.D != nil {
		t.Fatalf("import a P-256K key: %v", err)
	}
	sig, err = kc.Sign(ctxT(t), "k1imp", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256K), Value: digest[:]}, nil)
	if err != nil || !ecdsa.Verify(&local.PublicKey, digest[:], new(big.Int).SetBytes(sig.Result[:32]), new(big.Int).SetBytes(sig.Result[32:])) {
		t.Errorf("an imported P-256K key's signature: %v", err)
	}

	// Rotation keeps the curve; backup and restore carry the key.
	rot, err := kc.RotateKey(ctxT(t), "k1", nil)
	if err != nil || rot.Key.Crv == nil || *rot.Key.Crv != azkeys.CurveNameP256K || string(rot.Key.X) == string(created.Key.X) {
		t.Errorf("rotate a P-256K key: %v %+v", err, rot.Key)
	}
	backup, err := kc.BackupKey(ctxT(t), "k1imp", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.DeleteKey(ctxT(t), "k1imp", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.PurgeDeletedKey(ctxT(t), "k1imp", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.RestoreKey(ctxT(t), azkeys.RestoreKeyParameters{KeyBackup: backup.Value}, nil); err != nil {
		t.Fatalf("restore a P-256K key: %v", err)
	}
	sig, err = kc.Sign(ctxT(t), "k1imp", "", azkeys.SignParameters{Algorithm: to.Ptr(azkeys.SignatureAlgorithmES256K), Value: digest[:]}, nil)
	if err != nil || !ecdsa.Verify(&local.PublicKey, digest[:], new(big.Int).SetBytes(sig.Result[:32]), new(big.Int).SetBytes(sig.Result[32:])) {
		t.Errorf("the restored P-256K key's signature: %v", err)
	}
}
