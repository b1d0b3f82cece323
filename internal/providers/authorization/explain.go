package authorization

import (
	"context"
	"net/http"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/policy"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

func registerExplain(s *arm.Service) {
	s.Register("Microsoft.Authorization/permissions", "2015-07-01", permissions{})
	s.Register("Microsoft.Authorization/explain", "2015-07-01", explain{})
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
type explain struct{}

// ExplainResult is the answer of the explain endpoint and of `cerulean access explain`.
type ExplainResult struct {
	access.Explanation
	DeniedByPolicies []string `json:"deniedByPolicies,omitempty"`
}

// Explain answers one question, policies included: for a write of a resource type, the
// deny policy assignments that cover the scope and match the type.
func Explain(ctx context.Context, gate *access.Gate, st store.Store, req access.Request) (ExplainResult, error) {
	e, err := gate.Explain(ctx, req)
	if err != nil {
		return ExplainResult{}, err
	}
	out := ExplainResult{Explanation: e}
	if typ, ok := strings.CutSuffix(req.Action, "/write"); ok && !req.DataAction {
		name := req.Scope[strings.LastIndex(req.Scope, "/")+1:]
		doc := map[string]any{"id": req.Scope, "type": typ, "name": name}
		_ = st.View(ctx, func(tx store.Tx) error {
			rs, err := policy.EvaluateTx(tx, doc)
			for _, r := range rs {
				if r.Effect == "deny" && r.Assignment.EnforcementMode != "DoNotEnforce" {
					out.DeniedByPolicies = append(out.DeniedByPolicies, r.Assignment.ID+" (definition "+r.Definition.ID+")")
				}
			}
			return err
		})
		if len(out.DeniedByPolicies) > 0 {
			out.Reason += "; and Azure Policy denies the write: " + strings.Join(out.DeniedByPolicies, ", ")
		}
	}
	return out, nil
}

func (explain) ServeARM(c *arm.Call) (int, any, error) {
	if c.R.Method != http.MethodPost || !c.ID.IsCollection() {
		return 0, nil, methodNotAllowed(c.R)
	}
	var in struct {
		PrincipalID string `json:"principalId"`
		Action      string `json:"action"`
		DataAction  bool   `json:"dataAction"`
		Scope       string `json:"scope"`
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
	if _, err := uuid.Parse(in.PrincipalID); err != nil || in.Action == "" {
		return 0, nil, azerr.BadRequest("InvalidRequestContent", "Give principalId (an object id) and action, e.g. {\"principalId\":\"...\",\"action\":\"Microsoft.Compute/virtualMachines/write\"}.")
	}
	if !strings.EqualFold(in.PrincipalID, c.Caller.ObjectID) {
		if err := c.Authorize(RoleAssignmentType+"/read", scope); err != nil {
			return 0, nil, err
		}
	}
	res, err := Explain(c.Ctx, c.Svc.Gate(), c.Svc.Store(), access.Request{Principal: access.Principal{ObjectID: in.PrincipalID}, Action: in.Action, DataAction: in.DataAction, Scope: scope})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, res, nil
}
