package bench

import (
	"strings"
	"testing"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"

	"github.com/cerulean-azure/cerulean/internal/authz"
)

// casbinModel is Casbin's RBAC-with-domains model: the domain is the subscription, a
// policy line grants a holder (user or group) an action pattern (a glob: Azure's "*" becomes
// "**", which crosses "/" as Azure's wildcard does) on a scope and everything below it, and
// grouping lines make users members of groups.
// casbinVersion is the Casbin release measured (kept in step with go.mod).
const casbinVersion = "v2.135.0"

const casbinModel = `
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && keyMatch(r.obj, p.obj) && globMatch(r.act, p.act)
`

// subscriptionOf returns the /subscriptions/<id> prefix of a scope, lower-cased.
func subscriptionOf(scope string) string {
	s := strings.ToLower(scope)
	if i := strings.Index(s[len("/subscriptions/"):], "/"); i >= 0 {
		return s[:len("/subscriptions/")+i]
	}
	return s
}

// newCasbin loads the workload's assignments into Casbin: one policy line per action or
// data action pattern of each assignment's role (prefixed "control/" or "data/" so that "*" in Actions grants no data action), and one
// grouping line per user and group its requests name. Casbin's model has no NotActions and
// no conditions, so it grants at least what Cerulean does: it answers a simpler question.
func newCasbin(tb testing.TB, w *workload) *casbin.Enforcer {
	tb.Helper()
	m, err := model.NewModelFromString(casbinModel)
	if err != nil {
		tb.Fatal(err)
	}
	e, err := casbin.NewEnforcer(m)
	if err != nil {
		tb.Fatal(err)
	}
	e.EnableAutoSave(false)
	var rules [][]string
	for _, a := range w.assignments {
		role, ok := authz.BuiltInRole(authz.RoleDefinitionGUID(a.RoleDefinitionID))
		if !ok {
			tb.Fatalf("no role %s", a.RoleDefinitionID)
		}
		dom, obj := subscriptionOf(a.Scope), strings.ToLower(a.Scope)+"*"
		for _, p := range role.Permissions {
			for _, act := range p.Actions {
				rules = append(rules, []string{strings.ToLower(a.PrincipalID), dom, obj, "control/" + casbinGlob(act)})
			}
			for _, act := range p.DataActions {
				rules = append(rules, []string{strings.ToLower(a.PrincipalID), dom, obj, "data/" + casbinGlob(act)})
			}
		}
	}
	if _, err := e.AddPolicies(dedupe(rules)); err != nil {
		tb.Fatal(err)
	}
	var groupings [][]string
	for _, req := range w.requests {
		for _, g := range req.PrincipalIDs[1:] {
			for _, dom := range []string{subscriptionOf(w.assignments[0].Scope), subscriptionOf(req.Scope)} {
				groupings = append(groupings, []string{strings.ToLower(req.PrincipalIDs[0]), strings.ToLower(g), dom})
			}
		}
	}
	if _, err := e.AddGroupingPolicies(dedupe(groupings)); err != nil {
		tb.Fatal(err)
	}
	return e
}

func casbinGlob(action string) string {
	return strings.ReplaceAll(strings.ToLower(action), "*", "**")
}

func dedupe(rows [][]string) [][]string {
	seen := map[string]bool{}
	out := rows[:0]
	for _, r := range rows {
		k := strings.Join(r, "\x00")
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

// casbinDecide asks Casbin the request's question.
func casbinDecide(tb testing.TB, e *casbin.Enforcer, req authz.Request) bool {
	act := "control/" + strings.ToLower(req.Action)
	if req.DataAction {
		act = "data/" + strings.ToLower(req.Action)
	}
	ok, err := e.Enforce(strings.ToLower(req.PrincipalIDs[0]), subscriptionOf(req.Scope), strings.ToLower(req.Scope), act)
	if err != nil {
		tb.Fatal(err)
	}
	return ok
}

func BenchmarkRBACCheckCasbin(b *testing.B) {
	w := newWorkload()
	e := newCasbin(b, w)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		casbinDecide(b, e, w.requests[i%len(w.requests)])
	}
}
