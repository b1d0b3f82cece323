package authorization

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/policy"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Policy resource types.
const (
	PolicyDefinitionType = "Microsoft.Authorization/policyDefinitions"
	PolicyAssignmentType = "Microsoft.Authorization/policyAssignments"
)

var policyNameRE = regexp.MustCompile(`^[^<>*%&:\\?.+/]{1,128}$`)

func registerPolicy(s *arm.Service) {
	s.Register(PolicyDefinitionType, "2015-10-01", policyDefinitions{}, crudActions(PolicyDefinitionType))
	s.Register(PolicyAssignmentType, "2015-10-01", policyAssignments{}, crudActions(PolicyAssignmentType))
}

func definitionPolicyView(d policy.Definition) map[string]any {
	params := any(d.Parameters)
	if d.Parameters == nil {
		params = map[string]any{}
	}
	return map[string]any{"id": d.ID, "name": d.Name, "type": PolicyDefinitionType, "properties": map[string]any{
		"displayName": d.DisplayName, "description": d.Description, "policyType": d.PolicyType, "mode": d.Mode,
		"parameters": params, "policyRule": d.PolicyRule, "metadata": rawOrEmpty(d.Metadata)}}
}

func rawOrEmpty(r json.RawMessage) any {
	if len(r) == 0 {
		return map[string]any{}
	}
	return r
}

type policyDefinitions struct{}

func (policyDefinitions) ServeARM(c *arm.Call) (int, any, error) {
	scope := scopeOf(c)
	if c.ID.SubscriptionID == "" || c.ID.ResourceGroup != "" {
		if c.R.Method == http.MethodGet && c.ID.IsCollection() && c.ID.SubscriptionID == "" {
			return http.StatusOK, map[string]any{"value": []any{}}, nil // no built-in definitions
		}
		return 0, nil, azerr.BadRequest("InvalidScope", "Policy definitions live at subscription scope: /subscriptions/{id}/providers/Microsoft.Authorization/policyDefinitions/{name}.")
	}
	if c.ID.IsCollection() {
		if c.R.Method != http.MethodGet {
			return 0, nil, methodNotAllowed(c.R)
		}
		if err := c.Authorize(PolicyDefinitionType+"/read", scope); err != nil {
			return 0, nil, err
		}
		var ds []policy.Definition
		if err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
			var err error
			ds, err = policy.ListDefinitionsTx(tx)
			return err
		}); err != nil {
			return 0, nil, err
		}
		out := []any{}
		for _, d := range ds {
			if strings.HasPrefix(strings.ToLower(d.ID), strings.ToLower(scope)+"/") {
				out = append(out, definitionPolicyView(d))
			}
		}
		return http.StatusOK, map[string]any{"value": out}, nil
	}
	name := c.ID.Name()
	id := scope + "/providers/" + PolicyDefinitionType + "/" + name
	switch c.R.Method {
	case http.MethodGet:
		if err := c.Authorize(PolicyDefinitionType+"/read", id); err != nil {
			return 0, nil, err
		}
		var d policy.Definition
		err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
			var err error
			d, err = policy.GetDefinitionTx(tx, id)
			return err
		})
		if errors.Is(err, policy.ErrNotFound) {
			return 0, nil, azerr.NotFound("PolicyDefinitionNotFound", "The policy definition '%s' could not be found.", name)
		}
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, definitionPolicyView(d), nil
	case http.MethodPut:
		if err := c.Authorize(PolicyDefinitionType+"/write", id); err != nil {
			return 0, nil, err
		}
		if !policyNameRE.MatchString(name) {
			return 0, nil, azerr.BadRequest("InvalidPolicyDefinitionName", "The policy definition name '%s' is invalid.", name)
		}
		var in struct {
			Properties *struct {
				DisplayName string                     `json:"displayName"`
				Description string                     `json:"description"`
				PolicyType  string                     `json:"policyType"`
				Mode        string                     `json:"mode"`
				Parameters  map[string]policy.ParamDef `json:"parameters"`
				PolicyRule  json.RawMessage            `json:"policyRule"`
				Metadata    json.RawMessage            `json:"metadata"`
			} `json:"properties"`
		}
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
		p := in.Properties
		if p == nil || len(p.PolicyRule) == 0 {
			return 0, nil, azerr.BadRequest("InvalidPolicyRule", "The policy definition needs properties.policyRule.")
		}
		if p.PolicyType != "" && !strings.EqualFold(p.PolicyType, "Custom") {
			return 0, nil, azerr.BadRequest("InvalidPolicyType", "Only Custom policy definitions can be created.")
		}
		d := policy.Definition{ID: id, Name: name, DisplayName: p.DisplayName, Description: p.Description, PolicyType: "Custom",
			Mode: p.Mode, Parameters: p.Parameters, PolicyRule: p.PolicyRule, Metadata: p.Metadata}
		if err := policy.ValidateDefinition(&d); err != nil {
			return 0, nil, err
		}
		// Azure answers 201 to creates and updates alike (az accepts nothing else).
		if err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error { return policy.PutDefinitionTx(tx, d) }); err != nil {
			return 0, nil, err
		}
		return http.StatusCreated, definitionPolicyView(d), nil
	case http.MethodDelete:
		if err := c.Authorize(PolicyDefinitionType+"/delete", id); err != nil {
			return 0, nil, err
		}
		err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error { return policy.DeleteDefinitionTx(tx, id) })
		if errors.Is(err, policy.ErrNotFound) {
			return http.StatusNoContent, nil, nil
		}
		return http.StatusOK, nil, err
	}
	return 0, nil, methodNotAllowed(c.R)
}

func methodNotAllowed(r *http.Request) error {
	return azerr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '%s'.", r.Method)
}

func assignmentPolicyView(a policy.Assignment) map[string]any {
	params := any(a.Parameters)
	if a.Parameters == nil {
		params = map[string]any{}
	}
	notScopes := a.NotScopes
	if notScopes == nil {
		notScopes = []string{}
	}
	return map[string]any{"id": a.ID, "name": a.Name, "type": PolicyAssignmentType, "properties": map[string]any{
		"displayName": a.DisplayName, "description": a.Description, "policyDefinitionId": a.PolicyDefinitionID, "scope": a.Scope,
		"notScopes": notScopes, "parameters": params, "enforcementMode": a.EnforcementMode, "metadata": map[string]any{"createdBy": a.CreatedBy, "createdOn": a.CreatedOn}}}
}

type policyAssignments struct{}

func (policyAssignments) ServeARM(c *arm.Call) (int, any, error) {
	scope := scopeOf(c)
	if c.ID.SubscriptionID == "" {
		return 0, nil, azerr.BadRequest("InvalidScope", "Policy assignments are made at a subscription, resource group or resource.")
	}
	if c.ID.IsCollection() {
		if c.R.Method != http.MethodGet {
			return 0, nil, methodNotAllowed(c.R)
		}
		if err := c.Authorize(PolicyAssignmentType+"/read", scope); err != nil {
			return 0, nil, err
		}
		var as []policy.Assignment
		if err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
			var err error
			as, err = policy.ListAssignmentsTx(tx)
			return err
		}); err != nil {
			return 0, nil, err
		}
		out := []any{}
		for _, a := range as {
			s, sc := strings.ToLower(scope), strings.ToLower(a.Scope)
			if s == sc || strings.HasPrefix(s, sc+"/") || strings.HasPrefix(sc, s+"/") {
				out = append(out, assignmentPolicyView(a))
			}
		}
		return http.StatusOK, map[string]any{"value": out}, nil
	}
	name := c.ID.Name()
	id := scope + "/providers/" + PolicyAssignmentType + "/" + name
	switch c.R.Method {
	case http.MethodGet:
		if err := c.Authorize(PolicyAssignmentType+"/read", id); err != nil {
			return 0, nil, err
		}
		var a policy.Assignment
		err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
			var err error
			a, err = policy.GetAssignmentTx(tx, id)
			return err
		})
		if errors.Is(err, policy.ErrNotFound) {
			return 0, nil, azerr.NotFound("PolicyAssignmentNotFound", "The policy assignment '%s' is not found.", name)
		}
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, assignmentPolicyView(a), nil
	case http.MethodPut:
		if err := c.Authorize(PolicyAssignmentType+"/write", id); err != nil {
			return 0, nil, err
		}
		if !policyNameRE.MatchString(name) || len(name) > 64 {
			return 0, nil, azerr.BadRequest("InvalidPolicyAssignmentName", "The policy assignment name '%s' is invalid.", name)
		}
		var in struct {
			Properties *struct {
				DisplayName        string                           `json:"displayName"`
				Description        string                           `json:"description"`
				PolicyDefinitionID string                           `json:"policyDefinitionId"`
				NotScopes          []string                         `json:"notScopes"`
				Parameters         map[string]policy.ParameterValue `json:"parameters"`
				EnforcementMode    string                           `json:"enforcementMode"`
			} `json:"properties"`
		}
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
		p := in.Properties
		if p == nil || p.PolicyDefinitionID == "" {
			return 0, nil, azerr.BadRequest("InvalidPolicyAssignment", "The policy assignment needs properties.policyDefinitionId.")
		}
		segs, err := arm.CleanPath(scope)
		if err != nil {
			return 0, nil, err
		}
		sid, err := arm.ParseID(segs)
		if err != nil {
			return 0, nil, err
		}
		a := policy.Assignment{ID: id, Name: name, Scope: canonicalScope(scope), DisplayName: p.DisplayName, Description: p.Description,
			PolicyDefinitionID: p.PolicyDefinitionID, NotScopes: p.NotScopes, Parameters: p.Parameters, EnforcementMode: p.EnforcementMode,
			CreatedBy: c.Caller.ObjectID, CreatedOn: time.Now().UTC()}
		status := http.StatusCreated
		err = c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error {
			if err := arm.ScopeExistsTx(tx, sid); err != nil {
				return err
			}
			if old, err := policy.GetAssignmentTx(tx, id); err == nil {
				a.CreatedBy, a.CreatedOn = old.CreatedBy, old.CreatedOn // Azure answers 201 to updates too
			}
			if err := policy.PutAssignmentTx(tx, a); err != nil {
				return err
			}
			a, err = policy.GetAssignmentTx(tx, id)
			return err
		})
		if err != nil {
			return 0, nil, err
		}
		return status, assignmentPolicyView(a), nil
	case http.MethodDelete:
		if err := c.Authorize(PolicyAssignmentType+"/delete", id); err != nil {
			return 0, nil, err
		}
		var a policy.Assignment
		err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error {
			var err error
			if a, err = policy.GetAssignmentTx(tx, id); err != nil {
				return err
			}
			return policy.DeleteAssignmentTx(tx, id)
		})
		if errors.Is(err, policy.ErrNotFound) {
			return http.StatusNoContent, nil, nil
		}
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, assignmentPolicyView(a), nil
	}
	return 0, nil, methodNotAllowed(c.R)
}
