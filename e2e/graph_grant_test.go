package e2e

import (
	"net/http"
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
