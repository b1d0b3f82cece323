// Package arm is Cerulean's Azure Resource Manager core: it parses resource ids and scopes,
// checks api-versions, authenticates every call with the token service, authorizes it
// through the RBAC gate, stores tracked resources with their identity blocks, and serves
// Microsoft.Resources (subscriptions, tenants, resource groups, generic resource listing,
// provider registration, cloud metadata). Resource providers register their types with it.
//
// It does not know any provider's property schema; providers (internal/providers/...) do.
package arm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/activity"
	"github.com/cerulean-azure/cerulean/internal/authz"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/sts"
)

// MaxBody is ARM's request size limit.
const MaxBody = 4 << 20

// Audiences are the token audiences ARM accepts.
var Audiences = []string{
	"https://management.core.windows.net/", "https://management.azure.com/",
}

// Handler serves the requests for one resource type.
type Handler interface {
	ServeARM(c *Call) (status int, body any, err error)
}

type registration struct {
	typ        string
	minVersion string
	h          Handler
	acts       Actions
}

// Actions declares, where a route is registered, what it needs per HTTP method: the RBAC
// action the caller must hold at the request's resource, checked before the handler looks
// anything up (for a collection GET: any role at, above or below the collection's scope,
// ARM's visibility rule for lists). A method not declared answers 405. OwnView in place of an
// action marks a method any signed-in caller may use for its own view (its permissions, an
// explanation of its own access) or for a provider's public description (its operations
// list, the same for everyone); the handler authorizes anything beyond that. Handlers
// still authorize precisely (other scopes, ABAC attributes, linked resources): the declared
// action is the floor no route can fall below.
type Actions map[string]string

// OwnView is the declared action of a caller's-own-view method.
const OwnView = "(the caller's own view)"

// TrackedActions are a tracked resource type's actions: read, write (PUT and PATCH), delete.
func TrackedActions(typ string) Actions {
	return Actions{http.MethodGet: typ + "/read", http.MethodPut: typ + "/write", http.MethodPatch: typ + "/write", http.MethodDelete: typ + "/delete"}
}

// Route is one registered type and method with its declared action.
type Route struct {
	Type, Method, Action string
}

// Routes lists every registered route with its declared action, sorted.
func (s *Service) Routes() []Route {
	var out []Route
	for _, reg := range s.types {
		for m, a := range reg.acts {
			out = append(out, Route{Type: reg.typ, Method: m, Action: a})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// Service is the ARM endpoint.
type Service struct {
	dir   *directory.Directory
	st    store.Store
	sts   *sts.Service
	gate  *access.Gate
	log   *activity.Log
	types map[string]registration // lower-case full type → handler
	ns    map[string]string       // lower-case namespace → canonical spelling
	now   func() time.Time

	subs store.RevisionCache[Subscription]  // by lower-case id, at colSubscriptions' revision
	rgs  store.RevisionCache[ResourceGroup] // by rgKey, at colResourceGroups' revision
	// hosts are HostIdentities answers by host id, at the revision of resources and
	// principals (a deleted or detached identity changes one of them).
	hosts store.RevisionCache[sts.HostIdentities]
}

// New returns the ARM service.
func New(dir *directory.Directory, tokens *sts.Service, gate *access.Gate) *Service {
	return &Service{dir: dir, st: dir.Store(), sts: tokens, gate: gate, log: activity.New(dir.Store(), dir.Now),
		types: map[string]registration{}, ns: map[string]string{}, now: dir.Now,
		subs: store.RevisionCache[Subscription]{Collections: []string{colSubscriptions}}, rgs: store.RevisionCache[ResourceGroup]{Collections: []string{colResourceGroups}},
		hosts: store.RevisionCache[sts.HostIdentities]{Collections: []string{colResources, directory.PrincipalsCollection}}}
}

// NewCatalog returns a service that only records registrations, for listing Routes.
func NewCatalog() *Service {
	return &Service{types: map[string]registration{}, ns: map[string]string{}}
}

// Register connects a resource type ("Microsoft.Compute/virtualMachines") to its handler.
// minAPIVersion is the oldest api-version the type accepts.
// acts declares the action each method needs; Register panics without one, so no route can
// be added that skips authorization.
func (s *Service) Register(fullType, minAPIVersion string, h Handler, acts Actions) {
	if len(acts) == 0 {
		panic("arm: " + fullType + " registered without actions")
	}
	for m, a := range acts {
		if a == "" || m != strings.ToUpper(m) {
			panic("arm: " + fullType + " " + m + " registered without an action")
		}
	}
	if a, ok := acts[http.MethodGet]; ok {
		if _, head := acts[http.MethodHead]; !head {
			acts[http.MethodHead] = a
		}
	}
	s.types[strings.ToLower(fullType)] = registration{typ: fullType, minVersion: minAPIVersion, h: h, acts: acts}
	ns, _, _ := strings.Cut(fullType, "/")
	s.ns[strings.ToLower(ns)] = ns
}

// Gate is the RBAC gate the service authorizes with.
func (s *Service) Gate() *access.Gate { return s.gate }

// Activity is the activity log every write, authorization failure and policy effect is
// recorded in.
func (s *Service) Activity() *activity.Log { return s.log }

// Directory is the tenant directory.
func (s *Service) Directory() *directory.Directory { return s.dir }

// Store is the store resources live in.
func (s *Service) Store() store.Store { return s.st }

// Tokens is the token service that verifies bearer tokens (for providers' own endpoints).
func (s *Service) Tokens() *sts.Service { return s.sts }

// Call is one authenticated ARM request, handed to a provider's handler.
type Call struct {
	Ctx        context.Context
	R          *http.Request
	W          http.ResponseWriter
	ID         ID
	APIVersion string
	Caller     access.Principal
	Claims     sts.Claims
	Body       []byte
	Svc        *Service

	action       string           // the first action authorized: the call's operation
	deniedAction string           // the action refused, if one was
	events       []activity.Event // extra events (policy effects) to record with the call
}

// Authorize checks the caller may perform action at scope.
func (c *Call) Authorize(action, scope string) error {
	return c.AuthorizeWith(action, scope, nil)
}

// AuthorizeWith checks the caller may perform action at scope, with attributes for ABAC
// conditions.
func (c *Call) AuthorizeWith(action, scope string, attrs authz.ConditionAttributes) error {
	err := c.Svc.gate.Check(c.Ctx, access.Request{Principal: c.Caller, Action: action, Scope: scope, Attributes: attrs})
	if err != nil && c.deniedAction == "" {
		c.deniedAction = action
	} else if err == nil && c.action == "" {
		c.action = action
	}
	return err
}

// Decode unmarshals the request body into v, answering ARM's 400 for malformed JSON.
func (c *Call) Decode(v any) error {
	if len(strings.TrimSpace(string(c.Body))) == 0 {
		return azerr.BadRequest("InvalidRequestContent", "The request content was invalid and could not be deserialized: the body is empty; send a JSON object.")
	}
	dec := json.NewDecoder(strings.NewReader(string(c.Body)))
	if err := dec.Decode(v); err != nil {
		return azerr.BadRequest("InvalidRequestContent", "The request content was invalid and could not be deserialized: '%s'.", jsonErr(err))
	}
	if dec.More() {
		return azerr.BadRequest("InvalidRequestContent", "The request content was invalid and could not be deserialized: unexpected data after the JSON object.")
	}
	return nil
}

func jsonErr(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "field '" + te.Field + "' must be " + te.Type.String() + ", got " + te.Value
	}
	return err.Error()
}

// Action returns the conventional action for the call's method on its resource type:
// read, write or delete, or "<verb>/action" for POST.
func (c *Call) Action() string {
	t := c.ID.FullType()
	switch c.R.Method {
	case http.MethodGet, http.MethodHead:
		return t + "/read"
	case http.MethodDelete:
		return t + "/delete"
	case http.MethodPost:
		return t + "/action"
	}
	return t + "/write"
}

var apiVersionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(-(preview|privatepreview|beta|alpha))?$`)

// checkAPIVersion validates the api-version query parameter against a type's range: a
// well-formed version no older than minVersion and no later than today.
func (s *Service) checkAPIVersion(r *http.Request, typ, minVersion string) (string, error) {
	v := apiVersion(r)
	if v == "" {
		return "", azerr.BadRequest("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
	}
	date := v
	if len(date) > 10 {
		date = date[:10]
	}
	if !apiVersionRE.MatchString(v) || date < minVersion || date > s.now().UTC().Format("2006-01-02") {
		return "", azerr.BadRequest("NoRegisteredProviderFound",
			"No registered resource provider found for location 'global' and API version '%s' for type '%s'. The supported api-versions are those from '%s' up to today's date, in the form YYYY-MM-DD[-preview].",
			v, typ, minVersion)
	}
	return v, nil
}

// apiVersion reads api-version, accepting the percent-encoded key some clients send.
func apiVersion(r *http.Request) string {
	q := r.URL.Query()
	if v := q.Get("api-version"); v != "" {
		return v
	}
	for k, vs := range q {
		if strings.EqualFold(k, "api-version") && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// authenticate verifies the bearer token and returns the caller.
func (s *Service) authenticate(r *http.Request) (sts.Claims, access.Principal, error) {
	claims, err := s.sts.VerifyBearer(r, Audiences)
	if err != nil {
		if e, ok := azerr.As(err); ok {
			e.WithHeader("WWW-Authenticate", `Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="`+strings.ReplaceAll(e.Message, `"`, `'`)+`"`)
		}
		return claims, access.Principal{}, err
	}
	display := claims.UserPrincipalName
	if display == "" {
		display = firstNonEmpty(claims.AppID, claims.AuthorizedParty, claims.ObjectID)
	}
	return claims, access.Principal{ObjectID: claims.ObjectID, Display: display, IssuedAt: time.Unix(claims.IssuedAt, 0)}, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// ServeHTTP routes an ARM request.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var c *Call
	status, body, err := s.serve(w, r, &c)
	s.record(c, w, status, err)
	if err != nil {
		azerr.WriteARM(w, err)
		return
	}
	writeJSON(w, status, body)
}

// record writes the call's activity-log events: one for every write (PUT, PATCH, DELETE,
// POST) and every authorization or policy refusal, plus any policy effects the call noted.
// Reads that succeed, and requests that never authenticated, are not recorded.
func (s *Service) record(c *Call, w http.ResponseWriter, status int, err error) {
	if c == nil {
		return
	}
	code, msg := "", ""
	if err != nil {
		status, code, msg = http.StatusInternalServerError, "InternalServerError", "Internal error"
		if e, ok := azerr.As(err); ok {
			status, code, msg = e.Status, e.Code, e.Message
		}
	}
	refused := code == "AuthorizationFailed" || code == "LinkedAuthorizationFailed" || code == "RequestDisallowedByPolicy"
	write := c.R.Method != http.MethodGet && c.R.Method != http.MethodHead
	if !write && !refused && len(c.events) == 0 {
		return
	}
	scope := strings.TrimRight(c.R.URL.Path, "/")
	var events []activity.Event
	if write || refused {
		op := c.action
		if code == "AuthorizationFailed" && c.deniedAction != "" {
			op = c.deniedAction
		}
		if op == "" {
			op = c.Action()
		}
		e := activity.Event{Category: activity.Administrative, Level: "Informational", Status: "Succeeded", StatusCode: status,
			Operation: op, Scope: scope, ErrorCode: code, Message: msg}
		if status >= 400 {
			e.Level, e.Status = "Error", "Failed"
		}
		events = append(events, e)
	}
	for _, e := range c.events {
		if e.Scope == "" {
			e.Scope = scope
		}
		events = append(events, e)
	}
	corr := w.Header().Get("x-ms-correlation-request-id")
	for i := range events {
		events[i].CorrelationID, events[i].Caller, events[i].CallerObjectID, events[i].TenantID =
			corr, c.Caller.Display, c.Caller.ObjectID, c.Claims.TenantID
	}
	// The log is best effort: failing to record never fails the call it describes.
	_ = s.log.Record(context.WithoutCancel(c.Ctx), events...)
}

// NoteEvent adds an event (a policy effect) to record with the call, once per operation
// and policy assignment.
func (c *Call) NoteEvent(e activity.Event) {
	for _, have := range c.events {
		if have.Operation == e.Operation && len(have.Policies) > 0 && len(e.Policies) > 0 && have.Policies[0] == e.Policies[0] {
			return
		}
	}
	c.events = append(c.events, e)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// serve routes the request; *call is set once the caller is authenticated.
func (s *Service) serve(w http.ResponseWriter, r *http.Request, call **Call) (int, any, error) {
	segs, err := CleanPath(r.URL.EscapedPath())
	if err != nil {
		return 0, nil, err
	}
	lower := make([]string, len(segs))
	for i, sg := range segs {
		lower[i] = strings.ToLower(sg)
	}
	if len(lower) == 2 && lower[0] == "metadata" && lower[1] == "endpoints" {
		return s.metadataEndpoints(r)
	}
	claims, caller, err := s.authenticate(r)
	if err != nil {
		return 0, nil, err
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return 0, nil, azerr.New(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			"The request content size exceeds the maximum allowed size of %d bytes.", MaxBody)
	}
	c := &Call{Ctx: r.Context(), R: r, W: w, Caller: caller, Claims: claims, Body: body, Svc: s}
	*call = c
	if status, out, handled, err := s.serveCore(c, segs, lower); handled {
		return status, out, err
	}
	id, err := ParseID(segs)
	if err != nil {
		return 0, nil, err
	}
	c.ID = id
	if id.Namespace == "" || len(id.Types) == 0 {
		return 0, nil, azerr.NotFound("NotFound", "No HTTP resource was found that matches the request URI '%s'.", r.URL.Path)
	}
	reg, ok := s.types[strings.ToLower(id.FullType())]
	if !ok {
		if _, known := s.ns[strings.ToLower(id.Namespace)]; !known {
			return 0, nil, azerr.BadRequest("InvalidResourceNamespace", "The resource namespace '%s' is invalid or not supported by Cerulean.", id.Namespace)
		}
		return 0, nil, azerr.BadRequest("InvalidResourceType", "The resource type '%s' could not be found in the namespace '%s' for api version '%s'.",
			strings.Join(id.Types, "/"), id.Namespace, apiVersion(r))
	}
	if c.APIVersion, err = s.checkAPIVersion(r, reg.typ, reg.minVersion); err != nil {
		return 0, nil, err
	}
	action, ok := reg.acts[r.Method]
	if !ok {
		return 0, nil, azerr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '%s'.", r.Method)
	}
	if err := s.preAuthorize(c, action); err != nil {
		return 0, nil, err
	}
	if err := s.checkParents(c.Ctx, id); err != nil {
		return 0, nil, s.notFoundOrDenied(c, id.ResourceID(), action, err)
	}
	return reg.h.ServeARM(c)
}

// preAuthorize checks a route's declared action before anything is looked up: the caller
// holds it at the request's resource, or (for a collection GET) holds some role at, above or
// below the collection. A denial that came only from an ABAC condition is left to the
// handler, which checks again with the request's attributes.
func (s *Service) preAuthorize(c *Call, action string) error {
	if action == OwnView {
		return nil
	}
	scope := c.ID.ResourceID()
	if c.ID.IsCollection() && (c.R.Method == http.MethodGet || c.R.Method == http.MethodHead) {
		ok, err := s.gate.HasAnyWithin(c.Ctx, c.Caller, scope)
		if err != nil || ok {
			return err
		}
	} else {
		d, err := s.gate.Decide(c.Ctx, access.Request{Principal: c.Caller, Action: action, Scope: scope})
		if err != nil || d.Allowed || d.ConditionFailed() {
			return err
		}
	}
	if c.deniedAction == "" {
		c.deniedAction = action
	}
	return access.AuthorizationFailed(c.Caller, action, scope)
}

// checkParents answers 404 for a subscription or resource group that does not exist.
func (s *Service) checkParents(ctx context.Context, id ID) error {
	if id.SubscriptionID == "" {
		return nil
	}
	return s.st.View(ctx, func(tx store.Tx) error {
		if _, err := getSubscription(tx, id.SubscriptionID); err != nil {
			return err
		}
		if id.ResourceGroup != "" {
			if _, err := getResourceGroup(tx, id.SubscriptionID, id.ResourceGroup); err != nil {
				return err
			}
		}
		return nil
	})
}
