package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/activity"
	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/encryption"
	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/cerulean-azure/cerulean/internal/graph"
	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/cerulean-azure/cerulean/internal/keyvault"
	"github.com/cerulean-azure/cerulean/internal/providers/authorization"
	"github.com/cerulean-azure/cerulean/internal/providers/compute"
	"github.com/cerulean-azure/cerulean/internal/providers/insights"
	"github.com/cerulean-azure/cerulean/internal/providers/msi"
	"github.com/cerulean-azure/cerulean/internal/providers/storage"
	"github.com/cerulean-azure/cerulean/internal/providers/storagesync"
	"github.com/cerulean-azure/cerulean/internal/providers/vaults"
	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/sts"
)

// Settings are every component's settings.
type Settings struct {
	STS      sts.Settings
	KeyVault keyvault.Settings
	Files    files.Settings
	// KeyPollInterval is how often storage accounts with automatic key version updating look
	// for a newer customer key version (Azure: daily).
	KeyPollInterval time.Duration
	// RBACPropagation delays role-assignment, custom-role and group changes for tokens
	// issued before them (0: immediate). See access.Gate.SetPropagation.
	RBACPropagation time.Duration
	// FileSyncIdentitySwitch is how long a registered server takes to start using its
	// managed identity once configured to (Azure: up to 15 minutes; 0: at once).
	FileSyncIdentitySwitch time.Duration
}

// DefaultSettings are Azure's documented behaviour.
func DefaultSettings() Settings {
	return Settings{STS: sts.DefaultSettings(), KeyVault: keyvault.DefaultSettings(), Files: files.DefaultSettings(), KeyPollInterval: 24 * time.Hour}
}

// registerProviders adds every resource provider to Resource Manager.
func registerProviders(svc *arm.Service, barrier *seal.Barrier, cmk *encryption.KeyVault, kv *keyvault.Service, paths authorization.PathExplainer, identitySwitch time.Duration) (*storage.Provider, *storagesync.Provider) {
	msi.Register(svc)
	sync := storagesync.Register(svc, identitySwitch)
	compute.Register(svc)
	insights.Register(svc)
	authorization.Register(svc, paths)
	vaults.Register(svc, kv)
	return storage.Register(svc, barrier, cmk), sync
}

// ARMRoutes lists every Resource Manager route the server registers, with the action each
// method declares (tests enumerate them; nothing is opened or served).
func ARMRoutes() []arm.Route {
	svc := arm.NewCatalog()
	_, _ = registerProviders(svc, nil, nil, nil, nil, 0)
	return svc.Routes()
}

// Build wires every component over an opened data folder: the token service, the RBAC gate,
// Resource Manager with its providers, the Key Vault data plane, and this server in front.
func Build(ctx context.Context, in *instance.Instance, settings Settings, log *slog.Logger) (*Server, error) {
	tokens, err := sts.New(ctx, in.Dir, in.Store, in.Barrier, in.RootKey, settings.STS)
	if err != nil {
		return nil, err
	}
	gate := access.New(in.Store)
	gate.SetPropagation(settings.RBACPropagation, nil)
	svc := arm.New(in.Dir, tokens, gate)
	gate.OnDataActionDenied(func(ctx context.Context, req access.Request) {
		// Queued, not written here: the denial may come from a Key Vault call made inside a
		// Resource Manager transaction (a customer-key check), which holds the store's write
		// lock. Best effort, as for Resource Manager's events.
		svc.Activity().RecordLater(activity.Event{
			Category: activity.Administrative, Level: "Error", Status: "Failed", StatusCode: http.StatusForbidden,
			Operation: req.Action, Scope: req.Scope, ErrorCode: "AuthorizationFailed", CorrelationID: requestID(ctx),
			Caller: req.Principal.Display, CallerObjectID: req.Principal.ObjectID,
			Message: "The caller does not have authorization to perform data action '" + req.Action + "' over scope '" + req.Scope + "'.",
		})
	})
	cmk := encryption.NewKeyVault(tokens.ManagedIdentityToken)
	var fs *files.Service // built below; explain reaches it once the server answers requests
	paths := func(ctx context.Context, p access.Principal, account, share, path string) (any, error) {
		return fs.AccessFor(ctx, p, account, share, path)
	}
	kv := keyvault.New(in.Store, in.Barrier, tokens, gate, in.Dir.Now, settings.KeyVault)
	st, sync := registerProviders(svc, in.Barrier, cmk, kv, paths, settings.FileSyncIdentitySwitch)
	tokens.SetHostResolver(svc)
	if err := svc.EnsureSubscription(ctx, in.Tenant.SubscriptionID, in.Tenant.ID, "Cerulean Subscription"); err != nil {
		return nil, err
	}
	fs = files.New(in.Store, in.Barrier, cmk, tokens, gate, in.Dir.Now, settings.Files)
	// Key Vault and Storage live in one process: a cached customer-key unwrap is dropped the
	// moment anything that could revoke it changes, so revocation is immediate.
	fs.SetKeyDependencies(append(append(keyvault.KeyCollections(), access.DecisionCollections()...), directory.PrincipalsCollection)...)
	srv := &Server{ARM: svc, STS: tokens, KeyVault: kv, Files: fs,
		Graph: graph.New(in.Dir, tokens), CA: in.CA, Log: log,
		Storage: st, Sync: sync, KeyPollInterval: settings.KeyPollInterval, KeyPollNow: make(chan struct{}, 1)}
	cmk.SetHandler(srv) // storage reaches customer keys through the server, like any client
	if r, ok := in.Store.(memoryReleaser); ok {
		srv.store = r
	}
	return srv, nil
}
