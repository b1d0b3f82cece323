// Package access is the RBAC gate: it keeps role assignments in the store and answers the
// one question every endpoint asks — may principal P perform action A at scope S — through
// Check, which builds on the authz engine and caches its index per store revision.
//
// It is not the engine (package authz: role catalog, matching, conditions) and knows nothing
// of HTTP beyond returning Azure's 403 AuthorizationFailed as an *azerr.Error.
package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cerulean-azure/cerulean/internal/authz"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Collections this package owns.
const (
	colAssignments = "authz.roleAssignments"
	colRoles       = "authz.roleDefinitions" // custom roles
)

// Assignment is a stored role assignment (api-version 2022-04-01 shape).
type Assignment struct {
	Name             string    `json:"name"`
	Scope            string    `json:"scope"`
	RoleDefinitionID string    `json:"roleDefinitionId"`
	PrincipalID      string    `json:"principalId"`
	PrincipalType    string    `json:"principalType"`
	Description      string    `json:"description,omitempty"`
	Condition        string    `json:"condition,omitempty"`
	ConditionVersion string    `json:"conditionVersion,omitempty"`
	CreatedOn        time.Time `json:"createdOn"`
	UpdatedOn        time.Time `json:"updatedOn"`
	CreatedBy        string    `json:"createdBy,omitempty"`
	UpdatedBy        string    `json:"updatedBy,omitempty"`
}

// RoleGUID is the trailing GUID of the assignment's role definition id.
func (a Assignment) RoleGUID() string { return RoleGUID(a.RoleDefinitionID) }

// RoleGUID returns the GUID at the end of a role definition id (or the input if it is one).
func RoleGUID(roleDefinitionID string) string {
	i := strings.LastIndex(roleDefinitionID, "/")
	return strings.ToLower(roleDefinitionID[i+1:])
}

// Principal is the caller as the gate sees it.
type Principal struct {
	ObjectID string
	// Display names the caller in error messages: its app id or user principal name.
	Display string
	// GroupIDs are the object ids of the groups the caller belongs to.
	GroupIDs []string
	// IssuedAt is when the caller's token was issued (zero: not from a token); it picks
	// what the caller sees of a change still propagating (Gate.SetPropagation).
	IssuedAt time.Time
}

// Gate decides and records role assignments.
type Gate struct {
	st store.Store

	now         func() time.Time
	propagation time.Duration

	mu    sync.Mutex
	rev   int64       // revision of assignments, custom roles and groups the newest snapshot was built at
	snaps []*snapshot // oldest first; more than one only while a change is propagating

	onDataDenied func(ctx context.Context, req Request)
}

// snapshot is the authorization state at one store revision.
type snapshot struct {
	idx     *authz.Index
	customs map[string]authz.RoleDefinition
	groups  map[string][]string // member object id -> its groups, transitively
	at      time.Time           // when the gate first saw this state
}

// New returns the gate over st; changes apply to every request at once.
func New(st store.Store) *Gate { return &Gate{st: st, rev: -1, now: time.Now} }

// SetPropagation makes role-assignment, custom-role and group changes reach tokens issued
// before the change only after d, as Azure's caches do (seed 003): a token issued before a
// change keeps the old answer until the change is d old; tokens issued after it see it at
// once. Zero (the default) applies every change immediately. now is the clock (nil: wall).
func (g *Gate) SetPropagation(d time.Duration, now func() time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.propagation = d
	if now != nil {
		g.now = now
	}
}

// RoleDefinition returns a role by GUID: a built-in role, or a custom role as of the last
// index build.
func (g *Gate) RoleDefinition(guid string) (authz.RoleDefinition, bool) {
	if rd, ok := authz.BuiltInRole(strings.ToLower(guid)); ok {
		return rd, true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.snaps) == 0 {
		return authz.RoleDefinition{}, false
	}
	rd, ok := g.snaps[len(g.snaps)-1].customs[strings.ToLower(guid)]
	return rd, ok
}

// Role returns a built-in or custom role as the store has it now.
func (g *Gate) Role(ctx context.Context, guid string) (authz.RoleDefinition, bool, error) {
	if _, err := g.index(ctx); err != nil {
		return authz.RoleDefinition{}, false, err
	}
	rd, ok := g.RoleDefinition(guid)
	return rd, ok, nil
}

// DecisionCollections are the store collections a decision depends on: role assignments,
// custom roles and group memberships. A cache of anything the gate decided must be dropped
// when their revision changes.
func DecisionCollections() []string {
	return []string{colAssignments, colRoles, directory.GroupsCollection}
}

// index returns the snapshot for the current store revision.
func (g *Gate) index(ctx context.Context) (*snapshot, error) {
	rev, err := g.st.Revision(ctx, DecisionCollections()...)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.snaps) > 0 && rev == g.rev {
		return g.snaps[len(g.snaps)-1], nil
	}
	var list []Assignment
	var roles []authz.RoleDefinition
	var groups map[string][]string
	if err := g.st.View(ctx, func(tx store.Tx) error {
		var err error
		if list, err = ListTx(tx); err != nil {
			return err
		}
		if groups, err = directory.MembershipsTx(tx); err != nil {
			return err
		}
		roles, err = ListRolesTx(tx)
		return err
	}); err != nil {
		return nil, err
	}
	customs := make(map[string]authz.RoleDefinition, len(roles))
	for _, r := range roles {
		customs[r.Name] = r
	}
	as := make([]authz.Assignment, 0, len(list))
	for _, a := range list {
		as = append(as, authz.Assignment{Name: a.Name, Scope: a.Scope, RoleDefinitionID: a.RoleDefinitionID,
			PrincipalID: a.PrincipalID, PrincipalType: a.PrincipalType, Condition: a.Condition, ConditionVersion: a.ConditionVersion})
	}
	lookup := func(guid string) (authz.RoleDefinition, bool) {
		if rd, ok := authz.BuiltInRole(strings.ToLower(guid)); ok {
			return rd, true
		}
		rd, ok := customs[strings.ToLower(guid)]
		return rd, ok
	}
	snap := &snapshot{idx: authz.NewIndex(as, lookup), customs: customs, groups: groups, at: g.now()}
	g.snaps = append(g.snaps, snap)
	// Drop snapshots no token can see any more: one whose successor is visible to all.
	for len(g.snaps) > 1 && !g.snaps[1].at.Add(g.propagation).After(snap.at) {
		g.snaps = g.snaps[1:]
	}
	g.rev = rev
	return snap, nil
}

// view returns the snapshot a token issued at issuedAt sees: the newest state that existed
// when the token was issued or has had the propagation delay to reach it.
func (g *Gate) view(ctx context.Context, issuedAt time.Time) (*snapshot, error) {
	latest, err := g.index(ctx)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.propagation <= 0 || issuedAt.IsZero() || len(g.snaps) < 2 {
		return latest, nil
	}
	now := g.now()
	for i := len(g.snaps) - 1; i > 0; i-- {
		s := g.snaps[i]
		if !s.at.After(issuedAt) || !s.at.Add(g.propagation).After(now) {
			return s, nil
		}
	}
	return g.snaps[0], nil
}

// GetRoleTx returns a custom role by GUID.
func GetRoleTx(tx store.Tx, guid string) (authz.RoleDefinition, error) {
	var rd authz.RoleDefinition
	b, err := tx.Get(colRoles, strings.ToLower(guid))
	if err != nil {
		return rd, err
	}
	return rd, json.Unmarshal(b, &rd)
}

// PutRoleTx creates or replaces a custom role.
func PutRoleTx(tx store.Tx, rd authz.RoleDefinition) error {
	b, err := json.Marshal(rd)
	if err != nil {
		return fmt.Errorf("encode role definition: %w", err)
	}
	return tx.Put(colRoles, strings.ToLower(rd.Name), b)
}

// DeleteRoleTx removes a custom role.
func DeleteRoleTx(tx store.Tx, guid string) error { return tx.Delete(colRoles, strings.ToLower(guid)) }

// ListRolesTx returns every custom role.
func ListRolesTx(tx store.Tx) ([]authz.RoleDefinition, error) {
	items, err := tx.List(colRoles, "")
	if err != nil {
		return nil, err
	}
	out := make([]authz.RoleDefinition, 0, len(items))
	for _, it := range items {
		var rd authz.RoleDefinition
		if err := json.Unmarshal(it.Value, &rd); err != nil {
			return nil, fmt.Errorf("decode role definition %s: %w", it.Key, err)
		}
		out = append(out, rd)
	}
	return out, nil
}

// Request is one authorization question.
type Request struct {
	Principal  Principal
	Action     string
	DataAction bool
	Scope      string
	// Attributes feed ABAC conditions (may be nil).
	Attributes authz.ConditionAttributes
}

// OnDataActionDenied registers fn to be told of every denied data action (Key Vault, Files):
// the data planes' authorization failures, for the activity log. Control-plane denials are
// recorded by Resource Manager with the rest of the call.
func (g *Gate) OnDataActionDenied(fn func(ctx context.Context, req Request)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.onDataDenied = fn
}

// Decide answers a request with the engine's decision.
func (g *Gate) Decide(ctx context.Context, req Request) (authz.Decision, error) {
	d, err := g.decide(ctx, req)
	if err == nil && !d.Allowed && req.DataAction {
		g.mu.Lock()
		fn := g.onDataDenied
		g.mu.Unlock()
		if fn != nil {
			fn(ctx, req)
		}
	}
	return d, err
}

// Evaluate decides like Decide without reporting a denial: for working out what a caller may
// do (the share-level rights an SMB open starts from), where a missing right is not a refused
// request.
func (g *Gate) Evaluate(ctx context.Context, req Request) (authz.Decision, error) {
	return g.decide(ctx, req)
}

// Groups returns the object ids of the groups the principal belongs to, transitively, in the
// snapshot its token sees.
func (g *Gate) Groups(ctx context.Context, p Principal) ([]string, error) {
	snap, err := g.view(ctx, p.IssuedAt)
	if err != nil {
		return nil, err
	}
	return snap.principalIDs(p)[1:], nil
}

// decide is Decide without telling anyone of a denial (Explain asks hypothetically).
func (g *Gate) decide(ctx context.Context, req Request) (authz.Decision, error) {
	snap, err := g.view(ctx, req.Principal.IssuedAt)
	if err != nil {
		return authz.Decision{}, err
	}
	return snap.idx.Decide(authz.Request{PrincipalIDs: snap.principalIDs(req.Principal), Action: req.Action, DataAction: req.DataAction,
		Scope: req.Scope, Attributes: req.Attributes}), nil
}

// principalIDs is the caller's object id followed by its groups: those the caller named and
// those the directory says it belongs to, transitively, in this snapshot.
func (s *snapshot) principalIDs(p Principal) []string {
	member := s.groups[strings.ToLower(p.ObjectID)]
	ids := make([]string, 0, 1+len(p.GroupIDs)+len(member))
	ids = append(ids, p.ObjectID)
	ids = append(ids, p.GroupIDs...)
	return append(ids, member...)
}

// Check is the one function every endpoint calls: nil when the principal may perform the
// action at the scope, else Azure's 403 AuthorizationFailed.
func (g *Gate) Check(ctx context.Context, req Request) error {
	d, err := g.Decide(ctx, req)
	if err != nil {
		return err
	}
	if d.Allowed {
		return nil
	}
	if d.ConditionFailed() {
		return conditionNotFulfilled(req.Principal, req.Action, req.Scope)
	}
	return AuthorizationFailed(req.Principal, req.Action, req.Scope)
}

// conditionNotFulfilled is ARM's 403 when an assignment would have granted the action but
// its ABAC condition did not hold: the same code, with Azure's wording for conditions.
func conditionNotFulfilled(p Principal, action, scope string) *azerr.Error {
	return azerr.New(http.StatusForbidden, "AuthorizationFailed",
		"The client '%s' with object id '%s' does not have authorization or an ABAC condition not fulfilled to perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
		p.Display, p.ObjectID, action, scope)
}

// AuthorizationFailed is ARM's 403 for a denied action.
func AuthorizationFailed(p Principal, action, scope string) *azerr.Error {
	return azerr.New(http.StatusForbidden, "AuthorizationFailed",
		"The client '%s' with object id '%s' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
		p.Display, p.ObjectID, action, scope)
}

// HasAnyWithin reports whether the principal (or its groups) holds any assignment at, above
// or below scope: ARM's test for whether a collection is visible at all.
func (g *Gate) HasAnyWithin(ctx context.Context, p Principal, scope string) (bool, error) {
	list, err := g.principalAssignments(ctx, p)
	if err != nil {
		return false, err
	}
	s := scopeKey(scope)
	for _, a := range list {
		as := scopeKey(a.Scope)
		if Within(as, s) || Within(s, as) {
			return true, nil
		}
	}
	return false, nil
}

func scopeKey(s string) string { return strings.ToLower(strings.TrimRight(s, "/")) }

// Within reports whether scope inner is outer or below it (case-insensitive, on segment
// boundaries; "" and "/" are the root).
func Within(inner, outer string) bool {
	i, o := scopeKey(inner), scopeKey(outer)
	if o == "" {
		return true
	}
	return i == o || strings.HasPrefix(i, o+"/")
}

// ErrAssignmentNotFound is returned for an unknown assignment name.
var ErrAssignmentNotFound = errors.New("access: role assignment not found")

// GetTx returns the assignment with the given name (a GUID).
func GetTx(tx store.Tx, name string) (Assignment, error) {
	var a Assignment
	b, err := tx.Get(colAssignments, strings.ToLower(name))
	if errors.Is(err, store.ErrNotFound) {
		return a, ErrAssignmentNotFound
	}
	if err != nil {
		return a, err
	}
	return a, json.Unmarshal(b, &a)
}

// PutTx creates or replaces an assignment.
func PutTx(tx store.Tx, a Assignment) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode role assignment: %w", err)
	}
	return tx.Put(colAssignments, strings.ToLower(a.Name), b)
}

// DeleteTx removes an assignment.
func DeleteTx(tx store.Tx, name string) error {
	err := tx.Delete(colAssignments, strings.ToLower(name))
	if errors.Is(err, store.ErrNotFound) {
		return ErrAssignmentNotFound
	}
	return err
}

// ListTx returns every assignment, ordered by scope then name.
func ListTx(tx store.Tx) ([]Assignment, error) {
	items, err := tx.List(colAssignments, "")
	if err != nil {
		return nil, err
	}
	out := make([]Assignment, 0, len(items))
	for _, it := range items {
		var a Assignment
		if err := json.Unmarshal(it.Value, &a); err != nil {
			return nil, fmt.Errorf("decode role assignment %s: %w", it.Key, err)
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if si, sj := scopeKey(out[i].Scope), scopeKey(out[j].Scope); si != sj {
			return si < sj
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// Explanation is why a principal may or may not perform an action at a scope.
type Explanation struct {
	Allowed   bool   `json:"allowed"`
	Principal string `json:"principalId"`
	Action    string `json:"action"`
	Data      bool   `json:"dataAction"`
	Scope     string `json:"scope"`
	Reason    string `json:"reason"`
	// For an allowed request: the assignment, its role, scope and condition.
	Assignment *Assignment `json:"assignment,omitempty"`
	RoleName   string      `json:"roleName,omitempty"`
	// For a denied one: roles that would grant the action (built-in and custom).
	RolesThatWouldGrant []string `json:"rolesThatWouldGrant,omitempty"`
}

// Explain decides a request and says why, naming the granting assignment or, for a denial,
// the roles that would grant the action.
func (g *Gate) Explain(ctx context.Context, req Request) (Explanation, error) {
	d, err := g.decide(ctx, req)
	if err != nil {
		return Explanation{}, err
	}
	e := Explanation{Allowed: d.Allowed, Principal: req.Principal.ObjectID, Action: req.Action, Data: req.DataAction, Scope: req.Scope, Reason: d.Explain()}
	if d.Allowed {
		var a Assignment
		if err := g.st.View(ctx, func(tx store.Tx) error {
			var err error
			a, err = GetTx(tx, d.Assignment.Name)
			return err
		}); err == nil {
			e.Assignment = &a
		}
		e.RoleName = d.Role
		return e, nil
	}
	latest, err := g.index(ctx)
	if err != nil {
		return Explanation{}, err
	}
	customs := make([]authz.RoleDefinition, 0, len(latest.customs))
	for _, r := range latest.customs {
		customs = append(customs, r)
	}
	type cand struct {
		name string
		size int
	}
	var cands []cand
	for _, rd := range append(authz.BuiltInRoles(), customs...) {
		if !authz.RoleGrants(rd, req.Action, req.DataAction) {
			continue
		}
		if rd.RoleType == authz.RoleTypeCustom {
			ok := false
			for _, s := range rd.AssignableScopes {
				ok = ok || Within(req.Scope, s)
			}
			if !ok {
				continue
			}
		}
		n := 0
		for _, p := range rd.Permissions {
			n += len(p.Actions) + len(p.DataActions)
			for _, a := range append(p.Actions, p.DataActions...) {
				if strings.Contains(a, "*") {
					n += 100 // wildcards grant more: list narrow roles first
				}
			}
		}
		cands = append(cands, cand{rd.RoleName, n})
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].size < cands[j].size })
	for i, c := range cands {
		if i == 8 {
			break
		}
		e.RolesThatWouldGrant = append(e.RolesThatWouldGrant, c.name)
	}
	return e, nil
}

// Assignments returns the assignments of a principal (or its groups) at or above scope.
func (g *Gate) Assignments(ctx context.Context, p Principal, scope string) ([]Assignment, error) {
	list, err := g.principalAssignments(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []Assignment
	for _, a := range list {
		if Within(scope, a.Scope) {
			out = append(out, a)
		}
	}
	return out, nil
}

// principalAssignments returns every assignment held by the principal or one of its groups.
func (g *Gate) principalAssignments(ctx context.Context, p Principal) ([]Assignment, error) {
	snap, err := g.index(ctx)
	if err != nil {
		return nil, err
	}
	var list []Assignment
	if err := g.st.View(ctx, func(tx store.Tx) error {
		var err error
		list, err = ListTx(tx)
		return err
	}); err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, id := range snap.principalIDs(p) {
		ids[strings.ToLower(id)] = true
	}
	out := list[:0]
	for _, a := range list {
		if ids[strings.ToLower(a.PrincipalID)] {
			out = append(out, a)
		}
	}
	return out, nil
}
