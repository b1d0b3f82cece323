package e2e

import (
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cerulean-azure/cerulean/internal/agent"
)

// TestFileSync_SyncSessions (issue 12 item 2): one server endpoint of a sync group syncs
// with the share at a time. While server A holds the sync session, B is refused it (409
// SyncSessionInProgress) and B's agent waits; when A ends it, B's run goes ahead. A session
// is renewed with its token, a wrong token ends nothing, and a server cannot take another
// server's endpoint's session.
func TestFileSync_SyncSessions(t *testing.T) {
	tp := newSyncTopology(t)
	a := newSyncServer(t, tp, "sess-a", "")
	b := newSyncServer(t, tp, "sess-b", "")
	writeFile(t, filepath.Join(b.folder, "from-b.txt"), []byte("b"))
	open := func(s syncServer) (*agent.Agent, string) {
		t.Helper()
		ag, err := agent.Open(ctxT(t), s.state, httpClient(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ag.Close() })
		cfg, err := ag.Client.Config(ctxT(t))
		if err != nil || len(cfg.Endpoints) != 1 {
			t.Fatalf("config of %s: %v %+v", s.name, err, cfg)
		}
		return ag, cfg.Endpoints[0].ID
	}
	ag, epA := open(a)
	bg, epB := open(b)
	sa, err := ag.Client.Session(ctxT(t), epA, "")
	if err != nil || sa.Token == "" || sa.TTLSeconds <= 0 {
		t.Fatalf("A's session: %v %+v", err, sa)
	}
	var se *agent.ServiceError
	if _, err := bg.Client.Session(ctxT(t), epB, ""); !errors.As(err, &se) || se.Status != http.StatusConflict || !strings.Contains(err.Error(), "SyncSessionInProgress") {
		t.Fatalf("B's session while A holds one: %v, want 409 SyncSessionInProgress", err)
	}
	if _, err := bg.Client.Session(ctxT(t), epA, ""); !errors.As(err, &se) || se.Status != http.StatusForbidden {
		t.Errorf("B asking for A's endpoint's session: %v, want 403", err)
	}
	if again, err := ag.Client.Session(ctxT(t), epA, sa.Token); err != nil || again.Token != sa.Token || !again.ExpiresOn.After(sa.ExpiresOn.Add(-time.Second)) {
		t.Errorf("A renewing its session: %v %+v", err, again)
	}
	if err := ag.Client.EndSession(ctxT(t), epA, "not-the-token"); err != nil {
		t.Errorf("ending with a wrong token: %v", err)
	}
	if _, err := bg.Client.Session(ctxT(t), epB, ""); !errors.As(err, &se) || se.Status != http.StatusConflict {
		t.Fatalf("a wrong token ended A's session: %v", err)
	}

	// B's agent waits for the session, and syncs once A ends it.
	cmd := exec.Command(binary, "agent", "run", "--once", "--state", b.state)
	cmd.Env = agentEnv(b.env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("B's agent did not wait for A's session: %v %s", err, out.String())
	case <-time.After(2 * time.Second):
	}
	if err := ag.Client.EndSession(ctxT(t), epA, sa.Token); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "up 1,") {
			t.Fatalf("B's run after A's session ended: %v %s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("B's agent still waits after A's session ended")
	}
}

// TestFileSync_ConcurrentAgents (issue 12 "Done when": two servers and the share converge
// after concurrent edits with conflicts kept): both servers' agents run at the same time,
// each with its own files and its own edit of the same two files; all converge to the same
// tree, each edit kept (the share's version under the name, the other beside it).
func TestFileSync_ConcurrentAgents(t *testing.T) {
	tp := newSyncTopology(t)
	a := newSyncServer(t, tp, "conc-a", "")
	b := newSyncServer(t, tp, "conc-b", "")
	for i := 0; i < 60; i++ {
		writeFile(t, filepath.Join(a.folder, "a", "f"+itoa(i)+".txt"), []byte("a "+itoa(i)))
		writeFile(t, filepath.Join(b.folder, "b", "f"+itoa(i)+".txt"), []byte("b "+itoa(i)))
	}
	writeFile(t, filepath.Join(a.folder, "shared.txt"), []byte("shared from a"))
	writeFile(t, filepath.Join(b.folder, "shared.txt"), []byte("shared from b"))
	start := func(s syncServer) {
		cmd := exec.Command(binary, "agent", "run", "--interval", "1s", "--state", s.state)
		cmd.Env = agentEnv(s.env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	}
	start(a)
	start(b)
	// 120 files, shared.txt and its conflict copy.
	converged := func(what string) map[string]string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			ta, tb := tree(t, a.folder), tree(t, b.folder)
			if sameTree(ta, tb) && len(ta) == 122 && ta["shared.txt"] != "" {
				return ta
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the servers did not converge in 60 s: a has %v, b has %v", what, treeNames(ta), treeNames(tb))
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	got := converged("first sync")
	// Both versions of shared.txt are kept: one under its name, the other as a conflict copy.
	copies := []string{got["shared.txt"]}
	for p, v := range got {
		if strings.HasPrefix(p, "shared-conc-") {
			copies = append(copies, v)
		}
	}
	if len(got) != 122 || len(copies) != 2 || copies[0] == copies[1] {
		t.Errorf("first sync: shared.txt and its conflict copy hold %q (tree %v)", copies, treeNames(got))
	}

	// Edits of one file on both servers while both agents run.
	writeFile(t, filepath.Join(a.folder, "live.txt"), []byte("live on a"))
	writeFile(t, filepath.Join(b.folder, "live.txt"), []byte("live on b"))
	deadline := time.Now().Add(60 * time.Second)
	for {
		ta, tb := tree(t, a.folder), tree(t, b.folder)
		var versions []string
		for p, v := range ta {
			if p == "live.txt" || strings.HasPrefix(p, "live-conc-") {
				versions = append(versions, v)
			}
		}
		if sameTree(ta, tb) && len(versions) == 2 && versions[0] != versions[1] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("concurrent edits: not converged with both versions kept in 60 s: a %v, b %v", treeNames(ta), treeNames(tb))
		}
		time.Sleep(300 * time.Millisecond)
	}
	// The share holds the same tree: a third server downloads it.
	c := newSyncServer(t, tp, "conc-c", "")
	c.sync(t)
	if tc, ta := tree(t, c.folder), tree(t, a.folder); !sameTree(tc, ta) {
		t.Errorf("the share differs from the servers: %v vs %v", treeNames(tc), treeNames(ta))
	}
}
