package keyvault

import (
	"context"
	"encoding/json"
	"math/big"
	"net/http"
	"sort"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Resource Manager's view of a vault's keys and secrets (Microsoft.KeyVault/vaults/keys,
// vaults/keys/versions and vaults/secrets, what Bicep and the arm SDKs use): the same
// objects the data plane serves, managed with control-plane actions that Resource Manager
// checks before calling these. Secret values go in, never out.

// ARMRequest is one Resource Manager call on a vault's keys or secrets.
type ARMRequest struct {
	Vault    string // the vault's name
	VaultID  string // its Resource Manager id
	Location string
	Method   string
	Name     string // the key or secret ("" lists them)
	Version  string // a key version
	Versions bool   // list a key's versions
	Body     []byte
}

func (s *Service) armCall(ctx context.Context, vaultName string) (*call, error) {
	v, err := s.vault(ctx, vaultName)
	if err == ErrVaultNotFound || (err == nil && v.Deleted()) {
		return nil, azerr.NotFound("ResourceNotFound", "The vault '%s' was not found.", vaultName)
	}
	if err != nil {
		return nil, err
	}
	return &call{ctx: ctx, vault: v, svc: s, base: VaultURI(v.Name)}, nil
}

// armResource wraps properties in Resource Manager's resource shape.
func armResource(id, name, typ, location string, tags map[string]string, props map[string]any) map[string]any {
	m := map[string]any{"id": id, "name": name, "type": typ, "location": location, "properties": props}
	if len(tags) > 0 {
		m["tags"] = tags
	}
	return m
}

func (c *call) armAttributes(a attributes) map[string]any {
	m := c.attributesView(a)
	delete(m, "recoverableDays")
	if _, ok := m["exportable"]; !ok {
		m["exportable"] = false
	}
	return m
}

func (c *call) armKey(r ARMRequest, kv keyVersion, asVersion bool) map[string]any {
	props := map[string]any{"attributes": c.armAttributes(kv.Attributes), "kty": kv.Kty, "keyOps": kv.KeyOps,
		"keyUri": c.kid(kv.Name, ""), "keyUriWithVersion": c.kid(kv.Name, kv.Version)}
	if isRSA(kv.Kty) {
		if n, err := b64(kv.Public.N); err == nil {
			props["keySize"] = new(big.Int).SetBytes(n).BitLen()
		}
	} else {
		props["curveName"] = kv.Public.Crv
	}
	id, name, typ := r.VaultID+"/keys/"+kv.Name, kv.Name, "Microsoft.KeyVault/vaults/keys"
	if asVersion {
		id, name, typ = id+"/versions/"+kv.Version, kv.Version, "Microsoft.KeyVault/vaults/keys/versions"
	}
	return armResource(id, name, typ, r.Location, kv.Tags, props)
}

func (c *call) armSecret(r ARMRequest, sv secretVersion) map[string]any {
	props := map[string]any{"attributes": c.armAttributes(sv.Attributes), "secretUri": c.secretID(sv.Name, ""),
		"secretUriWithVersion": c.secretID(sv.Name, sv.Version)}
	if sv.ContentType != "" {
		props["contentType"] = sv.ContentType
	}
	return armResource(r.VaultID+"/secrets/"+sv.Name, sv.Name, "Microsoft.KeyVault/vaults/secrets", r.Location, sv.Tags, props)
}

// armIn is the request form of a key or secret resource.
type armIn struct {
	Tags       map[string]string `json:"tags"`
	Properties struct {
		Kty        string          `json:"kty"`
		KeySize    *int            `json:"keySize"`
		KeyOps     []string        `json:"keyOps"`
		CurveName  string          `json:"curveName"`
		Attributes *attributesIn   `json:"attributes"`
		Release    json.RawMessage `json:"release_policy"`
		Value      *string         `json:"value"`
		Type       *string         `json:"contentType"`
	} `json:"properties"`
}

func decodeARM(body []byte) (armIn, error) {
	var in armIn
	if err := json.Unmarshal(body, &in); err != nil {
		return in, azerr.BadRequest("InvalidRequestContent", "The request content is not valid JSON: %v.", err)
	}
	return in, nil
}

// ARMKeys serves vaults/{vault}/keys, keys/{name} (GET; PUT creates the key only if it does
// not exist, as Keys_CreateIfNotExist) and keys/{name}/versions[/{version}].
func (s *Service) ARMKeys(ctx context.Context, r ARMRequest) (int, any, error) {
	c, err := s.armCall(ctx, r.Vault)
	if err != nil {
		return 0, nil, err
	}
	switch {
	case r.Method == http.MethodGet && r.Name == "":
		var out []map[string]any
		err := s.st.View(ctx, func(tx store.Tx) error {
			objs, cur, err := c.keysTx(tx, false)
			for _, o := range objs {
				out = append(out, c.armKey(r, cur[strings.ToLower(o.Name)], false))
			}
			return err
		})
		return http.StatusOK, map[string]any{"value": nonNil(out)}, err
	case r.Method == http.MethodGet && r.Versions && r.Version == "":
		var out []map[string]any
		err := s.st.View(ctx, func(tx store.Tx) error {
			if _, err := c.loadKey(tx, r.Name, false); err != nil {
				return err
			}
			vs, err := c.versionsTx(tx, r.Name)
			for _, kv := range vs {
				out = append(out, c.armKey(r, kv, true))
			}
			return err
		})
		sort.Slice(out, func(i, j int) bool { return out[i]["name"].(string) < out[j]["name"].(string) })
		return http.StatusOK, map[string]any{"value": nonNil(out)}, err
	case r.Method == http.MethodGet:
		var kv keyVersion
		err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			_, kv, err = c.loadVersion(tx, r.Name, r.Version)
			return err
		})
		return http.StatusOK, c.armKey(r, kv, r.Versions), err
	case r.Method == http.MethodPut && !r.Versions:
		var kv keyVersion
		if err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			_, kv, err = c.loadVersion(tx, r.Name, "")
			return err
		}); err == nil {
			return http.StatusOK, c.armKey(r, kv, false), nil // it exists: left as it is
		}
		in, err := decodeARM(r.Body)
		if err != nil {
			return 0, nil, err
		}
		p := in.Properties
		if p.Kty == "" {
			return 0, nil, azerr.BadRequest("BadParameter", "properties.kty is required: RSA, RSA-HSM, EC or EC-HSM.")
		}
		if c.body, err = json.Marshal(createKeyRequest{Kty: p.Kty, KeySize: p.KeySize, KeyOps: p.KeyOps, Attributes: p.Attributes,
			Tags: in.Tags, Crv: p.CurveName, ReleasePolicy: p.Release}); err != nil {
			return 0, nil, err
		}
		if _, _, err := c.createKey(r.Name); err != nil {
			return 0, nil, err
		}
		r.Method = http.MethodGet
		return s.ARMKeys(ctx, r)
	}
	return 0, nil, azerr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '%s'.", r.Method)
}

// ARMSecrets serves vaults/{vault}/secrets and secrets/{name}: GET, PUT (a new version with
// the value given) and PATCH (a new version when a value is given, else the current
// version's content type, attributes and tags).
func (s *Service) ARMSecrets(ctx context.Context, r ARMRequest) (int, any, error) {
	c, err := s.armCall(ctx, r.Vault)
	if err != nil {
		return 0, nil, err
	}
	current := func() (int, any, error) {
		var sv secretVersion
		err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			sv, err = c.loadSecretVersion(tx, r.Name, "")
			return err
		})
		return http.StatusOK, c.armSecret(r, sv), err
	}
	switch {
	case r.Method == http.MethodGet && r.Name == "":
		var out []map[string]any
		err := s.st.View(ctx, func(tx store.Tx) error {
			objs, cur, err := c.secretsTx(tx, false)
			for _, o := range objs {
				out = append(out, c.armSecret(r, cur[strings.ToLower(o.Name)]))
			}
			return err
		})
		return http.StatusOK, map[string]any{"value": nonNil(out)}, err
	case r.Method == http.MethodGet:
		return current()
	case r.Method == http.MethodPut || r.Method == http.MethodPatch:
		in, err := decodeARM(r.Body)
		if err != nil {
			return 0, nil, err
		}
		p := in.Properties
		if r.Method == http.MethodPut || p.Value != nil {
			if p.Value == nil {
				return 0, nil, azerr.BadRequest("BadParameter", "properties.value is required to create a secret.")
			}
			body := map[string]any{"value": *p.Value, "attributes": p.Attributes, "tags": in.Tags}
			if p.Type != nil {
				body["contentType"] = *p.Type
			}
			if c.body, err = json.Marshal(body); err != nil {
				return 0, nil, err
			}
			if _, _, err := c.setSecret(r.Name); err != nil {
				return 0, nil, err
			}
			return current()
		}
		body := map[string]any{"attributes": p.Attributes}
		if p.Type != nil {
			body["contentType"] = *p.Type
		}
		if in.Tags != nil {
			body["tags"] = in.Tags
		}
		if c.body, err = json.Marshal(body); err != nil {
			return 0, nil, err
		}
		var sv secretVersion
		if err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			sv, err = c.loadSecretVersion(tx, r.Name, "")
			return err
		}); err != nil {
			return 0, nil, err
		}
		if _, _, err := c.updateSecret(r.Name, sv.Version); err != nil {
			return 0, nil, err
		}
		return current()
	}
	return 0, nil, azerr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '%s'.", r.Method)
}

func nonNil(v []map[string]any) []map[string]any {
	if v == nil {
		return []map[string]any{}
	}
	return v
}
