package e2e

// Regression tests for issue 10 (strictness): each one failed on the main it was filed against.

import (
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/google/uuid"
)

const roleUserAccessAdmin = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"

// tokenOf returns an ARM token for cred.
func tokenOf(t *testing.T, cred azcore.TokenCredential) string {
	t.Helper()
	tok, err := cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
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
