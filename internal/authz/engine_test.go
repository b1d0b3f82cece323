package authz

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

const (
	sub        = "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333"
	rg         = sub + "/resourceGroups/rg"
	vm         = rg + "/providers/Microsoft.Compute/virtualMachines/vm1"
	vault      = rg + "/providers/Microsoft.KeyVault/vaults/kv1"
	account    = rg + "/providers/Microsoft.Storage/storageAccounts/acct"
	share      = account + "/fileServices/default/fileshares/share1"
	syncSvc    = rg + "/providers/Microsoft.StorageSync/storageSyncServices/sync1"
	alice      = "11111111-1111-1111-1111-111111111111"
	bob        = "22222222-2222-2222-2222-222222222222"
	admins     = "33333333-3333-3333-3333-333333333333" // a group
	spn        = "44444444-4444-4444-4444-444444444444"
	ownerID    = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	contribID  = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	readerID   = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	uaaID      = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
	rbacAdmID  = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
	miOpID     = "f1a07417-d97a-45cb-824c-7a7467783830"
	kvSecUser  = "4633458b-17de-408a-b874-0445c86b69e6"
	kvReaderID = "21090545-7ca7-4776-b22c-e363652d74d2"
	kvDAAID    = "8b54135c-b56d-4d72-a534-26097cfdc8d8"
	afsAdminID = "92b92042-07d9-4307-87f7-36a593fc5850"
	radaID     = "c12c1c16-33a1-487b-954d-41c89c60f349"
	smbContrib = "0c867c2a-1d8c-454a-a3db-ab2ea1bdc8bb"

	roleAssignmentsWrite  = "Microsoft.Authorization/roleAssignments/write"
	roleAssignmentsDelete = "Microsoft.Authorization/roleAssignments/delete"
	attrRoleDefinitionID  = "Microsoft.Authorization/roleAssignments:RoleDefinitionId"
	attrPrincipalType     = "Microsoft.Authorization/roleAssignments:PrincipalType"
)

var assignmentSeq int

// assign builds an assignment with the role definition ID spelled the way ARM stores it.
func assign(principal, roleGUID, scope string) Assignment {
	assignmentSeq++
	return Assignment{
		Name:             fmt.Sprintf("%08d-aaaa-4aaa-8aaa-aaaaaaaaaaaa", assignmentSeq),
		Scope:            scope,
		RoleDefinitionID: sub + "/providers/Microsoft.Authorization/roleDefinitions/" + roleGUID,
		PrincipalID:      principal,
		PrincipalType:    "User",
	}
}

func withCondition(a Assignment, cond string) Assignment {
	a.Condition, a.ConditionVersion = cond, "2.0"
	return a
}

// attrs is a ConditionAttributes backed by maps.
type attrs struct {
	req, res, prin, env map[string][]string
}

func (a attrs) Request(k string) ([]string, bool)     { v, ok := a.req[k]; return v, ok }
func (a attrs) Resource(k string) ([]string, bool)    { v, ok := a.res[k]; return v, ok }
func (a attrs) Principal(k string) ([]string, bool)   { v, ok := a.prin[k]; return v, ok }
func (a attrs) Environment(k string) ([]string, bool) { v, ok := a.env[k]; return v, ok }

// newAssignmentAttrs is what the Authorization provider supplies for a roleAssignments write.
func newAssignmentAttrs(roleGUID, principalType string) attrs {
	return attrs{req: map[string][]string{
		attrRoleDefinitionID: {roleGUID},
		attrPrincipalType:    {principalType},
	}}
}

type decideCase struct {
	name string
	req  Request
	want bool
	role string // role that should allow, when want is true
}

func runDecide(t *testing.T, ix *Index, tests []decideCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ix.Decide(tt.req)
			if got := d.Allowed; got != tt.want {
				t.Fatalf("Allowed = %v, want %v (%s)", got, tt.want, d.Explain())
			}
			if tt.want && tt.role != "" && d.Role != tt.role {
				t.Errorf("Role = %q, want %q", d.Role, tt.role)
			}
			if !tt.want && (d.Role != "" || d.Assignment != (Assignment{})) {
				t.Errorf("denied decision carries assignment %+v role %q", d.Assignment, d.Role)
			}
		})
	}
}

func TestIndex_Decide_NotActions(t *testing.T) {
	ix := NewIndex([]Assignment{
		assign(alice, contribID, sub),
		assign(bob, ownerID, sub),
		assign(spn, contribID, sub),
		assign(spn, uaaID, rg),
	}, nil)
	runDecide(t, ix, []decideCase{
		{"contributor writes a VM", Request{PrincipalIDs: []string{alice}, Action: "Microsoft.Compute/virtualMachines/write", Scope: vm}, true, "Contributor"},
		{"contributor cannot write role assignments", Request{PrincipalIDs: []string{alice}, Action: roleAssignmentsWrite, Scope: rg}, false, ""},
		{"contributor cannot write role assignments in any case", Request{PrincipalIDs: []string{alice}, Action: "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE", Scope: rg}, false, ""},
		{"contributor cannot delete role assignments", Request{PrincipalIDs: []string{alice}, Action: roleAssignmentsDelete, Scope: rg}, false, ""},
		{"contributor reads role assignments", Request{PrincipalIDs: []string{alice}, Action: "Microsoft.Authorization/roleAssignments/read", Scope: rg}, true, "Contributor"},
		{"contributor cannot elevate access", Request{PrincipalIDs: []string{alice}, Action: "Microsoft.Authorization/elevateAccess/Action", Scope: sub}, false, ""},
		{"owner writes role assignments", Request{PrincipalIDs: []string{bob}, Action: roleAssignmentsWrite, Scope: rg}, true, "Owner"},
		{"contributor plus user access administrator", Request{PrincipalIDs: []string{spn}, Action: roleAssignmentsWrite, Scope: vm}, true, "User Access Administrator"},
		{"user access administrator only below its scope", Request{PrincipalIDs: []string{spn}, Action: roleAssignmentsWrite, Scope: sub}, false, ""},
	})
}

func TestIndex_Decide_DataActions(t *testing.T) {
	ix := NewIndex([]Assignment{
		assign(bob, ownerID, sub),
		assign(alice, kvSecUser, vault),
		assign(spn, kvReaderID, vault),
	}, nil)
	getSecret := "Microsoft.KeyVault/vaults/secrets/getSecret/action"
	runDecide(t, ix, []decideCase{
		{"owner has no data actions", Request{PrincipalIDs: []string{bob}, Action: getSecret, DataAction: true, Scope: vault + "/secrets/s1"}, false, ""},
		{"owner manages the vault", Request{PrincipalIDs: []string{bob}, Action: "Microsoft.KeyVault/vaults/write", Scope: vault}, true, "Owner"},
		{"secrets user gets a secret", Request{PrincipalIDs: []string{alice}, Action: getSecret, DataAction: true, Scope: vault + "/secrets/s1"}, true, "Key Vault Secrets User"},
		{"secrets user cannot set a secret", Request{PrincipalIDs: []string{alice}, Action: "Microsoft.KeyVault/vaults/secrets/setSecret/action", DataAction: true, Scope: vault}, false, ""},
		{"secrets user data action is not a control action", Request{PrincipalIDs: []string{alice}, Action: getSecret, Scope: vault}, false, ""},
		{"secrets user cannot read the vault resource", Request{PrincipalIDs: []string{alice}, Action: "Microsoft.KeyVault/vaults/read", Scope: vault}, false, ""},
		{"key vault reader reads the vault through vaults/*/read", Request{PrincipalIDs: []string{spn}, Action: "Microsoft.KeyVault/vaults/read", Scope: vault}, true, "Key Vault Reader"},
		{"key vault reader reads secret metadata", Request{PrincipalIDs: []string{spn}, Action: "Microsoft.KeyVault/vaults/secrets/readMetadata/action", DataAction: true, Scope: vault}, true, "Key Vault Reader"},
		{"key vault reader cannot get a secret", Request{PrincipalIDs: []string{spn}, Action: getSecret, DataAction: true, Scope: vault}, false, ""},
	})
}

func TestIndex_Decide_Scope(t *testing.T) {
	ix := NewIndex([]Assignment{
		assign(alice, readerID, rg),
		assign(bob, readerID, vm),
		assign(spn, readerID, "/"),
		assign(admins, smbContrib, share),
		assign(admins, readerID, strings.ToUpper(sub)+"/"),
	}, nil)
	read := "Microsoft.Compute/virtualMachines/read"
	runDecide(t, ix, []decideCase{
		{"at the scope", Request{PrincipalIDs: []string{alice}, Action: "Microsoft.Resources/subscriptions/resourceGroups/read", Scope: rg}, true, "Reader"},
		{"below the scope", Request{PrincipalIDs: []string{alice}, Action: read, Scope: vm}, true, "Reader"},
		{"below the scope, other case", Request{PrincipalIDs: []string{alice}, Action: read, Scope: strings.ToUpper(vm)}, true, "Reader"},
		{"trailing slash ignored", Request{PrincipalIDs: []string{alice}, Action: read, Scope: rg + "/"}, true, "Reader"},
		{"sibling with same prefix", Request{PrincipalIDs: []string{alice}, Action: read, Scope: sub + "/resourceGroups/rg2/providers/Microsoft.Compute/virtualMachines/vm1"}, false, ""},
		{"sibling name prefix", Request{PrincipalIDs: []string{alice}, Action: read, Scope: sub + "/resourceGroups/rg2"}, false, ""},
		{"above the scope", Request{PrincipalIDs: []string{alice}, Action: read, Scope: sub}, false, ""},
		{"resource assignment does not cover its group", Request{PrincipalIDs: []string{bob}, Action: read, Scope: rg}, false, ""},
		{"resource assignment covers its children", Request{PrincipalIDs: []string{bob}, Action: "Microsoft.Compute/virtualMachines/extensions/read", Scope: vm + "/extensions/ext1"}, true, "Reader"},
		{"root covers everything", Request{PrincipalIDs: []string{spn}, Action: read, Scope: vm}, true, "Reader"},
		{"root covers the root", Request{PrincipalIDs: []string{spn}, Action: "Microsoft.Management/managementGroups/read", Scope: "/"}, true, "Reader"},
		{"group assignment applies to a member", Request{PrincipalIDs: []string{"99999999-9999-9999-9999-999999999999", admins}, Action: read, Scope: vm}, true, "Reader"},
		{"file share scope", Request{PrincipalIDs: []string{admins}, Action: "Microsoft.Storage/storageAccounts/fileServices/fileshares/files/write", DataAction: true, Scope: share + "/dir/file.txt"}, true, "Storage File Data SMB Share Contributor"},
		{"other share", Request{PrincipalIDs: []string{admins}, Action: "Microsoft.Storage/storageAccounts/fileServices/fileshares/files/write", DataAction: true, Scope: account + "/fileServices/default/fileshares/share10"}, false, ""},
		{"principal id compared case-insensitively", Request{PrincipalIDs: []string{strings.ToUpper(alice)}, Action: read, Scope: vm}, true, "Reader"},
		{"unknown principal", Request{PrincipalIDs: []string{"55555555-5555-5555-5555-555555555555"}, Action: read, Scope: vm}, false, ""},
		{"no principal", Request{Action: read, Scope: vm}, false, ""},
		{"empty action", Request{PrincipalIDs: []string{spn}, Scope: vm}, false, ""},
	})
}

func TestScopeCovers(t *testing.T) {
	tests := []struct {
		name, scope, target string
		want                bool
	}{
		{"same", rg, rg, true},
		{"child", rg, vm, true},
		{"sibling prefix", rg, rg + "2", false},
		{"root", "/", vm, true},
		{"empty scope is root", "", vm, true},
		{"trailing slashes", rg + "//", vm + "/", true},
		{"case", strings.ToUpper(rg), vm, true},
		{"parent not covered", vm, rg, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ScopeCovers(tt.scope, tt.target); got != tt.want {
				t.Errorf("ScopeCovers(%q, %q) = %v, want %v", tt.scope, tt.target, got, tt.want)
			}
		})
	}
}

func TestIndex_Decide_Roles(t *testing.T) {
	uami := rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	custom := RoleDefinition{
		Name:     "6f2c7a0e-0000-4000-8000-00000000c0de",
		RoleName: "VM Starter",
		RoleType: RoleTypeCustom,
		Permissions: []Permission{{
			Actions:    []string{"Microsoft.Compute/virtualMachines/*"},
			NotActions: []string{"Microsoft.Compute/virtualMachines/delete"},
		}},
		AssignableScopes: []string{sub},
	}
	lookup := func(guid string) (RoleDefinition, bool) {
		if guid == custom.Name {
			return custom, true
		}
		return BuiltInRole(guid)
	}
	ix := NewIndex([]Assignment{
		assign(alice, miOpID, uami),
		assign(bob, custom.Name, rg),
		assign(spn, "deadbeef-0000-0000-0000-000000000000", rg),
		assign(spn, "9980e02c-c2be-4d73-94e8-173b1dc7cf3c", rg), // Virtual Machine Contributor
	}, lookup)
	runDecide(t, ix, []decideCase{
		{"managed identity operator assigns the identity", Request{PrincipalIDs: []string{alice}, Action: "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", Scope: uami}, true, "Managed Identity Operator"},
		{"managed identity operator reads the identity", Request{PrincipalIDs: []string{alice}, Action: "Microsoft.ManagedIdentity/userAssignedIdentities/read", Scope: uami}, true, "Managed Identity Operator"},
		{"managed identity operator cannot delete it", Request{PrincipalIDs: []string{alice}, Action: "Microsoft.ManagedIdentity/userAssignedIdentities/delete", Scope: uami}, false, ""},
		{"custom role grants", Request{PrincipalIDs: []string{bob}, Action: "Microsoft.Compute/virtualMachines/start/action", Scope: vm}, true, "VM Starter"},
		{"custom role notActions", Request{PrincipalIDs: []string{bob}, Action: "Microsoft.Compute/virtualMachines/delete", Scope: vm}, false, ""},
		{"missing role grants nothing but another may", Request{PrincipalIDs: []string{spn}, Action: "Microsoft.Compute/virtualMachines/write", Scope: vm}, true, "Virtual Machine Contributor"},
		{"VM contributor lists storage keys", Request{PrincipalIDs: []string{spn}, Action: "Microsoft.Storage/storageAccounts/listKeys/action", Scope: account}, true, "Virtual Machine Contributor"},
		{"VM contributor cannot assign identities", Request{PrincipalIDs: []string{spn}, Action: "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", Scope: uami}, false, ""},
	})
}

// rbacAdminBackupOnly is the reference's "may only assign/remove Backup Contributor or Backup
// Reader" condition, put on a Role Based Access Control Administrator assignment.
const rbacAdminBackupOnly = `((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR
 (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {5e467623-bb1f-42f4-a55d-6e525e11384b, a795c7a0-d4a2-40c1-ae25-d81f01202912}))
AND
((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR
 (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {5e467623-bb1f-42f4-a55d-6e525e11384b, a795c7a0-d4a2-40c1-ae25-d81f01202912}))`

func TestIndex_Decide_Conditions(t *testing.T) {
	const backupReader = "a795c7a0-d4a2-40c1-ae25-d81f01202912"
	ix := NewIndex([]Assignment{
		assign(alice, afsAdminID, rg),
		withCondition(assign(bob, rbacAdmID, rg), rbacAdminBackupOnly),
		assign(spn, kvDAAID, vault),
		withCondition(assign(admins, readerID, rg), "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:name] StringEquals 'logs' AND ("),
		assign(admins, readerID, vm),
		assign("66666666-6666-6666-6666-666666666666", "77789c21-1643-48a2-8f27-47f858540b51", account), // Storage Actions Task Assignment Contributor
	}, nil)
	write := func(p string, role, ptype string) Request {
		return Request{PrincipalIDs: []string{p}, Action: roleAssignmentsWrite, Scope: account, Attributes: newAssignmentAttrs(role, ptype)}
	}
	runDecide(t, ix, []decideCase{
		{"file sync admin assigns Reader and Data Access to a service principal", write(alice, radaID, "ServicePrincipal"), true, "Azure File Sync Administrator"},
		{"file sync admin assigns with dashless GUID and other case", write(alice, strings.ToUpper(strings.ReplaceAll(radaID, "-", "")), "servicePRINCIPAL"), true, "Azure File Sync Administrator"},
		{"file sync admin assigns with a full role definition id", write(alice, sub+"/providers/Microsoft.Authorization/roleDefinitions/"+radaID, "ServicePrincipal"), true, "Azure File Sync Administrator"},
		{"file sync admin assigns Storage File Data Privileged Contributor", write(alice, "69566ab7-960f-475b-8e7c-b3118f30c6bd", "ServicePrincipal"), true, ""},
		{"file sync admin cannot assign Owner", write(alice, ownerID, "ServicePrincipal"), false, ""},
		{"file sync admin cannot assign to a user", write(alice, radaID, "User"), false, ""},
		{"file sync admin without attributes fails closed", Request{PrincipalIDs: []string{alice}, Action: roleAssignmentsWrite, Scope: account}, false, ""},
		{"file sync admin other actions unaffected", Request{PrincipalIDs: []string{alice}, Action: "Microsoft.StorageSync/storageSyncServices/write", Scope: syncSvc}, true, "Azure File Sync Administrator"},
		{"file sync admin has no delete", Request{PrincipalIDs: []string{alice}, Action: roleAssignmentsDelete, Scope: account}, false, ""},
		{"rbac admin assigns backup reader", write(bob, backupReader, "User"), true, "Role Based Access Control Administrator"},
		{"rbac admin cannot assign owner", write(bob, ownerID, "User"), false, ""},
		{"rbac admin deletes a backup reader assignment", Request{PrincipalIDs: []string{bob}, Action: roleAssignmentsDelete, Scope: account,
			Attributes: attrs{res: map[string][]string{attrRoleDefinitionID: {backupReader}}}}, true, ""},
		{"rbac admin cannot delete an owner assignment", Request{PrincipalIDs: []string{bob}, Action: roleAssignmentsDelete, Scope: account,
			Attributes: attrs{res: map[string][]string{attrRoleDefinitionID: {ownerID}}}}, false, ""},
		{"rbac admin condition passes other actions", Request{PrincipalIDs: []string{bob}, Action: "Microsoft.Compute/virtualMachines/read", Scope: vm}, true, ""},
		{"kv data access admin assigns secrets user", Request{PrincipalIDs: []string{spn}, Action: roleAssignmentsWrite, Scope: vault, Attributes: newAssignmentAttrs(kvSecUser, "User")}, true, "Key Vault Data Access Administrator"},
		{"kv data access admin cannot assign owner", Request{PrincipalIDs: []string{spn}, Action: roleAssignmentsWrite, Scope: vault, Attributes: newAssignmentAttrs(ownerID, "User")}, false, ""},
		{"storage actions assigner, dashless built-in GUID", Request{PrincipalIDs: []string{"66666666-6666-6666-6666-666666666666"}, Action: roleAssignmentsWrite, Scope: account,
			Attributes: newAssignmentAttrs("4bad4d9e-2a13-4888-94bb-c8432f6f3040", "ServicePrincipal")}, true, ""},
		{"storage actions assigner cannot assign reader", Request{PrincipalIDs: []string{"66666666-6666-6666-6666-666666666666"}, Action: roleAssignmentsWrite, Scope: account,
			Attributes: newAssignmentAttrs(readerID, "ServicePrincipal")}, false, ""},
		{"invalid condition grants nothing", Request{PrincipalIDs: []string{admins}, Action: "Microsoft.Resources/subscriptions/resourceGroups/read", Scope: rg}, false, ""},
		{"another assignment still grants", Request{PrincipalIDs: []string{admins}, Action: "Microsoft.Compute/virtualMachines/read", Scope: vm}, true, "Reader"},
	})
}

func TestIndex_Decide_ConditionVersion(t *testing.T) {
	a := assign(alice, readerID, rg)
	a.Condition, a.ConditionVersion = "@Resource[x] StringEquals 'y'", "1.0"
	ix := NewIndex([]Assignment{a}, nil)
	d := ix.Decide(Request{PrincipalIDs: []string{alice}, Action: "Microsoft.Compute/virtualMachines/read", Scope: vm,
		Attributes: attrs{res: map[string][]string{"x": {"y"}}}})
	if d.Allowed {
		t.Errorf("condition with version 1.0 granted access; want it to grant nothing")
	}
}

func TestDecision_Explain(t *testing.T) {
	ix := NewIndex([]Assignment{
		assign(alice, contribID, sub),
		assign(bob, afsAdminID, rg),
		assign(spn, "deadbeef-0000-0000-0000-000000000000", rg),
	}, nil)
	tests := []struct {
		name string
		req  Request
		want []string
	}{
		{"allowed", Request{PrincipalIDs: []string{alice}, Action: "Microsoft.Compute/virtualMachines/write", Scope: vm},
			[]string{alice, "may perform action Microsoft.Compute/virtualMachines/write", `"Contributor"`, contribID, "at scope " + sub}},
		{"denied", Request{PrincipalIDs: []string{alice, admins}, Action: roleAssignmentsWrite, Scope: rg},
			[]string{"no role assignment for principal " + alice + " (or its 1 group) at or above scope " + rg + " grants action " + roleAssignmentsWrite}},
		{"denied data action", Request{PrincipalIDs: []string{alice}, Action: "Microsoft.KeyVault/vaults/secrets/getSecret/action", DataAction: true, Scope: vault},
			[]string{"grants data action Microsoft.KeyVault/vaults/secrets/getSecret/action"}},
		{"condition not satisfied", Request{PrincipalIDs: []string{bob}, Action: roleAssignmentsWrite, Scope: account, Attributes: newAssignmentAttrs(ownerID, "ServicePrincipal")},
			[]string{`role "Azure File Sync Administrator"`, "condition is not satisfied"}},
		{"role missing", Request{PrincipalIDs: []string{spn}, Action: "Microsoft.Compute/virtualMachines/read", Scope: vm},
			[]string{"refers to role definition deadbeef-0000-0000-0000-000000000000, which does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ix.Decide(tt.req).Explain()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Explain() = %q, want it to contain %q", got, w)
				}
			}
		})
	}
}

// TestIndex_Decide_Allocs pins the hot path: no allocation on allow or deny without
// conditions.
func TestIndex_Decide_Allocs(t *testing.T) {
	ix := NewIndex([]Assignment{
		assign(alice, contribID, sub),
		assign(alice, kvSecUser, vault),
		assign(admins, readerID, rg),
		assign(bob, "9980e02c-c2be-4d73-94e8-173b1dc7cf3c", rg),
	}, nil)
	principals := []string{alice, admins}
	tests := []struct {
		name string
		req  Request
		want bool
	}{
		{"allow control", Request{PrincipalIDs: principals, Action: "Microsoft.Compute/virtualMachines/write", Scope: vm}, true},
		{"allow data", Request{PrincipalIDs: principals, Action: "Microsoft.KeyVault/vaults/secrets/getSecret/action", DataAction: true, Scope: vault + "/secrets/s"}, true},
		{"allow many patterns", Request{PrincipalIDs: []string{bob}, Action: "Microsoft.Storage/storageAccounts/read", Scope: account}, true},
		{"deny notActions", Request{PrincipalIDs: principals, Action: roleAssignmentsWrite, Scope: vm}, false},
		{"deny scope", Request{PrincipalIDs: []string{bob}, Action: "Microsoft.Compute/virtualMachines/write", Scope: sub}, false},
		{"deny upper-case unknown principal", Request{PrincipalIDs: []string{"ABCDEF00-1111-1111-1111-111111111111"}, Action: "Microsoft.Compute/virtualMachines/write", Scope: vm}, false},
		{"allow upper-case principal", Request{PrincipalIDs: []string{strings.ToUpper(bob)}, Action: "Microsoft.Compute/virtualMachines/write", Scope: vm}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decision
			allocs := testing.AllocsPerRun(200, func() { d = ix.Decide(tt.req) })
			if d.Allowed != tt.want {
				t.Fatalf("Allowed = %v, want %v", d.Allowed, tt.want)
			}
			if allocs != 0 {
				t.Errorf("Decide allocated %v times per call, want 0", allocs)
			}
		})
	}
}

func TestIndex_Decide_Concurrent(t *testing.T) {
	ix := NewIndex([]Assignment{assign(alice, afsAdminID, rg), assign(bob, readerID, sub)}, nil)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				if !ix.Decide(Request{PrincipalIDs: []string{bob}, Action: "Microsoft.Compute/virtualMachines/read", Scope: vm}).Allowed {
					t.Error("reader denied")
					return
				}
				if ix.Decide(Request{PrincipalIDs: []string{alice}, Action: roleAssignmentsWrite, Scope: rg, Attributes: newAssignmentAttrs(ownerID, "ServicePrincipal")}).Allowed {
					t.Error("file sync admin assigned owner")
					return
				}
			}
		}()
	}
	wg.Wait()
}
