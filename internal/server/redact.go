package server

import (
	"net/url"
	"sort"
	"strings"
)

// redacted replaces a secret in a log line.
const redacted = "REDACTED"

// logPath is a request path as it may be logged: the Cloud Shell-style endpoint carries the
// host secret (which mints tokens for that machine) as its last segment, an Arc machine's
// endpoint as the segment after /arc/.
func logPath(p string) string {
	const msiHost, arc = "/msi/host/", "/arc/"
	if len(p) > len(msiHost) && strings.EqualFold(p[:len(msiHost)], msiHost) {
		return p[:len(msiHost)] + redacted
	}
	if len(p) > len(arc) && strings.EqualFold(p[:len(arc)], arc) {
		rest := ""
		if i := strings.IndexByte(p[len(arc):], '/'); i >= 0 {
			rest = p[len(arc)+i:]
		}
		return p[:len(arc)] + redacted + rest
	}
	return p
}

// logHost is a Host header as it may be logged: no userinfo.
func logHost(h string) string {
	if i := strings.LastIndex(h, "@"); i >= 0 {
		return redacted + "@" + h[i+1:]
	}
	return h
}

// logQuery is a query string as it may be logged: the values of parameters that carry
// secrets (a SAS signature, client secrets and assertions, tokens, passwords, keys, host
// secrets) replaced, everything else kept for diagnosis.
func logQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return redacted // unparseable: it cannot be told apart, so none of it is logged
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			if secretParam(k) {
				v = redacted
			}
			b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(v))
		}
	}
	return b.String()
}

// secretParam reports whether a query parameter may carry a secret.
func secretParam(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "sig", "code", "assertion", "client_assertion":
		return true
	}
	for _, s := range []string{"secret", "password", "token", "signature", "key", "credential", "identity-header", "auth"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}
