package e2e

import (
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/fileerror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/sas"
)

// storageAnswer is a File service response: its status, the error code (x-ms-error-code and
// the XML body must agree) and the AuthenticationErrorDetail, if any.
type storageAnswer struct {
	status       int
	code, detail string
	message      string
}

func storageDo(t *testing.T, hc *http.Client, req *http.Request) storageAnswer {
	t.Helper()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	a := storageAnswer{status: resp.StatusCode, code: resp.Header.Get("x-ms-error-code")}
	if resp.StatusCode >= 400 {
		var e struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
			Detail  string `xml:"AuthenticationErrorDetail"`
		}
		if err := xml.Unmarshal(b, &e); err != nil || e.Code != a.code {
			t.Fatalf("%s %s: %d with x-ms-error-code %q and body %q: not Azure's XML error envelope", req.Method, req.URL, resp.StatusCode, a.code, b)
		}
		a.detail, a.message = e.Detail, e.Message
	}
	return a
}

// wantStorage sends req and fails unless Azure's status and error code come back.
func wantStorage(t *testing.T, hc *http.Client, req *http.Request, status int, code string) storageAnswer {
	t.Helper()
	a := storageDo(t, hc, req)
	if a.status != status || a.code != code {
		t.Fatalf("%s %s: %d %s (%s %s), want %d %s", req.Method, req.URL, a.status, a.code, a.message, a.detail, status, code)
	}
	return a
}

func accountKey(t *testing.T, rg, account string) string {
	t.Helper()
	keys, err := accountsClient(t, adminCredential(t)).ListKeys(ctxT(t), rg, account, nil)
	if err != nil {
		t.Fatal(err)
	}
	return *keys.Keys[0].Value
}

// setHTTPSOnly sets the account's supportsHttpsTrafficOnly through Resource Manager.
func setHTTPSOnly(t *testing.T, rg, account string, on bool) {
	t.Helper()
	_, err := accountsClient(t, adminCredential(t)).Update(ctxT(t), rg, account, armstorage.AccountUpdateParameters{
		Properties: &armstorage.AccountPropertiesUpdateParameters{EnableHTTPSTrafficOnly: to.Ptr(on)}}, nil)
	if err != nil {
		t.Fatalf("set supportsHttpsTrafficOnly=%v: %v", on, err)
	}
}

// TestFiles_SharedKeyRequestDate (issue 10 item 8): a Shared Key request carries the time it
// was signed (x-ms-date, or Date without it) and is refused more than 15 minutes off or with
// no date at all, so a captured request cannot be replayed forever. Refused writes write
// nothing.
func TestFiles_SharedKeyRequestDate(t *testing.T) {
	svc, account, rg, _ := filesFixture(t)
	key := accountKey(t, rg, account)
	base := strings.TrimSuffix(svc.URL(), "/")
	hc := httpClient(t)
	now := time.Now().UTC()
	create := func(name string, headers map[string]string) *http.Request {
		req, err := http.NewRequest(http.MethodPut, base+"/data/dir/"+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-ms-version", "2025-05-05")
		req.Header.Set("x-ms-type", "file")
		req.Header.Set("x-ms-content-length", "1")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		signSharedKey(t, req, account, key, 0)
		return req
	}
	refused := []struct {
		name    string
		headers map[string]string
		detail  string
	}{
		{"x-ms-date a day old", map[string]string{"x-ms-date": now.Add(-24 * time.Hour).Format(http.TimeFormat)}, "Request date header too old"},
		{"x-ms-date 16 minutes old", map[string]string{"x-ms-date": now.Add(-16 * time.Minute).Format(http.TimeFormat)}, "Request date header too old"},
		{"x-ms-date an hour ahead", map[string]string{"x-ms-date": now.Add(time.Hour).Format(http.TimeFormat)}, "in the future"},
		{"Date a day old, no x-ms-date", map[string]string{"Date": now.Add(-24 * time.Hour).Format(http.TimeFormat)}, "Request date header too old"},
		{"no date at all", nil, "Request date header not specified"},
		{"unreadable x-ms-date", map[string]string{"x-ms-date": "yesterday"}, "The Date header in the request is incorrect."},
	}
	for i, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			a := wantStorage(t, hc, create("refused"+string(rune('a'+i)), tt.headers), http.StatusForbidden, "AuthenticationFailed")
			if !strings.Contains(a.detail, tt.detail) {
				t.Fatalf("AuthenticationErrorDetail %q, want it to say %q", a.detail, tt.detail)
			}
		})
	}
	dir := svc.NewShareClient("data").NewDirectoryClient("dir")
	for i := range refused {
		_, err := dir.NewFileClient("refused"+string(rune('a'+i))).GetProperties(ctxT(t), nil)
		wantFileError(t, err, http.StatusNotFound, fileerror.ResourceNotFound)
	}

	// Accepted: a fresh Date without x-ms-date (signed), an x-ms-date 10 minutes old, and
	// an x-ms-date request a proxy stamped with its own Date after signing (not signed).
	for name, h := range map[string]map[string]string{
		"date-only":   {"Date": now.Format(http.TimeFormat)},
		"ten-minutes": {"x-ms-date": now.Add(-10 * time.Minute).Format(http.TimeFormat)},
	} {
		wantStorage(t, hc, create(name, h), http.StatusCreated, "")
	}
	req := create("proxied", map[string]string{"x-ms-date": now.Format(http.TimeFormat)})
	req.Header.Set("Date", now.Add(-time.Hour).Format(http.TimeFormat))
	wantStorage(t, hc, req, http.StatusCreated, "")
}

// TestFiles_HTTPSOnly (issue 10 item 10): an account with supportsHttpsTrafficOnly (Azure's
// default) answers plain HTTP with 400 AccountRequiresHttps whatever the credential, and
// writes nothing; turning the setting off through Resource Manager serves HTTP.
func TestFiles_HTTPSOnly(t *testing.T) {
	svc, account, rg, _ := filesFixture(t)
	a, err := accountsClient(t, adminCredential(t)).GetProperties(ctxT(t), rg, account, nil)
	if err != nil || a.Properties.EnableHTTPSTrafficOnly == nil || !*a.Properties.EnableHTTPSTrafficOnly {
		t.Fatalf("a new account reports supportsHttpsTrafficOnly %v (%v), want Azure's default true", a.Properties.EnableHTTPSTrafficOnly, err)
	}
	key := accountKey(t, rg, account)
	hc := httpClient(t)
	httpsBase := strings.TrimSuffix(svc.URL(), "/")
	if !strings.HasPrefix(httpsBase, "https://") {
		t.Fatalf("file endpoint %s is not https", httpsBase)
	}
	plainBase := "http://" + strings.TrimPrefix(httpsBase, "https://")

	readShare := func(base string) *http.Request {
		return signedRequest(t, http.MethodGet, base+"/data?restype=share", account, key, nil, nil)
	}
	createFile := func(base string) *http.Request {
		return signedRequest(t, http.MethodPut, base+"/data/dir/plain.txt", account, key, map[string]string{"x-ms-type": "file", "x-ms-content-length": "1"}, nil)
	}
	ans := wantStorage(t, hc, readShare(plainBase), http.StatusBadRequest, "AccountRequiresHttps")
	if !strings.HasPrefix(ans.message, "The account being accessed does not support http.") {
		t.Fatalf("message %q", ans.message)
	}
	wantStorage(t, hc, createFile(plainBase), http.StatusBadRequest, "AccountRequiresHttps")
	sasURL, err := svc.NewShareClient("data").GetSASURL(sas.SharePermissions{Read: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	sasReq, _ := http.NewRequest(http.MethodGet, strings.Replace(sasURL, "https://", "http://", 1)+"&restype=share", nil)
	sasReq.Header.Set("x-ms-version", "2025-05-05")
	wantStorage(t, hc, sasReq, http.StatusBadRequest, "AccountRequiresHttps")
	_, err = svc.NewShareClient("data").NewDirectoryClient("dir").NewFileClient("plain.txt").GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusNotFound, fileerror.ResourceNotFound)
	wantStorage(t, hc, readShare(httpsBase), http.StatusOK, "")

	// supportsHttpsTrafficOnly false: plain HTTP is served; true again: refused again.
	setHTTPSOnly(t, rg, account, false)
	wantStorage(t, hc, readShare(plainBase), http.StatusOK, "")
	wantStorage(t, hc, createFile(plainBase), http.StatusCreated, "")
	setHTTPSOnly(t, rg, account, true)
	wantStorage(t, hc, readShare(plainBase), http.StatusBadRequest, "AccountRequiresHttps")
}
