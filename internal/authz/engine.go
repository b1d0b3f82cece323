package authz

import (
	"fmt"
	"strings"
)

// Assignment is a role assignment as the engine needs it.
type Assignment struct {
	Name  string // GUID
	Scope string // ARM scope, e.g. "/subscriptions/x/resourceGroups/rg"
	// RoleDefinitionID is the full ID as stored, e.g.
	// "/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/<guid>"; the engine
	// uses the trailing GUID.
	RoleDefinitionID string
	PrincipalID      string // object id
	PrincipalType    string // "User" | "Group" | "ServicePrincipal" | ...
	Condition        string
	ConditionVersion string
}

// Request asks whether a caller may perform one action at one scope.
type Request struct {
	PrincipalIDs []string // the caller's object id plus its group object ids
	Action       string   // e.g. "Microsoft.Compute/virtualMachines/write"
	DataAction   bool     // Action is a data action (matched against dataActions)
	// SubOperation is the request's sub-operation, if any (e.g. "Blob.List"), for
	// SubOperationMatches and @Request[subOperation] in conditions.
	SubOperation string
	Scope        string              // the ARM ID the action targets
	Attributes   ConditionAttributes // may be nil
}

// Decision is the outcome of Index.Decide. Explain renders it for people.
type Decision struct {
	Allowed    bool
	Assignment Assignment // the assignment that allowed it (zero if denied)
	Role       string     // its role name

	req  Request             // what was asked (its slices and strings are shared, not copied)
	note *compiledAssignment // for a denial: an assignment that came close, see noteKind
	kind noteKind
}

type noteKind uint8

// Notes in increasing order of interest.
const (
	noteNone noteKind = iota
	noteRoleMissing
	noteConditionInvalid
	noteRoleConditionFalse
	noteConditionFalse
)

// Index is an immutable view of the role assignments in force, organised for Decide: by
// principal, with every assignment's role resolved and compiled and every condition parsed.
// It is safe for concurrent use.
type Index struct {
	byPrincipal map[string]principalAssignments // key: lower-case principal id
	n           int
}

// principalAssignments holds one principal's assignments. scopes[i] is asg[i].scope; the
// scopes sit side by side in one string so that the scope scan, which dominates Decide,
// reads contiguous memory.
type principalAssignments struct {
	scopes []string
	asg    []compiledAssignment
}

type compiledAssignment struct {
	a        Assignment
	scope    string        // trailing slashes trimmed; "" is the root "/"
	roleGUID string        // lower-case
	role     *compiledRole // nil: the role definition does not exist, grants nothing
	cond     condNode      // nil: no condition
	broken   bool          // the condition does not parse or its version is unsupported
}

type compiledRole struct {
	name  string
	perms []compiledPerm
}

type compiledPerm struct {
	actions, notActions, dataActions, notDataActions actionSet
	cond                                             condNode
	broken                                           bool
}

// NewIndex compiles assignments for Decide. lookupRole resolves a role definition GUID
// (lower-case) to its definition, built-in or custom; nil means built-in roles only. An
// assignment whose role cannot be resolved, or whose condition does not parse, grants
// nothing.
func NewIndex(assignments []Assignment, lookupRole func(guid string) (RoleDefinition, bool)) *Index {
	if lookupRole == nil {
		lookupRole = BuiltInRole
	}
	ix := &Index{byPrincipal: make(map[string]principalAssignments), n: len(assignments)}
	grouped := make(map[string][]compiledAssignment)
	roles := make(map[string]*compiledRole)
	conds := make(map[string]condNode)
	condBad := make(map[string]bool)
	parse := func(s, version string) (condNode, bool) {
		if s == "" {
			return nil, true
		}
		if version != "" && version != "2.0" {
			return nil, false
		}
		if condBad[s] {
			return nil, false
		}
		if n, ok := conds[s]; ok {
			return n, true
		}
		n, err := parseCondition(s)
		if err != nil {
			condBad[s] = true
			return nil, false
		}
		conds[s] = n
		return n, true
	}
	for _, a := range assignments {
		ca := compiledAssignment{
			a:        a,
			scope:    normalizeScope(a.Scope),
			roleGUID: RoleDefinitionGUID(a.RoleDefinitionID),
		}
		cr, seen := roles[ca.roleGUID]
		if !seen {
			if def, ok := lookupRole(ca.roleGUID); ok {
				cr = compileRole(def, parse)
			}
			roles[ca.roleGUID] = cr
		}
		ca.role = cr
		var ok bool
		ca.cond, ok = parse(a.Condition, a.ConditionVersion)
		ca.broken = !ok
		key := strings.ToLower(strings.TrimSpace(a.PrincipalID))
		if key == "" {
			continue // an assignment to nobody grants nothing
		}
		grouped[key] = append(grouped[key], ca)
	}
	for key, asg := range grouped {
		var arena strings.Builder
		for _, ca := range asg {
			arena.WriteString(ca.scope)
		}
		all := arena.String()
		pa := principalAssignments{scopes: make([]string, len(asg)), asg: asg}
		off := 0
		for i := range asg {
			n := len(asg[i].scope)
			pa.scopes[i] = all[off : off+n]
			asg[i].scope = pa.scopes[i]
			off += n
		}
		ix.byPrincipal[key] = pa
	}
	return ix
}

func compileRole(def RoleDefinition, parse func(s, version string) (condNode, bool)) *compiledRole {
	cr := &compiledRole{name: def.RoleName}
	for _, p := range def.Permissions {
		cp := compiledPerm{
			actions:        compileSet(p.Actions),
			notActions:     compileSet(p.NotActions),
			dataActions:    compileSet(p.DataActions),
			notDataActions: compileSet(p.NotDataActions),
		}
		var ok bool
		cp.cond, ok = parse(p.Condition, p.ConditionVersion)
		cp.broken = !ok
		cr.perms = append(cr.perms, cp)
	}
	return cr
}

// Len reports how many assignments the index was built from.
func (ix *Index) Len() int { return ix.n }

// Decide answers whether any of req.PrincipalIDs holds a role assignment at or above
// req.Scope whose role grants req.Action (in dataActions if req.DataAction, else in
// actions), with every applicable condition satisfied. Without conditions it allocates
// nothing.
func (ix *Index) Decide(req Request) Decision {
	d := Decision{req: req}
	if req.Action == "" {
		return d
	}
	target := normalizeScope(req.Scope)
	for _, pid := range req.PrincipalIDs {
		pa := ix.lookup(pid)
		for i, scope := range pa.scopes {
			if !scopeCovers(scope, target) {
				continue
			}
			ca := &pa.asg[i]
			if ca.role == nil {
				d.noteIf(ca, noteRoleMissing)
				continue
			}
			granted, permRefused := ca.role.grants(&req)
			if !granted {
				if permRefused {
					d.noteIf(ca, noteRoleConditionFalse)
				}
				continue
			}
			if ca.broken {
				d.noteIf(ca, noteConditionInvalid)
				continue
			}
			if ca.cond != nil && !evalCondition(ca.cond, &req) {
				d.noteIf(ca, noteConditionFalse)
				continue
			}
			d.Allowed = true
			d.Assignment = ca.a
			d.Role = ca.role.name
			d.note, d.kind = nil, noteNone
			return d
		}
	}
	return d
}

func (d *Decision) noteIf(ca *compiledAssignment, k noteKind) {
	if k > d.kind {
		d.note, d.kind = ca, k
	}
}

// grants reports whether some permission element of the role grants the request, and
// whether an element that covered the action was refused by its condition.
func (r *compiledRole) grants(req *Request) (granted, refused bool) {
	for i := range r.perms {
		p := &r.perms[i]
		allow, deny := &p.actions, &p.notActions
		if req.DataAction {
			allow, deny = &p.dataActions, &p.notDataActions
		}
		if allow.empty() || !allow.match(req.Action) || deny.match(req.Action) {
			continue
		}
		if p.broken || (p.cond != nil && !evalCondition(p.cond, req)) {
			refused = true
			continue
		}
		return true, refused
	}
	return false, refused
}

// evalCondition is kept out of Decide so that its context is only allocated when a
// condition is actually evaluated.
func evalCondition(n condNode, req *Request) bool {
	c := evalCtx{action: req.Action, subOp: req.SubOperation, attrs: req.Attributes}
	return n.eval(&c)
}

func (ix *Index) lookup(pid string) principalAssignments {
	if l, ok := ix.byPrincipal[pid]; ok {
		return l
	}
	upper := false
	for i := 0; i < len(pid); i++ {
		if c := pid[i]; ('A' <= c && c <= 'Z') || c == ' ' {
			upper = true
			break
		}
	}
	if !upper {
		return principalAssignments{}
	}
	var buf [64]byte
	if len(pid) > len(buf) {
		return ix.byPrincipal[strings.ToLower(strings.TrimSpace(pid))]
	}
	p := strings.TrimSpace(pid)
	n := copy(buf[:], p)
	for i := 0; i < n; i++ {
		buf[i] = lowerASCII(buf[i])
	}
	return ix.byPrincipal[string(buf[:n])] // no allocation: map index by converted bytes
}

// normalizeScope trims spaces and trailing slashes; the root "/" becomes "".
func normalizeScope(s string) string {
	return strings.TrimRight(strings.TrimSpace(s), "/")
}

// scopeCovers reports whether an assignment at scope (normalized) applies to target
// (normalized): target equals scope or lies below it on a segment boundary, ignoring ASCII
// case.
func scopeCovers(scope, target string) bool {
	if scope == "" {
		return true
	}
	n := len(scope)
	if len(target) < n || (len(target) > n && target[n] != '/') {
		return false
	}
	if target[:n] == scope {
		return true // the usual case: the caller spells the ID as the assignment does
	}
	// Compare backwards, folding case: assignments of one principal share long prefixes
	// ("/subscriptions/<id>/resourceGroups/") and differ near the end.
	for i := n - 1; i >= 0; i-- {
		if lowerASCII(target[i]) != lowerASCII(scope[i]) {
			return false
		}
	}
	return true
}

// ScopeCovers reports whether a role assignment at scope applies to target, Azure style:
// case-insensitive, on "/" segment boundaries, "/" covering everything, trailing slashes
// ignored.
func ScopeCovers(scope, target string) bool {
	return scopeCovers(normalizeScope(scope), normalizeScope(target))
}

// ConditionFailed reports whether a denial came from an ABAC condition: an assignment (or its
// role's condition) would have granted the request had its condition held.
func (d Decision) ConditionFailed() bool {
	return !d.Allowed && d.kind >= noteConditionInvalid
}

// Explain says in a sentence why the decision came out as it did: which assignment and role
// allowed the request, or that none did (and, when one came close, why it did not count).
// It allocates; call it only when the text is wanted.
func (d Decision) Explain() string {
	r := d.req
	what := "action " + r.Action
	if r.DataAction {
		what = "data action " + r.Action
	}
	scope := r.Scope
	if normalizeScope(scope) == "" {
		scope = "/"
	}
	who := "(no principal)"
	if len(r.PrincipalIDs) > 0 {
		who = r.PrincipalIDs[0]
		if g := len(r.PrincipalIDs) - 1; g == 1 {
			who += " (or its 1 group)"
		} else if g > 1 {
			who += fmt.Sprintf(" (or any of its %d groups)", g)
		}
	}
	if d.Allowed {
		s := fmt.Sprintf("principal %s may perform %s at scope %s: role assignment %s grants role %q (%s) at scope %s",
			who, what, scope, d.Assignment.Name, d.Role, RoleDefinitionGUID(d.Assignment.RoleDefinitionID), d.Assignment.Scope)
		if d.Assignment.Condition != "" {
			s += " and its condition is satisfied"
		}
		return s
	}
	s := fmt.Sprintf("no role assignment for principal %s at or above scope %s grants %s", who, scope, what)
	if r.Action == "" {
		s = "no action was given, so nothing is granted"
	}
	if ca := d.note; ca != nil {
		roleName := ca.roleGUID
		if ca.role != nil {
			roleName = fmt.Sprintf("%q", ca.role.name)
		}
		switch d.kind {
		case noteConditionFalse:
			s += fmt.Sprintf("; role assignment %s (role %s at scope %s) covers it but its condition is not satisfied", ca.a.Name, roleName, ca.a.Scope)
		case noteRoleConditionFalse:
			s += fmt.Sprintf("; role assignment %s (role %s at scope %s) covers it but the role definition's condition is not satisfied", ca.a.Name, roleName, ca.a.Scope)
		case noteConditionInvalid:
			s += fmt.Sprintf("; role assignment %s (role %s at scope %s) covers it but its condition is invalid, so it grants nothing", ca.a.Name, roleName, ca.a.Scope)
		case noteRoleMissing:
			s += fmt.Sprintf("; role assignment %s at scope %s refers to role definition %s, which does not exist", ca.a.Name, ca.a.Scope, ca.roleGUID)
		}
	}
	return s
}

// RoleGrants reports whether a role's permissions grant an action (in dataActions if
// dataAction), ignoring conditions: "which roles would allow this".
func RoleGrants(def RoleDefinition, action string, dataAction bool) bool {
	cr := compileRole(def, func(string, string) (condNode, bool) { return nil, true })
	granted, refused := cr.grants(&Request{Action: action, DataAction: dataAction})
	return granted && !refused
}
