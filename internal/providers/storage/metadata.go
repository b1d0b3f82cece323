package storage

import (
	"net/http"
	"sort"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// The provider's metadata, as armstorage's live tests read it: the operations it serves
// (from the routes Resource Manager has registered for Microsoft.Storage), the SKUs it
// offers, and the accounts a subscription has per location beside Azure's limit.

// registerMetadata adds the metadata routes and the account actions that change nothing.
func (p *Provider) registerMetadata(s *arm.Service) {
	// The operations list is the provider's public description, the same for every caller:
	// Azure serves it to anyone signed in, at tenant level, where no role is ever assigned.
	s.Register("Microsoft.Storage/operations", minAPIVersion, operations{s}, arm.Actions{http.MethodGet: arm.OwnView})
	s.Register("Microsoft.Storage/skus", minAPIVersion, skuList{}, arm.Actions{http.MethodGet: "Microsoft.Storage/skus/read"})
	s.Register("Microsoft.Storage/locations/usages", minAPIVersion, usages{}, arm.Actions{http.MethodGet: "Microsoft.Storage/locations/usages/read"})
	s.Register(AccountType+"/revokeUserDelegationKeys", minAPIVersion, revokeDelegationKeys{p},
		arm.Actions{http.MethodPost: AccountType + "/revokeUserDelegationKeys/action"})
	s.Register(AccountType+"/ListAccountSas", minAPIVersion, sasAction{p, true}, arm.Actions{http.MethodPost: AccountType + "/listAccountSas/action"})
	s.Register(AccountType+"/ListServiceSas", minAPIVersion, sasAction{p, false}, arm.Actions{http.MethodPost: AccountType + "/listServiceSas/action"})
}

type operations struct{ s *arm.Service }

func (o operations) ServeARM(c *arm.Call) (int, any, error) {
	if c.R.Method != http.MethodGet {
		return 0, nil, methodNotAllowed(c.R)
	}
	seen := map[string]bool{}
	var out []map[string]any
	for _, r := range o.s.Routes() {
		if !strings.HasPrefix(r.Action, "Microsoft.Storage/") || seen[r.Action] || r.Method == http.MethodHead {
			continue
		}
		seen[r.Action] = true
		parts := strings.Split(r.Action, "/")
		out = append(out, map[string]any{"name": r.Action, "origin": "user,system", "display": map[string]string{
			"provider": "Microsoft Storage", "resource": strings.Join(parts[1:len(parts)-1], "/"), "operation": parts[len(parts)-1],
			"description": "Served by Cerulean: " + r.Method + " on " + r.Type + "."}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["name"].(string) < out[j]["name"].(string) })
	return http.StatusOK, map[string]any{"value": out}, nil
}

type skuList struct{}

// skuNames are the SKUs Cerulean's accounts take, with their tier and the kinds they fit.
var skuNames = []struct {
	name, tier string
	kinds      []string
}{
	{"Standard_LRS", "Standard", []string{"StorageV2", "Storage"}},
	{"Standard_GRS", "Standard", []string{"StorageV2", "Storage"}},
	{"Standard_RAGRS", "Standard", []string{"StorageV2", "Storage"}},
	{"Standard_ZRS", "Standard", []string{"StorageV2"}},
	{"Standard_GZRS", "Standard", []string{"StorageV2"}},
	{"Standard_RAGZRS", "Standard", []string{"StorageV2"}},
	{"Premium_LRS", "Premium", []string{"FileStorage", "StorageV2"}},
	{"Premium_ZRS", "Premium", []string{"FileStorage", "StorageV2"}},
}

var skuLocations = []string{"eastus", "eastus2", "westus", "westus2", "westus3", "centralus", "northeurope", "westeurope"}

func (skuList) ServeARM(c *arm.Call) (int, any, error) {
	if c.R.Method != http.MethodGet {
		return 0, nil, methodNotAllowed(c.R)
	}
	var out []map[string]any
	for _, s := range skuNames {
		for _, k := range s.kinds {
			out = append(out, map[string]any{"resourceType": "storageAccounts", "name": s.name, "tier": s.tier, "kind": k,
				"locations": skuLocations, "capabilities": []map[string]string{{"name": "supportsfileencryption", "value": "true"}},
				"restrictions": []any{}})
		}
	}
	return http.StatusOK, map[string]any{"value": out}, nil
}

type usages struct{}

// accountLimit is Azure's default number of storage accounts per subscription and region.
const accountLimit = 250

func (usages) ServeARM(c *arm.Call) (int, any, error) {
	if c.R.Method != http.MethodGet || c.ID.SubscriptionID == "" || len(c.ID.Names) == 0 {
		return 0, nil, methodNotAllowed(c.R)
	}
	location := c.ID.Names[0]
	n := 0
	err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		rs, err := arm.ListResourcesTx(tx, "/subscriptions/"+c.ID.SubscriptionID+"/")
		for _, r := range rs {
			if strings.EqualFold(r.Type, AccountType) && strings.EqualFold(strings.ReplaceAll(r.Location, " ", ""), location) {
				n++
			}
		}
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"value": []map[string]any{{"unit": "Count", "currentValue": n, "limit": accountLimit,
		"name": map[string]string{"value": "StorageAccounts", "localizedValue": "Storage Accounts Count"}}}}, nil
}

// revokeDelegationKeys revokes the account's user delegation keys: a new delegation secret
// voids every key issued so far and every user delegation SAS signed with one.
type revokeDelegationKeys struct{ p *Provider }

func (r revokeDelegationKeys) ServeARM(c *arm.Call) (int, any, error) {
	if c.R.Method != http.MethodPost {
		return 0, nil, methodNotAllowed(c.R)
	}
	id := c.ID.Parent()
	if err := c.Authorize(AccountType+"/revokeUserDelegationKeys/action", id); err != nil {
		return 0, nil, err
	}
	err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error {
		a, err := accountRecordTx(tx, c, id)
		if err != nil {
			return err
		}
		files.NewDelegationSecret(r.p.barrier, &a)
		return files.PutAccountTx(tx, a)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}
