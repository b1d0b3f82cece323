package vaults

import (
	"net/http"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/keyvault"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// objects is vaults/{v}/keys[/{k}[/versions[/{ver}]]] or vaults/{v}/secrets[/{s}].
type objects struct {
	kv     *keyvault.Service
	secret bool
}

// registerObjects adds the key and secret types, each method with its control-plane action.
func registerObjects(s *arm.Service, kv *keyvault.Service) {
	keys, secrets := VaultType+"/keys", VaultType+"/secrets"
	s.Register(keys, minAPIVersion, objects{kv, false}, arm.Actions{http.MethodGet: keys + "/read", http.MethodPut: keys + "/write"})
	s.Register(keys+"/versions", minAPIVersion, objects{kv, false}, arm.Actions{http.MethodGet: keys + "/versions/read"})
	s.Register(secrets, minAPIVersion, objects{kv, true}, arm.Actions{http.MethodGet: secrets + "/read", http.MethodPut: secrets + "/write", http.MethodPatch: secrets + "/write"})
}

func (o objects) ServeARM(c *arm.Call) (int, any, error) {
	names := c.ID.Names
	if len(names) == 0 || o.kv == nil {
		return 0, nil, azerr.NotFound("ResourceNotFound", "Name a vault.")
	}
	vaultID := c.ID.Scope + "/providers/" + VaultType + "/" + names[0]
	typ := VaultType + "/keys"
	if o.secret {
		typ = VaultType + "/secrets"
	}
	action := typ + "/read"
	if c.R.Method != http.MethodGet && c.R.Method != http.MethodHead {
		action = typ + "/write"
	} else if len(c.ID.Types) == 3 {
		action = typ + "/versions/read"
	}
	if err := c.Authorize(action, vaultID); err != nil {
		return 0, nil, err
	}
	var location string
	if err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		v, err := arm.GetResourceTx(tx, vaultID)
		location = v.Location
		return err
	}); err != nil {
		return 0, nil, err
	}
	body := c.Body
	method := c.R.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	r := keyvault.ARMRequest{Vault: names[0], VaultID: vaultID, Location: location, Method: method, Body: body,
		Versions: len(c.ID.Types) == 3}
	if len(names) > 1 {
		r.Name = names[1]
	}
	if len(names) > 2 {
		r.Version = names[2]
	}
	if o.secret {
		return o.kv.ARMSecrets(c.Ctx, r)
	}
	return o.kv.ARMKeys(c.Ctx, r)
}
