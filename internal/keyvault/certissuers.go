package keyvault

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// A vault's certificate contacts and issuers. Both are kept and served as Key Vault does,
// but Cerulean has no certificate authority integrations: an issuer record names a provider
// and credentials, and a certificate whose policy names it is refused (see
// unsupportedIssuer). An issuer's password is sealed like a secret's value.

type certContact struct {
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
}

func (c *call) contactsKey() string { return vaultKey(c.vault.Name) + "/contacts" }

func (c *call) certContacts() (int, any, error) {
	var list []certContact
	switch c.r.Method {
	case http.MethodPut:
		var in struct {
			Contacts []certContact `json:"contacts"`
		}
		if err := c.decode(&in); err != nil {
			return 0, nil, err
		}
		if len(in.Contacts) == 0 {
			return 0, nil, badParameter("The request has no 'contacts': send at least one contact (to remove them all, DELETE /certificates/contacts).")
		}
		for i, ct := range in.Contacts {
			if ct.Email == "" || !strings.Contains(ct.Email, "@") || len(ct.Email)+len(ct.Name)+len(ct.Phone) > 1024 {
				return 0, nil, badParameter("contacts[%d] needs an email address (and at most 1024 characters in all).", i)
			}
		}
		list = in.Contacts
		if err := c.svc.st.Update(c.ctx, func(tx store.Tx) error { return putJSON(tx, colCertContacts, c.contactsKey(), list) }); err != nil {
			return 0, nil, err
		}
	default:
		err := c.svc.st.Update(c.ctx, func(tx store.Tx) error {
			if err := getJSON(tx, colCertContacts, c.contactsKey(), &list); err != nil {
				return err
			}
			if c.r.Method == http.MethodDelete {
				return tx.Delete(colCertContacts, c.contactsKey())
			}
			return nil
		})
		if errors.Is(err, store.ErrNotFound) {
			return 0, nil, azerr.NotFound("ContactsNotFound", "No certificate contacts are set for vault %s.", c.vault.Name)
		}
		if err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, map[string]any{"id": VaultURI(c.vault.Name) + "/certificates/contacts", "contacts": list}, nil
}

// issuerRecord is a certificate issuer as stored: the password sealed.
type issuerRecord struct {
	Name      string            `json:"name"`
	Provider  string            `json:"provider"`
	AccountID string            `json:"accountId,omitempty"`
	SealedPwd []byte            `json:"sealedPwd,omitempty"`
	OrgID     string            `json:"orgId,omitempty"`
	Admins    []json.RawMessage `json:"admins,omitempty"`
	HasOrg    bool              `json:"hasOrg,omitempty"`
	Enabled   bool              `json:"enabled"`
	Created   int64             `json:"created"`
	Updated   int64             `json:"updated"`
	HasCreds  bool              `json:"hasCreds,omitempty"`
}

type issuerRequest struct {
	Provider    *string `json:"provider"`
	Credentials *struct {
		AccountID *string `json:"account_id"`
		Pwd       *string `json:"pwd"`
	} `json:"credentials"`
	OrgDetails *struct {
		ID           string            `json:"id"`
		AdminDetails []json.RawMessage `json:"admin_details"`
	} `json:"org_details"`
	Attributes *struct {
		Enabled *bool `json:"enabled"`
	} `json:"attributes"`
}

func issuerSealContext(v Vault, name string) string {
	return "keyvault/issuer/" + v.UID + "/" + strings.ToLower(name)
}

func issuerNotFound(name string) error {
	return azerr.NotFound("CertificateIssuerNotFound", "Issuer not found: %s.", name)
}

func (c *call) issuerID(name string) string {
	return VaultURI(c.vault.Name) + "/certificates/issuers/" + name
}

func (c *call) issuerView(r issuerRecord) map[string]any {
	m := map[string]any{"id": c.issuerID(r.Name), "provider": r.Provider,
		"attributes": map[string]any{"enabled": r.Enabled, "created": r.Created, "updated": r.Updated}}
	if r.HasCreds {
		creds := map[string]any{}
		if r.AccountID != "" {
			creds["account_id"] = r.AccountID
		}
		m["credentials"] = creds
	}
	if r.HasOrg {
		org := map[string]any{}
		if r.OrgID != "" {
			org["id"] = r.OrgID
		}
		if r.Admins != nil {
			org["admin_details"] = r.Admins
		}
		m["org_details"] = org
	}
	return m
}

// setIssuer serves PUT (create or replace) and PATCH (update what is sent).
func (c *call) setIssuer(name string) (int, any, error) {
	var in issuerRequest
	if err := c.decode(&in); err != nil {
		return 0, nil, err
	}
	put := c.r.Method == http.MethodPut
	if put && (in.Provider == nil || *in.Provider == "") {
		return 0, nil, badParameter("The request has no 'provider': name the issuer's provider (for example DigiCert or GlobalSign).")
	}
	var r issuerRecord
	err := c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		err := getJSON(tx, colCertIssuers, objKey(c.vault.Name, name), &r)
		now := c.svc.now().UTC().Unix()
		switch {
		case errors.Is(err, store.ErrNotFound) && !put:
			return issuerNotFound(name)
		case errors.Is(err, store.ErrNotFound) || put:
			created := r.Created
			r = issuerRecord{Name: name, Enabled: true, Created: now}
			if created != 0 {
				r.Created = created
			}
		case err != nil:
			return err
		}
		r.Updated = now
		if in.Provider != nil && *in.Provider != "" {
			r.Provider = *in.Provider
		}
		if in.Credentials != nil {
			r.HasCreds = true
			if in.Credentials.AccountID != nil {
				r.AccountID = *in.Credentials.AccountID
			}
			if in.Credentials.Pwd != nil {
				r.SealedPwd = c.svc.barrier.Seal(issuerSealContext(c.vault, name), []byte(*in.Credentials.Pwd))
			}
		}
		if in.OrgDetails != nil {
			r.HasOrg, r.OrgID, r.Admins = true, in.OrgDetails.ID, in.OrgDetails.AdminDetails
		}
		if in.Attributes != nil && in.Attributes.Enabled != nil {
			r.Enabled = *in.Attributes.Enabled
		}
		return putJSON(tx, colCertIssuers, objKey(c.vault.Name, name), r)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.issuerView(r), nil
}

func (c *call) getIssuer(name string) (int, any, error) {
	var r issuerRecord
	err := c.svc.st.View(c.ctx, func(tx store.Tx) error { return getJSON(tx, colCertIssuers, objKey(c.vault.Name, name), &r) })
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, issuerNotFound(name)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.issuerView(r), nil
}

func (c *call) deleteIssuer(name string) (int, any, error) {
	var r issuerRecord
	err := c.svc.st.Update(c.ctx, func(tx store.Tx) error {
		if err := getJSON(tx, colCertIssuers, objKey(c.vault.Name, name), &r); err != nil {
			return err
		}
		return tx.Delete(colCertIssuers, objKey(c.vault.Name, name))
	})
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, issuerNotFound(name)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, c.issuerView(r), nil
}

func (c *call) listIssuers() (int, any, error) {
	var rs []issuerRecord
	err := c.svc.st.View(c.ctx, func(tx store.Tx) error {
		var err error
		rs, err = listJSON[issuerRecord](tx, colCertIssuers, vaultKey(c.vault.Name)+"/")
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	from, to, next, err := c.page(names(rs, func(r issuerRecord) string { return r.Name }), "/certificates/issuers")
	if err != nil {
		return 0, nil, err
	}
	out := []any{}
	for _, r := range rs[from:to] {
		out = append(out, map[string]any{"id": c.issuerID(r.Name), "provider": r.Provider})
	}
	return http.StatusOK, map[string]any{"value": out, "nextLink": nullable(next)}, nil
}
