package e2e

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/sas"
	"github.com/google/uuid"
)

// TestLog_NoSecrets (issue 10 item 7): after requests that carry secrets in every place a
// client puts them — the host secret in the Cloud Shell-style path (MSI_ENDPOINT), in
// X-IDENTITY-HEADER and in the proxy credentials, a SAS signature, client secrets and
// assertions in a form and in a query string, bearer tokens — none of them is in the
// server's log, while the requests themselves are.
func TestLog_NoSecrets(t *testing.T) {
	vmID, _ := newVM(t, "log-", "logvm")
	host, err := ceruleanEnv(vmID)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"host secret": host.IdentityHeader, "administrator's client secret": srv.AdminClientSecret}
	hc := httpClient(t)
	do := func(req *http.Request, c *http.Client, want int) {
		t.Helper()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d", req.Method, req.URL.Redacted(), resp.StatusCode, want)
		}
	}
	armRes := url.Values{"resource": {"https://management.azure.com/"}}

	// The host secret as a path segment (Cloud Shell-style MSI_ENDPOINT).
	req, _ := http.NewRequest(http.MethodPost, host.MSIEndpoint, strings.NewReader(armRes.Encode()))
	req.Header.Set("Metadata", "true")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	do(req, hc, http.StatusOK)
	// In X-IDENTITY-HEADER (App Service-style).
	req, _ = http.NewRequest(http.MethodGet, host.IdentityEndpoint+"?api-version=2019-08-01&"+armRes.Encode(), nil)
	req.Header.Set("X-IDENTITY-HEADER", host.IdentityHeader)
	do(req, hc, http.StatusOK)
	// In the proxy credentials (IMDS through the proxy).
	proxy, _ := url.Parse(host.ResourceProxy)
	req, _ = http.NewRequest(http.MethodGet, "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&"+armRes.Encode(), nil)
	req.Header.Set("Metadata", "true")
	do(req, &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxy)}}, http.StatusOK)
	// In an Arc machine's endpoint path (its first call answers 401 with the secret file to
	// read; 503 where the server cannot write that file, not being root).
	arcRG := "log-arc-" + uuid.NewString()[:8]
	if err := createGroup(t, adminCredential(t), arcRG); err != nil {
		t.Fatal(err)
	}
	arcID, _ := createHost(t, arcRG, "Microsoft.HybridCompute/machines", "logarc",
		&armresources.Identity{Type: to.Ptr(armresources.ResourceIdentityTypeSystemAssigned)})
	arc, err := ceruleanEnv(arcID)
	if err != nil {
		t.Fatal(err)
	}
	secrets["Arc host secret"] = arc.IdentityHeader
	req, _ = http.NewRequest(http.MethodGet, arc.ArcIdentityEndpoint+"?api-version=2020-06-01&"+armRes.Encode(), nil)
	req.Header.Set("Metadata", "true")
	if os.Geteuid() == 0 {
		do(req, hc, http.StatusUnauthorized)
	} else {
		do(req, hc, http.StatusServiceUnavailable)
	}
	// A query string that carries secrets where it should not: still not logged.
	leaked := url.Values{"client_secret": {srv.AdminClientSecret}, "client_assertion": {"assertion-" + uuid.NewString()},
		"secret": {host.IdentityHeader}, "api-version": {"2019-08-01"}}
	secrets["client assertion"] = leaked.Get("client_assertion")
	req, _ = http.NewRequest(http.MethodGet, host.IdentityEndpoint+"?"+leaked.Encode(), nil)
	do(req, hc, http.StatusUnauthorized)
	// Client credentials in a token request's form and its query string.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {srv.AdminClientID}, "client_secret": {srv.AdminClientSecret},
		"scope": {"https://management.azure.com/.default"}}
	req, _ = http.NewRequest(http.MethodPost, srv.AuthorityHost+"/"+srv.TenantID+"/oauth2/v2.0/token?"+form.Encode(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	do(req, hc, http.StatusOK)
	// A bearer token in Authorization.
	tok := adminToken(t, armScope)
	secrets["bearer token"] = tok[strings.LastIndex(tok, ".")+1:]
	req, _ = http.NewRequest(http.MethodGet, srv.ResourceManagerEndpoint+vmID+"?api-version=2023-03-01", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	do(req, hc, http.StatusOK)
	// A SAS: its signature in the query.
	svc, _, _ := fileService(t)
	sasURL, err := svc.GetSASURL(sas.AccountResourceTypes{Service: true}, sas.AccountPermissions{List: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(sasURL)
	secrets["SAS signature"] = u.Query().Get("sig")
	req, _ = http.NewRequest(http.MethodGet, sasURL+"&comp=list", nil)
	req.Header.Set("x-ms-version", "2025-05-05")
	do(req, hc, http.StatusOK)

	b, err := os.ReadFile(serveLog)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for what, s := range secrets {
		if s == "" {
			t.Fatalf("no %s to look for", what)
		}
		if strings.Contains(log, s) || strings.Contains(log, url.QueryEscape(s)) {
			t.Errorf("the server log contains the %s", what)
		}
	}
	for _, want := range []string{"path=/msi/host/REDACTED", "sig=REDACTED", "client_secret=REDACTED"} {
		if !strings.Contains(log, want) {
			t.Errorf("the server log has no %q: were the requests logged?", want)
		}
	}
}
