package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
)

// Azurite's well-known development account.
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// startAzurite runs Microsoft's emulator (bench/azurite, installed by scripts/install-test-deps)
// on a free loopback port; "" when it is not installed.
func startAzurite(t testing.TB) string {
	t.Helper()
	bin, _ := filepath.Abs("azurite/node_modules/.bin/azurite-blob")
	if _, err := os.Stat(bin); err != nil {
		return ""
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port), "--location", t.TempDir(), "--silent", "--skipApiVersionCheck")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return fmt.Sprintf("http://127.0.0.1:%d/%s", port, azuriteAccount)
		}
	}
	t.Fatal("Azurite did not start")
	return ""
}

// azuriteThroughput uploads n blobs of filesMiB each as 4 MiB blocks (stage block + commit),
// the block-blob equivalent of our 4 MiB Put Range, and returns MB/s.
func azuriteThroughput(t testing.TB, url string, n int, tag string) float64 {
	cred, err := azblob.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := azblob.NewClientWithSharedKeyCredential(url, cred, &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	container := "bench" + tag
	if _, err := c.CreateContainer(ctx, container, nil); err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 4<<20)
	rand.Read(block)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			bb := c.ServiceClient().NewContainerClient(container).NewBlockBlobClient(fmt.Sprintf("b%d", i))
			var ids []string
			for b := 0; b < filesMiB/4; b++ {
				id := base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, uint64(b)))
				if _, err := bb.StageBlock(ctx, id, readSeekNopCloser{bytes.NewReader(block)}, nil); err != nil {
					t.Error(err)
					return
				}
				ids = append(ids, id)
			}
			if _, err := bb.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{}); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	return float64(n*filesMiB) / time.Since(start).Seconds()
}
