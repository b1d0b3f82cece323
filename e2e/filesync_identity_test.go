package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
)

// enableIdentity runs 'cerulean storagesync enable-identity' as the service principal sp.
func enableIdentity(t *testing.T, tp syncTopology, sp servicePrincipal) (string, error) {
	t.Helper()
	return enableIdentityAs(t, tp, sp.AppID, sp.Password)
}

func enableIdentityAs(t *testing.T, tp syncTopology, clientID, secret string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, "storagesync", "enable-identity", "-g", tp.rg, "-n", "sync")
	cmd.Env = agentEnv("CERULEAN_ARM_ENDPOINT="+srv.ResourceManagerEndpoint, "AZURE_AUTHORITY_HOST="+srv.AuthorityHost,
		"AZURE_TENANT_ID="+srv.TenantID, "AZURE_CLIENT_ID="+clientID, "AZURE_CLIENT_SECRET="+secret, "AZURE_SUBSCRIPTION_ID="+srv.SubscriptionID)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestFileSync_EnableIdentity (issue 12 item 3, seed 000 start to finish): two registered
// servers, one on a VM with a system-assigned identity and one without, sync with shared
// keys; a Contributor cannot turn on managed identity (it may not assign roles); an Azure
// File Sync Administrator holding seed 000's least-privilege condition can: the service gets
// its identity and its roles on the account and the share, the VM's server its role on the
// share, useIdentity turns true, and the VM's server moves from latestApplicationId to
// applicationId and activeAuthType ManagedIdentity while the other keeps its certificate and
// the key; both keep syncing. Re-running picks up a server that reported an identity since.
func TestFileSync_EnableIdentity(t *testing.T) {
	tp := newSyncTopology(t)
	vm, ident := createHost(t, tp.rg, "Microsoft.Compute/virtualMachines", "afs-vm-a", &armresources.Identity{Type: to.Ptr(armresources.ResourceIdentityTypeSystemAssigned)})
	a := newSyncServer(t, tp, "srv-a", vm)
	b := newSyncServer(t, tp, "srv-b", "")
	writeFile(t, filepath.Join(a.folder, "before.txt"), []byte("with keys"))
	a.sync(t)
	b.sync(t)
	server := func(s syncServer) map[string]any {
		_, _, body := rawARM(t, http.MethodGet, s.resourceID+"?api-version=2022-09-01", "")
		var v struct{ Properties map[string]any }
		_ = json.Unmarshal([]byte(body), &v)
		return v.Properties
	}
	if p := server(a); p["latestApplicationId"] != *ident.PrincipalID || p["applicationId"] != "" || p["activeAuthType"] != "Certificate" {
		t.Fatalf("the VM's server before: %v", p)
	}
	rgScope := "/subscriptions/" + srv.SubscriptionID + "/resourceGroups/" + tp.rg

	// A Contributor may not assign roles.
	contributor := newServicePrincipal(t, "afs-contributor")
	if err := assignRole(t, adminCredential(t), rgScope, roleContributor, contributor.ObjectID); err != nil {
		t.Fatal(err)
	}
	if out, err := enableIdentity(t, tp, contributor); err == nil || !strings.Contains(out, "AuthorizationFailed") {
		t.Errorf("a Contributor turned on managed identity: %v\n%s", err, out)
	}
	if p := server(a); p["activeAuthType"] != "Certificate" {
		t.Errorf("the refused run changed the server: %v", p)
	}

	// The least-privilege Azure File Sync Administrator can.
	afsAdmin := newServicePrincipal(t, "afs-admin")
	if _, err := assignWithCondition(t, adminCredential(t), rgScope, roleAFSAdmin, afsAdmin.ObjectID, seed000Condition); err != nil {
		t.Fatal(err)
	}
	out, err := enableIdentity(t, tp, afsAdmin)
	if err != nil {
		t.Fatalf("enable-identity as the Azure File Sync Administrator: %v\n%s", err, out)
	}
	if !strings.Contains(out, "6/6") {
		t.Errorf("enable-identity shows no progress:\n%s", out)
	}
	var tiles struct {
		UseIdentity        bool
		ServicePrincipalID string
		UsingManagedID     []struct{ Name, ApplicationID, ActiveAuthType string }
		WithoutManagedID   []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &tiles); err != nil || !tiles.UseIdentity || tiles.ServicePrincipalID == "" ||
		len(tiles.UsingManagedID) != 1 || tiles.UsingManagedID[0].Name != "srv-a" || len(tiles.WithoutManagedID) != 1 || tiles.WithoutManagedID[0].Name != "srv-b" {
		t.Fatalf("the tiles after enable-identity: %v\n%s", err, out)
	}
	if p := server(a); p["applicationId"] != *ident.PrincipalID || p["latestApplicationId"] != "" || p["activeAuthType"] != "ManagedIdentity" || p["identity"] != true {
		t.Errorf("the VM's server after: %v", p)
	}
	if p := server(b); p["activeAuthType"] != "Certificate" || p["applicationId"] != "" {
		t.Errorf("the server without an identity after: %v", p)
	}
	// The roles seed 000 lists.
	share := rgScope + "/providers/Microsoft.Storage/storageAccounts/" + tp.account + "/fileServices/default/fileshares/data"
	for _, want := range []struct{ scope, principal, role string }{
		{rgScope + "/providers/Microsoft.Storage/storageAccounts/" + tp.account, tiles.ServicePrincipalID, "17d1049b-9a84-46fb-8f53-869881c3d3ab"},
		{share, tiles.ServicePrincipalID, "69566ab7-960f-475b-8e7c-b3118f30c6bd"},
		{share, *ident.PrincipalID, "69566ab7-960f-475b-8e7c-b3118f30c6bd"},
	} {
		_, _, body := rawARM(t, http.MethodGet, want.scope+"/providers/Microsoft.Authorization/roleAssignments?$filter=assignedTo('"+want.principal+"')&api-version=2022-04-01", "")
		if !strings.Contains(body, want.role) {
			t.Errorf("%s holds no %s at %s: %s", want.principal, want.role, want.scope, body)
		}
	}

	// Both keep syncing: the VM's server as itself, the other with the key.
	writeFile(t, filepath.Join(a.folder, "after.txt"), []byte("with the identity"))
	if out := a.sync(t); !strings.Contains(out, "(ManagedIdentity)") {
		t.Errorf("the VM's server after enable-identity: %s", out)
	}
	if out := b.sync(t); !strings.Contains(out, "(Certificate)") || !strings.Contains(out, "down 1") {
		t.Errorf("the server without an identity after enable-identity: %s", out)
	}

	// Nothing left to migrate; a new server with an identity is picked up by a re-run.
	if out, err := enableIdentity(t, tp, afsAdmin); err == nil || !strings.Contains(out, "No server found") {
		t.Errorf("a re-run with nothing to migrate: %v\n%s", err, out)
	}
	vmC, identC := createHost(t, tp.rg, "Microsoft.Compute/virtualMachines", "afs-vm-c", &armresources.Identity{Type: to.Ptr(armresources.ResourceIdentityTypeSystemAssigned)})
	c := newSyncServer(t, tp, "srv-c", vmC)
	if out, err := enableIdentity(t, tp, afsAdmin); err != nil {
		t.Fatalf("a re-run with a new server: %v\n%s", err, out)
	}
	if p := server(c); p["applicationId"] != *identC.PrincipalID || p["activeAuthType"] != "ManagedIdentity" {
		t.Errorf("the new server after the re-run: %v", p)
	}
	if out := c.sync(t); !strings.Contains(out, "(ManagedIdentity)") || !strings.Contains(out, "down 2") {
		t.Errorf("the new server syncs as itself: %s", out)
	}
}
