package bench

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"testing"
	"time"
)

// The ARM read workload (issue 14): GET of a resource group, RBAC-checked, over keep-alive
// TLS from 4 client goroutines, beside a bare Go HTTPS handler answering the same bytes on
// the same kind of certificate in the same run. CERULEAN_CPUPROFILE=file writes a CPU
// profile of the Cerulean half.

const armClients = 4

// armRate is requests/s of GET url with the bearer token from armClients goroutines.
func armRate(t testing.TB, tlsConfig *tls.Config, url, token string) float64 {
	return rateN(t, armClients, tlsConfig, func(c *http.Client) bool {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return doOK(c, req)
	})
}

// bareHTTPS serves body from a plain Go HTTPS handler with cert and returns its URL.
func bareHTTPS(t testing.TB, cert tls.Certificate, body []byte) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String() + "/"
}

// TestARMReadThroughput prints RBAC-checked ARM GETs per second beside the bare handler's.
func TestARMReadThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for a few seconds")
	}
	ts := startTokenServer(t, noMILimits())
	token := ts.clientCredentials(t, "https://management.azure.com/.default")
	url := ts.base + ts.subscription + "/resourceGroups/bench?api-version=2021-04-01"
	body := fetch(t, ts.tlsConfig, url, token)
	bare := bareHTTPS(t, ts.serverCert, body)

	bareRate := armRate(t, ts.tlsConfig, bare, "")
	stop := startProfile(t)
	ourRate := armRate(t, ts.tlsConfig, url, token)
	stop()
	t.Logf("\nARM GET of a resource group, RBAC-checked, keep-alive TLS, %d clients, %v each:\n"+
		"  cerulean     : %8.0f req/s\n  bare handler : %8.0f req/s (same %d-byte JSON, same certificate)\n  ratio        : %8.2f (target >= 0.5)",
		armClients, tokenRunTime, ourRate, bareRate, len(body), ourRate/bareRate)
	row(fmt.Sprintf("ARM GET of a resource group, RBAC-checked, keep-alive TLS, %d clients", armClients),
		fmt.Sprintf("%.0f req/s", ourRate), fmt.Sprintf("bare Go HTTPS handler %.0f req/s", bareRate), fmt.Sprintf("%.2f", ourRate/bareRate), "≥ 0.5")
}

func fetch(t testing.TB, tlsConfig *tls.Config, url, token string) []byte {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, b)
	}
	return b
}

// startProfile starts a CPU profile into $CERULEAN_CPUPROFILE, if set; the returned func
// stops it.
func startProfile(t testing.TB) func() {
	f := os.Getenv("CERULEAN_CPUPROFILE")
	if f == "" {
		return func() {}
	}
	out, err := os.Create(f)
	if err != nil {
		t.Fatal(err)
	}
	pprof.StartCPUProfile(out)
	return func() { pprof.StopCPUProfile(); out.Close() }
}
