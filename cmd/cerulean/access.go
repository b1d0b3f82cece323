package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/cerulean-azure/cerulean/internal/providers/authorization"
	"github.com/spf13/cobra"
)

func accessCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "access", Short: "Explain authorization decisions"}
	var principal, action, scope string
	var data, asJSON bool
	explain := &cobra.Command{
		Use:   "explain --principal <object-id|app-id> --action <action> --scope <scope>",
		Short: "Say whether a principal may perform an action at a scope, and why",
		Long: `Decide as Resource Manager and Key Vault would, and explain: the role assignment, role,
scope and condition that allow the action; or, for a denial, that no assignment grants it,
which roles would, and any Azure Policy assignment that denies the write (a write that
Policy denies is DENIED, as Resource Manager refuses it). Exits 0 when allowed, 1 when
denied. --data-action
checks a data action (e.g. Microsoft.KeyVault/vaults/keys/wrap/action). Also available over
REST as POST {scope}/providers/Microsoft.Authorization/explain.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if principal == "" || action == "" || scope == "" {
				return errors.New("give --principal, --action and --scope")
			}
			in, err := instance.Open(cmd.Context(), dataDir(cmd))
			if err != nil {
				return err
			}
			defer in.Close()
			p, err := in.Dir.GetByAppID(cmd.Context(), principal)
			if errors.Is(err, directory.ErrPrincipalNotFound) {
				p, err = in.Dir.Get(cmd.Context(), principal)
			}
			if err != nil {
				return fmt.Errorf("no principal with object id or app id %s: %w", principal, err)
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
	explain.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(explain)
	return cmd
}
