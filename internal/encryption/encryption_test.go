package encryption

import (
	"bytes"
	"testing"
)

func TestFileCipher(t *testing.T) {
	dk := NewDataKey()
	f, err := ForFile(dk, "acct", "share", 7, 1)
	if err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte("secret file content "), 100)
	c := f.Seal(3, plain)
	if bytes.Contains(c, []byte("secret file content")) {
		t.Fatal("ciphertext holds the plaintext")
	}
	if got, err := f.Open(3, c); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %v", err)
	}
	for name, other := range map[string]func() (*FileCipher, uint64){
		"other chunk":      func() (*FileCipher, uint64) { return f, 4 },
		"other file":       func() (*FileCipher, uint64) { g, _ := ForFile(dk, "acct", "share", 8, 1); return g, 3 },
		"other generation": func() (*FileCipher, uint64) { g, _ := ForFile(dk, "acct", "share", 7, 2); return g, 3 },
		"other share":      func() (*FileCipher, uint64) { g, _ := ForFile(dk, "acct", "share2", 7, 1); return g, 3 },
		"other data key":   func() (*FileCipher, uint64) { g, _ := ForFile(NewDataKey(), "acct", "share", 7, 1); return g, 3 },
	} {
		g, chunk := other()
		if _, err := g.Open(chunk, c); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	c[len(c)-1] ^= 1
	if _, err := f.Open(3, c); err == nil {
		t.Error("tampered chunk opened")
	}
}

func TestOpenTo(t *testing.T) {
	f, _ := ForFile(NewDataKey(), "acct", "share", 7, 1)
	plain := bytes.Repeat([]byte{7}, 3000)
	sealed := f.Seal(1, plain)
	buf := make([]byte, 0, 4096)
	got, err := f.OpenTo(buf, 1, sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("OpenTo: %v", err)
	}
	if &got[0] != &buf[:1][0] {
		t.Error("OpenTo did not use the buffer it had room in")
	}
	if got, err := f.OpenTo(make([]byte, 0, 10), 1, sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("OpenTo into a short buffer: %v", err)
	}
	if _, err := f.OpenTo(buf, 2, sealed); err == nil {
		t.Error("opened as another chunk")
	}
}

func TestSealTo(t *testing.T) {
	f, _ := ForFile(NewDataKey(), "acct", "share", 7, 1)
	plain := bytes.Repeat([]byte{9}, 1000)
	buf := make([]byte, 0, 2048)
	c := f.SealTo(buf, 2, plain)
	if &c[0] != &buf[:1][0] {
		t.Error("SealTo did not use the buffer it had room in")
	}
	if got, err := f.Open(2, c); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %v", err)
	}
	if got, err := f.Open(2, f.SealTo(make([]byte, 0, 10), 2, plain)); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("SealTo into a short buffer: %v", err)
	}
	if bytes.Equal(f.SealTo(nil, 2, plain), f.SealTo(nil, 2, plain)) {
		t.Error("two seals of the same chunk are equal: the nonce is not fresh")
	}
}
