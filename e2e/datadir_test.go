package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDataDir_SecondServeRefused (issue 10 item 11): a second `cerulean serve` on a data
// folder a server already uses exits non-zero with a clear message, and leaves the first
// server's state alone (before, it started, and on exit removed server.json, after which
// `cerulean env` said no server ran). The offline commands keep working beside the server.
func TestDataDir_SecondServeRefused(t *testing.T) {
	s := startOwnServer(t, t.TempDir())
	defer s.cmd.Process.Kill()
	statePath := filepath.Join(s.data, "server.json")
	state, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	second := exec.CommandContext(ctx, binary, "serve", "--data", s.data, "--listen", "127.0.0.1:0")
	var stderr bytes.Buffer
	second.Stderr = &stderr
	err = second.Run()
	if ctx.Err() != nil {
		t.Fatalf("a second serve on the same data folder kept running:\n%s", stderr.String())
	}
	if err == nil {
		t.Fatalf("a second serve on the same data folder exited 0:\n%s", stderr.String())
	}
	msg := stderr.String()
	if !strings.Contains(msg, "in use by another cerulean serve") || !strings.Contains(msg, "pid "+strconv.Itoa(s.cmd.Process.Pid)) ||
		!strings.Contains(msg, s.env.ResourceManagerEndpoint[len("https://"):]) {
		t.Fatalf("second serve's message does not say the folder is in use, by which server: %q", msg)
	}
	if after, err := os.ReadFile(statePath); err != nil || !bytes.Equal(after, state) {
		t.Fatalf("the first server's server.json after the second serve exited: %q, %v; want it unchanged", after, err)
	}
	out, err := exec.Command(binary, "env", "--json", "--data", s.data).Output()
	if err != nil || !strings.Contains(string(out), s.env.ResourceManagerEndpoint) {
		t.Fatalf("cerulean env after the refused serve: %v\n%s", err, out)
	}
	// An offline command beside the running server.
	if out, err := exec.Command(binary, "sp", "create", "beside-the-server", "--data", s.data).CombinedOutput(); err != nil {
		t.Fatalf("cerulean sp create while the server runs: %v\n%s", err, out)
	}

	// Once the first server stops, the folder is free again.
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
	if _, err := os.Stat(statePath); !os.IsNotExist(err) {
		t.Fatalf("server.json after the server stopped: %v; want it removed", err)
	}
	s2 := startOwnServer(t, s.data)
	// A server killed -9 leaves its server.json; cerulean env then says no server answers
	// (exit 1), rather than print settings for a dead address.
	s2.cmd.Process.Kill()
	s2.cmd.Wait()
	out, err = exec.Command(binary, "env", "--data", s.data).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no server answers") || strings.Contains(string(out), "export ") {
		t.Errorf("cerulean env after the server was killed: %v\n%s", err, out)
	}
	s3 := startOwnServer(t, s.data)
	s3.cmd.Process.Signal(os.Interrupt)
	s3.cmd.Wait()
}

// TestDataDir_Modes (issue 10 item 11): with umask 022 and a data folder that already exists
// 0755 holding a root key written 0644, a started server leaves the folder 0700 and every
// file in it — root key, keyring, CA key, store, WAL, shared memory, state, lock — 0600; only
// the CA certificate and the az cloud definition may be readable by others.
func TestDataDir_Modes(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(filepath.Join(data, "root.key"), key, 0o644); err != nil {
		t.Fatal(err)
	}
	s := startOwnServer(t, data) // also runs `cerulean env`, which writes az-cloud.json
	defer func() {
		s.cmd.Process.Signal(os.Interrupt)
		s.cmd.Wait()
	}()
	// One write, so the store's WAL and shared-memory files exist.
	s.arm(t, "PUT", "/subscriptions/"+s.env.SubscriptionID+"/resourceGroups/modes?api-version=2021-04-01", `{"location":"westus"}`)

	info, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o700 {
		t.Errorf("data folder mode %v, want 0700", info.Mode().Perm())
	}
	entries, err := os.ReadDir(data)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		seen[e.Name()] = true
		if e.Name() == "ca.pem" || e.Name() == "az-cloud.json" || e.Name() == "ca-bundle.pem" { // public certificates and endpoints
			continue
		}
		if info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
	}
	for _, name := range []string{"root.key", "keyring.json", "ca-key.pem", "cerulean.db", "cerulean.db-wal", "cerulean.db-shm", "server.json", "serve.lock"} {
		if !seen[name] {
			t.Errorf("%s is not in the data folder (have %v)", name, seen)
		}
	}
}

// TestVersion (issue 13 item 6): cerulean version names the build and its Go version.
func TestVersion(t *testing.T) {
	out, err := exec.Command(binary, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "cerulean ") || !strings.Contains(string(out), "go1.") {
		t.Errorf("cerulean version: %v %q", err, out)
	}
}
