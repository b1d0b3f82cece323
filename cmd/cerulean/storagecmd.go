package main

import (
	"fmt"
	"syscall"

	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/spf13/cobra"
)

func storageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "storage", Short: "Operate the storage accounts of a running server"}
	poll := &cobra.Command{
		Use:   "poll-keys",
		Short: "Make the running server look for new customer key versions now",
		Long: `Storage accounts with a customer-managed key and automatic key version updating (an
empty keyversion) move to the key's latest version on a schedule (--key-poll-interval,
Azure: daily). This makes the running server do it now: each such account re-wraps its data
key under the latest version (content is not re-encrypted) and reports it in
encryption.keyvaultproperties.currentVersionedKeyIdentifier.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := instance.ReadState(dataDir(cmd))
			if err != nil {
				return err
			}
			if err := syscall.Kill(st.PID, syscall.SIGUSR1); err != nil {
				return fmt.Errorf("signal the server (pid %d): %w; is 'cerulean serve --data %s' running?", st.PID, err, dataDir(cmd))
			}
			fmt.Fprintln(cmd.OutOrStdout(), "key poll requested")
			return nil
		},
	}
	cmd.AddCommand(poll)
	return cmd
}
