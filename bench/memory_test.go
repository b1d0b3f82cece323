package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The memory workload (issue 14): `cerulean serve` as its own process, so its resident set
// is its own; a 100 MiB file uploaded and downloaded by azfile (UploadBuffer and
// DownloadBuffer, their default parallelism), the server's RSS sampled every 20 ms. The
// figure is the peak above the idle server's RSS.

type ownServe struct {
	pid       int
	bin, data string // the binary and its data folder
	base      string
	hc        *http.Client
	env       struct {
		TenantID, SubscriptionID, AdminClientID, AdminClientSecret, CACertFile string
	}
}

// startServe builds and starts `cerulean serve` with args added to its command line.
func startServe(t testing.TB, args ...string) *ownServe {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "cerulean")
	build := exec.Command("go", "build", "-o", bin, "../cmd/cerulean")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "warn"}, args...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(data, "server.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cerulean serve did not start")
		}
	}
	out, err := exec.Command(bin, "env", "--json", "--data", data).Output()
	if err != nil {
		t.Fatal(err)
	}
	s := &ownServe{pid: cmd.Process.Pid, bin: bin, data: data}
	var env struct {
		TenantID          string `json:"tenantId"`
		SubscriptionID    string `json:"subscriptionId"`
		AdminClientID     string `json:"adminClientId"`
		AdminClientSecret string `json:"adminClientSecret"`
		CACertFile        string `json:"caCertFile"`
		ARM               string `json:"resourceManagerEndpoint"`
	}
	if err := json.Unmarshal(out, &env); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(env.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := newPool(t, ca)
	s.base = env.ARM
	s.hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 16}}
	s.env.TenantID, s.env.SubscriptionID, s.env.AdminClientID, s.env.AdminClientSecret = env.TenantID, env.SubscriptionID, env.AdminClientID, env.AdminClientSecret
	return s
}

var rssField = "VmRSS:"

// rssKiB is a process's resident set (VmRSS) in KiB.
func rssKiB(t testing.TB, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0 // the process is gone (the test reports why)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, rssField); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// peakRSS samples pid's RSS every 20 ms while do runs and returns the peak in KiB.
func peakRSS(t testing.TB, pid int, do func()) int64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if r := rssKiB(t, pid); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	do()
	close(stop)
	wg.Wait()
	return peak.Load()
}

// TestLargeFileMemory prints the server's memory while files of 100 MiB and 300 MiB go up
// and down: bounded per request, the peaks do not grow with the file's size.
func TestLargeFileMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 800 MiB")
	}
	s := startServe(t)
	c, _, _ := provisionFiles(t, s.hc, s.base, s.env.TenantID, s.env.AdminClientID, s.env.AdminClientSecret, "/subscriptions/"+s.env.SubscriptionID)
	time.Sleep(500 * time.Millisecond)
	idle := rssKiB(t, s.pid)
	var report strings.Builder
	fmt.Fprintf(&report, "\nserver RSS (own process), files moved with azfile's UploadBuffer/DownloadBuffer (default parallelism):\n  idle           : %6.1f MiB\n", mib(idle))
	for _, size := range []int{100, 300} {
		data := make([]byte, size<<20)
		rand.Read(data)
		fc := c.NewShareClient("bench").NewRootDirectoryClient().NewFileClient(fmt.Sprintf("big%d.bin", size))
		ctx := context.Background()
		if _, err := fc.Create(ctx, int64(len(data)), nil); err != nil {
			t.Fatal(err)
		}
		var upErr error
		up := peakRSS(t, s.pid, func() { upErr = fc.UploadBuffer(ctx, data, nil) })
		if upErr != nil {
			t.Fatal(upErr)
		}
		got := make([]byte, len(data))
		var downErr error
		down := peakRSS(t, s.pid, func() { _, downErr = fc.DownloadBuffer(ctx, got, nil) })
		if downErr != nil {
			t.Fatal(downErr)
		}
		if !bytes.Equal(got, data) {
			t.Fatal("the downloaded file differs")
		}
		fmt.Fprintf(&report, "  %3d MiB file   : upload peak %6.1f MiB (+%.1f), download peak %6.1f MiB (+%.1f)\n", size, mib(up), mib(up-idle), mib(down), mib(down-idle))
		row(fmt.Sprintf("server RSS, a %d MiB file up and down with azfile (5 requests in flight)", size), fmt.Sprintf("+%.0f MiB up, +%.0f MiB down", mib(up-idle), mib(down-idle)),
			fmt.Sprintf("idle %.0f MiB", mib(idle)), "", "bounded per request, whatever the file size")
	}
	report.WriteString("  target: bounded per request (a few MiB each), whatever the file size")
	t.Log(report.String())
}

func newPool(t testing.TB, pemCA []byte) *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemCA) {
		t.Fatal("no certificate in the CA file")
	}
	return p
}
