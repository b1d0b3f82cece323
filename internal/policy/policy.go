package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Collections this package owns.
const (
	colDefinitions = "policy.definitions"
	colAssignments = "policy.assignments"
	colEvents      = "policy.events"
)

// Definition is a policy definition.
type Definition struct {
	ID          string              `json:"id"`
	Name        string              `json:"name"`
	DisplayName string              `json:"displayName,omitempty"`
	Description string              `json:"description,omitempty"`
	PolicyType  string              `json:"policyType"`
	Mode        string              `json:"mode"`
	Parameters  map[string]ParamDef `json:"parameters,omitempty"`
	PolicyRule  json.RawMessage     `json:"policyRule"`
	Metadata    json.RawMessage     `json:"metadata,omitempty"`
}

// ParamDef is a definition's parameter.
type ParamDef struct {
	Type          string          `json:"type"`
	DefaultValue  any             `json:"defaultValue,omitempty"`
	AllowedValues []any           `json:"allowedValues,omitempty"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
}

// Assignment assigns a definition at a scope.
type Assignment struct {
	ID                 string                    `json:"id"`
	Name               string                    `json:"name"`
	Scope              string                    `json:"scope"`
	DisplayName        string                    `json:"displayName,omitempty"`
	Description        string                    `json:"description,omitempty"`
	PolicyDefinitionID string                    `json:"policyDefinitionId"`
	NotScopes          []string                  `json:"notScopes,omitempty"`
	Parameters         map[string]ParameterValue `json:"parameters,omitempty"`
	EnforcementMode    string                    `json:"enforcementMode"`
	CreatedBy          string                    `json:"createdBy,omitempty"`
	CreatedOn          time.Time                 `json:"createdOn"`
}

// ParameterValue is an assignment's value for a parameter.
type ParameterValue struct {
	Value any `json:"value"`
}

func key(id string) string { return strings.ToLower(strings.TrimRight(id, "/")) }

// ValidateDefinition compiles the rule and checks parameters.
func ValidateDefinition(d *Definition) error {
	if d.Mode == "" {
		d.Mode = "All"
	}
	if !strings.EqualFold(d.Mode, "All") && !strings.EqualFold(d.Mode, "Indexed") {
		return azerr.BadRequest("InvalidPolicyMode", "The policy mode '%s' is not valid: use All or Indexed.", d.Mode)
	}
	if d.PolicyType == "" {
		d.PolicyType = "Custom"
	}
	for name, p := range d.Parameters {
		switch strings.ToLower(p.Type) {
		case "string", "array", "object", "boolean", "integer", "float", "datetime":
		default:
			return azerr.BadRequest("InvalidPolicyParameters", "The parameter '%s' has type '%s': use String, Array, Object, Boolean, Integer, Float or DateTime.", name, p.Type)
		}
	}
	if _, err := CompileRule(d.PolicyRule); err != nil {
		return err
	}
	var rule any
	_ = json.Unmarshal(d.PolicyRule, &rule)
	for _, name := range referencedParams(rule, nil) {
		if _, ok := lookupParam(d.Parameters, name); !ok {
			return azerr.BadRequest("InvalidPolicyRule", "Failed to parse policy rule: the policy parameter '%s' is used by the rule of policy '%s' but is not defined in its parameters.", name, d.Name)
		}
	}
	for name, p := range d.Parameters {
		if p.DefaultValue != nil && len(p.AllowedValues) > 0 && !allowedValue(p, p.DefaultValue) {
			return azerr.BadRequest("PolicyParameterAllowedAndDefaultValuesMismatch", "The policy '%s' defines parameter '%s' with a default value '%s' and allowed values '%s'. The 'allowedValues' property must include the value of the 'defaultValue' property if both are present.",
				d.Name, name, showValue(p.DefaultValue), joinValues(p.AllowedValues, ","))
		}
	}
	return nil
}

var paramRefRE = regexp.MustCompile(`(?i)\bparameters\(\s*'([^']*)'\s*\)`)

// referencedParams lists the parameter names the rule's template expressions ("[...]"
// strings, in keys or values) use.
func referencedParams(v any, out []string) []string {
	str := func(s string) {
		if strings.HasPrefix(s, "[") && !strings.HasPrefix(s, "[[") {
			for _, m := range paramRefRE.FindAllStringSubmatch(s, -1) {
				out = append(out, m[1])
			}
		}
	}
	switch t := v.(type) {
	case string:
		str(t)
	case []any:
		for _, e := range t {
			out = referencedParams(e, out)
		}
	case map[string]any:
		for k, e := range t {
			str(k)
			out = referencedParams(e, out)
		}
	}
	return out
}

// allowedValue reports whether v is one of p's allowed values (compared as JSON, strings
// case-sensitively as Azure does); for an array, each element may be listed instead.
func allowedValue(p ParamDef, v any) bool {
	for _, av := range p.AllowedValues {
		if reflect.DeepEqual(normalizeJSON(av), normalizeJSON(v)) {
			return true
		}
	}
	if arr, ok := v.([]any); ok {
		for _, e := range arr {
			if !allowedValue(ParamDef{AllowedValues: p.AllowedValues}, e) {
				return false
			}
		}
		return true
	}
	return false
}

func normalizeJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func showValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func joinValues(vs []any, sep string) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = showValue(v)
	}
	return strings.Join(parts, sep)
}

// PutDefinitionTx stores a definition.
func PutDefinitionTx(tx store.Tx, d Definition) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return tx.Put(colDefinitions, key(d.ID), b)
}

// ErrNotFound is returned for an unknown definition or assignment.
var ErrNotFound = errors.New("policy: not found")

// GetDefinitionTx returns a definition by id.
func GetDefinitionTx(tx store.Tx, id string) (Definition, error) {
	var d Definition
	b, err := tx.Get(colDefinitions, key(id))
	if errors.Is(err, store.ErrNotFound) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, err
	}
	return d, json.Unmarshal(b, &d)
}

// DeleteDefinitionTx removes a definition, refused while an assignment uses it.
func DeleteDefinitionTx(tx store.Tx, id string) error {
	as, err := ListAssignmentsTx(tx)
	if err != nil {
		return err
	}
	for _, a := range as {
		if key(a.PolicyDefinitionID) == key(id) {
			return azerr.BadRequest("PolicyDefinitionInUse", "The policy definition '%s' is assigned (assignment %s); delete its assignments first.", id, a.ID)
		}
	}
	err = tx.Delete(colDefinitions, key(id))
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// ListDefinitionsTx returns every definition.
func ListDefinitionsTx(tx store.Tx) ([]Definition, error) {
	items, err := tx.List(colDefinitions, "")
	if err != nil {
		return nil, err
	}
	out := make([]Definition, 0, len(items))
	for _, it := range items {
		var d Definition
		if err := json.Unmarshal(it.Value, &d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// PutAssignmentTx validates and stores an assignment.
func PutAssignmentTx(tx store.Tx, a Assignment) error {
	d, err := GetDefinitionTx(tx, a.PolicyDefinitionID)
	if errors.Is(err, ErrNotFound) {
		return azerr.BadRequest("PolicyDefinitionNotFound", "The policy definition '%s' could not be found.", a.PolicyDefinitionID)
	}
	if err != nil {
		return err
	}
	if _, err := parameters(d, a); err != nil {
		return err
	}
	for k := range a.Parameters {
		if _, ok := lookupParam(d.Parameters, k); !ok {
			return azerr.BadRequest("UndefinedPolicyParameter", "The policy assignment gives parameter '%s', which the definition does not declare.", k)
		}
	}
	if a.EnforcementMode == "" {
		a.EnforcementMode = "Default"
	}
	if a.EnforcementMode != "Default" && a.EnforcementMode != "DoNotEnforce" {
		return azerr.BadRequest("InvalidEnforcementMode", "enforcementMode '%s' is not valid: use Default or DoNotEnforce.", a.EnforcementMode)
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return tx.Put(colAssignments, key(a.ID), b)
}

func lookupParam(ps map[string]ParamDef, name string) (ParamDef, bool) {
	for k, p := range ps {
		if strings.EqualFold(k, name) {
			return p, true
		}
	}
	return ParamDef{}, false
}

// parameters are the effective parameter values of an assignment: given values, else
// defaults; every declared parameter must have one, within its allowed values.
func parameters(d Definition, a Assignment) (map[string]any, error) {
	out := map[string]any{}
	for name, p := range d.Parameters {
		var v any
		found := false
		for k, pv := range a.Parameters {
			if strings.EqualFold(k, name) {
				v, found = pv.Value, true
			}
		}
		if !found {
			if p.DefaultValue == nil {
				return nil, azerr.BadRequest("MissingPolicyParameter", "The policy parameter '%s' needs a value in the assignment (it has no defaultValue).", name)
			}
			v = p.DefaultValue
		}
		if len(p.AllowedValues) > 0 && !allowedValue(p, v) {
			return nil, azerr.BadRequest("PolicyParameterValueNotAllowed", "The value '%s' is not allowed for policy parameter '%s' in policy definition '%s'. The allowed values are '%s'.",
				showValue(v), name, d.Name, joinValues(p.AllowedValues, ", "))
		}
		out[name] = v
	}
	return out, nil
}

// GetAssignmentTx returns an assignment by id.
func GetAssignmentTx(tx store.Tx, id string) (Assignment, error) {
	var a Assignment
	b, err := tx.Get(colAssignments, key(id))
	if errors.Is(err, store.ErrNotFound) {
		return a, ErrNotFound
	}
	if err != nil {
		return a, err
	}
	return a, json.Unmarshal(b, &a)
}

// DeleteAssignmentTx removes an assignment.
func DeleteAssignmentTx(tx store.Tx, id string) error {
	err := tx.Delete(colAssignments, key(id))
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// ListAssignmentsTx returns every assignment.
func ListAssignmentsTx(tx store.Tx) ([]Assignment, error) {
	items, err := tx.List(colAssignments, "")
	if err != nil {
		return nil, err
	}
	out := make([]Assignment, 0, len(items))
	for _, it := range items {
		var a Assignment
		if err := json.Unmarshal(it.Value, &a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func within(inner, outer string) bool {
	i, o := key(inner), key(outer)
	return o == "" || i == o || strings.HasPrefix(i, o+"/")
}

// Result is one assignment's verdict on a write.
type Result struct {
	Assignment Assignment
	Definition Definition
	Effect     string
}

// Denies reports whether the result refuses the write: a deny effect under an enforced
// assignment. Gate and explain decide with it alike.
func (r Result) Denies() bool {
	return r.Effect == "deny" && r.Assignment.EnforcementMode != "DoNotEnforce"
}

// EvaluateTx runs every assignment whose scope covers the resource (doc["id"]) and returns
// the ones whose rule matched with an effect other than disabled.
func EvaluateTx(tx store.Tx, doc map[string]any) ([]Result, error) {
	id, _ := doc["id"].(string)
	as, err := ListAssignmentsTx(tx)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, a := range as {
		if !within(id, a.Scope) {
			continue
		}
		excluded := false
		for _, ns := range a.NotScopes {
			excluded = excluded || within(id, ns)
		}
		if excluded {
			continue
		}
		d, err := GetDefinitionTx(tx, a.PolicyDefinitionID)
		if err != nil {
			continue // a dangling assignment enforces nothing
		}
		rule, err := CompileRule(d.PolicyRule)
		if err != nil {
			continue
		}
		params, err := parameters(d, a)
		if err != nil {
			return nil, err
		}
		effect, err := rule.Effect(doc, params)
		if err != nil {
			return nil, err
		}
		if effect != "" && effect != "disabled" {
			out = append(out, Result{Assignment: a, Definition: d, Effect: effect})
		}
	}
	return out, nil
}

// Gate applies the results of EvaluateTx: deny (when enforced) refuses the write with
// Azure's 403 RequestDisallowedByPolicy; audits are recorded in the same transaction.
func Gate(tx store.Tx, results []Result, resourceID, resourceName, caller string, now time.Time) error {
	var denied []Result
	for _, r := range results {
		switch {
		case r.Denies():
			denied = append(denied, r)
		case r.Effect == "audit" || r.Effect == "deny":
			ev := map[string]any{"time": now.UTC(), "resourceId": resourceID, "effect": r.Effect, "caller": caller,
				"policyAssignmentId": r.Assignment.ID, "policyDefinitionId": r.Definition.ID, "compliance": "NonCompliant"}
			b, _ := json.Marshal(ev)
			if err := tx.Put(colEvents, now.UTC().Format(time.RFC3339Nano)+"/"+key(r.Assignment.ID), b); err != nil {
				return err
			}
		}
	}
	if len(denied) == 0 {
		return nil
	}
	type ref struct {
		Name    string `json:"name"`
		ID      string `json:"id"`
		Version string `json:"version,omitempty"`
	}
	var ids []map[string]ref
	e := azerr.New(http.StatusForbidden, "RequestDisallowedByPolicy", "")
	e.Target = resourceName
	for _, r := range denied {
		aname := r.Assignment.DisplayName
		if aname == "" {
			aname = r.Assignment.Name
		}
		dname := r.Definition.DisplayName
		if dname == "" {
			dname = r.Definition.Name
		}
		ids = append(ids, map[string]ref{"policyAssignment": {Name: aname, ID: r.Assignment.ID}, "policyDefinition": {Name: dname, ID: r.Definition.ID, Version: "1.0.0"}})
		e.AdditionalInfo = append(e.AdditionalInfo, azerr.AdditionalInfo{Type: "PolicyViolation", Info: map[string]any{
			"policyDefinitionId": r.Definition.ID, "policyDefinitionName": r.Definition.Name, "policyDefinitionDisplayName": r.Definition.DisplayName,
			"policyDefinitionEffect": "deny", "policyAssignmentId": r.Assignment.ID, "policyAssignmentName": r.Assignment.Name,
			"policyAssignmentDisplayName": r.Assignment.DisplayName, "policyAssignmentScope": r.Assignment.Scope,
			"policyAssignmentParameters": r.Assignment.Parameters}})
	}
	b, _ := json.Marshal(ids)
	e.Message = fmt.Sprintf("Resource '%s' was disallowed by policy. Policy identifiers: '%s'.", resourceName, b)
	return e
}

// Event is a recorded policy effect (audit, or deny under DoNotEnforce).
type Event struct {
	Time               time.Time `json:"time"`
	ResourceID         string    `json:"resourceId"`
	Effect             string    `json:"effect"`
	Caller             string    `json:"caller"`
	PolicyAssignmentID string    `json:"policyAssignmentId"`
	PolicyDefinitionID string    `json:"policyDefinitionId"`
}

// EventsTx lists the recorded policy effects, oldest first.
func EventsTx(tx store.Tx) ([]Event, error) {
	items, err := tx.List(colEvents, "")
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(items))
	for _, it := range items {
		var e Event
		if json.Unmarshal(it.Value, &e) == nil {
			out = append(out, e)
		}
	}
	return out, nil
}
