package authz

import "time"

import "strings"

// Role types as Azure spells them in a role definition's properties.type.
const (
	RoleTypeBuiltIn = "BuiltInRole"
	RoleTypeCustom  = "CustomRole"
)

// Permission is one element of a role definition's permissions array. Actions and
// DataActions are granted minus NotActions and NotDataActions respectively; NotActions is a
// subtraction, not a deny. A non-empty Condition (ABAC v2) restricts what the element grants.
type Permission struct {
	Actions, NotActions, DataActions, NotDataActions []string
	// Condition and ConditionVersion: built-ins such as Azure File Sync Administrator carry a
	// condition inside the permission rather than on the assignment.
	Condition, ConditionVersion string
}

// RoleDefinition is a built-in or custom Azure role.
type RoleDefinition struct {
	Name                  string // the GUID, lowercase
	RoleName, Description string
	RoleType              string // RoleTypeBuiltIn or RoleTypeCustom
	Permissions           []Permission
	AssignableScopes      []string // "/" for built-ins
	// CreatedOn, UpdatedOn and CreatedBy are kept for custom roles.
	CreatedOn, UpdatedOn time.Time
	CreatedBy            string
}

// Clone returns a deep copy of d, so callers may modify it without touching the catalog.
func (d RoleDefinition) Clone() RoleDefinition {
	c := d
	c.AssignableScopes = cloneStrings(d.AssignableScopes)
	if d.Permissions != nil {
		c.Permissions = make([]Permission, len(d.Permissions))
		for i, p := range d.Permissions {
			c.Permissions[i] = Permission{
				Actions:          cloneStrings(p.Actions),
				NotActions:       cloneStrings(p.NotActions),
				DataActions:      cloneStrings(p.DataActions),
				NotDataActions:   cloneStrings(p.NotDataActions),
				Condition:        p.Condition,
				ConditionVersion: p.ConditionVersion,
			}
		}
	}
	return c
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

// RoleDefinitionGUID returns the GUID at the end of a role definition ID, lowercased:
// "/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/ABC" gives "abc". A
// bare GUID is returned lowercased. Trailing slashes are ignored.
func RoleDefinitionGUID(roleDefinitionID string) string {
	id := strings.TrimRight(strings.TrimSpace(roleDefinitionID), "/")
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	return strings.ToLower(id)
}
