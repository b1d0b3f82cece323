package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/monitor/armmonitor"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/google/uuid"
)

func activityEvents(t *testing.T, cred azcore.TokenCredential, filter string) ([]*armmonitor.EventData, error) {
	t.Helper()
	c, err := armmonitor.NewActivityLogsClient(srv.SubscriptionID, cred, armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []*armmonitor.EventData
	for pager := c.NewListPager(filter, nil); pager.More(); {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			return nil, err
		}
		out = append(out, page.Value...)
	}
	return out, nil
}

// TestActivityLog (issue 5 item 6): a write, an authorization failure, a policy audit and a
// policy deny each leave activity-log events with caller, operation, scope, outcome and
// correlation id, listed by time range and scope with armmonitor, az monitor activity-log
// list and `cerulean activity list`.
func TestActivityLog(t *testing.T) {
	start := time.Now().UTC().Add(-time.Second)
	admin := newAzCLI(t, "activity-admin")
	admin.registerCloudConfig()
	admin.loginSP(srv.AdminClientID, srv.AdminClientSecret)
	rg := "act-" + uuid.NewString()[:8]
	rgScope := subScope() + "/resourceGroups/" + rg
	admin.ok("group", "create", "-n", rg, "-l", "westus", "-o", "none")
	rules := func(typ, effect string) string {
		p := filepath.Join(t.TempDir(), effect+".json")
		os.WriteFile(p, []byte(`{"if":{"field":"type","equals":"`+typ+`"},"then":{"effect":"`+effect+`"}}`), 0o600)
		return "@" + p
	}
	suffix := uuid.NewString()[:6]
	admin.ok("policy", "definition", "create", "--name", "audit-uami-"+suffix, "--mode", "All", "--rules", rules("Microsoft.ManagedIdentity/userAssignedIdentities", "audit"), "-o", "none")
	admin.ok("policy", "definition", "create", "--name", "deny-kv-"+suffix, "--mode", "All", "--rules", rules("Microsoft.KeyVault/vaults", "deny"), "-o", "none")
	admin.ok("policy", "assignment", "create", "--name", "audit-uami", "--policy", "audit-uami-"+suffix, "--scope", rgScope, "-o", "none")
	admin.ok("policy", "assignment", "create", "--name", "deny-kv", "--policy", "deny-kv-"+suffix, "--scope", rgScope, "-o", "none")

	// A write (audited by policy), with a correlation id the test chooses.
	corr := uuid.NewString()
	mc, _ := armmsi.NewUserAssignedIdentitiesClient(srv.SubscriptionID, adminCredential(t), armOptions(t))
	ctx := policy.WithHTTPHeader(ctxT(t), http.Header{"x-ms-correlation-request-id": {corr}})
	if _, err := mc.CreateOrUpdate(ctx, rg, "audited", armmsi.Identity{Location: to.Ptr("westus")}, nil); err != nil {
		t.Fatalf("identity create: %v", err)
	}
	// A policy deny.
	admin.fails("RequestDisallowedByPolicy", "keyvault", "create", "-g", rg, "-n", newVaultName(), "-l", "westus", "--enable-rbac-authorization", "true")
	// An authorization failure.
	sp := newServicePrincipal(t, "activity-nobody")
	spCred := spCredential(t, sp.AppID, sp.Password)
	spMSI, _ := armmsi.NewUserAssignedIdentitiesClient(srv.SubscriptionID, spCred, armOptions(t))
	_, err := spMSI.CreateOrUpdate(ctxT(t), rg, "nope", armmsi.Identity{Location: to.Ptr("westus")}, nil)
	wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")

	filter := "eventTimestamp ge '" + start.Format(time.RFC3339) + "' and eventTimestamp le '" + time.Now().UTC().Add(time.Second).Format(time.RFC3339) + "' and resourceGroupName eq '" + rg + "'"
	events, err := activityEvents(t, adminCredential(t), filter)
	if err != nil {
		t.Fatalf("list activity: %v", err)
	}
	find := func(op, status string) *armmonitor.EventData {
		for _, e := range events {
			if strings.EqualFold(*e.OperationName.Value, op) && *e.Status.Value == status {
				return e
			}
		}
		var seen []string
		for _, e := range events {
			seen = append(seen, *e.OperationName.Value+" "+*e.Status.Value)
		}
		t.Fatalf("no %s %s event among %v", op, status, seen)
		return nil
	}
	w := find("Microsoft.ManagedIdentity/userAssignedIdentities/write", "Succeeded")
	if *w.CorrelationID != corr || *w.Caller != srv.AdminClientID || !strings.EqualFold(*w.ResourceID, rgScope+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/audited") ||
		*w.Category.Value != "Administrative" || *w.ResourceGroupName != rg || *w.SubscriptionID != srv.SubscriptionID {
		t.Errorf("write event = caller %s corr %s resource %s category %s", *w.Caller, *w.CorrelationID, *w.ResourceID, *w.Category.Value)
	}
	if a := find("Microsoft.Authorization/policies/audit/action", "Succeeded"); *a.Category.Value != "Policy" || *a.CorrelationID != corr ||
		!strings.Contains(*a.Properties["policies"], "/policyAssignments/audit-uami") {
		t.Errorf("audit event = %s %s %v", *a.Category.Value, *a.CorrelationID, a.Properties)
	}
	if d := find("Microsoft.KeyVault/vaults/write", "Failed"); !strings.Contains(*d.Properties["statusMessage"], "RequestDisallowedByPolicy") {
		t.Errorf("denied write event properties = %v", d.Properties)
	}
	find("Microsoft.Authorization/policies/deny/action", "Failed")
	if f := find("Microsoft.ManagedIdentity/userAssignedIdentities/write", "Failed"); *f.Caller != sp.AppID || !strings.Contains(*f.Properties["statusMessage"], "AuthorizationFailed") || *f.Level != armmonitor.EventLevelError {
		t.Errorf("authorization failure event = caller %s level %s %v", *f.Caller, *f.Level, f.Properties)
	}

	t.Run("by correlation id", func(t *testing.T) {
		got, err := activityEvents(t, adminCredential(t), "eventTimestamp ge '"+start.Format(time.RFC3339)+"' and correlationId eq '"+corr+"'")
		if err != nil || len(got) != 2 {
			t.Fatalf("events with correlation id %s: %d (%v), want the write and its audit", corr, len(got), err)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		_, err := activityEvents(t, spCred, filter)
		wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")
		_, err = activityEvents(t, adminCredential(t), "resourceGroupName eq '"+rg+"'")
		wantARMError(t, err, http.StatusBadRequest, "BadRequest")
		_, err = activityEvents(t, adminCredential(t), "eventTimestamp ge '2020-01-01T00:00:00Z' and eventTimestamp le '2020-06-01T00:00:00Z'")
		wantARMError(t, err, http.StatusBadRequest, "BadRequest")
	})
	{ // az monitor activity-log list (admin is bound to the parent test: no subtest)
		var got []struct {
			OperationName struct {
				Value string `json:"value"`
			} `json:"operationName"`
			Caller string `json:"caller"`
		}
		admin.json(&got, "monitor", "activity-log", "list", "--resource-group", rg, "--offset", "1h")
		ops := map[string]bool{}
		for _, e := range got {
			ops[e.OperationName.Value] = true
		}
		for _, op := range []string{"Microsoft.Resources/subscriptions/resourceGroups/write", "Microsoft.ManagedIdentity/userAssignedIdentities/write",
			"Microsoft.Authorization/policies/audit/action", "Microsoft.Authorization/policies/deny/action", "Microsoft.KeyVault/vaults/write"} {
			if !ops[op] {
				t.Errorf("az monitor activity-log list lacks %s: %v", op, ops)
			}
		}
	}
	t.Run("data-plane denial", func(t *testing.T) {
		kvRG := rg + "-kv"
		if err := createGroup(t, adminCredential(t), kvRG); err != nil {
			t.Fatal(err)
		}
		name := newVaultName()
		createVault(t, kvRG, name, false)
		_, err := keysClient(t, name, spCred).CreateKey(ctxT(t), "denied", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil)
		wantKVError(t, err, http.StatusForbidden, "Forbidden", "ForbiddenByRbac")
		var got []struct {
			Operation string `json:"operationName"`
			ErrorCode string `json:"errorCode"`
			Caller    string `json:"caller"`
			Scope     string `json:"resourceId"`
		}
		// Data-plane denials are written by a background writer: wait for it briefly.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if err := json.Unmarshal(cerulean(t, "activity", "list", "--scope", vaultScope(kvRG, name), "--json"), &got); err != nil {
				t.Fatal(err)
			}
			if len(got) >= 2 || time.Now().After(deadline) {
				break
			}
		}
		// Newest first: the refused key creation, then the vault's creation.
		if len(got) != 2 || got[0].ErrorCode != "AuthorizationFailed" || got[0].Caller != sp.AppID ||
			got[0].Operation != "Microsoft.KeyVault/vaults/keys/create/action" || !strings.HasSuffix(got[0].Scope, "/keys/denied") ||
			got[1].Operation != "Microsoft.KeyVault/vaults/write" {
			t.Fatalf("events under the vault = %+v", got)
		}
	})
	t.Run("cerulean activity list", func(t *testing.T) {
		var got []struct {
			Operation string `json:"operationName"`
			ErrorCode string `json:"errorCode"`
			Caller    string `json:"caller"`
		}
		if err := json.Unmarshal(cerulean(t, "activity", "list", "--scope", rgScope, "--since", "1h", "--json"), &got); err != nil {
			t.Fatal(err)
		}
		refused := false
		for _, e := range got {
			refused = refused || (e.ErrorCode == "AuthorizationFailed" && e.Caller == sp.AppID)
		}
		if len(got) < 6 || !refused {
			t.Fatalf("cerulean activity list = %+v", got)
		}
		// The default table fits a terminal (issue 13 item 6): short times, callers and
		// resources relative to the subscription; --wide has the full ids.
		table := string(cerulean(t, "activity", "list", "--scope", rgScope, "--since", "1h"))
		lines := strings.Split(strings.TrimSpace(table), "\n")
		if len(lines) != len(got)+1 || !strings.Contains(table, "  AuthorizationFailed  ") || !strings.Contains(table, sp.AppID[:8]) ||
			strings.Contains(table, "/subscriptions/") {
			t.Fatalf("cerulean activity list (table):\n%s", table)
		}
		for _, l := range lines {
			if len(l) > 132 {
				t.Errorf("a line of %d characters:\n%s", len(l), l)
			}
		}
		if wide := string(cerulean(t, "activity", "list", "--scope", rgScope, "--since", "1h", "--wide")); !strings.Contains(wide, rgScope) || !strings.Contains(wide, sp.AppID) {
			t.Fatalf("cerulean activity list --wide:\n%s", wide)
		}
	})
}
