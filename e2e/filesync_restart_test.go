package e2e

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFileSync_ServerRestart (issue 12, faults): Cerulean itself is killed with -9 while an
// agent syncs 300 files and a 24 MiB one, and started again on the same address: the agent
// backs off while it is gone, resumes, and a second server then receives exactly the tree
// (nothing lost, nothing duplicated, no conflict copies).
func TestFileSync_ServerRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := t.TempDir()
	s := startOwnServer(t, data, "--listen", addr)
	defer func() { s.cmd.Process.Signal(os.Interrupt); s.cmd.Wait() }()
	sub := "/subscriptions/" + s.env.SubscriptionID + "/resourceGroups/afsr"
	s.arm(t, "PUT", sub+"?api-version=2021-04-01", `{"location":"westus"}`)
	s.accountWithShare(t, "afsr", "afsrestart", "data")
	svc := sub + "/providers/Microsoft.StorageSync/storageSyncServices/sync"
	s.arm(t, "PUT", svc+"?api-version=2022-09-01", `{"location":"westus","properties":{}}`)
	s.arm(t, "PUT", svc+"/syncGroups/g?api-version=2022-09-01", `{"properties":{}}`)
	s.arm(t, "PUT", svc+"/syncGroups/g/cloudEndpoints/c?api-version=2022-09-01",
		`{"properties":{"storageAccountResourceId":"`+sub+`/providers/Microsoft.Storage/storageAccounts/afsrestart","azureFileShareName":"data"}}`)
	env := func(extra ...string) []string {
		out := []string{"SSL_CERT_FILE=" + s.env.CACertFile}
		for _, kv := range agentEnv() {
			if !strings.HasPrefix(kv, "SSL_CERT_FILE=") {
				out = append(out, kv)
			}
		}
		return append(out, extra...)
	}
	register := func(name, folder string) string {
		t.Helper()
		state := filepath.Join(t.TempDir(), "state")
		cmd := exec.Command(binary, "agent", "register", "--service", svc, "--name", name, "--state", state)
		cmd.Env = env("CERULEAN_ARM_ENDPOINT="+s.env.ResourceManagerEndpoint, "AZURE_AUTHORITY_HOST="+s.env.AuthorityHost,
			"AZURE_TENANT_ID="+s.env.TenantID, "AZURE_CLIENT_ID="+s.env.AdminClientID, "AZURE_CLIENT_SECRET="+s.env.AdminClientSecret)
		out, err := cmd.Output()
		var reg struct{ ResourceID string }
		if err != nil || json.Unmarshal(out, &reg) != nil {
			t.Fatalf("register %s: %v %s %s", name, err, out, stderrOf(err))
		}
		s.arm(t, "PUT", svc+"/syncGroups/g/serverEndpoints/"+name+"?api-version=2022-09-01",
			`{"properties":{"serverLocalPath":"`+folder+`","serverResourceId":"`+reg.ResourceID+`"}}`)
		return state
	}
	folderA := filepath.Join(t.TempDir(), "a")
	want := map[string]string{}
	for i := 0; i < 300; i++ {
		p := fmt.Sprintf("d%d/f%03d.txt", i%5, i)
		want[p] = strings.Repeat("r", i+1)
		writeFile(t, filepath.Join(folderA, filepath.FromSlash(p)), []byte(want[p]))
	}
	big := make([]byte, 24<<20)
	rand.Read(big)
	want["big.bin"] = string(big)
	writeFile(t, filepath.Join(folderA, "big.bin"), big)
	stateA := register("restart-a", folderA)

	agent := exec.Command(binary, "agent", "run", "--interval", "500ms", "--state", stateA)
	agent.Env = env()
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { agent.Process.Signal(syscall.SIGTERM); agent.Wait() }()
	time.Sleep(400 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGKILL) // Cerulean dies mid-sync
	s.cmd.Wait()
	time.Sleep(1500 * time.Millisecond) // the agent fails and backs off meanwhile
	s = startOwnServer(t, data, "--listen", addr)
	// The agent resumes by itself: wait for a successful run after the restart.
	restarted := time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := exec.Command(binary, "agent", "status", "--json", "--state", stateA).Output()
		var st struct {
			Endpoints []struct {
				LastSuccess time.Time
				Result      struct{ Errors []any }
			}
		}
		if json.Unmarshal(out, &st) == nil && len(st.Endpoints) == 1 && st.Endpoints[0].LastSuccess.After(restarted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not resume within a minute of the restart: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	folderB := filepath.Join(t.TempDir(), "b")
	stateB := register("restart-b", folderB)
	cmd := exec.Command(binary, "agent", "run", "--once", "--state", stateB)
	cmd.Env = env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the second server: %v %s", err, out)
	}
	if got := tree(t, folderB); !sameTree(got, want) {
		t.Errorf("after Cerulean's restart mid-sync, another server has %d files, want %d: %v", len(got), len(want), treeNames(got)[:min(5, len(got))])
	}
	if got := tree(t, folderA); !sameTree(got, want) {
		t.Errorf("the first server's folder changed: %d files", len(got))
	}
}
