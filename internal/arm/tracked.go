package arm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/activity"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/policy"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/sts"
)

// Resource is a tracked ARM resource as stored.
type Resource struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	SKU        json.RawMessage   `json:"sku,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Identity   *Identity         `json:"identity,omitempty"`
	Properties json.RawMessage   `json:"properties,omitempty"`
	SystemData *SystemData       `json:"systemData,omitempty"`
}

// SystemData is ARM's creation and modification record.
type SystemData struct {
	CreatedBy          string    `json:"createdBy"`
	CreatedByType      string    `json:"createdByType"`
	CreatedAt          time.Time `json:"createdAt"`
	LastModifiedBy     string    `json:"lastModifiedBy"`
	LastModifiedByType string    `json:"lastModifiedByType"`
	LastModifiedAt     time.Time `json:"lastModifiedAt"`
}

// genericView is the resource as /resources lists it.
func (r Resource) genericView() map[string]any {
	m := map[string]any{"id": r.ID, "name": r.Name, "type": r.Type, "location": r.Location}
	if r.Tags != nil {
		m["tags"] = r.Tags
	}
	if len(r.SKU) > 0 {
		m["sku"] = r.SKU
	}
	if r.Kind != "" {
		m["kind"] = r.Kind
	}
	if r.Identity != nil {
		m["identity"] = r.Identity
	}
	return m
}

// GetResourceTx loads a tracked resource by id.
func GetResourceTx(tx store.Tx, id string) (Resource, error) {
	var r Resource
	b, err := tx.Get(colResources, Key(id))
	if errors.Is(err, store.ErrNotFound) {
		return r, errResourceNotFound(id)
	}
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(b, &r)
}

func errResourceNotFound(id string) error {
	parsed, _ := ParseID(strings.Split(strings.Trim(id, "/"), "/"))
	return azerr.NotFound("ResourceNotFound", "The Resource '%s/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
		parsed.FullType(), parsed.Name(), parsed.ResourceGroup)
}

// ListResourcesTx lists the tracked resources whose ids start with prefix (in Key form).
func ListResourcesTx(tx store.Tx, prefix string) ([]Resource, error) {
	items, err := tx.List(colResources, Key(prefix))
	if err != nil {
		return nil, err
	}
	out := make([]Resource, 0, len(items))
	for _, it := range items {
		var r Resource
		if err := json.Unmarshal(it.Value, &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// PutResourceTx stores a tracked resource as it is (for providers updating read-only
// properties outside a request).
func PutResourceTx(tx store.Tx, r Resource) error { return putResourceTx(tx, r) }

func putResourceTx(tx store.Tx, r Resource) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Put(colResources, Key(r.ID), b)
}

func (s *Service) listTracked(ctx context.Context, prefix, fullType string) ([]Resource, error) {
	var out []Resource
	err := s.st.View(ctx, func(tx store.Tx) error {
		items, err := tx.List(colResources, prefix)
		if err != nil {
			return err
		}
		for _, it := range items {
			var r Resource
			if err := json.Unmarshal(it.Value, &r); err != nil {
				return err
			}
			if fullType == "" || strings.EqualFold(r.Type, fullType) {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

// Wrapper is a Handler that serves through another (a provider's long-running-operation
// shape around a TrackedType, say): deleting a resource still runs the wrapped type's hooks.
type Wrapper interface {
	Unwrap() Handler
}

// TrackedType is a resource provider's description of a tracked resource type; it serves
// GET/PUT/PATCH/DELETE on items and GET on collections (by resource group and by
// subscription) with ARM's RBAC, identity and envelope rules. Hooks supply what is
// particular to the type.
type TrackedType struct {
	Type string
	// Identity tells whether the type carries an identity block, and how it spells the
	// combined type ("SystemAssigned, UserAssigned" or "SystemAssigned,UserAssigned").
	Identity         bool
	CombinedSpelling string
	// NameRE validates resource names (nil: 1-64 of letters, digits, '-', '_', '.').
	NameRE *regexp.Regexp
	// InvalidName is the error a name NameRE refuses answers (nil: InvalidResourceName).
	InvalidName func(name string) error
	// Properties validates and normalises the request's properties on PUT/PATCH, given the
	// stored ones (nil on create). It returns what to store.
	Properties func(c *Call, old, in json.RawMessage) (json.RawMessage, error)
	// OnCreate and OnDelete run inside the writing transaction; OnWrite runs after OnCreate
	// on every create or update (created tells which), just before the resource is stored.
	OnCreate func(c *Call, tx store.Tx, r *Resource) error
	OnWrite  func(c *Call, tx store.Tx, r *Resource, created bool) error
	OnDelete func(s *Service, tx store.Tx, r *Resource) error
	// CreatedStatus is the status a create answers (default 201; Microsoft.Storage answers
	// 200, and its SDK clients accept nothing else for a synchronous create).
	CreatedStatus int
}

var defaultNameRE = regexp.MustCompile(`^[A-Za-z0-9][-A-Za-z0-9_.]{0,63}$`)

// ServeARM implements Handler.
func (t *TrackedType) ServeARM(c *Call) (int, any, error) {
	if len(c.ID.Types) != 1 {
		return 0, nil, azerr.BadRequest("InvalidResourceType", "The resource type '%s' is not supported.", c.ID.FullType())
	}
	if c.ID.IsCollection() {
		if c.R.Method != http.MethodGet {
			return 0, nil, methodNotAllowed(c.R)
		}
		return t.list(c)
	}
	if c.ID.ResourceGroup == "" {
		return 0, nil, badPath("The resource id '%s' must name a resource group: /subscriptions/{id}/resourceGroups/{name}/providers/%s/{name}.", c.ID.Raw, t.Type)
	}
	switch c.R.Method {
	case http.MethodGet:
		return t.get(c)
	case http.MethodPut, http.MethodPatch:
		return t.write(c)
	case http.MethodDelete:
		return t.delete(c)
	}
	return 0, nil, methodNotAllowed(c.R)
}

func (t *TrackedType) canonicalID(c *Call) string {
	return c.ID.Scope + "/providers/" + t.namespace() + "/" + t.typeName() + "/" + c.ID.Name()
}

func (t *TrackedType) namespace() string { ns, _, _ := strings.Cut(t.Type, "/"); return ns }
func (t *TrackedType) typeName() string  { _, tn, _ := strings.Cut(t.Type, "/"); return tn }

func (t *TrackedType) get(c *Call) (int, any, error) {
	id := t.canonicalID(c)
	if err := c.Authorize(t.Type+"/read", id); err != nil {
		return 0, nil, err
	}
	var r Resource
	err := c.Svc.st.View(c.Ctx, func(tx store.Tx) error {
		var err error
		r, err = GetResourceTx(tx, id)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, t.view(r), nil
}

func (t *TrackedType) list(c *Call) (int, any, error) {
	scope := c.ID.Scope
	all, err := c.Svc.listTracked(c.Ctx, Key(scope)+"/", t.Type)
	if err != nil {
		return 0, nil, err
	}
	vis, err := filterReadable(c, scope, t.Type+"/read", all, func(r Resource) string { return r.ID })
	if err != nil {
		return 0, nil, err
	}
	out := make([]any, 0, len(vis))
	for _, r := range vis {
		out = append(out, t.view(r))
	}
	return http.StatusOK, map[string]any{"value": out}, nil
}

// view shapes a stored resource for the response, spelling the identity type the type's way.
func (t *TrackedType) view(r Resource) Resource {
	if r.Identity != nil && t.CombinedSpelling != "" && r.Identity.Type == IdentitySystemAndUser {
		id := *r.Identity
		id.Type = t.CombinedSpelling
		r.Identity = &id
	}
	if len(r.Properties) == 0 {
		r.Properties = json.RawMessage(`{}`)
	}
	return r
}

type writeBody struct {
	Location   *string           `json:"location"`
	Tags       map[string]string `json:"tags"`
	SKU        json.RawMessage   `json:"sku"`
	Kind       string            `json:"kind"`
	Identity   json.RawMessage   `json:"identity"`
	Properties json.RawMessage   `json:"properties"`
}

func (t *TrackedType) write(c *Call) (int, any, error) {
	id := t.canonicalID(c)
	if err := c.Authorize(t.Type+"/write", id); err != nil {
		return 0, nil, err
	}
	re := t.NameRE
	if re == nil {
		re = defaultNameRE
	}
	if !re.MatchString(c.ID.Name()) {
		if t.InvalidName != nil {
			return 0, nil, t.InvalidName(c.ID.Name())
		}
		return 0, nil, azerr.BadRequest("InvalidResourceName", "The resource name '%s' is invalid for type '%s'. It must match %s.", c.ID.Name(), t.Type, re.String())
	}
	var in writeBody
	if err := c.Decode(&in); err != nil {
		return 0, nil, err
	}
	var idIn *identityInput
	if len(in.Identity) > 0 && string(in.Identity) != "null" {
		if !t.Identity {
			return 0, nil, azerr.BadRequest("InvalidIdentity", "Resources of type '%s' do not support managed identities.", t.Type)
		}
		var err error
		if idIn, err = parseIdentityInput(in.Identity); err != nil {
			return 0, nil, err
		}
	}
	status := http.StatusOK
	var out Resource
	now := c.Svc.now().UTC()
	err := c.Svc.st.Update(c.Ctx, func(tx store.Tx) error {
		old, err := GetResourceTx(tx, id)
		exists := err == nil
		if err != nil && !isNotFound(err) {
			return err
		}
		if !exists && c.R.Method == http.MethodPatch {
			return err
		}
		r := old
		if !exists {
			if in.Location == nil || strings.TrimSpace(*in.Location) == "" {
				return azerr.BadRequest("LocationRequired", "The location property is required for this definition.")
			}
			status = http.StatusCreated
			if t.CreatedStatus != 0 {
				status = t.CreatedStatus
			}
			r = Resource{ID: id, Name: c.ID.Name(), Type: t.Type, Location: NormalizeLocation(*in.Location),
				SystemData: &SystemData{CreatedBy: c.Caller.Display, CreatedByType: createdByType(c.Claims), CreatedAt: now}}
		} else if in.Location != nil && NormalizeLocation(*in.Location) != old.Location {
			return azerr.BadRequest("LocationNotAvailableForResourceType",
				"The resource '%s' already exists in location '%s'; it cannot be moved to '%s'.", id, old.Location, *in.Location)
		}
		if in.Tags != nil || c.R.Method == http.MethodPut {
			r.Tags = in.Tags
		}
		if len(in.SKU) > 0 && string(in.SKU) != "null" {
			r.SKU = in.SKU
		}
		if in.Kind != "" {
			r.Kind = in.Kind
		}
		if t.Properties != nil && (len(in.Properties) > 0 || !exists) {
			var oldProps json.RawMessage
			if exists {
				oldProps = old.Properties
			}
			if r.Properties, err = t.Properties(c, oldProps, in.Properties); err != nil {
				return err
			}
		}
		if idIn != nil || (c.R.Method == http.MethodPut && exists && old.Identity != nil) {
			if idIn == nil {
				idIn = &identityInput{Type: IdentityNone}
			}
			if err := c.Svc.applyIdentity(c, tx, &r, idIn, c.R.Method == http.MethodPatch); err != nil {
				return err
			}
		}
		if r.SystemData == nil {
			r.SystemData = &SystemData{}
		}
		r.SystemData.LastModifiedBy, r.SystemData.LastModifiedByType, r.SystemData.LastModifiedAt = c.Caller.Display, createdByType(c.Claims), now
		if !exists && t.OnCreate != nil {
			if err := t.OnCreate(c, tx, &r); err != nil {
				return err
			}
		}
		if t.OnWrite != nil {
			if err := t.OnWrite(c, tx, &r, !exists); err != nil {
				return err
			}
		}
		if err := c.Svc.applyPolicy(c, tx, r.Document(), r.ID, r.Name); err != nil {
			return err
		}
		out = r
		return putResourceTx(tx, r)
	})
	if err != nil {
		return 0, nil, err
	}
	return status, t.view(out), nil
}

func createdByType(c sts.Claims) string {
	if c.IdentityType == "user" {
		return "User"
	}
	return "Application"
}

func (t *TrackedType) delete(c *Call) (int, any, error) {
	id := t.canonicalID(c)
	if err := c.Authorize(t.Type+"/delete", id); err != nil {
		return 0, nil, err
	}
	status := http.StatusOK
	err := c.Svc.st.Update(c.Ctx, func(tx store.Tx) error {
		r, err := GetResourceTx(tx, id)
		if isNotFound(err) {
			status = http.StatusNoContent
			return nil
		}
		if err != nil {
			return err
		}
		return c.Svc.deleteResourceTx(tx, &r)
	})
	return status, nil, err
}

// deleteResourceTx removes a resource: its type's hook runs, its system-assigned identity is
// soft-deleted, and its child resources go with it.
func (s *Service) deleteResourceTx(tx store.Tx, r *Resource) error {
	if reg, ok := s.types[strings.ToLower(r.Type)]; ok {
		h := reg.h
		for {
			w, ok := h.(Wrapper)
			if !ok {
				break
			}
			h = w.Unwrap()
		}
		if t, ok := h.(*TrackedType); ok && t.OnDelete != nil {
			if err := t.OnDelete(s, tx, r); err != nil {
				return err
			}
		}
	}
	if r.Identity != nil && r.Identity.PrincipalID != "" {
		if err := s.dir.DeleteTx(tx, r.Identity.PrincipalID); err != nil && !errors.Is(err, directory.ErrPrincipalNotFound) {
			return err
		}
	}
	children, err := tx.List(colResources, Key(r.ID)+"/")
	if err != nil {
		return err
	}
	for _, ch := range children {
		if err := tx.Delete(colResources, ch.Key); err != nil {
			return err
		}
	}
	return tx.Delete(colResources, Key(r.ID))
}

// HostIdentities implements sts.HostResolver: the identities a host resource carries now
// (cached at the revision of resources and principals: the answer is shared, read-only).
func (s *Service) HostIdentities(ctx context.Context, hostID string) (sts.HostIdentities, error) {
	return s.hosts.Get(ctx, s.st, strings.ToLower(hostID), func(tx store.Tx) (sts.HostIdentities, error) { return s.hostIdentitiesTx(tx, hostID) })
}

func (s *Service) hostIdentitiesTx(tx store.Tx, hostID string) (sts.HostIdentities, error) {
	var hi sts.HostIdentities
	err := func() error {
		r, err := GetResourceTx(tx, hostID)
		if isNotFound(err) {
			return sts.ErrHostNotFound
		}
		if err != nil {
			return err
		}
		hi.HostID = r.ID
		if r.Identity == nil {
			return nil
		}
		if r.Identity.PrincipalID != "" {
			p, err := s.dir.GetTx(tx, r.Identity.PrincipalID)
			if err == nil && !p.Deleted() {
				hi.SystemAssigned = &p
			}
		}
		for uid, ref := range r.Identity.UserAssignedIdentities {
			if ref == nil {
				continue
			}
			p, err := s.dir.GetTx(tx, ref.PrincipalID)
			if err != nil || p.Deleted() || !strings.EqualFold(p.ResourceID, uid) {
				continue // the identity was deleted since it was attached
			}
			hi.UserAssigned = append(hi.UserAssigned, p)
		}
		return nil
	}()
	return hi, err
}

var _ sts.HostResolver = (*Service)(nil)

// Document is the resource as Azure Policy sees it: id, name, type, location, kind, tags,
// sku, identity and properties.
func (r Resource) Document() map[string]any {
	doc := map[string]any{"id": r.ID, "name": r.Name, "type": r.Type, "location": r.Location, "kind": r.Kind}
	if r.Tags != nil {
		tags := map[string]any{}
		for k, v := range r.Tags {
			tags[k] = v
		}
		doc["tags"] = tags
	}
	for k, raw := range map[string]json.RawMessage{"properties": r.Properties, "sku": r.SKU} {
		var v any
		if len(raw) > 0 && json.Unmarshal(raw, &v) == nil {
			doc[k] = v
		}
	}
	if r.Identity != nil {
		b, _ := json.Marshal(r.Identity)
		var v any
		_ = json.Unmarshal(b, &v)
		doc["identity"] = v
	}
	return doc
}

// applyPolicy evaluates Azure Policy on a write inside its transaction: a deny refuses it
// (nothing is stored), an audit is recorded.
func (s *Service) applyPolicy(c *Call, tx store.Tx, doc map[string]any, id, name string) error {
	results, err := policy.EvaluateTx(tx, doc)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Effect != "audit" && r.Effect != "deny" {
			continue
		}
		e := activity.Event{Category: activity.Policy, Operation: "Microsoft.Authorization/policies/" + r.Effect + "/action",
			Scope: id, Level: "Warning", Status: "Succeeded", StatusCode: http.StatusOK, Policies: []string{r.Assignment.ID, r.Definition.ID},
			Message: "Policy '" + r.Definition.ID + "' (assignment '" + r.Assignment.ID + "') found the resource non-compliant: " + r.Effect + "."}
		if r.Effect == "deny" && r.Assignment.EnforcementMode != "DoNotEnforce" {
			e.Level, e.Status, e.StatusCode, e.ErrorCode = "Error", "Failed", http.StatusForbidden, "RequestDisallowedByPolicy"
		}
		c.NoteEvent(e)
	}
	return policy.Gate(tx, results, id, name, c.Caller.Display, s.now())
}
