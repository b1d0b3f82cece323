package bench

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cerulean-azure/cerulean/internal/instance"
	"github.com/cerulean-azure/cerulean/internal/server"
	"github.com/cerulean-azure/cerulean/internal/sts"
)

// The token workload: the real server (every component, SQLite store) on a loopback port,
// driven over plain HTTP by two client goroutines for a fixed time. It measures the App
// Service-style managed-identity endpoint with the token cache hit (cached) and with every
// request signing a new token (fresh), and the client-credentials endpoint (a secret check
// and a signature per request). Baselines measured in the same run: the raw RS256 signing
// rate of this machine (the bound for fresh tokens), and Azure's documented managed-identity
// limit of 20 requests per second per host.

const tokenRunTime = 2 * time.Second

type tokenServer struct {
	base, miBase, tenant, clientID, secret, hostSecret string
	subscription                                       string // the default subscription's scope
	tlsConfig                                          *tls.Config
	serverCert                                         tls.Certificate // the listener's certificate
}

// noMILimits are the token service's settings without Azure's per-host managed-identity
// limits, so a benchmark measures the server, not the throttle.
func noMILimits() sts.Settings {
	s := sts.DefaultSettings()
	s.ManagedIdentityRate, s.ManagedIdentityConcurrency = 0, 0
	return s
}

func startTokenServer(t testing.TB, settings sts.Settings) tokenServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	in, err := instance.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	all := server.DefaultSettings()
	all.STS = settings
	srv, err := server.Build(ctx, in, all, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, ln)
	// Client credentials and ARM go over TLS, as in Azure; the managed-identity endpoints are
	// plain HTTP there and here (miBase).
	leaf, err := in.CA.Leaf("")
	if err != nil {
		t.Fatal(err)
	}
	ts := tokenServer{base: "https://" + ln.Addr().String(), miBase: "http://" + ln.Addr().String(), tenant: in.Tenant.ID, clientID: in.Admin.AppID, secret: in.Admin.Secret,
		subscription: in.SubscriptionScope(), tlsConfig: &tls.Config{RootCAs: in.CA.Pool()}, serverCert: *leaf}
	// An identity-bearing host, created through ARM as the administrator.
	tok := ts.clientCredentials(t, "https://management.azure.com/.default")
	vm := in.SubscriptionScope() + "/resourceGroups/bench/providers/Microsoft.Compute/virtualMachines/vm1"
	for _, put := range []struct{ path, body string }{
		{in.SubscriptionScope() + "/resourceGroups/bench?api-version=2021-04-01", `{"location":"westus"}`},
		{vm + "?api-version=2023-03-01", `{"location":"westus","identity":{"type":"SystemAssigned"}}`},
	} {
		req, _ := http.NewRequest(http.MethodPut, ts.base+put.path, strings.NewReader(put.body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: ts.tlsConfig}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("PUT %s: %s", put.path, resp.Status)
		}
	}
	ts.hostSecret = sts.HostSecretFor(in.RootKey, vm)
	return ts
}

func (ts tokenServer) clientCredentials(t testing.TB, scope string) string {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.clientID}, "client_secret": {ts.secret}, "scope": {scope}}
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: ts.tlsConfig}}).PostForm(ts.base+"/"+ts.tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		t.Fatalf("token: %s %v", resp.Status, err)
	}
	return out.AccessToken
}

// rate runs do from two goroutines for tokenRunTime and returns successful requests/s (keep-alive
// connections, TLS where the URL is https).
func rate(t testing.TB, tlsConfig *tls.Config, do func(c *http.Client) bool) float64 {
	return rateN(t, 2, tlsConfig, do)
}

// rateN is rate with n client goroutines.
func rateN(t testing.TB, n int, tlsConfig *tls.Config, do func(c *http.Client) bool) float64 {
	r, _ := rateLatency(t, n, tlsConfig, do)
	return r
}

// rateLatency is rateN that also returns each successful request's time.
func rateLatency(t testing.TB, n int, tlsConfig *tls.Config, do func(c *http.Client) bool) (float64, []time.Duration) {
	var failed atomic.Int64
	lat := make([][]time.Duration, n)
	deadline := time.Now().Add(tokenRunTime)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, TLSClientConfig: tlsConfig}}
			for t0 := time.Now(); t0.Before(deadline); t0 = time.Now() {
				if do(c) {
					lat[i] = append(lat[i], time.Since(t0))
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed.Load() > 0 {
		t.Errorf("%d requests failed", failed.Load())
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return float64(len(all)) / elapsed.Seconds(), all
}

func miRequest(ts tokenServer) func(c *http.Client) bool {
	return func(c *http.Client) bool {
		req, _ := http.NewRequest(http.MethodGet, ts.miBase+"/msi/token?api-version=2019-08-01&resource=https://vault.azure.net", nil)
		req.Header.Set("X-IDENTITY-HEADER", ts.hostSecret)
		return doOK(c, req)
	}
}

// doOK sends req, drains the answer and reports whether it was 200 OK.
func doOK(c *http.Client, req *http.Request) bool {
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func rawSigningRate(t testing.TB) float64 {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("header.payload"))
	var n atomic.Int64
	deadline := time.Now().Add(tokenRunTime)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err == nil {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// TestTokenEndpointThroughput prints the token endpoints' requests/s beside the baselines.
func TestTokenEndpointThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for a few seconds")
	}
	unlimited := noMILimits()
	cached := startTokenServer(t, unlimited)

	fresh := unlimited
	fresh.ManagedIdentityCacheRefresh = 48 * time.Hour // longer than a token lives: never reuse
	freshSrv := startTokenServer(t, fresh)

	signing := rawSigningRate(t)
	cachedRate := rate(t, nil, miRequest(cached))
	freshRate := rate(t, nil, miRequest(freshSrv))
	ccRate := rate(t, cached.tlsConfig, cached.clientCredentialsRequest())
	const azureLimit = 20.0
	report := fmt.Sprintf(`token endpoints, 2 client goroutines, %v each:
  managed identity, cached : %8.0f req/s  (%.0fx Azure's documented 20 req/s per host)
  managed identity, fresh  : %8.0f req/s  (%.0f%% of raw RS256 signing %0.f sig/s; %.0fx Azure's 20 req/s)
  client credentials       : %8.0f req/s  (%.0f%% of raw RS256 signing)`,
		tokenRunTime, cachedRate, cachedRate/azureLimit, freshRate, 100*freshRate/signing, signing, freshRate/azureLimit,
		ccRate, 100*ccRate/signing)
	t.Log("\n" + report)
	sig := fmt.Sprintf("crypto/rsa RS256 %.0f sig/s", signing)
	row("token issuance, fresh: managed identity", fmt.Sprintf("%.0f req/s", freshRate), sig, pct(freshRate/signing), "≥ 80 %")
	row("token issuance, fresh: client credentials (TLS)", fmt.Sprintf("%.0f req/s", ccRate), sig, pct(ccRate/signing), "≥ 80 %")
}

// TestMITokenCachedProfile measures the cached managed-identity endpoint alone; with
// CERULEAN_CPUPROFILE=file it writes a CPU profile of the run.
func TestMITokenCachedProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for a few seconds")
	}
	ts := startTokenServer(t, noMILimits())
	stop := startProfile(t)
	r, lat := rateLatency(t, 4, nil, miRequest(ts))
	stop()
	p50, p99 := percentiles(lat)
	t.Logf("managed identity, cached, 4 clients: %.0f req/s, p50 %.2f ms, p99 %.2f ms (target 20,000 req/s, p99 < 5 ms)", r, ms(p50), ms(p99))
	row("managed-identity token, cached, 4 clients", fmt.Sprintf("%.0f req/s, p99 %.2f ms", r, ms(p99)), "Azure: 20 req/s per host",
		fmt.Sprintf("%.0f× Azure", r/20), "≥ 20,000 req/s, p99 < 5 ms")
}

// TestTokenFreshProfile measures client-credentials tokens alone (a secret check and a
// signature each); with CERULEAN_CPUPROFILE=file it writes a CPU profile of the run.
func TestTokenFreshProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for a few seconds")
	}
	ts := startTokenServer(t, noMILimits())
	signing := rawSigningRate(t)
	stop := startProfile(t)
	r := rate(t, ts.tlsConfig, ts.clientCredentialsRequest())
	stop()
	t.Logf("client credentials: %.0f req/s, %.0f%% of raw RS256 signing (%.0f sig/s; target 80%%)", r, 100*r/signing, signing)
}

// clientCredentialsRequest is one client-credentials token request as the administrator.
func (ts tokenServer) clientCredentialsRequest() func(c *http.Client) bool {
	return func(c *http.Client) bool {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.clientID},
			"client_secret": {ts.secret}, "scope": {"https://management.azure.com/.default"}}
		req, _ := http.NewRequest(http.MethodPost, ts.base+"/"+ts.tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return doOK(c, req)
	}
}
