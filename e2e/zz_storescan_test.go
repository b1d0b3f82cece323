package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// sensitive collects plaintext the tests handed to Cerulean that must never reach the data
// folder unencrypted: secret values, imported private keys, file contents.
var sensitive struct {
	mu     sync.Mutex
	values [][]byte
}

// rememberSensitive registers plaintext for TestZZ_StoreHasNoPlaintext. Values shorter than 8
// bytes are too likely to occur by chance and are refused.
func rememberSensitive(t *testing.T, b []byte) {
	t.Helper()
	if len(b) < 8 {
		t.Fatalf("rememberSensitive: %d bytes is too short to scan for", len(b))
	}
	sensitive.mu.Lock()
	defer sensitive.mu.Unlock()
	sensitive.values = append(sensitive.values, append([]byte(nil), b...))
}

// TestZZ_StoreHasNoPlaintext runs last (its file sorts last): it reads every file of the
// server's data folder — the SQLite database, its write-ahead log, everything — and looks
// for each remembered plaintext, raw and in the base64 spellings JSON would carry.
func TestZZ_StoreHasNoPlaintext(t *testing.T) {
	sensitive.mu.Lock()
	values := sensitive.values
	sensitive.mu.Unlock()
	if len(values) < 3 {
		t.Fatalf("only %d plaintexts were remembered; the Key Vault tests should have registered their secrets and imported keys", len(values))
	}
	var files []string
	var data [][]byte
	err := filepath.Walk(dataDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return err // directories, and smbd's sockets under smb/
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files, data = append(files, p), append(data, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, d := range data {
		total += len(d)
	}
	for _, v := range values {
		forms := [][]byte{v, []byte(base64.StdEncoding.EncodeToString(v)), []byte(base64.RawURLEncoding.EncodeToString(v)),
			[]byte(hex.EncodeToString(v))}
		for i, d := range data {
			for _, f := range forms {
				if bytes.Contains(d, f) {
					t.Errorf("%s holds a plaintext the tests gave Cerulean (%d bytes, starting %q)", files[i], len(v), v[:8])
				}
			}
		}
	}
	t.Logf("scanned %d files (%d bytes) for %d plaintexts", len(files), total, len(values))
}
