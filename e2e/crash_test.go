package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/service"
)

// ownServer runs a second `cerulean serve` on its own data folder (this test kills it).
type ownServer struct {
	data string
	cmd  *exec.Cmd
	env  env
}

func startOwnServer(t *testing.T, data string, flags ...string) *ownServer {
	t.Helper()
	os.Remove(filepath.Join(data, "server.json"))
	cmd := exec.Command(binary, append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0"}, flags...)...)
	log, _ := os.OpenFile(filepath.Join(t.TempDir(), "serve.log"), os.O_CREATE|os.O_WRONLY, 0o600)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(data, "server.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := exec.Command(binary, "env", "--json", "--data", data).Output()
	if err != nil {
		t.Fatal(err)
	}
	s := &ownServer{data: data, cmd: cmd}
	if err := json.Unmarshal(out, &s.env); err != nil {
		t.Fatal(err)
	}
	return s
}

// armPut sends a PUT to the server's ARM endpoint as its admin.
func (s *ownServer) arm(t *testing.T, method, path, body string) []byte {
	t.Helper()
	hc := httpClientFor(t, s.env.CACertFile)
	form := strings.NewReader("grant_type=client_credentials&client_id=" + s.env.AdminClientID + "&client_secret=" + s.env.AdminClientSecret + "&scope=https://management.azure.com/.default")
	resp, err := hc.Post(s.env.AuthorityHost+"/"+s.env.TenantID+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", form)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	req, _ := http.NewRequest(method, s.env.ResourceManagerEndpoint+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b
}

// newAccount makes a storage account on the server, in a group "crash", and returns a File
// service client maker for it (base URL and CA: the server's, or those of its restart).
func (s *ownServer) newAccount(t *testing.T) func(base, ca string) *service.Client {
	t.Helper()
	sub := "/subscriptions/" + s.env.SubscriptionID
	s.arm(t, http.MethodPut, sub+"/resourceGroups/crash?api-version=2021-04-01", `{"location":"westus"}`)
	account := newAccountName()
	s.arm(t, http.MethodPut, sub+"/resourceGroups/crash/providers/Microsoft.Storage/storageAccounts/"+account+"?api-version=2023-05-01",
		`{"location":"westus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`)
	var keys struct {
		Keys []struct {
			Value string `json:"value"`
		} `json:"keys"`
	}
	json.Unmarshal(s.arm(t, http.MethodPost, sub+"/resourceGroups/crash/providers/Microsoft.Storage/storageAccounts/"+account+"/listKeys?api-version=2023-05-01", ""), &keys)
	return func(base, ca string) *service.Client {
		cred, _ := service.NewSharedKeyCredential(account, keys.Keys[0].Value)
		c, err := service.NewClientWithSharedKeyCredential(base+"/"+account+"/", cred, &service.ClientOptions{
			ClientOptions: azcore.ClientOptions{Transport: httpClientFor(t, ca), Retry: policy.RetryOptions{MaxRetries: -1}}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

type ackedRange struct {
	offset int64
	sum    [32]byte
	data   []byte
}

// TestFiles_CrashDurability: writers upload ranges concurrently; the server is killed with
// SIGKILL mid-stream and restarted on the same data folder. Every range whose Put Range was
// acknowledged reads back byte for byte, and a range that was in flight reads back either
// entirely as before (zeros) or entirely as written, never torn.
func TestFiles_CrashDurability(t *testing.T) {
	data := t.TempDir()
	s := startOwnServer(t, data)
	client := s.newAccount(t)
	svc := client(s.env.ResourceManagerEndpoint, s.env.CACertFile)
	sc := svc.NewShareClient("crash")
	if _, err := sc.Create(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	const writers, rangeSize, fileSize = 4, 256 << 10, 64 << 20
	for w := 0; w < writers; w++ {
		if _, err := sc.NewRootDirectoryClient().NewFileClient(fmt.Sprintf("w%d.bin", w)).Create(ctxT(t), fileSize, nil); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	acked := map[int][]ackedRange{}
	inflight := map[int]*ackedRange{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			fc := sc.NewRootDirectoryClient().NewFileClient(fmt.Sprintf("w%d.bin", w))
			for off := int64(0); off+rangeSize <= fileSize && ctx.Err() == nil; off += rangeSize {
				buf := make([]byte, rangeSize)
				rand.Read(buf)
				r := &ackedRange{offset: off, sum: sha256.Sum256(buf), data: buf}
				mu.Lock()
				inflight[w] = r
				mu.Unlock()
				if _, err := fc.UploadRange(ctx, off, streamOf(buf), &file.UploadRangeOptions{}); err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[w] = append(acked[w], *r)
				inflight[w] = nil
				mu.Unlock()
			}
		}(w)
	}
	time.Sleep(1500 * time.Millisecond)
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
	cancel()
	wg.Wait()
	total := 0
	for _, rs := range acked {
		total += len(rs)
	}
	if total < writers {
		t.Fatalf("only %d ranges were acknowledged before the kill; the test proves nothing", total)
	}

	s2 := startOwnServer(t, data)
	defer s2.cmd.Process.Signal(os.Interrupt)
	sc2 := client(s2.env.ResourceManagerEndpoint, s2.env.CACertFile).NewShareClient("crash")
	checked := 0
	for w := 0; w < writers; w++ {
		fc := sc2.NewRootDirectoryClient().NewFileClient(fmt.Sprintf("w%d.bin", w))
		read := func(off int64) []byte {
			resp, err := fc.DownloadStream(ctxT(t), &file.DownloadStreamOptions{Range: file.HTTPRange{Offset: off, Count: rangeSize}})
			if err != nil {
				t.Fatalf("read after restart: %v", err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return b
		}
		for _, r := range acked[w] {
			if sha256.Sum256(read(r.offset)) != r.sum {
				t.Fatalf("writer %d: acknowledged range at %d lost or changed after kill -9", w, r.offset)
			}
			checked++
		}
		if r := inflight[w]; r != nil {
			got := read(r.offset)
			if !bytes.Equal(got, make([]byte, rangeSize)) && sha256.Sum256(got) != r.sum {
				t.Fatalf("writer %d: the range in flight at %d is torn: neither the old nor the new content", w, r.offset)
			}
		}
	}
	t.Logf("%d acknowledged ranges (%d KiB each) verified by SHA-256 after kill -9 and restart", checked, rangeSize>>10)
}
