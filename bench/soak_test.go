package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/google/uuid"
)

// The soak (issue 14): `cerulean serve` in its own process under 16 clients of mixed load —
// managed-identity tokens, client-credential tokens, ARM reads and writes, role assignments
// made and removed, Key Vault unwrapKey, Files Put Range and Get — for soakRound, twice, with
// an idle pause after each. Every second the server's RSS and goroutine count are sampled
// (goroutines from its --pprof endpoint). It reports throughput and p50/p99 per operation,
// the 5xx count (must be 0) and the memory after each round against the idle figure.

const (
	soakClients = 16
	soakRounds  = 2
	soakIdle    = 10 * time.Second
)

// soakRound is the length of one round of load: 60 s, or $CERULEAN_SOAK (a Go duration).
func soakRound(t testing.TB) time.Duration {
	if v := os.Getenv("CERULEAN_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CERULEAN_SOAK=%q: %v", v, err)
		}
		return d
	}
	return 60 * time.Second
}

// soakOp is one kind of request: do sends one and returns its status code.
type soakOp struct {
	name string
	do   func(c *http.Client) (int, error)
}

type opStats struct {
	mu        sync.Mutex
	lat       []time.Duration
	fails     int // transport errors and unexpected statuses
	serverErr int // 5xx
	lastErr   string
}

func (s *opStats) record(d time.Duration, code int, want int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		s.fails++
		s.lastErr = err.Error()
	case code >= 500:
		s.serverErr++
		s.lastErr = strconv.Itoa(code)
	case code != want:
		s.fails++
		s.lastErr = strconv.Itoa(code)
	default:
		s.lat = append(s.lat, d)
	}
}

// soakWorld is what the operations need: tokens, ids, a wrapped key, clients' files.
type soakWorld struct {
	s                    *ownServe
	armToken, vaultToken string
	miEndpoint, miHeader string
	rg, adminObjectID    string
	readerRole           string
	wrapped              string
	fileFor              func(i int) *file.Client
}

// call sends method path (on the server's base unless absolute) with bearer and body and
// returns the status, draining the answer.
func (w *soakWorld) call(c *http.Client, method, target, bearer, body string) (int, error) {
	if !strings.HasPrefix(target, "http") {
		target = w.s.base + target
	}
	req, _ := http.NewRequest(method, target, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// mustCall is call for setup: anything but 2xx fails the test; out, if given, receives the
// JSON answer.
func (w *soakWorld) mustCall(t testing.TB, method, target, bearer, body string, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, w.s.base+target, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.s.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s %s", method, target, resp.Status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
}

func (w *soakWorld) token(t testing.TB, scope string) string {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {w.s.env.AdminClientID}, "client_secret": {w.s.env.AdminClientSecret}, "scope": {scope}}
	resp, err := w.s.hc.PostForm(w.s.base+"/"+w.s.env.TenantID+"/oauth2/v2.0/token", form)
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

func setupSoak(t testing.TB, s *ownServe) *soakWorld {
	w := &soakWorld{s: s}
	sub := "/subscriptions/" + s.env.SubscriptionID
	w.armToken = w.token(t, "https://management.azure.com/.default")
	w.rg = sub + "/resourceGroups/soak"
	vm := w.rg + "/providers/Microsoft.Compute/virtualMachines/vm1"
	vault := w.rg + "/providers/Microsoft.KeyVault/vaults/soakvault"
	w.readerRole = sub + "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
	var me struct {
		ObjectID string `json:"oid"`
	}
	claims, _ := jwtClaims(w.armToken)
	json.Unmarshal(claims, &me)
	w.adminObjectID = me.ObjectID
	for _, put := range []struct{ path, body string }{
		{w.rg + "?api-version=2021-04-01", `{"location":"westus"}`},
		{vm + "?api-version=2023-03-01", `{"location":"westus","identity":{"type":"SystemAssigned"}}`},
		{vault + "?api-version=2024-11-01", `{"location":"westus","properties":{"tenantId":"` + s.env.TenantID +
			`","sku":{"family":"A","name":"standard"},"enableRbacAuthorization":true}}`},
		{vault + "/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString() + "?api-version=2022-04-01",
			`{"properties":{"roleDefinitionId":"` + sub + `/providers/Microsoft.Authorization/roleDefinitions/14b46e9e-c2b7-41b4-b07b-48a6ebf60603","principalId":"` + w.adminObjectID + `","principalType":"ServicePrincipal"}}`},
	} {
		w.mustCall(t, http.MethodPut, put.path, w.armToken, put.body, nil)
	}
	for i := 0; i < soakClients; i++ { // what the ARM writers update
		w.mustCall(t, http.MethodPut, fmt.Sprintf("%s-w%d?api-version=2021-04-01", w.rg, i), w.armToken, `{"location":"westus"}`, nil)
	}
	w.vaultToken = w.token(t, "https://vault.azure.net/.default")
	w.mustCall(t, http.MethodPost, "/vaults/soakvault/keys/soak/create?api-version=7.5", w.vaultToken, `{"kty":"RSA","key_size":2048}`, nil)
	var wrapped struct {
		Value string `json:"value"`
	}
	w.mustCall(t, http.MethodPost, "/vaults/soakvault/keys/soak/wrapkey?api-version=7.5", w.vaultToken, `{"alg":"RSA-OAEP-256","value":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"}`, &wrapped)
	w.wrapped = wrapped.Value
	// The machine's identity endpoint, as code on it sees it.
	out, err := exec.Command(s.bin, "env", "--json", "--data", s.data, "--resource", vm).Output()
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		IdentityEndpoint string `json:"identityEndpoint"`
		IdentityHeader   string `json:"identityHeader"`
	}
	if err := json.Unmarshal(out, &env); err != nil {
		t.Fatal(err)
	}
	w.miEndpoint, w.miHeader = env.IdentityEndpoint, env.IdentityHeader
	// Files: an account, a share, a 1 MiB file per client.
	fc, _, _ := provisionFiles(t, s.hc, s.base, s.env.TenantID, s.env.AdminClientID, s.env.AdminClientSecret, sub)
	root := fc.NewShareClient("bench").NewRootDirectoryClient()
	for i := 0; i < soakClients; i++ {
		if _, err := root.NewFileClient(fmt.Sprintf("soak%d.bin", i)).Create(context.Background(), 1<<20, nil); err != nil {
			t.Fatal(err)
		}
	}
	w.fileFor = func(i int) *file.Client { return root.NewFileClient(fmt.Sprintf("soak%d.bin", i)) }
	return w
}

// jwtClaims is the decoded payload of a JWT (no verification: the test's own token).
func jwtClaims(tok string) ([]byte, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWT")
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
}

// soakOps are the operations, each with the status it must answer.
func (w *soakWorld) soakOps(client int) []struct {
	op   soakOp
	want int
} {
	ctx := context.Background()
	block := make([]byte, 64<<10)
	rand.Read(block)
	f := w.fileFor(client)
	var n atomic.Int64
	return []struct {
		op   soakOp
		want int
	}{
		{soakOp{"MI token (cached)", func(c *http.Client) (int, error) {
			req, _ := http.NewRequest(http.MethodGet, w.miEndpoint+"?api-version=2019-08-01&resource=https://vault.azure.net", nil)
			req.Header.Set("X-IDENTITY-HEADER", w.miHeader)
			resp, err := c.Do(req)
			if err != nil {
				return 0, err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, nil
		}}, 200},
		{soakOp{"client-credential token", func(c *http.Client) (int, error) {
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {w.s.env.AdminClientID}, "client_secret": {w.s.env.AdminClientSecret}, "scope": {"https://management.azure.com/.default"}}
			resp, err := c.PostForm(w.s.base+"/"+w.s.env.TenantID+"/oauth2/v2.0/token", form)
			if err != nil {
				return 0, err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, nil
		}}, 200},
		{soakOp{"ARM GET resource group", func(c *http.Client) (int, error) {
			return w.call(c, http.MethodGet, w.rg+"?api-version=2021-04-01", w.armToken, "")
		}}, 200},
		{soakOp{"ARM PUT resource group (tags)", func(c *http.Client) (int, error) {
			return w.call(c, http.MethodPut, fmt.Sprintf("%s-w%d?api-version=2021-04-01", w.rg, client), w.armToken,
				fmt.Sprintf(`{"location":"westus","tags":{"n":"%d"}}`, n.Add(1)))
		}}, 200},
		{soakOp{"role assignment PUT + DELETE", func(c *http.Client) (int, error) {
			// On the client's own group: Azure refuses a second assignment of one role to one
			// principal at one scope (409 RoleAssignmentExists).
			ra := fmt.Sprintf("%s-w%d/providers/Microsoft.Authorization/roleAssignments/%s?api-version=2022-04-01", w.rg, client, uuid.NewString())
			code, err := w.call(c, http.MethodPut, ra, w.armToken, `{"properties":{"roleDefinitionId":"`+w.readerRole+`","principalId":"`+w.adminObjectID+`","principalType":"ServicePrincipal"}}`)
			if err != nil || code != http.StatusCreated {
				return code, err
			}
			return w.call(c, http.MethodDelete, ra, w.armToken, "")
		}}, 200},
		{soakOp{"Key Vault unwrapKey", func(c *http.Client) (int, error) {
			return w.call(c, http.MethodPost, "/vaults/soakvault/keys/soak/unwrapkey?api-version=7.5", w.vaultToken, `{"alg":"RSA-OAEP-256","value":"`+w.wrapped+`"}`)
		}}, 200},
		{soakOp{"Files Put Range 64 KiB + Get", func(*http.Client) (int, error) {
			off := (n.Add(1) % 16) * int64(len(block))
			if _, err := f.UploadRange(ctx, off, readSeekNopCloser{bytes.NewReader(block)}, nil); err != nil {
				return 0, err
			}
			resp, err := f.DownloadStream(ctx, &file.DownloadStreamOptions{Range: file.HTTPRange{Offset: off, Count: int64(len(block))}})
			if err != nil {
				return 0, err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return 200, nil
		}}, 200},
	}
}

// goroutines reads the server's goroutine count from its --pprof endpoint.
func goroutines(c *http.Client, pprofAddr string) int {
	resp, err := c.Get("http://" + pprofAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total")))
	return n
}

func freeLoopback(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSoak runs the mixed load and prints what it saw; it fails on any 5xx, any failed
// request, or memory that does not come back down.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for two minutes and more")
	}
	pprofAddr := freeLoopback(t)
	s := startServe(t, "--pprof", pprofAddr, "--mi-rate-limit", "0", "--mi-concurrency", "0")
	w := setupSoak(t, s)
	plain := &http.Client{}
	time.Sleep(2 * time.Second)
	idleRSS, idleG := rssKiB(t, s.pid), goroutines(plain, pprofAddr)
	round := soakRound(t)
	var report strings.Builder
	fmt.Fprintf(&report, "soak: %d clients of mixed load, %d rounds of %v, %v idle after each; server in its own process\n", soakClients, soakRounds, round, soakIdle)
	fmt.Fprintf(&report, "  idle before      : RSS %6.1f MiB, %d goroutines\n", mib(idleRSS), idleG)
	var after []int64
	var rounds []string
	total5xx, totalFails := 0, 0
	for r := 1; r <= soakRounds; r++ {
		stats := map[string]*opStats{}
		var names []string
		deadline := time.Now().Add(round)
		var wg sync.WaitGroup
		for i := 0; i < soakClients; i++ {
			ops := w.soakOps(i)
			op := ops[i%len(ops)]
			if stats[op.op.name] == nil {
				stats[op.op.name] = &opStats{}
				names = append(names, op.op.name)
			}
			st := stats[op.op.name]
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &http.Client{Transport: &http.Transport{TLSClientConfig: s.hc.Transport.(*http.Transport).TLSClientConfig, MaxIdleConnsPerHost: 2}}
				defer c.CloseIdleConnections() // the server's goroutines for them end too
				for time.Now().Before(deadline) {
					t0 := time.Now()
					code, err := op.op.do(c)
					st.record(time.Since(t0), code, op.want, err)
				}
			}()
		}
		// Sample every second while the load runs.
		var peakRSS int64
		peakG := 0
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		tick := time.NewTicker(time.Second)
	sample:
		for {
			select {
			case <-done:
				break sample
			case <-tick.C:
				peakRSS = max(peakRSS, rssKiB(t, s.pid))
				peakG = max(peakG, goroutines(plain, pprofAddr))
			}
		}
		tick.Stop()
		fmt.Fprintf(&report, "  round %d load     : RSS peak %6.1f MiB, goroutines peak %d\n", r, mib(peakRSS), peakG)
		slices.Sort(names)
		for _, name := range names {
			st := stats[name]
			p50, p99 := time.Duration(0), time.Duration(0)
			if len(st.lat) > 0 {
				p50, p99 = percentiles(st.lat)
			}
			fmt.Fprintf(&report, "    %-32s %8.0f /s  p50 %6.2f ms  p99 %6.2f ms  5xx %d  failed %d %s\n",
				name, float64(len(st.lat))/round.Seconds(), ms(p50), ms(p99), st.serverErr, st.fails, st.lastErr)
			total5xx += st.serverErr
			totalFails += st.fails
		}
		time.Sleep(soakIdle)
		rss, g := rssKiB(t, s.pid), goroutines(plain, pprofAddr)
		after = append(after, rss)
		if os.Getenv("SOAKDBG") != "" {
			resp, _ := plain.Get("http://" + pprofAddr + "/debug/pprof/heap?debug=1")
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if i := bytes.Index(b, []byte("# runtime.MemStats")); i >= 0 {
				fmt.Println(string(b[i:]))
			}
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
			fmt.Println(string(st))
		}
		fmt.Fprintf(&report, "  round %d idle     : RSS %6.1f MiB (%+.1f over idle), %d goroutines\n", r, mib(rss), mib(rss-idleRSS), g)
		rounds = append(rounds, fmt.Sprintf("%+.0f MiB", mib(rss-idleRSS)))
	}
	t.Log("\n" + report.String())
	row(fmt.Sprintf("soak: %d clients of mixed load, %d × %v", soakClients, soakRounds, round), fmt.Sprintf("%d 5xx, %d failed; RSS after each round %s", total5xx, totalFails, strings.Join(rounds, ", ")),
		fmt.Sprintf("idle %.0f MiB", mib(idleRSS)), "", "0 5xx; within 32 MiB of idle; no growth")
	if total5xx > 0 || totalFails > 0 {
		t.Errorf("%d 5xx answers and %d failed requests (must be 0)", total5xx, totalFails)
	}
	if growth := after[len(after)-1] - idleRSS; growth > 32<<10 {
		t.Errorf("the server's RSS stayed %.1f MiB over idle after the load stopped (target: within 32 MiB)", mib(growth))
	}
	if growth := after[len(after)-1] - after[0]; growth > 8<<10 {
		t.Errorf("the server's RSS after round %d was %.1f MiB above its RSS after round 1: memory grows from run to run", len(after), mib(growth))
	}
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
