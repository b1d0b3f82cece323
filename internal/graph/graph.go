// Package graph is the subset of Microsoft Graph (https://graph.microsoft.com/v1.0) that
// Azure clients call while doing Azure work: looking up the signed-in principal (/me) and
// service principals and users by filter — what `az keyvault create` does to grant its
// caller an access policy. Reads of other directory objects need the Graph application
// permission Directory.Read.All (or Application.Read.All for service principals, User.Read.All
// for users) in the token's roles claim, as in Entra; any principal may read itself.
//
// It is not a directory: principals live in package directory; this package only renders
// them in Graph's shapes.
package graph

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/sts"
	"github.com/google/uuid"
)

// Host is Microsoft Graph's host name.
const Host = "graph.microsoft.com"

// Service serves the Graph subset.
type Service struct {
	dir    *directory.Directory
	tokens *sts.Service
}

// New returns the Graph service.
func New(dir *directory.Directory, tokens *sts.Service) *Service {
	return &Service{dir: dir, tokens: tokens}
}

type graphError struct {
	status        int
	code, message string
}

func writeError(w http.ResponseWriter, e graphError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": e.code, "message": e.message,
		"innerError": map[string]any{"request-id": uuid.NewString()}}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal")
	_ = json.NewEncoder(w).Encode(v)
}

var (
	spnFilterRE   = regexp.MustCompile(`(?i)^\s*servicePrincipalNames/any\(\s*(\w+)\s*:\s*(\w+)\s+eq\s+'([^']*)'\s*\)\s*$`)
	eqFilterRE    = regexp.MustCompile(`(?i)^\s*(appId|displayName|userPrincipalName|id)\s+eq\s+'([^']*)'\s*$`)
	deniedMessage = "Insufficient privileges to complete the operation."
)

// ServeHTTP serves a Graph request; path is the URL path (/v1.0/...).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	claims, err := s.tokens.VerifyBearer(r, []string{sts.GraphAudience, "00000003-0000-0000-c000-000000000000"})
	if err != nil {
		writeError(w, graphError{http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. " + err.Error()})
		return
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(segs) < 2 || (segs[0] != "v1.0" && segs[0] != "beta") {
		writeError(w, graphError{http.StatusNotFound, "Request_ResourceNotFound", "Use /v1.0/ paths."})
		return
	}
	if len(segs) == 4 && r.Method == http.MethodPost && (strings.EqualFold(segs[3], "checkMemberGroups") || strings.EqualFold(segs[3], "getMemberGroups")) {
		s.serveMemberGroups(w, r, &claims, segs[2], segs[3])
		return
	}
	if strings.EqualFold(segs[1], "groups") {
		s.serveGroups(w, r, &claims, segs[1:])
		return
	}
	if len(segs) >= 4 && strings.EqualFold(segs[1], "servicePrincipals") && strings.EqualFold(segs[3], "appRoleAssignments") && len(segs) <= 5 {
		assignment := ""
		if len(segs) == 5 {
			assignment = segs[4]
		}
		s.serveAppRoleAssignments(w, r, &claims, segs[2], assignment)
		return
	}
	// Microsoft Graph's own service principal, by its appId or object id.
	if len(segs) == 3 && strings.EqualFold(segs[1], "servicePrincipals") && r.Method == http.MethodGet &&
		(strings.EqualFold(segs[2], GraphAppID) || strings.EqualFold(segs[2], graphSPID(claims.TenantID))) {
		writeJSON(w, graphSPView(claims.TenantID))
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, graphError{http.StatusBadRequest, "Request_BadRequest", "Cerulean's Microsoft Graph writes groups only; /me, /servicePrincipals and /users are read-only."})
		return
	}
	ps, err := s.dir.List(r.Context(), false)
	if err != nil {
		writeError(w, graphError{http.StatusInternalServerError, "InternalServerError", "The directory could not be read."})
		return
	}
	var self *directory.Principal
	for i := range ps {
		if strings.EqualFold(ps[i].ObjectID, claims.ObjectID) {
			self = &ps[i]
		}
	}
	mayRead := func(p directory.Principal, perm string) bool {
		if strings.EqualFold(p.ObjectID, claims.ObjectID) {
			return true
		}
		for _, role := range claims.Roles {
			if strings.EqualFold(role, "Directory.Read.All") || strings.EqualFold(role, perm) || strings.EqualFold(role, "Directory.ReadWrite.All") {
				return true
			}
		}
		return false
	}
	collection := strings.ToLower(segs[1])
	switch {
	case collection == "me" && len(segs) == 2:
		if claims.IdentityType != "user" || self == nil {
			writeError(w, graphError{http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow."})
			return
		}
		writeJSON(w, s.view(*self))
	case (collection == "serviceprincipals" || collection == "users") && len(segs) <= 3:
		perm, want := "Application.Read.All", func(p directory.Principal) bool { return p.Kind != directory.KindUser }
		if collection == "users" {
			perm, want = "User.Read.All", func(p directory.Principal) bool { return p.Kind == directory.KindUser }
		}
		if len(segs) == 3 {
			for _, p := range ps {
				if want(p) && (strings.EqualFold(p.ObjectID, segs[2]) || (collection == "serviceprincipals" && strings.EqualFold(p.AppID, segs[2]))) {
					if !mayRead(p, perm) {
						writeError(w, graphError{http.StatusForbidden, "Authorization_RequestDenied", deniedMessage})
						return
					}
					writeJSON(w, s.view(p))
					return
				}
			}
			writeError(w, graphError{http.StatusNotFound, "Request_ResourceNotFound", "Resource '" + segs[2] + "' does not exist or one of its queried reference-property objects are not present."})
			return
		}
		match, ok := filter(r.URL.Query().Get("$filter"))
		if !ok {
			writeError(w, graphError{http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query: Cerulean's Graph filters by appId, displayName, userPrincipalName, id (eq) and servicePrincipalNames/any(c:c eq '...')."})
			return
		}
		out := []any{}
		if collection == "serviceprincipals" && match(directory.Principal{Kind: directory.KindServicePrincipal, ObjectID: graphSPID(claims.TenantID), AppID: GraphAppID, DisplayName: "Microsoft Graph"}) {
			out = append(out, graphSPView(claims.TenantID)) // Microsoft Graph itself, readable by anyone signed in
		}
		for _, p := range ps {
			if !want(p) || !match(p) {
				continue
			}
			if !mayRead(p, perm) {
				writeError(w, graphError{http.StatusForbidden, "Authorization_RequestDenied", deniedMessage})
				return
			}
			out = append(out, s.view(p))
		}
		writeJSON(w, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#" + segs[1], "value": out})
	default:
		writeError(w, graphError{http.StatusBadRequest, "Request_BadRequest", "Cerulean's Microsoft Graph serves /v1.0/me, /v1.0/servicePrincipals, /v1.0/users and /v1.0/groups only."})
	}
}

// filter compiles the $filter forms Azure clients send.
func filter(f string) (func(directory.Principal) bool, bool) {
	if strings.TrimSpace(f) == "" {
		return func(directory.Principal) bool { return true }, true
	}
	if m := spnFilterRE.FindStringSubmatch(f); m != nil && strings.EqualFold(m[1], m[2]) {
		v := m[3]
		return func(p directory.Principal) bool {
			for _, n := range spns(p) {
				if strings.EqualFold(n, v) {
					return true
				}
			}
			return false
		}, true
	}
	if m := eqFilterRE.FindStringSubmatch(f); m != nil {
		field, v := strings.ToLower(m[1]), m[2]
		return func(p directory.Principal) bool {
			switch field {
			case "appid":
				return strings.EqualFold(p.AppID, v)
			case "displayname":
				return p.DisplayName == v
			case "userprincipalname":
				return strings.EqualFold(p.UserPrincipalName, v)
			}
			return strings.EqualFold(p.ObjectID, v)
		}, true
	}
	return nil, false
}

func spns(p directory.Principal) []string {
	if p.AppID == "" {
		return nil
	}
	out := []string{p.AppID}
	if p.ResourceID != "" {
		out = append(out, "https://identity.azure.net/"+p.ResourceID)
	}
	return out
}

func (s *Service) view(p directory.Principal) map[string]any {
	if p.Kind == directory.KindUser {
		return map[string]any{"id": p.ObjectID, "displayName": p.DisplayName, "userPrincipalName": p.UserPrincipalName, "accountEnabled": true}
	}
	typ := "Application"
	if p.Kind == directory.KindManagedIdentity {
		typ = "ManagedIdentity"
	}
	return map[string]any{"id": p.ObjectID, "appId": p.AppID, "displayName": p.DisplayName, "servicePrincipalNames": spns(p),
		"servicePrincipalType": typ, "accountEnabled": true}
}
