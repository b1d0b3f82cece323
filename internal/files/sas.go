package files

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

func sasDenied(code, what string) error {
	return azerr.Forbidden(code, "This request is not authorized to perform this operation using this %s.", what)
}

// parseSASTime reads st/se: ISO 8601 with or without seconds.
func parseSASTime(v string) (time.Time, bool) {
	for _, f := range []string{"2006-01-02T15:04:05Z", "2006-01-02T15:04Z", "2006-01-02", time.RFC3339Nano} {
		if t, err := time.Parse(f, v); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func ipAllowed(sip, remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	lo, hi, isRange := strings.Cut(sip, "-")
	a := net.ParseIP(lo)
	if !isRange {
		return a != nil && a.Equal(ip)
	}
	b := net.ParseIP(hi)
	if a == nil || b == nil {
		return false
	}
	a4, b4, ip4 := a.To16(), b.To16(), ip.To16()
	return string(a4) <= string(ip4) && string(ip4) <= string(b4)
}

// checkSAS verifies the request's own account or service SAS for what the request does.
func (s *Service) checkSAS(r *http.Request, a Account, share, path string, op *operation) error {
	q := r.URL.Query()
	if err := s.verifySAS(r, q, a, share, path, op.resType(), op.Perms); err != nil {
		return err
	}
	// A share's SAS reaches its directories and files, not the share's own management
	// operations (properties, metadata, deletion): those take an account SAS or the key.
	if q.Get("sr") == "s" && q.Get("srt") == "" && op.Level == 'c' && op.controlAction() != "" {
		return azerr.Forbidden("AuthorizationFailure", "This request is not authorized to perform this operation: a share SAS does not authorize %s.", op.Name)
	}
	return nil
}

// verifySAS verifies an account or service SAS (signature under either account key, time
// window, protocol, IP, service, resource type, permissions) for an operation on share/path
// that needs resType and one of the permission letters in needs. The SAS is raw: the
// request's own, or one carried by a URL the request names (a copy or rename source).
func (s *Service) verifySAS(r *http.Request, raw url.Values, a Account, share, path string, resType byte, needs string) error {
	get := func(k string) string { return raw.Get(k) }
	keys, err := AccountKeys(s.barrier, a)
	if err != nil {
		return err
	}
	sp, st, se, sip, spr := get("sp"), get("st"), get("se"), get("sip"), get("spr")
	var toSign string
	account := get("ss") != "" || get("srt") != ""
	delegated := !account && get("skoid") != ""
	canonical := "/file/" + a.Name + "/" + share
	if get("sr") == "f" && path != "" {
		canonical += "/" + path
	}
	var delegate access.Principal
	switch {
	case account:
		toSign = AccountSASStringToSign(a.Name, raw)
	case delegated:
		toSign = UserDelegationSASStringToSign(canonical, raw)
		if get("si") != "" {
			return authFailed("A user delegation SAS cannot name a stored access policy (si).")
		}
		if delegate, err = s.verifyDelegationKey(raw, a, toSign); err != nil {
			return err
		}
	default:
		toSign = FileSASStringToSign(canonical, raw)
	}
	ok := delegated
	for _, k := range keys {
		if want, good := signSharedKey(k, toSign); !delegated && good && equalSig(want, get("sig")) {
			ok = true
		}
	}
	if !ok {
		return authFailed("Signature did not match. String to sign used was " + strings.ReplaceAll(toSign, "\n", `\n`))
	}
	if si := get("si"); si != "" {
		// A stored access policy of the share (Set Share ACL) gives what the SAS leaves out;
		// a field may come from one or the other, not both. Read at every request, so
		// changing or removing the policy revokes the SAS at once.
		if account {
			return authFailed("An account SAS cannot name a stored access policy (si).")
		}
		var pol *SignedIdentifier
		if err := s.st.View(r.Context(), func(tx store.Tx) error {
			sh, err := GetShareTx(tx, a.Name, share)
			if err != nil {
				return nil
			}
			for i := range sh.ACL {
				if sh.ACL[i].ID == si {
					pol = &sh.ACL[i]
				}
			}
			return nil
		}); err != nil {
			return err
		}
		if pol == nil {
			return authFailed("The signed identifier '" + si + "' does not name a stored access policy of the share.")
		}
		for _, f := range []struct {
			sas    *string
			policy string
			name   string
		}{{&sp, pol.Permission, "permissions (sp)"}, {&st, pol.Start, "start (st)"}, {&se, pol.Expiry, "expiry (se)"}} {
			if *f.sas != "" && f.policy != "" {
				return authFailed("The " + f.name + " is given by both the SAS and the stored access policy '" + si + "'.")
			}
			if *f.sas == "" {
				*f.sas = f.policy
			}
		}
	}
	now := s.now().UTC()
	exp, okExp := parseSASTime(se)
	start, okStart := parseSASTime(st)
	if !okExp || now.After(exp) || (st != "" && (!okStart || now.Before(start))) {
		return authFailed("Signature not valid in the specified time frame: Start [" + st + "] - Expiry [" + se + "] - Current [" + now.Format(http.TimeFormat) + "]")
	}
	if spr == "https" && r.TLS == nil {
		return sasDenied("AuthorizationProtocolMismatch", "protocol")
	}
	if sip != "" && !ipAllowed(sip, r.RemoteAddr) {
		return sasDenied("AuthorizationSourceIPMismatch", "source IP "+r.RemoteAddr)
	}
	if account {
		if !strings.Contains(get("ss"), "f") {
			return sasDenied("AuthorizationServiceMismatch", "service")
		}
		if !strings.ContainsRune(get("srt"), rune(resType)) {
			return sasDenied("AuthorizationResourceTypeMismatch", "resource type")
		}
	} else {
		switch get("sr") {
		case "s":
			if resType == 's' {
				return sasDenied("AuthorizationResourceTypeMismatch", "resource type")
			}
		case "f":
			if resType != 'o' || path == "" {
				return sasDenied("AuthorizationResourceTypeMismatch", "resource type")
			}
		default:
			return authFailed("The signed resource (sr) must be s (share) or f (file).")
		}
	}
	if !strings.ContainsAny(sp, needs) {
		return sasDenied("AuthorizationPermissionMismatch", "permission")
	}
	if delegated {
		// As far as the SAS's permissions and its principal's data actions both reach, now.
		return s.authorizeData(r.Context(), delegate, a, share, []string{delegatedAction(needs)})
	}
	return nil
}

// AccountSASStringToSign is what an account SAS with the parameters v signs.
func AccountSASStringToSign(account string, v url.Values) string {
	s := strings.Join([]string{account, v.Get("sp"), v.Get("ss"), v.Get("srt"), v.Get("st"), v.Get("se"), v.Get("sip"), v.Get("spr"), v.Get("sv")}, "\n") + "\n"
	if v.Get("sv") >= "2020-12-06" {
		s += v.Get("ses") + "\n"
	}
	return s
}

// FileSASStringToSign is what a File service SAS for canonical ("/file/<account>/<share>[/<path>]")
// with the parameters v signs.
func FileSASStringToSign(canonical string, v url.Values) string {
	return strings.Join([]string{v.Get("sp"), v.Get("st"), v.Get("se"), canonical, v.Get("si"), v.Get("sip"), v.Get("spr"), v.Get("sv"),
		v.Get("rscc"), v.Get("rscd"), v.Get("rsce"), v.Get("rscl"), v.Get("rsct")}, "\n")
}

// SignWithKey signs a string to sign with a base64 account key (HMAC-SHA256, base64).
func SignWithKey(base64Key, toSign string) (string, bool) { return signSharedKey(base64Key, toSign) }
