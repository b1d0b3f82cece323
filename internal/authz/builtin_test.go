package authz

import (
	"regexp"
	"sort"
	"testing"
)

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestBuiltInRoles_Catalog(t *testing.T) {
	roles := BuiltInRoles()
	if len(roles) < 40 {
		t.Fatalf("got %d built-in roles, want at least 40", len(roles))
	}
	guids := map[string]string{}
	names := map[string]bool{}
	for _, r := range roles {
		t.Run(r.RoleName, func(t *testing.T) {
			if !guidRE.MatchString(r.Name) {
				t.Errorf("Name = %q, want a lower-case GUID", r.Name)
			}
			if other, dup := guids[r.Name]; dup {
				t.Errorf("GUID %s used by %q and %q", r.Name, other, r.RoleName)
			}
			guids[r.Name] = r.RoleName
			if names[r.RoleName] {
				t.Errorf("role name %q twice", r.RoleName)
			}
			names[r.RoleName] = true
			if r.RoleType != RoleTypeBuiltIn {
				t.Errorf("RoleType = %q, want %q", r.RoleType, RoleTypeBuiltIn)
			}
			if len(r.AssignableScopes) != 1 || r.AssignableScopes[0] != "/" {
				t.Errorf("AssignableScopes = %q, want [/]", r.AssignableScopes)
			}
			if r.Description == "" || len(r.Permissions) == 0 {
				t.Errorf("role has no description or no permissions")
			}
			for _, p := range r.Permissions {
				if len(p.Actions)+len(p.DataActions) == 0 {
					t.Errorf("permission grants nothing: %+v", p)
				}
				if p.Condition != "" {
					if err := ParseCondition(p.Condition); err != nil {
						t.Errorf("built-in condition does not parse: %v", err)
					}
					if p.ConditionVersion != "2.0" {
						t.Errorf("ConditionVersion = %q, want 2.0", p.ConditionVersion)
					}
				}
			}
		})
	}
	if !sort.SliceIsSorted(roles, func(i, j int) bool { return roles[i].RoleName < roles[j].RoleName }) {
		t.Errorf("BuiltInRoles is not sorted by RoleName")
	}
}

// TestBuiltInRole_ReferenceGUIDs pins every GUID named in the reference (azure-semantics.md
// §3.4) to its role name.
func TestBuiltInRole_ReferenceGUIDs(t *testing.T) {
	tests := []struct{ guid, name string }{
		{"8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner"},
		{"b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor"},
		{"acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader"},
		{"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", "User Access Administrator"},
		{"f58310d9-a9f6-439a-9e8d-f62e7b41a168", "Role Based Access Control Administrator"},
		{"e40ec5ca-96e0-45a2-b4ff-59039f2c2b59", "Managed Identity Contributor"},
		{"f1a07417-d97a-45cb-824c-7a7467783830", "Managed Identity Operator"},
		{"9980e02c-c2be-4d73-94e8-173b1dc7cf3c", "Virtual Machine Contributor"},
		{"00482a5a-887f-4fb3-b363-3b7fe8e74483", "Key Vault Administrator"},
		{"21090545-7ca7-4776-b22c-e363652d74d2", "Key Vault Reader"},
		{"4633458b-17de-408a-b874-0445c86b69e6", "Key Vault Secrets User"},
		{"b86a8fe4-44ce-4948-aee5-eccb2c155cd7", "Key Vault Secrets Officer"},
		{"12338af0-0e69-4776-bea7-57ae8d297424", "Key Vault Crypto User"},
		{"14b46e9e-c2b7-41b4-b07b-48a6ebf60603", "Key Vault Crypto Officer"},
		{"e147488a-f6f5-4113-8e2d-b22465e65bf6", "Key Vault Crypto Service Encryption User"},
		{"08bbd89e-9f13-488c-ac41-acfcb10c90ab", "Key Vault Crypto Service Release User"},
		{"a4417e6f-fecd-4de8-b567-7b0420556985", "Key Vault Certificates Officer"},
		{"db79e9a7-68ee-4b58-9aeb-b90e7c24fcba", "Key Vault Certificate User"},
		{"f25e0fa2-a7c8-4377-a976-54943a77a395", "Key Vault Contributor"},
		{"8b54135c-b56d-4d72-a534-26097cfdc8d8", "Key Vault Data Access Administrator"},
		{"17d1049b-9a84-46fb-8f53-869881c3d3ab", "Storage Account Contributor"},
		{"c12c1c16-33a1-487b-954d-41c89c60f349", "Reader and Data Access"},
		{"81a9662b-bebf-436f-a333-f67b29880f12", "Storage Account Key Operator Service Role"},
		{"b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "Storage Blob Data Owner"},
		{"ba92f5b4-2d11-453d-a403-e96b0029c9fe", "Storage Blob Data Contributor"},
		{"2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "Storage Blob Data Reader"},
		{"db58b8e5-c6ad-4a2a-8342-4190687cbf4a", "Storage Blob Delegator"},
		{"aba4ae5f-2193-4029-9191-0cb91df5e314", "Storage File Data SMB Share Reader"},
		{"0c867c2a-1d8c-454a-a3db-ab2ea1bdc8bb", "Storage File Data SMB Share Contributor"},
		{"a7264617-510b-434b-a828-9731dc254ea7", "Storage File Data SMB Share Elevated Contributor"},
		{"b8eda974-7b85-4f76-af95-65846b26df6d", "Storage File Data Privileged Reader"},
		{"69566ab7-960f-475b-8e7c-b3118f30c6bd", "Storage File Data Privileged Contributor"},
		{"bbf004e3-0e4b-4f86-ae4f-1f8fb47b357b", "Storage File Data SMB Admin"},
		{"a235d3ee-5935-4cfb-8cc5-a3303ad5995e", "Storage File Data SMB MI Admin"},
		{"5d9bac3f-34b2-432f-bde5-78aa8e73ce6b", "Storage File Data SMB Take Ownership"},
		{"765a04e0-5de8-4bb2-9bf6-b2a30bc03e91", "Storage File Delegator"},
		{"92b92042-07d9-4307-87f7-36a593fc5850", "Azure File Sync Administrator"},
		{"754c1a27-40dc-4708-8ad4-2bffdeee09e8", "Azure File Sync Reader"},
		{"1c0163c0-47e6-4577-8991-ea5c82e286e4", "Virtual Machine Administrator Login"},
		{"fb879df8-f326-4884-b1cf-06f3ad86be52", "Virtual Machine User Login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := BuiltInRole(tt.guid)
			if !ok {
				t.Fatalf("BuiltInRole(%s) not found", tt.guid)
			}
			if got.RoleName != tt.name {
				t.Errorf("RoleName = %q, want %q", got.RoleName, tt.name)
			}
			byName, ok := BuiltInRoleByName(tt.name)
			if !ok || byName.Name != tt.guid {
				t.Errorf("BuiltInRoleByName(%q) = %q, %v, want %q", tt.name, byName.Name, ok, tt.guid)
			}
		})
	}
}

func TestBuiltInRole_Lookup(t *testing.T) {
	tests := []struct {
		name, in string
		want     string
		ok       bool
	}{
		{"upper-case GUID", "B24988AC-6180-42A0-AB88-20F7382DD24C", "Contributor", true},
		{"full definition id", "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader", true},
		{"unknown", "00000000-0000-0000-0000-000000000000", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := BuiltInRole(tt.in)
			if ok != tt.ok || got.RoleName != tt.want {
				t.Errorf("BuiltInRole(%q) = %q, %v, want %q, %v", tt.in, got.RoleName, ok, tt.want, tt.ok)
			}
		})
	}
	t.Run("by name ignores case", func(t *testing.T) {
		got, ok := BuiltInRoleByName("key vault SECRETS user")
		if !ok || got.Name != "4633458b-17de-408a-b874-0445c86b69e6" {
			t.Errorf("got %q, %v", got.Name, ok)
		}
	})
	t.Run("returns copies", func(t *testing.T) {
		r, _ := BuiltInRole("b24988ac-6180-42a0-ab88-20f7382dd24c")
		r.Permissions[0].NotActions[0] = "mutated"
		r.AssignableScopes[0] = "mutated"
		again, _ := BuiltInRole("b24988ac-6180-42a0-ab88-20f7382dd24c")
		if got, want := again.Permissions[0].NotActions[0], "Microsoft.Authorization/*/Delete"; got != want {
			t.Errorf("catalog changed through a copy: got %q, want %q", got, want)
		}
		if got := again.AssignableScopes[0]; got != "/" {
			t.Errorf("catalog changed through a copy: got %q, want /", got)
		}
	})
}

func TestBuiltInRole_FileSyncAdministratorCondition(t *testing.T) {
	r, ok := BuiltInRole("92b92042-07d9-4307-87f7-36a593fc5850")
	if !ok {
		t.Fatal("Azure File Sync Administrator missing")
	}
	if got := len(r.Permissions); got != 1 {
		t.Fatalf("got %d permission elements, want 1", got)
	}
	p := r.Permissions[0]
	if p.Condition == "" || p.ConditionVersion != "2.0" {
		t.Errorf("condition = %q (version %q), want the built-in condition inside the permission", p.Condition, p.ConditionVersion)
	}
}

func TestRoleDefinitionGUID(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"bare", "ACDD72A7-3385-48ef-bd42-f606fba81ae7", "acdd72a7-3385-48ef-bd42-f606fba81ae7"},
		{"subscription id", "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7", "acdd72a7-3385-48ef-bd42-f606fba81ae7"},
		{"trailing slash", "/providers/Microsoft.Authorization/roleDefinitions/abc/", "abc"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RoleDefinitionGUID(tt.in); got != tt.want {
				t.Errorf("RoleDefinitionGUID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
