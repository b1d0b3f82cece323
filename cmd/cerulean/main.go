// Command cerulean runs Azure's identity, key and file-share stack on your own machine.
// It only wires: the work happens in internal/.
package main

import (
	"bytes"
	"github.com/cerulean-azure/cerulean/internal/atomicfile"
	"runtime/debug"

	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/cerulean-azure/cerulean/internal/server"
	"github.com/cerulean-azure/cerulean/internal/smb"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/sts"
	"github.com/spf13/cobra"
)

func main() {
	if err := rootCmd().Execute(); err != nil {
		var quiet exitStatus
		if !errors.As(err, &quiet) {
			fmt.Fprintln(os.Stderr, "cerulean:", err)
		}
		os.Exit(1)
	}
}

// exitStatus ends a command with status 1 after it has said all there is to say (explain's
// DENIED verdict): nothing more is printed.
type exitStatus string

func (e exitStatus) Error() string { return string(e) }

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "cerulean",
		Short: "Azure's identity, key and file-share stack on your own machine",
		Long: `Cerulean runs managed identities and their token endpoints, Microsoft Entra client
credentials, Azure Resource Manager with RBAC and Key Vault, on one port of your machine,
faithfully enough that the official Azure CLI and SDKs work against it unmodified.

Start it with 'cerulean serve', then load its settings into a shell with
'eval "$(cerulean env)"'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("data", "./cerulean-data", "data folder (store, root key, keyring, CA, server state)")
	root.PersistentFlags().String("root-key-file", "", "operator-supplied root key (32 bytes) instead of <data>/root.key; also $"+instance.RootKeyFileEnv)
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if f, _ := cmd.Flags().GetString("root-key-file"); f != "" {
			return os.Setenv(instance.RootKeyFileEnv, f) // read by instance.RootKeyPath
		}
		return nil
	}
	root.AddCommand(versionCmd(), serveCmd(), envCmd(), identityCmd(), spCmd(), signingKeyCmd(), rootKeyCmd(), storageCmd(), accessCmd(), icaclsCmd(), smbCmd(), groupCmd(), activityCmd(), agentCmd(), storageSyncCmd())
	return root
}

func dataDir(cmd *cobra.Command) string {
	d, _ := cmd.Flags().GetString("data")
	return d
}

func serveCmd() *cobra.Command {
	all := server.DefaultSettings()
	settings := &all.STS
	var listen, logLevel, smbAddr, pprofAddr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run Cerulean (HTTP and HTTPS on one port, plus the interception proxy)",
		Long: `Run Cerulean. The first run creates, in the data folder: a tenant, a default
subscription, a local CA (ca.pem) and token-signing keys, and a bootstrap administrator
service principal with Owner on the subscription. Later runs reuse them.

One port serves HTTPS (Resource Manager, the token service) and plain HTTP (the
managed-identity endpoints), and works as an HTTP proxy that answers IMDS
(http://169.254.169.254) and terminates CONNECT for Azure host names only.

One server at a time uses a data folder (a second one on the same folder is refused); the
other commands (sp, group, identity, signing-key, root-key, env, ...) work beside it. The
folder is kept 0700 and its keys, store and state 0600.

--smb 127.0.0.1:4450 also serves every file share over SMB (needs root and Debian's samba):
the shares are mounted with FUSE under <data>/smb/mnt and smbd serves them as
<account>.<share>; log in with the account name and its key1, as 'net use ...
/user:localhost\<account> <key>' does against Azure:
  smbclient //127.0.0.1/<account>.<share> -p 4450 -U '<account>%<key1>'
Every read and write goes through Cerulean's encryption, customer-key state and checks.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if pprofAddr != "" {
				stopPprof, err := servePprof(pprofAddr, log)
				if err != nil {
					return err
				}
				defer stopPprof()
			}
			return serve(ctx, log, dataDir(cmd), listen, smbAddr, all)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8443", "address to listen on (port 0 picks a free port)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&smbAddr, "smb", "", "also serve the file shares over SMB on this address, e.g. 127.0.0.1:445 (Azure's port, and the only one smbcacls connects to); needs root and Debian's samba; shares are <account>.<share>, the account key logs in as the account, directory principals with 'cerulean smb login'")
	f.StringVar(&pprofAddr, "pprof", "", "also serve Go's profiles (net/http/pprof: CPU, heap, goroutines) over plain HTTP on this loopback address, e.g. 127.0.0.1:6060, for 'go tool pprof http://127.0.0.1:6060/debug/pprof/profile'")
	f.DurationVar(&settings.AppTokenLifetime, "app-token-lifetime", settings.AppTokenLifetime, "lifetime of client-credential tokens")
	f.DurationVar(&settings.ManagedIdentityTokenLifetime, "mi-token-lifetime", settings.ManagedIdentityTokenLifetime, "lifetime of managed-identity tokens (Azure: about 24h)")
	f.Float64Var(&settings.ManagedIdentityRate, "mi-rate-limit", settings.ManagedIdentityRate, "managed-identity token requests per second per host (Azure: 20; 0 = unlimited)")
	f.IntVar(&settings.ManagedIdentityBurst, "mi-burst", settings.ManagedIdentityBurst, "burst allowed above --mi-rate-limit")
	f.IntVar(&settings.ManagedIdentityConcurrency, "mi-concurrency", settings.ManagedIdentityConcurrency, "concurrent managed-identity requests per host (Azure: 5; 0 = unlimited)")
	f.DurationVar(&settings.ManagedIdentityCacheRefresh, "mi-cache-refresh", settings.ManagedIdentityCacheRefresh, "a cached managed-identity token is reused until it has less than this to live")
	f.StringVar(&settings.DefaultIMDSHost, "default-imds-host", "", "ARM id of the host an IMDS call without proxy credentials comes from")
	f.BoolVar(&all.KeyVault.Throttle, "keyvault-throttle", false, "enforce Key Vault's per-vault transaction limits (RSA-2048: 4,000 per 10 s; 429 with Retry-After beyond)")
	f.DurationVar(&all.KeyVault.RotationInterval, "keyvault-rotation-interval", all.KeyVault.RotationInterval, "how often key rotation policies (and scheduled purges) are evaluated; 0 disables")
	f.DurationVar(&all.RBACPropagation, "rbac-propagation", 0, "delay before role-assignment, custom-role and group changes reach tokens issued before them, as Azure's caches do (e.g. 5m; tokens issued after a change see it at once); 0 applies changes immediately")
	f.DurationVar(&all.FileSyncIdentitySwitch, "filesync-identity-switch", 0, "how long an Azure File Sync registered server takes to start using its managed identity once configured to (Azure: up to 15m); 0 switches at once")
	f.DurationVar(&all.KeyPollInterval, "key-poll-interval", all.KeyPollInterval, "how often storage accounts with automatic key version updating look for a new customer key version (Azure: daily; 'cerulean storage poll-keys' triggers one now)")
	f.DurationVar(&all.Files.ShareDeleteDelay, "share-delete-delay", 0, "how long a deleted file share stays 'being deleted', as Azure's do (e.g. 30s): a second delete is accepted, creating that share again answers 409 ShareBeingDeleted; 0 deletes at once")
	f.DurationVar(&all.Files.CMKCacheTTL, "cmk-cache-ttl", all.Files.CMKCacheTTL, "the longest a data key unwrapped by a customer-managed key is reused without asking Key Vault again (revocation does not wait for it: disabling or deleting the key, removing the identity's role or detaching the identity takes effect at once)")
	return cmd
}

func serve(ctx context.Context, log *slog.Logger, data, listen, smbAddr string, settings server.Settings) error {
	release, err := instance.Lock(data)
	if err != nil {
		return err
	}
	defer release()
	in, err := instance.Open(ctx, data)
	if err != nil {
		return err
	}
	defer in.Close()
	srv, err := server.Build(ctx, in, settings, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (choose another with --listen)", listen, err)
	}
	addr := ln.Addr().String()
	if err := instance.WriteState(data, instance.State{PID: os.Getpid(), Address: addr}); err != nil {
		return err
	}
	defer instance.RemoveState(data, os.Getpid())
	if smbAddr != "" {
		sm := smb.NewServer(srv.Files.FS(), in.Store, in.Barrier, filepath.Join(data, "smb"), smbAddr, log)
		if err := sm.Start(ctx); err != nil {
			return fmt.Errorf("--smb: %w", err)
		}
		defer sm.Stop()
		srv.Files.SetSMBServing(true)
		log.Info("cerulean serving SMB", "address", smbAddr, "shares", "<account>.<share>")
	}
	log.Info("cerulean listening", "address", addr, "https", "https://"+addr, "tenant", in.Tenant.ID,
		"subscription", in.Tenant.SubscriptionID, "ca", in.CA.CertFile, "data", data)
	fmt.Fprintf(os.Stderr, "Cerulean is listening on %s. In another shell: eval \"$(cerulean env --data %s)\"\n", addr, data)
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		for range usr1 {
			srv.PollKeysNow()
		}
	}()
	err = srv.Serve(ctx, ln)
	log.Info("cerulean stopped", "address", addr, "data", data)
	return err
}

// envVars is what `cerulean env` prints.
type envVars struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	CACertFile     string `json:"caCertFile"`
	// The bootstrap administrator's credentials; never with --resource.
	AdminClientID           string `json:"adminClientId,omitempty"`
	AdminClientSecret       string `json:"adminClientSecret,omitempty"`
	AdminObjectID           string `json:"adminObjectId,omitempty"`
	ResourceManagerEndpoint string `json:"resourceManagerEndpoint"`
	ActiveDirectoryEndpoint string `json:"activeDirectoryEndpoint"`
	AuthorityHost           string `json:"authorityHost"`
	IdentityEndpoint        string `json:"identityEndpoint"`
	Proxy                   string `json:"proxy"`
	// KeyVaultURLPrefix + <vault name> is a vault's path-style URL on Cerulean's address.
	KeyVaultURLPrefix string `json:"keyVaultUrlPrefix"`
	// AzCloudConfigFile is a cloud definition for `az cloud register --cloud-config @file`.
	AzCloudConfigFile string `json:"azCloudConfigFile"`
	// Set with --resource.
	Resource         string `json:"resource,omitempty"`
	IdentityHeader   string `json:"identityHeader,omitempty"`
	MSIEndpoint      string `json:"msiEndpoint,omitempty"`
	ResourceProxy    string `json:"resourceProxy,omitempty"`
	AppServiceIDEndp string `json:"appServiceIdentityEndpoint,omitempty"`
	// An Azure Arc-enabled server's local identity endpoint (IDENTITY_ENDPOINT with
	// IMDS_ENDPOINT, the 401 challenge with a secret file).
	ArcIdentityEndpoint string `json:"arcIdentityEndpoint,omitempty"`
	ArcIMDSEndpoint     string `json:"arcImdsEndpoint,omitempty"`
}

func envCmd() *cobra.Command {
	var asJSON bool
	var resource string
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print the environment a client needs to use the running server",
		Long: `Print 'export' lines (or, with --json, one JSON object) with what a client needs:
the CA file to trust (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS), the proxy
(HTTP_PROXY/HTTPS_PROXY with NO_PROXY for loopback), the endpoints, the bootstrap
administrator's client id and secret (AZURE_CLIENT_ID, AZURE_CLIENT_SECRET), tenant and
subscription.

With --resource <ARM id of a VM or Arc machine> it prints what code on that machine has
instead: IDENTITY_ENDPOINT and IDENTITY_HEADER (App Service-style; for an Arc machine its
local endpoint, IDENTITY_ENDPOINT and IMDS_ENDPOINT, which answers 401 with a secret file in
/var/opt/azcmagent/tokens to read, as Arc's does: serve as root for it), MSI_ENDPOINT (Cloud
Shell-style, what 'az login --identity' uses), proxy credentials that make IMDS calls come
from that host, the CA and the endpoints, and no administrator credentials: the export lines
unset AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID and the other credential
variables, so DefaultAzureCredential in that shell authenticates as the machine's managed
identity (run 'eval "$(cerulean env)"' again to be the administrator).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			data := dataDir(cmd)
			st, err := instance.ReadState(data)
			if err != nil {
				return err
			}
			// A state file a killed server left behind names an address nobody answers on.
			if c, err := net.DialTimeout("tcp", st.Address, 2*time.Second); err != nil {
				return fmt.Errorf("no server answers at %s (the last one to use %s stopped): start one with `cerulean serve --data %s`", st.Address, data, data)
			} else {
				c.Close()
			}
			in, err := instance.Open(ctx, data)
			if err != nil {
				return err
			}
			defer in.Close()
			base := "https://" + st.Address
			v := envVars{
				TenantID: in.Tenant.ID, SubscriptionID: in.Tenant.SubscriptionID, CACertFile: absPath(in.CA.CertFile),
				ResourceManagerEndpoint: base, ActiveDirectoryEndpoint: base + "/adfs", AuthorityHost: base,
				IdentityEndpoint: "http://" + st.Address + "/msi/token", Proxy: "http://" + st.Address,
				KeyVaultURLPrefix: base + "/vaults/", AzCloudConfigFile: absPath(filepath.Join(data, "az-cloud.json")),
			}
			if err := writeAzCloudConfig(v.AzCloudConfigFile, base); err != nil {
				return err
			}
			if resource == "" {
				v.AdminClientID, v.AdminClientSecret, v.AdminObjectID = in.Admin.AppID, in.Admin.Secret, in.Admin.ObjectID
			} else {
				// Code on the machine has its managed identity and nothing of the administrator.
				if err := checkHost(ctx, in.Store, resource); err != nil {
					return err
				}
				if segs := strings.Split(resource, "/"); len(segs) > 2 && strings.EqualFold(segs[1], "subscriptions") {
					v.SubscriptionID = segs[2] // the machine's own subscription
				}
				secret := sts.HostSecretFor(in.RootKey, resource)
				v.Resource, v.IdentityHeader = resource, secret
				v.AppServiceIDEndp = v.IdentityEndpoint
				v.MSIEndpoint = "http://" + st.Address + "/msi/host/" + secret
				name := resource[strings.LastIndex(resource, "/")+1:]
				v.ResourceProxy = "http://" + url.PathEscape(name) + ":" + secret + "@" + st.Address
				if strings.Contains(strings.ToLower(resource), "/providers/microsoft.hybridcompute/machines/") {
					v.ArcIMDSEndpoint = "http://" + st.Address + "/arc/" + secret
					v.ArcIdentityEndpoint = v.ArcIMDSEndpoint + "/metadata/identity/oauth2/token"
				}
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			bundle, err := trustBundle(data, v.CACertFile)
			if err != nil {
				return err
			}
			printExports(cmd, v, bundle)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object instead of export lines")
	cmd.Flags().StringVar(&resource, "resource", "", "ARM id of an identity-bearing resource (VM or Arc machine) to act as")
	return cmd
}

func absPath(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	return wd + "/" + strings.TrimPrefix(p, "./")
}

func checkHost(ctx context.Context, st store.Store, id string) error {
	return st.View(ctx, func(tx store.Tx) error {
		r, err := arm.GetResourceTx(tx, id)
		if err != nil {
			return fmt.Errorf("resource %s: %w (create it first, e.g. az vm create or a PUT on that id)", id, err)
		}
		if r.Identity == nil || r.Identity.Type == arm.IdentityNone {
			return fmt.Errorf("resource %s has no managed identity: enable one first (identity type SystemAssigned or UserAssigned)", id)
		}
		return nil
	})
}

// credentialVars are the variables Azure SDKs and tools take credentials (or the tenant to
// use them in) from: none of them is set for code on an identity-bearing machine.
var credentialVars = []string{"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID",
	"AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
	"AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_ADDITIONALLY_ALLOWED_TENANTS"}

// noProxy is what a developer's shell reaches directly: loopback, and the registries Go,
// npm, Debian, PyPI and GitHub tooling fetch from (Cerulean's proxy serves Azure hosts only).
const noProxy = "127.0.0.1,localhost,.golang.org,.googleapis.com,.npmjs.org,.debian.org,.pypi.org,.pythonhosted.org,github.com,.github.com,.githubusercontent.com"

// trustBundle writes <data>/ca-bundle.pem: the system's trusted roots and Cerulean's CA, so
// that a shell whose SSL_CERT_FILE (Go) and REQUESTS_CA_BUNDLE (Python) name it trusts
// Cerulean and still reaches the public registries (those variables replace the system
// roots). Without a system bundle it is Cerulean's CA alone.
func trustBundle(data, caFile string) (string, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return "", err
	}
	var system []byte
	for _, f := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"} {
		if b, err := os.ReadFile(f); err == nil {
			system = b
			break
		}
	}
	if system == nil {
		return caFile, nil
	}
	bundle := absPath(filepath.Join(data, "ca-bundle.pem"))
	content := append(append(append([]byte(nil), system...), '\n'), ca...)
	if old, err := os.ReadFile(bundle); err == nil && bytes.Equal(old, content) {
		return bundle, nil
	}
	return bundle, atomicfile.Write(bundle, content, 0o644)
}

func printExports(cmd *cobra.Command, v envVars, bundle string) {
	proxy := v.Proxy
	if v.ResourceProxy != "" {
		proxy = v.ResourceProxy
	}
	out := cmd.OutOrStdout()
	lines := [][2]string{
		{"SSL_CERT_FILE", bundle}, {"REQUESTS_CA_BUNDLE", bundle}, {"NODE_EXTRA_CA_CERTS", v.CACertFile},
		{"HTTP_PROXY", proxy}, {"HTTPS_PROXY", proxy}, {"NO_PROXY", noProxy},
		{"AZURE_SUBSCRIPTION_ID", v.SubscriptionID},
	}
	if v.Resource == "" {
		lines = append(lines, [2]string{"AZURE_TENANT_ID", v.TenantID},
			[2]string{"AZURE_CLIENT_ID", v.AdminClientID}, [2]string{"AZURE_CLIENT_SECRET", v.AdminClientSecret})
	} else {
		// A shell that loaded the administrator's settings before must not keep them.
		fmt.Fprintln(out, "unset "+strings.Join(credentialVars, " "))
	}
	lines = append(lines, [][2]string{
		{"AZURE_AUTHORITY_HOST", v.AuthorityHost},
		{"CERULEAN_ARM_ENDPOINT", v.ResourceManagerEndpoint}, {"CERULEAN_AD_ENDPOINT", v.ActiveDirectoryEndpoint},
		{"CERULEAN_KEYVAULT_URL_PREFIX", v.KeyVaultURLPrefix}, {"CERULEAN_AZ_CLOUD_CONFIG", v.AzCloudConfigFile},
	}...)
	switch {
	case v.ArcIdentityEndpoint != "":
		// An Arc machine: its local identity endpoint, as the Connected Machine agent sets it.
		fmt.Fprintln(out, "unset IDENTITY_HEADER")
		lines = append(lines, [2]string{"IDENTITY_ENDPOINT", v.ArcIdentityEndpoint}, [2]string{"IMDS_ENDPOINT", v.ArcIMDSEndpoint},
			[2]string{"MSI_ENDPOINT", v.MSIEndpoint})
	case v.Resource != "":
		lines = append(lines, [2]string{"IDENTITY_ENDPOINT", v.AppServiceIDEndp}, [2]string{"IDENTITY_HEADER", v.IdentityHeader},
			[2]string{"MSI_ENDPOINT", v.MSIEndpoint})
	}
	for _, l := range lines {
		fmt.Fprintf(out, "export %s=%s\n", l[0], shellQuote(l[1]))
	}
}

// writeAzCloudConfig writes the cloud definition the Azure CLI needs for Cerulean at base:
// every endpoint (so az fetches no metadata), Microsoft Graph (az keyvault create looks its
// caller up there) and the Key Vault and storage suffixes (which metadata cannot carry).
func writeAzCloudConfig(path, base string) error {
	b, _ := json.MarshalIndent(map[string]any{
		"endpoints": map[string]string{
			"resourceManager": base, "activeDirectory": base + "/adfs", "management": "https://management.core.windows.net/",
			"activeDirectoryResourceId": "https://management.core.windows.net/", "activeDirectoryGraphResourceId": "https://graph.windows.net/",
			"microsoftGraphResourceId": "https://graph.microsoft.com/", "gallery": base + "/",
		},
		"suffixes": map[string]string{"keyvaultDns": ".vault.azure.net", "storageEndpoint": "core.windows.net"},
	}, "", "  ")
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func identityCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "identity", Short: "Inspect managed identities"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List managed identities (with --deleted, the soft-deleted ones kept for 30 days)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			deleted, _ := cmd.Flags().GetBool("deleted")
			in, err := instance.Open(cmd.Context(), dataDir(cmd))
			if err != nil {
				return err
			}
			defer in.Close()
			ps, err := in.Dir.List(cmd.Context(), deleted)
			if err != nil {
				return err
			}
			sort.Slice(ps, func(i, j int) bool { return ps[i].ResourceID < ps[j].ResourceID })
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%-36s  %-36s  %-14s  %-8s  %s\n", "PRINCIPAL ID", "CLIENT ID", "TYPE", "STATE", "RESOURCE")
			for _, p := range ps {
				if p.Kind != directory.KindManagedIdentity || (deleted && !p.Deleted()) {
					continue
				}
				state := "active"
				if p.Deleted() {
					state = "deleted " + p.DeletedAt.Format("2006-01-02")
				}
				fmt.Fprintf(out, "%-36s  %-36s  %-14s  %-8s  %s\n", p.ObjectID, p.AppID, p.ManagedIdentityType, state, p.ResourceID)
			}
			return nil
		},
	}
	list.Flags().Bool("deleted", false, "list soft-deleted identities instead")
	cred := &cobra.Command{
		Use:   "credential <principal-id>",
		Short: "Show a managed identity's internal certificate credential (valid 90 days, rolled after 45)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := instance.Open(cmd.Context(), dataDir(cmd))
			if err != nil {
				return err
			}
			defer in.Close()
			var c directory.Credential
			err = in.Store.Update(cmd.Context(), func(tx store.Tx) error {
				var err error
				c, err = in.Dir.ManagedIdentityCredentialTx(tx, args[0])
				return err
			})
			if errors.Is(err, directory.ErrPrincipalNotFound) {
				return fmt.Errorf("no managed identity with principal id %s (see `cerulean identity list`)", args[0])
			}
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{
				"principalId": args[0], "thumbprint": c.Thumbprint, "notBefore": c.NotBefore.Format(time.RFC3339),
				"notAfter": c.NotAfter.Format(time.RFC3339), "rollsAfter": c.NotBefore.Add(directory.ManagedIdentityCredentialRollover).Format(time.RFC3339),
			})
		},
	}
	cmd.AddCommand(list, cred)
	return cmd
}

// versionCmd prints the build's module version and VCS revision.
func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Cerulean's version (module version, commit, Go version)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, ok := debug.ReadBuildInfo()
			if !ok {
				return errors.New("this binary carries no build information")
			}
			rev, modified, when := "unknown", "", ""
			for _, s := range info.Settings {
				switch s.Key {
				case "vcs.revision":
					rev = s.Value
				case "vcs.modified":
					if s.Value == "true" {
						modified = " (modified)"
					}
				case "vcs.time":
					when = " " + s.Value
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cerulean %s, commit %s%s%s, %s\n", info.Main.Version, rev, modified, when, info.GoVersion)
			return nil
		},
	}
}
