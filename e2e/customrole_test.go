package e2e

import (
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/google/uuid"
)

func roleDefinitions(t *testing.T, cred azcore.TokenCredential) *armauthorization.RoleDefinitionsClient {
	t.Helper()
	c, err := armauthorization.NewRoleDefinitionsClient(cred, armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func customRole(name string, scopes []string, actions ...string) armauthorization.RoleDefinition {
	var as, ss []*string
	for _, a := range actions {
		as = append(as, to.Ptr(a))
	}
	for _, s := range scopes {
		ss = append(ss, to.Ptr(s))
	}
	return armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
		RoleName: to.Ptr(name), Description: to.Ptr("test role"), RoleType: to.Ptr("CustomRole"), AssignableScopes: ss,
		Permissions: []*armauthorization.Permission{{Actions: as}}}}
}

// TestCustomRoles (issue 5 item 1): a custom role grants exactly its actions, only within its
// assignable scopes, is validated, and cannot be deleted while assigned.
func TestCustomRoles(t *testing.T) {
	admin := adminCredential(t)
	rg := "custom-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	rgScope := subScope() + "/resourceGroups/" + rg
	rc := roleDefinitions(t, admin)
	roleID := uuid.NewString()
	name := "Identity Reader " + roleID[:8]
	created, err := rc.CreateOrUpdate(ctxT(t), rgScope, roleID, customRole(name, []string{rgScope},
		"Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.ManagedIdentity/userAssignedIdentities/read"), nil)
	if err != nil {
		t.Fatalf("create custom role: %v", err)
	}
	if *created.Properties.RoleType != "CustomRole" || *created.Name != roleID {
		t.Fatalf("created role = %+v", created.Properties)
	}
	found := false
	for pager := rc.NewListPager(rgScope, &armauthorization.RoleDefinitionsClientListOptions{Filter: to.Ptr("type eq 'CustomRole'")}); pager.More(); {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Value {
			found = found || *d.Name == roleID
		}
	}
	if !found {
		t.Fatal("the custom role is not listed at its assignable scope")
	}

	sp := newServicePrincipal(t, "custom-role-user")
	cred := spCredential(t, sp.AppID, sp.Password)
	if err := assignRole(t, admin, rgScope, roleID, sp.ObjectID); err != nil {
		t.Fatalf("assign the custom role: %v", err)
	}
	if _, err := groups(t, cred).Get(ctxT(t), rg, nil); err != nil {
		t.Fatalf("custom role grants resourceGroups/read: %v", err)
	}
	mc, _ := armmsi.NewUserAssignedIdentitiesClient(srv.SubscriptionID, cred, armOptions(t))
	_, err = mc.CreateOrUpdate(ctxT(t), rg, "nope", armmsi.Identity{Location: to.Ptr("westus")}, nil)
	wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")

	t.Run("not assignable outside its scopes", func(t *testing.T) {
		wantARMError(t, assignRole(t, admin, subScope(), roleID, sp.ObjectID), http.StatusBadRequest, "RoleAssignmentScopeNotAssignableToRoleDefinition")
	})
	t.Run("validation", func(t *testing.T) {
		_, err := rc.CreateOrUpdate(ctxT(t), rgScope, uuid.NewString(), customRole("bad "+roleID[:8], []string{rgScope}, "not an action!"), nil)
		wantARMError(t, err, http.StatusBadRequest, "InvalidActionOrNotAction")
		_, err = rc.CreateOrUpdate(ctxT(t), rgScope, uuid.NewString(), customRole(name, []string{rgScope}, "*/read"), nil)
		wantARMError(t, err, http.StatusConflict, "RoleDefinitionWithSameNameExists")
		_, err = rc.CreateOrUpdate(ctxT(t), rgScope, uuid.NewString(), customRole("ghost "+roleID[:8], []string{subScope() + "/resourceGroups/does-not-exist"}, "*/read"), nil)
		wantARMError(t, err, http.StatusBadRequest, "InvalidAssignableScopes")
		_, err = rc.CreateOrUpdate(ctxT(t), rgScope, roleContributor, customRole("override", []string{rgScope}, "*"), nil)
		wantARMError(t, err, http.StatusForbidden, "RoleDefinitionUpdateNotPermitted")
	})
	t.Run("a Contributor cannot create roles", func(t *testing.T) {
		c := newServicePrincipal(t, "custom-role-contrib")
		if err := assignRole(t, admin, rgScope, roleContributor, c.ObjectID); err != nil {
			t.Fatal(err)
		}
		_, err := roleDefinitions(t, spCredential(t, c.AppID, c.Password)).CreateOrUpdate(ctxT(t), rgScope, uuid.NewString(),
			customRole("contrib "+roleID[:8], []string{rgScope}, "*/read"), nil)
		wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")
	})
	t.Run("in use: not deletable", func(t *testing.T) {
		_, err := rc.Delete(ctxT(t), rgScope, roleID, nil)
		wantARMError(t, err, http.StatusConflict, "RoleDefinitionHasAssignments")
	})
}
