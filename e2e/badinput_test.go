package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/google/uuid"
)

// call sends one raw request to Cerulean and returns status and the decoded error envelope.
func call(t *testing.T, method, path, token, body string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.ResourceManagerEndpoint+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func errCode(m map[string]any) string {
	if e, ok := m["error"].(map[string]any); ok {
		s, _ := e["code"].(string)
		return s
	}
	s, _ := m["error"].(string)
	return s
}

func adminToken(t *testing.T, scope string) string {
	tok, err := adminCredential(t).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

func TestARM_BadInput(t *testing.T) {
	tok := adminToken(t, armScope)
	vaultTok := adminToken(t, "https://vault.azure.net/.default")
	sub := subScope()
	rg := "bad-" + uuid.NewString()[:8]
	if code, _ := call(t, "PUT", sub+"/resourcegroups/"+rg+"?api-version=2021-04-01", tok, `{"location":"westus"}`, nil); code != 201 {
		t.Fatalf("create group: %d", code)
	}
	parts := strings.Split(tok, ".")
	tests := []struct {
		name, method, path, token, body string
		wantStatus                      int
		wantCode                        string
	}{
		{"no token", "GET", sub + "/resourcegroups?api-version=2021-04-01", "", "", 401, "AuthenticationFailed"},
		{"token for another audience", "GET", sub + "/resourcegroups?api-version=2021-04-01", vaultTok, "", 401, "InvalidAuthenticationTokenAudience"},
		{"tampered token", "GET", sub + "/resourcegroups?api-version=2021-04-01", parts[0] + "." + parts[1] + "x." + parts[2], "", 401, "InvalidAuthenticationToken"},
		{"missing api-version", "GET", sub + "/resourcegroups/" + rg, tok, "", 400, "MissingApiVersionParameter"},
		{"unknown api-version", "GET", sub + "/resourcegroups/" + rg + "?api-version=1999-01-01", tok, "", 400, "NoRegisteredProviderFound"},
		{"malformed api-version", "GET", sub + "/resourcegroups/" + rg + "?api-version=latest", tok, "", 400, "NoRegisteredProviderFound"},
		{"malformed JSON", "PUT", sub + "/resourcegroups/" + rg + "-x?api-version=2021-04-01", tok, `{"location":`, 400, "InvalidRequestContent"},
		{"wrong JSON type", "PUT", sub + "/resourcegroups/" + rg + "-x?api-version=2021-04-01", tok, `{"location":7}`, 400, "InvalidRequestContent"},
		{"empty body", "PUT", sub + "/resourcegroups/" + rg + "-x?api-version=2021-04-01", tok, ``, 400, "InvalidRequestContent"},
		{"no location", "PUT", sub + "/resourcegroups/" + rg + "-x?api-version=2021-04-01", tok, `{}`, 400, "LocationRequired"},
		{"bad group name", "PUT", sub + "/resourcegroups/bad%21name?api-version=2021-04-01", tok, `{"location":"westus"}`, 400, "InvalidResourceGroupName"},
		{"dot-dot segment", "GET", sub + "/resourcegroups/" + rg + "/../../x?api-version=2021-04-01", tok, "", 400, "InvalidResourceId"},
		{"encoded slash", "GET", sub + "/resourcegroups/a%2Fb?api-version=2021-04-01", tok, "", 400, "InvalidResourceId"},
		{"encoded backslash", "GET", sub + "/resourcegroups/a%5Cb?api-version=2021-04-01", tok, "", 400, "InvalidResourceId"},
		{"unknown subscription", "GET", "/subscriptions/" + uuid.NewString() + "/resourcegroups?api-version=2021-04-01", tok, "", 403, "AuthorizationFailed"},
		{"unknown group", "GET", sub + "/resourceGroups/nope-" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x?api-version=2023-01-31", tok, "", 404, "ResourceGroupNotFound"},
		{"unknown resource", "GET", sub + "/resourceGroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/nope?api-version=2023-01-31", tok, "", 404, "ResourceNotFound"},
		{"unknown namespace", "GET", sub + "/resourceGroups/" + rg + "/providers/Microsoft.Nope/things/x?api-version=2023-01-31", tok, "", 400, "InvalidResourceNamespace"},
		{"role assignment name not a GUID", "PUT", sub + "/providers/Microsoft.Authorization/roleAssignments/abc?api-version=2022-04-01", tok, `{"properties":{}}`, 400, "InvalidRoleAssignmentId"},
		{"role assignment bad principal", "PUT", sub + "/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString() + "?api-version=2022-04-01", tok,
			`{"properties":{"roleDefinitionId":"/providers/Microsoft.Authorization/roleDefinitions/` + roleReader + `","principalId":"nope"}}`, 400, "InvalidPrincipalId"},
		{"role assignment unknown principal", "PUT", sub + "/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString() + "?api-version=2022-04-01", tok,
			`{"properties":{"roleDefinitionId":"/providers/Microsoft.Authorization/roleDefinitions/` + roleReader + `","principalId":"` + uuid.NewString() + `"}}`, 400, "PrincipalNotFound"},
		{"role assignment unknown role", "PUT", sub + "/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString() + "?api-version=2022-04-01", tok,
			`{"properties":{"roleDefinitionId":"/providers/Microsoft.Authorization/roleDefinitions/` + uuid.NewString() + `","principalId":"` + srv.AdminObjectID + `"}}`, 400, "RoleDefinitionDoesNotExist"},
		{"role assignment bad condition", "PUT", sub + "/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString() + "?api-version=2022-04-01", tok,
			`{"properties":{"roleDefinitionId":"/providers/Microsoft.Authorization/roleDefinitions/` + roleReader + `","principalId":"` + srv.AdminObjectID + `","condition":"((","conditionVersion":"2.0"}}`, 400, "InvalidCondition"},
		{"identity type invalid", "PUT", sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachines/vmbad?api-version=2023-03-01", tok,
			`{"location":"westus","identity":{"type":"Everything"}}`, 400, "InvalidIdentityType"},
		{"oversized body", "PUT", sub + "/resourcegroups/" + rg + "-big?api-version=2021-04-01", tok, `{"location":"westus","tags":{"a":"` + strings.Repeat("x", 5<<20) + `"}}`, 413, "RequestEntityTooLarge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, m := call(t, tt.method, tt.path, tt.token, tt.body, nil)
			if code != tt.wantStatus || errCode(m) != tt.wantCode {
				t.Fatalf("got %d %q (%v), want %d %q", code, errCode(m), m, tt.wantStatus, tt.wantCode)
			}
		})
	}
	t.Run("nothing half-written", func(t *testing.T) {
		for _, name := range []string{rg + "-x", rg + "-big", "vmbad"} {
			if code, _ := call(t, "GET", sub+"/resourcegroups/"+name+"?api-version=2021-04-01", tok, "", nil); code != 404 {
				t.Errorf("group %s: got %d after a refused write, want 404", name, code)
			}
		}
	})
}

// TestManagedIdentity_DefaultRules drives the IMDS and App Service endpoints directly over
// HTTP for a VM carrying several user-assigned identities.
func TestManagedIdentity_DefaultRules(t *testing.T) {
	admin := adminCredential(t)
	rg := "rules-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	mc, _ := armmsi.NewUserAssignedIdentitiesClient(srv.SubscriptionID, admin, armOptions(t))
	var ids []armmsi.Identity
	for _, n := range []string{"uami1", "uami2"} {
		got, err := mc.CreateOrUpdate(ctxT(t), rg, n, armmsi.Identity{Location: to.Ptr("westus")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got.Identity)
	}
	oneUA := map[string]*armresources.IdentityUserAssignedIdentitiesValue{*ids[0].ID: {}}
	vm1, _ := createHost(t, rg, "Microsoft.Compute/virtualMachines", "one", &armresources.Identity{
		Type: to.Ptr(armresources.ResourceIdentityTypeUserAssigned), UserAssignedIdentities: oneUA})
	twoUA := map[string]*armresources.IdentityUserAssignedIdentitiesValue{*ids[0].ID: {}, *ids[1].ID: {}}
	vm2, _ := createHost(t, rg, "Microsoft.Compute/virtualMachines", "two", &armresources.Identity{
		Type: to.Ptr(armresources.ResourceIdentityTypeUserAssigned), UserAssignedIdentities: twoUA})

	miGet := func(host, query string, imds bool) (int, map[string]any) {
		e, err := ceruleanEnv(host)
		if err != nil {
			t.Fatal(err)
		}
		var req *http.Request
		if imds {
			req, _ = http.NewRequest("GET", "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&"+query, nil)
			req.Header.Set("Metadata", "true")
		} else {
			req, _ = http.NewRequest("GET", e.IdentityEndpoint+"?api-version=2019-08-01&"+query, nil)
			req.Header.Set("X-IDENTITY-HEADER", e.IdentityHeader)
		}
		proxy, _ := url.Parse(e.ResourceProxy)
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	res := "resource=" + url.QueryEscape("https://vault.azure.net")
	for _, imds := range []bool{true, false} {
		name := "app service"
		if imds {
			name = "imds"
		}
		t.Run(name+": single user-assigned is the default", func(t *testing.T) {
			code, m := miGet(vm1, res, imds)
			if code != 200 || m["client_id"] != *ids[0].Properties.ClientID {
				t.Fatalf("got %d %v, want 200 with client_id %s", code, m, *ids[0].Properties.ClientID)
			}
		})
		t.Run(name+": several user-assigned need a selector", func(t *testing.T) {
			code, m := miGet(vm2, res, imds)
			if code != 400 || m["error_description"] != "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request" {
				t.Fatalf("got %d %v", code, m)
			}
		})
		t.Run(name+": select by client id", func(t *testing.T) {
			code, m := miGet(vm2, res+"&client_id="+*ids[1].Properties.ClientID, imds)
			if code != 200 || m["client_id"] != *ids[1].Properties.ClientID {
				t.Fatalf("got %d %v", code, m)
			}
		})
		t.Run(name+": identity not assigned to the host", func(t *testing.T) {
			code, m := miGet(vm1, res+"&client_id="+*ids[1].Properties.ClientID, imds)
			if code != 400 || m["error_description"] != "Identity not found" {
				t.Fatalf("got %d %v", code, m)
			}
		})
		t.Run(name+": unknown resource", func(t *testing.T) {
			code, m := miGet(vm1, "resource=https://example.com/", imds)
			if code != 400 || m["error"] != "invalid_resource" {
				t.Fatalf("got %d %v", code, m)
			}
		})
	}
	t.Run("imds: Metadata header required", func(t *testing.T) {
		e, _ := ceruleanEnv(vm1)
		proxy, _ := url.Parse(e.ResourceProxy)
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
		resp, err := c.Get("http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&" + res)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("got %d, want 400", resp.StatusCode)
		}
	})
	t.Run("proxy refuses non-Azure hosts", func(t *testing.T) {
		proxy, _ := url.Parse(srv.Proxy)
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}
		resp, err := c.Get("http://example.com/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("got %d, want 403", resp.StatusCode)
		}
	})
	t.Run("deleted identity gets no new tokens", func(t *testing.T) {
		if _, err := mc.Delete(ctxT(t), rg, "uami1", nil); err != nil {
			t.Fatal(err)
		}
		code, m := miGet(vm1, res+"&client_id="+*ids[0].Properties.ClientID, false)
		if code != 400 || m["error_description"] != "Identity not found" {
			t.Fatalf("got %d %v", code, m)
		}
	})
	t.Run("attach without assign permission: LinkedAuthorizationFailed", func(t *testing.T) {
		sp := newServicePrincipal(t, "vm-contrib")
		// Virtual Machine Contributor can write VMs but not assign identities.
		if err := assignRole(t, admin, subScope()+"/resourceGroups/"+rg, "9980e02c-c2be-4d73-94e8-173b1dc7cf3c", sp.ObjectID); err != nil {
			t.Fatal(err)
		}
		c, _ := armresources.NewClient(srv.SubscriptionID, spCredential(t, sp.AppID, sp.Password), armOptions(t))
		_, err := c.BeginCreateOrUpdateByID(ctxT(t), subScope()+"/resourceGroups/"+rg+"/providers/Microsoft.Compute/virtualMachines/three", "2023-03-01",
			armresources.GenericResource{Location: to.Ptr("westus"), Identity: &armresources.Identity{
				Type: to.Ptr(armresources.ResourceIdentityTypeUserAssigned), UserAssignedIdentities: map[string]*armresources.IdentityUserAssignedIdentitiesValue{*ids[1].ID: {}}}}, nil)
		wantARMError(t, err, 403, "LinkedAuthorizationFailed")
		// With Managed Identity Operator on the identity it succeeds.
		if err := assignRole(t, admin, *ids[1].ID, "f1a07417-d97a-45cb-824c-7a7467783830", sp.ObjectID); err != nil {
			t.Fatal(err)
		}
		p, err := c.BeginCreateOrUpdateByID(ctxT(t), subScope()+"/resourceGroups/"+rg+"/providers/Microsoft.Compute/virtualMachines/three", "2023-03-01",
			armresources.GenericResource{Location: to.Ptr("westus"), Identity: &armresources.Identity{
				Type: to.Ptr(armresources.ResourceIdentityTypeUserAssigned), UserAssignedIdentities: map[string]*armresources.IdentityUserAssignedIdentitiesValue{*ids[1].ID: {}}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.PollUntilDone(ctxT(t), nil); err != nil {
			t.Fatal(err)
		}
	})
}
