package files

import (
	"net/http"
	"net/http/httptest"
	"strings"
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

// FuzzClassify: every request is one declared operation (with a SAS permission and data
// actions) or a 400, never a panic.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"PUT||share|", "GET|s|a/b|list|directory", "PUT|s|a|range|", "GET|||properties|service", "DELETE|s||", "HEAD|s|f|"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, copying bool) {
		parts := strings.SplitN(s, "|", 5)
		for len(parts) < 5 {
			parts = append(parts, "")
		}
		r := &http.Request{Method: parts[0], Header: http.Header{}}
		if copying {
			r.Header.Set("x-ms-copy-source", "https://a.file.core.windows.net/s/f")
		}
		op, err := classify(r, parts[1], parts[2], map[string]string{"comp": parts[3], "restype": parts[4]})
		if err != nil {
			if e, ok := azerr.As(err); !ok || e.Status != 400 {
				t.Fatalf("classify(%q): %v", s, err)
			}
			return
		}
		want := 2 // the file action and the backup privilege
		if op.controlAction() != "" {
			want = 1 // a share or service management operation: its Resource Manager action
		}
		if op.Perms == "" || len(op.actions()) != want {
			t.Fatalf("classify(%q) = %+v without what it needs", s, op)
		}
	})
}
