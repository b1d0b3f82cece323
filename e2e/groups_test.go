package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/google/uuid"
)

// graphCall sends one Microsoft Graph request through Cerulean's proxy, as a client would
// reach https://graph.microsoft.com, with a token cred gets for Graph. It returns the status
// and the decoded JSON body (nil for an empty one).
func graphCall(t *testing.T, cred azcore.TokenCredential, method, path string, body any) (int, map[string]any) {
	t.Helper()
	tok, err := cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil {
		t.Fatalf("graph token: %v", err)
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctxT(t), method, "https://graph.microsoft.com/v1.0"+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	c := httpClient(t)
	proxy, _ := url.Parse(srv.Proxy)
	c.Transport.(*http.Transport).Proxy = http.ProxyURL(proxy)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, out
}

func graphErrorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func assignRoleAs(t *testing.T, cred azcore.TokenCredential, scope, roleGUID, principalID string, typ armauthorization.PrincipalType) error {
	c, err := armauthorization.NewRoleAssignmentsClient(srv.SubscriptionID, cred, armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Create(ctxT(t), scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr(subScope() + "/providers/Microsoft.Authorization/roleDefinitions/" + roleGUID),
			PrincipalID:      to.Ptr(principalID), PrincipalType: to.Ptr(typ)}}, nil)
	return err
}

// TestGroups (issue 5 item 2): a role assigned to a group reaches a service principal two
// groups down; Graph's /v1.0/groups and `cerulean group` manage the groups; removing the
// nesting takes the access away at once.
func TestGroups(t *testing.T) {
	admin := adminCredential(t)
	var dirAdmin servicePrincipal
	if err := json.Unmarshal(cerulean(t, "sp", "create", "groups-admin", "--graph-permission", "Group.ReadWrite.All"), &dirAdmin); err != nil {
		t.Fatal(err)
	}
	graphAdmin := spCredential(t, dirAdmin.AppID, dirAdmin.Password)
	member := newServicePrincipal(t, "group-member")
	memberCred := spCredential(t, member.AppID, member.Password)
	suffix := uuid.NewString()[:8]

	// The outer group through Graph, the inner one through Cerulean's CLI.
	status, outer := graphCall(t, graphAdmin, http.MethodPost, "/groups", map[string]any{
		"displayName": "readers-" + suffix, "mailNickname": "readers-" + suffix, "securityEnabled": true, "mailEnabled": false})
	if status != http.StatusCreated || outer["securityEnabled"] != true {
		t.Fatalf("POST /groups = %d %v", status, outer)
	}
	outerID := outer["id"].(string)
	var inner struct {
		ObjectID string `json:"objectId"`
	}
	if err := json.Unmarshal(cerulean(t, "group", "create", "inner-"+suffix), &inner); err != nil {
		t.Fatal(err)
	}
	if out := string(cerulean(t, "group", "member", "add", "inner-"+suffix, member.ObjectID)); !strings.Contains(out, "added "+member.ObjectID+" to group inner-"+suffix) {
		t.Errorf("cerulean group member add says %q, not what it did", out) // issue 13 item 6
	}
	ref := map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + inner.ObjectID}
	if status, body := graphCall(t, graphAdmin, http.MethodPost, "/groups/"+outerID+"/members/$ref", ref); status != http.StatusNoContent {
		t.Fatalf("add inner to outer = %d %v", status, body)
	}

	t.Run("graph reads and refusals", func(t *testing.T) {
		status, body := graphCall(t, graphAdmin, http.MethodGet, "/groups?$filter="+url.QueryEscape("displayName eq 'readers-"+suffix+"'"), nil)
		if v, _ := body["value"].([]any); status != http.StatusOK || len(v) != 1 {
			t.Fatalf("filter by displayName = %d %v", status, body)
		}
		status, body = graphCall(t, graphAdmin, http.MethodGet, "/groups/"+outerID+"/members", nil)
		v, _ := body["value"].([]any)
		if status != http.StatusOK || len(v) != 1 || v[0].(map[string]any)["id"] != inner.ObjectID || v[0].(map[string]any)["@odata.type"] != "#microsoft.graph.group" {
			t.Fatalf("members = %d %v", status, body)
		}
		status, body = graphCall(t, graphAdmin, http.MethodPost, "/groups/"+outerID+"/members/$ref", ref)
		if status != http.StatusBadRequest || !strings.Contains(body["error"].(map[string]any)["message"].(string), "already exist") {
			t.Errorf("duplicate member = %d %v", status, body)
		}
		cycle := map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + outerID}
		if status, body := graphCall(t, graphAdmin, http.MethodPost, "/groups/"+inner.ObjectID+"/members/$ref", cycle); status != http.StatusBadRequest {
			t.Errorf("cycle = %d %v", status, body)
		}
		ghost := map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + uuid.NewString()}
		if status, body := graphCall(t, graphAdmin, http.MethodPost, "/groups/"+outerID+"/members/$ref", ghost); status != http.StatusNotFound || graphErrorCode(body) != "Request_ResourceNotFound" {
			t.Errorf("unknown member = %d %v", status, body)
		}
		if status, body := graphCall(t, memberCred, http.MethodPost, "/groups", map[string]any{"displayName": "x", "mailNickname": "x", "securityEnabled": true}); status != http.StatusForbidden || graphErrorCode(body) != "Authorization_RequestDenied" {
			t.Errorf("POST /groups without Group.ReadWrite.All = %d %v", status, body)
		}
		if status, body := graphCall(t, graphAdmin, http.MethodPost, "/groups", map[string]any{"displayName": "no nickname"}); status != http.StatusBadRequest {
			t.Errorf("POST /groups without mailNickname = %d %v", status, body)
		}
	})

	rg := "groups-" + suffix
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	rgScope := subScope() + "/resourceGroups/" + rg
	if _, err := groups(t, memberCred).Get(ctxT(t), rg, nil); err == nil {
		t.Fatal("the member reads the group before any assignment")
	}
	wantARMError(t, assignRoleAs(t, admin, rgScope, roleReader, outerID, armauthorization.PrincipalTypeServicePrincipal), http.StatusBadRequest, "UnmatchedPrincipalType")
	if err := assignRoleAs(t, admin, rgScope, roleReader, outerID, armauthorization.PrincipalTypeGroup); err != nil {
		t.Fatalf("assign Reader to the outer group: %v", err)
	}
	if _, err := groups(t, memberCred).Get(ctxT(t), rg, nil); err != nil {
		t.Fatalf("Reader through two levels of groups: %v", err)
	}
	out := cerulean(t, "access", "explain", "--principal", member.AppID, "--action", "Microsoft.Resources/subscriptions/resourceGroups/read", "--scope", rgScope, "--json")
	var ex struct {
		Allowed    bool `json:"allowed"`
		Assignment struct {
			PrincipalID   string `json:"principalId"`
			PrincipalType string `json:"principalType"`
		} `json:"assignment"`
	}
	if err := json.Unmarshal(out, &ex); err != nil || !ex.Allowed || ex.Assignment.PrincipalID != outerID || ex.Assignment.PrincipalType != "Group" {
		t.Fatalf("explain = %s (%v)", out, err)
	}

	// Unnesting applies at once (propagation is immediate by default): the member's cached
	// token no longer reaches the group's assignment.
	if status, body := graphCall(t, graphAdmin, http.MethodDelete, "/groups/"+outerID+"/members/"+inner.ObjectID+"/$ref", nil); status != http.StatusNoContent {
		t.Fatalf("remove inner = %d %v", status, body)
	}
	_, err := groups(t, memberCred).Get(ctxT(t), rg, nil)
	wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")

	cerulean(t, "group", "delete", "inner-"+suffix)
	if status, body := graphCall(t, graphAdmin, http.MethodGet, "/groups/"+inner.ObjectID, nil); status != http.StatusNotFound {
		t.Errorf("deleted group = %d %v", status, body)
	}
}
