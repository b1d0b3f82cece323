package e2e

// Regression tests for issue 10 (strictness): each one failed on the main it was filed against.

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/sas"
	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/cerulean-azure/cerulean/internal/keyvault"
	"github.com/cerulean-azure/cerulean/internal/server"
	"github.com/google/uuid"
)

const roleUserAccessAdmin = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"

// tokenOf returns an ARM token for cred.
func tokenOf(t *testing.T, cred azcore.TokenCredential) string {
	return tokenFor(t, cred, "https://management.azure.com/.default")
}

// tokenFor returns a token for cred and one scope.
func tokenFor(t *testing.T, cred azcore.TokenCredential, scope string) string {
	t.Helper()
	tok, err := cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// TestStrict_CustomRoleRewrite (item 1): a User Access Administrator of one resource group
// cannot rewrite a custom role assigned to it at the subscription to grant itself "*".
func TestStrict_CustomRoleRewrite(t *testing.T) {
	admin := adminCredential(t)
	rg := "rolerw-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	rgScope := subScope() + "/resourceGroups/" + rg
	roleID := uuid.NewString()
	rc := roleDefinitions(t, admin)
	if _, err := rc.CreateOrUpdate(ctxT(t), subScope(), roleID, customRole("Group Reader "+roleID[:8], []string{subScope()},
		"Microsoft.Resources/subscriptions/resourceGroups/read"), nil); err != nil {
		t.Fatal(err)
	}
	sp := newServicePrincipal(t, "role-rewriter")
	if err := assignRole(t, admin, subScope(), roleID, sp.ObjectID); err != nil {
		t.Fatal(err)
	}
	if err := assignRole(t, admin, rgScope, roleUserAccessAdmin, sp.ObjectID); err != nil {
		t.Fatal(err)
	}
	cred := spCredential(t, sp.AppID, sp.Password)

	// The rewrite narrows the role to the group P administers and widens it to "*".
	_, err := roleDefinitions(t, cred).CreateOrUpdate(ctxT(t), rgScope, roleID, customRole("Group Reader "+roleID[:8], []string{rgScope}, "*"), nil)
	wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")
	rd, err := rc.Get(ctxT(t), subScope(), roleID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := *rd.Properties.Permissions[0].Actions[0]; got != "Microsoft.Resources/subscriptions/resourceGroups/read" || len(rd.Properties.AssignableScopes) != 1 || *rd.Properties.AssignableScopes[0] != subScope() {
		t.Fatalf("the refused rewrite changed the role: %+v", rd.Properties)
	}
	if err := createGroup(t, cred, "escalated-"+uuid.NewString()[:8]); err == nil {
		t.Fatal("P created a resource group at subscription scope")
	} else {
		wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")
	}

	// Even the Owner may not drop a scope that assignments still use.
	_, err = rc.CreateOrUpdate(ctxT(t), rgScope, roleID, customRole("Group Reader "+roleID[:8], []string{rgScope},
		"Microsoft.Resources/subscriptions/resourceGroups/read"), nil)
	wantARMError(t, err, http.StatusBadRequest, "RoleScopeBeingRemovedContainsAssignments")
	// An update within the caller's rights still works.
	if _, err := rc.CreateOrUpdate(ctxT(t), subScope(), roleID, customRole("Group Reader "+roleID[:8], []string{subScope()},
		"Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.ManagedIdentity/userAssignedIdentities/read"), nil); err != nil {
		t.Fatalf("owner update: %v", err)
	}
}

// TestStrict_VaultPermissionModel (item 2): a Contributor cannot turn an RBAC vault's access
// policies on to read its secrets; changing the model takes roleAssignments/write.
func TestStrict_VaultPermissionModel(t *testing.T) {
	admin := adminCredential(t)
	rg, name := vaultFixture(t, false)
	if err := assignRole(t, admin, vaultScope(rg, name), roleKVSecretsOfficer, srv.AdminObjectID); err != nil {
		t.Fatal(err)
	}
	if _, err := secretsClient(t, name, admin).SetSecret(ctxT(t), "guarded", azsecrets.SetSecretParameters{Value: to.Ptr("guarded-value")}, nil); err != nil {
		t.Fatal(err)
	}
	sp := newServicePrincipal(t, "vault-contributor")
	if err := assignRole(t, admin, subScope()+"/resourceGroups/"+rg, roleContributor, sp.ObjectID); err != nil {
		t.Fatal(err)
	}
	cred := spCredential(t, sp.AppID, sp.Password)
	all := []*armkeyvault.SecretPermissions{to.Ptr(armkeyvault.SecretPermissionsGet), to.Ptr(armkeyvault.SecretPermissionsList)}
	_, err := vaultsClient(t, cred).Update(ctxT(t), rg, name, armkeyvault.VaultPatchParameters{Properties: &armkeyvault.VaultPatchProperties{
		EnableRbacAuthorization: to.Ptr(false),
		AccessPolicies: []*armkeyvault.AccessPolicyEntry{{TenantID: to.Ptr(srv.TenantID), ObjectID: to.Ptr(sp.ObjectID),
			Permissions: &armkeyvault.Permissions{Secrets: all}}},
	}}, nil)
	wantARMError(t, err, http.StatusBadRequest, "InsufficientPermissions")
	v, err := vaultsClient(t, admin).Get(ctxT(t), rg, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !*v.Properties.EnableRbacAuthorization || len(v.Properties.AccessPolicies) != 0 {
		t.Fatalf("the refused update changed the vault: rbac=%v policies=%d", *v.Properties.EnableRbacAuthorization, len(v.Properties.AccessPolicies))
	}
	_, err = secretsClient(t, name, cred).GetSecret(ctxT(t), "guarded", "", nil)
	wantKVError(t, err, http.StatusForbidden, "Forbidden", "ForbiddenByRbac")
	// Other updates stay a Contributor's to make, and the Owner may change the model.
	if _, err := vaultsClient(t, cred).Update(ctxT(t), rg, name, armkeyvault.VaultPatchParameters{Tags: map[string]*string{"team": to.Ptr("a")}}, nil); err != nil {
		t.Fatalf("contributor tag update: %v", err)
	}
	if _, err := vaultsClient(t, admin).Update(ctxT(t), rg, name, armkeyvault.VaultPatchParameters{Properties: &armkeyvault.VaultPatchProperties{
		EnableRbacAuthorization: to.Ptr(false)}}, nil); err != nil {
		t.Fatalf("owner switches the model: %v", err)
	}
}

// rawCall sends one request with an optional bearer token to base+path and returns the
// status and the body.
func rawCall(t *testing.T, method, url, token, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestStrict_NoExistenceOracle (item 10): a principal with no role gets the same 403 for
// subscriptions and resource groups that exist and for ones that do not; a principal with a
// role above still gets 404 for what is missing.
func TestStrict_NoExistenceOracle(t *testing.T) {
	admin := adminCredential(t)
	rg := "oracle-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	sp := newServicePrincipal(t, "no-role")
	tok := tokenOf(t, spCredential(t, sp.AppID, sp.Password))
	other := "/subscriptions/" + uuid.NewString()
	uami := "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x?api-version=2023-01-31"
	for _, pair := range [][2]string{
		{subScope() + "/resourceGroups/" + rg + uami, subScope() + "/resourceGroups/missing-" + rg + uami},
		{subScope() + "/resourceGroups/" + rg + "/resources?api-version=2021-04-01", subScope() + "/resourceGroups/missing-" + rg + "/resources?api-version=2021-04-01"},
		{subScope() + "/resourcegroups?api-version=2021-04-01", other + "/resourcegroups?api-version=2021-04-01"},
		{subScope() + "?api-version=2021-04-01", other + "?api-version=2021-04-01"},
		{subScope() + "/resourceGroups/" + rg + "?api-version=2021-04-01", subScope() + "/resourceGroups/missing-" + rg + "?api-version=2021-04-01"},
	} {
		for _, path := range pair {
			code, m := call(t, "GET", path, tok, "", nil)
			if code != http.StatusForbidden || errCode(m) != "AuthorizationFailed" {
				t.Errorf("GET %s without a role: %d %s, want 403 AuthorizationFailed", path, code, errCode(m))
			}
		}
	}
	adminTok := tokenOf(t, admin)
	if code, m := call(t, "GET", subScope()+"/resourceGroups/missing-"+rg+uami, adminTok, "", nil); code != http.StatusNotFound || errCode(m) != "ResourceGroupNotFound" {
		t.Errorf("the Owner asking for a missing group: %d %s, want 404 ResourceGroupNotFound", code, errCode(m))
	}
}

// TestStrict_HTTPSOnly (item 10): Resource Manager and the token endpoints refuse plain HTTP
// (credentials would travel in the clear); IMDS refuses requests carrying X-Forwarded-For.
func TestStrict_HTTPSOnly(t *testing.T) {
	plain := "http://" + strings.TrimPrefix(srv.ResourceManagerEndpoint, "https://")
	tok := tokenOf(t, adminCredential(t))
	code, body := rawCall(t, "GET", plain+subScope()+"/resourcegroups?api-version=2021-04-01", tok, "", nil)
	if code != http.StatusBadRequest || !strings.Contains(body, `"HttpsRequired"`) {
		t.Errorf("ARM over plain HTTP: %d %s", code, body)
	}
	form := "grant_type=client_credentials&client_id=" + srv.AdminClientID + "&client_secret=" + srv.AdminClientSecret + "&scope=https%3A%2F%2Fmanagement.azure.com%2F.default"
	tokenPath := "/" + srv.TenantID + "/oauth2/v2.0/token"
	code, body = rawCall(t, "POST", plain+tokenPath, "", form, map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if code != http.StatusBadRequest || !strings.Contains(body, `"invalid_request"`) || strings.Contains(body, "access_token") {
		t.Errorf("token endpoint over plain HTTP: %d %s", code, body)
	}
	if code, body = rawCall(t, "POST", srv.ResourceManagerEndpoint+tokenPath, "", form, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); code != http.StatusOK {
		t.Errorf("token endpoint over HTTPS: %d %s", code, body)
	}
	imds := plain + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"
	code, body = rawCall(t, "GET", imds, "", "", map[string]string{"Metadata": "true", "X-Forwarded-For": "10.1.2.3"})
	if code != http.StatusBadRequest || !strings.Contains(body, "X-Forwarded-For") {
		t.Errorf("IMDS with X-Forwarded-For: %d %s", code, body)
	}
	if code, body = rawCall(t, "GET", imds, "", "", map[string]string{"Metadata": "true"}); strings.Contains(body, "X-Forwarded-For") {
		t.Errorf("IMDS without X-Forwarded-For: %d %s", code, body)
	}
}

// TestStrict_ExplainIsTheGate (items 12 and 10): explain's verdict is the one ARM gives the
// write, a deny policy included, and it names only the policy assignments the asker may read.
func TestStrict_ExplainIsTheGate(t *testing.T) {
	admin := adminCredential(t)
	rg := "explgate-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	scope := subScope() + "/resourceGroups/" + rg
	roleID := uuid.NewString()
	if _, err := roleDefinitions(t, admin).CreateOrUpdate(ctxT(t), scope, roleID, customRole("UAMI writer "+roleID[:8], []string{scope},
		"Microsoft.ManagedIdentity/userAssignedIdentities/write", "Microsoft.ManagedIdentity/userAssignedIdentities/read"), nil); err != nil {
		t.Fatal(err)
	}
	sp := newServicePrincipal(t, "explain-gate")
	if err := assignRole(t, admin, scope, roleID, sp.ObjectID); err != nil {
		t.Fatal(err)
	}
	defID := subScope() + "/providers/Microsoft.Authorization/policyDefinitions/gate-deny-" + rg
	putARM(t, defID+"?api-version=2023-04-01", `{"properties":{"mode":"All","policyRule":{"if":{"field":"type","equals":"Microsoft.ManagedIdentity/userAssignedIdentities"},"then":{"effect":"deny"}}}}`)
	assignmentID := scope + "/providers/Microsoft.Authorization/policyAssignments/hidden-" + rg
	putARM(t, assignmentID+"?api-version=2023-04-01", `{"properties":{"policyDefinitionId":"`+defID+`"}}`)

	cred := spCredential(t, sp.AppID, sp.Password)
	mc, _ := armmsi.NewUserAssignedIdentitiesClient(srv.SubscriptionID, cred, armOptions(t))
	_, err := mc.CreateOrUpdate(ctxT(t), rg, "app-id", armmsi.Identity{Location: to.Ptr("westus")}, nil)
	wantARMError(t, err, http.StatusForbidden, "RequestDisallowedByPolicy")

	target := scope + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-id"
	body := `{"action":"Microsoft.ManagedIdentity/userAssignedIdentities/write"}`
	code, out := rawCall(t, "POST", srv.ResourceManagerEndpoint+target+"/providers/Microsoft.Authorization/explain?api-version=2022-04-01", tokenOf(t, cred), body, nil)
	var self explainAnswer
	if err := json.Unmarshal([]byte(out), &self); code != http.StatusOK || err != nil {
		t.Fatalf("explain as the caller: %d %s", code, out)
	}
	if self.Allowed || len(self.DeniedByPolicies) != 0 || !strings.Contains(self.Reason, "may not read") || strings.Contains(strings.ToLower(out), strings.ToLower("hidden-"+rg)) {
		t.Fatalf("explain for a caller who may not read the policy assignment = %s", out)
	}
	code, out = rawCall(t, "POST", srv.ResourceManagerEndpoint+target+"/providers/Microsoft.Authorization/explain?api-version=2022-04-01", tokenOf(t, admin),
		`{"principalId":"`+sp.ObjectID+`","action":"Microsoft.ManagedIdentity/userAssignedIdentities/write"}`, nil)
	if code != http.StatusOK || !strings.Contains(strings.ToLower(out), strings.ToLower(assignmentID)) || !strings.Contains(out, `"allowed":false`) {
		t.Fatalf("explain for the Owner: %d %s", code, out)
	}
	cli, status := ceruleanStatus(t, "access", "explain", "--principal", sp.AppID, "--action", "Microsoft.ManagedIdentity/userAssignedIdentities/write", "--scope", target)
	if status != 1 || !strings.HasPrefix(cli, "DENIED: ") || !strings.Contains(cli, "RequestDisallowedByPolicy") {
		t.Fatalf("cerulean access explain exited %d: %s", status, cli)
	}
}

// TestStrict_PolicyParameters (item 13): policy definitions and assignments are validated as
// Azure validates them.
func TestStrict_PolicyParameters(t *testing.T) {
	tok := tokenOf(t, adminCredential(t))
	defs := subScope() + "/providers/Microsoft.Authorization/policyDefinitions/"
	const api = "?api-version=2023-04-01"
	rule := `"policyRule":{"if":{"field":"location","equals":"[parameters('loc')]"},"then":{"effect":"[parameters('effect')]"}}`
	name := "params-" + uuid.NewString()[:8]
	for _, tt := range []struct{ name, body, code string }{
		{"undefined parameter", `{"properties":{"mode":"All","parameters":{"effect":{"type":"String"}},` + rule + `}}`, "InvalidPolicyRule"},
		{"default outside allowed", `{"properties":{"mode":"All","parameters":{"loc":{"type":"String"},"effect":{"type":"String","allowedValues":["audit","deny"],"defaultValue":"Deny"}},` + rule + `}}`, "PolicyParameterAllowedAndDefaultValuesMismatch"},
	} {
		code, m := call(t, "PUT", defs+name+api, tok, tt.body, nil)
		if code != http.StatusBadRequest || errCode(m) != tt.code {
			t.Errorf("%s: %d %s (%v), want 400 %s", tt.name, code, errCode(m), m, tt.code)
		}
		if code, _ := call(t, "GET", defs+name+api, tok, "", nil); code != http.StatusNotFound {
			t.Errorf("%s: the refused definition exists (%d)", tt.name, code)
		}
	}
	good := `{"properties":{"mode":"All","parameters":{"loc":{"type":"String"},"effect":{"type":"String","allowedValues":["audit","deny"],"defaultValue":"deny"}},` + rule + `}}`
	if code, m := call(t, "PUT", defs+name+api, tok, good, nil); code != http.StatusCreated {
		t.Fatalf("valid definition: %d %v", code, m)
	}
	assign := subScope() + "/providers/Microsoft.Authorization/policyAssignments/" + name
	code, m := call(t, "PUT", assign+api, tok, `{"properties":{"policyDefinitionId":"`+defs+name+`","parameters":{"loc":{"value":"westus"},"effect":{"value":"Deny"}}}}`, nil)
	if code != http.StatusBadRequest || errCode(m) != "PolicyParameterValueNotAllowed" {
		t.Fatalf("assignment value outside allowedValues: %d %v", code, m)
	}
	if code, m := call(t, "PUT", assign+api, tok, `{"properties":{"policyDefinitionId":"`+defs+name+`","parameters":{"loc":{"value":"westus"},"effect":{"value":"audit"}}}}`, nil); code != http.StatusCreated {
		t.Fatalf("valid assignment: %d %v", code, m)
	}
	call(t, "DELETE", assign+api, tok, "", nil)
}

// TestStrict_Conditions (item 14): conditions are validated as Azure validates them, a
// condition's refusal says so, and a custom role outside its scopes is named as Azure names it.
func TestStrict_Conditions(t *testing.T) {
	admin := adminCredential(t)
	rg := "cond-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	scope := subScope() + "/resourceGroups/" + rg
	delegate := newServicePrincipal(t, "cond-delegate")
	target := newServicePrincipal(t, "cond-target")
	for name, cond := range map[string]string{
		"unknown attribute":  `((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR (@Request[Microsoft.Authorization/roleAssignments:FavouriteColour] StringEquals 'blue'))`,
		"tab between tokens": "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'}))\tOR (@Request[Microsoft.Authorization/roleAssignments:PrincipalType] StringEqualsIgnoreCase 'ServicePrincipal'))",
		"control character":  "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR\x0b(@Request[Microsoft.Authorization/roleAssignments:PrincipalType] StringEqualsIgnoreCase 'ServicePrincipal'))",
	} {
		_, err := assignWithCondition(t, admin, scope, roleRBACAdmin, delegate.ObjectID, cond)
		wantARMError(t, err, http.StatusBadRequest, "InvalidCondition")
		if !strings.Contains(err.Error(), "The given role assignment condition is invalid") {
			t.Errorf("%s: message %v", name, err)
		}
	}

	// Without conditionVersion: stored as 2.0.
	tok := tokenOf(t, admin)
	name := uuid.NewString()
	code, m := call(t, "PUT", scope+"/providers/Microsoft.Authorization/roleAssignments/"+name+"?api-version=2022-04-01", tok,
		`{"properties":{"roleDefinitionId":"/providers/Microsoft.Authorization/roleDefinitions/`+roleRBACAdmin+`","principalId":"`+delegate.ObjectID+`","principalType":"ServicePrincipal","condition":"`+seed000Condition+`"}}`, nil)
	if code != http.StatusCreated {
		t.Fatalf("condition without conditionVersion: %d %v", code, m)
	}
	if props, _ := m["properties"].(map[string]any); props["conditionVersion"] != "2.0" {
		t.Fatalf("stored conditionVersion = %v, want 2.0", props["conditionVersion"])
	}

	// The delegate's refusal by its condition says so.
	_, err := assignWithCondition(t, spCredential(t, delegate.AppID, delegate.Password), scope, roleOwner, target.ObjectID, "")
	wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")
	if !strings.Contains(err.Error(), "does not have authorization or an ABAC condition not fulfilled to perform action") {
		t.Fatalf("refusal by a condition: %v", err)
	}
	// A plain refusal keeps the plain message.
	_, err = assignWithCondition(t, spCredential(t, target.AppID, target.Password), scope, roleReader, target.ObjectID, "")
	wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")
	if strings.Contains(err.Error(), "ABAC condition") {
		t.Fatalf("refusal without a condition mentions one: %v", err)
	}
}

// armPaths builds request paths for a registered type under scope: the item (every type
// segment named) and the collection (the last one not).
func armPaths(scope, typ string) []string {
	ns, rest, _ := strings.Cut(typ, "/")
	item := scope + "/providers/" + ns
	var collection string
	for _, t := range strings.Split(rest, "/") {
		collection = item + "/" + t
		name := "n" + uuid.NewString()[:6]
		if strings.EqualFold(t, "locations") {
			name = "westus"
		}
		item = collection + "/" + name
	}
	return []string{item, collection}
}

// TestStrict_EveryRouteAuthorizes (item 16): every Resource Manager route declares its action
// where it is registered, and each refuses a principal with no role, and (at resource-group
// scope) one whose role is on another group, before looking anything up. A route registered
// later is enumerated here too; one without an action cannot be registered at all.
func TestStrict_EveryRouteAuthorizes(t *testing.T) {
	routes := server.ARMRoutes()
	if len(routes) < 40 {
		t.Fatalf("only %d routes enumerated", len(routes))
	}
	ownView := map[string]bool{}
	for _, r := range routes {
		if r.Action == "" {
			t.Errorf("%s %s declares no action", r.Method, r.Type)
		}
		if r.Action == arm.OwnView {
			ownView[r.Method+" "+r.Type] = true
		}
	}
	if want := map[string]bool{"GET Microsoft.Authorization/permissions": true, "HEAD Microsoft.Authorization/permissions": true, "POST Microsoft.Authorization/explain": true,
		"GET Microsoft.Storage/operations": true, "HEAD Microsoft.Storage/operations": true}; !reflect.DeepEqual(ownView, want) {
		t.Fatalf("routes open to any caller for its own view: %v, want exactly %v", ownView, want)
	}

	admin := adminCredential(t)
	target, other := "route-t-"+uuid.NewString()[:8], "route-o-"+uuid.NewString()[:8]
	for _, g := range []string{target, other} {
		if err := createGroup(t, admin, g); err != nil {
			t.Fatal(err)
		}
	}
	nobody := newServicePrincipal(t, "route-nobody")
	elsewhere := newServicePrincipal(t, "route-elsewhere")
	if err := assignRole(t, admin, subScope()+"/resourceGroups/"+other, roleOwner, elsewhere.ObjectID); err != nil {
		t.Fatal(err)
	}
	callers := []struct {
		name   string
		token  string
		rgOnly bool // a role elsewhere in the subscription may see subscription-wide lists
	}{
		{"no role", tokenOf(t, spCredential(t, nobody.AppID, nobody.Password)), false},
		{"Owner of another group", tokenOf(t, spCredential(t, elsewhere.AppID, elsewhere.Password)), true},
	}
	const api = "?api-version=2023-01-01"
	body := map[string]string{"PUT": `{"location":"westus","properties":{}}`, "PATCH": `{"tags":{}}`, "POST": `{}`}
	checked := 0
	for _, r := range routes {
		if r.Action == arm.OwnView {
			continue
		}
		scopes := []string{subScope() + "/resourceGroups/" + target, subScope()}
		for _, c := range callers {
			for i, scope := range scopes {
				if c.rgOnly && i == 1 {
					continue
				}
				for _, path := range armPaths(scope, r.Type) {
					code, m := call(t, r.Method, path+api, c.token, body[r.Method], nil)
					if r.Method == http.MethodHead {
						if code != http.StatusForbidden {
							t.Errorf("%s: HEAD %s answered %d, want 403", c.name, path, code)
						}
						continue
					}
					if code != http.StatusForbidden || errCode(m) != "AuthorizationFailed" {
						t.Errorf("%s: %s %s (declares %s) answered %d %s, want 403 AuthorizationFailed", c.name, r.Method, path, r.Action, code, errCode(m))
					}
					checked++
				}
			}
		}
	}
	// Resource Manager's own paths (subscriptions, groups, generic resources, providers).
	for _, c := range callers {
		for _, rc := range []struct{ method, path string }{
			{"GET", subScope() + "/resourceGroups/" + target}, {"PUT", subScope() + "/resourceGroups/" + target},
			{"PATCH", subScope() + "/resourceGroups/" + target}, {"DELETE", subScope() + "/resourceGroups/" + target},
			{"GET", subScope() + "/resourceGroups/" + target + "/resources"}, {"GET", subScope() + "/resourceGroups/missing-" + target + "/resources"},
			{"POST", subScope() + "/providers/Microsoft.Storage/register"},
		} {
			code, m := call(t, rc.method, rc.path+"?api-version=2021-04-01", c.token, body[rc.method], nil)
			if code != http.StatusForbidden || errCode(m) != "AuthorizationFailed" {
				t.Errorf("%s: %s %s answered %d %s, want 403 AuthorizationFailed", c.name, rc.method, rc.path, code, errCode(m))
			}
			checked++
		}
	}
	for _, rc := range []struct{ method, path string }{
		{"GET", subScope()}, {"GET", subScope() + "/resourcegroups"}, {"GET", subScope() + "/resources"}, {"GET", subScope() + "/providers"},
		{"GET", subScope() + "/providers/Microsoft.Storage"},
	} {
		code, m := call(t, rc.method, rc.path+"?api-version=2021-04-01", callers[0].token, "", nil)
		if code != http.StatusForbidden || errCode(m) != "AuthorizationFailed" {
			t.Errorf("no role: %s %s answered %d %s, want 403 AuthorizationFailed", rc.method, rc.path, code, errCode(m))
		}
		checked++
	}
	t.Logf("%d routes, %d refusals checked", len(routes), checked)
}

// TestStrict_EveryKeyVaultOperation (item 16, Key Vault): every data-plane operation declares
// its data action in the operation table, and each one refuses a caller with no role on the
// vault and a caller whose roles are on another vault, RBAC or access policies alike.
func TestStrict_EveryKeyVaultOperation(t *testing.T) {
	ops := keyvault.Operations()
	if len(ops) < 40 {
		t.Fatalf("only %d operations enumerated", len(ops))
	}
	admin := adminCredential(t)
	rg, target := vaultFixture(t, false)
	otherVault := newVaultName()
	createVault(t, rg, otherVault, false)
	nobody := newServicePrincipal(t, "kv-nobody")
	elsewhere := newServicePrincipal(t, "kv-elsewhere")
	for _, role := range []string{roleKVSecretsOfficer, roleKVCryptoOfficer} {
		if err := assignRole(t, admin, vaultScope(rg, otherVault), role, elsewhere.ObjectID); err != nil {
			t.Fatal(err)
		}
	}
	vaultToken := func(sp servicePrincipal) string {
		return tokenFor(t, spCredential(t, sp.AppID, sp.Password), "https://vault.azure.net/.default")
	}
	version := strings.Repeat("0a", 16)
	body := map[string]string{"PUT": `{"value":"x","key":{"kty":"RSA"}}`, "PATCH": `{"attributes":{"enabled":true}}`, "POST": `{"alg":"RSA-OAEP","value":"AAAA","value2":""}`}
	checked := 0
	for _, caller := range []struct{ name, token string }{{"no role", vaultToken(nobody)}, {"roles on another vault", vaultToken(elsewhere)}} {
		for _, op := range ops {
			path := strings.NewReplacer("{name}", "k1", "{version}", version).Replace(op.Path)
			code, out := rawCall(t, op.Method, vaultURL(target)+path+"?api-version=7.5", caller.token, body[op.Method], nil)
			if op.Unsupported {
				if code != http.StatusBadRequest || !strings.Contains(out, "NotSupported") {
					t.Errorf("%s: %s %s (not supported) answered %d %s", caller.name, op.Method, path, code, out)
				}
				continue
			}
			if code != http.StatusForbidden || !strings.Contains(out, "ForbiddenByRbac") || !strings.Contains(out, op.Action) {
				t.Errorf("%s: %s %s (declares %s) answered %d %s, want 403 ForbiddenByRbac naming the action", caller.name, op.Method, path, op.Action, code, out)
			}
			checked++
		}
	}
	// A vault on access policies: no policy, no access.
	if _, err := vaultsClient(t, admin).Update(ctxT(t), rg, target, armkeyvault.VaultPatchParameters{Properties: &armkeyvault.VaultPatchProperties{
		EnableRbacAuthorization: to.Ptr(false)}}, nil); err != nil {
		t.Fatal(err)
	}
	tok := vaultToken(nobody)
	for _, op := range ops {
		if op.Unsupported {
			continue
		}
		path := strings.NewReplacer("{name}", "k1", "{version}", version).Replace(op.Path)
		if code, out := rawCall(t, op.Method, vaultURL(target)+path+"?api-version=7.5", tok, body[op.Method], nil); code != http.StatusForbidden || !strings.Contains(out, "AccessDenied") {
			t.Errorf("access policies, none for the caller: %s %s answered %d %s", op.Method, path, code, out)
		}
		checked++
	}
	t.Logf("%d operations, %d refusals checked", len(ops), checked)
}

// TestStrict_EveryFileOperation (item 16, Files): every File service operation is declared in
// the operation table with its SAS permission and data actions, and each one refuses an OAuth
// caller with no role, one whose role is on another share, and a share SAS for another share,
// before anything is looked up.
func TestStrict_EveryFileOperation(t *testing.T) {
	ops := files.Operations()
	if len(ops) < 30 {
		t.Fatalf("only %d operations enumerated", len(ops))
	}
	svc, account, rg, _ := filesFixture(t) // share "data" with dir/a.txt
	if _, err := svc.NewShareClient("other").Create(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	admin := adminCredential(t)
	acctScope := subScope() + "/resourceGroups/" + rg + "/providers/Microsoft.Storage/storageAccounts/" + account
	nobody := newServicePrincipal(t, "files-nobody")
	elsewhere := newServicePrincipal(t, "files-elsewhere")
	if err := assignRole(t, admin, acctScope+"/fileServices/default/fileshares/other", roleFileDataPrivContributor, elsewhere.ObjectID); err != nil {
		t.Fatal(err)
	}
	storageToken := func(sp servicePrincipal) string {
		return tokenFor(t, spCredential(t, sp.AppID, sp.Password), "https://storage.azure.com/.default")
	}
	otherSAS, err := svc.NewShareClient("other").GetSASURL(sas.SharePermissions{Read: true, Create: true, Write: true, Delete: true, List: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(otherSAS)
	base := srv.ResourceManagerEndpoint + "/" + account
	paths := map[byte]string{'s': "/", 'c': "/data", 'd': "/data/dir", 'f': "/data/dir/a.txt"}
	checked := 0
	for _, caller := range []struct {
		name, bearer, sas string
	}{{"OAuth, no role", storageToken(nobody), ""}, {"OAuth, role on another share", storageToken(elsewhere), ""}, {"SAS for another share", "", u.RawQuery}} {
		for _, op := range ops {
			q := url.Values{}
			switch op.Level {
			case 's':
				if op.Comp == "properties" {
					q.Set("restype", "service")
				}
			case 'c':
				q.Set("restype", "share")
			case 'd':
				q.Set("restype", "directory")
			}
			if op.Comp != "" {
				q.Set("comp", op.Comp)
			}
			target := base + paths[op.Level] + "?" + q.Encode()
			if caller.sas != "" {
				target += "&" + caller.sas
			}
			hdr := map[string]string{"x-ms-version": "2025-05-05", "x-ms-file-request-intent": "backup", "x-ms-date": time.Now().UTC().Format(http.TimeFormat),
				"x-ms-type": "file", "x-ms-content-length": "1", "x-ms-range": "bytes=0-0", "x-ms-write": "clear", "x-ms-file-permission-key": "1"}
			if op.Copy {
				hdr["x-ms-copy-source"] = base + "/data/dir/a.txt"
			}
			if op.Comp == "rename" {
				hdr["x-ms-file-rename-source"] = base + "/data/dir/a.txt"
			}
			if caller.bearer != "" {
				hdr["Authorization"] = "Bearer " + caller.bearer
			}
			code, body := rawCall(t, op.Method, target, "", "", hdr)
			if code != http.StatusForbidden {
				t.Errorf("%s: %s (%s %s) answered %d %s, want 403", caller.name, op.Name, op.Method, target, code, body)
			}
			checked++
		}
	}
	t.Logf("%d operations, %d refusals checked", len(ops), checked)
}
