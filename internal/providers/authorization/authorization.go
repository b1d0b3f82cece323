// Package authorization is the Microsoft.Authorization resource provider: role definitions
// (the built-in catalog; custom roles answer "not supported" until they are built) and role
// assignments at any scope (api-version 2022-04-01 shape). Writing and deleting assignments
// is itself authorized through the gate, with the assignment's attributes offered to ABAC
// conditions (@Request for writes, @Resource for deletes).
package authorization

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/authz"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

// Resource types.
const (
	RoleAssignmentType = "Microsoft.Authorization/roleAssignments"
	RoleDefinitionType = "Microsoft.Authorization/roleDefinitions"
)

// Register adds the provider's types to ARM.
// paths (may be nil) answers explain's questions about a file or directory's effective access.
func Register(s *arm.Service, paths PathExplainer) {
	s.Register(RoleAssignmentType, "2015-07-01", assignments{}, crudActions(RoleAssignmentType))
	s.Register(RoleDefinitionType, "2015-07-01", definitions{}, crudActions(RoleDefinitionType))
	registerPolicy(s)
	registerExplain(s, paths)
}

// crudActions are read, write (PUT) and delete of a Microsoft.Authorization type.
func crudActions(typ string) arm.Actions {
	return arm.Actions{http.MethodGet: typ + "/read", http.MethodPut: typ + "/write", http.MethodDelete: typ + "/delete"}
}

func scopeOf(c *arm.Call) string {
	if c.ID.Scope == "" {
		return "/"
	}
	return c.ID.Scope
}

// ---- role definitions ----

type definitions struct{}

func (definitions) ServeARM(c *arm.Call) (int, any, error) {
	scope := scopeOf(c)
	switch c.R.Method {
	case http.MethodPut:
		return putDefinition(c)
	case http.MethodDelete:
		return deleteDefinition(c)
	case http.MethodGet:
	default:
		return 0, nil, azerr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '%s'.", c.R.Method)
	}
	if err := c.Authorize(RoleDefinitionType+"/read", scope); err != nil {
		return 0, nil, err
	}
	if !c.ID.IsCollection() {
		rd, ok, err := c.Svc.Gate().Role(c.Ctx, c.ID.Name())
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			return 0, nil, azerr.NotFound("RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", c.ID.Name())
		}
		return http.StatusOK, definitionView(c.ID.Scope, rd), nil
	}
	name, typ, err := parseDefinitionFilter(c.R.URL.Query().Get("$filter"))
	if err != nil {
		return 0, nil, err
	}
	var customs []authz.RoleDefinition
	if err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		var err error
		customs, err = access.ListRolesTx(tx)
		return err
	}); err != nil {
		return 0, nil, err
	}
	out := []any{}
	for _, rd := range append(authz.BuiltInRoles(), customs...) {
		if name != "" && !strings.EqualFold(rd.RoleName, name) {
			continue
		}
		if typ != "" && !strings.EqualFold(rd.RoleType, typ) {
			continue
		}
		if rd.RoleType == authz.RoleTypeCustom && !assignableAt(rd, scope) {
			continue
		}
		out = append(out, definitionView(c.ID.Scope, rd))
	}
	return http.StatusOK, map[string]any{"value": out}, nil
}

// assignableAt reports whether one of a role's assignable scopes is scope or above it.
func assignableAt(rd authz.RoleDefinition, scope string) bool {
	for _, s := range rd.AssignableScopes {
		if access.Within(scope, s) {
			return true
		}
	}
	return false
}

var actionRE = regexp.MustCompile(`^(\*|[A-Za-z0-9][A-Za-z0-9.\-]*(/[A-Za-z0-9.\-*{}]+)*(/\*)?|\*/[A-Za-z*]+)$`)

func validActions(field string, list []string) error {
	for _, a := range list {
		if a == "" || len(a) > 1024 || !actionRE.MatchString(a) {
			return azerr.BadRequest("InvalidActionOrNotAction", "'%s' in %s is not a valid action: use Provider/resourceType/operation, with * wildcards (e.g. Microsoft.Compute/virtualMachines/*/read).", a, field)
		}
	}
	return nil
}

func putDefinition(c *arm.Call) (int, any, error) {
	guid := strings.ToLower(c.ID.Name())
	if _, err := uuid.Parse(guid); err != nil || c.ID.IsCollection() {
		return 0, nil, azerr.BadRequest("InvalidRoleDefinitionId", "The role definition ID '%s' is not valid: it must be a GUID.", c.ID.Name())
	}
	if _, ok := authz.BuiltInRole(guid); ok {
		return 0, nil, azerr.Forbidden("RoleDefinitionUpdateNotPermitted", "Built-in role definitions cannot be changed; create a custom role with another ID.")
	}
	var in struct {
		Properties *struct {
			RoleName         string   `json:"roleName"`
			Description      string   `json:"description"`
			Type             string   `json:"type"`
			AssignableScopes []string `json:"assignableScopes"`
			Permissions      []struct {
				Actions        []string `json:"actions"`
				NotActions     []string `json:"notActions"`
				DataActions    []string `json:"dataActions"`
				NotDataActions []string `json:"notDataActions"`
			} `json:"permissions"`
		} `json:"properties"`
	}
	if err := c.Decode(&in); err != nil {
		return 0, nil, err
	}
	p := in.Properties
	if p == nil || strings.TrimSpace(p.RoleName) == "" {
		return 0, nil, azerr.BadRequest("RoleDefinitionNameNullOrEmpty", "The role definition name cannot be null or empty: set properties.roleName.")
	}
	if p.Type != "" && !strings.EqualFold(p.Type, authz.RoleTypeCustom) && !strings.EqualFold(p.Type, "CustomRole") {
		return 0, nil, azerr.BadRequest("InvalidRoleDefinitionType", "Only custom roles (type CustomRole) can be created.")
	}
	if len(p.AssignableScopes) == 0 {
		return 0, nil, azerr.BadRequest("InvalidAssignableScopes", "A custom role needs at least one assignable scope (a subscription, resource group or resource).")
	}
	if len(p.Permissions) != 1 {
		return 0, nil, azerr.BadRequest("InvalidPermissions", "A custom role has exactly one permissions block, got %d.", len(p.Permissions))
	}
	perm := p.Permissions[0]
	if len(perm.Actions)+len(perm.DataActions) == 0 {
		return 0, nil, azerr.BadRequest("InvalidPermissions", "A custom role must grant at least one action or data action.")
	}
	for field, list := range map[string][]string{"actions": perm.Actions, "notActions": perm.NotActions, "dataActions": perm.DataActions, "notDataActions": perm.NotDataActions} {
		if err := validActions(field, list); err != nil {
			return 0, nil, err
		}
	}
	var scopes []string
	for _, sc := range p.AssignableScopes {
		segs, err := arm.CleanPath(sc)
		if err != nil || len(segs) < 2 || !strings.EqualFold(segs[0], "subscriptions") {
			return 0, nil, azerr.BadRequest("InvalidAssignableScopes", "The assignable scope '%s' is not valid: use /subscriptions/{id}[/resourceGroups/{name}[/...]].", sc)
		}
		id, err := arm.ParseID(segs)
		if err != nil {
			return 0, nil, err
		}
		// Writing a role needs roleDefinitions/write at every scope it can be assigned at;
		// asked before the scope is looked up, so a refusal tells nothing of what exists.
		if err := c.Authorize(RoleDefinitionType+"/write", "/"+strings.Join(segs, "/")); err != nil {
			return 0, nil, err
		}
		if err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error { return arm.ScopeExistsTx(tx, id) }); err != nil {
			return 0, nil, azerr.BadRequest("InvalidAssignableScopes", "The assignable scope '%s' does not exist.", sc)
		}
		scopes = append(scopes, "/"+strings.Join(segs, "/"))
	}
	now := time.Now().UTC()
	rd := authz.RoleDefinition{Name: guid, RoleName: strings.TrimSpace(p.RoleName), Description: p.Description, RoleType: authz.RoleTypeCustom,
		AssignableScopes: scopes, CreatedOn: now, UpdatedOn: now, CreatedBy: c.Caller.ObjectID,
		Permissions: []authz.Permission{{Actions: perm.Actions, NotActions: perm.NotActions, DataActions: perm.DataActions, NotDataActions: perm.NotDataActions}}}
	// Azure answers 201 to every create-or-update of a role definition (the SDKs accept
	// nothing else), an update included.
	err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error {
		all, err := access.ListRolesTx(tx)
		if err != nil {
			return err
		}
		for _, r := range append(authz.BuiltInRoles(), all...) {
			if strings.EqualFold(r.RoleName, rd.RoleName) && r.Name != guid {
				return azerr.Conflict("RoleDefinitionWithSameNameExists", "A role definition cannot be updated with a name that already exists: '%s' is role %s.", rd.RoleName, r.Name)
			}
			if r.Name == guid {
				rd.CreatedOn, rd.CreatedBy = r.CreatedOn, r.CreatedBy
				if err := authorizeRoleUpdateTx(c, tx, r, rd); err != nil {
					return err
				}
			}
		}
		return access.PutRoleTx(tx, rd)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, definitionView(c.ID.Scope, rd), nil
}

// authorizeRoleUpdateTx decides whether the caller may replace role old with updated. A role
// change alters what every existing assignment of it grants, so the caller needs
// roleDefinitions/write at each of the role's current assignable scopes as well as the new ones
// (the new ones were checked on decoding): holding it at one narrow scope never rewrites a role
// assigned above it. A scope may not be dropped while assignments below it use the role.
func authorizeRoleUpdateTx(c *arm.Call, tx store.Tx, old, updated authz.RoleDefinition) error {
	for _, sc := range old.AssignableScopes {
		if err := c.Authorize(RoleDefinitionType+"/write", sc); err != nil {
			return err
		}
	}
	all, err := access.ListTx(tx)
	if err != nil {
		return err
	}
	for _, a := range all {
		if a.RoleGUID() != old.Name || assignableAt(updated, a.Scope) {
			continue
		}
		for _, sc := range old.AssignableScopes {
			if access.Within(a.Scope, sc) && !assignableAt(updated, sc) {
				return azerr.BadRequest("RoleScopeBeingRemovedContainsAssignments", "Role assignments found under scope '%s' which is being removed. Removing this scope from the role will orphan these assignments. Delete these assignments before removing the scope.", sc)
			}
		}
		return azerr.BadRequest("RoleScopeBeingRemovedContainsAssignments", "Role assignment %s at '%s' is outside the new assignable scopes. Delete it before removing its scope from the role.", a.Name, a.Scope)
	}
	return nil
}

func deleteDefinition(c *arm.Call) (int, any, error) {
	guid := strings.ToLower(c.ID.Name())
	if _, ok := authz.BuiltInRole(guid); ok {
		return 0, nil, azerr.Forbidden("RoleDefinitionUpdateNotPermitted", "Built-in role definitions cannot be deleted.")
	}
	var rd authz.RoleDefinition
	err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error {
		var err error
		if rd, err = access.GetRoleTx(tx, guid); errors.Is(err, store.ErrNotFound) {
			return errNoContent
		} else if err != nil {
			return err
		}
		for _, sc := range rd.AssignableScopes {
			if err := c.Authorize(RoleDefinitionType+"/delete", sc); err != nil {
				return err
			}
		}
		all, err := access.ListTx(tx)
		if err != nil {
			return err
		}
		for _, a := range all {
			if a.RoleGUID() == guid {
				return azerr.Conflict("RoleDefinitionHasAssignments", "There are existing role assignments referencing role %s (for example %s at %s); delete them first.", guid, a.Name, a.Scope)
			}
		}
		return access.DeleteRoleTx(tx, guid)
	})
	if errors.Is(err, errNoContent) {
		return http.StatusNoContent, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, definitionView(c.ID.Scope, rd), nil
}

var errNoContent = errors.New("no content")

var (
	roleNameFilterRE = regexp.MustCompile(`(?i)^\s*roleName\s+eq\s+'([^']*)'\s*$`)
	typeFilterRE     = regexp.MustCompile(`(?i)^\s*type\s+eq\s+'([^']*)'\s*$`)
)

func parseDefinitionFilter(f string) (name, typ string, err error) {
	if f == "" {
		return "", "", nil
	}
	if m := roleNameFilterRE.FindStringSubmatch(f); m != nil {
		return m[1], "", nil
	}
	if m := typeFilterRE.FindStringSubmatch(f); m != nil {
		return "", m[1], nil
	}
	return "", "", azerr.BadRequest("InvalidFilterInQueryString",
		"Invalid $filter '%s': use roleName eq '<name>' or type eq 'BuiltInRole'|'CustomRole'.", f)
}

var builtInEpoch = time.Date(2015, 2, 2, 21, 55, 9, 0, time.UTC)

func definitionView(scope string, rd authz.RoleDefinition) map[string]any {
	created, updated := builtInEpoch, builtInEpoch
	if !rd.CreatedOn.IsZero() {
		created, updated = rd.CreatedOn, rd.UpdatedOn
	}
	perms := make([]map[string]any, 0, len(rd.Permissions))
	for _, p := range rd.Permissions {
		m := map[string]any{"actions": nonNil(p.Actions), "notActions": nonNil(p.NotActions),
			"dataActions": nonNil(p.DataActions), "notDataActions": nonNil(p.NotDataActions)}
		if p.Condition != "" {
			m["condition"], m["conditionVersion"] = p.Condition, p.ConditionVersion
		}
		perms = append(perms, m)
	}
	return map[string]any{
		"id":   scope + "/providers/Microsoft.Authorization/roleDefinitions/" + rd.Name,
		"name": rd.Name, "type": RoleDefinitionType,
		"properties": map[string]any{
			"roleName": rd.RoleName, "type": rd.RoleType, "description": rd.Description,
			"assignableScopes": nonNil(rd.AssignableScopes), "permissions": perms,
			"createdOn": created, "updatedOn": updated, "createdBy": nilIfEmpty(rd.CreatedBy), "updatedBy": nilIfEmpty(rd.CreatedBy),
		},
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ---- role assignments ----

type assignments struct{}

func (assignments) ServeARM(c *arm.Call) (int, any, error) {
	if c.ID.IsCollection() {
		if c.R.Method != http.MethodGet {
			return 0, nil, azerr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '%s'.", c.R.Method)
		}
		return listAssignments(c)
	}
	if _, err := uuid.Parse(c.ID.Name()); err != nil {
		return 0, nil, azerr.BadRequest("InvalidRoleAssignmentId",
			"The role assignment ID '%s' is not valid. The role assignment ID must be a GUID.", c.ID.Name())
	}
	switch c.R.Method {
	case http.MethodGet:
		return getAssignment(c)
	case http.MethodPut:
		return putAssignment(c)
	case http.MethodDelete:
		return deleteAssignment(c)
	}
	return 0, nil, azerr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '%s'.", c.R.Method)
}

func assignmentView(a access.Assignment) map[string]any {
	props := map[string]any{
		"roleDefinitionId": a.RoleDefinitionID, "principalId": a.PrincipalID, "principalType": a.PrincipalType,
		"scope": a.Scope, "condition": nilIfEmpty(a.Condition), "conditionVersion": nilIfEmpty(a.ConditionVersion),
		"createdOn": a.CreatedOn, "updatedOn": a.UpdatedOn, "createdBy": nilIfEmpty(a.CreatedBy), "updatedBy": nilIfEmpty(a.UpdatedBy),
		"delegatedManagedIdentityResourceId": nil, "description": nilIfEmpty(a.Description),
	}
	return map[string]any{"id": strings.TrimSuffix(a.Scope, "/") + "/providers/Microsoft.Authorization/roleAssignments/" + a.Name,
		"name": a.Name, "type": RoleAssignmentType, "properties": props}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func errAssignmentNotFound(name string) error {
	return azerr.NotFound("RoleAssignmentNotFound", "The role assignment '%s' is not found.", name)
}

func getAssignment(c *arm.Call) (int, any, error) {
	scope := scopeOf(c)
	if err := c.Authorize(RoleAssignmentType+"/read", scope); err != nil {
		return 0, nil, err
	}
	var a access.Assignment
	err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		var err error
		a, err = access.GetTx(tx, c.ID.Name())
		return err
	})
	if errors.Is(err, access.ErrAssignmentNotFound) || (err == nil && arm.Key(a.Scope) != arm.Key(scope)) {
		return 0, nil, errAssignmentNotFound(c.ID.Name())
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, assignmentView(a), nil
}

// assignmentAttributes offers a role assignment's attributes to ABAC conditions.
type assignmentAttributes struct {
	request, resource map[string][]string
}

func (a assignmentAttributes) Request(k string) ([]string, bool) {
	v, ok := a.request[strings.ToLower(k)]
	return v, ok
}
func (a assignmentAttributes) Resource(k string) ([]string, bool) {
	v, ok := a.resource[strings.ToLower(k)]
	return v, ok
}
func (a assignmentAttributes) Principal(string) ([]string, bool) { return nil, false }

func attrsOf(roleGUID, principalID, principalType string) map[string][]string {
	m := map[string][]string{
		"microsoft.authorization/roleassignments:roledefinitionid": {roleGUID},
		"microsoft.authorization/roleassignments:principalid":      {principalID},
	}
	if principalType != "" {
		m["microsoft.authorization/roleassignments:principaltype"] = []string{principalType}
	}
	return m
}

var principalTypes = map[string]string{"user": "User", "group": "Group", "serviceprincipal": "ServicePrincipal",
	"foreigngroup": "ForeignGroup", "device": "Device"}

func putAssignment(c *arm.Call) (int, any, error) {
	scope := scopeOf(c)
	var in struct {
		Properties *struct {
			RoleDefinitionID string `json:"roleDefinitionId"`
			PrincipalID      string `json:"principalId"`
			PrincipalType    string `json:"principalType"`
			Description      string `json:"description"`
			Condition        string `json:"condition"`
			ConditionVersion string `json:"conditionVersion"`
		} `json:"properties"`
	}
	if err := c.Decode(&in); err != nil {
		return 0, nil, err
	}
	p := in.Properties
	if p == nil {
		return 0, nil, azerr.BadRequest("InvalidRequestContent", "The request content was invalid and could not be deserialized: 'properties' is required.")
	}
	if p.RoleDefinitionID == "" {
		return 0, nil, azerr.BadRequest("InvalidRoleDefinitionId", "The role definition ID '' is not valid: properties.roleDefinitionId is required.")
	}
	roleGUID := access.RoleGUID(p.RoleDefinitionID)
	if _, err := uuid.Parse(roleGUID); err != nil {
		return 0, nil, azerr.BadRequest("InvalidRoleDefinitionId", "The role definition ID '%s' is not valid.", p.RoleDefinitionID)
	}
	rd, ok, err := c.Svc.Gate().Role(c.Ctx, roleGUID)
	if err != nil {
		return 0, nil, err
	}
	if !ok {
		return 0, nil, azerr.BadRequest("RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", roleGUID)
	}
	if rd.RoleType == authz.RoleTypeCustom && !assignableAt(rd, scope) {
		return 0, nil, azerr.BadRequest("RoleAssignmentScopeNotAssignableToRoleDefinition", "The role %s is not available for assignment at the requested scope '%s': assign it within its assignableScopes %v.", rd.RoleName, scope, rd.AssignableScopes)
	}
	if _, err := uuid.Parse(p.PrincipalID); err != nil {
		return 0, nil, azerr.BadRequest("InvalidPrincipalId", "A valid principal ID must be provided for role assignment: '%s' is not a GUID.", p.PrincipalID)
	}
	requestedType := p.PrincipalType
	if requestedType != "" {
		canon, ok := principalTypes[strings.ToLower(requestedType)]
		if !ok {
			return 0, nil, azerr.BadRequest("InvalidPrincipalType",
				"The principal type '%s' is not valid: use User, Group, ServicePrincipal, ForeignGroup or Device.", requestedType)
		}
		requestedType = canon
	}
	if p.Condition != "" {
		if p.ConditionVersion == "" {
			p.ConditionVersion = "2.0" // Azure stores a condition sent without a version as 2.0
		}
		if p.ConditionVersion != "2.0" {
			return 0, nil, azerr.BadRequest("InvalidConditionVersion", "The condition version '%s' is not supported: use '2.0'.", p.ConditionVersion)
		}
		if err := authz.ValidateCondition(p.Condition); err != nil {
			return 0, nil, azerr.BadRequest("InvalidCondition", "The given role assignment condition is invalid: %v.", err)
		}
	} else if p.ConditionVersion != "" {
		return 0, nil, azerr.BadRequest("InvalidConditionVersion", "conditionVersion was given without a condition.")
	}
	attrs := assignmentAttributes{request: attrsOf(roleGUID, strings.ToLower(p.PrincipalID), requestedType)}
	if err := c.AuthorizeWith(RoleAssignmentType+"/write", scope, attrs); err != nil {
		return 0, nil, err
	}
	dir := c.Svc.Directory()
	principal, actualType, err := dir.AssigneeOf(c.Ctx, p.PrincipalID)
	if errors.Is(err, directory.ErrPrincipalNotFound) {
		t, _ := dir.Tenant(c.Ctx)
		return 0, nil, azerr.BadRequest("PrincipalNotFound",
			"Principal %s does not exist in the directory %s. Check that you have the correct principal ID.", strings.ReplaceAll(strings.ToLower(p.PrincipalID), "-", ""), t.ID)
	}
	if err != nil {
		return 0, nil, err
	}
	if requestedType != "" && requestedType != actualType {
		return 0, nil, azerr.BadRequest("UnmatchedPrincipalType",
			"The PrincipalType '%s' does not match the principal's actual type '%s' for principal %s.", requestedType, actualType, principal.ObjectID)
	}
	now := time.Now().UTC()
	name := strings.ToLower(c.ID.Name())
	status := http.StatusCreated
	var out access.Assignment
	err = c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error {
		all, err := access.ListTx(tx)
		if err != nil {
			return err
		}
		var existing *access.Assignment
		for i := range all {
			a := &all[i]
			if a.Name == name {
				existing = a
				continue
			}
			if arm.Key(a.Scope) == arm.Key(scope) && strings.EqualFold(a.PrincipalID, principal.ObjectID) && a.RoleGUID() == roleGUID && a.Condition == p.Condition {
				return azerr.Conflict("RoleAssignmentExists", "The role assignment already exists. The ID of the existing role assignment is %s.", strings.ReplaceAll(a.Name, "-", ""))
			}
		}
		out = access.Assignment{Name: name, Scope: canonicalScope(scope), RoleDefinitionID: p.RoleDefinitionID,
			PrincipalID: principal.ObjectID, PrincipalType: actualType, Description: p.Description,
			Condition: p.Condition, ConditionVersion: p.ConditionVersion, CreatedOn: now, UpdatedOn: now,
			CreatedBy: c.Caller.ObjectID, UpdatedBy: c.Caller.ObjectID}
		if existing != nil {
			if arm.Key(existing.Scope) != arm.Key(scope) || existing.PrincipalID != out.PrincipalID || existing.RoleGUID() != roleGUID {
				return azerr.Conflict("RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
			}
			status = http.StatusOK
			out.CreatedOn, out.CreatedBy = existing.CreatedOn, existing.CreatedBy
		}
		return access.PutTx(tx, out)
	})
	if err != nil {
		return 0, nil, err
	}
	return status, assignmentView(out), nil
}

// canonicalScope spells a scope as the client gave it, without a trailing slash ("/" for
// the root).
func canonicalScope(s string) string {
	if s == "/" || s == "" {
		return "/"
	}
	return strings.TrimSuffix(s, "/")
}

func deleteAssignment(c *arm.Call) (int, any, error) {
	scope := scopeOf(c)
	var existing access.Assignment
	err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		var err error
		existing, err = access.GetTx(tx, c.ID.Name())
		return err
	})
	found := err == nil && arm.Key(existing.Scope) == arm.Key(scope)
	if err != nil && !errors.Is(err, access.ErrAssignmentNotFound) {
		return 0, nil, err
	}
	var attrs authz.ConditionAttributes
	if found {
		attrs = assignmentAttributes{resource: attrsOf(existing.RoleGUID(), existing.PrincipalID, existing.PrincipalType)}
	}
	if err := c.AuthorizeWith(RoleAssignmentType+"/delete", scope, attrs); err != nil {
		return 0, nil, err
	}
	if !found {
		return http.StatusNoContent, nil, nil
	}
	err = c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error { return access.DeleteTx(tx, existing.Name) })
	if errors.Is(err, access.ErrAssignmentNotFound) {
		return http.StatusNoContent, nil, nil
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, assignmentView(existing), nil
}

var (
	atScopeRE     = regexp.MustCompile(`(?i)^\s*atScope\(\)\s*$`)
	principalRE   = regexp.MustCompile(`(?i)^\s*(?:atScope\(\)\s+and\s+)?principalId\s+eq\s+'([0-9a-f-]{36})'\s*$`)
	assignedToRE  = regexp.MustCompile(`(?i)^\s*(?:atScope\(\)\s+and\s+)?assignedTo\('([0-9a-f-]{36})'\)\s*$`)
	atScopeAndRE  = regexp.MustCompile(`(?i)^\s*atScope\(\)\s+and\s+`)
	errBadFilter  = "Invalid $filter '%s': use atScope(), principalId eq '<guid>' or assignedTo('<guid>'), optionally with 'atScope() and '."
	listActionFmt = RoleAssignmentType + "/read"
)

// listAssignments lists assignments that apply at the scope: those at or above it, and (when
// not filtered by atScope()) those below it.
func listAssignments(c *arm.Call) (int, any, error) {
	scope := scopeOf(c)
	if err := c.Authorize(listActionFmt, scope); err != nil {
		return 0, nil, err
	}
	f := c.R.URL.Query().Get("$filter")
	onlyAtOrAbove := atScopeRE.MatchString(f) || atScopeAndRE.MatchString(f)
	var principal string
	switch {
	case f == "" || atScopeRE.MatchString(f):
	case principalRE.MatchString(f):
		principal = principalRE.FindStringSubmatch(f)[1]
	case assignedToRE.MatchString(f):
		principal = assignedToRE.FindStringSubmatch(f)[1]
	default:
		return 0, nil, azerr.BadRequest("InvalidFilterInQueryString", errBadFilter, f)
	}
	var all []access.Assignment
	if err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		var err error
		all, err = access.ListTx(tx)
		return err
	}); err != nil {
		return 0, nil, err
	}
	out := []any{}
	for _, a := range all {
		above := access.Within(scope, a.Scope)
		below := access.Within(a.Scope, scope)
		if !(above || (below && !onlyAtOrAbove)) {
			continue
		}
		if principal != "" && !strings.EqualFold(a.PrincipalID, principal) {
			continue
		}
		out = append(out, assignmentView(a))
	}
	return http.StatusOK, map[string]any{"value": out}, nil
}
