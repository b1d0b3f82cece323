package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/ntfs"
)

const (
	roleSMBShareReader      = "aba4ae5f-2193-4029-9191-0cb91df5e314"
	roleSMBShareContributor = "0c867c2a-1d8c-454a-a3db-ab2ea1bdc8bb"
	roleSMBShareElevated    = "a7264617-510b-434b-a828-9731dc254ea7"
	roleSMBAdmin            = "bbf004e3-0e4b-4f86-ae4f-1f8fb47b357b"
)

type pathAccess struct {
	Rights      string `json:"rights"`
	Mask        uint32 `json:"mask"`
	ShareRights string `json:"shareRights"`
	SID         string `json:"sid"`
	Reason      string `json:"reason"`
	KeyState    string `json:"keyState"`
	Share       []struct {
		Action, Role, Scope string
	} `json:"shareLevel"`
	ACEs []struct {
		ACE, Effect, Rights, Source, Matched string
	} `json:"aces"`
}

func explainPathCLI(t *testing.T, principal, path string) (pathAccess, int) {
	t.Helper()
	out, code := ceruleanStatus(t, "access", "explain", "--principal", principal, "--path", path, "--json")
	var a pathAccess
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("explain --path printed %q: %v", out, err)
	}
	return a, code
}

// TestExplainPath (issue 11 item 6): effective access to a file through identity-based access
// names the share-level role and where it was assigned, the ACEs that grant or deny and where
// they come from, the key state, and the effective rights, the more restrictive of the two.
func TestExplainPath(t *testing.T) {
	svc, account, rg, _ := filesFixture(t) // share "data" with dir/a.txt under the default root
	admin := adminCredential(t)
	shareScope := subScope() + "/resourceGroups/" + rg + "/providers/Microsoft.Storage/storageAccounts/" + account + "/fileServices/default/fileshares/data"
	reader, contrib, nobody, denied := newServicePrincipal(t, "acl-reader"), newServicePrincipal(t, "acl-contrib"), newServicePrincipal(t, "acl-nobody"), newServicePrincipal(t, "acl-denied")
	for sp, role := range map[string]string{reader.ObjectID: roleSMBShareReader, contrib.ObjectID: roleSMBShareContributor, denied.ObjectID: roleSMBShareElevated} {
		if err := assignRole(t, admin, shareScope, role, sp); err != nil {
			t.Fatal(err)
		}
	}
	// b.txt: the inherited ACEs plus an explicit deny of writing for "denied".
	deniedSID, _ := directory.SID(denied.ObjectID)
	fc := svc.NewShareClient("data").NewDirectoryClient("dir").NewFileClient("b.txt")
	if _, err := fc.Create(ctxT(t), 1, &file.CreateOptions{Permissions: &file.Permissions{Permission: to.Ptr(
		"O:BAG:SYD:(D;;0x100116;;;" + deniedSID + ")(A;;0x1301bf;;;AU)(A;;FA;;;SY)")}}); err != nil {
		t.Fatal(err)
	}
	path := "//" + account + "/data/dir/a.txt"

	r, code := explainPathCLI(t, reader.AppID, path)
	if code != 0 || r.Mask&ntfs.FileReadData == 0 || r.Mask&(ntfs.FileWriteData|ntfs.Delete|ntfs.WriteDAC) != 0 {
		t.Errorf("Share Reader × inherited Modify: exit %d, rights %s (%#x)", code, r.Rights, r.Mask)
	}
	if len(r.Share) == 0 || r.Share[0].Role != "Storage File Data SMB Share Reader" || !strings.EqualFold(r.Share[0].Scope, shareScope) {
		t.Errorf("share-level grant not named: %+v", r.Share)
	}
	foundRoot := false
	for _, a := range r.ACEs {
		foundRoot = foundRoot || (a.Effect == "allow" && strings.Contains(a.Source, "(root)") && a.Matched == ntfs.SIDAuthenticatedUsers)
	}
	if !foundRoot {
		t.Errorf("the granting ACE is not traced to the share root through Authenticated Users: %+v", r.ACEs)
	}
	if r.KeyState != "usable" {
		t.Errorf("key state %q", r.KeyState)
	}

	c, _ := explainPathCLI(t, contrib.AppID, path)
	if c.Mask&(ntfs.FileReadData|ntfs.FileWriteData|ntfs.Delete) != ntfs.FileReadData|ntfs.FileWriteData|ntfs.Delete || c.Mask&ntfs.WriteDAC != 0 {
		t.Errorf("Share Contributor × Modify: rights %s (%#x), want read, write, delete, no WRITE_DAC", c.Rights, c.Mask)
	}

	n, code := explainPathCLI(t, nobody.AppID, path)
	if code != 1 || n.Mask != 0 || !strings.Contains(n.Reason, "no share-level permission") {
		t.Errorf("no role: exit %d, %+v", code, n)
	}

	d, _ := explainPathCLI(t, denied.AppID, "//"+account+"/data/dir/b.txt")
	if d.Mask&ntfs.FileWriteData != 0 || d.Mask&ntfs.FileReadData == 0 {
		t.Errorf("explicit deny of writing: rights %s (%#x)", d.Rights, d.Mask)
	}
	sawDeny := false
	for _, a := range d.ACEs {
		sawDeny = sawDeny || (a.Effect == "deny" && a.Source == "explicit" && a.Matched == deniedSID)
	}
	if !sawDeny {
		t.Errorf("the explicit deny is not reported: %+v", d.ACEs)
	}

	// Over REST, for the caller itself, and refused for someone else without roleAssignments/read.
	tok := tokenOf(t, spCredential(t, contrib.AppID, contrib.Password))
	endpoint := srv.ResourceManagerEndpoint + subScope() + "/providers/Microsoft.Authorization/explain?api-version=2022-04-01"
	code, body := rawCall(t, "POST", endpoint, tok, `{"principalId":"`+contrib.ObjectID+`","path":"`+path+`"}`, nil)
	var viaREST pathAccess
	if code != http.StatusOK || json.Unmarshal([]byte(body), &viaREST) != nil || viaREST.Mask != c.Mask {
		t.Errorf("REST explain of the caller's own access: %d %s (CLI mask %#x)", code, body, c.Mask)
	}
	if code, body := rawCall(t, "POST", endpoint, tok, `{"principalId":"`+reader.ObjectID+`","path":"`+path+`"}`, nil); code != http.StatusForbidden {
		t.Errorf("explaining another principal without roleAssignments/read: %d %s", code, body)
	}
}
