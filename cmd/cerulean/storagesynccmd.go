package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/syncadmin"
	"github.com/spf13/cobra"
)

func storageSyncCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "storagesync", Short: "Azure File Sync administration as the signed-in caller (Az.StorageSync's cmdlets)"}
	var rg, name, sub, armEndpoint string
	flags := func(c *cobra.Command) {
		c.Flags().StringVarP(&rg, "resource-group", "g", "", "the Storage Sync Service's resource group")
		c.Flags().StringVarP(&name, "name", "n", "", "the Storage Sync Service's name")
		c.Flags().StringVar(&sub, "subscription", "", "the subscription (default $AZURE_SUBSCRIPTION_ID)")
		c.Flags().StringVar(&armEndpoint, "arm-endpoint", "", "Resource Manager's endpoint (default $CERULEAN_ARM_ENDPOINT)")
	}
	client := func(cmd *cobra.Command) (*syncadmin.Client, string, error) {
		if sub == "" {
			sub = os.Getenv("AZURE_SUBSCRIPTION_ID")
		}
		if armEndpoint == "" {
			armEndpoint = os.Getenv("CERULEAN_ARM_ENDPOINT")
		}
		if rg == "" || name == "" || sub == "" || armEndpoint == "" {
			return nil, "", errors.New("give -g <resource group> and -n <Storage Sync Service> after eval \"$(cerulean env)\" (which sets AZURE_SUBSCRIPTION_ID and CERULEAN_ARM_ENDPOINT)")
		}
		cred, err := signedInCaller()
		if err != nil {
			return nil, "", err
		}
		out := cmd.ErrOrStderr()
		c := &syncadmin.Client{HC: http.DefaultClient, Base: strings.TrimRight(armEndpoint, "/"), Cred: cred,
			Progress: func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }}
		return c, "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.StorageSync/storageSyncServices/" + name, nil
	}
	enable := &cobra.Command{
		Use:   "enable-identity",
		Short: "Turn on managed identities for a Storage Sync Service (Set-AzStorageSyncServiceIdentity)",
		Long: `Seed 000's "Turn on Managed identity", as the signed-in caller through Resource Manager (its
roles decide: Azure File Sync Administrator with the least-privilege condition, or Owner):
  1. enable the Storage Sync Service's system-assigned identity;
  2. grant it Storage Account Contributor on each cloud endpoint's storage account;
  3. grant it Storage File Data Privileged Contributor on each cloud endpoint's share;
  4. grant each registered server's identity Storage File Data Privileged Contributor on the shares;
  5. configure the service to use its identity (useIdentity);
  6. configure the servers to use their identity.
Run it again after more servers report an identity. Servers without a system-assigned
identity keep their certificate and the shared key. Servers switch after 'serve
--filesync-identity-switch' (Azure: up to 15 minutes; Cerulean: at once by default).
Prints the Managed identity tiles (as 'cerulean storagesync identity') as JSON.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, id, err := client(cmd)
			if err != nil {
				return err
			}
			t, err := c.EnableIdentity(cmd.Context(), id)
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(t)
		},
	}
	identity := &cobra.Command{
		Use:   "identity",
		Short: "Show the Managed identity tiles: servers ready to use their identity, and using it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, id, err := client(cmd)
			if err != nil {
				return err
			}
			t, err := c.GetTiles(cmd.Context(), id)
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(t)
		},
	}
	flags(enable)
	flags(identity)
	cmd.AddCommand(enable, identity)
	return cmd
}
