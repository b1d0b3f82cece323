package keyvault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"hash"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// cryptoOps maps the data-plane operation in the path to its RBAC data action, its
// access-policy permission and the key_ops entry it needs.
var cryptoOps = map[string]struct{ action, perm, keyOp string }{
	"encrypt":   {"Microsoft.KeyVault/vaults/keys/encrypt/action", "encrypt", "encrypt"},
	"decrypt":   {"Microsoft.KeyVault/vaults/keys/decrypt/action", "decrypt", "decrypt"},
	"wrapkey":   {"Microsoft.KeyVault/vaults/keys/wrap/action", "wrapKey", "wrapKey"},
	"unwrapkey": {"Microsoft.KeyVault/vaults/keys/unwrap/action", "unwrapKey", "unwrapKey"},
	"sign":      {"Microsoft.KeyVault/vaults/keys/sign/action", "sign", "sign"},
	"verify":    {"Microsoft.KeyVault/vaults/keys/verify/action", "verify", "verify"},
}

// operationRequest is the body of encrypt/decrypt/wrapkey/unwrapkey/sign (value) and
// verify (digest + value).
type operationRequest struct {
	Alg    string `json:"alg"`
	Value  string `json:"value"`
	Digest string `json:"digest"`
	IV     string `json:"iv"`
	AAD    string `json:"aad"`
	Tag    string `json:"tag"`
}

func (c *call) cryptoOp(name, version, op string) (int, any, error) {
	if op == "release" {
		return 0, nil, notSupported("Key release (secure key release)")
	}
	spec, ok := cryptoOps[op]
	if !ok {
		return 0, nil, azerr.NotFound("NotFound", "'%s' is not a key operation: use encrypt, decrypt, wrapkey, unwrapkey, sign or verify.", op)
	}
	var in operationRequest
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	if in.Alg == "" {
		return 0, nil, badParameter("The request has no 'alg': name the algorithm (for example RSA-OAEP-256 or RS256).")
	}
	kv, err := c.svc.versions.Get(c.ctx, c.svc.st, c.vault.UID+"/"+strings.ToLower(name)+"/"+version, func(tx store.Tx) (keyVersion, error) {
		_, kv, err := c.loadVersion(tx, name, version)
		return kv, err
	})
	if err != nil {
		return 0, nil, err
	}
	if err := c.usable(kv, spec.perm, spec.keyOp); err != nil {
		return 0, nil, err
	}
	key, err := c.privateKey(kv)
	if err != nil {
		return 0, nil, err
	}
	kid := c.kid(kv.Name, kv.Version)
	switch op {
	case "encrypt", "wrapkey":
		out, err := rsaEncrypt(key, in.Alg, in.Value)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"kid": kid, "value": b64enc(out)}, nil
	case "decrypt", "unwrapkey":
		out, err := rsaDecrypt(key, in.Alg, in.Value)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"kid": kid, "value": b64enc(out)}, nil
	case "sign":
		out, err := sign(key, in.Alg, in.Value)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"kid": kid, "value": b64enc(out)}, nil
	default: // verify
		ok, err := verify(key.Public(), in.Alg, in.Digest, in.Value)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"value": ok}, nil
	}
}

// usable refuses operations on a disabled, not-yet-valid or expired version, or one whose
// key_ops do not include the operation.
func (c *call) usable(kv keyVersion, op, keyOp string) error {
	a := kv.Attributes
	if !a.Enabled {
		return disabledErr(op, "Key")
	}
	// Like Key Vault, validity dates block only the operations that make new ciphertext or
	// signatures; decrypt, unwrapKey and verify keep working on an expired key so data
	// protected by it can still be read.
	now := c.svc.now().UTC()
	timed := keyOp == "encrypt" || keyOp == "wrapKey" || keyOp == "sign"
	if timed && a.NotBefore != nil && now.Before(time.Unix(*a.NotBefore, 0)) {
		return azerr.Forbidden("Forbidden", "Operation %s is not allowed on a key that is not yet valid (nbf %s).", op, time.Unix(*a.NotBefore, 0).UTC().Format(time.RFC3339)).WithInner("KeyNotYetValid")
	}
	if timed && a.Expires != nil && !now.Before(time.Unix(*a.Expires, 0)) {
		return azerr.Forbidden("Forbidden", "Operation %s is not allowed on an expired key (exp %s).", op, time.Unix(*a.Expires, 0).UTC().Format(time.RFC3339)).WithInner("KeyExpired")
	}
	for _, k := range kv.KeyOps {
		if k == keyOp {
			return nil
		}
	}
	return azerr.Forbidden("Forbidden", "Operation %s is not permitted on this key: its key_ops are %s.", op, strings.Join(kv.KeyOps, ", ")).WithInner("KeyOperationForbidden")
}

func oaepHash(alg string) (func() hash.Hash, bool) {
	switch alg {
	case "RSA-OAEP":
		return sha1.New, true
	case "RSA-OAEP-256":
		return sha256.New, true
	}
	return nil, false
}

func unsupportedAlg(alg string, kind string) error {
	return badParameter("Invalid algorithm '%s' for %s: use RSA-OAEP, RSA-OAEP-256 or RSA1_5 with RSA keys.", alg, kind)
}

func rsaEncrypt(key crypto.Signer, alg, value string) ([]byte, error) {
	priv, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, badParameter("Encryption needs an RSA key; this key is %T-based (EC keys only sign and verify).", key.Public())
	}
	msg, err := b64(value)
	if err != nil {
		return nil, badParameter("The 'value' is not base64url.")
	}
	k := priv.Size()
	if h, ok := oaepHash(alg); ok {
		if max := k - 2*h().Size() - 2; len(msg) > max {
			return nil, badParameter("The plaintext is %d bytes; %s with a %d-bit key encrypts at most %d.", len(msg), alg, k*8, max)
		}
		return rsa.EncryptOAEP(h(), rand.Reader, &priv.PublicKey, msg, nil)
	}
	if alg == "RSA1_5" {
		if max := k - 11; len(msg) > max {
			return nil, badParameter("The plaintext is %d bytes; RSA1_5 with a %d-bit key encrypts at most %d.", len(msg), k*8, max)
		}
		return rsa.EncryptPKCS1v15(rand.Reader, &priv.PublicKey, msg)
	}
	return nil, unsupportedAlg(alg, "encryption")
}

func rsaDecrypt(key crypto.Signer, alg, value string) ([]byte, error) {
	priv, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, badParameter("Decryption needs an RSA key; EC keys only sign and verify.")
	}
	ct, err := b64(value)
	if err != nil {
		return nil, badParameter("The 'value' is not base64url.")
	}
	if len(ct) != priv.Size() {
		return nil, badParameter("The ciphertext is %d bytes; with a %d-bit key it must be exactly %d.", len(ct), priv.Size()*8, priv.Size())
	}
	var out []byte
	if h, ok := oaepHash(alg); ok {
		out, err = rsa.DecryptOAEP(h(), nil, priv, ct, nil)
	} else if alg == "RSA1_5" {
		out, err = rsa.DecryptPKCS1v15(nil, priv, ct)
	} else {
		return nil, unsupportedAlg(alg, "decryption")
	}
	if err != nil {
		return nil, badParameter("Decryption with %s failed: the ciphertext was not produced by this key and algorithm.", alg)
	}
	return out, nil
}

// signingHash maps a JWS algorithm to its hash and family ("RS", "PS" or "ES").
func signingHash(alg string) (crypto.Hash, string, bool) {
	switch alg {
	case "ES256K":
		return crypto.SHA256, "ES", true
	case "RS256", "PS256", "ES256":
		return crypto.SHA256, alg[:2], true
	case "RS384", "PS384", "ES384":
		return crypto.SHA384, alg[:2], true
	case "RS512", "PS512", "ES512":
		return crypto.SHA512, alg[:2], true
	}
	return 0, "", false
}

// checkSigning validates alg against the key type and decodes the digest.
func checkSigning(pub crypto.PublicKey, alg, digest string) (crypto.Hash, string, []byte, error) {
	h, family, ok := signingHash(alg)
	_, isRSAKey := pub.(*rsa.PublicKey)
	if !ok || (family == "ES") == isRSAKey {
		return 0, "", nil, badParameter("Invalid algorithm '%s' for this key: RSA keys sign with RS256/384/512 or PS256/384/512, EC keys with ES256, ES256K, ES384 or ES512.", alg)
	}
	if ec, isEC := pub.(*ecdsa.PublicKey); isEC {
		// Each curve signs with its own algorithm.
		want := map[string]string{"P-256": "ES256", "P-256K": "ES256K", "P-384": "ES384", "P-521": "ES512"}[curveName(ec.Curve)]
		if alg != want {
			return 0, "", nil, badParameter("Invalid algorithm '%s' for a %s key: it signs with %s.", alg, curveName(ec.Curve), want)
		}
	}
	d, err := b64(digest)
	if err != nil {
		return 0, "", nil, badParameter("The digest is not base64url.")
	}
	if len(d) != h.Size() {
		return 0, "", nil, badParameter("The digest is %d bytes; %s needs a %d-byte digest.", len(d), alg, h.Size())
	}
	return h, family, d, nil
}

func sign(key crypto.Signer, alg, digest string) ([]byte, error) {
	h, family, d, err := checkSigning(key.Public(), alg, digest)
	if err != nil {
		return nil, err
	}
	switch family {
	case "RS":
		return rsa.SignPKCS1v15(nil, key.(*rsa.PrivateKey), h, d)
	case "PS":
		return rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), h, d, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	}
	priv := key.(*ecdsa.PrivateKey)
	r, s, err := ecdsa.Sign(rand.Reader, priv, d)
	if err != nil {
		return nil, err
	}
	size := (priv.Curve.Params().BitSize + 7) / 8
	return append(r.FillBytes(make([]byte, size)), s.FillBytes(make([]byte, size))...), nil
}

func verify(pub crypto.PublicKey, alg, digest, signature string) (bool, error) {
	h, family, d, err := checkSigning(pub, alg, digest)
	if err != nil {
		return false, err
	}
	sig, err := b64(signature)
	if err != nil {
		return false, badParameter("The signature ('value') is not base64url.")
	}
	switch family {
	case "RS":
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), h, d, sig) == nil, nil
	case "PS":
		return rsa.VerifyPSS(pub.(*rsa.PublicKey), h, d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil, nil
	}
	k := pub.(*ecdsa.PublicKey)
	size := (k.Curve.Params().BitSize + 7) / 8
	if len(sig) != 2*size {
		return false, nil
	}
	return ecdsa.Verify(k, d, new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])), nil
}
