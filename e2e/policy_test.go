package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/google/uuid"
)

// seed003Policy is seed 003's policy, verbatim.
const seed003Policy = `{
  "mode": "All",
  "policyRule": {
    "if": {
      "field": "type",
      "equals": "Microsoft.ManagedIdentity/userAssignedIdentities"
    },
    "then": {
      "effect": "deny"
    }
  },
  "parameters": {}
}`

// TestPolicy_Seed003 pastes seed 003's JSON into a definition with az, assigns it to one
// resource group, and shows az identity create failing there with RequestDisallowedByPolicy
// and nothing created, while another group is untouched; the Go armmsi client sees the same.
func TestPolicy_Seed003(t *testing.T) {
	admin := newAzCLI(t, "policy-admin")
	admin.registerCloudConfig()
	admin.loginSP(srv.AdminClientID, srv.AdminClientSecret)
	blocked, open := "pol-blocked-"+uuid.NewString()[:6], "pol-open-"+uuid.NewString()[:6]
	for _, rg := range []string{blocked, open} {
		admin.ok("group", "create", "-n", rg, "-l", "westus", "-o", "none")
	}
	var seed struct {
		Mode       string          `json:"mode"`
		PolicyRule json.RawMessage `json:"policyRule"`
		Parameters json.RawMessage `json:"parameters"`
	}
	if err := json.Unmarshal([]byte(seed003Policy), &seed); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(t.TempDir(), "rules.json")
	if err := os.WriteFile(rules, seed.PolicyRule, 0o600); err != nil {
		t.Fatal(err)
	}
	defName := "deny-uami-" + uuid.NewString()[:6]
	var def struct {
		ID         string `json:"id"`
		PolicyRule struct {
			Then struct {
				Effect string `json:"effect"`
			} `json:"then"`
		} `json:"policyRule"`
	}
	admin.json(&def, "policy", "definition", "create", "--name", defName, "--mode", seed.Mode, "--rules", "@"+rules,
		"--params", string(seed.Parameters), "--display-name", "Deny user-assigned identities")
	if !strings.HasSuffix(def.ID, "/providers/Microsoft.Authorization/policyDefinitions/"+defName) || def.PolicyRule.Then.Effect != "deny" {
		t.Fatalf("az policy definition create = %+v", def)
	}
	blockedScope := subScope() + "/resourceGroups/" + blocked
	admin.ok("policy", "assignment", "create", "--name", "no-uami", "--policy", defName, "--scope", blockedScope, "-o", "none")

	errOut := admin.fails("RequestDisallowedByPolicy", "identity", "create", "-g", blocked, "-n", "app-id")
	if !strings.Contains(errOut, defName) {
		t.Errorf("the denial does not name the policy definition: %s", errOut)
	}
	var idents []json.RawMessage
	admin.json(&idents, "identity", "list", "-g", blocked)
	if len(idents) != 0 {
		t.Fatalf("the denied create left %d identities in %s", len(idents), blocked)
	}
	var created struct {
		PrincipalID string `json:"principalId"`
	}
	admin.json(&created, "identity", "create", "-g", open, "-n", "app-id")
	if created.PrincipalID == "" {
		t.Fatal("identity create in the other group failed")
	}
	// Other resource types in the blocked group are untouched by the policy.
	admin.ok("keyvault", "create", "-g", blocked, "-n", newVaultName(), "-l", "westus", "--enable-rbac-authorization", "true", "-o", "none")

	// The Go SDK sees Azure's error shape: 403, code, policy ids in additionalInfo.
	mc, _ := armmsi.NewUserAssignedIdentitiesClient(srv.SubscriptionID, adminCredential(t), armOptions(t))
	_, err := mc.CreateOrUpdate(ctxT(t), blocked, "sdk-id", armmsi.Identity{Location: to.Ptr("westus")}, nil)
	wantARMError(t, err, http.StatusForbidden, "RequestDisallowedByPolicy")
	if !strings.Contains(err.Error(), "PolicyViolation") || !strings.Contains(err.Error(), "/policyAssignments/no-uami") {
		t.Fatalf("the error lacks the PolicyViolation details: %v", err)
	}

	// DoNotEnforce: the assignment stays but denies nothing.
	admin.ok("policy", "assignment", "create", "--name", "no-uami", "--policy", defName, "--scope", blockedScope, "--enforcement-mode", "DoNotEnforce", "-o", "none")
	admin.ok("identity", "create", "-g", blocked, "-n", "allowed-now", "-o", "none")
	// Deleting the definition while assigned is refused; after the assignment goes, it works.
	admin.fails("PolicyDefinitionInUse", "policy", "definition", "delete", "--name", defName)
	admin.ok("policy", "assignment", "delete", "--name", "no-uami", "--scope", blockedScope)
	admin.ok("policy", "definition", "delete", "--name", defName)
}
