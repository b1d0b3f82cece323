package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/google/uuid"
)

const (
	roleOwner                   = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	roleRBACAdmin               = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
	roleAFSAdmin                = "92b92042-07d9-4307-87f7-36a593fc5850"
	roleReaderAndDataAccess     = "c12c1c16-33a1-487b-954d-41c89c60f349"
	roleFileDataPrivContributor = "69566ab7-960f-475b-8e7c-b3118f30c6bd"
	roleStorageAccountContrib   = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
)

// seed000Condition is seed 000's least-privilege recipe for an RBAC Administrator: assign and
// remove only Reader and Data Access, Storage File Data Privileged Contributor and Storage
// Account Contributor.
const seed000Condition = `((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {c12c1c16-33a1-487b-954d-41c89c60f349, 69566ab7-960f-475b-8e7c-b3118f30c6bd, 17d1049b-9a84-46fb-8f53-869881c3d3ab})) AND ((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {c12c1c16-33a1-487b-954d-41c89c60f349, 69566ab7-960f-475b-8e7c-b3118f30c6bd, 17d1049b-9a84-46fb-8f53-869881c3d3ab}))`

func assignWithCondition(t *testing.T, cred azcore.TokenCredential, scope, role, principal, condition string) (string, error) {
	t.Helper()
	c, err := armauthorization.NewRoleAssignmentsClient(srv.SubscriptionID, cred, armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	name := uuid.NewString()
	p := &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr("/subscriptions/" + srv.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + role),
		PrincipalID:      to.Ptr(principal), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}
	if condition != "" {
		p.Condition, p.ConditionVersion = to.Ptr(condition), to.Ptr("2.0")
	}
	_, err = c.Create(ctxT(t), scope, name, armauthorization.RoleAssignmentCreateParameters{Properties: p}, nil)
	return name, err
}

// TestDelegation_Seed000: an RBAC Administrator constrained by seed 000's condition, and an
// Azure File Sync Administrator (whose built-in role carries the condition), can assign only
// the allowed roles; Owner is refused with AuthorizationFailed; removal follows the same
// rule; a malformed condition is refused when it is assigned.
func TestDelegation_Seed000(t *testing.T) {
	admin := adminCredential(t)
	rg := "deleg-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	scope := subScope() + "/resourceGroups/" + rg
	target := newServicePrincipal(t, "deleg-target")

	for _, tt := range []struct {
		name, role, condition string
	}{
		{"RBAC Administrator with seed 000's condition", roleRBACAdmin, seed000Condition},
		{"Azure File Sync Administrator (built-in condition)", roleAFSAdmin, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			delegate := newServicePrincipal(t, "delegate")
			if _, err := assignWithCondition(t, admin, scope, tt.role, delegate.ObjectID, tt.condition); err != nil {
				t.Fatalf("assign the delegate: %v", err)
			}
			dc := spCredential(t, delegate.AppID, delegate.Password)
			for _, allowed := range []string{roleReaderAndDataAccess, roleFileDataPrivContributor, roleStorageAccountContrib} {
				if _, err := assignWithCondition(t, dc, scope, allowed, target.ObjectID, ""); err != nil && !strings.Contains(err.Error(), "RoleAssignmentExists") {
					t.Fatalf("the delegate assigns %s: %v", allowed, err)
				}
			}
			_, err := assignWithCondition(t, dc, scope, roleOwner, target.ObjectID, "")
			wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")
			_, err = assignWithCondition(t, dc, scope, roleContributor, target.ObjectID, "")
			wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")
		})
	}

	t.Run("removal follows the condition", func(t *testing.T) {
		delegate := newServicePrincipal(t, "delegate-del")
		if _, err := assignWithCondition(t, admin, scope, roleRBACAdmin, delegate.ObjectID, seed000Condition); err != nil {
			t.Fatal(err)
		}
		other := newServicePrincipal(t, "deleg-other")
		allowedName, err := assignWithCondition(t, admin, scope, roleReaderAndDataAccess, other.ObjectID, "")
		if err != nil {
			t.Fatal(err)
		}
		readerName, err := assignWithCondition(t, admin, scope, roleReader, other.ObjectID, "")
		if err != nil {
			t.Fatal(err)
		}
		c, _ := armauthorization.NewRoleAssignmentsClient(srv.SubscriptionID, spCredential(t, delegate.AppID, delegate.Password), armOptions(t))
		_, err = c.Delete(ctxT(t), scope, readerName, nil)
		wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")
		if _, err := c.Delete(ctxT(t), scope, allowedName, nil); err != nil {
			t.Fatalf("the delegate removes an allowed role: %v", err)
		}
	})
	t.Run("malformed conditions refused", func(t *testing.T) {
		for _, bad := range []string{
			"(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {not-a-guid})",
			"((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR",
			"@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] Bogus {c12c1c16-33a1-487b-954d-41c89c60f349}",
		} {
			_, err := assignWithCondition(t, admin, scope, roleRBACAdmin, target.ObjectID, bad)
			wantARMError(t, err, http.StatusBadRequest, "InvalidCondition")
			if !strings.Contains(err.Error(), "position") && !strings.Contains(err.Error(), "offset") && !strings.Contains(err.Error(), "column") {
				t.Errorf("the error for %q does not say where: %v", bad, err)
			}
		}
	})
}
