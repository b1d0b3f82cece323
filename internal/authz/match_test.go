package authz

import "testing"

func TestMatchAction(t *testing.T) {
	tests := []struct {
		name            string
		pattern, action string
		want            bool
	}{
		{"star matches everything", "*", "Microsoft.Compute/virtualMachines/write", true},
		{"star/read matches any read", "*/read", "Microsoft.Compute/virtualMachines/read", true},
		{"star/read matches nested read", "*/read", "Microsoft.Storage/storageAccounts/fileServices/shares/read", true},
		{"star/read refuses write", "*/read", "Microsoft.Compute/virtualMachines/write", false},
		{"star/read refuses readMetadata action", "*/read", "Microsoft.KeyVault/vaults/secrets/readMetadata/action", false},
		{"star/read refuses suffix without slash", "*/read", "Microsoft.Foo/bar/unread", false},
		{"middle star spans segments", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write", true},
		{"middle star case-insensitive", "Microsoft.Authorization/*/Write", "MICROSOFT.AUTHORIZATION/ROLEASSIGNMENTS/WRITE", true},
		{"middle star spans several segments", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/policyAssignments/exemptions/write", true},
		{"middle star refuses other verb", "Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/read", false},
		{"middle star refuses other namespace", "Microsoft.Authorization/*/Write", "Microsoft.Compute/roleAssignments/write", false},
		{"exact match ignores case", "Microsoft.Storage/storageAccounts/read", "microsoft.storage/STORAGEACCOUNTS/Read", true},
		{"exact match refuses longer", "Microsoft.Storage/storageAccounts/read", "Microsoft.Storage/storageAccounts/readx", false},
		{"exact match refuses prefix", "Microsoft.Storage/storageAccounts/read", "Microsoft.Storage/storageAccounts", false},
		{"trailing star", "Microsoft.Support/*", "Microsoft.Support/supportTickets/write", true},
		{"trailing star keeps namespace boundary", "Microsoft.Storage/*", "Microsoft.StorageSync/storageSyncServices/read", false},
		{"slash-star-slash may be no segment", "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", true},
		{"slash-star-slash may be a segment", "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/assign/action", true},
		{"vault read through vaults/*/read", "Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/read", true},
		{"collapse keeps the slash", "Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaultsread", false},
		{"two stars", "Microsoft.*/*/read", "Microsoft.Network/virtualNetworks/read", true},
		{"two stars refuse", "Microsoft.*/*/read", "Contoso.Network/virtualNetworks/read", false},
		{"double star is one star", "Microsoft.Support/**", "Microsoft.Support/x", true},
		{"empty pattern matches nothing", "", "Microsoft.Support/x", false},
		{"empty action", "*/read", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchAction(tt.pattern, tt.action); got != tt.want {
				t.Errorf("MatchAction(%q, %q) = %v, want %v", tt.pattern, tt.action, got, tt.want)
			}
		})
	}
}

func TestExpandCollapses(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		want    []string
	}{
		{"none", "a/b/read", []string{"a/b/read"}},
		{"one", "a/*/read", []string{"a/*/read", "a/read"}},
		{"adjacent", "a/*/*/read", []string{"a/*/*/read", "a/*/read", "a/*/read", "a/read"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			expandCollapses(tt.pattern, 0, &got)
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("got %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestCompilePattern_VariantCap(t *testing.T) {
	p, action := "a", "a"
	for i := 0; i < 30; i++ {
		p += "/*"
		action += "/x"
	}
	ap := compilePattern(p + "/read")
	if got, limit := len(ap.alts), maxVariants+31; got > limit {
		t.Errorf("got %d variants, want at most %d", got, limit)
	}
	if got := ap.match(action + "/read"); !got {
		t.Errorf("match(%q) = false, want true", action+"/read")
	}
}
