package main

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/cerulean-azure/cerulean/internal/ntfs"
	"github.com/cerulean-azure/cerulean/internal/providers/authorization"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/spf13/cobra"
)

// wellKnownNames are the names icacls shows for well-known SIDs, and accepts.
var wellKnownNames = map[string]string{
	ntfs.SIDAdministrators: `BUILTIN\Administrators`, ntfs.SIDUsers: `BUILTIN\Users`, ntfs.SIDSystem: `NT AUTHORITY\SYSTEM`,
	ntfs.SIDAuthenticatedUsers: `NT AUTHORITY\Authenticated Users`, ntfs.SIDEveryone: "Everyone",
	ntfs.SIDCreatorOwner: "CREATOR OWNER", ntfs.SIDCreatorGroup: "CREATOR GROUP", ntfs.SIDOwnerRights: "OWNER RIGHTS",
}

func icaclsCmd() *cobra.Command {
	var clientID, clientSecret, key string
	cmd := &cobra.Command{
		Use:   "icacls //<account>/<share>[/<path>] [/grant[:r] who:perm ...] [/deny who:perm ...] [/remove[:g|:d] who ...] [/inheritance:e|d|r] [/setowner who] [/reset] [/T] [/C] [/Q]",
		Short: "Show or change the Windows ACL of a file or directory of an Azure file share, as icacls does",
		Long: `icacls on Cerulean's file shares. Without an edit it lists the ACL; with edits it changes
it as the signed-in caller, who is refused exactly as over SMB: changing the DACL needs
WRITE_DAC after the share-level rights (Storage File Data SMB Share Elevated Contributor, or
the owner's implicit right), /setowner needs WRITE_OWNER (Storage File Data SMB Admin's
takeOwnership) and, to give it to someone else, the restore privilege. Children inherit every
change; /T applies the edits to the whole tree.

The caller is AZURE_CLIENT_ID / AZURE_CLIENT_SECRET (as 'cerulean env' sets them, or
--client-id / --client-secret); --key <storage account key> acts as the account key, the
superuser.

who: a user principal name, display name, object id, app id, group name, a SID (S-1-...,
or *S-1-... as icacls writes it) or a well-known name (Everyone, BUILTIN\Users,
"NT AUTHORITY\Authenticated Users", "CREATOR OWNER", ...).
perm: F, M, RX, R, W, D or a list of specific rights (RD,WD,AD,REA,WEA,X,DC,RA,WA,DE,RC,WDAC,
WO,S,AS,GR,GW,GE,GA), after inheritance flags (OI)(CI)(IO)(NP): "(OI)(CI)M".

Exits 1 when any object failed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			account, share, path, err := authorization.SplitFilePath(args[0])
			if err != nil {
				return err
			}
			in, srv, err := openServer(cmd)
			if err != nil {
				return err
			}
			defer in.Close()
			names := newNameIndex(cmd, in)
			actor, err := icaclsActor(cmd, in, srv.Files, account, clientID, clientSecret, key)
			if err != nil {
				return err
			}
			edit, recurse, quiet, err := parseICACLSEdits(args[1:], names)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if edit == nil {
				sd, _, err := srv.Files.Descriptor(cmd.Context(), actor, account, share, path)
				if err != nil {
					fmt.Fprintf(out, "%s: %v\nSuccessfully processed 0 files; Failed processing 1 files\n", args[0], err)
					return exitStatus("failed")
				}
				printACL(out, "//"+account+"/"+share+"/"+path, sd, names)
				fmt.Fprintln(out, "\nSuccessfully processed 1 files; Failed processing 0 files")
				return nil
			}
			n, fails, err := srv.Files.ChangeACL(cmd.Context(), actor, account, share, path, recurse, edit)
			if err != nil {
				return err
			}
			for _, f := range fails {
				fmt.Fprintf(out, "//%s/%s/%s: %v\n", account, share, f.Path, f.Err)
			}
			if !quiet {
				fmt.Fprintf(out, "processed file: %s\n", args[0])
			}
			fmt.Fprintf(out, "Successfully processed %d files; Failed processing %d files\n", n, len(fails))
			if len(fails) > 0 {
				return exitStatus("failed")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&clientID, "client-id", os.Getenv("AZURE_CLIENT_ID"), "the caller's app (client) id (default $AZURE_CLIENT_ID)")
	cmd.Flags().StringVar(&clientSecret, "client-secret", "", "the caller's client secret (default $AZURE_CLIENT_SECRET)")
	cmd.Flags().StringVar(&key, "key", "", "act as the storage account key (the superuser) instead of a principal")
	return cmd
}

// icaclsActor authenticates the caller: the account key, or a principal's client secret.
func icaclsActor(cmd *cobra.Command, in *instance.Instance, fs *files.Service, account, clientID, secret, key string) (files.Actor, error) {
	if key != "" {
		a, ok := fs.Account(cmd.Context(), account)
		if !ok {
			return files.Actor{}, fmt.Errorf("no storage account %s", account)
		}
		keys, err := files.AccountKeys(in.Barrier, a)
		if err != nil {
			return files.Actor{}, err
		}
		for _, k := range keys {
			if subtle.ConstantTimeCompare([]byte(k), []byte(key)) == 1 {
				return files.Actor{AccountKey: true}, nil
			}
		}
		return files.Actor{}, errors.New("the storage account key or the caller's credentials are not valid")
	}
	if secret == "" {
		secret = os.Getenv("AZURE_CLIENT_SECRET")
	}
	if clientID == "" || secret == "" {
		return files.Actor{}, errors.New("sign in first: set AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (eval \"$(cerulean env)\"), or give --client-id and --client-secret, or --key")
	}
	p, err := resolvePrincipal(cmd, in.Dir, clientID)
	if err == nil {
		err = in.Store.View(cmd.Context(), func(tx store.Tx) error { return in.Dir.CheckClientSecret(tx, p.ObjectID, secret) })
	}
	if err != nil {
		return files.Actor{}, errors.New("the storage account key or the caller's credentials are not valid")
	}
	return files.Actor{Principal: access.Principal{ObjectID: p.ObjectID, Display: p.DisplayName}}, nil
}

// nameIndex resolves who-names to SIDs and SIDs to names.
type nameIndex struct {
	bySID  map[string]string
	byName map[string]string // lower-case name, UPN, object id, app id → SID
}

func newNameIndex(cmd *cobra.Command, in *instance.Instance) *nameIndex {
	ix := &nameIndex{bySID: map[string]string{}, byName: map[string]string{}}
	for sid, name := range wellKnownNames {
		ix.bySID[sid] = name
		ix.byName[strings.ToLower(name)] = sid
		if _, short, ok := strings.Cut(name, `\`); ok {
			ix.byName[strings.ToLower(short)] = sid
		}
	}
	add := func(objectID, display string, alts ...string) {
		sid, err := directory.SID(objectID)
		if err != nil {
			return
		}
		ix.bySID[sid] = display
		for _, n := range append(alts, display, objectID) {
			if n != "" {
				ix.byName[strings.ToLower(n)] = sid
			}
		}
	}
	if ps, err := in.Dir.List(cmd.Context(), false); err == nil {
		for _, p := range ps {
			name := p.DisplayName
			if p.UserPrincipalName != "" {
				name = p.UserPrincipalName
			}
			add(p.ObjectID, name, p.AppID, p.DisplayName)
		}
	}
	if gs, err := in.Dir.Groups(cmd.Context()); err == nil {
		for _, g := range gs {
			add(g.ObjectID, g.DisplayName)
		}
	}
	return ix
}

func (ix *nameIndex) sid(who string) (string, error) {
	w := strings.TrimPrefix(strings.TrimSpace(who), "*")
	if strings.HasPrefix(strings.ToUpper(w), "S-1-") {
		return strings.ToUpper(w), nil
	}
	if sid, ok := ix.byName[strings.ToLower(w)]; ok {
		return sid, nil
	}
	return "", fmt.Errorf("No mapping between account names and security IDs was done: '%s' is not a principal, group or well-known name of this tenant", who)
}

func (ix *nameIndex) name(sid string) string {
	s := ntfs.CanonicalSID(sid)
	if n, ok := ix.bySID[s]; ok {
		return n
	}
	return s
}

func printACL(out io.Writer, path string, sd *ntfs.SecurityDescriptor, names *nameIndex) {
	pad := strings.Repeat(" ", len(path)+1)
	for i, a := range sd.DACL {
		lead := pad
		if i == 0 {
			lead = path + " "
		}
		fmt.Fprintf(out, "%s%s:%s\n", lead, names.name(a.SID), ntfs.FormatPerm(a))
	}
	if len(sd.DACL) == 0 {
		fmt.Fprintf(out, "%s(no entries: nobody but the owner, %s, has access)\n", path+" ", names.name(sd.Owner))
	}
}

// parseICACLSEdits turns icacls arguments into one edit.
func parseICACLSEdits(args []string, names *nameIndex) (files.ACLEdit, bool, bool, error) {
	var edits []files.ACLEdit
	recurse, quiet := false, false
	for i := 0; i < len(args); i++ {
		op := strings.ToLower(args[i])
		next := func() (string, error) {
			if i+1 >= len(args) || strings.HasPrefix(args[i+1], "/") {
				return "", fmt.Errorf("%s needs an argument", args[i])
			}
			i++
			return args[i], nil
		}
		switch {
		case op == "/t":
			recurse = true
		case op == "/c":
		case op == "/q":
			quiet = true
		case op == "/grant" || op == "/grant:r" || op == "/deny":
			for i+1 < len(args) && !strings.HasPrefix(args[i+1], "/") {
				i++
				who, perm, ok := strings.Cut(args[i], ":")
				if !ok {
					return nil, false, false, fmt.Errorf("'%s': use who:perm, e.g. user@contoso.com:(OI)(CI)M", args[i])
				}
				sid, err := names.sid(who)
				if err != nil {
					return nil, false, false, err
				}
				flags, mask, err := ntfs.ParsePerm(perm)
				if err != nil {
					return nil, false, false, err
				}
				replace, deny := op == "/grant:r", op == "/deny"
				edits = append(edits, func(sd, _ *ntfs.SecurityDescriptor, _ bool) error {
					if deny {
						ntfs.Deny(sd, sid, flags, mask)
					} else {
						ntfs.Grant(sd, sid, flags, mask, replace)
					}
					return nil
				})
			}
		case op == "/remove" || op == "/remove:g" || op == "/remove:d":
			which := strings.TrimPrefix(strings.TrimPrefix(op, "/remove"), ":")
			for i+1 < len(args) && !strings.HasPrefix(args[i+1], "/") {
				i++
				sid, err := names.sid(args[i])
				if err != nil {
					return nil, false, false, err
				}
				edits = append(edits, func(sd, _ *ntfs.SecurityDescriptor, _ bool) error { ntfs.Remove(sd, sid, which); return nil })
			}
		case strings.HasPrefix(op, "/inheritance:"):
			mode := strings.TrimPrefix(op, "/inheritance:")
			edits = append(edits, func(sd, parent *ntfs.SecurityDescriptor, dir bool) error {
				return ntfs.SetInheritance(sd, parent, mode, dir)
			})
		case op == "/setowner":
			who, err := next()
			if err != nil {
				return nil, false, false, err
			}
			sid, err := names.sid(who)
			if err != nil {
				return nil, false, false, err
			}
			edits = append(edits, func(sd, _ *ntfs.SecurityDescriptor, _ bool) error { sd.Owner = sid; return nil })
		case op == "/reset":
			edits = append(edits, func(sd, parent *ntfs.SecurityDescriptor, dir bool) error { ntfs.Reset(sd, parent, dir); return nil })
		default:
			return nil, false, false, fmt.Errorf("'%s' is not an icacls option this command knows (/grant[:r], /deny, /remove[:g|:d], /inheritance:e|d|r, /setowner, /reset, /T, /C, /Q)", args[i])
		}
	}
	if len(edits) == 0 {
		return nil, recurse, quiet, nil
	}
	return func(sd, parent *ntfs.SecurityDescriptor, dir bool) error {
		for _, e := range edits {
			if err := e(sd, parent, dir); err != nil {
				return err
			}
		}
		return nil
	}, recurse, quiet, nil
}
