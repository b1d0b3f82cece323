package keyvault

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// jsonWebKey is a JWK as Key Vault sends and accepts it (base64url fields).
type jsonWebKey struct {
	Kid    string   `json:"kid,omitempty"`
	Kty    string   `json:"kty"`
	KeyOps []string `json:"key_ops,omitempty"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
	D      string   `json:"d,omitempty"`
	DP     string   `json:"dp,omitempty"`
	DQ     string   `json:"dq,omitempty"`
	QI     string   `json:"qi,omitempty"`
	P      string   `json:"p,omitempty"`
	Q      string   `json:"q,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
	K      string   `json:"k,omitempty"`
	T      string   `json:"key_hsm,omitempty"`
}

// Key types Cerulean supports.
const (
	ktyRSA    = "RSA"
	ktyRSAHSM = "RSA-HSM"
	ktyEC     = "EC"
	ktyECHSM  = "EC-HSM"
)

// canonicalKty spells a key type the way Key Vault does; "" for an unsupported one.
func canonicalKty(s string) string {
	for _, k := range []string{ktyRSA, ktyRSAHSM, ktyEC, ktyECHSM} {
		if strings.EqualFold(s, k) {
			return k
		}
	}
	return ""
}

func isRSA(kty string) bool { return kty == ktyRSA || kty == ktyRSAHSM }

var allKeyOps = []string{"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import", "export"}

// canonicalKeyOps validates key_ops and spells them Key Vault's way.
func canonicalKeyOps(ops []string) ([]string, error) {
	out := make([]string, 0, len(ops))
	for _, op := range ops {
		found := ""
		for _, k := range allKeyOps {
			if strings.EqualFold(op, k) {
				found = k
			}
		}
		if found == "" {
			return nil, badParameter("Invalid key operation '%s': use encrypt, decrypt, sign, verify, wrapKey, unwrapKey, import or export.", op)
		}
		out = append(out, found)
	}
	return out, nil
}

func defaultKeyOps(kty string) []string {
	if isRSA(kty) {
		return []string{"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"}
	}
	return []string{"sign", "verify"}
}

// b64 decodes base64url, with or without padding (and tolerates standard base64).
func b64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func b64enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func bigField(name, s string) (*big.Int, error) {
	if s == "" {
		return nil, badParameter("The JSON Web Key is missing its '%s' field.", name)
	}
	b, err := b64(s)
	if err != nil || len(b) == 0 {
		return nil, badParameter("The JSON Web Key field '%s' is not base64url.", name)
	}
	return new(big.Int).SetBytes(b), nil
}

var rsaSizes = map[int]bool{2048: true, 3072: true, 4096: true}

// curveByName is a JWK curve by its name; P-256K (secp256k1) has no crypto/ecdh curve.
func curveByName(crv string) (elliptic.Curve, ecdh.Curve, string) {
	switch strings.ToUpper(crv) {
	case "P-256":
		return elliptic.P256(), ecdh.P256(), "P-256"
	case "P-256K", "SECP256K1":
		return secp256k1.S256(), nil, "P-256K"
	case "P-384":
		return elliptic.P384(), ecdh.P384(), "P-384"
	case "P-521":
		return elliptic.P521(), ecdh.P521(), "P-521"
	}
	return nil, nil, ""
}

// curveName is a curve's JWK name.
func curveName(c elliptic.Curve) string {
	if c == elliptic.Curve(secp256k1.S256()) {
		return "P-256K"
	}
	return c.Params().Name
}

// unsupportedCurve answers a curve Key Vault does not have.
func unsupportedCurve(crv string) error {
	return badParameter("Unsupported curve '%s': use P-256, P-256K, P-384 or P-521.", crv)
}

// privateKeyFromJWK parses an imported JWK with its private parts.
func privateKeyFromJWK(j jsonWebKey) (crypto.Signer, string, error) {
	kty := canonicalKty(j.Kty)
	switch {
	case kty == "" && (strings.EqualFold(j.Kty, "oct") || strings.EqualFold(j.Kty, "oct-HSM")):
		return nil, "", badParameter("Symmetric (oct) keys are supported by Managed HSM only, not by vaults.")
	case kty == "":
		return nil, "", badParameter("Invalid kty '%s': use RSA, RSA-HSM, EC or EC-HSM.", j.Kty)
	case isRSA(kty):
		n, err := bigField("n", j.N)
		if err != nil {
			return nil, "", err
		}
		e, err := bigField("e", j.E)
		if err != nil {
			return nil, "", err
		}
		d, err := bigField("d", j.D)
		if err != nil {
			return nil, "", badParameter("The JSON Web Key has no private key ('d'): import needs the private key.")
		}
		p, err := bigField("p", j.P)
		if err != nil {
			return nil, "", err
		}
		q, err := bigField("q", j.Q)
		if err != nil {
			return nil, "", err
		}
		if !rsaSizes[n.BitLen()] {
			return nil, "", badParameter("Unsupported RSA key size %d: Key Vault keys are 2048, 3072 or 4096 bits.", n.BitLen())
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Int64()%2 == 0 {
			return nil, "", badParameter("The RSA public exponent is invalid.")
		}
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: int(e.Int64())}, D: d, Primes: []*big.Int{p, q}}
		if err := k.Validate(); err != nil {
			return nil, "", badParameter("The RSA key is inconsistent: %v.", err)
		}
		k.Precompute()
		return k, kty, nil
	default:
		curve, ec, name := curveByName(j.Crv)
		if curve == nil {
			return nil, "", unsupportedCurve(j.Crv)
		}
		dBytes, err := b64(j.D)
		if err != nil || len(dBytes) == 0 {
			return nil, "", badParameter("The JSON Web Key has no private key ('d'): import needs the private key.")
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(dBytes) > size {
			return nil, "", badParameter("The EC private key is longer than the curve %s allows.", name)
		}
		padded := make([]byte, size)
		copy(padded[size-len(dBytes):], dBytes)
		var x, y *big.Int
		if ec == nil { // P-256K
			d := new(big.Int).SetBytes(padded)
			if d.Sign() == 0 || d.Cmp(curve.Params().N) >= 0 {
				return nil, "", badParameter("The EC private key is invalid for %s.", name)
			}
			x, y = curve.ScalarBaseMult(padded)
		} else {
			priv, err := ec.NewPrivateKey(padded)
			if err != nil {
				return nil, "", badParameter("The EC private key is invalid for %s.", name)
			}
			pub := priv.PublicKey().Bytes() // 0x04 || X || Y
			x, y = new(big.Int).SetBytes(pub[1:1+size]), new(big.Int).SetBytes(pub[1+size:])
		}
		if j.X != "" || j.Y != "" {
			gx, err1 := bigField("x", j.X)
			gy, err2 := bigField("y", j.Y)
			if err1 != nil || err2 != nil || gx.Cmp(x) != 0 || gy.Cmp(y) != 0 {
				return nil, "", badParameter("The EC public key (x, y) does not match the private key.")
			}
		}
		return &ecdsa.PrivateKey{PublicKey: ecdsa.PublicKey{Curve: curve, X: x, Y: y}, D: new(big.Int).SetBytes(padded)}, kty, nil
	}
}

// publicJWK renders the public part of a key.
func publicJWK(pub crypto.PublicKey, kty string) jsonWebKey {
	j := jsonWebKey{Kty: kty}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		j.N = b64enc(k.N.Bytes())
		j.E = b64enc(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		j.Crv = curveName(k.Curve)
		j.X = b64enc(k.X.FillBytes(make([]byte, size)))
		j.Y = b64enc(k.Y.FillBytes(make([]byte, size)))
	}
	return j
}
