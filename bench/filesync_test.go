package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/cerulean-azure/cerulean/internal/agent"
)

// staticToken is the administrator's token as a credential.
type staticToken string

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestFileSyncThroughput (issue 12): Azure File Sync's agent syncing a tree of 10,000 small
// files to an empty share and back to a second server, and a few large files, beside
// `rsync -a` of the same trees and the File service's own 4 MiB Put Range throughput, all in
// the same run. Targets: ≥ 2,000 files/s initial upload (Azure publishes about 200 objects/s
// per sync group), ≤ 3× rsync's time, large files at ≥ 50 % of the Files figure.
func TestFileSyncThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for a minute or more")
	}
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Fatal("rsync is not installed: scripts/install-test-deps installs it")
	}
	dir := t.TempDir()
	w := startFilesWorld(t, filepath.Join(dir, "data"))
	ctx := context.Background()
	sub := w.in.SubscriptionScope()
	acct := sub + "/resourceGroups/bench/providers/Microsoft.Storage/storageAccounts/benchfiles"
	svc := sub + "/resourceGroups/bench/providers/Microsoft.StorageSync/storageSyncServices/sync"
	arm := func(path, body string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, w.base+path+"?api-version=2022-09-01", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+w.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := w.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("PUT %s: %s %s", path, resp.Status, b)
		}
	}
	arm(svc, `{"location":"westus","properties":{}}`)
	for _, g := range []string{"small", "large"} {
		if _, err := w.client.NewShareClient(g).Create(ctx, nil); err != nil {
			t.Fatal(err)
		}
		arm(svc+"/syncGroups/"+g, `{"properties":{}}`)
		arm(svc+"/syncGroups/"+g+"/cloudEndpoints/c", `{"properties":{"storageAccountResourceId":"`+acct+`","azureFileShareName":"`+g+`"}}`)
	}
	server := func(name, group, folder string) *agent.Agent {
		t.Helper()
		st, err := agent.Register(ctx, w.hc, w.base, staticToken(w.token), svc, name, filepath.Join(dir, "state-"+name), nil)
		if err != nil {
			t.Fatal(err)
		}
		arm(svc+"/syncGroups/"+group+"/serverEndpoints/"+name, `{"properties":{"serverLocalPath":"`+folder+`","serverResourceId":"`+st.ResourceID+`"}}`)
		a, err := agent.Open(ctx, st.Dir, w.hc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	}
	run := func(a *agent.Agent) time.Duration {
		t.Helper()
		start := time.Now()
		st, err := a.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range st.Endpoints {
			if e.Error != "" || len(e.Result.Errors) > 0 {
				t.Fatalf("sync of %s: %s %v", e.Path, e.Error, e.Result.Errors)
			}
		}
		return time.Since(start)
	}
	rsync := func(src, dst string) time.Duration {
		t.Helper()
		start := time.Now()
		if out, err := exec.Command("rsync", "-a", src+"/", dst+"/").CombinedOutput(); err != nil {
			t.Fatalf("rsync: %v %s", err, out)
		}
		return time.Since(start)
	}

	// 10,000 small files in 100 folders.
	const files = 10000
	small := filepath.Join(dir, "small-src")
	buf := make([]byte, 4096)
	for i := 0; i < files; i++ {
		p := filepath.Join(small, fmt.Sprintf("d%02d", i%100), fmt.Sprintf("f%05d.txt", i))
		if i < 100 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		rand.Read(buf[:64])
		if err := os.WriteFile(p, buf[:1024], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	up := run(server("small-up", "small", small))
	down := run(server("small-down", "small", filepath.Join(dir, "small-dst")))
	rsyncSmall := rsync(small, filepath.Join(dir, "small-rsync"))

	// Three large files.
	const largeMiB = 64
	large := filepath.Join(dir, "large-src")
	if err := os.MkdirAll(large, 0o755); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, largeMiB<<20)
	for i := 0; i < 3; i++ {
		rand.Read(big)
		if err := os.WriteFile(filepath.Join(large, fmt.Sprintf("large%d.bin", i)), big, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	upLarge := run(server("large-up", "large", large))
	downLarge := run(server("large-down", "large", filepath.Join(dir, "large-dst")))
	rsyncLarge := rsync(large, filepath.Join(dir, "large-rsync"))
	restWrite, restRead := throughput(t, w.client, 1, "fsyncmp")

	perSec := float64(files) / up.Seconds()
	largeUp, largeDown := float64(3*largeMiB)/upLarge.Seconds(), float64(3*largeMiB)/downLarge.Seconds()
	verdict := func(ok bool) string {
		if ok {
			return "meets"
		}
		return "BELOW"
	}
	t.Logf(`Azure File Sync (cerulean agent → File REST API, Shared Key, one server endpoint), in the same run:
  10,000 files of 1 KiB: upload %.1f s = %.0f files/s (target 2,000: %s; Azure publishes ~200 objects/s per sync group)
                         download to a second server %.1f s = %.0f files/s
                         rsync -a of the same tree %.2f s: upload is %.1f× rsync, download %.1f× (target ≤ 3×: %s, %s)
  3 files of %d MiB:     upload %.0f MB/s, download %.0f MB/s; rsync -a %.2f s (%.0f MB/s)
                         Files 4 MiB Put Range %.0f MB/s, Get %.0f MB/s: upload at %.0f%% (target ≥ 50%%: %s)`,
		up.Seconds(), perSec, verdict(perSec >= 2000), down.Seconds(), float64(files)/down.Seconds(),
		rsyncSmall.Seconds(), up.Seconds()/rsyncSmall.Seconds(), down.Seconds()/rsyncSmall.Seconds(), verdict(up <= 3*rsyncSmall), verdict(down <= 3*rsyncSmall),
		largeMiB, largeUp, largeDown, rsyncLarge.Seconds(), float64(3*largeMiB)/rsyncLarge.Seconds(),
		restWrite, restRead, 100*largeUp/restWrite, verdict(largeUp >= restWrite/2))
}
