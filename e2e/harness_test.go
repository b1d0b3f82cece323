// Package e2e starts the real `cerulean serve` and drives it with unmodified official
// clients: the Azure SDK for Go and the Azure CLI. Nothing of Cerulean is mocked.
package e2e

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"crypto/tls"
)

// env is what `cerulean env --json` prints.
type env struct {
	TenantID                string `json:"tenantId"`
	SubscriptionID          string `json:"subscriptionId"`
	CACertFile              string `json:"caCertFile"`
	AdminClientID           string `json:"adminClientId"`
	AdminClientSecret       string `json:"adminClientSecret"`
	AdminObjectID           string `json:"adminObjectId"`
	ResourceManagerEndpoint string `json:"resourceManagerEndpoint"`
	ActiveDirectoryEndpoint string `json:"activeDirectoryEndpoint"`
	AuthorityHost           string `json:"authorityHost"`
	IdentityEndpoint        string `json:"identityEndpoint"`
	Proxy                   string `json:"proxy"`
	KeyVaultURLPrefix       string `json:"keyVaultUrlPrefix"`
	AzCloudConfigFile       string `json:"azCloudConfigFile"`
	Resource                string `json:"resource"`
	IdentityHeader          string `json:"identityHeader"`
	MSIEndpoint             string `json:"msiEndpoint"`
	ResourceProxy           string `json:"resourceProxy"`
	ArcIdentityEndpoint     string `json:"arcIdentityEndpoint"`
	ArcIMDSEndpoint         string `json:"arcImdsEndpoint"`
}

// cmkCacheTTL is the server's --cmk-cache-ttl: the longest a customer-key unwrap is reused.
// It is long on purpose: revocation must not wait for it, and the CMK tests prove it does not.
const cmkCacheTTL = 10 * time.Minute

var (
	binary    string // the built cerulean binary
	dataDir   string
	serveLog  string // the shared server's stdout and stderr
	srv       env
	serverPID int // the process id of `cerulean serve`
	smbPort   int // the shared server's SMB port (0: not served, e.g. not root)
)

func TestMain(m *testing.M) {
	if os.Getenv("CERULEAN_E2E_CHILD") != "" {
		os.Exit(m.Run()) // a child process re-executed by a test; the parent runs the server
	}
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	tmp, err := os.MkdirTemp("", "cerulean-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	binary = filepath.Join(tmp, "cerulean")
	build := exec.Command("go", "build", "-o", binary, "../cmd/cerulean")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return 0, fmt.Errorf("build cerulean: %w", err)
	}
	dataDir = filepath.Join(tmp, "data")
	serveLog = filepath.Join(tmp, "serve.log")
	logFile, err := os.Create(serveLog)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	args := []string{"serve", "--data", dataDir, "--listen", "127.0.0.1:0",
		"--mi-rate-limit", "1000", "--mi-burst", "1000", "--mi-concurrency", "100", "--cmk-cache-ttl", cmkCacheTTL.String()}
	// As root (CI), the shared server also serves SMB, so tests can reach any account's
	// shares over SMB (smbPort).
	if _, err := exec.LookPath("smbclient"); err == nil && os.Geteuid() == 0 {
		if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
			smbPort = ln.Addr().(*net.TCPAddr).Port
			ln.Close()
			args = append(args, "--smb", "127.0.0.1:"+strconv.Itoa(smbPort))
		}
	}
	serve := exec.CommandContext(ctx, binary, args...)
	serve.Stdout, serve.Stderr = logFile, logFile
	if err := serve.Start(); err != nil {
		return 0, fmt.Errorf("start cerulean serve: %w", err)
	}
	serverPID = serve.Process.Pid
	defer func() {
		serve.Process.Signal(os.Interrupt)
		serve.Wait()
		if os.Getenv("CERULEAN_E2E_LOG") != "" {
			b, _ := os.ReadFile(logFile.Name())
			os.Stderr.Write(b)
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dataDir, "server.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile.Name())
			return 0, fmt.Errorf("cerulean serve did not start within 60s:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if srv, err = ceruleanEnv(""); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// ceruleanEnv runs `cerulean env --json [--resource id]`.
func ceruleanEnv(resource string) (env, error) {
	args := []string{"env", "--json", "--data", dataDir}
	if resource != "" {
		args = append(args, "--resource", resource)
	}
	out, err := exec.Command(binary, args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return env{}, fmt.Errorf("cerulean env: %v: %s", err, ee.Stderr)
		}
		return env{}, err
	}
	var e env
	return e, json.Unmarshal(out, &e)
}

// cerulean runs the binary with args against the test data folder and returns stdout.
func cerulean(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(binary, append(args, "--data", dataDir)...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("cerulean %s: %v: %s", strings.Join(args, " "), err, msg)
	}
	return out
}

// servicePrincipal is a principal created with `cerulean sp create`.
type servicePrincipal struct {
	AppID    string `json:"appId"`
	ObjectID string `json:"objectId"`
	Password string `json:"password"`
}

func newServicePrincipal(t *testing.T, name string) servicePrincipal {
	t.Helper()
	var sp servicePrincipal
	if err := json.Unmarshal(cerulean(t, "sp", "create", name), &sp); err != nil {
		t.Fatal(err)
	}
	return sp
}

// httpClient trusts only Cerulean's CA and uses no proxy.
func httpClient(t *testing.T) *http.Client { t.Helper(); return httpClientFor(t, srv.CACertFile) }

// httpClientFor trusts only the CA in caFile and uses no proxy.
func httpClientFor(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in the CA file")
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}
