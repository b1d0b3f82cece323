package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// TestEnv_ResourceHasNoAdminCredentials (issue 10 item 9): `cerulean env --resource <vm>` is
// what code on that VM has — identity endpoints, proxy, CA, cloud endpoints — and nothing of
// the administrator, in both forms. A shell that loaded the administrator's environment and
// then the VM's runs DefaultAzureCredential as the VM's managed identity, and the README's
// walk-through (`az login` as the administrator, then `az login --identity` after the eval)
// still works.
func TestEnv_ResourceHasNoAdminCredentials(t *testing.T) {
	vmID, ident := newVM(t, "env-", "vm1")
	admin := map[string]string{"client secret": srv.AdminClientSecret, "client id": srv.AdminClientID, "object id": srv.AdminObjectID}

	t.Run("json", func(t *testing.T) {
		out := cerulean(t, "env", "--json", "--resource", vmID)
		for what, s := range admin {
			if strings.Contains(string(out), s) {
				t.Errorf("cerulean env --json --resource prints the administrator's %s", what)
			}
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"adminClientId", "adminClientSecret", "adminObjectId"} {
			if _, ok := m[k]; ok {
				t.Errorf("cerulean env --json --resource has %s", k)
			}
		}
		for _, k := range []string{"identityEndpoint", "identityHeader", "msiEndpoint", "resourceProxy", "caCertFile", "resourceManagerEndpoint"} {
			if s, _ := m[k].(string); s == "" {
				t.Errorf("cerulean env --json --resource lacks %s", k)
			}
		}
	})
	t.Run("shell", func(t *testing.T) {
		out := string(cerulean(t, "env", "--resource", vmID))
		for what, s := range admin {
			if strings.Contains(out, s) {
				t.Errorf("cerulean env --resource prints the administrator's %s", what)
			}
		}
		for _, v := range []string{"AZURE_CLIENT_ID=", "AZURE_CLIENT_SECRET=", "AZURE_TENANT_ID="} {
			if strings.Contains(out, "export "+v) {
				t.Errorf("cerulean env --resource exports %s", v)
			}
		}
		if !strings.Contains(out, "unset AZURE_CLIENT_ID AZURE_CLIENT_SECRET AZURE_TENANT_ID") {
			t.Errorf("cerulean env --resource does not unset the administrator's variables")
		}
	})
	// The administrator's environment first, as in the README, then the VM's.
	evalBoth := `eval "$("$CERULEAN" env --data "$DATA")" && eval "$("$CERULEAN" env --data "$DATA" --resource "$VM")" && `
	shellEnv := []string{"CERULEAN=" + binary, "DATA=" + dataDir, "VM=" + vmID}

	t.Run("DefaultAzureCredential is the VM's identity", func(t *testing.T) {
		cmd := exec.Command("sh", "-c", evalBoth+`exec "$TESTBIN" -test.run='^TestChildDefaultCredential$' -test.v`)
		cmd.Env = append(os.Environ(), append(shellEnv, "TESTBIN="+os.Args[0], "CERULEAN_E2E_CHILD=dac")...)
		if c := claimsOf(t, childToken(t, cmd)); c["oid"] != *ident.PrincipalID {
			t.Fatalf("DefaultAzureCredential after eval of the VM's environment: oid %v, want the VM's principal %s (administrator: %s)",
				c["oid"], *ident.PrincipalID, srv.AdminObjectID)
		}
	})
	t.Run("README walk-through: az login --identity after the eval", func(t *testing.T) {
		if _, err := exec.LookPath("az"); err != nil {
			t.Fatalf("the Azure CLI (az) is not on PATH: %v", err)
		}
		script := `set -e
eval "$("$CERULEAN" env --data "$DATA")"
az cloud register -n Cerulean --cloud-config @"$CERULEAN_AZ_CLOUD_CONFIG"
az cloud set -n Cerulean
az login --service-principal -u "$AZURE_CLIENT_ID" -p "$AZURE_CLIENT_SECRET" --tenant "$AZURE_TENANT_ID" -o none
eval "$("$CERULEAN" env --data "$DATA" --resource "$VM")"
test -z "$AZURE_CLIENT_ID$AZURE_CLIENT_SECRET$AZURE_TENANT_ID"
az login --identity --allow-no-subscriptions -o none
az account show -o json`
		cmd := exec.Command("sh", "-c", script)
		a := newAzCLI(t, "readme")
		cmd.Env = append(a.environ(), shellEnv...)
		out, err := cmd.Output()
		if err != nil {
			msg := ""
			if ee, ok := err.(*exec.ExitError); ok {
				msg = string(ee.Stderr)
			}
			t.Fatalf("README walk-through: %v\n%s\n%s", err, out, msg)
		}
		var acct azAccount
		if err := json.Unmarshal(out, &acct); err != nil {
			t.Fatalf("az account show: %v\n%s", err, out)
		}
		if acct.User.Type != "servicePrincipal" || !strings.Contains(acct.User.AssignedIdentityInfo, "MSI") {
			t.Fatalf("az account show after az login --identity = %+v, want the VM's managed identity", acct)
		}
	})
}

func TestChildDefaultCredential(t *testing.T) {
	if os.Getenv("CERULEAN_E2E_CHILD") != "dac" {
		t.Skip("run by TestEnv_ResourceHasNoAdminCredentials in a child process")
	}
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	printToken(t, cred, err)
}

// TestEnv_TrustBundle (issue 13 item 6): the shell 'eval "$(cerulean env)"' configures trusts
// Cerulean and still reaches the public registries: SSL_CERT_FILE and REQUESTS_CA_BUNDLE name
// a bundle of the system roots and Cerulean's CA, and NO_PROXY lets Go modules, npm, Debian,
// PyPI and GitHub bypass Cerulean's Azure-only proxy.
func TestEnv_TrustBundle(t *testing.T) {
	out := string(cerulean(t, "env"))
	vars := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			vars[k] = strings.Trim(v, "'")
		}
	}
	bundle := vars["SSL_CERT_FILE"]
	if bundle == "" || vars["REQUESTS_CA_BUNDLE"] != bundle {
		t.Fatalf("SSL_CERT_FILE %q, REQUESTS_CA_BUNDLE %q", bundle, vars["REQUESTS_CA_BUNDLE"])
	}
	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(srv.CACertFile)
	if !strings.Contains(string(b), strings.TrimSpace(string(ca))) {
		t.Error("the bundle lacks Cerulean's CA")
	}
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil && strings.Count(string(b), "BEGIN CERTIFICATE") < 10 {
		t.Error("the bundle lacks the system's roots")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatal("the bundle holds no certificate")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(srv.ResourceManagerEndpoint + "/metadata/endpoints?api-version=2022-09-01")
	if err != nil {
		t.Fatalf("Cerulean through the bundle: %v", err)
	}
	resp.Body.Close()
	for _, host := range []string{".golang.org", ".npmjs.org", ".debian.org", "github.com", "127.0.0.1"} {
		if !strings.Contains(vars["NO_PROXY"], host) {
			t.Errorf("NO_PROXY %q lacks %s", vars["NO_PROXY"], host)
		}
	}
}
