package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/spf13/cobra"
)

func groupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Manage the tenant's security groups",
		Long: `Security groups hold users, service principals, managed identities and other groups.
A role assignment to a group (principalType Group) applies to every member, through nested
groups too. Groups are also served as Microsoft Graph's /v1.0/groups (members via $ref).`}
	// withDir opens the instance and runs fn in one write transaction.
	withDir := func(cmd *cobra.Command, fn func(d *directory.Directory, tx store.Tx) error) error {
		in, err := instance.Open(cmd.Context(), dataDir(cmd))
		if err != nil {
			return err
		}
		defer in.Close()
		return in.Store.Update(cmd.Context(), func(tx store.Tx) error { return fn(in.Dir, tx) })
	}
	printGroup := func(cmd *cobra.Command, g directory.Group) error {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(g)
	}

	var description string
	create := &cobra.Command{
		Use:   "create <display-name>",
		Short: "Create a security group and print it as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var g directory.Group
			if err := withDir(cmd, func(d *directory.Directory, tx store.Tx) error {
				var err error
				g, err = d.CreateGroupTx(tx, directory.Group{DisplayName: args[0], Description: description})
				return err
			}); err != nil {
				return err
			}
			return printGroup(cmd, g)
		},
	}
	create.Flags().StringVar(&description, "description", "", "the group's description")

	list := &cobra.Command{
		Use: "list", Short: "List groups with their direct member counts", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var gs []directory.Group
			if err := withDir(cmd, func(_ *directory.Directory, tx store.Tx) error {
				var err error
				gs, err = directory.ListGroupsTx(tx)
				return err
			}); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "OBJECT ID\tDISPLAY NAME\tMEMBERS")
			for _, g := range gs {
				fmt.Fprintf(tw, "%s\t%s\t%d\n", g.ObjectID, g.DisplayName, len(g.Members))
			}
			return tw.Flush()
		},
	}

	show := &cobra.Command{
		Use: "show <group>", Short: "Print a group (by object id or display name) as JSON", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var g directory.Group
			if err := withDir(cmd, func(d *directory.Directory, tx store.Tx) error {
				var err error
				g, err = d.FindGroupTx(tx, args[0])
				return err
			}); err != nil {
				return groupErr(args[0], err)
			}
			return printGroup(cmd, g)
		},
	}

	del := &cobra.Command{
		Use: "delete <group>", Short: "Delete a group (its role assignments stop applying)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var name string
			err := groupErr(args[0], withDir(cmd, func(d *directory.Directory, tx store.Tx) error {
				g, err := d.FindGroupTx(tx, args[0])
				if err != nil {
					return err
				}
				name = g.DisplayName + " (" + g.ObjectID + ")"
				return d.DeleteGroupTx(tx, g.ObjectID)
			}))
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "deleted group %s\n", name)
			}
			return err
		},
	}

	member := &cobra.Command{Use: "member", Short: "Add or remove a group's direct members"}
	for _, add := range []bool{true, false} {
		add := add
		use, short := "remove <group> <member-object-id>", "Remove a direct member"
		if add {
			use, short = "add <group> <member-object-id>", "Add a user, service principal, managed identity or group"
		}
		member.AddCommand(&cobra.Command{
			Use: use, Short: short, Args: cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				var name string
				err := groupErr(args[0], withDir(cmd, func(d *directory.Directory, tx store.Tx) error {
					g, err := d.FindGroupTx(tx, args[0])
					if err != nil {
						return err
					}
					name = g.DisplayName + " (" + g.ObjectID + ")"
					if add {
						return d.AddMemberTx(tx, g.ObjectID, args[1])
					}
					return d.RemoveMemberTx(tx, g.ObjectID, args[1])
				}))
				if err == nil {
					if add {
						fmt.Fprintf(cmd.OutOrStdout(), "added %s to group %s; its role assignments now apply to it\n", args[1], name)
					} else {
						fmt.Fprintf(cmd.OutOrStdout(), "removed %s from group %s\n", args[1], name)
					}
				}
				return err
			},
		})
	}
	cmd.AddCommand(create, list, show, del, member)
	return cmd
}

// groupErr says what to do next for the directory's group errors.
func groupErr(ref string, err error) error {
	switch {
	case errors.Is(err, directory.ErrGroupNotFound):
		return fmt.Errorf("no group %q: list groups with 'cerulean group list'", ref)
	case errors.Is(err, directory.ErrMemberNotFound):
		return fmt.Errorf("%w: give the object id of a live user, service principal, managed identity or group ('cerulean sp list', 'cerulean group list')", err)
	}
	return err
}
