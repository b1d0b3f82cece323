package files

import (
	"net/http/httptest"
	"testing"

	"github.com/cerulean-azure/cerulean/internal/azerr"
)

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-511", "bytes=10-", "bytes=-5", "bytes=5-1", "bytes=a-b", "items=0-1", "bytes=99999999999999999999-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, err := parseRange(s)
		if err != nil {
			if e, ok := azerr.As(err); !ok || e.Status != 400 {
				t.Fatalf("parseRange(%q): %v, want a 400", s, err)
			}
			return
		}
		if start < 0 || (end != -1 && end < start) {
			t.Fatalf("parseRange(%q) = %d, %d", s, start, end)
		}
	})
}

func FuzzValidPath(f *testing.F) {
	for _, s := range []string{"a/b", "a/../b", "a//b", "a:b", ".", "x/" + string(rune(1))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := ValidPath(s); err != nil {
			if e, ok := azerr.As(err); !ok || e.Status != 400 {
				t.Fatalf("ValidPath(%q): %v", s, err)
			}
		}
	})
}

// FuzzStringToSign: the Shared Key canonicalization never panics on any URL and headers.
func FuzzStringToSign(f *testing.F) {
	f.Add("/acct/share/dir?comp=list&restype=directory", "x-ms-meta-a", "v")
	f.Fuzz(func(t *testing.T, target, header, value string) {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("panic: %v", p)
			}
		}()
		r := httptest.NewRequest("GET", "/", nil)
		if u, err := r.URL.Parse(target); err == nil {
			r.URL = u
		}
		r.Header[header] = []string{value}
		_ = stringToSign(r, "acct")
	})
}
