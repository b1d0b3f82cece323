// Package instance opens a Cerulean data folder: the root key, the local CA, the embedded
// store, the tenant and the bootstrap administrator. First use creates them; later uses
// reuse them. Both `cerulean serve` and the offline commands (`cerulean env`, `cerulean
// identity`) start here.
//
// It does not serve anything (package server does).
package instance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/atomicfile"
	"github.com/cerulean-azure/cerulean/internal/authz"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/pki"
	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/store/sqlite"
	"github.com/google/uuid"
)

const colBootstrap = "instance.bootstrap"

// AdminGraphPermission is the Microsoft Graph application permission the bootstrap
// administrator holds, so tools that look principals up (az keyvault create) work for it.
const AdminGraphPermission = "Directory.Read.All"

// Admin is the bootstrap administrator service principal (Owner on the default
// subscription).
type Admin struct {
	ObjectID string `json:"objectId"`
	AppID    string `json:"appId"`
	Secret   string `json:"-"`
}

// Instance is an opened data folder.
type Instance struct {
	DataDir string
	// RootKey is the instance secret other keys are derived from (host secrets): the
	// keyring's term-0 data key, stable across root-key rotations.
	RootKey []byte
	Barrier *seal.Barrier
	CA      *pki.CA
	Store   store.Store
	Dir     *directory.Directory
	Tenant  directory.Tenant
	Admin   Admin
}

// RootKeyFileEnv names the environment variable that points at an operator-supplied root
// key (32 bytes); without it the root key is root.key in the data folder.
const RootKeyFileEnv = "CERULEAN_ROOT_KEY_FILE"

// RootKeyPath is where the data folder's root key is read from.
func RootKeyPath(dataDir string) string {
	if p := os.Getenv(RootKeyFileEnv); p != "" {
		return p
	}
	return filepath.Join(dataDir, "root.key")
}

// KeyringPath is the data folder's keyring (data keys sealed under the root key).
func KeyringPath(dataDir string) string { return filepath.Join(dataDir, "keyring.json") }

// Open opens (creating on first use) the data folder. The folder is made 0700 and the files
// in it 0600 (but the CA certificate and the az cloud definition, which are public), however
// they were created before.
func Open(ctx context.Context, dataDir string) (*Instance, error) {
	if err := secureFolder(dataDir); err != nil {
		return nil, err
	}
	in := &Instance{DataDir: dataDir}
	dbPath := filepath.Join(dataDir, "cerulean.db")
	_, statErr := os.Stat(dbPath)
	legacy := statErr == nil // a store written before the keyring: its values are sealed under the root key itself
	var err error
	if in.Barrier, in.RootKey, err = seal.OpenKeyring(RootKeyPath(dataDir), KeyringPath(dataDir), legacy); err != nil {
		return nil, err
	}
	if in.CA, err = pki.LoadOrCreate(dataDir); err != nil {
		return nil, err
	}
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return nil, err
	}
	in.Store = db
	in.Dir = directory.New(db, in.Barrier, time.Now)
	if in.Tenant, _, err = in.Dir.EnsureTenant(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	if err := in.ensureAdmin(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return in, nil
}

// Close closes the store.
func (in *Instance) Close() error { return in.Store.Close() }

// SubscriptionScope is the default subscription's scope.
func (in *Instance) SubscriptionScope() string { return "/subscriptions/" + in.Tenant.SubscriptionID }

// ensureAdmin creates, once, the administrator service principal with a retrievable secret
// and an Owner assignment on the default subscription, all in one transaction.
func (in *Instance) ensureAdmin(ctx context.Context) error {
	return in.Store.Update(ctx, func(tx store.Tx) error {
		b, err := tx.Get(colBootstrap, "admin")
		if err == nil {
			if err := json.Unmarshal(b, &in.Admin); err != nil {
				return err
			}
			if in.Admin.Secret, err = in.Dir.ClientSecret(tx, in.Admin.ObjectID); err != nil {
				return err
			}
			return in.Dir.GrantGraphPermissionTx(tx, in.Admin.ObjectID, AdminGraphPermission)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		sp, err := in.Dir.CreatePrincipal(tx, directory.Principal{Kind: directory.KindServicePrincipal, DisplayName: "cerulean-admin"})
		if err != nil {
			return err
		}
		secret, _, err := in.Dir.AddClientSecretTx(tx, sp.ObjectID, 10*365*24*time.Hour, true)
		if err != nil {
			return err
		}
		if err := in.Dir.GrantGraphPermissionTx(tx, sp.ObjectID, AdminGraphPermission); err != nil {
			return err
		}
		owner, _ := authz.BuiltInRoleByName("Owner")
		now := time.Now().UTC()
		if err := access.PutTx(tx, access.Assignment{Name: uuid.NewString(), Scope: in.SubscriptionScope(),
			RoleDefinitionID: in.SubscriptionScope() + "/providers/Microsoft.Authorization/roleDefinitions/" + owner.Name,
			PrincipalID:      sp.ObjectID, PrincipalType: "ServicePrincipal", Description: "Cerulean bootstrap administrator",
			CreatedOn: now, UpdatedOn: now}); err != nil {
			return err
		}
		in.Admin = Admin{ObjectID: sp.ObjectID, AppID: sp.AppID, Secret: secret}
		b, _ = json.Marshal(in.Admin)
		return tx.Put(colBootstrap, "admin", b)
	})
}

// State is what a running server records in the data folder for the offline commands.
type State struct {
	PID     int    `json:"pid"`
	Address string `json:"address"` // host:port of the listener (HTTP and HTTPS)
}

func statePath(dataDir string) string { return filepath.Join(dataDir, "server.json") }

// WriteState records the running server's address.
func WriteState(dataDir string, s State) error {
	b, _ := json.MarshalIndent(s, "", "  ")
	return atomicfile.Write(statePath(dataDir), b, 0o600)
}

// ReadState reads the running server's address.
func ReadState(dataDir string) (State, error) {
	var s State
	b, err := os.ReadFile(statePath(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return s, fmt.Errorf("no server has run with data folder %s: start one with `cerulean serve --data %s`", dataDir, dataDir)
	}
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// RemoveState forgets the server's address at shutdown, if the state is still the one the
// server with pid wrote.
func RemoveState(dataDir string, pid int) {
	if s, err := ReadState(dataDir); err == nil && s.PID == pid {
		os.Remove(statePath(dataDir))
	}
}

// publicFiles are the data folder's files that hold nothing secret: everything else is
// made 0600.
var publicFiles = map[string]bool{"ca.pem": true, "az-cloud.json": true}

// secureFolder creates the data folder 0700, or makes an existing one 0700 and its files
// 0600: a folder made with the default umask, or files created before modes were enforced,
// must not leave keys, the store or its WAL readable by other users.
func secureFolder(dataDir string) error {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("create data folder %s: %w", dataDir, err)
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return fmt.Errorf("make data folder %s private: %w", dataDir, err)
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return fmt.Errorf("read data folder %s: %w", dataDir, err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || publicFiles[e.Name()] {
			continue
		}
		info, err := e.Info()
		if err != nil || info.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(filepath.Join(dataDir, e.Name()), info.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("make %s private: %w", filepath.Join(dataDir, e.Name()), err)
		}
	}
	return nil
}

// ErrInUse is returned by Lock when another server holds the data folder.
var ErrInUse = errors.New("the data folder is in use by another cerulean serve")

// Lock makes the caller the data folder's only server until release is called (or the
// process ends): an exclusive flock on serve.lock in the folder. A second server on the same
// folder gets ErrInUse. The offline commands do not lock: the store serialises their
// transactions with the server's.
func Lock(dataDir string) (release func(), err error) {
	if err := secureFolder(dataDir); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dataDir, "serve.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := ""
			if s, err := ReadState(dataDir); err == nil {
				who = fmt.Sprintf(" (pid %d, listening on %s)", s.PID, s.Address)
			}
			return nil, fmt.Errorf("%w%s: %s. Stop it first, or start this one with another --data folder", ErrInUse, who, dataDir)
		}
		return nil, fmt.Errorf("lock data folder %s: %w", dataDir, err)
	}
	return func() { f.Close() }, nil
}
