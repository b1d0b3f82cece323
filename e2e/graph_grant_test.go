package e2e

import (
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
)

// TestGraph_SPGrant (issue 13 item 5): 'cerulean sp grant' gives an existing service
// principal Microsoft Graph application permissions (admin consent): new tokens carry them.
// Group.Create lets it create groups, not change other groups' members; an unknown
// permission is refused with the list of those Cerulean honours.
func TestGraph_SPGrant(t *testing.T) {
	sp := newServicePrincipal(t, "graph-grantee")
	group := map[string]any{"displayName": "granted-" + sp.AppID[:8], "mailNickname": "granted" + sp.AppID[:8], "securityEnabled": true, "mailEnabled": false}
	if st, body := graphCall(t, spCredential(t, sp.AppID, sp.Password), http.MethodPost, "/groups", group); st != http.StatusForbidden {
		t.Fatalf("creating a group without a Graph permission: %d %v, want 403", st, body)
	}
	cerulean(t, "sp", "grant", sp.AppID, "group.create")
	cred := spCredential(t, sp.AppID, sp.Password) // a new token
	st, created := graphCall(t, cred, http.MethodPost, "/groups", group)
	if st != http.StatusCreated {
		t.Fatalf("creating a group with Group.Create: %d %v", st, created)
	}
	other := newServicePrincipal(t, "graph-grantee-member")
	ref := map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + other.ObjectID}
	if st, body := graphCall(t, cred, http.MethodPost, "/groups/"+created["id"].(string)+"/members/$ref", ref); st != http.StatusForbidden {
		t.Errorf("changing members with only Group.Create: %d %v, want 403", st, body)
	}
	out, err := exec.Command(binary, "sp", "grant", sp.AppID, "Mail.Send", "--data", dataDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Group.ReadWrite.All") {
		t.Errorf("granting an unknown permission: %v %s", err, out)
	}
}

// TestGraph_AppRoleAssignments (issue 13 item 5): admin consent through Microsoft Graph, as
// tooling grants it: Graph's own service principal lists its app roles; an assignment of
// one to an application (POST servicePrincipals/{id}/appRoleAssignments) needs
// AppRoleAssignment.ReadWrite.All; the application's new tokens carry the permission, and
// deleting the assignment takes it back.
func TestGraph_AppRoleAssignments(t *testing.T) {
	consenter := newServicePrincipal(t, "graph-consenter")
	app := newServicePrincipal(t, "graph-consented")
	cerulean(t, "sp", "grant", consenter.AppID, "AppRoleAssignment.ReadWrite.All", "Application.Read.All")
	ccred := spCredential(t, consenter.AppID, consenter.Password)
	st, list := graphCall(t, ccred, http.MethodGet, "/servicePrincipals?$filter="+url.QueryEscape("appId eq '00000003-0000-0000-c000-000000000000'"), nil)
	values, _ := list["value"].([]any)
	if st != http.StatusOK || len(values) != 1 {
		t.Fatalf("Microsoft Graph's service principal: %d %v", st, list)
	}
	graphSP := values[0].(map[string]any)
	roleID := ""
	for _, r := range graphSP["appRoles"].([]any) {
		if role := r.(map[string]any); role["value"] == "Group.ReadWrite.All" {
			roleID = role["id"].(string)
		}
	}
	if roleID != "62a82d76-70ea-41e2-9197-370581804d09" {
		t.Fatalf("Group.ReadWrite.All's app role id = %q", roleID)
	}
	assign := map[string]any{"principalId": app.ObjectID, "resourceId": graphSP["id"], "appRoleId": roleID}
	if st, body := graphCall(t, spCredential(t, app.AppID, app.Password), http.MethodPost, "/servicePrincipals/"+app.ObjectID+"/appRoleAssignments", assign); st != http.StatusForbidden {
		t.Errorf("an application consenting to itself: %d %v, want 403", st, body)
	}
	st, created := graphCall(t, ccred, http.MethodPost, "/servicePrincipals/"+app.ObjectID+"/appRoleAssignments", assign)
	if st != http.StatusCreated || created["appRoleId"] != roleID || created["principalId"] != app.ObjectID {
		t.Fatalf("appRoleAssignments POST: %d %v", st, created)
	}
	group := map[string]any{"displayName": "consented-" + app.AppID[:8], "mailNickname": "consented" + app.AppID[:8], "securityEnabled": true, "mailEnabled": false}
	if st, body := graphCall(t, spCredential(t, app.AppID, app.Password), http.MethodPost, "/groups", group); st != http.StatusCreated {
		t.Errorf("the consented application creates a group: %d %v", st, body)
	}
	if st, l := graphCall(t, ccred, http.MethodGet, "/servicePrincipals/"+app.ObjectID+"/appRoleAssignments", nil); st != http.StatusOK || len(l["value"].([]any)) != 1 {
		t.Errorf("appRoleAssignments GET: %d %v", st, l)
	}
	if st, body := graphCall(t, ccred, http.MethodDelete, "/servicePrincipals/"+app.ObjectID+"/appRoleAssignments/"+created["id"].(string), nil); st != http.StatusNoContent {
		t.Fatalf("appRoleAssignments DELETE: %d %v", st, body)
	}
	group["mailNickname"] = "revoked" + app.AppID[:8]
	if st, body := graphCall(t, spCredential(t, app.AppID, app.Password), http.MethodPost, "/groups", group); st != http.StatusForbidden {
		t.Errorf("after the assignment was deleted, a new token still creates groups: %d %v", st, body)
	}
	bad := map[string]any{"principalId": app.ObjectID, "resourceId": graphSP["id"], "appRoleId": "00000000-0000-0000-0000-000000000001"}
	if st, _ := graphCall(t, ccred, http.MethodPost, "/servicePrincipals/"+app.ObjectID+"/appRoleAssignments", bad); st != http.StatusBadRequest {
		t.Errorf("an unknown app role: %d, want 400", st)
	}
}
