package files

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/encryption"
	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Collections this package owns.
const (
	colAccounts    = "files.accounts"
	colShares      = "files.shares"
	colNodes       = "files.nodes"
	colChunks      = "files.chunks"
	colPermissions = "files.permissions"
	colCounters    = "files.counters"
	colGarbage     = "files.garbage"
)

// Account is what the data plane knows of a storage account; the resource provider writes it.
type Account struct {
	Name           string `json:"name"`
	UID            string `json:"uid"`
	ResourceID     string `json:"resourceId"`
	SubscriptionID string `json:"subscriptionId"`
	Location       string `json:"location"`
	// Keys are the two account keys, sealed.
	Keys []AccountKey `json:"keys"`
	// AllowSharedKeyAccess false refuses Shared Key and SAS (allowSharedKeyAccess).
	AllowSharedKeyAccess bool `json:"allowSharedKeyAccess"`
	// AllowHTTP is supportsHttpsTrafficOnly false: plain HTTP is served. Its zero value (a
	// record written before it existed, too) is Azure's default, HTTPS only.
	AllowHTTP bool `json:"allowHttp,omitempty"`
	// KeySource is "Microsoft.Storage" or "Microsoft.Keyvault"; WrappedKey is the data key
	// wrapped by it (sealed under the root key, or by the customer's key).
	KeySource  string `json:"keySource"`
	WrappedKey []byte `json:"wrappedKey"`
	// WrappingKeyID is the customer key version that wrapped WrappedKey.
	WrappingKeyID string `json:"wrappingKeyId,omitempty"`
	// CMKIdentity is the principal (object id) that reaches the customer key; "" while the
	// identity configured for it is detached from the account (every unwrap then fails).
	CMKIdentity string `json:"cmkIdentity,omitempty"`
	// CMKUserAssignedIdentity is the user-assigned identity (resource id) configured to reach
	// the customer key; "" for the account's system-assigned identity.
	CMKUserAssignedIdentity string `json:"cmkUserAssignedIdentity,omitempty"`
	// KeyVaultURI, KeyName and KeyVersion are the configured customer key; an empty
	// KeyVersion means automatic version updating.
	KeyVaultURI string `json:"keyVaultUri,omitempty"`
	KeyName     string `json:"keyName,omitempty"`
	KeyVersion  string `json:"keyVersion,omitempty"`
	// Premium is a FileStorage (premium files) account: its shares are provisioned, and
	// report the IOPS and bandwidth their quota buys (premiumshares.go).
	Premium bool `json:"premium,omitempty"`
	// DelegationSecret (sealed) derives the account's user delegation keys
	// (userdelegation.go); nil until the first one is asked for.
	DelegationSecret []byte `json:"delegationSecret,omitempty"`
}

// AccountKey is one of the account's two keys.
type AccountKey struct {
	Name         string    `json:"keyName"`
	Sealed       []byte    `json:"sealed"`
	CreationTime time.Time `json:"creationTime"`
}

// ErrAccountNotFound is returned for an unknown account name.
var ErrAccountNotFound = errors.New("files: storage account not found")

func accountKey(name string) string { return strings.ToLower(name) }

// GetAccountTx returns an account record.
func GetAccountTx(tx store.Tx, name string) (Account, error) {
	var a Account
	b, err := tx.Get(colAccounts, accountKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return a, ErrAccountNotFound
	}
	if err != nil {
		return a, err
	}
	return a, json.Unmarshal(b, &a)
}

// PutAccountTx stores an account record.
func PutAccountTx(tx store.Tx, a Account) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode account: %w", err)
	}
	return tx.Put(colAccounts, accountKey(a.Name), b)
}

func keySealContext(uid, name string) string { return "files/account-key/" + uid + "/" + name }
func dataKeyContext(uid string) string       { return "files/data-key/" + uid }

func newAccountKey(b *seal.Barrier, uid, name string, now time.Time) AccountKey {
	raw := make([]byte, 64)
	if _, err := rand.Read(raw); err != nil {
		panic("files: no randomness: " + err.Error())
	}
	return AccountKey{Name: name, Sealed: b.Seal(keySealContext(uid, name), []byte(base64.StdEncoding.EncodeToString(raw))), CreationTime: now.UTC()}
}

// NewAccount returns a new account record: a uid, two account keys, and a data key under
// Microsoft-managed keys.
func NewAccount(b *seal.Barrier, name string, now time.Time) Account {
	u := make([]byte, 16)
	_, _ = rand.Read(u)
	a := Account{Name: strings.ToLower(name), UID: hex.EncodeToString(u), AllowSharedKeyAccess: true, KeySource: KeySourceMicrosoft}
	a.Keys = []AccountKey{newAccountKey(b, a.UID, "key1", now), newAccountKey(b, a.UID, "key2", now)}
	a.WrappedKey = b.Seal(dataKeyContext(a.UID), encryption.NewDataKey())
	return a
}

// Key source names, as ARM spells them.
const (
	KeySourceMicrosoft = "Microsoft.Storage"
	KeySourceKeyVault  = "Microsoft.Keyvault"
)

// AccountKeys opens the account's keys: name → base64 key.
func AccountKeys(b *seal.Barrier, a Account) (map[string]string, error) {
	out := map[string]string{}
	for _, k := range a.Keys {
		v, err := b.Open(keySealContext(a.UID, k.Name), k.Sealed)
		if err != nil {
			return nil, fmt.Errorf("open account key %s: %w", k.Name, err)
		}
		out[k.Name] = string(v)
	}
	return out, nil
}

// RegenerateKey replaces one of the account's keys.
func RegenerateKey(b *seal.Barrier, a *Account, name string, now time.Time) bool {
	for i, k := range a.Keys {
		if strings.EqualFold(k.Name, name) {
			a.Keys[i] = newAccountKey(b, a.UID, k.Name, now)
			return true
		}
	}
	return false
}

// deleteUnderTx deletes the documents of the collections whose keys start with prefix.
func deleteUnderTx(tx store.Tx, prefix string, cols ...string) error {
	for _, col := range cols {
		keys, err := keysUnder(tx, col, prefix)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Delete(col, k); err != nil {
				return err
			}
		}
	}
	return nil
}

// DeleteAccountTx removes an account and everything it holds.
func DeleteAccountTx(tx store.Tx, name string) error {
	if err := deleteUnderTx(tx, accountKey(name)+"/", colShares, colNodes, colChunks, colPermissions, colCounters, colGarbage); err != nil {
		return err
	}
	if err := tx.Delete(colServiceProps, accountKey(name)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	err := tx.Delete(colAccounts, accountKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// KeyTx is one of an account's keys ("key1" or "key2"), opened.
func (s *Service) KeyTx(tx store.Tx, account, name string) (string, error) {
	a, err := GetAccountTx(tx, account)
	if err != nil {
		return "", err
	}
	keys, err := AccountKeys(s.barrier, a)
	if err != nil {
		return "", err
	}
	k, ok := keys[name]
	if !ok {
		return "", azerr.NotFound("KeyNotFound", "The account '%s' has no key '%s'.", account, name)
	}
	return k, nil
}
