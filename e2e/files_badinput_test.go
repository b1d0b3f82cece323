package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/share"
)

// signedRequest builds a File service request signed with Shared Key the way the SDKs do.
func signedRequest(t *testing.T, method, url, account, key string, headers map[string]string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-ms-version", "2025-05-05")
	req.Header.Set("x-ms-date", time.Now().UTC().Format(http.TimeFormat))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	signSharedKey(t, req, account, key, len(body))
	return req
}

// signSharedKey sets the Authorization header of req (with a body of n bytes) as Azure's
// Shared Key scheme computes it; the Date header is signed only without x-ms-date.
func signSharedKey(t *testing.T, req *http.Request, account, key string, n int) {
	t.Helper()
	cl := ""
	if n > 0 {
		cl = strconv.Itoa(n)
	}
	date := ""
	if req.Header.Get("x-ms-date") == "" {
		date = req.Header.Get("Date")
	}
	var names []string
	for k := range req.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-ms-") {
			names = append(names, lk)
		}
	}
	sort.Strings(names)
	var canon []string
	for _, n := range names {
		canon = append(canon, n+":"+req.Header.Get(n))
	}
	res := "/" + account + req.URL.EscapedPath()
	q := req.URL.Query()
	var qk []string
	for k := range q {
		qk = append(qk, k)
	}
	sort.Strings(qk)
	for _, k := range qk {
		res += "\n" + strings.ToLower(k) + ":" + strings.Join(q[k], ",")
	}
	sts := strings.Join([]string{req.Method, "", "", cl, "", req.Header.Get("Content-Type"), date, "", "", "", "", req.Header.Get("Range"),
		strings.Join(canon, "\n"), res}, "\n")
	k, _ := base64.StdEncoding.DecodeString(key)
	m := hmac.New(sha256.New, k)
	m.Write([]byte(sts))
	req.Header.Set("Authorization", "SharedKey "+account+":"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

// TestFiles_BadInput: malformed and out-of-bounds requests get Azure Storage's 4xx with its
// XML error body and code, never a 500, and write nothing.
func TestFiles_BadInput(t *testing.T) {
	svc, account, rg, _ := filesFixture(t)
	keys, err := accountsClient(t, adminCredential(t)).ListKeys(ctxT(t), rg, account, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := *keys.Keys[0].Value
	if _, err := svc.NewShareClient("data").SetProperties(ctxT(t), &share.SetPropertiesOptions{Quota: to.Ptr[int32](1)}); err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSuffix(svc.URL(), "/")
	file := base + "/data/dir/a.txt"
	big := make([]byte, 4<<20+1)
	tests := []struct {
		name, method, url string
		headers           map[string]string
		body              []byte
		status            int
		code              string
	}{
		{"range past the end", "PUT", file + "?comp=range", map[string]string{"x-ms-range": "bytes=5-20", "x-ms-write": "update"}, make([]byte, 16), 416, "InvalidRange"},
		{"range over 4 MiB", "PUT", file + "?comp=range", map[string]string{"x-ms-range": "bytes=0-4194304", "x-ms-write": "update"}, big, 413, "RequestBodyTooLarge"},
		{"malformed range", "PUT", file + "?comp=range", map[string]string{"x-ms-range": "bytes=ten-eleven", "x-ms-write": "update"}, []byte("x"), 400, "InvalidHeaderValue"},
		{"range length differs from body", "PUT", file + "?comp=range", map[string]string{"x-ms-range": "bytes=0-9", "x-ms-write": "update"}, []byte("abc"), 400, "InvalidHeaderValue"},
		{"unknown x-ms-write", "PUT", file + "?comp=range", map[string]string{"x-ms-range": "bytes=0-0", "x-ms-write": "append"}, []byte("x"), 400, "InvalidHeaderValue"},
		{"get range past the end", "GET", file, map[string]string{"x-ms-range": "bytes=100-200"}, nil, 416, "InvalidRange"},
		{"illegal name", "PUT", base + "/data/dir/bad%3Aname?restype=directory", nil, nil, 400, "InvalidResourceName"},
		{"dot-dot segment", "PUT", base + "/data/dir/%2E%2E?restype=directory", nil, nil, 400, "InvalidResourceName"},
		{"invalid SDDL header", "PUT", base + "/data/sddl?restype=directory", map[string]string{"x-ms-file-permission": "O:BAG:SYD:(A;;BOGUS;;;BA)"}, nil, 400, "InvalidHeaderValue"},
		{"invalid SDDL body", "PUT", base + "/data?restype=share&comp=filepermission", map[string]string{"Content-Type": "application/json"}, []byte(`{"permission":"not sddl"}`), 400, "InvalidInput"},
		{"permission and key together", "PUT", base + "/data/both?restype=directory", map[string]string{"x-ms-file-permission": "O:BAG:SYD:", "x-ms-file-permission-key": "1*2"}, nil, 400, "InvalidHeaderValue"},
		{"over the quota", "PUT", base + "/data/dir/huge.bin", map[string]string{"x-ms-type": "file", "x-ms-content-length": "2147483648"}, nil, 413, "ShareSizeLimitReached"},
		{"file size over 4 TiB", "PUT", base + "/data/dir/huge2.bin", map[string]string{"x-ms-type": "file", "x-ms-content-length": "4398046511105"}, nil, 400, "OutOfRangeInput"},
		{"negative file size", "PUT", base + "/data/dir/huge3.bin", map[string]string{"x-ms-type": "file", "x-ms-content-length": "-1"}, nil, 400, "OutOfRangeInput"},
		{"file size not a number", "PUT", base + "/data/dir/huge4.bin", map[string]string{"x-ms-type": "file", "x-ms-content-length": "lots"}, nil, 400, "InvalidHeaderValue"},
		{"oversized metadata", "PUT", file + "?comp=metadata", map[string]string{"x-ms-meta-big": strings.Repeat("m", 9000)}, nil, 400, "MetadataTooLarge"},
		{"bad metadata name", "PUT", file + "?comp=metadata", map[string]string{"x-ms-meta-1bad": "v"}, nil, 400, "InvalidMetadata"},
		{"missing x-ms-type", "PUT", base + "/data/dir/x.bin", map[string]string{"x-ms-content-length": "1"}, nil, 400, "MissingRequiredHeader"},
		{"bad share name", "PUT", base + "/Bad_Share?restype=share", nil, nil, 400, "InvalidResourceName"},
		{"quota out of range", "PUT", base + "/data?restype=share&comp=properties", map[string]string{"x-ms-share-quota": "0"}, nil, 400, "InvalidHeaderValue"},
		{"parent missing", "PUT", base + "/data/nope/child?restype=directory", nil, nil, 404, "ParentNotFound"},
		{"non-empty directory", "DELETE", base + "/data/dir?restype=directory", nil, nil, 409, "DirectoryNotEmpty"},
		{"bad maxresults", "GET", base + "/data?restype=directory&comp=list&maxresults=0", nil, nil, 400, "OutOfRangeQueryParameterValue"},
		{"no x-ms-version", "GET", base + "/data?restype=share", map[string]string{"x-ms-version": ""}, nil, 400, "MissingRequiredHeader"},
	}
	hc := httpClient(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := signedRequest(t, tt.method, tt.url, account, key, tt.headers, tt.body)
			if v, ok := tt.headers["x-ms-version"]; ok && v == "" {
				req.Header.Del("x-ms-version")
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct {
				Code string `xml:"Code"`
			}
			if resp.StatusCode != tt.status || xml.Unmarshal(b, &e) != nil || e.Code != tt.code || resp.Header.Get("x-ms-error-code") != tt.code {
				t.Fatalf("%s %s: %d %s (header %s), want %d %s", tt.method, tt.url, resp.StatusCode, b, resp.Header.Get("x-ms-error-code"), tt.status, tt.code)
			}
		})
	}
	// Nothing half-written: the file reads as before, nothing was created.
	fc := svc.NewShareClient("data").NewDirectoryClient("dir").NewFileClient("a.txt")
	got, err := fc.DownloadStream(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	if string(b) != "hello files" {
		t.Fatalf("the file changed: %q", b)
	}
	for _, name := range []string{"huge.bin", "huge2.bin", "huge3.bin", "huge4.bin", "x.bin"} {
		if _, err := svc.NewShareClient("data").NewDirectoryClient("dir").NewFileClient(name).GetProperties(ctxT(t), nil); err == nil {
			t.Errorf("%s was created by a refused request", name)
		}
	}
}
