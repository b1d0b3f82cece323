package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cerulean-azure/cerulean/internal/server"
	"io"
	"log/slog"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/cerulean-azure/cerulean/internal/providers/authorization"
	"github.com/spf13/cobra"
)

func accessCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "access", Short: "Explain authorization decisions"}
	var principal, action, scope, path string
	var data, asJSON bool
	explain := &cobra.Command{
		Use:   "explain --principal <object-id|app-id> (--action <action> --scope <scope> | --path //<account>/<share>/<path>)",
		Short: "Say whether a principal may perform an action at a scope (or what it may do on a file), and why",
		Long: `Decide as Resource Manager and Key Vault would, and explain: the role assignment, role,
scope and condition that allow the action; or, for a denial, that no assignment grants it,
which roles would, and any Azure Policy assignment that denies the write (a write that
Policy denies is DENIED, as Resource Manager refuses it). Exits 0 when allowed, 1 when
denied. --data-action
checks a data action (e.g. Microsoft.KeyVault/vaults/keys/wrap/action). Also available over
REST as POST {scope}/providers/Microsoft.Authorization/explain.

With --path, say what the principal may do on a file or directory of an Azure file share
through identity-based (SMB) access, seed 004's way: its share-level rights (the Storage File
Data SMB roles' data actions at the share, and where each was assigned), the ACEs of the
file's Windows ACL that grant or deny (explicit, or inherited from which directory), the
owner's implicit rights, the customer-managed key state, and the effective rights, the more
restrictive of the two levels. Exits 1 when it may do nothing. Over REST: {"principalId",
"path"} to the explain endpoint.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path != "" && principal != "" {
				return explainPath(cmd, principal, path, asJSON)
			}
			if principal == "" || action == "" || scope == "" {
				return errors.New("give --principal, --action and --scope (or --principal and --path)")
			}
			in, err := instance.Open(cmd.Context(), dataDir(cmd))
			if err != nil {
				return err
			}
			defer in.Close()
			p, err := resolvePrincipal(cmd, in.Dir, principal)
			if err != nil {
				return err
			}
			res, err := authorization.Explain(cmd.Context(), access.New(in.Store), in.Store, authorization.ExplainQuery{
				Request: access.Request{Principal: access.Principal{ObjectID: p.ObjectID}, Action: action, DataAction: data, Scope: scope}})
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				verdict := "DENIED"
				if res.Allowed {
					verdict = "ALLOWED"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", verdict, res.Reason)
				if len(res.RolesThatWouldGrant) > 0 {
					fmt.Fprintf(cmd.OutOrStdout(), "roles that would grant it: %v\n", res.RolesThatWouldGrant)
				}
			}
			if !res.Allowed {
				return exitStatus("denied")
			}
			return nil
		},
	}
	explain.Flags().StringVar(&principal, "principal", "", "object id or app (client) id of the principal")
	explain.Flags().StringVar(&action, "action", "", "the action, e.g. Microsoft.ManagedIdentity/userAssignedIdentities/write")
	explain.Flags().StringVar(&scope, "scope", "", "the scope, e.g. /subscriptions/<id>/resourceGroups/<rg>")
	explain.Flags().BoolVar(&data, "data-action", false, "the action is a data action")
	explain.Flags().StringVar(&path, "path", "", "a file or directory of a file share, //<account>/<share>/<path>: explain its effective access")
	explain.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(explain)
	return cmd
}

// resolvePrincipal finds a principal by app (client) id or object id.
func resolvePrincipal(cmd *cobra.Command, dir *directory.Directory, id string) (directory.Principal, error) {
	p, err := dir.GetByAppID(cmd.Context(), id)
	if errors.Is(err, directory.ErrPrincipalNotFound) {
		p, err = dir.Get(cmd.Context(), id)
	}
	if err != nil {
		return p, fmt.Errorf("no principal with object id or app id %s: %w", id, err)
	}
	return p, nil
}

// explainPath prints a principal's effective access to a file or directory of a share.
func explainPath(cmd *cobra.Command, principal, path string, asJSON bool) error {
	account, share, rel, err := authorization.SplitFilePath(path)
	if err != nil {
		return err
	}
	in, srv, err := openServer(cmd)
	if err != nil {
		return err
	}
	defer in.Close()
	p, err := resolvePrincipal(cmd, in.Dir, principal)
	if err != nil {
		return err
	}
	a, err := srv.Files.AccessFor(cmd.Context(), access.Principal{ObjectID: p.ObjectID, Display: p.DisplayName}, account, share, rel)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(a); err != nil {
			return err
		}
	} else {
		verdict := "ALLOWED"
		if a.Mask == 0 {
			verdict = "DENIED"
		}
		fmt.Fprintf(out, "%s: %s (%s) on %s: %s\n", verdict, p.DisplayName, a.SID, a.Path, a.Rights)
		fmt.Fprintf(out, "  why: %s\n", a.Reason)
		fmt.Fprintf(out, "  share level allows %s:\n", a.ShareRights)
		for _, g := range a.Share {
			if g.Role != "" {
				fmt.Fprintf(out, "    %s: granted by %s at %s\n", g.Action, g.Role, g.Scope)
			} else {
				fmt.Fprintf(out, "    %s: not granted\n", g.Action)
			}
		}
		fmt.Fprintf(out, "  ACL grants %s (owner %s%s):\n", a.ACLRights, a.Owner, map[bool]string{true: ", implicit READ_CONTROL and WRITE_DAC", false: ""}[a.OwnerImplicit])
		for _, e := range a.ACEs {
			fmt.Fprintf(out, "    %s %s %s, %s (matched %s)\n", strings.ToUpper(e.Effect), e.ACE, e.Rights, e.Source, e.Matched)
		}
		fmt.Fprintf(out, "  customer-managed key: %s\n", a.KeyState)
	}
	if a.Mask == 0 {
		return exitStatus("denied")
	}
	return nil
}

// openServer opens the data folder and builds the server's components in this process, for
// the offline commands that act as the server would (explain --path, icacls); nothing is
// served. Close the instance when done.
func openServer(cmd *cobra.Command) (*instance.Instance, *server.Server, error) {
	in, err := instance.Open(cmd.Context(), dataDir(cmd))
	if err != nil {
		return nil, nil, err
	}
	srv, err := server.Build(cmd.Context(), in, server.DefaultSettings(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		in.Close()
		return nil, nil, err
	}
	return in, srv, nil
}
