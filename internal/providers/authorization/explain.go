package authorization

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/policy"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

// PathExplainer says what a principal may do on //<account>/<share>/<path> through
// identity-based (SMB) access, and why: the share-level roles, the ACL, the key state. Its
// answer is returned as the explain endpoint's JSON.
type PathExplainer func(ctx context.Context, p access.Principal, account, share, path string) (any, error)

func registerExplain(s *arm.Service, paths PathExplainer) {
	// Both answer for the caller itself; explaining someone else needs roleAssignments/read.
	s.Register("Microsoft.Authorization/permissions", "2015-07-01", permissions{}, arm.Actions{http.MethodGet: arm.OwnView})
	s.Register("Microsoft.Authorization/explain", "2015-07-01", explain{paths}, arm.Actions{http.MethodPost: arm.OwnView})
}

// SplitFilePath reads //<account>/<share>[/<path>] (or <account>/<share>/...): the account,
// the share and the path in it.
func SplitFilePath(p string) (account, share, path string, err error) {
	parts := strings.SplitN(strings.TrimPrefix(strings.ReplaceAll(p, "\\", "/"), "//"), "/", 3)
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return "", "", "", azerr.BadRequest("InvalidPath", "'%s' is not a file share path: use //<account>/<share>[/<directory>/<file>].", p)
	}
	if len(parts) == 3 {
		path = strings.Trim(parts[2], "/")
	}
	return parts[0], parts[1], path, nil
}

// permissions is Azure's GET {scope}/providers/Microsoft.Authorization/permissions: the
// caller's effective permissions at the scope, one entry per role assignment that applies.
type permissions struct{}

func (permissions) ServeARM(c *arm.Call) (int, any, error) {
	if c.R.Method != http.MethodGet || !c.ID.IsCollection() {
		return 0, nil, methodNotAllowed(c.R)
	}
	scope := scopeOf(c)
	as, err := c.Svc.Gate().Assignments(c.Ctx, c.Caller, scope)
	if err != nil {
		return 0, nil, err
	}
	out := []any{}
	for _, a := range as {
		rd, ok, err := c.Svc.Gate().Role(c.Ctx, a.RoleGUID())
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			continue
		}
		for _, p := range rd.Permissions {
			entry := map[string]any{"actions": nonNil(p.Actions), "notActions": nonNil(p.NotActions),
				"dataActions": nonNil(p.DataActions), "notDataActions": nonNil(p.NotDataActions)}
			if a.Condition != "" {
				entry["condition"], entry["conditionVersion"] = a.Condition, a.ConditionVersion
			}
			out = append(out, entry)
		}
	}
	return http.StatusOK, map[string]any{"value": out}, nil
}

// explain is Cerulean's own: POST {scope}/providers/Microsoft.Authorization/explain with
// {"principalId", "action", "dataAction"} says whether the principal may perform the action
// at the scope and why, with the roles that would grant it and the policies that deny it.
// Explaining someone else needs roleAssignments/read at the scope.
type explain struct{ paths PathExplainer }

// ExplainResult is the answer of the explain endpoint and of `cerulean access explain`.
type ExplainResult struct {
	access.Explanation
	DeniedByPolicies []string `json:"deniedByPolicies,omitempty"`
}

// ExplainQuery is one question for Explain. Resource, when given, is the body of the write
// (location, tags, kind, properties ...) that Azure Policy would see; without it the rules
// see the resource's id, name and type only. SeesPolicy, when set, says whether the asker
// may read a policy assignment at a scope: the ids of those it may not are withheld.
type ExplainQuery struct {
	access.Request
	Resource   map[string]any
	SeesPolicy func(scope string) bool
}

// Explain answers one question as the ARM gate would decide it: role assignments first,
// then, for a write of a resource type, the Azure Policy assignments that cover the scope;
// an enforced deny makes the verdict a denial, exactly as ARM refuses that write.
func Explain(ctx context.Context, gate *access.Gate, st store.Store, q ExplainQuery) (ExplainResult, error) {
	e, err := gate.Explain(ctx, q.Request)
	if err != nil {
		return ExplainResult{}, err
	}
	out := ExplainResult{Explanation: e}
	typ, ok := strings.CutSuffix(q.Action, "/write")
	if !ok || q.DataAction {
		return out, nil
	}
	doc := map[string]any{}
	for k, v := range q.Resource {
		doc[k] = v
	}
	doc["id"], doc["type"], doc["name"] = q.Scope, typ, q.Scope[strings.LastIndex(q.Scope, "/")+1:]
	var results []policy.Result
	if err := st.View(ctx, func(tx store.Tx) error {
		results, err = policy.EvaluateTx(tx, doc)
		return err
	}); err != nil {
		return ExplainResult{}, err
	}
	hidden := 0
	for _, r := range results {
		if !r.Denies() {
			continue
		}
		if q.SeesPolicy != nil && !q.SeesPolicy(r.Assignment.Scope) {
			hidden++
			continue
		}
		out.DeniedByPolicies = append(out.DeniedByPolicies, r.Assignment.ID+" (definition "+r.Definition.ID+")")
	}
	if len(out.DeniedByPolicies)+hidden == 0 {
		return out, nil
	}
	out.Allowed = false
	why := strings.Join(out.DeniedByPolicies, ", ")
	if hidden > 0 {
		if why != "" {
			why += ", and "
		}
		why += fmt.Sprintf("%d policy assignment(s) you may not read (Microsoft.Authorization/policyAssignments/read)", hidden)
	}
	out.Reason += "; but Azure Policy denies the write (403 RequestDisallowedByPolicy): " + why
	return out, nil
}

func (e explain) ServeARM(c *arm.Call) (int, any, error) {
	if c.R.Method != http.MethodPost || !c.ID.IsCollection() {
		return 0, nil, methodNotAllowed(c.R)
	}
	var in struct {
		PrincipalID string         `json:"principalId"`
		Action      string         `json:"action"`
		DataAction  bool           `json:"dataAction"`
		Scope       string         `json:"scope"`
		Resource    map[string]any `json:"resource"`
		Path        string         `json:"path"`
	}
	if err := c.Decode(&in); err != nil {
		return 0, nil, err
	}
	scope := scopeOf(c)
	if in.Scope != "" {
		scope = in.Scope
	}
	if in.PrincipalID == "" {
		in.PrincipalID = c.Caller.ObjectID
	}
	if in.Path != "" {
		return e.explainPath(c, in.PrincipalID, in.Path)
	}
	if _, err := uuid.Parse(in.PrincipalID); err != nil || in.Action == "" {
		return 0, nil, azerr.BadRequest("InvalidRequestContent", "Give principalId (an object id) and action, e.g. {\"principalId\":\"...\",\"action\":\"Microsoft.Compute/virtualMachines/write\"}.")
	}
	if !strings.EqualFold(in.PrincipalID, c.Caller.ObjectID) {
		if err := c.Authorize(RoleAssignmentType+"/read", scope); err != nil {
			return 0, nil, err
		}
	}
	sees := func(sc string) bool {
		return c.Svc.Gate().Check(c.Ctx, access.Request{Principal: c.Caller, Action: PolicyAssignmentType + "/read", Scope: sc}) == nil
	}
	res, err := Explain(c.Ctx, c.Svc.Gate(), c.Svc.Store(), ExplainQuery{
		Request:  access.Request{Principal: access.Principal{ObjectID: in.PrincipalID}, Action: in.Action, DataAction: in.DataAction, Scope: scope},
		Resource: in.Resource, SeesPolicy: sees})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, res, nil
}

// explainPath answers {"principalId", "path": "//<account>/<share>/<path>"}: the effective
// access of the principal there. Explaining someone else needs roleAssignments/read on the
// storage account.
func (e explain) explainPath(c *arm.Call, principal, path string) (int, any, error) {
	if e.paths == nil {
		return 0, nil, azerr.BadRequest("NotSupported", "Explaining file access is not available on this server.")
	}
	if _, err := uuid.Parse(principal); err != nil {
		return 0, nil, azerr.BadRequest("InvalidRequestContent", "principalId must be an object id.")
	}
	account, share, p, err := SplitFilePath(path)
	if err != nil {
		return 0, nil, err
	}
	if !strings.EqualFold(principal, c.Caller.ObjectID) {
		if err := c.Authorize(RoleAssignmentType+"/read", scopeOf(c)); err != nil {
			return 0, nil, err
		}
	}
	out, err := e.paths(c.Ctx, access.Principal{ObjectID: principal}, account, share, p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out, nil
}
