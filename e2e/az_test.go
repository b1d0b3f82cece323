package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// azTimeout bounds one az invocation; Debian's az takes 2-4 s per command.
const azTimeout = 120 * time.Second

// azCLI runs Debian's unmodified azure-cli with its own AZURE_CONFIG_DIR, trusting only
// Cerulean's CA. Everything that is not 127.0.0.1 goes through Cerulean's proxy, which
// serves Azure host names itself and refuses the rest, so az never reaches the internet.
// CERULEAN_AZ_DEBUG=1 adds --debug to every command and logs its whole output (the
// requests az sent and the answers it got).
type azCLI struct {
	t     *testing.T
	name  string
	dir   string
	extra []string
}

// newAzCLI returns a runner with a fresh config folder. extra is added to the environment
// (e.g. MSI_ENDPOINT=…, HTTP_PROXY=…), overriding the defaults.
func newAzCLI(t *testing.T, name string, extra ...string) *azCLI {
	t.Helper()
	return &azCLI{t: t, name: name, dir: t.TempDir(), extra: extra}
}

// azDroppedEnv are variables of the caller's environment az must not see: proxies,
// managed-identity sources, other Azure settings and CA overrides.
func azDroppedEnv(kv string) bool {
	k, _, _ := strings.Cut(kv, "=")
	switch strings.ToUpper(k) {
	case "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
		"SSL_CERT_FILE", "SSL_CERT_DIR", "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
		"IMDS_ENDPOINT", "APPSETTING_WEBSITE_SITE_NAME", "ARM_CLOUD_METADATA_URL":
		return true
	}
	up := strings.ToUpper(k)
	return strings.HasPrefix(up, "AZURE_") || strings.HasPrefix(up, "ACC_") // ACC_CLOUD: Cloud Shell detection
}

func (a *azCLI) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !azDroppedEnv(kv) {
			env = append(env, kv)
		}
	}
	env = append(env,
		"AZURE_CONFIG_DIR="+a.dir,
		"REQUESTS_CA_BUNDLE="+srv.CACertFile,
		"AZURE_CORE_COLLECT_TELEMETRY=no",
		"AZURE_CORE_ONLY_SHOW_ERRORS=1",
		"AZURE_CORE_NO_COLOR=1",
		"AZURE_CORE_SURVEY_MESSAGE=no",
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
		"HTTPS_PROXY="+srv.Proxy, "https_proxy="+srv.Proxy,
		"HTTP_PROXY="+srv.Proxy, "http_proxy="+srv.Proxy,
	)
	for _, kv := range a.extra {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HTTP_PROXY" || k == "HTTPS_PROXY" {
			env = append(env, strings.ToLower(k)+kv[len(k):])
		}
		env = append(env, kv)
	}
	if os.Getenv("CERULEAN_AZ_DEBUG") != "" {
		env = append(env, "AZURE_CORE_ONLY_SHOW_ERRORS=0")
	}
	return env
}

// redact hides the value after -p/--password in a logged command line.
func redact(args []string) string {
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == "-p" || out[i] == "--password" {
			out[i+1] = "***"
		}
	}
	return strings.Join(out, " ")
}

// run runs az and returns its stdout and stderr; err is non-nil when az failed.
func (a *azCLI) run(args ...string) (stdout, stderr string, err error) {
	a.t.Helper()
	if os.Getenv("CERULEAN_AZ_DEBUG") != "" {
		args = append(args, "--debug")
	}
	ctx, cancel := context.WithTimeout(context.Background(), azTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "az", args...)
	cmd.Env = a.environ()
	cmd.WaitDelay = 5 * time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	start := time.Now()
	err = cmd.Run()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	a.t.Logf("[%s] az %s (%.1fs, err=%v)", a.name, redact(args), time.Since(start).Seconds(), err)
	if os.Getenv("CERULEAN_AZ_DEBUG") != "" {
		a.t.Logf("stdout:\n%s\nstderr:\n%s", o.String(), e.String())
	}
	return o.String(), e.String(), err
}

// ok runs az and fails the test when it fails.
func (a *azCLI) ok(args ...string) string {
	a.t.Helper()
	out, errOut, err := a.run(args...)
	if err != nil {
		a.t.Fatalf("[%s] az %s: %v\nstdout:\n%s\nstderr:\n%s", a.name, redact(args), err, out, errOut)
	}
	return out
}

// json runs az with -o json and decodes its output into v.
func (a *azCLI) json(v any, args ...string) {
	a.t.Helper()
	out := a.ok(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		a.t.Fatalf("[%s] az %s: output is not JSON: %v\n%s", a.name, redact(args), err, out)
	}
}

// fails runs az, fails the test unless az fails with want in its stderr, and returns stderr.
func (a *azCLI) fails(want string, args ...string) string {
	a.t.Helper()
	out, errOut, err := a.run(args...)
	if err == nil {
		a.t.Fatalf("[%s] az %s succeeded, want a failure mentioning %q\nstdout:\n%s\nstderr:\n%s", a.name, redact(args), want, out, errOut)
	}
	if !strings.Contains(errOut, want) {
		a.t.Fatalf("[%s] az %s failed without %q in stderr: %v\nstdout:\n%s\nstderr:\n%s", a.name, redact(args), want, err, out, errOut)
	}
	return errOut
}

// registerCloud registers Cerulean as a custom cloud and selects it.
func (a *azCLI) registerCloud() {
	a.t.Helper()
	a.ok("cloud", "register", "-n", "Cerulean",
		"--endpoint-resource-manager", srv.ResourceManagerEndpoint,
		"--endpoint-active-directory", srv.ActiveDirectoryEndpoint,
		"--endpoint-active-directory-resource-id", "https://management.core.windows.net/")
	a.ok("cloud", "set", "-n", "Cerulean")
}

// copyCloud gives a the cloud registration of from (the files `az cloud register` and
// `az cloud set` write), saving two slow az runs. It also copies versionCheck.json: in a
// fresh config folder az 2.45 first probes https://azure.microsoft.com (then GitHub) for
// a newer version, which the proxy refuses; the copy records that the check was done.
func (a *azCLI) copyCloud(from *azCLI) {
	a.t.Helper()
	for _, f := range []string{"clouds.config", "config", "versionCheck.json"} {
		b, err := os.ReadFile(filepath.Join(from.dir, f))
		if errors.Is(err, os.ErrNotExist) && f == "versionCheck.json" {
			continue
		}
		if err != nil {
			a.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(a.dir, f), b, 0o600); err != nil {
			a.t.Fatal(err)
		}
	}
}

func (a *azCLI) loginSP(appID, password string) {
	a.t.Helper()
	a.ok("login", "--service-principal", "-u", appID, "-p", password, "--tenant", srv.TenantID,
		"--allow-no-subscriptions", "-o", "none")
}

// roleAssign assigns role (a built-in role's name) to a service principal at scope with
// `az role assignment create`, and returns the assignment's JSON. Debian's azure-cli
// 2.45.0-1 pairs the role module with a newer azure-mgmt-authorization, so every
// `az role` command that builds a scope crashes before sending anything with
// "'RoleAssignmentsOperations' object has no attribute 'config'" (Azure/azure-cli#24959,
// #26896). Then roleAssign sends the requests the command would have sent, with az rest:
// the role lookup (GET roleDefinitions?$filter=roleName eq '…') and the PUT of the
// assignment (api-version 2022-04-01).
func (a *azCLI) roleAssign(principal, role, scope string) (stdout, stderr string, err error) {
	a.t.Helper()
	stdout, stderr, err = a.run("role", "assignment", "create", "--assignee-object-id", principal,
		"--assignee-principal-type", "ServicePrincipal", "--role", role, "--scope", scope, "-o", "json")
	if err == nil || !strings.Contains(stderr, "object has no attribute 'config'") {
		return stdout, stderr, err
	}
	a.t.Logf("[%s] az role assignment create hit Debian azure-cli 2.45's role-module bug (Azure/azure-cli#24959); sending its requests with az rest", a.name)
	api := "?api-version=2022-04-01"
	var defs struct {
		Value []struct {
			ID string `json:"id"`
		} `json:"value"`
	}
	defsURL := scope + "/providers/Microsoft.Authorization/roleDefinitions" + api + "&$filter=roleName eq '" + role + "'"
	out, errOut, err := a.run("rest", "--method", "get", "-o", "json", "--url", defsURL)
	roleID := ""
	if err != nil {
		a.t.Errorf("[%s] az rest --method get --url %q (the role lookup of az role assignment create): %v\nstdout:\n%s\nstderr:\n%s", a.name, defsURL, err, out, errOut)
	} else if jerr := json.Unmarshal([]byte(out), &defs); jerr != nil || len(defs.Value) != 1 {
		a.t.Errorf("[%s] role definition %q at %s: want exactly one, got %v\n%s", a.name, role, scope, jerr, out)
	} else {
		roleID = defs.Value[0].ID
	}
	if roleID == "" { // carry on with the built-in role's well-known id
		guid, ok := map[string]string{"Contributor": roleContributor, "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"}[role]
		if !ok {
			a.t.Fatalf("no well-known id for role %q", role)
		}
		roleID = scope + "/providers/Microsoft.Authorization/roleDefinitions/" + guid
	}
	body, _ := json.Marshal(map[string]any{"properties": map[string]any{
		"roleDefinitionId": roleID, "principalId": principal, "principalType": "ServicePrincipal"}})
	stdout, stderr, err = a.run("rest", "--method", "put", "-o", "json",
		"--url", scope+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+api, "--body", string(body))
	if err != nil {
		return stdout, stderr, err
	}
	// az role assignment create prints the assignment flattened (properties lifted to
	// the top), as the SDK model serializes it.
	var ra struct {
		ID         string         `json:"id"`
		Name       string         `json:"name"`
		Type       string         `json:"type"`
		Properties map[string]any `json:"properties"`
	}
	if jerr := json.Unmarshal([]byte(stdout), &ra); jerr != nil {
		return stdout, stderr, jerr
	}
	flat := map[string]any{"id": ra.ID, "name": ra.Name, "type": ra.Type}
	for k, v := range ra.Properties {
		flat[k] = v
	}
	b, _ := json.Marshal(flat)
	return string(b), stderr, nil
}

type azAccount struct {
	ID       string `json:"id"`
	TenantID string `json:"tenantId"`
	User     struct {
		Name                 string `json:"name"`
		Type                 string `json:"type"`
		AssignedIdentityInfo string `json:"assignedIdentityInfo"`
	} `json:"user"`
}

func TestAzureCLI(t *testing.T) {
	if _, err := exec.LookPath("az"); err != nil {
		t.Fatalf("the Azure CLI (az) is not on PATH: install Debian's azure-cli (apt-get install azure-cli; .ci/run installs it): %v", err)
	}
	start := time.Now()
	t.Cleanup(func() { t.Logf("TestAzureCLI took %s", time.Since(start).Round(time.Second)) })

	sub := srv.SubscriptionID
	subScope := "/subscriptions/" + sub
	rg := "azcli-rg"
	rgDenied := "azcli-rg-denied"
	rgSP := "azcli-rg-sp"
	rgMI := "azcli-rg-mi"
	vmID := subScope + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachines/vm1"
	// restDenied sends PUT resourceGroups/{name} with `az rest`. The URL names the ARM
	// endpoint as localhost: for a URL under the cloud's ARM endpoint az rest looks the
	// subscription up in its profile, which a roleless principal's has not got, and stops
	// before sending anything. With this URL it uses the logged-in (tenant-level) account.
	armLocalhost := strings.Replace(srv.ResourceManagerEndpoint, "127.0.0.1", "localhost", 1)
	restDenied := func(a *azCLI, name string) {
		t.Helper()
		a.fails("AuthorizationFailed", "rest", "--method", "put",
			"--url", armLocalhost+subScope+"/resourcegroups/"+name+"?api-version=2021-04-01",
			"--resource", "https://management.core.windows.net/", "--body", `{"location":"westus"}`)
	}

	// 1. Cloud registration, isolated config folders.
	admin := newAzCLI(t, "admin")
	admin.registerCloud()
	var cloud struct {
		Name      string `json:"name"`
		IsActive  bool   `json:"isActive"`
		Endpoints struct {
			ResourceManager          string `json:"resourceManager"`
			ActiveDirectory          string `json:"activeDirectory"`
			ActiveDirectoryResources string `json:"activeDirectoryResourceId"`
		} `json:"endpoints"`
	}
	admin.json(&cloud, "cloud", "show")
	if cloud.Name != "Cerulean" || !cloud.IsActive || strings.TrimSuffix(cloud.Endpoints.ResourceManager, "/") != srv.ResourceManagerEndpoint {
		t.Fatalf("az cloud show = %+v, want the active Cerulean cloud at %s", cloud, srv.ResourceManagerEndpoint)
	}
	spCLI := newAzCLI(t, "sp")
	spCLI.copyCloud(admin)

	// 2. A new service principal with no role is denied.
	sp := newServicePrincipal(t, "azcli-sp")
	spCLI.loginSP(sp.AppID, sp.Password)
	var acct azAccount
	spCLI.json(&acct, "account", "show")
	if acct.TenantID != srv.TenantID || acct.User.Name != sp.AppID || acct.User.Type != "servicePrincipal" {
		t.Fatalf("az account show after SP login = %+v", acct)
	}
	// The roleless principal sees no subscription, so az itself rejects --subscription
	// before calling ARM; the ARM call, sent with az rest, is denied by Cerulean.
	spCLI.fails("Subscription '"+sub+"' not found", "group", "create", "-n", rgDenied, "-l", "westus", "--subscription", sub)
	restDenied(spCLI, rgDenied)

	// 2b. A service principal with a certificate credential logs in with the PEM file; a
	// certificate registered for another principal is refused by the token endpoint.
	certDir := t.TempDir()
	var certSP servicePrincipal
	decodeJSON(t, cerulean(t, "sp", "create", "azcli-cert", "--create-cert", filepath.Join(certDir, "sp.pem")), &certSP)
	var otherSP servicePrincipal
	decodeJSON(t, cerulean(t, "sp", "create", "azcli-cert-other", "--create-cert", filepath.Join(certDir, "other.pem")), &otherSP)
	certCLI := newAzCLI(t, "cert")
	certCLI.copyCloud(admin)
	certCLI.loginSP(certSP.AppID, filepath.Join(certDir, "sp.pem"))
	certCLI.json(&acct, "account", "show")
	if acct.User.Name != certSP.AppID || acct.User.Type != "servicePrincipal" {
		t.Fatalf("az account show after certificate login = %+v, want %s", acct, certSP.AppID)
	}
	restDenied(certCLI, rgDenied)
	certCLI.fails("AADSTS700027", "login", "--service-principal", "-u", certSP.AppID, "-p", filepath.Join(certDir, "other.pem"),
		"--tenant", srv.TenantID, "--allow-no-subscriptions", "-o", "none")

	// 3. The admin (Owner) creates a group and a user-assigned identity, and makes the
	// service principal Contributor on the subscription.
	admin.loginSP(srv.AdminClientID, srv.AdminClientSecret)
	admin.json(&acct, "account", "show")
	if acct.ID != sub || acct.TenantID != srv.TenantID {
		t.Fatalf("admin's az account show = %+v, want subscription %s", acct, sub)
	}
	var exists bool
	admin.json(&exists, "group", "exists", "-n", rgDenied)
	if exists {
		t.Fatalf("az group exists -n %s = true: the denied create left a group behind", rgDenied)
	}
	var group struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		Location   string `json:"location"`
		Properties struct {
			ProvisioningState string `json:"provisioningState"`
		} `json:"properties"`
	}
	admin.json(&group, "group", "create", "-n", rg, "-l", "westus", "--subscription", sub)
	if !strings.EqualFold(group.ID, subScope+"/resourceGroups/"+rg) || group.Location != "westus" ||
		group.Properties.ProvisioningState != "Succeeded" {
		t.Fatalf("az group create = %+v, want %s/resourceGroups/%s in westus, Succeeded", group, subScope, rg)
	}
	var ident struct {
		ID          string `json:"id"`
		PrincipalID string `json:"principalId"`
		ClientID    string `json:"clientId"`
		TenantID    string `json:"tenantId"`
	}
	admin.json(&ident, "identity", "create", "-g", rg, "-n", "azcli-id")
	if ident.PrincipalID == "" || ident.ClientID == "" || ident.TenantID != srv.TenantID {
		t.Fatalf("az identity create = %+v, want principalId, clientId and tenantId %s", ident, srv.TenantID)
	}
	// Listing across the subscription: GET /subscriptions/{s}/providers/Microsoft.ManagedIdentity/userAssignedIdentities.
	// Not fatal, so that the steps after it still run.
	var idents []struct {
		ID          string `json:"id"`
		PrincipalID string `json:"principalId"`
	}
	if out, errOut, err := admin.run("identity", "list", "-o", "json"); err != nil {
		t.Errorf("[admin] az identity list: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	} else if err := json.Unmarshal([]byte(out), &idents); err != nil {
		t.Errorf("[admin] az identity list: output is not JSON: %v\n%s", err, out)
	} else if !slices.ContainsFunc(idents, func(i struct {
		ID          string `json:"id"`
		PrincipalID string `json:"principalId"`
	}) bool {
		return strings.EqualFold(i.ID, ident.ID) && i.PrincipalID == ident.PrincipalID
	}) {
		t.Errorf("[admin] az identity list = %s, want %s", out, ident.ID)
	}
	roleGUIDs := map[string]string{"Contributor": roleContributor, "Reader": roleReader}
	assignRole := func(principal, role string) {
		t.Helper()
		out, errOut, err := admin.roleAssign(principal, role, subScope)
		if err != nil {
			t.Fatalf("[admin] role assignment of %s to %s: %v\nstdout:\n%s\nstderr:\n%s", role, principal, err, out, errOut)
		}
		var ra struct {
			ID               string `json:"id"`
			PrincipalID      string `json:"principalId"`
			PrincipalType    string `json:"principalType"`
			RoleDefinitionID string `json:"roleDefinitionId"`
			Scope            string `json:"scope"`
		}
		if err := json.Unmarshal([]byte(out), &ra); err != nil {
			t.Fatalf("role assignment output is not JSON: %v\n%s", err, out)
		}
		if ra.PrincipalID != principal || !strings.HasSuffix(strings.ToLower(ra.RoleDefinitionID), roleGUIDs[role]) ||
			ra.PrincipalType != "ServicePrincipal" || !strings.EqualFold(ra.Scope, subScope) {
			t.Fatalf("role assignment = %+v, want principal %s (ServicePrincipal), role %s, scope %s", ra, principal, roleGUIDs[role], subScope)
		}
	}
	assign := func(principal string) { t.Helper(); assignRole(principal, "Contributor") }

	// 4. As Reader the service principal sees the subscription, and az's own commands are
	// refused by Cerulean: group create, identity create.
	assignRole(sp.ObjectID, "Reader")
	spCLI.loginSP(sp.AppID, sp.Password)
	spCLI.json(&acct, "account", "show")
	if acct.ID != sub {
		t.Fatalf("SP's az account show after the role assignment = %+v, want subscription %s", acct, sub)
	}
	spCLI.fails("AuthorizationFailed", "group", "create", "-n", rgSP, "-l", "westus")
	spCLI.fails("AuthorizationFailed", "identity", "create", "-g", rg, "-n", "azcli-sp-id")
	var seen []struct {
		Name string `json:"name"`
	}
	spCLI.json(&seen, "group", "list")
	if !slices.ContainsFunc(seen, func(g struct {
		Name string `json:"name"`
	}) bool {
		return g.Name == rg
	}) {
		t.Fatalf("Reader's az group list = %+v, want %s", seen, rg)
	}

	// 5. As Contributor it creates a group and an identity but cannot assign roles.
	assign(sp.ObjectID)
	spCLI.json(&ident, "identity", "create", "-g", rg, "-n", "azcli-sp-id")
	if ident.PrincipalID == "" || !strings.HasSuffix(ident.ID, "/azcli-sp-id") {
		t.Fatalf("Contributor's az identity create = %+v", ident)
	}
	spCLI.json(&group, "group", "create", "-n", rgSP, "-l", "westus", "--subscription", sub)
	if !strings.EqualFold(group.Name, rgSP) {
		t.Fatalf("SP's az group create = %+v", group)
	}
	if out, errOut, err := spCLI.roleAssign(sp.ObjectID, "Owner", subScope); err == nil || !strings.Contains(errOut, "AuthorizationFailed") {
		t.Fatalf("[sp] a Contributor assigned a role (err=%v), want AuthorizationFailed\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	}

	// 6. An identity-bearing host; seed 003's listing query finds its principal.
	var vm struct {
		ID       string `json:"id"`
		Identity struct {
			Type        string `json:"type"`
			PrincipalID string `json:"principalId"`
			TenantID    string `json:"tenantId"`
		} `json:"identity"`
	}
	admin.json(&vm, "resource", "create", "--id", vmID, "--api-version", "2023-03-01", "--is-full-object",
		"--properties", `{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{}}`)
	if vm.Identity.Type != "SystemAssigned" || vm.Identity.PrincipalID == "" || vm.Identity.TenantID != srv.TenantID {
		t.Fatalf("az resource create = %+v, want a system-assigned identity", vm)
	}
	var listed []struct {
		Name        string `json:"Name"`
		PrincipalID string `json:"principalId"`
	}
	admin.json(&listed, "resource", "list", "--query",
		"[?identity.type=='SystemAssigned'].{Name:name, principalId:identity.principalId}")
	found := false
	for _, r := range listed {
		if r.Name == "vm1" {
			found = true
			if r.PrincipalID != vm.Identity.PrincipalID {
				t.Fatalf("az resource list: vm1 principalId %q, want %q", r.PrincipalID, vm.Identity.PrincipalID)
			}
		}
	}
	if !found {
		t.Fatalf("az resource list did not list vm1 with a system-assigned identity: %+v", listed)
	}
	// az resource list's own filters ($filter on /resources): by name, by tag, by type.
	admin.json(&vm, "resource", "create", "--id", strings.TrimSuffix(vmID, "/vm1")+"/vm2", "--api-version", "2023-03-01", "--is-full-object",
		"--properties", `{"location":"westus","tags":{"team":"blue"},"properties":{}}`)
	var listedNames []string
	admin.json(&listedNames, "resource", "list", "--name", "vm1", "--query", "[].name")
	if len(listedNames) != 1 || listedNames[0] != "vm1" {
		t.Errorf("az resource list --name vm1 = %v", listedNames)
	}
	admin.json(&listedNames, "resource", "list", "--tag", "team=blue", "--query", "[].name")
	if len(listedNames) != 1 || listedNames[0] != "vm2" {
		t.Errorf("az resource list --tag team=blue = %v", listedNames)
	}
	// The server filters ($filter), not only az.
	if st, _, body := rawARM(t, http.MethodGet, subScope+"/resources?api-version=2021-04-01&$filter="+url.QueryEscape("tagName eq 'team' and tagValue eq 'blue'"), ""); st != http.StatusOK ||
		!strings.Contains(body, "/vm2") || strings.Contains(body, "/vm1\"") {
		t.Errorf("GET /resources with a tag $filter: %d %s", st, body)
	}
	admin.json(&listedNames, "resource", "list", "-g", rg, "--resource-type", "Microsoft.Compute/virtualMachines", "--query", "[].name")
	if len(listedNames) != 2 {
		t.Errorf("az resource list -g %s --resource-type Microsoft.Compute/virtualMachines = %v", rg, listedNames)
	}

	// 7. az login --identity through MSI_ENDPOINT, before and after a role assignment.
	host, err := ceruleanEnv(vmID)
	if err != nil {
		t.Fatal(err)
	}
	if host.MSIEndpoint == "" || host.ResourceProxy == "" {
		t.Fatalf("cerulean env --resource %s: no msiEndpoint/resourceProxy: %+v", vmID, host)
	}
	mi := newAzCLI(t, "mi", "MSI_ENDPOINT="+host.MSIEndpoint)
	mi.copyCloud(admin)
	mi.ok("login", "--identity", "--allow-no-subscriptions", "-o", "none")
	mi.json(&acct, "account", "show")
	if acct.TenantID != srv.TenantID || acct.User.Type != "servicePrincipal" || acct.User.AssignedIdentityInfo != "MSI" {
		t.Fatalf("MI's az account show = %+v, want tenant %s, a servicePrincipal user with identity info MSI", acct, srv.TenantID)
	}
	mi.fails("Subscription '"+sub+"' not found", "group", "create", "-n", rgMI, "-l", "westus", "--subscription", sub)
	restDenied(mi, rgMI)
	assign(vm.Identity.PrincipalID)
	mi.ok("login", "--identity", "--allow-no-subscriptions", "-o", "none")
	mi.json(&group, "group", "create", "-n", rgMI, "-l", "westus", "--subscription", sub)
	if !strings.EqualFold(group.Name, rgMI) {
		t.Fatalf("MI's az group create = %+v", group)
	}

	// 8. az login --identity through IMDS (169.254.169.254 via the host's proxy).
	imds := newAzCLI(t, "imds", "HTTP_PROXY="+host.ResourceProxy)
	imds.copyCloud(admin)
	imds.ok("login", "--identity", "--allow-no-subscriptions", "-o", "none")
	imds.json(&acct, "account", "show")
	if acct.ID != sub || acct.User.Type != "servicePrincipal" || !strings.Contains(acct.User.AssignedIdentityInfo, "MSI") {
		t.Fatalf("IMDS az account show = %+v, want subscription %s, a servicePrincipal user and MSI identity info", acct, sub)
	}
	var groups []struct {
		Name string `json:"name"`
	}
	imds.json(&groups, "group", "list")
	names := map[string]bool{}
	for _, g := range groups {
		names[g.Name] = true
	}
	if !names[rg] || !names[rgMI] {
		t.Fatalf("IMDS az group list = %+v, want %s and %s", groups, rg, rgMI)
	}
}
