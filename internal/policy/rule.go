// Package policy is Azure Policy: definitions (policy rules with parameters) and assignments
// at subscription and resource-group scope, evaluated against every Resource Manager write.
// deny refuses the write (403 RequestDisallowedByPolicy, nothing stored); audit records it;
// disabled does nothing.
//
// It knows nothing of HTTP; package arm calls Evaluate, the Microsoft.Authorization provider
// stores definitions and assignments through it.
package policy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/azerr"
)

// Limits on a rule, so no definition can make evaluation loop or explode.
const (
	maxDepth = 32
	maxNodes = 2000
)

// node is a compiled rule condition.
type node struct {
	op    string // allOf, anyOf, not, or a leaf operator
	kids  []*node
	field string
	value any // the operand (possibly a parameter reference string)
}

var operators = map[string]bool{"equals": true, "notequals": true, "like": true, "notlike": true, "match": true, "notmatch": true,
	"matchinsensitively": true, "notmatchinsensitively": true, "contains": true, "notcontains": true, "in": true, "notin": true,
	"containskey": true, "notcontainskey": true, "less": true, "lessorequals": true, "greater": true, "greaterorequals": true, "exists": true}

func invalidRule(format string, args ...any) error {
	return azerr.BadRequest("InvalidPolicyRule", "The policy rule is not valid: "+format, args...)
}

// compile checks and compiles a condition.
func compile(raw any, depth int, count *int) (*node, error) {
	*count++
	if depth > maxDepth {
		return nil, invalidRule("conditions nest more than %d deep.", maxDepth)
	}
	if *count > maxNodes {
		return nil, invalidRule("more than %d conditions.", maxNodes)
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, invalidRule("a condition must be an object, got %T.", raw)
	}
	lower := map[string]any{}
	for k, v := range m {
		lower[strings.ToLower(k)] = v
	}
	for _, logical := range []string{"allof", "anyof"} {
		if v, ok := lower[logical]; ok {
			if len(lower) != 1 {
				return nil, invalidRule("'%s' must be alone in its object.", logical)
			}
			list, ok := v.([]any)
			if !ok || len(list) == 0 {
				return nil, invalidRule("'%s' must be a non-empty array of conditions.", logical)
			}
			n := &node{op: logical}
			for _, c := range list {
				k, err := compile(c, depth+1, count)
				if err != nil {
					return nil, err
				}
				n.kids = append(n.kids, k)
			}
			return n, nil
		}
	}
	if v, ok := lower["not"]; ok {
		if len(lower) != 1 {
			return nil, invalidRule("'not' must be alone in its object.")
		}
		k, err := compile(v, depth+1, count)
		if err != nil {
			return nil, err
		}
		return &node{op: "not", kids: []*node{k}}, nil
	}
	f, ok := lower["field"].(string)
	if !ok || f == "" {
		if _, isValue := lower["value"]; isValue {
			return nil, azerr.BadRequest("NotSupported", "Policy conditions on 'value' expressions are not supported by this version of Cerulean; use 'field'.")
		}
		if _, isCount := lower["count"]; isCount {
			return nil, azerr.BadRequest("NotSupported", "Policy 'count' expressions are not supported by this version of Cerulean.")
		}
		return nil, invalidRule("a condition needs 'field' (or allOf/anyOf/not).")
	}
	if len(lower) != 2 {
		return nil, invalidRule("the condition on field '%s' must have exactly one operator.", f)
	}
	for k, v := range lower {
		if k == "field" {
			continue
		}
		if !operators[k] {
			return nil, invalidRule("'%s' is not a policy operator.", k)
		}
		if (k == "in" || k == "notin") && !isArrayOrParam(v) {
			return nil, invalidRule("'%s' needs an array.", k)
		}
		return &node{op: k, field: f, value: v}, nil
	}
	return nil, invalidRule("no operator.")
}

func isArrayOrParam(v any) bool {
	if _, ok := v.([]any); ok {
		return true
	}
	s, ok := v.(string)
	return ok && paramRE.MatchString(s)
}

var paramRE = regexp.MustCompile(`^\[parameters\('([^']+)'\)\]$`)

// resolve replaces a parameter reference with its value.
func resolve(v any, params map[string]any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return v, nil
	}
	m := paramRE.FindStringSubmatch(s)
	if m == nil {
		return v, nil
	}
	for k, pv := range params {
		if strings.EqualFold(k, m[1]) {
			return pv, nil
		}
	}
	return nil, azerr.BadRequest("InvalidPolicyParameters", "The policy parameter '%s' has no value: give it in the assignment or a defaultValue in the definition.", m[1])
}

// fieldValue reads a field of the resource document. ok is false when it does not exist.
func fieldValue(doc map[string]any, field string) (any, bool) {
	f := strings.TrimSpace(field)
	lf := strings.ToLower(f)
	switch lf {
	case "type", "name", "kind", "location", "id", "fullname":
		if lf == "fullname" {
			lf = "name"
		}
		v, ok := lookup(doc, lf)
		return v, ok && v != nil && v != ""
	case "tags":
		v, ok := lookup(doc, "tags")
		return v, ok && v != nil
	}
	if strings.HasPrefix(lf, "tags[") || strings.HasPrefix(lf, "tags.") {
		name := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(f[4:], "."), "["), "]")
		name = strings.Trim(name, "'")
		tags, _ := lookup(doc, "tags")
		tm, _ := tags.(map[string]any)
		for k, v := range tm {
			if strings.EqualFold(k, name) {
				return v, true
			}
		}
		return nil, false
	}
	if strings.HasPrefix(lf, "identity.") {
		return path(doc, strings.Split(f, "."))
	}
	// An alias: <Namespace>/<type>/<path>; the resource's type must match for it to exist.
	typ, _ := lookup(doc, "type")
	ts, _ := typ.(string)
	if ts == "" || !strings.HasPrefix(lf, strings.ToLower(ts)+"/") {
		return nil, false
	}
	rest := f[len(ts)+1:]
	segs := strings.Split(rest, ".")
	if strings.EqualFold(segs[0], "sku") || strings.EqualFold(segs[0], "identity") || strings.EqualFold(segs[0], "kind") {
		return path(doc, segs)
	}
	props, _ := lookup(doc, "properties")
	pm, _ := props.(map[string]any)
	return path(pm, segs)
}

func lookup(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func path(m map[string]any, segs []string) (any, bool) {
	var cur any = m
	for _, s := range segs {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = lookup(mm, s); !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func likeMatch(pattern, s string) bool {
	re := "^(?is)" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	ok, _ := regexp.MatchString(re, s)
	return ok
}

func matchPattern(pattern, s string, fold bool) bool {
	if len(pattern) != len(s) {
		return false
	}
	for i := 0; i < len(pattern); i++ {
		p, c := pattern[i], s[i]
		switch p {
		case '#':
			if c < '0' || c > '9' {
				return false
			}
		case '?':
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return false
			}
		case '.':
		default:
			if fold && strings.ToLower(string(p)) != strings.ToLower(string(c)) || !fold && p != c {
				return false
			}
		}
	}
	return true
}

func normLocation(field, v string) string {
	if strings.EqualFold(field, "location") {
		return strings.ToLower(strings.ReplaceAll(v, " ", ""))
	}
	return v
}

func compare(a, b any) (int, bool) {
	fa, errA := strconv.ParseFloat(str(a), 64)
	fb, errB := strconv.ParseFloat(str(b), 64)
	if errA == nil && errB == nil {
		switch {
		case fa < fb:
			return -1, true
		case fa > fb:
			return 1, true
		}
		return 0, true
	}
	return strings.Compare(strings.ToLower(str(a)), strings.ToLower(str(b))), true
}

// eval evaluates a compiled condition.
func (n *node) eval(doc map[string]any, params map[string]any) (bool, error) {
	switch n.op {
	case "allof":
		for _, k := range n.kids {
			ok, err := k.eval(doc, params)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case "anyof":
		for _, k := range n.kids {
			ok, err := k.eval(doc, params)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case "not":
		ok, err := n.kids[0].eval(doc, params)
		return !ok, err
	}
	operand, err := resolve(n.value, params)
	if err != nil {
		return false, err
	}
	v, exists := fieldValue(doc, n.field)
	if n.op == "exists" {
		want := strings.EqualFold(str(operand), "true")
		return exists == want, nil
	}
	sv := normLocation(n.field, str(v))
	so := normLocation(n.field, str(operand))
	switch n.op {
	case "equals":
		return exists && strings.EqualFold(sv, so), nil
	case "notequals":
		return !exists || !strings.EqualFold(sv, so), nil
	case "like":
		return exists && likeMatch(so, sv), nil
	case "notlike":
		return !exists || !likeMatch(so, sv), nil
	case "match", "matchinsensitively":
		return exists && matchPattern(so, sv, n.op != "match"), nil
	case "notmatch", "notmatchinsensitively":
		return !exists || !matchPattern(so, sv, n.op != "notmatch"), nil
	case "contains":
		return exists && strings.Contains(strings.ToLower(sv), strings.ToLower(so)), nil
	case "notcontains":
		return !exists || !strings.Contains(strings.ToLower(sv), strings.ToLower(so)), nil
	case "in", "notin":
		list, _ := operand.([]any)
		in := false
		for _, x := range list {
			in = in || (exists && strings.EqualFold(sv, normLocation(n.field, str(x))))
		}
		return in == (n.op == "in"), nil
	case "containskey", "notcontainskey":
		m, _ := v.(map[string]any)
		_, has := lookup(m, so)
		return has == (n.op == "containskey"), nil
	}
	if !exists {
		return false, nil
	}
	c, _ := compare(v, operand)
	switch n.op {
	case "less":
		return c < 0, nil
	case "lessorequals":
		return c <= 0, nil
	case "greater":
		return c > 0, nil
	}
	return c >= 0, nil // greaterorequals
}

// Rule is a compiled policy rule: if <condition> then <effect>.
type Rule struct {
	cond   *node
	effect string // literal or a parameter reference
}

// CompileRule parses and checks a policyRule.
func CompileRule(raw json.RawMessage) (*Rule, error) {
	var r struct {
		If   any `json:"if"`
		Then struct {
			Effect string `json:"effect"`
		} `json:"then"`
	}
	if len(raw) > 256<<10 {
		return nil, invalidRule("the rule is larger than 256 KiB.")
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, invalidRule("%v.", err)
	}
	if r.If == nil {
		var whole map[string]json.RawMessage
		if json.Unmarshal(raw, &whole) == nil && (whole["policyRule"] != nil || whole["properties"] != nil) {
			// A whole definition (as the portal's editor takes it) given where only its rule goes.
			return nil, invalidRule("'if' is required: this is a whole policy definition (mode, policyRule, parameters), and only its policyRule goes here. " +
				"With az: --rules \"$(jq .policyRule file.json)\" --mode \"$(jq -r .mode file.json)\"; or PUT the whole object as the definition's properties.")
		}
		return nil, invalidRule("'if' is required.")
	}
	count := 0
	cond, err := compile(r.If, 0, &count)
	if err != nil {
		return nil, err
	}
	e := strings.ToLower(r.Then.Effect)
	switch {
	case e == "deny" || e == "audit" || e == "disabled" || paramRE.MatchString(r.Then.Effect):
	case e == "":
		return nil, invalidRule("'then.effect' is required.")
	default:
		return nil, azerr.BadRequest("NotSupported", "The policy effect '%s' is not supported by this version of Cerulean: use deny, audit or disabled.", r.Then.Effect)
	}
	return &Rule{cond: cond, effect: r.Then.Effect}, nil
}

// Effect evaluates the rule on a resource document with the assignment's parameter values
// and returns the effect ("deny", "audit", "disabled") or "" when the condition is false.
func (r *Rule) Effect(doc map[string]any, params map[string]any) (string, error) {
	ok, err := r.cond.eval(doc, params)
	if err != nil || !ok {
		return "", err
	}
	e, err := resolve(r.effect, params)
	if err != nil {
		return "", err
	}
	return strings.ToLower(fmt.Sprint(e)), nil
}
