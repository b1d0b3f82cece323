package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/cerulean-azure/cerulean/internal/agent"
	"github.com/spf13/cobra"
)

func agentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "agent", Short: "Azure File Sync's agent: register this machine as a server and sync its folders",
		Long: `The server side of Azure File Sync on this machine (seed 000): a state folder holds the
registered server's identity (its certificate and key), a folder stands for the server's
volume, and 'agent run' syncs each of the server's endpoints with its sync group's file share.
The machine is the Azure VM or Arc-enabled server whose managed-identity endpoint the
environment names ('eval "$(cerulean env --resource <vm or arc machine id>)"'); once the
Storage Sync Service has the server use that identity ('cerulean storagesync
enable-identity'), the agent authenticates with it instead of its certificate and the key.`}
	var state string
	cmd.PersistentFlags().StringVar(&state, "state", "./cerulean-agent", "the registered server's state folder (its identity and sync journal)")

	var service, name, armEndpoint string
	register := &cobra.Command{
		Use:   "register",
		Short: "Register this machine with a Storage Sync Service (as the signed-in caller)",
		Long: `Register a server with a Storage Sync Service: a key and certificate are made in --state,
and the server is registered through Resource Manager as the signed-in caller (AZURE_CLIENT_ID,
AZURE_CLIENT_SECRET, AZURE_TENANT_ID and AZURE_AUTHORITY_HOST, as 'cerulean env' sets them),
so the caller's roles decide (Azure File Sync Administrator, Owner or Contributor on the
service). It reports agent version ` + agent.Version + ` and, when the machine has a managed identity,
that identity (the service shows it as latestApplicationId).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if service == "" || name == "" {
				return errors.New("give --service <Storage Sync Service resource id> and --name <server name>")
			}
			base := armEndpoint
			if base == "" {
				base = os.Getenv("CERULEAN_ARM_ENDPOINT")
			}
			if base == "" {
				return errors.New("no Resource Manager endpoint: eval \"$(cerulean env)\" first, or give --arm-endpoint")
			}
			cred, err := signedInCaller()
			if err != nil {
				return err
			}
			hc := http.DefaultClient
			st, err := agent.Register(cmd.Context(), hc, strings.TrimRight(base, "/"), cred, service, name, state, agent.MachineIdentity(cmd.Context(), hc))
			if err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]string{"serverId": st.ServerID, "resourceId": st.ResourceID,
				"managementEndpoint": st.ManagementEndpoint, "state": st.Dir})
		},
	}
	register.Flags().StringVar(&service, "service", "", "the Storage Sync Service's resource id")
	register.Flags().StringVar(&name, "name", "", "the server's name (conflict copies carry it)")
	register.Flags().StringVar(&armEndpoint, "arm-endpoint", "", "Resource Manager's endpoint (default $CERULEAN_ARM_ENDPOINT)")

	var once bool
	var interval time.Duration
	run := &cobra.Command{
		Use:   "run",
		Short: "Sync the server's endpoints (until stopped, or --once)",
		Long: `Heartbeat, read the server's endpoints from its Storage Sync Service and sync each folder
with its share both ways: changes on either side are carried to the other, deletions too,
conflicting changes kept as both versions (<name>-<server>[-N].<ext>), security descriptors
(the user.cerulean.sddl attribute) carried with files. A durable journal in --state lets a
killed agent resume without losing or duplicating anything. Failures back off and are
retried; 'cerulean agent status' shows them.`,
		Args: cobra.NoArgs,
		RunE: withAgent(&state, func(cmd *cobra.Command, a *agent.Agent) error {
			out := cmd.ErrOrStderr()
			a.Progress = func(ep string, done, total int) {
				if total >= 1000 {
					fmt.Fprintf(out, "\r%s: %d/%d items", ep[strings.LastIndex(ep, "/")+1:], done, total)
					if done == total {
						fmt.Fprintln(out)
					}
				}
			}
			show := func(st agent.Status, err error) {
				if err != nil {
					fmt.Fprintf(out, "%s sync: %v\n", time.Now().Format(time.TimeOnly), err)
					return
				}
				for _, e := range st.Endpoints {
					r := e.Result
					renamed := ""
					if r.Renamed > 0 {
						renamed = fmt.Sprintf(", renamed %d", r.Renamed)
					}
					if r.Resumed > 0 {
						renamed += fmt.Sprintf(", resumed %d", r.Resumed)
					}
					fmt.Fprintf(out, "%s %s (%s): up %d, down %d, deleted %d/%d, conflicts %d, errors %d%s%s\n", time.Now().Format(time.TimeOnly),
						e.Path, st.AuthType, r.Uploaded, r.Downloaded, r.DeletedRemote, r.DeletedLocal, r.Conflicts, len(r.Errors), renamed, errSuffix(e.Error))
				}
			}
			if once {
				st, err := a.RunOnce(cmd.Context())
				show(st, err)
				if err != nil {
					return err
				}
				for _, e := range st.Endpoints {
					if e.Error != "" {
						return exitStatus("an endpoint did not sync")
					}
				}
				return nil
			}
			err := a.Run(cmd.Context(), interval, show)
			if errors.Is(err, cmd.Context().Err()) {
				return nil
			}
			return err
		}),
	}
	run.Flags().BoolVar(&once, "once", false, "sync once and exit (status 1 when an endpoint failed)")
	run.Flags().DurationVar(&interval, "interval", 10*time.Second, "how often to sync (Azure detects share changes once a day; the server side at once)")

	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the server's auth type, each endpoint's last sync, pending items and errors",
		Args:  cobra.NoArgs,
		RunE: withAgent(&state, func(cmd *cobra.Command, a *agent.Agent) error {
			st, err := a.LastStatus(cmd.Context())
			if err != nil {
				return errors.New("the agent has not run yet: 'cerulean agent run'")
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(st)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
			fmt.Fprintf(w, "server\t%s (%s)\nauth\t%s\nheartbeat\t%s\n", st.Server, st.ServerID, st.AuthType, st.LastHeartbeat.Format(time.RFC3339))
			if st.Error != "" {
				fmt.Fprintf(w, "error\t%s\n", st.Error)
			}
			for _, e := range st.Endpoints {
				fmt.Fprintf(w, "\nendpoint\t%s\nfolder\t%s\nshare\t%s (%s)\nlast sync\t%s\nlast success\t%s\npending\t%d\n", e.ID, e.Path, e.Share, e.ShareAuth,
					e.LastSync.Format(time.RFC3339), e.LastSuccess.Format(time.RFC3339), e.Result.Pending)
				if e.Error != "" {
					fmt.Fprintf(w, "error\t%s\n", e.Error)
				}
				for _, ie := range e.Result.Errors {
					fmt.Fprintf(w, "  not synced\t%s: %s\n", ie.Path, ie.Error)
				}
			}
			return w.Flush()
		}),
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(register, run, status)
	return cmd
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return "; " + e
}

// withAgent runs fn with the agent of the server registered in *state.
func withAgent(state *string, fn func(*cobra.Command, *agent.Agent) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		a, err := agent.Open(cmd.Context(), *state, http.DefaultClient)
		if err != nil {
			return err
		}
		defer a.Close()
		return fn(cmd, a)
	}
}

// signedInCaller is the caller 'cerulean env' signs in (AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
// AZURE_TENANT_ID, AZURE_AUTHORITY_HOST), for commands that act through Resource Manager.
func signedInCaller() (azcore.TokenCredential, error) {
	cred, err := azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{
		ClientOptions: azcore.ClientOptions{Transport: http.DefaultClient}, DisableInstanceDiscovery: true})
	if err != nil {
		return nil, fmt.Errorf("sign in first (eval \"$(cerulean env)\" sets AZURE_CLIENT_ID and AZURE_CLIENT_SECRET): %w", err)
	}
	return cred, nil
}
