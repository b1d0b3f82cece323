package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/google/uuid"
)

type explainAnswer struct {
	Allowed             bool     `json:"allowed"`
	Reason              string   `json:"reason"`
	RoleName            string   `json:"roleName"`
	RolesThatWouldGrant []string `json:"rolesThatWouldGrant"`
	DeniedByPolicies    []string `json:"deniedByPolicies"`
	Assignment          *struct {
		Name  string `json:"name"`
		Scope string `json:"scope"`
	} `json:"assignment"`
}

func explainREST(t *testing.T, scope, principal, action string) explainAnswer {
	t.Helper()
	tok, err := adminCredential(t).GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{armScope}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"principalId": principal, "action": action})
	req, _ := http.NewRequest(http.MethodPost, srv.ResourceManagerEndpoint+scope+"/providers/Microsoft.Authorization/explain?api-version=2022-04-01", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a explainAnswer
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&a) != nil {
		t.Fatalf("explain: %s", resp.Status)
	}
	return a
}

// TestExplain (issue 5 item 5): Azure's permissions API, and Cerulean's explain over REST and
// in the CLI, for allowed and denied requests, policy included.
func TestExplain(t *testing.T) {
	admin := adminCredential(t)
	rg := "explain-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	scope := subScope() + "/resourceGroups/" + rg
	sp := newServicePrincipal(t, "explain-reader")
	if err := assignRole(t, admin, scope, roleReader, sp.ObjectID); err != nil {
		t.Fatal(err)
	}

	pc, err := armauthorization.NewPermissionsClient(srv.SubscriptionID, spCredential(t, sp.AppID, sp.Password), armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	page, err := pc.NewListForResourceGroupPager(rg, nil).NextPage(ctxT(t))
	if err != nil || len(page.Value) != 1 || len(page.Value[0].Actions) != 1 || *page.Value[0].Actions[0] != "*/read" {
		t.Fatalf("permissions for a Reader: %v %+v", err, page.Value)
	}

	read := explainREST(t, scope, sp.ObjectID, "Microsoft.ManagedIdentity/userAssignedIdentities/read")
	if !read.Allowed || read.RoleName != "Reader" || read.Assignment == nil || !strings.EqualFold(read.Assignment.Scope, scope) {
		t.Fatalf("explain read = %+v", read)
	}
	write := explainREST(t, scope, sp.ObjectID, "Microsoft.ManagedIdentity/userAssignedIdentities/write")
	if write.Allowed || !strings.Contains(write.Reason, "no role assignment") {
		t.Fatalf("explain write = %+v", write)
	}
	found := false
	for _, r := range write.RolesThatWouldGrant {
		found = found || r == "Managed Identity Contributor"
	}
	if !found {
		t.Fatalf("roles that would grant a UAMI write: %v, want Managed Identity Contributor among them", write.RolesThatWouldGrant)
	}

	// A deny policy shows up even where RBAC allows (the admin is Owner).
	defID := subScope() + "/providers/Microsoft.Authorization/policyDefinitions/explain-deny-" + rg
	putARM(t, defID+"?api-version=2023-04-01", `{"properties":{"mode":"All","policyRule":{"if":{"field":"type","equals":"Microsoft.ManagedIdentity/userAssignedIdentities"},"then":{"effect":"deny"}}}}`)
	putARM(t, scope+"/providers/Microsoft.Authorization/policyAssignments/no-uami?api-version=2023-04-01", `{"properties":{"policyDefinitionId":"`+defID+`"}}`)
	owner := explainREST(t, scope+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x", srv.AdminObjectID, "Microsoft.ManagedIdentity/userAssignedIdentities/write")
	if owner.Allowed || len(owner.DeniedByPolicies) != 1 || !strings.Contains(owner.Reason, "Azure Policy denies") {
		t.Fatalf("explain with a deny policy = %+v", owner)
	}

	out, code := ceruleanStatus(t, "access", "explain", "--principal", sp.AppID, "--action", "Microsoft.ManagedIdentity/userAssignedIdentities/write", "--scope", scope)
	if code != 1 || !strings.HasPrefix(out, "DENIED: ") || !strings.Contains(out, "Managed Identity Contributor") {
		t.Fatalf("cerulean access explain exited %d and printed %q", code, out)
	}
	if out, code := ceruleanStatus(t, "access", "explain", "--principal", sp.AppID, "--action", "Microsoft.ManagedIdentity/userAssignedIdentities/read", "--scope", scope); code != 0 || !strings.HasPrefix(out, "ALLOWED: ") {
		t.Fatalf("cerulean access explain of an allowed read exited %d and printed %q", code, out)
	}
}

// ceruleanStatus runs the binary with args against the test data folder and returns stdout
// and the exit status.
func ceruleanStatus(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(binary, append(args, "--data", dataDir)...).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// putARM sends a PUT to Resource Manager as the admin and fails the test on a non-2xx answer.
func putARM(t *testing.T, path, body string) {
	t.Helper()
	if status, _, out := rawARM(t, http.MethodPut, path, body); status >= 300 {
		t.Fatalf("PUT %s: %d %s", path, status, out)
	}
}
