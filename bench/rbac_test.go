// Package bench holds Cerulean's benchmarks. Each prints its result beside a baseline
// measured in the same run; none asserts on time.
package bench

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cerulean-azure/cerulean/internal/authz"
)

// The RBAC workload: 5,000 role assignments (Azure's per-subscription limit) over two
// subscriptions, 50 resource groups and ~350 resources, held by 800 users and service
// principals and 50 groups, using 25 built-in roles; every User Access Administrator
// assignment carries seed 000's delegation condition (assign only Reader or Storage Account
// Contributor). Requests name a caller and two of its groups, an action and a target
// resource, as ARM and the data planes would; role-assignment writes carry the requested
// role as the condition's attribute.

const (
	numAssignments = 5000
	numPrincipals  = 800
	numGroups      = 50
	numChecks      = 20000
	numNaiveChecks = 2000 // the baseline is slow; it runs on a prefix of the same requests
	// numCasbinChecks is Casbin's prefix: it scans every policy line per check.
	numCasbinChecks = 300

	roleReaderGUID         = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	roleStorageContribGUID = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
	roleOwnerGUID          = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	delegationCondition    = "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR " +
		"(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {" +
		roleReaderGUID + ", " + roleStorageContribGUID + "}))"
)

// requestAttributes answers a condition's @Request attributes (case-insensitive names).
type requestAttributes map[string][]string

func (a requestAttributes) Request(k string) ([]string, bool) {
	v, ok := a[strings.ToLower(k)]
	return v, ok
}
func (requestAttributes) Resource(string) ([]string, bool)  { return nil, false }
func (requestAttributes) Principal(string) ([]string, bool) { return nil, false }

type resourceKind int

const (
	kindVM resourceKind = iota
	kindVault
	kindAccount
	kindShare
	kindIdentity
)

type resource struct {
	id   string
	kind resourceKind
}

type workload struct {
	assignments []authz.Assignment
	requests    []authz.Request
	index       *authz.Index
}

func guid(r *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xfff, r.Uint64()&0xffffffffffff)
}

func roleGUID(name string) string {
	r, ok := authz.BuiltInRoleByName(name)
	if !ok {
		panic("no built-in role " + name)
	}
	return r.Name
}

var (
	subRoles      = []string{"Reader", "Contributor", "Owner", "User Access Administrator", "Key Vault Reader", "Storage Account Contributor"}
	groupRoles    = []string{"Contributor", "Reader", "Virtual Machine Contributor", "Managed Identity Operator", "Key Vault Secrets User", "Storage Blob Data Reader", "Storage File Data SMB Share Contributor", "Key Vault Crypto Officer"}
	resourceRoles = map[resourceKind][]string{
		kindVM:       {"Virtual Machine Administrator Login", "Virtual Machine User Login", "Virtual Machine Contributor", "Reader"},
		kindVault:    {"Key Vault Secrets User", "Key Vault Crypto User", "Key Vault Administrator", "Key Vault Reader", "Key Vault Crypto Service Encryption User", "Key Vault Secrets Officer"},
		kindAccount:  {"Storage Blob Data Contributor", "Reader and Data Access", "Storage Account Contributor", "Storage Account Key Operator Service Role", "Storage File Data Privileged Reader"},
		kindShare:    {"Storage File Data SMB Share Reader", "Storage File Data SMB Share Contributor", "Storage File Data SMB Share Elevated Contributor", "Storage File Data SMB Admin"},
		kindIdentity: {"Managed Identity Operator", "Managed Identity Contributor"},
	}
	actions = map[resourceKind][]struct {
		action string
		data   bool
		child  string
	}{
		kindVM: {
			{"Microsoft.Compute/virtualMachines/read", false, ""},
			{"Microsoft.Compute/virtualMachines/write", false, ""},
			{"Microsoft.Compute/virtualMachines/start/action", false, ""},
			{"Microsoft.Compute/virtualMachines/login/action", true, ""},
			{"Microsoft.Authorization/roleAssignments/write", false, ""},
		},
		kindVault: {
			{"Microsoft.KeyVault/vaults/read", false, ""},
			{"Microsoft.KeyVault/vaults/secrets/getSecret/action", true, "/secrets/db-password"},
			{"Microsoft.KeyVault/vaults/keys/wrap/action", true, "/keys/cmk"},
			{"Microsoft.KeyVault/vaults/keys/unwrap/action", true, "/keys/cmk"},
		},
		kindAccount: {
			{"Microsoft.Storage/storageAccounts/read", false, ""},
			{"Microsoft.Storage/storageAccounts/listKeys/action", false, ""},
			{"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read", true, "/blobServices/default/containers/logs/blobs/a.txt"},
		},
		kindShare: {
			{"Microsoft.Storage/storageAccounts/fileServices/fileshares/files/read", true, "/docs/report.docx"},
			{"Microsoft.Storage/storageAccounts/fileServices/fileshares/files/write", true, "/docs/report.docx"},
			{"Microsoft.Storage/storageAccounts/fileServices/fileshares/files/modifypermissions/action", true, "/docs"},
		},
		kindIdentity: {
			{"Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", false, ""},
			{"Microsoft.ManagedIdentity/userAssignedIdentities/read", false, ""},
		},
	}
)

func newWorkload() *workload {
	r := rand.New(rand.NewPCG(1, 2))
	var subs, groupsOfRG []string
	var resources []resource
	for s := 0; s < 2; s++ {
		sub := "/subscriptions/" + guid(r)
		subs = append(subs, sub)
		for g := 0; g < 25; g++ {
			rg := fmt.Sprintf("%s/resourceGroups/rg-%02d", sub, g)
			groupsOfRG = append(groupsOfRG, rg)
			acct := rg + fmt.Sprintf("/providers/Microsoft.Storage/storageAccounts/acct%02d%d", g, s)
			resources = append(resources,
				resource{rg + "/providers/Microsoft.Compute/virtualMachines/vm-a", kindVM},
				resource{rg + "/providers/Microsoft.Compute/virtualMachines/vm-b", kindVM},
				resource{rg + fmt.Sprintf("/providers/Microsoft.KeyVault/vaults/kv%02d%d", g, s), kindVault},
				resource{acct, kindAccount},
				resource{acct + "/fileServices/default/fileshares/share1", kindShare},
				resource{acct + "/fileServices/default/fileshares/share2", kindShare},
				resource{rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1", kindIdentity},
			)
		}
	}
	users := make([]string, numPrincipals)
	for i := range users {
		users[i] = guid(r)
	}
	groups := make([]string, numGroups)
	for i := range groups {
		groups[i] = guid(r)
	}
	holders := append(append([]string(nil), users...), groups...)

	w := &workload{}
	for i := 0; i < numAssignments; i++ {
		var scope, role string
		switch x := r.IntN(10); {
		case x == 0:
			scope, role = subs[r.IntN(len(subs))], subRoles[r.IntN(len(subRoles))]
		case x < 4:
			scope, role = groupsOfRG[r.IntN(len(groupsOfRG))], groupRoles[r.IntN(len(groupRoles))]
		default:
			res := resources[r.IntN(len(resources))]
			rs := resourceRoles[res.kind]
			scope, role = res.id, rs[r.IntN(len(rs))]
		}
		sub := scope
		if i := strings.Index(scope[len("/subscriptions/"):], "/"); i >= 0 {
			sub = scope[:len("/subscriptions/")+i]
		}
		a := authz.Assignment{
			Name:             guid(r),
			Scope:            scope,
			RoleDefinitionID: sub + "/providers/Microsoft.Authorization/roleDefinitions/" + roleGUID(role),
			PrincipalID:      holders[r.IntN(len(holders))],
			PrincipalType:    "User",
		}
		if role == "User Access Administrator" {
			a.Condition, a.ConditionVersion = delegationCondition, "2.0"
		}
		w.assignments = append(w.assignments, a)
	}
	w.index = authz.NewIndex(w.assignments, nil)

	for i := 0; i < numChecks; i++ {
		u := r.IntN(numPrincipals)
		principals := []string{users[u], groups[u%numGroups], groups[(u*7+3)%numGroups]}
		res := resources[r.IntN(len(resources))]
		as := actions[res.kind]
		a := as[r.IntN(len(as))]
		req := authz.Request{
			PrincipalIDs: principals,
			Action:       a.action,
			DataAction:   a.data,
			Scope:        res.id + a.child,
		}
		if a.action == "Microsoft.Authorization/roleAssignments/write" {
			role := []string{roleReaderGUID, roleOwnerGUID}[r.IntN(2)]
			req.Attributes = requestAttributes{"microsoft.authorization/roleassignments:roledefinitionid": {role}}
		}
		w.requests = append(w.requests, req)
	}
	return w
}

// naiveDecide is what a straightforward evaluator does: scan every assignment, compare
// principals and scopes with fresh lower-cased strings, look the role up, and turn each
// action pattern into a regular expression compiled for this check; an assignment with a
// condition is decided by parsing the condition for this check.
func naiveDecide(assignments []authz.Assignment, req authz.Request) bool {
	target := strings.ToLower(strings.TrimRight(req.Scope, "/"))
	for _, a := range assignments {
		mine := false
		for _, p := range req.PrincipalIDs {
			if strings.EqualFold(p, a.PrincipalID) {
				mine = true
				break
			}
		}
		if !mine {
			continue
		}
		scope := strings.ToLower(strings.TrimRight(a.Scope, "/"))
		if scope != "" && target != scope && !strings.HasPrefix(target, scope+"/") {
			continue
		}
		if a.Condition != "" {
			if authz.NewIndex([]authz.Assignment{a}, nil).Decide(req).Allowed {
				return true
			}
			continue
		}
		role, ok := authz.BuiltInRole(a.RoleDefinitionID)
		if !ok {
			continue
		}
		for _, p := range role.Permissions {
			allow, deny := p.Actions, p.NotActions
			if req.DataAction {
				allow, deny = p.DataActions, p.NotDataActions
			}
			if naiveMatchAny(allow, req.Action) && !naiveMatchAny(deny, req.Action) {
				return true
			}
		}
	}
	return false
}

func naiveMatchAny(patterns []string, action string) bool {
	for _, pat := range patterns {
		q := regexp.QuoteMeta(pat)
		q = strings.ReplaceAll(q, `/\*/`, `/(?:.*/)?`) // "a/*/b" also matches "a/b", as Azure does
		q = strings.ReplaceAll(q, `\*`, `.*`)
		if regexp.MustCompile("(?i)^" + q + "$").MatchString(action) {
			return true
		}
	}
	return false
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*50/100], s[len(s)*99/100]
}

// TestRBACCheckLatency times 20,000 checks against the index and a prefix of the same
// checks against the naive scan, checks that both agree, and logs p50/p99 (run with -v).
// It never asserts on time.
func TestRBACCheckLatency(t *testing.T) {
	if testing.Short() {
		t.Skip("timing run skipped in -short mode")
	}
	w := newWorkload()
	if got := w.index.Len(); got != numAssignments {
		t.Fatalf("index holds %d assignments, want %d", got, numAssignments)
	}

	// Warm up, then time each check on its own.
	for _, req := range w.requests[:1000] {
		w.index.Decide(req)
	}
	fast := make([]time.Duration, len(w.requests))
	allowed := 0
	for i, req := range w.requests {
		start := time.Now()
		d := w.index.Decide(req)
		fast[i] = time.Since(start)
		if d.Allowed {
			allowed++
		}
	}
	naive := make([]time.Duration, numNaiveChecks)
	for i, req := range w.requests[:numNaiveChecks] {
		start := time.Now()
		want := naiveDecide(w.assignments, req)
		naive[i] = time.Since(start)
		if got := w.index.Decide(req).Allowed; got != want {
			t.Errorf("check %d: index says %v, naive scan says %v (%s)", i, got, want, w.index.Decide(req).Explain())
		}
	}
	enforcer := newCasbin(t, w)
	policyLines, err := enforcer.GetPolicy()
	if err != nil {
		t.Fatal(err)
	}
	cas := make([]time.Duration, numCasbinChecks)
	agree := 0
	for i, req := range w.requests[:numCasbinChecks] {
		start := time.Now()
		got := casbinDecide(t, enforcer, req)
		cas[i] = time.Since(start)
		if got == w.index.Decide(req).Allowed {
			agree++
		}
	}
	p50, p99 := percentiles(fast)
	n50, n99 := percentiles(naive)
	c50, c99 := percentiles(cas)
	t.Logf("rbac check vs Casbin %s (RBAC with domains, %d policy lines, same assignments): Cerulean p50=%v p99=%v, Casbin p50=%v p99=%v, ratio %.0fx at p50, %.0fx at p99; decisions agree on %d of %d (Casbin has no NotActions or conditions)",
		casbinVersion, len(policyLines), p50, p99, c50, c99, float64(c50)/float64(max(p50, 1)), float64(c99)/float64(max(p99, 1)), agree, numCasbinChecks)
	t.Logf("rbac check: p50=%v p99=%v (naive scan baseline p50=%v p99=%v, ratio %.0fx at p50, %.0fx at p99); %d assignments, %d checks (%d allowed), %d baseline checks",
		p50, p99, n50, n99, float64(n50)/float64(max(p50, 1)), float64(n99)/float64(max(p99, 1)),
		numAssignments, len(w.requests), allowed, numNaiveChecks)
}

func BenchmarkRBACCheck(b *testing.B) {
	w := newWorkload()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		w.index.Decide(w.requests[i%len(w.requests)])
	}
}

func BenchmarkRBACCheckDeny(b *testing.B) {
	w := newWorkload()
	var denied []authz.Request
	for _, req := range w.requests {
		if !w.index.Decide(req).Allowed {
			denied = append(denied, req)
		}
	}
	if len(denied) == 0 {
		b.Fatal("workload has no denied requests")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if w.index.Decide(denied[i%len(denied)]).Allowed {
			b.Fatal("denied request allowed")
		}
	}
}

func BenchmarkRBACCheckNaive(b *testing.B) {
	w := newWorkload()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		naiveDecide(w.assignments, w.requests[i%len(w.requests)])
	}
}

func BenchmarkRBACIndexBuild(b *testing.B) {
	w := newWorkload()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		authz.NewIndex(w.assignments, nil)
	}
}

// TestRBACCheckAllocations pins the hot path's allocations: none for a check that
// evaluates no condition, allowed or denied, and at most one (the evaluation context) for
// one that does.
func TestRBACCheckAllocations(t *testing.T) {
	w := newWorkload()
	var plain, conditional []authz.Request
	for _, req := range w.requests {
		if req.Attributes != nil {
			conditional = append(conditional, req)
		} else {
			plain = append(plain, req)
		}
	}
	if len(conditional) == 0 {
		t.Fatal("workload has no conditional requests")
	}
	i := 0
	if a := testing.AllocsPerRun(5000, func() { w.index.Decide(plain[i%len(plain)]); i++ }); a != 0 {
		t.Errorf("%.2f allocations per check without conditions, want 0", a)
	}
	i = 0
	if a := testing.AllocsPerRun(1000, func() { w.index.Decide(conditional[i%len(conditional)]); i++ }); a > 1 {
		t.Errorf("%.2f allocations per check with a condition, want at most 1", a)
	}
}
