package files

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// User delegation (Get User Delegation Key, user delegation SAS): a principal signed in with
// Microsoft Entra gets a key (at most 7 days) from which it signs a SAS of its own; the SAS
// then works only as far as both its permissions and that principal's data actions reach,
// checked at every request, so removing the principal's role revokes its SASes at once. A
// key is derived, not stored: HMAC-SHA256 under the account's delegation secret (sealed in
// the account record) of the key's principal, tenant, times, service and version.
// RevokeUserDelegationKeys replaces the secret, which voids every key and SAS made so far.

const (
	udKeyTimeFormat = "2006-01-02T15:04:05Z"
	maxUDKeyLife    = 7 * 24 * time.Hour
)

func delegationContext(uid string) string { return "files/delegation-secret/" + uid }

// NewDelegationSecret replaces an account's delegation secret (RevokeUserDelegationKeys).
func NewDelegationSecret(b *seal.Barrier, a *Account) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		panic("files: no randomness: " + err.Error())
	}
	a.DelegationSecret = b.Seal(delegationContext(a.UID), raw)
}

// udKeyValue is the key (base64) for the signed key fields, under the account's secret.
func udKeyValue(b *seal.Barrier, a Account, oid, tid, start, expiry, service, version string) (string, error) {
	if len(a.DelegationSecret) == 0 {
		return "", authFailed("The user delegation key is not valid: the account has issued none (or revoked them all).")
	}
	secret, err := b.Open(delegationContext(a.UID), a.DelegationSecret)
	if err != nil {
		return "", err
	}
	v, _ := signSharedKey(base64.StdEncoding.EncodeToString(secret), strings.Join([]string{oid, tid, start, expiry, service, version}, "\n"))
	return v, nil
}

// userDelegationKey serves Get User Delegation Key (POST ?restype=service&comp=userdelegationkey).
func (q *request) userDelegationKey() error {
	p := q.caller.principal
	if p.ObjectID == "" {
		return azerr.Forbidden("AuthenticationFailed", "Get User Delegation Key takes a Microsoft Entra token (Authorization: Bearer) only.")
	}
	body, err := io.ReadAll(io.LimitReader(q.r.Body, 64<<10))
	if err != nil {
		return err
	}
	var in struct {
		Start  string `xml:"Start"`
		Expiry string `xml:"Expiry"`
		Tid    string `xml:"DelegatedUserTid"`
	}
	if err := xml.Unmarshal(body, &in); err != nil {
		return azerr.BadRequest("InvalidXmlDocument", "XML specified is not syntactically valid: a <KeyInfo> with <Start> and <Expiry>.")
	}
	now := q.svc.now().UTC()
	start := now
	if in.Start != "" {
		if start, err = time.Parse(time.RFC3339, in.Start); err != nil {
			return azerr.BadRequest("InvalidXmlNodeValue", "The value for one of the XML nodes is not in the correct format: Start %q.", in.Start)
		}
	}
	expiry, err := time.Parse(time.RFC3339, in.Expiry)
	switch {
	case err != nil:
		return azerr.BadRequest("InvalidXmlNodeValue", "The value for one of the XML nodes is not in the correct format: Expiry %q.", in.Expiry)
	case !expiry.After(start) || !expiry.After(now):
		return azerr.BadRequest("InvalidXmlNodeValue", "The key's Expiry must be after its Start and in the future.")
	case expiry.Sub(now) > maxUDKeyLife:
		return azerr.BadRequest("InvalidXmlNodeValue", "A user delegation key is valid for at most 7 days from now.")
	}
	tenant := q.svc.tokens.TenantID()
	if in.Tid != "" && !strings.EqualFold(in.Tid, tenant) {
		return azerr.Forbidden("AuthenticationFailed", "Server failed to authenticate the request: the delegated user's tenant %s is not this directory's (%s).", in.Tid, tenant)
	}
	a := q.account
	if len(a.DelegationSecret) == 0 { // the account's first key
		if err := q.svc.st.Update(q.ctx, func(tx store.Tx) error {
			cur, err := GetAccountTx(tx, a.Name)
			if err != nil {
				return err
			}
			if len(cur.DelegationSecret) == 0 {
				NewDelegationSecret(q.svc.barrier, &cur)
				if err := PutAccountTx(tx, cur); err != nil {
					return err
				}
			}
			a = cur
			return nil
		}); err != nil {
			return err
		}
	}
	st, se := start.UTC().Format(udKeyTimeFormat), expiry.UTC().Format(udKeyTimeFormat)
	value, err := udKeyValue(q.svc.barrier, a, p.ObjectID, tenant, st, se, "f", ServiceVersion)
	if err != nil {
		return err
	}
	return writeXML(q.w, struct {
		XMLName       xml.Name `xml:"UserDelegationKey"`
		SignedOid     string   `xml:"SignedOid"`
		SignedTid     string   `xml:"SignedTid"`
		SignedStart   string   `xml:"SignedStart"`
		SignedExpiry  string   `xml:"SignedExpiry"`
		SignedService string   `xml:"SignedService"`
		SignedVersion string   `xml:"SignedVersion"`
		SignedDUTid   string   `xml:"SignedDelegatedUserTid,omitempty"`
		Value         string   `xml:"Value"`
	}{SignedOid: p.ObjectID, SignedTid: tenant, SignedStart: st, SignedExpiry: se, SignedService: "f", SignedVersion: ServiceVersion, SignedDUTid: in.Tid, Value: value})
}

// UserDelegationSASStringToSign is what a user delegation SAS for canonical signs.
func UserDelegationSASStringToSign(canonical string, v url.Values) string {
	return strings.Join([]string{v.Get("sp"), v.Get("st"), v.Get("se"), canonical,
		v.Get("skoid"), v.Get("sktid"), v.Get("skt"), v.Get("ske"), v.Get("sks"), v.Get("skv"),
		v.Get("saoid"), v.Get("suoid"), v.Get("scid"), v.Get("skdutid"), v.Get("sduoid"),
		v.Get("sip"), v.Get("spr"), v.Get("sv"), v.Get("sr"), "", "",
		v.Get("rscc"), v.Get("rscd"), v.Get("rsce"), v.Get("rscl"), v.Get("rsct")}, "\n")
}

// verifyDelegationKey checks a user delegation SAS's key and signature: the key is one this
// account issued (under its current secret) to a principal of this tenant for the File
// service, and valid now. It answers the principal the SAS acts for.
func (s *Service) verifyDelegationKey(raw url.Values, a Account, toSign string) (access.Principal, error) {
	get := raw.Get
	now := s.now().UTC()
	kStart, err1 := time.Parse(time.RFC3339, get("skt"))
	kExp, err2 := time.Parse(time.RFC3339, get("ske"))
	switch {
	case err1 != nil || err2 != nil:
		return access.Principal{}, authFailed("The user delegation key's times (skt, ske) are not valid.")
	case now.Before(kStart) || now.After(kExp):
		return access.Principal{}, authFailed("The user delegation key is not valid at this time: Start [" + get("skt") + "] - Expiry [" + get("ske") + "].")
	case get("sks") != "f":
		return access.Principal{}, sasDenied("AuthorizationServiceMismatch", "service")
	case s.tokens == nil || !strings.EqualFold(get("sktid"), s.tokens.TenantID()):
		return access.Principal{}, authFailed("The user delegation key's tenant (sktid) is not this directory's.")
	}
	key, err := udKeyValue(s.barrier, a, get("skoid"), get("sktid"), get("skt"), get("ske"), get("sks"), get("skv"))
	if err != nil {
		return access.Principal{}, err
	}
	if want, ok := signSharedKey(key, toSign); !ok || !equalSig(want, get("sig")) {
		return access.Principal{}, authFailed("Signature did not match. String to sign used was " + strings.ReplaceAll(toSign, "\n", `\n`))
	}
	return access.Principal{ObjectID: get("skoid"), Display: get("skoid")}, nil
}

// delegatedAction is the data action a user delegation SAS's principal must hold for an
// operation that needs one of the SAS permission letters in needs.
func delegatedAction(needs string) string {
	switch {
	case strings.Contains(needs, "d"):
		return actionDelete
	case strings.ContainsAny(needs, "rl"):
		return actionRead
	}
	return actionWrite
}
