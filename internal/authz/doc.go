// Package authz is Cerulean's Azure RBAC engine: the one place that answers "may principal P
// perform action A at scope S". It holds the built-in role catalog (Azure's real GUIDs, names,
// descriptions and permission lists), matches action patterns with Azure's wildcard rules,
// applies scope inheritance, evaluates ABAC v2 conditions on role assignments and on role
// definition permissions, and explains which assignment allowed a request or why none did.
//
// The caller builds an immutable Index from the role assignments in force and a function that
// resolves role definition GUIDs (built-in or custom), then calls Decide for every control-plane
// action and data action. An Index is safe for concurrent use; rebuild it when assignments or
// custom roles change.
//
// It is not a store, an HTTP handler or a directory: it does not persist assignments, validate
// request bodies, expand group membership (callers pass the caller's object id plus its group
// ids) or map a denial to an Azure error envelope. Deny assignments are not modelled.
package authz
