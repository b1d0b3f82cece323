package arm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Collections the ARM core owns.
const (
	colSubscriptions  = "arm.subscriptions"
	colResourceGroups = "arm.resourceGroups"
	colResources      = "arm.resources"
)

// minResourcesAPIVersion is the oldest Microsoft.Resources api-version accepted.
const minResourcesAPIVersion = "2014-04-01"

// Subscription is an Azure subscription of the tenant.
type Subscription struct {
	ID             string `json:"id"`
	SubscriptionID string `json:"subscriptionId"`
	TenantID       string `json:"tenantId"`
	DisplayName    string `json:"displayName"`
	State          string `json:"state"`
}

// ResourceGroup is a resource group.
type ResourceGroup struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	ManagedBy  string            `json:"managedBy,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties struct {
		ProvisioningState string `json:"provisioningState"`
	} `json:"properties"`
}

// EnsureSubscription creates the subscription if it does not exist.
func (s *Service) EnsureSubscription(ctx context.Context, subscriptionID, tenantID, displayName string) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(colSubscriptions, strings.ToLower(subscriptionID)); err == nil {
			return nil
		}
		sub := Subscription{ID: "/subscriptions/" + subscriptionID, SubscriptionID: subscriptionID, TenantID: tenantID,
			DisplayName: displayName, State: "Enabled"}
		b, _ := json.Marshal(sub)
		return tx.Put(colSubscriptions, strings.ToLower(subscriptionID), b)
	})
}

func getSubscription(tx store.Tx, id string) (Subscription, error) {
	var sub Subscription
	b, err := tx.Get(colSubscriptions, strings.ToLower(id))
	if errors.Is(err, store.ErrNotFound) {
		return sub, azerr.NotFound("SubscriptionNotFound", "The subscription '%s' could not be found.", id)
	}
	if err != nil {
		return sub, err
	}
	return sub, json.Unmarshal(b, &sub)
}

func rgKey(sub, rg string) string { return strings.ToLower(sub + "/" + rg) }

func getResourceGroup(tx store.Tx, sub, rg string) (ResourceGroup, error) {
	var g ResourceGroup
	b, err := tx.Get(colResourceGroups, rgKey(sub, rg))
	if errors.Is(err, store.ErrNotFound) {
		return g, azerr.NotFound("ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
	}
	if err != nil {
		return g, err
	}
	return g, json.Unmarshal(b, &g)
}

// serveCore handles the Microsoft.Resources paths that are not provider resource ids.
func (s *Service) serveCore(c *Call, segs, l []string) (int, any, bool, error) {
	n := len(l)
	check := func() error {
		v, err := s.checkAPIVersion(c.R, "Microsoft.Resources", minResourcesAPIVersion)
		c.APIVersion = v
		return err
	}
	wrap := func(status int, body any, err error) (int, any, bool, error) { return status, body, true, err }
	switch {
	case n == 1 && l[0] == "tenants":
		if err := check(); err != nil {
			return wrap(0, nil, err)
		}
		return wrap(s.listTenants(c))
	case n == 1 && l[0] == "subscriptions":
		if err := check(); err != nil {
			return wrap(0, nil, err)
		}
		return wrap(s.listSubscriptions(c))
	case n >= 1 && l[0] == "providers" && n <= 2:
		if err := check(); err != nil {
			return wrap(0, nil, err)
		}
		return wrap(s.serveProviders(c, "", segs[1:]))
	case n < 2 || l[0] != "subscriptions":
		return 0, nil, false, nil
	}
	sub := segs[1]
	if err := check(); err != nil {
		return wrap(0, nil, err)
	}
	if _, _, _, err := s.subscriptionOr404(c, sub); err != nil {
		return wrap(0, nil, s.notFoundOrDenied(c, "/subscriptions/"+sub, coreAction(c.R.Method, l), err))
	}
	switch {
	case n == 2:
		return wrap(s.getSubscriptionCall(c, sub))
	case n == 3 && l[2] == "resourcegroups":
		return wrap(s.listResourceGroups(c, sub))
	case n == 4 && l[2] == "resourcegroups":
		return wrap(s.serveResourceGroup(c, sub, segs[3]))
	case n == 3 && l[2] == "resources":
		return wrap(s.listResources(c, sub, ""))
	case n == 5 && l[2] == "resourcegroups" && l[4] == "resources":
		if _, err := s.rgOr404(c, sub, segs[3]); err != nil {
			return wrap(0, nil, s.notFoundOrDenied(c, "/subscriptions/"+sub+"/resourceGroups/"+segs[3], "Microsoft.Resources/subscriptions/resourceGroups/resources/read", err))
		}
		return wrap(s.listResources(c, sub, segs[3]))
	case n >= 3 && n <= 4 && l[2] == "providers",
		n == 5 && l[2] == "providers" && (l[4] == "register" || l[4] == "unregister"):
		// Provider listing and registration; /subscriptions/{s}/providers/{ns}/{type} is a
		// subscription-wide collection of a provider's type, served below.
		return wrap(s.serveProviders(c, sub, segs[3:]))
	}
	return 0, nil, false, nil
}

// notFoundOrDenied keeps "not found" from telling a caller what exists: a missing
// subscription, resource group or parent answers 404 only to a caller holding some role at,
// above or below the scope it asked about (who may learn what is there), and 403
// AuthorizationFailed for action to everyone else, exactly as for a scope that exists.
func (s *Service) notFoundOrDenied(c *Call, scope, action string, err error) error {
	if !isNotFound(err) {
		return err
	}
	ok, herr := s.gate.HasAnyWithin(c.Ctx, c.Caller, scope)
	if herr != nil {
		return herr
	}
	if ok {
		return err
	}
	if c.deniedAction == "" {
		c.deniedAction = action
	}
	return authFailed(c, action, scope)
}

// coreAction is the Microsoft.Resources action a subscription-level path asks for, named in
// the refusal of a caller with no role there.
func coreAction(method string, l []string) string {
	verb := "read"
	switch method {
	case http.MethodPut, http.MethodPatch:
		verb = "write"
	case http.MethodDelete:
		verb = "delete"
	case http.MethodPost:
		verb = "action"
	}
	switch {
	case len(l) >= 3 && l[2] == "resourcegroups":
		if len(l) == 3 {
			verb = "read"
		}
		return "Microsoft.Resources/subscriptions/resourceGroups/" + verb
	case len(l) >= 3 && l[2] == "resources":
		return "Microsoft.Resources/subscriptions/resources/read"
	case len(l) >= 3 && l[2] == "providers":
		return "Microsoft.Resources/subscriptions/providers/read"
	}
	return "Microsoft.Resources/subscriptions/read"
}

// subscriptionOr404 and rgOr404 read through the revision-checked caches: every request
// under a subscription asks for it (the result is shared: read-only).
func (s *Service) subscriptionOr404(c *Call, sub string) (Subscription, int, any, error) {
	out, err := s.subs.Get(c.Ctx, s.st, strings.ToLower(sub), func(tx store.Tx) (Subscription, error) { return getSubscription(tx, sub) })
	return out, 0, nil, err
}

func (s *Service) rgOr404(c *Call, sub, rg string) (ResourceGroup, error) {
	return s.rgs.Get(c.Ctx, s.st, rgKey(sub, rg), func(tx store.Tx) (ResourceGroup, error) { return getResourceGroup(tx, sub, rg) })
}

func (s *Service) listTenants(c *Call) (int, any, error) {
	t, err := s.dir.Tenant(c.Ctx)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"value": []map[string]any{{
		"id": "/tenants/" + t.ID, "tenantId": t.ID, "tenantCategory": "Home", "displayName": t.DisplayName,
		"defaultDomain": t.DefaultDomain, "domains": []string{t.DefaultDomain}, "tenantType": "AAD",
	}}}, nil
}

// listSubscriptions returns the subscriptions in which the caller holds any role assignment,
// as ARM does.
func (s *Service) listSubscriptions(c *Call) (int, any, error) {
	var subs []Subscription
	if err := s.st.View(c.Ctx, func(tx store.Tx) error {
		items, err := tx.List(colSubscriptions, "")
		for _, it := range items {
			var sub Subscription
			if err := json.Unmarshal(it.Value, &sub); err != nil {
				return err
			}
			subs = append(subs, sub)
		}
		return err
	}); err != nil {
		return 0, nil, err
	}
	out := []any{}
	for _, sub := range subs {
		ok, err := s.gate.HasAnyWithin(c.Ctx, c.Caller, sub.ID)
		if err != nil {
			return 0, nil, err
		}
		if ok {
			out = append(out, subscriptionView(sub))
		}
	}
	return http.StatusOK, map[string]any{"value": out, "count": map[string]any{"type": "Total", "value": len(out)}}, nil
}

func subscriptionView(sub Subscription) map[string]any {
	return map[string]any{
		"id": sub.ID, "subscriptionId": sub.SubscriptionID, "tenantId": sub.TenantID, "homeTenantId": sub.TenantID,
		"displayName": sub.DisplayName, "state": sub.State, "authorizationSource": "RoleBased", "managedByTenants": []any{},
		"subscriptionPolicies": map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
	}
}

func (s *Service) getSubscriptionCall(c *Call, sub string) (int, any, error) {
	if c.R.Method != http.MethodGet {
		return 0, nil, methodNotAllowed(c.R)
	}
	got, _, _, err := s.subscriptionOr404(c, sub)
	if err != nil {
		return 0, nil, err
	}
	// Reading a subscription needs any role in it (ARM answers 403 otherwise).
	ok, err := s.gate.HasAnyWithin(c.Ctx, c.Caller, got.ID)
	if err != nil {
		return 0, nil, err
	}
	if !ok {
		return 0, nil, authFailed(c, "Microsoft.Resources/subscriptions/read", got.ID)
	}
	return http.StatusOK, subscriptionView(got), nil
}

func authFailed(c *Call, action, scope string) error {
	return access.AuthorizationFailed(c.Caller, action, scope)
}

func methodNotAllowed(r *http.Request) error {
	return azerr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '%s'.", r.Method)
}

var rgNameRE = regexp.MustCompile(`^[-\w\._\(\)]{1,90}$`)

func (s *Service) serveResourceGroup(c *Call, sub, name string) (int, any, error) {
	id := "/subscriptions/" + sub + "/resourceGroups/" + name
	switch c.R.Method {
	case http.MethodGet, http.MethodHead:
		if err := c.Authorize("Microsoft.Resources/subscriptions/resourceGroups/read", id); err != nil {
			return 0, nil, err
		}
		g, err := s.rgOr404(c, sub, name)
		if err != nil {
			if c.R.Method == http.MethodHead {
				return http.StatusNotFound, nil, nil
			}
			return 0, nil, err
		}
		if c.R.Method == http.MethodHead {
			return http.StatusNoContent, nil, nil
		}
		return http.StatusOK, g, nil
	case http.MethodPut, http.MethodPatch:
		if err := c.Authorize("Microsoft.Resources/subscriptions/resourceGroups/write", id); err != nil {
			return 0, nil, err
		}
		if !rgNameRE.MatchString(name) || strings.HasSuffix(name, ".") {
			return 0, nil, azerr.BadRequest("InvalidResourceGroupName",
				"Resource group name '%s' is invalid: use 1-90 letters, digits, underscores, hyphens, periods (not at the end) or parentheses.", name)
		}
		var in struct {
			Location  *string           `json:"location"`
			Tags      map[string]string `json:"tags"`
			ManagedBy string            `json:"managedBy"`
		}
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
		status := http.StatusOK
		var g ResourceGroup
		err := s.st.Update(c.Ctx, func(tx store.Tx) error {
			old, err := getResourceGroup(tx, sub, name)
			exists := err == nil
			if err != nil && !isNotFound(err) {
				return err
			}
			if !exists && c.R.Method == http.MethodPatch {
				return err
			}
			if exists {
				g = old
				if in.Location != nil && !strings.EqualFold(NormalizeLocation(*in.Location), old.Location) {
					return azerr.Conflict("InvalidResourceGroupLocation",
						"Invalid resource group location '%s'. The Resource group already exists in location '%s'.", *in.Location, old.Location)
				}
			} else {
				if in.Location == nil || strings.TrimSpace(*in.Location) == "" {
					return azerr.BadRequest("LocationRequired", "The location property is required for this definition.")
				}
				status = http.StatusCreated
				g = ResourceGroup{ID: id, Name: name, Type: "Microsoft.Resources/resourceGroups", Location: NormalizeLocation(*in.Location)}
				g.Properties.ProvisioningState = "Succeeded"
			}
			if in.Tags != nil || c.R.Method == http.MethodPut {
				g.Tags = in.Tags
			}
			if in.ManagedBy != "" {
				g.ManagedBy = in.ManagedBy
			}
			doc := map[string]any{"id": g.ID, "name": g.Name, "type": g.Type, "location": g.Location}
			if g.Tags != nil {
				tags := map[string]any{}
				for k, v := range g.Tags {
					tags[k] = v
				}
				doc["tags"] = tags
			}
			if err := s.applyPolicy(c, tx, doc, g.ID, g.Name); err != nil {
				return err
			}
			b, _ := json.Marshal(g)
			return tx.Put(colResourceGroups, rgKey(sub, name), b)
		})
		return status, g, err
	case http.MethodDelete:
		if err := c.Authorize("Microsoft.Resources/subscriptions/resourceGroups/delete", id); err != nil {
			return 0, nil, err
		}
		if _, err := s.rgOr404(c, sub, name); err != nil {
			return 0, nil, err
		}
		err := s.st.Update(c.Ctx, func(tx store.Tx) error {
			items, err := tx.List(colResources, Key(id)+"/")
			if err != nil {
				return err
			}
			for _, it := range items {
				var r Resource
				if err := json.Unmarshal(it.Value, &r); err != nil {
					return err
				}
				if err := s.deleteResourceTx(tx, &r); err != nil {
					return err
				}
			}
			return tx.Delete(colResourceGroups, rgKey(sub, name))
		})
		return http.StatusOK, nil, err
	}
	return 0, nil, methodNotAllowed(c.R)
}

func isNotFound(err error) bool {
	e, ok := azerr.As(err)
	return ok && e.Status == http.StatusNotFound
}

// NormalizeLocation spells a location as ARM echoes it: lower case without spaces.
func NormalizeLocation(l string) string { return strings.ToLower(strings.ReplaceAll(l, " ", "")) }

func (s *Service) listResourceGroups(c *Call, sub string) (int, any, error) {
	if c.R.Method != http.MethodGet {
		return 0, nil, methodNotAllowed(c.R)
	}
	var groups []ResourceGroup
	if err := s.st.View(c.Ctx, func(tx store.Tx) error {
		items, err := tx.List(colResourceGroups, strings.ToLower(sub)+"/")
		for _, it := range items {
			var g ResourceGroup
			if err := json.Unmarshal(it.Value, &g); err != nil {
				return err
			}
			groups = append(groups, g)
		}
		return err
	}); err != nil {
		return 0, nil, err
	}
	out, err := filterReadable(c, "/subscriptions/"+sub, "Microsoft.Resources/subscriptions/resourceGroups/read", groups,
		func(g ResourceGroup) string { return g.ID })
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"value": out}, nil
}

// filterReadable implements ARM's list visibility: everything when the caller may read at
// the list scope, otherwise only the items it may read one by one; 403 when the caller has no
// role at, above or below the scope at all.
func filterReadable[T any](c *Call, scope, action string, items []T, idOf func(T) string) ([]T, error) {
	out := []T{}
	if c.Authorize(action, scope) == nil {
		return append(out, items...), nil
	}
	any, err := c.Svc.gate.HasAnyWithin(c.Ctx, c.Caller, scope)
	if err != nil {
		return nil, err
	}
	if !any {
		return nil, c.Authorize(action, scope)
	}
	for _, it := range items {
		if c.Authorize(action, idOf(it)) == nil {
			out = append(out, it)
		}
	}
	return out, nil
}

// listResources is GET /subscriptions/{s}[/resourceGroups/{rg}]/resources: top-level
// tracked resources with their identity blocks, optionally $filter=resourceType eq '...'.
func (s *Service) listResources(c *Call, sub, rg string) (int, any, error) {
	if c.R.Method != http.MethodGet {
		return 0, nil, methodNotAllowed(c.R)
	}
	scope := "/subscriptions/" + sub
	action := "Microsoft.Resources/subscriptions/resources/read"
	if rg != "" {
		scope += "/resourceGroups/" + rg
		action = "Microsoft.Resources/subscriptions/resourceGroups/resources/read"
	}
	filter, err := parseResourceFilter(c.R.URL.Query().Get("$filter"))
	if err != nil {
		return 0, nil, err
	}
	all, err := s.listTracked(c.Ctx, Key(scope)+"/", "")
	if err != nil {
		return 0, nil, err
	}
	var top []Resource
	for _, r := range all {
		if strings.Count(r.Type, "/") != 1 {
			continue
		}
		if !filter.match(r) {
			continue
		}
		top = append(top, r)
	}
	vis, err := filterReadable(c, scope, action, top, func(r Resource) string { return r.ID })
	if err != nil {
		return 0, nil, err
	}
	out := make([]any, 0, len(vis))
	for _, r := range vis {
		out = append(out, r.genericView())
	}
	return http.StatusOK, map[string]any{"value": out}, nil
}

// resourceFilter is the $filter of a resources list, as the Azure CLI and the SDKs send it:
// clauses joined by "and", each resourceType, resourceGroup, name, location, tagName or
// tagValue eq '<value>', or substringof('<text>', name).
type resourceFilter struct {
	eq        map[string]string // field (lower case) → value
	substring string
}

var (
	filterEqRE  = regexp.MustCompile(`(?i)^\s*(resourceType|resourceGroup|name|location|tagName|tagValue)\s+eq\s+'((?:[^']|'')*)'`)
	filterSubRE = regexp.MustCompile(`(?i)^\s*substringof\(\s*'((?:[^']|'')*)'\s*,\s*name\s*\)`)
	filterAndRE = regexp.MustCompile(`(?i)^\s+and\s+`)
)

func parseResourceFilter(f string) (resourceFilter, error) {
	out := resourceFilter{eq: map[string]string{}}
	bad := func() (resourceFilter, error) {
		return out, azerr.BadRequest("InvalidFilterInQueryString",
			"Invalid $filter '%s'. Cerulean supports clauses joined by 'and': resourceType, resourceGroup, name, location, tagName or tagValue eq '<value>', and substringof('<text>', name).", f)
	}
	rest := f
	for strings.TrimSpace(rest) != "" {
		if m := filterEqRE.FindStringSubmatch(rest); m != nil {
			field := strings.ToLower(m[1])
			if _, dup := out.eq[field]; dup {
				return bad()
			}
			out.eq[field] = strings.ReplaceAll(m[2], "''", "'")
			rest = rest[len(m[0]):]
		} else if m := filterSubRE.FindStringSubmatch(rest); m != nil && out.substring == "" {
			out.substring = strings.ReplaceAll(m[1], "''", "'")
			rest = rest[len(m[0]):]
		} else {
			return bad()
		}
		if strings.TrimSpace(rest) == "" {
			break
		}
		m := filterAndRE.FindString(rest)
		if m == "" {
			return bad()
		}
		rest = rest[len(m):]
	}
	if _, ok := out.eq["tagvalue"]; ok {
		if _, ok := out.eq["tagname"]; !ok {
			return bad() // tagValue needs its tagName
		}
	}
	return out, nil
}

func (f resourceFilter) match(r Resource) bool {
	for field, v := range f.eq {
		switch field {
		case "resourcetype":
			if !strings.EqualFold(r.Type, v) {
				return false
			}
		case "resourcegroup":
			parsed, err := ParseID(strings.Split(strings.Trim(r.ID, "/"), "/"))
			if err != nil || !strings.EqualFold(parsed.ResourceGroup, v) {
				return false
			}
		case "name":
			if !strings.EqualFold(r.Name, v) {
				return false
			}
		case "location":
			if !strings.EqualFold(strings.ReplaceAll(r.Location, " ", ""), strings.ReplaceAll(v, " ", "")) {
				return false
			}
		case "tagname":
			val, ok := tagOf(r.Tags, v)
			if !ok {
				return false
			}
			if want, has := f.eq["tagvalue"]; has && val != want {
				return false
			}
		}
	}
	return f.substring == "" || strings.Contains(strings.ToLower(r.Name), strings.ToLower(f.substring))
}

// tagOf is a tag's value, its name matched case-insensitively as Azure matches tag names.
func tagOf(tags map[string]string, name string) (string, bool) {
	for k, v := range tags {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// providerInfo describes a namespace for the providers endpoints.
func (s *Service) providerInfo(sub, ns string) map[string]any {
	canonical := s.ns[strings.ToLower(ns)]
	var types []map[string]any
	keys := make([]string, 0, len(s.types))
	for k := range s.types {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		reg := s.types[k]
		rns, rt, _ := strings.Cut(reg.typ, "/")
		if !strings.EqualFold(rns, ns) {
			continue
		}
		types = append(types, map[string]any{"resourceType": rt, "locations": []string{},
			"apiVersions": []string{time.Now().UTC().Format("2006-01-02"), reg.minVersion}})
	}
	id := "/providers/" + canonical
	if sub != "" {
		id = "/subscriptions/" + sub + id
	}
	return map[string]any{"id": id, "namespace": canonical, "registrationState": "Registered",
		"registrationPolicy": "RegistrationRequired", "resourceTypes": types}
}

// serveProviders serves provider listing and (always successful) registration: every
// namespace Cerulean implements is registered in every subscription.
func (s *Service) serveProviders(c *Call, sub string, rest []string) (int, any, error) {
	scope := "/"
	if sub != "" {
		scope = "/subscriptions/" + sub
		// A subscription's provider registrations are read by those with a role in it.
		if c.R.Method == http.MethodGet {
			ok, err := s.gate.HasAnyWithin(c.Ctx, c.Caller, scope)
			if err != nil {
				return 0, nil, err
			}
			if !ok {
				return 0, nil, authFailed(c, "Microsoft.Resources/subscriptions/providers/read", scope)
			}
		}
	}
	if len(rest) == 0 {
		if c.R.Method != http.MethodGet {
			return 0, nil, methodNotAllowed(c.R)
		}
		names := make([]string, 0, len(s.ns))
		for _, n := range s.ns {
			names = append(names, n)
		}
		sort.Strings(names)
		out := []any{}
		for _, n := range names {
			out = append(out, s.providerInfo(sub, n))
		}
		return http.StatusOK, map[string]any{"value": out}, nil
	}
	ns := rest[0]
	if _, ok := s.ns[strings.ToLower(ns)]; !ok {
		return 0, nil, azerr.NotFound("InvalidResourceNamespace", "The resource namespace '%s' is invalid or not supported by Cerulean.", ns)
	}
	switch {
	case len(rest) == 1 && c.R.Method == http.MethodGet:
		return http.StatusOK, s.providerInfo(sub, ns), nil
	case len(rest) == 2 && sub != "" && c.R.Method == http.MethodPost &&
		(strings.EqualFold(rest[1], "register") || strings.EqualFold(rest[1], "unregister")):
		verb := strings.ToLower(rest[1])
		if err := c.Authorize(s.ns[strings.ToLower(ns)]+"/"+verb+"/action", scope); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, s.providerInfo(sub, ns), nil
	}
	return 0, nil, methodNotAllowed(c.R)
}

// metadataEndpoints describes the cloud for `az cloud register --endpoint-resource-manager`.
func (s *Service) metadataEndpoints(r *http.Request) (int, any, error) {
	if v := apiVersion(r); v == "" {
		return 0, nil, azerr.BadRequest("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
	}
	base := "https://" + r.Host
	return http.StatusOK, map[string]any{
		"galleryEndpoint": base + "/",
		"graphEndpoint":   "https://graph.windows.net/",
		"portalEndpoint":  base + "/",
		"authentication": map[string]any{
			"loginEndpoint": base + "/adfs",
			"audiences":     []string{"https://management.core.windows.net/", "https://management.azure.com/"},
		},
		"name": "Cerulean",
		"suffixes": map[string]any{
			"keyVaultDns": "vault.azure.net", "storage": "core.windows.net",
		},
		"resourceManager": base + "/",
	}, nil
}

// ScopeExistsTx checks that the subscription, resource group and resource a scope names
// exist (ResourceGroupNotFound etc. otherwise).
func ScopeExistsTx(tx store.Tx, id ID) error {
	if id.SubscriptionID == "" {
		return azerr.BadRequest("InvalidScope", "The scope must be a subscription or below it.")
	}
	if _, err := getSubscription(tx, id.SubscriptionID); err != nil {
		return err
	}
	if id.ResourceGroup != "" {
		if _, err := getResourceGroup(tx, id.SubscriptionID, id.ResourceGroup); err != nil {
			return err
		}
	}
	if id.Namespace != "" && len(id.Names) > 0 {
		_, err := GetResourceTx(tx, id.ResourceID())
		return err
	}
	return nil
}
