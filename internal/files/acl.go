package files

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/ntfs"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Identity-based access (seed 004): a principal reaching a share over SMB is gated twice,
// by its share-level rights (the data actions of the Storage File Data SMB roles at the
// share) and by the Windows ACL of the file or directory; the more restrictive wins. This
// file computes that answer, for the SMB path and for explain.

// Data actions that make up share-level rights.
const (
	actionModifyPermissions = "Microsoft.Storage/storageAccounts/fileServices/fileshares/files/modifypermissions/action"
	actionTakeOwnership     = "Microsoft.Storage/storageAccounts/fileServices/takeOwnership/action"
)

// ShareGrant is one share-level data action and what granted it.
type ShareGrant struct {
	Action string `json:"action"`
	// Role and Scope name the granting assignment's role and where it was assigned; empty
	// when the action is not granted.
	Role  string `json:"role,omitempty"`
	Scope string `json:"scope,omitempty"`
}

// ACEInfo is an ACE that settled rights for the principal.
type ACEInfo struct {
	ACE     string `json:"ace"`     // the ACE in SDDL
	Effect  string `json:"effect"`  // "allow" or "deny"
	Rights  string `json:"rights"`  // the rights it settled, icacls style
	Source  string `json:"source"`  // "explicit", or the path it is inherited from
	Matched string `json:"matched"` // the SID in the caller's token it matched
}

// Access is what a principal may do on one file or directory through identity-based access,
// and why.
type Access struct {
	Path          string       `json:"path"` // //<account>/<share>/<path>
	Principal     string       `json:"principalId"`
	SID           string       `json:"sid"`
	Rights        string       `json:"rights"`      // effective, icacls style
	Mask          uint32       `json:"mask"`        // effective access mask
	ACLRights     string       `json:"aclRights"`   // what the ACL alone grants
	ShareRights   string       `json:"shareRights"` // what the share level alone allows
	Share         []ShareGrant `json:"shareLevel"`
	Owner         string       `json:"owner"`
	OwnerImplicit bool         `json:"ownerImplicitRights,omitempty"`
	ACEs          []ACEInfo    `json:"aces,omitempty"`
	Descriptor    string       `json:"descriptor"`
	// KeyState is "usable" or why the account's data key cannot be used (every data
	// operation then fails, whatever the rights say).
	KeyState string `json:"keyState"`
	Reason   string `json:"reason"`
}

// shareRights works out a principal's share-level rights from its role assignments, with
// the assignment behind each granted action.
func (s *Service) shareRights(ctx context.Context, p access.Principal, a Account, share string) (ntfs.ShareRights, []ShareGrant, error) {
	scope := a.ResourceID + "/fileServices/default/fileshares/" + share
	var r ntfs.ShareRights
	var grants []ShareGrant
	for _, x := range []struct {
		action string
		to     *bool
	}{{actionRead, &r.Read}, {actionWrite, &r.Write}, {actionDelete, &r.Delete}, {actionModifyPermissions, &r.ModifyPermissions},
		{actionReadBackup, &r.BackupRead}, {actionWriteBackup, &r.BackupWrite}, {actionTakeOwnership, &r.TakeOwnership}} {
		d, err := s.gate.Evaluate(ctx, access.Request{Principal: p, Action: x.action, DataAction: true, Scope: scope})
		if err != nil {
			return r, nil, err
		}
		g := ShareGrant{Action: x.action}
		if d.Allowed {
			*x.to = true
			g.Role, g.Scope = d.Role, d.Assignment.Scope
		}
		grants = append(grants, g)
	}
	return r, grants, nil
}

// tokenFor is the Windows token of a principal: its SID and its groups' SIDs.
func (s *Service) tokenFor(ctx context.Context, p access.Principal) (*ntfs.Token, error) {
	sid, gsids, err := s.sids(ctx, p)
	if err != nil {
		return nil, err
	}
	return ntfs.NewToken(sid, gsids...), nil
}

// sids is a principal's SID and the SIDs of the groups it is in, nested ones too.
func (s *Service) sids(ctx context.Context, p access.Principal) (string, []string, error) {
	sid, err := directory.SID(p.ObjectID)
	if err != nil {
		return "", nil, azerr.BadRequest("InvalidPrincipal", "'%s' is not an object id with a SID.", p.ObjectID)
	}
	groups, err := s.gate.Groups(ctx, p)
	if err != nil {
		return "", nil, err
	}
	gsids := make([]string, 0, len(groups))
	for _, g := range groups {
		if gs, err := directory.SID(g); err == nil {
			gsids = append(gsids, gs)
		}
	}
	return sid, gsids, nil
}

// AccessFor answers what principal p may do on account/share/path (path "" is the share's
// root) through identity-based access, and why.
func (s *Service) AccessFor(ctx context.Context, p access.Principal, account, share, path string) (Access, error) {
	out := Access{Path: "//" + account + "/" + share + "/" + path, Principal: p.ObjectID}
	a, ok := s.Account(ctx, account)
	if !ok {
		return out, azerr.NotFound("AccountNotFound", "The storage account '%s' does not exist.", account)
	}
	if path != "" {
		if err := ValidPath(path); err != nil {
			return out, err
		}
	}
	var chain []string // SDDL of the object, then of each ancestor up to the root
	err := s.st.View(ctx, func(tx store.Tx) error {
		for p := path; ; p = parentPath(p) {
			n, err := getNodeTx(tx, a.Name, share, p)
			if err != nil {
				return err
			}
			sddl, err := getPermissionTx(tx, a.Name, share, n.PermissionKey)
			if err != nil {
				return err
			}
			chain = append(chain, sddl)
			if p == "" {
				return nil
			}
		}
	})
	if err != nil {
		return out, err
	}
	tok, err := s.tokenFor(ctx, p)
	if err != nil {
		return out, err
	}
	out.SID = tok.User
	sr, grants, err := s.shareRights(ctx, p, a, share)
	if err != nil {
		return out, err
	}
	out.Share = grants
	sd, err := ntfs.Parse(chain[0])
	if err != nil {
		return out, err
	}
	c, err := ntfs.Compile(sd)
	if err != nil {
		return out, err
	}
	out.Descriptor, out.Owner = chain[0], c.Owner()
	acl := c.MaximumAllowed(tok)
	out.Mask = ntfs.Effective(c, tok, sr)
	out.Rights, out.ACLRights, out.ShareRights = ntfs.RightsNames(out.Mask), ntfs.RightsNames(acl), ntfs.RightsNames(sr.Mask())
	effects, implicit := c.Explain(tok)
	out.OwnerImplicit = implicit
	for _, e := range effects {
		ace := sd.DACL[e.Index]
		info := ACEInfo{ACE: ace.String(), Effect: "allow", Rights: ntfs.RightsNames(e.Rights), Source: "explicit", Matched: e.SID}
		if e.Deny {
			info.Effect = "deny"
		}
		if from := inheritedFrom(ace, path, chain); from != "" {
			info.Source = "inherited from //" + account + "/" + share + "/" + from
		}
		out.ACEs = append(out.ACEs, info)
	}
	out.KeyState = "usable"
	if _, err := s.dataKey(ctx, a); err != nil {
		out.KeyState = azerr.From(err).Code + ": " + azerr.From(err).Message
	}
	out.Reason = accessReason(out, sr, acl)
	return out, nil
}

// inheritedFrom finds where an ACE of the object came from: walking up, the highest ancestor
// in an unbroken line of ancestors that hold it as an inheritable ACE (the same type, rights
// and SID, container- or object-inherit). "" when no parent passes it down: it is explicit.
func inheritedFrom(ace ntfs.ACE, path string, chain []string) string {
	from, p := "", path
	for _, sddl := range chain[1:] {
		p = parentPath(p)
		sd, err := ntfs.Parse(sddl)
		if err != nil {
			break
		}
		found := false
		for _, pa := range sd.DACL {
			inheritable := strings.Contains(pa.Flags, "OI") || strings.Contains(pa.Flags, "CI")
			if inheritable && pa.Type == ace.Type && ntfs.CanonicalSID(pa.SID) == ntfs.CanonicalSID(ace.SID) && sameRights(pa.Rights, ace.Rights) {
				found = true
				break
			}
		}
		if !found {
			break
		}
		from = p
		if p == "" {
			from = "(root)"
		}
	}
	return from
}

func sameRights(a, b string) bool {
	x, err1 := ntfs.RightsMask(a)
	y, err2 := ntfs.RightsMask(b)
	return err1 == nil && err2 == nil && ntfs.MapGeneric(x) == ntfs.MapGeneric(y)
}

func accessReason(out Access, sr ntfs.ShareRights, acl uint32) string {
	switch {
	case out.KeyState != "usable":
		return "the account's customer-managed key cannot be used: every data operation fails (" + out.KeyState + ")"
	case sr.Mask() == 0:
		return "no share-level permission: no role at the share grants a Storage File Data SMB data action, so access is denied whatever the ACL says"
	case acl == 0 && !sr.TakeOwnership:
		return "the ACL grants this principal nothing (no ACE matches its SID, its groups or the well-known SIDs it holds)"
	case out.Mask == 0:
		return "the share level and the ACL have no right in common"
	}
	return fmt.Sprintf("effective rights are what both allow: the ACL grants %s, the share level allows %s", ntfs.RightsNames(acl), ntfs.RightsNames(sr.Mask()))
}

// Actor is who reads or changes a descriptor through identity-based access: a principal,
// checked against its share-level rights and the ACL, or the storage account key, the
// superuser.
type Actor struct {
	Principal  access.Principal
	AccountKey bool
}

// actorRights is what an actor may do on an object with descriptor sd.
type actorRights struct {
	tok   *ntfs.Token
	share ntfs.ShareRights
	sid   string
}

func (s *Service) rightsFor(ctx context.Context, actor Actor, a Account, share string) (actorRights, error) {
	if actor.AccountKey {
		return actorRights{share: ntfs.ShareRights{AccountKey: true}}, nil
	}
	tok, err := s.tokenFor(ctx, actor.Principal)
	if err != nil {
		return actorRights{}, err
	}
	sr, _, err := s.shareRights(ctx, actor.Principal, a, share)
	return actorRights{tok: tok, share: sr, sid: tok.User}, err
}

func (r actorRights) on(sd *ntfs.SecurityDescriptor) (uint32, error) {
	if r.share.AccountKey {
		return ntfs.FileAllAccess | ntfs.AccessSystemSecurity, nil
	}
	c, err := ntfs.Compile(sd)
	if err != nil {
		return 0, err
	}
	return r.onCompiled(c), nil
}

func (r actorRights) onCompiled(c *ntfs.Compiled) uint32 {
	if r.share.AccountKey {
		return ntfs.FileAllAccess | ntfs.AccessSystemSecurity
	}
	return ntfs.Effective(c, r.tok, r.share)
}

// compiledCache holds descriptors compiled for access checks, keyed by their SDDL: the text
// fully determines the compiled form, so the cache can only ever answer for the same
// descriptor (it is never more lenient); it is bounded by dropping everything when full.
type compiledCache struct {
	mu sync.Mutex
	m  map[string]*ntfs.Compiled
}

const compiledCacheMax = 4096

// compiled returns the access-check form of a descriptor's SDDL.
func (s *Service) compiled(sddl string) (*ntfs.Compiled, error) {
	s.compiledDescs.mu.Lock()
	c, ok := s.compiledDescs.m[sddl]
	s.compiledDescs.mu.Unlock()
	if ok {
		return c, nil
	}
	sd, err := ntfs.Parse(sddl)
	if err != nil {
		return nil, err
	}
	if c, err = ntfs.Compile(sd); err != nil {
		return nil, err
	}
	s.compiledDescs.mu.Lock()
	if s.compiledDescs.m == nil || len(s.compiledDescs.m) >= compiledCacheMax {
		s.compiledDescs.m = map[string]*ntfs.Compiled{}
	}
	s.compiledDescs.m[sddl] = c
	s.compiledDescs.mu.Unlock()
	return c, nil
}

// PathError is one object an ACL change could not be made on.
type PathError struct {
	Path string
	Err  error
}

func accessDenied(path, what string) error {
	return azerr.Forbidden("AccessDenied", "Access is denied: %s needs %s on //%s.", "the change", what, path)
}

// Descriptor returns the security descriptor of account/share/path as actor sees it: reading
// it needs READ_CONTROL.
func (s *Service) Descriptor(ctx context.Context, actor Actor, account, share, path string) (*ntfs.SecurityDescriptor, bool, error) {
	a, ok := s.Account(ctx, account)
	if !ok {
		return nil, false, azerr.NotFound("AccountNotFound", "The storage account '%s' does not exist.", account)
	}
	if _, err := s.dataKey(ctx, a); err != nil {
		return nil, false, err
	}
	r, err := s.rightsFor(ctx, actor, a, share)
	if err != nil {
		return nil, false, err
	}
	var sd *ntfs.SecurityDescriptor
	var dir bool
	err = s.st.View(ctx, func(tx store.Tx) error {
		n, err := getNodeTx(tx, a.Name, share, path)
		if err != nil {
			return err
		}
		dir = n.Dir
		sd, err = nodeDescriptorTx(tx, a.Name, share, n)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if m, err := r.on(sd); err != nil {
		return nil, false, err
	} else if m&ntfs.ReadControl == 0 {
		return nil, false, accessDenied(account+"/"+share+"/"+path, "READ_CONTROL")
	}
	return sd, dir, nil
}

func nodeDescriptorTx(tx store.Tx, account, share string, n Node) (*ntfs.SecurityDescriptor, error) {
	sddl, err := getPermissionTx(tx, account, share, n.PermissionKey)
	if err != nil {
		return nil, err
	}
	return ntfs.Parse(sddl)
}

// ACLEdit changes one descriptor; parent is the parent directory's (nil for the root).
type ACLEdit func(sd, parent *ntfs.SecurityDescriptor, dir bool) error

// ChangeACL applies edit to account/share/path, and with recurse (icacls /T) to everything
// below it, as actor: a changed DACL needs WRITE_DAC, a changed owner WRITE_OWNER, and giving
// the ownership to someone else the restore privilege (writeFileBackupSemantics) or the account
// key. Every change reaches the children through inheritance (each of them needs WRITE_DAC
// too, as on Windows); objects the actor may not change are reported, not fatal. It returns
// how many objects were processed.
func (s *Service) ChangeACL(ctx context.Context, actor Actor, account, share, path string, recurse bool, edit ACLEdit) (int, []PathError, error) {
	a, ok := s.Account(ctx, account)
	if !ok {
		return 0, nil, azerr.NotFound("AccountNotFound", "The storage account '%s' does not exist.", account)
	}
	if _, err := s.dataKey(ctx, a); err != nil {
		return 0, nil, err
	}
	r, err := s.rightsFor(ctx, actor, a, share)
	if err != nil {
		return 0, nil, err
	}
	targets := []string{path}
	if recurse {
		if err := s.st.View(ctx, func(tx store.Tx) error {
			var walk func(p string) error
			walk = func(p string) error {
				kids, err := childrenTx(tx, a.Name, share, p)
				for _, k := range kids {
					targets = append(targets, k.Path)
					if k.Dir {
						if err := walk(k.Path); err != nil {
							return err
						}
					}
				}
				return err
			}
			return walk(path)
		}); err != nil {
			return 0, nil, err
		}
	}
	var failures []PathError
	processed := 0
	for _, t := range targets {
		var fails []PathError
		err := s.st.Update(ctx, func(tx store.Tx) error {
			var err error
			fails, err = s.changeOneTx(tx, r, a, share, t, edit)
			return err
		})
		if err != nil {
			failures = append(failures, PathError{t, err})
			continue
		}
		processed++
		failures = append(failures, fails...)
	}
	return processed, failures, nil
}

// changeOneTx edits one object's descriptor and lets its subtree inherit the change.
func (s *Service) changeOneTx(tx store.Tx, r actorRights, a Account, share, path string, edit ACLEdit) ([]PathError, error) {
	n, err := getNodeTx(tx, a.Name, share, path)
	if err != nil {
		return nil, err
	}
	cur, err := nodeDescriptorTx(tx, a.Name, share, n)
	if err != nil {
		return nil, err
	}
	var parent *ntfs.SecurityDescriptor
	if path != "" {
		pn, err := getNodeTx(tx, a.Name, share, parentPath(path))
		if err != nil {
			return nil, err
		}
		if parent, err = nodeDescriptorTx(tx, a.Name, share, pn); err != nil {
			return nil, err
		}
	}
	next, err := ntfs.Parse(cur.String()) // a copy to edit
	if err != nil {
		return nil, err
	}
	if err := edit(next, parent, n.Dir); err != nil {
		return nil, azerr.BadRequest("InvalidInput", "%v", err)
	}
	rights, err := r.on(cur)
	if err != nil {
		return nil, err
	}
	where := a.Name + "/" + share + "/" + path
	unchanged := next.String() == cur.String()
	// Setting a descriptor opens the object for WRITE_DAC even when nothing changes.
	if (unchanged || next.DACLFlags != cur.DACLFlags || aclString(next) != aclString(cur)) && rights&ntfs.WriteDAC == 0 {
		return nil, accessDenied(where, "WRITE_DAC")
	}
	if unchanged {
		return nil, nil
	}
	if ntfs.CanonicalSID(next.Owner) != ntfs.CanonicalSID(cur.Owner) {
		if rights&ntfs.WriteOwner == 0 {
			return nil, accessDenied(where, "WRITE_OWNER")
		}
		if !r.share.AccountKey && !r.share.BackupWrite && ntfs.CanonicalSID(next.Owner) != r.sid {
			return nil, accessDenied(where, "the restore privilege (Storage File Data SMB Admin) to give ownership to someone else")
		}
	}
	if err := s.storeDescriptorTx(tx, a, share, n, next); err != nil {
		return nil, err
	}
	return s.propagateTx(tx, r, a, share, n, next)
}

func aclString(sd *ntfs.SecurityDescriptor) string {
	var b strings.Builder
	for _, a := range sd.DACL {
		b.WriteString(a.String())
	}
	return b.String()
}

func (s *Service) storeDescriptorTx(tx store.Tx, a Account, share string, n Node, sd *ntfs.SecurityDescriptor) error {
	if b, err := sd.MarshalBinary(); err != nil || len(b) > ntfs.MaxDescriptor {
		return azerr.BadRequest("InvalidInput", "The security descriptor is not valid or is larger than 64 KiB: %v.", err)
	}
	key, err := putPermissionTx(tx, a.Name, share, sd.String())
	if err != nil {
		return err
	}
	now := s.now().UTC()
	n.PermissionKey, n.ChangeTime, n.LastModified, n.ETag = key, now, now, newETag(now)
	return putNodeTx(tx, a.Name, share, n)
}

// propagateTx re-inherits the subtree below dir after its descriptor became sd. A child the
// actor may not change keeps its descriptor (reported), and so does its subtree.
func (s *Service) propagateTx(tx store.Tx, r actorRights, a Account, share string, dir Node, sd *ntfs.SecurityDescriptor) ([]PathError, error) {
	if !dir.Dir {
		return nil, nil
	}
	kids, err := childrenTx(tx, a.Name, share, dir.Path)
	if err != nil {
		return nil, err
	}
	var fails []PathError
	for _, k := range kids {
		cur, err := nodeDescriptorTx(tx, a.Name, share, k)
		if err != nil {
			return nil, err
		}
		next := ntfs.Reinherit(cur, sd, k.Dir)
		if next.String() == cur.String() {
			continue
		}
		if rights, err := r.on(cur); err != nil {
			return nil, err
		} else if rights&ntfs.WriteDAC == 0 {
			fails = append(fails, PathError{k.Path, accessDenied(a.Name+"/"+share+"/"+k.Path, "WRITE_DAC")})
			continue
		}
		if err := s.storeDescriptorTx(tx, a, share, k, next); err != nil {
			return nil, err
		}
		more, err := s.propagateTx(tx, r, a, share, k, next)
		if err != nil {
			return nil, err
		}
		fails = append(fails, more...)
	}
	return fails, nil
}
