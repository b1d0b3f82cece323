package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

// GroupsCollection is the collection holding security groups; its revision changes on every
// group or membership change (the RBAC gate rebuilds its membership map when it does).
const GroupsCollection = "directory.groups"

// MaxGroupMembers bounds a group's direct members, as Entra bounds group size for
// role-assignable use; it keeps one group's record a reasonable size.
const MaxGroupMembers = 5000

// Group is a security group: its direct members are users, service principals, managed
// identities or other groups. Role assignments to a group apply to its members, transitively.
type Group struct {
	ObjectID     string    `json:"objectId"`
	DisplayName  string    `json:"displayName"`
	MailNickname string    `json:"mailNickname"`
	Description  string    `json:"description,omitempty"`
	Members      []string  `json:"members"`
	CreatedAt    time.Time `json:"createdAt"`
}

// Errors of group operations (test with errors.Is).
var (
	ErrGroupNotFound  = errors.New("directory: group not found")
	ErrMemberNotFound = errors.New("directory: member not found")
	ErrMemberExists   = errors.New("directory: one or more added object references already exist")
	ErrMemberCycle    = errors.New("directory: adding this group would make a group a member of itself")
	ErrGroupTooLarge  = errors.New("directory: the group has the maximum number of direct members")
	ErrGroupAmbiguous = errors.New("directory: more than one group has that display name; use its object id")
	ErrInvalidGroup   = errors.New("directory: invalid group")
)

// CreateGroupTx stores a new group, filling in its object id when empty.
func (d *Directory) CreateGroupTx(tx store.Tx, g Group) (Group, error) {
	g.DisplayName = strings.TrimSpace(g.DisplayName)
	if g.DisplayName == "" || len(g.DisplayName) > 256 {
		return g, fmt.Errorf("%w: displayName must be 1-256 characters", ErrInvalidGroup)
	}
	if g.MailNickname == "" {
		g.MailNickname = strings.Map(func(r rune) rune {
			if r == ' ' || r == '@' || r > 127 {
				return -1
			}
			return r
		}, g.DisplayName)
	}
	if g.ObjectID == "" {
		g.ObjectID = uuid.NewString()
	}
	if _, err := uuid.Parse(g.ObjectID); err != nil {
		return g, fmt.Errorf("%w: object id %q is not a GUID", ErrInvalidGroup, g.ObjectID)
	}
	g.ObjectID = strings.ToLower(g.ObjectID)
	if _, err := d.GetTx(tx, g.ObjectID); err == nil {
		return g, fmt.Errorf("%w: object id %s is a principal's", ErrInvalidGroup, g.ObjectID)
	}
	g.Members = []string{}
	g.CreatedAt = d.now().UTC()
	b, err := json.Marshal(g)
	if err != nil {
		return g, err
	}
	if err := tx.Create(GroupsCollection, g.ObjectID, b); err != nil {
		return g, fmt.Errorf("create group %s: %w", g.ObjectID, err)
	}
	return g, nil
}

// GetGroupTx returns a group by object id.
func (d *Directory) GetGroupTx(tx store.Tx, objectID string) (Group, error) {
	var g Group
	err := getJSON(tx, GroupsCollection, strings.ToLower(objectID), &g)
	if errors.Is(err, store.ErrNotFound) {
		return g, ErrGroupNotFound
	}
	return g, err
}

// FindGroupTx resolves a group by object id or, failing that, by its unique display name.
func (d *Directory) FindGroupTx(tx store.Tx, ref string) (Group, error) {
	if _, err := uuid.Parse(ref); err == nil {
		if g, err := d.GetGroupTx(tx, ref); !errors.Is(err, ErrGroupNotFound) {
			return g, err
		}
	}
	gs, err := ListGroupsTx(tx)
	if err != nil {
		return Group{}, err
	}
	var found []Group
	for _, g := range gs {
		if g.DisplayName == ref {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return Group{}, ErrGroupNotFound
	case 1:
		return found[0], nil
	}
	return Group{}, ErrGroupAmbiguous
}

// ListGroupsTx returns every group, ordered by display name then object id.
func ListGroupsTx(tx store.Tx) ([]Group, error) {
	items, err := tx.List(GroupsCollection, "")
	if err != nil {
		return nil, err
	}
	out := make([]Group, 0, len(items))
	for _, it := range items {
		var g Group
		if err := json.Unmarshal(it.Value, &g); err != nil {
			return nil, fmt.Errorf("decode group %s: %w", it.Key, err)
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].DisplayName != out[j].DisplayName {
			return out[i].DisplayName < out[j].DisplayName
		}
		return out[i].ObjectID < out[j].ObjectID
	})
	return out, nil
}

// DeleteGroupTx deletes a group and removes it from every group it was a member of.
func (d *Directory) DeleteGroupTx(tx store.Tx, objectID string) error {
	g, err := d.GetGroupTx(tx, objectID)
	if err != nil {
		return err
	}
	gs, err := ListGroupsTx(tx)
	if err != nil {
		return err
	}
	for _, parent := range gs {
		if i := indexOf(parent.Members, g.ObjectID); i >= 0 {
			parent.Members = append(parent.Members[:i], parent.Members[i+1:]...)
			if err := putJSON(tx, GroupsCollection, parent.ObjectID, parent); err != nil {
				return err
			}
		}
	}
	return tx.Delete(GroupsCollection, g.ObjectID)
}

// AddMemberTx adds a principal or a group as a direct member of a group. A group may not
// become (transitively) a member of itself.
func (d *Directory) AddMemberTx(tx store.Tx, groupID, memberID string) error {
	g, err := d.GetGroupTx(tx, groupID)
	if err != nil {
		return err
	}
	memberID = strings.ToLower(strings.TrimSpace(memberID))
	if _, err := d.GetGroupTx(tx, memberID); err == nil {
		// A nested group: refuse if the group is already reachable from it.
		m, err := MembershipsTx(tx)
		if err != nil {
			return err
		}
		if memberID == g.ObjectID || contains(m[g.ObjectID], memberID) {
			return ErrMemberCycle
		}
	} else if !errors.Is(err, ErrGroupNotFound) {
		return err
	} else if p, err := d.GetTx(tx, memberID); err != nil || p.Deleted() {
		return ErrMemberNotFound
	}
	if contains(g.Members, memberID) {
		return ErrMemberExists
	}
	if len(g.Members) >= MaxGroupMembers {
		return ErrGroupTooLarge
	}
	g.Members = append(g.Members, memberID)
	return putJSON(tx, GroupsCollection, g.ObjectID, g)
}

// RemoveMemberTx removes a direct member from a group.
func (d *Directory) RemoveMemberTx(tx store.Tx, groupID, memberID string) error {
	g, err := d.GetGroupTx(tx, groupID)
	if err != nil {
		return err
	}
	i := indexOf(g.Members, strings.ToLower(strings.TrimSpace(memberID)))
	if i < 0 {
		return ErrMemberNotFound
	}
	g.Members = append(g.Members[:i], g.Members[i+1:]...)
	return putJSON(tx, GroupsCollection, g.ObjectID, g)
}

// MembershipsTx maps each member's object id (principal or group) to every group it belongs
// to, directly or through nested groups.
func MembershipsTx(tx store.Tx) (map[string][]string, error) {
	gs, err := ListGroupsTx(tx)
	if err != nil {
		return nil, err
	}
	parents := map[string][]string{} // member -> groups it is directly in
	for _, g := range gs {
		for _, m := range g.Members {
			parents[m] = append(parents[m], g.ObjectID)
		}
	}
	out := make(map[string][]string, len(parents))
	for m := range parents {
		seen := map[string]bool{}
		queue := append([]string(nil), parents[m]...)
		for len(queue) > 0 {
			g := queue[0]
			queue = queue[1:]
			if seen[g] {
				continue
			}
			seen[g] = true
			out[m] = append(out[m], g)
			queue = append(queue, parents[g]...)
		}
		sort.Strings(out[m])
	}
	return out, nil
}

// Groups returns every group.
func (d *Directory) Groups(ctx context.Context) ([]Group, error) {
	var gs []Group
	err := d.st.View(ctx, func(tx store.Tx) error {
		var err error
		gs, err = ListGroupsTx(tx)
		return err
	})
	return gs, err
}

func indexOf(list []string, v string) int {
	for i, s := range list {
		if s == v {
			return i
		}
	}
	return -1
}

func contains(list []string, v string) bool { return indexOf(list, v) >= 0 }

// AssigneeOf resolves the object a role assignment names: a live principal or a group. It
// returns the object (a group is rendered as a Principal with its id and display name) and
// the assignment's principalType: User, ServicePrincipal or Group.
func (d *Directory) AssigneeOf(ctx context.Context, objectID string) (Principal, string, error) {
	var p Principal
	var typ string
	err := d.st.View(ctx, func(tx store.Tx) error {
		got, err := d.GetTx(tx, objectID)
		if err == nil && !got.Deleted() {
			p, typ = got, got.PrincipalType()
			return nil
		}
		if err != nil && !errors.Is(err, ErrPrincipalNotFound) {
			return err
		}
		g, err := d.GetGroupTx(tx, objectID)
		if errors.Is(err, ErrGroupNotFound) {
			return ErrPrincipalNotFound
		}
		if err != nil {
			return err
		}
		p, typ = Principal{ObjectID: g.ObjectID, DisplayName: g.DisplayName, CreatedAt: g.CreatedAt}, "Group"
		return nil
	})
	return p, typ, err
}
