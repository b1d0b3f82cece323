package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/spf13/cobra"
)

func rootKeyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "root-key", Short: "Rotate the root key that protects every sealed secret and key"}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the root key; stored secrets and keys stay readable",
		Long: `Replace the root key (root.key in the data folder, or the file named by --root-key-file /
CERULEAN_ROOT_KEY_FILE). The root key only seals the keyring (keyring.json), which holds the
data keys every secret, signing key and Key Vault key is sealed under; rotating re-seals the
keyring under the new root key, so nothing in the store is rewritten and a running server
carries on. Afterwards the old root key opens nothing: destroy its copies and back up the
new one with the data folder.

With --new-key-file FILE the new root key is the 32 bytes in FILE (an operator-supplied key);
without it a random key is generated. The file the server reads is replaced atomically; a
rotation interrupted half-way is finished on the next start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data := dataDir(cmd)
			keyPath, ringPath := instance.RootKeyPath(data), instance.KeyringPath(data)
			if _, err := os.Stat(ringPath); err != nil {
				return fmt.Errorf("no keyring at %s: start the server once (cerulean serve --data %s) before rotating its root key", ringPath, data)
			}
			var newKey []byte
			if f, _ := cmd.Flags().GetString("new-key-file"); f != "" {
				b, err := os.ReadFile(f)
				if err != nil {
					return fmt.Errorf("read --new-key-file: %w", err)
				}
				if len(b) != 32 {
					return fmt.Errorf("--new-key-file %s has %d bytes; a root key is exactly 32 bytes (e.g. head -c 32 /dev/urandom > %s)", f, len(b), f)
				}
				newKey = b
			}
			if err := seal.RotateRootKey(keyPath, ringPath, newKey); err != nil {
				return err
			}
			return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]string{"rootKeyFile": absPath(keyPath), "keyring": absPath(ringPath), "status": "rotated"})
		},
	}
	rotate.Flags().String("new-key-file", "", "use the 32-byte key in this file as the new root key (default: generate one)")
	cmd.AddCommand(rotate)
	return cmd
}
