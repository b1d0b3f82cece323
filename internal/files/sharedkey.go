package files

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sort"
	"strings"
	"time"
)

// MaxClockSkew is how far the date of a Shared Key request may be from the server's clock,
// as in Azure: a signed request is a bearer credential, and the date bounds its replay.
const MaxClockSkew = 15 * time.Minute

// checkRequestDate checks the date a Shared Key request was signed at: x-ms-date, or Date
// when x-ms-date is absent, within MaxClockSkew of now. Azure's answers are 403
// AuthenticationFailed with these details.
func checkRequestDate(h http.Header, now time.Time) error {
	v := h.Get("x-ms-date")
	if v == "" {
		v = h.Get("Date")
	}
	if v == "" {
		return authFailed("Request date header not specified")
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return authFailed("The Date header in the request is incorrect.")
	}
	switch {
	case t.Before(now.Add(-MaxClockSkew)):
		return authFailed("Request date header too old: '" + t.UTC().Format(http.TimeFormat) + "'")
	case t.After(now.Add(MaxClockSkew)):
		return authFailed("Request date header too far in the future: '" + t.UTC().Format(http.TimeFormat) + "' (the allowed clock skew is 15 minutes)")
	}
	return nil
}

// stringToSign is the Shared Key string-to-sign of a File service request (version
// 2015-02-21 and later): the verb, eleven standard headers, the canonicalized x-ms-*
// headers and the canonicalized resource. The Date header is signed only when x-ms-date is
// absent: proxies may add a Date after the client signed.
func stringToSign(r *http.Request, account string) string {
	h := r.Header
	contentLength := h.Get("Content-Length")
	if contentLength == "0" {
		contentLength = ""
	}
	date := h.Get("Date")
	if h.Get("x-ms-date") != "" {
		date = ""
	}
	var b strings.Builder
	for _, v := range []string{r.Method, h.Get("Content-Encoding"), h.Get("Content-Language"), contentLength,
		h.Get("Content-MD5"), h.Get("Content-Type"), date, h.Get("If-Modified-Since"), h.Get("If-Match"),
		h.Get("If-None-Match"), h.Get("If-Unmodified-Since"), h.Get("Range")} {
		b.WriteString(v)
		b.WriteByte('\n')
	}
	var names []string
	for k := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-ms-") {
			names = append(names, lk)
		}
	}
	sort.Slice(names, func(i, j int) bool { return headerLess(names[i], names[j]) })
	for i, k := range names {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(strings.Join(h.Values(k), ","))
	}
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString("/" + account + path)
	q := r.URL.Query()
	var qs []string
	lower := map[string][]string{}
	for k, vs := range q {
		lk := strings.ToLower(k)
		if _, ok := lower[lk]; !ok {
			qs = append(qs, lk)
		}
		lower[lk] = append(lower[lk], vs...)
	}
	sort.Strings(qs)
	for _, k := range qs {
		vs := lower[k]
		sort.Strings(vs)
		b.WriteString("\n" + k + ":" + strings.Join(vs, ","))
	}
	return b.String()
}

// signSharedKey is base64(HMAC-SHA256(key, stringToSign)).
func signSharedKey(base64Key, s string) (string, bool) {
	key, err := base64.StdEncoding.DecodeString(base64Key)
	if err != nil {
		return "", false
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil)), true
}

func equalSig(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// headerLess orders canonicalized header names as Azure Storage does: a culture-aware
// comparison that ignores hyphens first, then breaks ties by the plain bytes.
func headerLess(a, b string) bool {
	sa, sb := strings.ReplaceAll(a, "-", ""), strings.ReplaceAll(b, "-", "")
	if sa != sb {
		return sa < sb
	}
	return a < b
}
