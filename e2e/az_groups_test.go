package e2e

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
)

// TestAzureCLI_Groups drives Microsoft Graph's groups through Debian's `az ad group` as a
// service principal holding Group.ReadWrite.All, and is refused without it.
func TestAzureCLI_Groups(t *testing.T) {
	var dirAdmin servicePrincipal
	if err := json.Unmarshal(cerulean(t, "sp", "create", "az-groups-admin", "--graph-permission", "Group.ReadWrite.All"), &dirAdmin); err != nil {
		t.Fatal(err)
	}
	member := newServicePrincipal(t, "az-group-member")
	az := newAzCLI(t, "groups")
	az.registerCloudConfig()
	az.loginSP(dirAdmin.AppID, dirAdmin.Password)
	name := "az-readers-" + uuid.NewString()[:8]

	var g struct {
		ID              string `json:"id"`
		DisplayName     string `json:"displayName"`
		SecurityEnabled bool   `json:"securityEnabled"`
	}
	az.json(&g, "ad", "group", "create", "--display-name", name, "--mail-nickname", name)
	if g.ID == "" || g.DisplayName != name || !g.SecurityEnabled {
		t.Fatalf("az ad group create = %+v", g)
	}
	// Idempotent as az makes it: the same names find the existing group.
	var again struct {
		ID string `json:"id"`
	}
	az.json(&again, "ad", "group", "create", "--display-name", name, "--mail-nickname", name)
	if again.ID != g.ID {
		t.Fatalf("second az ad group create made %s, want the existing %s", again.ID, g.ID)
	}
	var shown struct {
		ID string `json:"id"`
	}
	az.json(&shown, "ad", "group", "show", "--group", name)
	if shown.ID != g.ID {
		t.Fatalf("az ad group show = %s, want %s", shown.ID, g.ID)
	}
	az.ok("ad", "group", "member", "add", "--group", name, "--member-id", member.ObjectID)
	var members []struct {
		ID   string `json:"id"`
		Type string `json:"@odata.type"`
	}
	az.json(&members, "ad", "group", "member", "list", "--group", name)
	if len(members) != 1 || members[0].ID != member.ObjectID || members[0].Type != "#microsoft.graph.servicePrincipal" {
		t.Fatalf("az ad group member list = %+v", members)
	}
	check := func(want bool) {
		t.Helper()
		var res struct {
			Value bool `json:"value"`
		}
		az.json(&res, "ad", "group", "member", "check", "--group", g.ID, "--member-id", member.ObjectID)
		if res.Value != want {
			t.Fatalf("az ad group member check = %v, want %v", res.Value, want)
		}
	}
	check(true)
	az.fails("already exist", "ad", "group", "member", "add", "--group", name, "--member-id", member.ObjectID)
	az.ok("ad", "group", "member", "remove", "--group", name, "--member-id", member.ObjectID)
	check(false)

	plain := newAzCLI(t, "groups-plain")
	plain.copyCloud(az)
	plain.loginSP(member.AppID, member.Password)
	plain.fails("Insufficient privileges", "ad", "group", "create", "--display-name", "nope", "--mail-nickname", "nope")

	az.ok("ad", "group", "delete", "--group", name)
	var left []struct {
		ID string `json:"id"`
	}
	az.json(&left, "ad", "group", "list", "--display-name", name)
	if len(left) != 0 {
		t.Fatalf("az ad group list after delete = %+v", left)
	}
}
