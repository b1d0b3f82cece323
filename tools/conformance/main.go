// Command conformance runs the Azure SDK for Go teams' own test suites, in live mode, against
// a fresh `cerulean serve` (issue 13): it downloads each module's sources at a pinned version
// through the Go module proxy, provisions what their live tests need through Cerulean's own
// Resource Manager (a vault, storage accounts, role assignments), runs them and prints
// passed/failed/skipped per module. Tests that need what Cerulean does not build are counted
// apart as excluded, by the list in exclusions.go, each with its reason.
//
// scripts/conformance builds the binary and runs this; see its --help.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// suite is one module's test suite at a pinned version.
type suite struct {
	Name     string   // short name, as -only takes it
	Module   string   // module path
	Version  string   // pinned version
	Packages []string // packages to test, relative to the module root
	Timeout  string   // go test -timeout
}

var suites = []suite{
	{"azsecrets", "github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets", "v1.5.1", []string{"."}, "30m"},
	{"azkeys", "github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys", "v1.5.0", []string{"."}, "60m"},
	{"azcertificates", "github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates", "v1.4.0", []string{"."}, "30m"},
	{"armkeyvault", "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault", "v1.5.0", []string{"."}, "30m"},
	{"armstorage", "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage", "v1.8.1", []string{"."}, "60m"},
	{"azfile", "github.com/Azure/azure-sdk-for-go/sdk/storage/azfile", "v1.7.2", []string{"./file", "./share", "./directory", "./service", "./lease"}, "120m"},
}

func main() {
	binary := flag.String("cerulean", "", "the cerulean binary to serve with (scripts/conformance builds it)")
	work := flag.String("work", "", "working folder for sources, the server's data and results (default: a new temporary folder)")
	only := flag.String("only", "", "comma-separated suites to run (default all: "+names()+")")
	run := flag.String("run", "", "passed to go test -run (narrow one suite while debugging)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, `Usage: scripts/conformance [flags]

Runs the Azure SDK for Go test suites (%s) live against a fresh cerulean serve and prints
passed/failed/skipped per suite, and apart the tests excluded (they need what Cerulean does
not build: tools/conformance/exclusions.go gives each reason); each suite's failures, with
their output, are written to <work>/results/<suite>.failures.txt. It takes minutes (azfile about half an hour: its tests
sleep). It needs the Go module proxy once, to download the suites' sources.

Flags:
`, names())
		flag.PrintDefaults()
	}
	flag.Parse()
	if *binary == "" {
		fail(errors.New("--cerulean is required: run scripts/conformance, which builds it"))
	}
	if *work == "" {
		dir, err := os.MkdirTemp("", "cerulean-conformance-")
		if err != nil {
			fail(err)
		}
		*work = dir
	}
	chosen := suites
	if *only != "" {
		chosen = nil
		for _, n := range strings.Split(*only, ",") {
			s, ok := find(strings.TrimSpace(n))
			if !ok {
				fail(fmt.Errorf("no suite %q: choose among %s", n, names()))
			}
			chosen = append(chosen, s)
		}
	}
	ctx, stop := signalContext()
	defer stop()
	if err := runAll(ctx, *binary, *work, chosen, *run); err != nil {
		fail(err)
	}
}

func names() string {
	var out []string
	for _, s := range suites {
		out = append(out, s.Name)
	}
	return strings.Join(out, ", ")
}

func find(name string) (suite, bool) {
	for _, s := range suites {
		if s.Name == name {
			return s, true
		}
	}
	return suite{}, false
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "conformance:", err)
	os.Exit(1)
}

func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signalNotify(ch)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func runAll(ctx context.Context, binary, work string, chosen []suite, runFilter string) error {
	results := filepath.Join(work, "results")
	if err := os.MkdirAll(results, 0o755); err != nil {
		return err
	}
	// Sources first, while the module proxy is reachable without Cerulean's proxy in between.
	dirs := map[string]string{}
	for _, s := range chosen {
		fmt.Printf("== downloading %s@%s and its dependencies\n", s.Module, s.Version)
		dir, err := fetch(ctx, work, s)
		if err != nil {
			return fmt.Errorf("download %s: %w", s.Name, err)
		}
		dirs[s.Name] = dir
	}
	srv, err := startServer(ctx, binary, filepath.Join(work, "data"))
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Printf("== cerulean serve at %s (log: %s)\n", srv.env.ResourceManagerEndpoint, srv.log)
	res, err := provision(ctx, srv.env)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	env := testEnv(srv.env, res)
	var table []string
	for _, s := range chosen {
		fmt.Printf("== %s@%s\n", s.Name, s.Version)
		counts, err := runSuite(ctx, s, dirs[s.Name], env, runFilter, results)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		table = append(table, fmt.Sprintf("%-12s %-8s passed %4d  failed %4d  skipped %4d  excluded %4d", s.Name, s.Version, counts.passed, counts.failed, counts.skipped, counts.excluded))
		fmt.Println(table[len(table)-1])
	}
	fmt.Println("\n== summary (failures with their output, and the excluded tests with the reason, in " + results + ")")
	for _, l := range table {
		fmt.Println(l)
	}
	return nil
}

// fetch copies a module's sources at its version into work/src/<name> and downloads its
// dependencies, so that the tests later build without the network.
func fetch(ctx context.Context, work string, s suite) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", s.Module+"@"+s.Version)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download: %w %s", err, stderr(err))
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		return "", fmt.Errorf("go mod download: %s %s", m.Error, out)
	}
	dst := filepath.Join(work, "src", s.Name)
	if err := os.RemoveAll(dst); err != nil {
		return "", err
	}
	if err := copyTree(m.Dir, dst); err != nil {
		return "", err
	}
	dl := exec.CommandContext(ctx, "go", "mod", "download")
	dl.Dir = dst
	dl.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := dl.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go mod download in %s: %w %s", dst, err, out)
	}
	return dst, nil
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}

func stderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

type counts struct{ passed, failed, skipped, excluded int }

// testEvent is one line of go test -json.
type testEvent struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// runSuite runs one suite's packages with go test -json and counts its leaf tests (a test
// with subtests counts through them).
func runSuite(ctx context.Context, s suite, dir string, env []string, runFilter, results string) (counts, error) {
	args := []string{"test", "-json", "-count=1", "-p", "1", "-timeout", s.Timeout}
	if runFilter != "" {
		args = append(args, "-run", runFilter)
	}
	args = append(args, s.Packages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = env
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return counts{}, err
	}
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		return counts{}, err
	}
	final := map[string]string{}    // package/test → last action
	output := map[string][]string{} // package/test → its output
	sc := bufio.NewScanner(pipe)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	done := 0
	for sc.Scan() {
		var ev testEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		key := ev.Package + " " + ev.Test
		switch ev.Action {
		case "output":
			if ev.Test != "" && len(output[key]) < 200 {
				output[key] = append(output[key], ev.Output)
			} else if ev.Test == "" && strings.Contains(ev.Output, "build failed") {
				output[key] = append(output[key], ev.Output)
			}
		case "pass", "fail", "skip":
			if ev.Test != "" {
				final[key] = ev.Action
				if done++; done%25 == 0 {
					fmt.Printf("   ... %d tests finished\n", done)
				}
			} else if ev.Action == "fail" {
				final[key] = "fail" // a package that failed to build or panicked
			}
		}
	}
	werr := cmd.Wait()
	var c counts
	var failures, excludedLines []string
	keys := make([]string, 0, len(final))
	for k := range final {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if hasChildren(k, keys) {
			continue
		}
		pkg, test, _ := strings.Cut(k, " ")
		if test == "" {
			if final[k] == "fail" && !anyTestOf(pkg, keys) {
				c.failed++
				failures = append(failures, "PACKAGE "+pkg+" (did not build or run)\n"+strings.Join(output[k], "")+errOut.String())
			}
			continue
		}
		if reason, ok := excluded(s.Name, test); ok {
			c.excluded++
			excludedLines = append(excludedLines, test+" ("+final[k]+"): "+reason)
			continue
		}
		switch final[k] {
		case "pass":
			c.passed++
		case "skip":
			c.skipped++
		case "fail":
			c.failed++
			failures = append(failures, k+"\n"+strings.Join(output[k], ""))
		}
	}
	report := filepath.Join(results, s.Name+".failures.txt")
	if err := os.WriteFile(report, []byte(strings.Join(failures, "\n----\n")), 0o644); err != nil {
		return c, err
	}
	if err := os.WriteFile(filepath.Join(results, s.Name+".excluded.txt"), []byte(strings.Join(excludedLines, "\n")+"\n"), 0o644); err != nil {
		return c, err
	}
	if werr != nil && ctx.Err() != nil {
		return c, ctx.Err()
	}
	return c, nil
}

func hasChildren(k string, keys []string) bool {
	i := sort.SearchStrings(keys, k+"/")
	return i < len(keys) && strings.HasPrefix(keys[i], k+"/")
}

// anyTestOf tells whether a package reported any test (its own key, "pkg ", aside).
func anyTestOf(pkg string, keys []string) bool {
	for i := sort.SearchStrings(keys, pkg+" "); i < len(keys) && strings.HasPrefix(keys[i], pkg+" "); i++ {
		if keys[i] != pkg+" " {
			return true
		}
	}
	return false
}

// server is a running cerulean serve.
type server struct {
	cmd *exec.Cmd
	env serverEnv
	log string
}

type serverEnv struct {
	TenantID                string `json:"tenantId"`
	SubscriptionID          string `json:"subscriptionId"`
	CACertFile              string `json:"caCertFile"`
	AdminClientID           string `json:"adminClientId"`
	AdminClientSecret       string `json:"adminClientSecret"`
	AdminObjectID           string `json:"adminObjectId"`
	ResourceManagerEndpoint string `json:"resourceManagerEndpoint"`
	AuthorityHost           string `json:"authorityHost"`
	Proxy                   string `json:"proxy"`
}

func startServer(ctx context.Context, binary, data string) (*server, error) {
	if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
		return nil, err
	}
	logPath := data + ".log"
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// Shares deleted in the background as in Azure: the suites delete a share, then delete it
	// again in their cleanup, which Azure accepts while the first deletion runs.
	cmd := exec.Command(binary, "serve", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "warn", "--share-delete-delay", "30s")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, log: logPath}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.CommandContext(ctx, binary, "env", "--json", "--data", data).Output()
		if err == nil && json.Unmarshal(out, &s.env) == nil && s.env.ResourceManagerEndpoint != "" {
			return s, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("cerulean serve did not answer within a minute: see %s", logPath)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (s *server) stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
		}
	}
}

// testEnv is the environment the suites run in: Cerulean's CA, proxy and administrator,
// live mode without the test proxy, no network for the go command, and the resources.
func testEnv(e serverEnv, r resources) []string {
	drop := map[string]bool{"TF_BUILD": true, "GITHUB_ACTIONS": true, "SYSTEM_ACCESSTOKEN": true, "AZURESUBSCRIPTION_CLIENT_ID": true,
		"AZURE_SERVICE_DIRECTORY": true, "HTTP_PROXY": true, "HTTPS_PROXY": true, "http_proxy": true, "https_proxy": true,
		"NO_PROXY": true, "no_proxy": true, "GOFLAGS": true, "GOPROXY": true, "GOWORK": true}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] && !strings.HasPrefix(k, "AZURE_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"SSL_CERT_FILE="+e.CACertFile, "PROXY_CERT="+e.CACertFile,
		"HTTPS_PROXY="+e.Proxy, "HTTP_PROXY="+e.Proxy, "NO_PROXY=127.0.0.1,localhost",
		"AZURE_TENANT_ID="+e.TenantID, "AZURE_CLIENT_ID="+e.AdminClientID, "AZURE_CLIENT_SECRET="+e.AdminClientSecret,
		"AZURE_SUBSCRIPTION_ID="+e.SubscriptionID, "AZURE_AUTHORITY_HOST="+e.AuthorityHost, "AZURE_OBJECT_ID="+e.AdminObjectID,
		"AZURE_TOKEN_CREDENTIALS=EnvironmentCredential", "LOCATION="+location,
		// Suites pinned to an older azidentity (azcertificates v1.4.0: 1.10.1) refuse the value
		// EnvironmentCredential in DefaultAzureCredential; given a service directory, their test
		// credential is a client secret credential for the same administrator instead.
		"AZURE_SERVICE_DIRECTORY=CONFORMANCE", "CONFORMANCE_CLIENT_ID="+e.AdminClientID, "CONFORMANCE_CLIENT_SECRET="+e.AdminClientSecret, "CONFORMANCE_TENANT_ID="+e.TenantID,
		"AZURE_RECORD_MODE=live", "PROXY_MANUAL_START=true",
		"GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off",
		"AZURE_KEYVAULT_URL=https://"+r.Vault+".vault.azure.net/",
		"AZURE_STORAGE_ACCOUNT_NAME="+r.Default.Name, "AZURE_STORAGE_ACCOUNT_KEY="+r.Default.Key,
		"PREMIUM_FILE_STORAGE_ACCOUNT_NAME="+r.Premium.Name, "PREMIUM_FILE_STORAGE_ACCOUNT_KEY="+r.Premium.Key,
		"SOFT_DELETE_AZURE_STORAGE_ACCOUNT_NAME="+r.SoftDelete.Name, "SOFT_DELETE_AZURE_STORAGE_ACCOUNT_KEY="+r.SoftDelete.Key,
		"AZURE_STORAGE_ENCRYPTION_SCOPE=encryptionScope",
	)
}
