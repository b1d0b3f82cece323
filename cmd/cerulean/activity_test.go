package main

import "testing"

func TestActivityShortColumns(t *testing.T) {
	for _, c := range []struct{ scope, op, resource, short string }{
		{"/subscriptions/s/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-id",
			"Microsoft.ManagedIdentity/userAssignedIdentities/write", "rg1/userAssignedIdentities/app-id", "write"},
		{"/subscriptions/s/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-id",
			"Microsoft.Authorization/policies/deny/action", "rg1/userAssignedIdentities/app-id", "policies/deny/action"},
		{"/subscriptions/s/resourcegroups/rg1", "Microsoft.Resources/subscriptions/resourceGroups/write", "rg1", "resourceGroups/write"},
		{"/subscriptions/s", "Microsoft.Authorization/roleAssignments/write", "(subscription)", "roleAssignments/write"},
		{"/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv/keys/k", "Microsoft.KeyVault/vaults/keys/create/action", "g/vaults/kv/keys/k", "vaults/keys/create/action"},
	} {
		r := shortScope(c.scope)
		if r != c.resource || shortOperation(c.op, r) != c.short {
			t.Errorf("%s %s: %q %q, want %q %q", c.scope, c.op, r, shortOperation(c.op, r), c.resource, c.short)
		}
	}
	if shortID("c65e1a1e-1111-2222-3333-444444444444") != "c65e1a1e" || shortID("user@contoso.com") != "user@contoso.com" {
		t.Error("shortID")
	}
}
