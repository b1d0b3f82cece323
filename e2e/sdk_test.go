package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/google/uuid"
)

const (
	roleContributor = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	roleReader      = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	armScope        = "https://management.azure.com/.default"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// armOptions aims an arm client at Cerulean, trusting its CA.
func armOptions(t *testing.T) *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: cloud.Configuration{Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: srv.ResourceManagerEndpoint, Audience: "https://management.azure.com/"},
		}},
		Transport: httpClient(t),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}}
}

func spCredential(t *testing.T, clientID, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(srv.TenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost + "/"}, Transport: httpClient(t)},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func adminCredential(t *testing.T) azcore.TokenCredential {
	return spCredential(t, srv.AdminClientID, srv.AdminClientSecret)
}

// wantARMError asserts err is an ARM response error with the status and code.
func wantARMError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("got error %v, want an ARM %d %s", err, status, code)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("got %d %s, want %d %s: %v", re.StatusCode, re.ErrorCode, status, code, err)
	}
}

func groups(t *testing.T, cred azcore.TokenCredential) *armresources.ResourceGroupsClient {
	c, err := armresources.NewResourceGroupsClient(srv.SubscriptionID, cred, armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func createGroup(t *testing.T, cred azcore.TokenCredential, name string) error {
	_, err := groups(t, cred).CreateOrUpdate(ctxT(t), name, armresources.ResourceGroup{Location: to.Ptr("westus")}, nil)
	return err
}

func assignRole(t *testing.T, cred azcore.TokenCredential, scope, roleGUID, principalID string) error {
	c, err := armauthorization.NewRoleAssignmentsClient(srv.SubscriptionID, cred, armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Create(ctxT(t), scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr("/subscriptions/" + srv.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + roleGUID),
			PrincipalID:      to.Ptr(principalID),
			PrincipalType:    to.Ptr(armauthorization.PrincipalTypeServicePrincipal),
		}}, nil)
	return err
}

func subScope() string { return "/subscriptions/" + srv.SubscriptionID }

func TestSDK_ServicePrincipalRBAC(t *testing.T) {
	admin := adminCredential(t)
	sp := newServicePrincipal(t, "sdk-rbac")
	cred := spCredential(t, sp.AppID, sp.Password)
	rg := "sdk-rbac-" + uuid.NewString()[:8]

	t.Run("no role: group create refused", func(t *testing.T) {
		wantARMError(t, createGroup(t, cred, rg), http.StatusForbidden, "AuthorizationFailed")
	})
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatalf("admin creates group: %v", err)
	}
	rgScope := subScope() + "/resourceGroups/" + rg
	msiClient := func(c azcore.TokenCredential) *armmsi.UserAssignedIdentitiesClient {
		cl, err := armmsi.NewUserAssignedIdentitiesClient(srv.SubscriptionID, c, armOptions(t))
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	t.Run("no role: identity create refused", func(t *testing.T) {
		_, err := msiClient(cred).CreateOrUpdate(ctxT(t), rg, "id1", armmsi.Identity{Location: to.Ptr("westus")}, nil)
		wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")
	})
	if err := assignRole(t, admin, rgScope, roleContributor, sp.ObjectID); err != nil {
		t.Fatalf("assign Contributor: %v", err)
	}
	t.Run("contributor on group: identity create allowed", func(t *testing.T) {
		got, err := msiClient(cred).CreateOrUpdate(ctxT(t), rg, "id1", armmsi.Identity{Location: to.Ptr("westus")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.Properties == nil || got.Properties.PrincipalID == nil || got.Properties.ClientID == nil || *got.Properties.TenantID != srv.TenantID {
			t.Fatalf("identity properties incomplete: %+v", got.Properties)
		}
	})
	t.Run("contributor on group: subscription-level group create refused", func(t *testing.T) {
		wantARMError(t, createGroup(t, cred, rg+"-other"), http.StatusForbidden, "AuthorizationFailed")
	})
	t.Run("contributor cannot assign roles", func(t *testing.T) {
		wantARMError(t, assignRole(t, cred, rgScope, roleReader, sp.ObjectID), http.StatusForbidden, "AuthorizationFailed")
	})
	t.Run("duplicate assignment conflicts", func(t *testing.T) {
		wantARMError(t, assignRole(t, admin, rgScope, roleContributor, sp.ObjectID), http.StatusConflict, "RoleAssignmentExists")
	})
}

// claimsOf decodes a JWT's payload without verifying it (the server verifies).
func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token is not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// createHost creates a VM (or Arc machine) with the given identity through the generic
// resources client, as admin, and returns its identity block.
func createHost(t *testing.T, rg, fullType, name string, identity *armresources.Identity) (string, *armresources.Identity) {
	t.Helper()
	c, err := armresources.NewClient(srv.SubscriptionID, adminCredential(t), armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	id := subScope() + "/resourceGroups/" + rg + "/providers/" + fullType + "/" + name
	poller, err := c.BeginCreateOrUpdateByID(ctxT(t), id, "2023-03-01", armresources.GenericResource{
		Location: to.Ptr("westus"), Identity: identity, Properties: map[string]any{}}, nil)
	if err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	res, err := poller.PollUntilDone(ctxT(t), nil)
	if err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	return id, res.Identity
}

// newVM creates a resource group named rgPrefix plus a random suffix holding a VM with a
// system-assigned identity, and returns the VM's id and identity block.
func newVM(t *testing.T, rgPrefix, name string) (string, *armresources.Identity) {
	t.Helper()
	rg := rgPrefix + uuid.NewString()[:8]
	if err := createGroup(t, adminCredential(t), rg); err != nil {
		t.Fatal(err)
	}
	return createHost(t, rg, "Microsoft.Compute/virtualMachines", name,
		&armresources.Identity{Type: to.Ptr(armresources.ResourceIdentityTypeSystemAssigned)})
}

func TestSDK_ManagedIdentityAppService(t *testing.T) {
	admin := adminCredential(t)
	rg := "sdk-mi-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	vmID, ident := createHost(t, rg, "Microsoft.Compute/virtualMachines", "vm1",
		&armresources.Identity{Type: to.Ptr(armresources.ResourceIdentityTypeSystemAssigned)})
	if ident == nil || ident.PrincipalID == nil || *ident.TenantID != srv.TenantID {
		t.Fatalf("VM identity block incomplete: %+v", ident)
	}
	e, err := ceruleanEnv(vmID)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("IDENTITY_ENDPOINT", e.IdentityEndpoint)
	t.Setenv("IDENTITY_HEADER", e.IdentityHeader)
	cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
		ClientOptions: azcore.ClientOptions{Transport: httpClient(t)}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{armScope}})
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	c := claimsOf(t, tok.Token)
	wantMirid := strings.Replace(vmID, "/resourceGroups/", "/resourcegroups/", 1)
	if c["oid"] != *ident.PrincipalID || c["tid"] != srv.TenantID || c["xms_mirid"] != wantMirid || c["idtyp"] != "app" {
		t.Fatalf("claims oid=%v tid=%v xms_mirid=%v idtyp=%v; want oid=%s tid=%s xms_mirid=%s idtyp=app",
			c["oid"], c["tid"], c["xms_mirid"], c["idtyp"], *ident.PrincipalID, srv.TenantID, wantMirid)
	}
	if d := time.Until(tok.ExpiresOn); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("managed identity token lives %v, want about 24h", d)
	}
	t.Run("no role: read group refused", func(t *testing.T) {
		_, err := groups(t, cred).Get(ctxT(t), rg, nil)
		wantARMError(t, err, http.StatusForbidden, "AuthorizationFailed")
	})
	if err := assignRole(t, admin, subScope()+"/resourceGroups/"+rg, roleReader, *ident.PrincipalID); err != nil {
		t.Fatal(err)
	}
	t.Run("reader: read group allowed", func(t *testing.T) {
		got, err := groups(t, cred).Get(ctxT(t), rg, nil)
		if err != nil || *got.Name != rg {
			t.Fatalf("got %v, %v", got.Name, err)
		}
	})
	t.Run("reader: create group refused", func(t *testing.T) {
		wantARMError(t, createGroup(t, cred, rg+"x"), http.StatusForbidden, "AuthorizationFailed")
	})
}

// TestSDK_IMDSThroughProxy runs ManagedIdentityCredential (its IMDS source) in a child
// process whose only configuration is HTTP_PROXY with credentials naming an Arc machine.
func TestSDK_IMDSThroughProxy(t *testing.T) {
	rg := "sdk-imds-" + uuid.NewString()[:8]
	if err := createGroup(t, adminCredential(t), rg); err != nil {
		t.Fatal(err)
	}
	hostID, ident := createHost(t, rg, "Microsoft.HybridCompute/machines", "arc1",
		&armresources.Identity{Type: to.Ptr(armresources.ResourceIdentityTypeSystemAssigned)})
	e, err := ceruleanEnv(hostID)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildIMDS$", "-test.v")
	cmd.Env = append(os.Environ(), "CERULEAN_E2E_CHILD=imds", "HTTP_PROXY="+e.ResourceProxy, "NO_PROXY=127.0.0.1,localhost",
		"IDENTITY_ENDPOINT=", "IDENTITY_HEADER=", "MSI_ENDPOINT=", "IMDS_ENDPOINT=")
	c := claimsOf(t, childToken(t, cmd))
	if c["oid"] != *ident.PrincipalID || c["aud"] != "https://management.azure.com" {
		t.Fatalf("IMDS token oid=%v aud=%v; want oid=%s aud=https://management.azure.com", c["oid"], c["aud"], *ident.PrincipalID)
	}
}

func TestChildIMDS(t *testing.T) {
	if os.Getenv("CERULEAN_E2E_CHILD") != "imds" {
		t.Skip("run by TestSDK_IMDSThroughProxy in a child process")
	}
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	printToken(t, cred, err)
}

// printToken, in a child process, gets an ARM token from cred and prints it for childToken.
func printToken(t *testing.T, cred azcore.TokenCredential, err error) {
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{armScope}})
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("TOKEN=" + tok.Token + "\n")
}

// childToken runs a child test process that calls printToken and returns the token.
func childToken(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	_, after, ok := strings.Cut(string(out), "TOKEN=")
	if !ok {
		t.Fatalf("child printed no token:\n%s", out)
	}
	tok, _, _ := strings.Cut(after, "\n")
	return tok
}
