package main

import (
	"encoding/json"

	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/cerulean-azure/cerulean/internal/sts"
	"github.com/spf13/cobra"
)

func signingKeyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "signing-key", Short: "Inspect and rotate the token-signing keys (RS256, published in JWKS)"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the current and previous signing keys as JSON",
		Args:  cobra.NoArgs,
		RunE:  withKeys(func(*cobra.Command, *sts.Service) error { return nil }),
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new current signing key; the old one stays in JWKS as the previous key",
		Long: `Make a new current signing key. Tokens signed by the previous key keep verifying until
they expire (JWKS publishes current and previous); a key older than the previous one is
removed, so tokens it signed are refused from then on. A running server picks the new key up
within 10 seconds. Prints the keys after the rotation.`,
		Args: cobra.NoArgs,
		RunE: withKeys(func(cmd *cobra.Command, s *sts.Service) error { return s.RotateSigningKey(cmd.Context()) }),
	}
	cmd.AddCommand(list, rotate)
	return cmd
}

// withKeys opens the data folder's token service, runs do, and prints the signing keys.
func withKeys(do func(*cobra.Command, *sts.Service) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		in, err := instance.Open(cmd.Context(), dataDir(cmd))
		if err != nil {
			return err
		}
		defer in.Close()
		s, err := sts.New(cmd.Context(), in.Dir, in.Store, in.Barrier, in.RootKey, sts.DefaultSettings())
		if err != nil {
			return err
		}
		if err := do(cmd, s); err != nil {
			return err
		}
		return json.NewEncoder(cmd.OutOrStdout()).Encode(s.SigningKeys())
	}
}
