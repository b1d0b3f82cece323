package files

import (
	"encoding/xml"
	"io"
	"net/http"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Set and Get Share ACL: a share's stored access policies, which service SAS tokens name
// with si.

type xmlAccessPolicy struct {
	Start      string `xml:"Start,omitempty"`
	Expiry     string `xml:"Expiry,omitempty"`
	Permission string `xml:"Permission,omitempty"`
}

type xmlSignedIdentifier struct {
	ID           string           `xml:"Id"`
	AccessPolicy *xmlAccessPolicy `xml:"AccessPolicy"`
}

type xmlSignedIdentifiers struct {
	XMLName xml.Name              `xml:"SignedIdentifiers"`
	Items   []xmlSignedIdentifier `xml:"SignedIdentifier"`
}

// maxPolicies is how many stored access policies a share keeps.
const maxPolicies = 5

func (q *request) setShareACL() error {
	body, err := io.ReadAll(io.LimitReader(q.r.Body, 64<<10))
	if err != nil {
		return err
	}
	var in xmlSignedIdentifiers
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := xml.Unmarshal(body, &in); err != nil {
			return azerr.BadRequest("InvalidXmlDocument", "XML specified is not syntactically valid: %v.", err)
		}
	}
	if len(in.Items) > maxPolicies {
		return azerr.BadRequest("InvalidXmlDocument", "XML specified is not syntactically valid: a share keeps at most %d stored access policies, got %d.", maxPolicies, len(in.Items))
	}
	acl := []SignedIdentifier{}
	seen := map[string]bool{}
	for _, it := range in.Items {
		if it.ID == "" || len(it.ID) > 64 || seen[it.ID] {
			return azerr.BadRequest("InvalidXmlDocument", "XML specified is not syntactically valid: a signed identifier must be 1 to 64 characters and unique ('%s').", it.ID)
		}
		seen[it.ID] = true
		si := SignedIdentifier{ID: it.ID}
		if p := it.AccessPolicy; p != nil {
			si.Start, si.Expiry, si.Permission = p.Start, p.Expiry, p.Permission
			for _, t := range []string{p.Start, p.Expiry} {
				if _, ok := parseSASTime(t); t != "" && !ok {
					return azerr.BadRequest("InvalidXmlNodeValue", "'%s' is not an ISO 8601 time.", t)
				}
			}
			if strings.Trim(p.Permission, "rcwdl") != "" {
				return azerr.BadRequest("InvalidXmlNodeValue", "The permission '%s' may hold only r, c, w, d and l.", p.Permission)
			}
		}
		acl = append(acl, si)
	}
	return q.changeShare(func(s *Share) error { s.ACL = acl; return nil })
}

// changeShare applies change to the request's share (a new ETag and Last-Modified) and
// answers 200 with the share's headers.
func (q *request) changeShare(change func(*Share) error) error {
	var s Share
	err := q.svc.st.Update(q.ctx, func(tx store.Tx) error {
		var err error
		if s, err = GetShareTx(tx, q.account.Name, q.share); err != nil {
			return err
		}
		if err := change(&s); err != nil {
			return err
		}
		now := q.svc.now().UTC()
		s.LastModified, s.ETag = now, newETag(now)
		return PutShareTx(tx, q.account.Name, s)
	})
	if err != nil {
		return err
	}
	shareHeaders(q.w, s)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// viewShare reads the request's share.
func (q *request) viewShare() (Share, error) {
	var s Share
	err := q.svc.st.View(q.ctx, func(tx store.Tx) error {
		var err error
		s, err = GetShareTx(tx, q.account.Name, q.share)
		return err
	})
	return s, err
}

func (q *request) getShareACL() error {
	s, err := q.viewShare()
	if err != nil {
		return err
	}
	shareHeaders(q.w, s)
	var out xmlSignedIdentifiers
	for _, si := range s.ACL {
		out.Items = append(out.Items, xmlSignedIdentifier{ID: si.ID, AccessPolicy: &xmlAccessPolicy{si.Start, si.Expiry, si.Permission}})
	}
	if q.r.Method == http.MethodHead {
		q.w.WriteHeader(http.StatusOK)
		return nil
	}
	return writeXML(q.w, out)
}
