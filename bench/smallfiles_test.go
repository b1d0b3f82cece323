package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/service"
)

// The small-file workload (issue 14): 16 clients, each making files of 4–8 KiB through the
// File REST API with azfile — Create, Put Range, Set Properties (HTTP headers) — three
// acknowledged write transactions per file. The baseline, in the same run on the same disk:
// the same files created, written and fsynced by 16 goroutines.

const (
	smallClients = 16
	smallFiles   = 2400 // files per run (150 per client)
)

// smallSize is the size of file i: 4 KiB to 8 KiB.
func smallSize(i int) int { return 4096 + (i*1361)%4097 }

type smallResult struct {
	filesPerSec float64
	p50, p99    time.Duration // per write request, as the client sees it
}

// smallFilesREST makes smallFiles files in folder dir of share "bench" with smallClients
// clients at once.
func smallFilesREST(t testing.TB, c *service.Client, dir string) smallResult {
	ctx := context.Background()
	d := c.NewShareClient("bench").NewDirectoryClient(dir)
	if _, err := d.Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 8192)
	rand.Read(data)
	var next atomic.Int64
	lat := make([][]time.Duration, smallClients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < smallClients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			timed := func(do func() error) bool {
				t0 := time.Now()
				err := do()
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil {
					t.Error(err)
				}
				return err == nil
			}
			for i := int(next.Add(1)) - 1; i < smallFiles; i = int(next.Add(1)) - 1 {
				f := d.NewFileClient(fmt.Sprintf("f%05d.txt", i))
				size := smallSize(i)
				ok := timed(func() error { _, err := f.Create(ctx, int64(size), nil); return err }) &&
					timed(func() error {
						_, err := f.UploadRange(ctx, 0, readSeekNopCloser{bytes.NewReader(data[:size])}, nil)
						return err
					}) &&
					timed(func() error {
						_, err := f.SetHTTPHeaders(ctx, &file.SetHTTPHeadersOptions{HTTPHeaders: &file.HTTPHeaders{ContentType: ptr("text/plain")}})
						return err
					})
				if !ok {
					return
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	p50, p99 := percentiles(all)
	return smallResult{filesPerSec: smallFiles / elapsed.Seconds(), p50: p50, p99: p99}
}

// smallFilesDisk writes the same files to dir with smallClients goroutines, each file
// created, written, fsynced and closed.
func smallFilesDisk(t testing.TB, dir string) float64 {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 8192)
	rand.Read(data)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < smallClients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < smallFiles; i = int(next.Add(1)) - 1 {
				f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%05d.txt", i)))
				if err == nil {
					_, err = f.Write(data[:smallSize(i)])
				}
				if err == nil {
					err = f.Sync()
				}
				if err == nil {
					err = f.Close()
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return smallFiles / time.Since(start).Seconds()
}

func ptr[T any](v T) *T { return &v }

// smallFilesClient is a File service client for the world's account with a connection pool
// sized for smallClients.
func smallFilesClient(t testing.TB, w *filesWorld) *service.Client {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: w.in.CA.Pool()}, MaxIdleConnsPerHost: 2 * smallClients}}
	cred, _ := service.NewSharedKeyCredential("benchfiles", w.key)
	c, err := service.NewClientWithSharedKeyCredential(w.base+"/benchfiles/", cred, &service.ClientOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}, Transport: hc}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSmallFilesThroughput prints files/s and per-request latency for small files through
// the File REST API beside the same files fsynced to local disk.
func TestSmallFilesThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("measures for several seconds")
	}
	dir := t.TempDir()
	w := startFilesWorld(t, filepath.Join(dir, "data"))
	c := smallFilesClient(t, w)
	smallFilesREST(t, c, "warm") // connections and caches
	disk := smallFilesDisk(t, filepath.Join(dir, "disk1"))
	w.times.take()
	stop := startProfile(t) // CERULEAN_CPUPROFILE: our run
	ours := smallFilesREST(t, c, "run")
	stop()
	s50, s99 := percentiles(w.times.take())
	disk2 := smallFilesDisk(t, filepath.Join(dir, "disk2"))
	base := (disk + disk2) / 2
	t.Logf("row\tsmall files, File REST (create + put range + properties, 4-8 KiB, %d clients)\t%.0f files/s; per write request p50 %.1f ms (p99 %.1f) in the server, %.1f ms (p99 %.1f) at the client\tlocal disk, create + write + fsync: %.0f files/s\t%.2f\t≥ 1,000 files/s, p50 ≤ 3 ms",
		smallClients, ours.filesPerSec, ms(s50), ms(s99), ms(ours.p50), ms(ours.p99), base, ours.filesPerSec/base)
	row(fmt.Sprintf("small files, File REST (create + put range + properties, 4-8 KiB, %d clients)", smallClients),
		fmt.Sprintf("%.0f files/s, p50 %.1f ms per write in the server", ours.filesPerSec, ms(s50)),
		fmt.Sprintf("local disk, create + write + fsync %.0f files/s", base), pct(ours.filesPerSec/base), "≥ 1,000 files/s, p50 ≤ 3 ms")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// serverTimes is a slog handler keeping the duration the server logs for each write request
// (PUT): the time a request spends in the server, without the client's share.
type serverTimes struct {
	mu     sync.Mutex
	writes []time.Duration
}

func (s *serverTimes) Enabled(context.Context, slog.Level) bool { return true }
func (s *serverTimes) WithAttrs([]slog.Attr) slog.Handler       { return s }
func (s *serverTimes) WithGroup(string) slog.Handler            { return s }

func (s *serverTimes) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "request" {
		return nil
	}
	var put bool
	var d float64
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "method":
			put = a.Value.String() == http.MethodPut
		case "duration_ms":
			d = a.Value.Float64()
		}
		return true
	})
	if put {
		s.mu.Lock()
		s.writes = append(s.writes, time.Duration(d*float64(time.Millisecond)))
		s.mu.Unlock()
	}
	return nil
}

// take returns the durations logged since the last take.
func (s *serverTimes) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.writes
	s.writes = nil
	return w
}
