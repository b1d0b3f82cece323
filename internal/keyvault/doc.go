// Package keyvault is Cerulean's Azure Key Vault data plane: keys (RSA and EC, created or
// imported, versioned, rotated by hand or by a rotation policy), the cryptographic operations
// on them (encrypt/decrypt, wrapKey/unwrapKey, sign/verify), secrets, soft delete with recover
// and purge (purge protection honoured), backup and restore — authorized on every call by
// Azure RBAC data actions (or the vault's access policies when RBAC is off), with Key Vault's
// own error envelope and optional throttling.
//
// It also keeps the registry of vaults the Microsoft.KeyVault resource provider writes
// (internal/providers/keyvault): the data plane needs to know, for a vault name, its resource
// id, tenant, permission model, retention and purge protection.
//
// # Key material at rest
//
// Private key material and secret values never reach the store in plaintext. They pass
// through the server's one encryption layer (package seal): AES-256-GCM under the server's
// root key, with a fresh nonce per value. Each sealed value is bound, as associated data, to
// the identity of its record — "keyvault/key/<vault uid>/<key name>/<version>" or
// "keyvault/secret/<vault uid>/<secret name>/<version>" — so a ciphertext copied onto another
// key, version or vault (even a purged and re-created vault of the same name, which gets a
// new uid) fails to open. Public key parts, attributes and tags are stored as plain JSON.
// Backups are the same records sealed again under the context "keyvault/backup/<subscription>",
// so a backup opens only on a server with the same root key, in the same subscription, as in
// Azure.
//
// The root key is root.key in the data folder (32 random bytes, mode 0600, created on first
// start), or an operator-supplied 32-byte file named by --root-key-file /
// CERULEAN_ROOT_KEY_FILE. It seals only the keyring (keyring.json), the data keys that seal
// the values; `cerulean root-key rotate [--new-key-file F]` re-seals the keyring under a new
// root key, after which the old one opens nothing and no stored value needs rewriting.
// Losing both the root key and its backups loses every key and secret.
//
// It is not the ARM side of Key Vault (vault create/update/delete/purge live in the resource
// provider) and not the storage encryption layer, which is an ordinary client of this API.
package keyvault
