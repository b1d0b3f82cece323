package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/cerulean-azure/cerulean/internal/smb"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/spf13/cobra"
)

func smbCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "smb", Short: "SMB logins of directory principals (for 'serve --smb')"}
	var user, password string
	login := &cobra.Command{
		Use:   "login <object-id|app-id>",
		Short: "Give a principal an SMB user name and password (printed as JSON)",
		Long: `Give a directory principal an SMB login. Over SMB it then acts as that principal: its
Storage File Data SMB roles at a share and its SID (and its groups' SIDs) in the Windows ACLs
decide what it may do, as seed 004 describes (Azure takes Kerberos tickets from Entra or AD
instead; on one machine an NTLM login bound to the principal stands in for them). A running
'serve --smb' picks the login up within seconds:
  smbclient //127.0.0.1/<account>.<share> -p 4450 -U '<user>%<password>'
--user defaults to the principal's display name in lower case; the password is generated
unless given. Running it again replaces the password.`,
		Args: cobra.ExactArgs(1),
		RunE: withPrincipal(func(cmd *cobra.Command, in *instance.Instance, p directory.Principal) error {
			u := user
			if u == "" {
				u = strings.Trim(regexp.MustCompile(`[^a-z0-9_.-]+`).ReplaceAllString(strings.ToLower(p.DisplayName), "-"), "-.")
				if u == "" || !strings.ContainsAny(u[:1], "abcdefghijklmnopqrstuvwxyz_") {
					u = "p_" + u
				}
				if len(u) > 32 {
					u = u[:32]
				}
			}
			pw := password
			if pw == "" {
				b := make([]byte, 18)
				if _, err := rand.Read(b); err != nil {
					return err
				}
				pw = base64.RawURLEncoding.EncodeToString(b)
			}
			if err := in.Store.Update(cmd.Context(), func(tx store.Tx) error {
				return smb.SetLoginTx(tx, in.Barrier, p.ObjectID, u, pw)
			}); err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]string{"user": u, "password": pw, "objectId": p.ObjectID})
		}),
	}
	login.Flags().StringVar(&user, "user", "", "the SMB user name (default: the display name in lower case)")
	login.Flags().StringVar(&password, "password", "", "the password (default: generated)")
	logout := &cobra.Command{
		Use:   "logout <object-id|app-id>",
		Short: "Remove a principal's SMB login",
		Args:  cobra.ExactArgs(1),
		RunE: withPrincipal(func(cmd *cobra.Command, in *instance.Instance, p directory.Principal) error {
			return in.Store.Update(cmd.Context(), func(tx store.Tx) error { return smb.DeleteLoginTx(tx, p.ObjectID) })
		}),
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the SMB logins (user names and principals, no passwords)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := instance.Open(cmd.Context(), dataDir(cmd))
			if err != nil {
				return err
			}
			defer in.Close()
			return in.Store.View(cmd.Context(), func(tx store.Tx) error {
				ls, err := smb.LoginsTx(tx)
				for _, l := range ls {
					fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", l.User, l.ObjectID)
				}
				return err
			})
		},
	}
	cmd.AddCommand(login, logout, list)
	return cmd
}

// withPrincipal runs f with the data folder opened and the principal named by the command's
// one argument (object id or app id) resolved.
func withPrincipal(f func(cmd *cobra.Command, in *instance.Instance, p directory.Principal) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		in, err := instance.Open(cmd.Context(), dataDir(cmd))
		if err != nil {
			return err
		}
		defer in.Close()
		p, err := resolvePrincipal(cmd, in.Dir, args[0])
		if err != nil {
			return err
		}
		return f(cmd, in, p)
	}
}
