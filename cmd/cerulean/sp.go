package main

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/atomicfile"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/graph"
	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/cerulean-azure/cerulean/internal/pki"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/spf13/cobra"
)

func spCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "sp", Short: "Manage service principals (app registrations) of the tenant"}
	create := &cobra.Command{
		Use:   "create <display-name>",
		Short: "Create a service principal with a client secret (it has no role until you assign one)",
		Long: `Create a service principal with a client secret valid for --years, and print its
appId (client id), objectId and secret as JSON. The secret is shown once and stored only
as a salted hash. Give it roles with 'az role assignment create --assignee-object-id ...'.

With --cert FILE it also registers the certificate in FILE (PEM) as a credential; with
--create-cert FILE it creates a self-signed certificate and its private key, writes both to
FILE (PEM, mode 0600, the form azidentity.ParseCertificates and 'az login
--service-principal -p FILE' read) and registers the certificate. Clients then sign a
client assertion with the key (ClientCertificateCredential).

A new principal may read only itself in Microsoft Graph; --graph-permission
Directory.Read.All lets it look other principals up (what 'az keyvault create' does to
give its caller an access policy).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			years, _ := cmd.Flags().GetInt("years")
			if years < 1 || years > 100 {
				return fmt.Errorf("--years must be between 1 and 100, got %d", years)
			}
			validity := time.Duration(years) * 365 * 24 * time.Hour
			graphPerms, _ := cmd.Flags().GetStringSlice("graph-permission")
			if err := checkGraphPermissions(graphPerms); err != nil {
				return err
			}
			cert, err := certificateFlags(cmd, args[0], validity)
			if err != nil {
				return err
			}
			in, err := instance.Open(cmd.Context(), dataDir(cmd))
			if err != nil {
				return err
			}
			defer in.Close()
			var p directory.Principal
			var secret string
			var cred directory.Credential
			err = in.Store.Update(cmd.Context(), func(tx store.Tx) error {
				var err error
				if p, err = in.Dir.CreatePrincipal(tx, directory.Principal{Kind: directory.KindServicePrincipal, DisplayName: args[0]}); err != nil {
					return err
				}
				if secret, _, err = in.Dir.AddClientSecretTx(tx, p.ObjectID, validity, false); err != nil {
					return err
				}
				for _, perm := range graphPerms {
					if err := in.Dir.GrantGraphPermissionTx(tx, p.ObjectID, perm); err != nil {
						return err
					}
				}
				if cert != nil {
					cred, err = in.Dir.AddCertificateTx(tx, p.ObjectID, cert)
				}
				return err
			})
			if err != nil {
				return err
			}
			out := map[string]string{
				"appId": p.AppID, "objectId": p.ObjectID, "password": secret, "tenant": in.Tenant.ID, "displayName": p.DisplayName,
			}
			if cert != nil {
				out["certificateThumbprint"] = cred.Thumbprint
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(out)
		},
	}
	create.Flags().Int("years", 2, "years the client secret (and a created certificate) is valid")
	create.Flags().StringSlice("graph-permission", nil, "Microsoft Graph application permission to grant (repeatable), e.g. Directory.Read.All")
	addCertificateFlags(create)

	credential := &cobra.Command{
		Use:   "credential",
		Short: "Manage a service principal's credentials",
	}
	add := &cobra.Command{
		Use:   "add <app-id|object-id>",
		Short: "Register a certificate credential (--cert FILE or --create-cert FILE) for a service principal",
		Long: `Register a certificate credential for an existing service principal, named by its
appId or objectId. --cert FILE registers the certificate in FILE (PEM; only the public part
is kept); --create-cert FILE creates a self-signed certificate and key, writes both to FILE
(mode 0600) and registers the certificate. Prints the credential's thumbprint and validity.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			years, _ := cmd.Flags().GetInt("years")
			if years < 1 || years > 100 {
				return fmt.Errorf("--years must be between 1 and 100, got %d", years)
			}
			in, p, err := openSP(cmd, args[0])
			if err != nil {
				return err
			}
			defer in.Close()
			cert, err := certificateFlags(cmd, p.DisplayName, time.Duration(years)*365*24*time.Hour)
			if err != nil {
				return err
			}
			if cert == nil {
				return errors.New("give --cert FILE (an existing certificate) or --create-cert FILE (a new one)")
			}
			var cred directory.Credential
			err = in.Store.Update(cmd.Context(), func(tx store.Tx) error {
				var err error
				cred, err = in.Dir.AddCertificateTx(tx, p.ObjectID, cert)
				return err
			})
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]string{
				"appId": p.AppID, "objectId": p.ObjectID, "keyId": cred.KeyID, "thumbprint": cred.Thumbprint,
				"notBefore": cred.NotBefore.Format(time.RFC3339), "notAfter": cred.NotAfter.Format(time.RFC3339),
			})
		},
	}
	add.Flags().Int("years", 2, "years a created certificate is valid")
	addCertificateFlags(add)
	credential.AddCommand(add)
	grant := &cobra.Command{
		Use:   "grant <app-id|object-id> <permission>...",
		Short: "Grant a service principal Microsoft Graph application permissions (admin consent)",
		Long: `Grant an existing service principal, the bootstrap administrator included, Microsoft
Graph application permissions, as an administrator's consent does in Entra ID. Tokens issued
afterwards carry them in their roles claim (tokens issued before keep what they had, as in
Azure). Cerulean honours: ` + strings.Join(graph.Permissions, ", ") + `.
Example: cerulean sp grant $AZURE_CLIENT_ID Group.ReadWrite.All`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkGraphPermissions(args[1:]); err != nil {
				return err
			}
			in, p, err := openSP(cmd, args[0])
			if err != nil {
				return err
			}
			defer in.Close()
			err = in.Store.Update(cmd.Context(), func(tx store.Tx) error {
				for _, perm := range args[1:] {
					canonical := perm
					for _, k := range graph.Permissions {
						if strings.EqualFold(k, perm) {
							canonical = k
						}
					}
					if err := in.Dir.GrantGraphPermissionTx(tx, p.ObjectID, canonical); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			granted, err := in.Dir.Get(cmd.Context(), p.ObjectID)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "granted; %s (%s) now holds: %s. New tokens carry them.\n", granted.DisplayName, granted.AppID, strings.Join(granted.GraphPermissions, ", "))
			return nil
		},
	}
	cmd.AddCommand(create, credential, grant)
	return cmd
}

func addCertificateFlags(cmd *cobra.Command) {
	cmd.Flags().String("cert", "", "register the certificate in this PEM file as a credential")
	cmd.Flags().String("create-cert", "", "create a self-signed certificate and key, write both to this PEM file (0600) and register the certificate")
	cmd.MarkFlagsMutuallyExclusive("cert", "create-cert")
}

// certificateFlags reads --cert or carries out --create-cert; nil when neither is given.
func certificateFlags(cmd *cobra.Command, commonName string, validity time.Duration) (*x509.Certificate, error) {
	if path, _ := cmd.Flags().GetString("cert"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read --cert: %w", err)
		}
		cert, err := pki.ParseCertificatePEM(b)
		if err != nil {
			return nil, fmt.Errorf("--cert %s: %w", path, err)
		}
		if time.Now().After(cert.NotAfter) {
			return nil, fmt.Errorf("--cert %s expired on %s", path, cert.NotAfter.Format(time.RFC3339))
		}
		return cert, nil
	}
	path, _ := cmd.Flags().GetString("create-cert")
	if path == "" {
		return nil, nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("--create-cert %s: the file exists; choose a new path", path)
	}
	cert, bundle, err := pki.SelfSigned(commonName, validity)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, bundle, 0o600); err != nil {
		return nil, err
	}
	return cert, nil
}

// openSP opens the data folder and finds a service principal by appId or objectId; the
// caller closes the instance.
func openSP(cmd *cobra.Command, id string) (*instance.Instance, directory.Principal, error) {
	in, err := instance.Open(cmd.Context(), dataDir(cmd))
	if err != nil {
		return nil, directory.Principal{}, err
	}
	p, err := in.Dir.GetByAppID(cmd.Context(), id)
	if errors.Is(err, directory.ErrPrincipalNotFound) {
		p, err = in.Dir.Get(cmd.Context(), id)
	}
	if errors.Is(err, directory.ErrPrincipalNotFound) {
		err = fmt.Errorf("no service principal with appId or objectId %s (create one with `cerulean sp create`)", id)
	}
	if err != nil {
		in.Close()
		return nil, p, err
	}
	return in, p, nil
}

// checkGraphPermissions refuses a permission Cerulean does not honour.
func checkGraphPermissions(perms []string) error {
	for _, perm := range perms {
		if !slices.ContainsFunc(graph.Permissions, func(k string) bool { return strings.EqualFold(k, perm) }) {
			return fmt.Errorf("%q is not a Microsoft Graph permission Cerulean honours; use one of %s", perm, strings.Join(graph.Permissions, ", "))
		}
	}
	return nil
}
