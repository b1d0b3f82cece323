package graph

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/sts"
)

// Group permissions, as Microsoft Graph names them. A delegated (user) token may read groups
// and create and change them, as Entra's default user permissions let members create
// security groups; an application token needs one of these in its roles claim.
var (
	groupReadPerms   = []string{"Group.Read.All", "Group.ReadWrite.All", "GroupMember.Read.All", "GroupMember.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	groupWritePerms  = []string{"Group.ReadWrite.All", "Directory.ReadWrite.All"}
	groupCreatePerms = []string{"Group.Create", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
	memberWritePerms = []string{"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}
)

// Permissions are the Microsoft Graph application permissions Cerulean honours (what 'cerulean
// sp grant' and 'sp create --graph-permission' accept).
var Permissions = []string{"Application.Read.All", "AppRoleAssignment.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "Group.Create",
	"Group.Read.All", "Group.ReadWrite.All", "GroupMember.Read.All", "GroupMember.ReadWrite.All", "User.Read.All"}

var directoryObjectRE = regexp.MustCompile(`(?i)/(?:directoryObjects|users|servicePrincipals|groups)/([0-9a-f-]{36})$`)

func allowed(claims *sts.Claims, perms []string) bool {
	if claims.IdentityType == "user" {
		return true
	}
	for _, have := range claims.Roles {
		for _, want := range perms {
			if strings.EqualFold(have, want) {
				return true
			}
		}
	}
	return false
}

func groupView(g directory.Group) map[string]any {
	return map[string]any{"@odata.type": "#microsoft.graph.group", "id": g.ObjectID, "displayName": g.DisplayName,
		"mailNickname": g.MailNickname, "description": nilIfEmpty(g.Description), "securityEnabled": true,
		"mailEnabled": false, "groupTypes": []string{}, "createdDateTime": g.CreatedAt.Format(time.RFC3339)}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func notFound(id string) graphError {
	return graphError{http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '" + id + "' does not exist or one of its queried reference-property objects are not present."}
}

// serveGroups answers /v1.0/groups[/{id}[/members[/{member}]/$ref]]; segs start at "groups".
func (s *Service) serveGroups(w http.ResponseWriter, r *http.Request, claims *sts.Claims, segs []string) {
	write := r.Method != http.MethodGet
	perms := groupReadPerms
	switch {
	case write && len(segs) == 1 && r.Method == http.MethodPost:
		perms = groupCreatePerms // Group.Create: new groups only
	case write && len(segs) > 2:
		perms = memberWritePerms
	case write:
		perms = groupWritePerms
	}
	if !allowed(claims, perms) {
		writeError(w, graphError{http.StatusForbidden, "Authorization_RequestDenied", deniedMessage})
		return
	}
	ctx := r.Context()
	st := s.dir.Store()
	var out any
	status := http.StatusOK
	err := func() error {
		switch {
		case len(segs) == 1 && r.Method == http.MethodGet:
			match, ok := groupFilter(r.URL.Query().Get("$filter"))
			if !ok {
				return graphError{http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported query: Cerulean's Graph filters groups by displayName or id (eq) and startswith(displayName,'...')."}
			}
			gs, err := s.dir.Groups(ctx)
			if err != nil {
				return err
			}
			list := []any{}
			for _, g := range gs {
				if match(g) {
					list = append(list, groupView(g))
				}
			}
			out = map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#groups", "value": list}
			return nil
		case len(segs) == 1 && r.Method == http.MethodPost:
			var in struct {
				DisplayName     string `json:"displayName"`
				MailNickname    string `json:"mailNickname"`
				Description     string `json:"description"`
				SecurityEnabled *bool  `json:"securityEnabled"`
				MailEnabled     bool   `json:"mailEnabled"`
			}
			if err := decodeBody(r, &in); err != nil {
				return err
			}
			if in.DisplayName == "" || in.MailNickname == "" {
				return graphError{http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property 'displayName' or 'mailNickname' of resource 'Group': both are required."}
			}
			if in.MailEnabled || (in.SecurityEnabled != nil && !*in.SecurityEnabled) {
				return graphError{http.StatusBadRequest, "Request_BadRequest", "Cerulean's directory holds security groups only: send securityEnabled true and mailEnabled false."}
			}
			var g directory.Group
			err := st.Update(ctx, func(tx store.Tx) error {
				var err error
				g, err = s.dir.CreateGroupTx(tx, directory.Group{DisplayName: in.DisplayName, MailNickname: in.MailNickname, Description: in.Description})
				return err
			})
			if errors.Is(err, directory.ErrInvalidGroup) {
				return graphError{http.StatusBadRequest, "Request_BadRequest", err.Error()}
			}
			out, status = groupView(g), http.StatusCreated
			return err
		}
		var g directory.Group
		if err := st.View(ctx, func(tx store.Tx) error {
			var err error
			g, err = s.dir.GetGroupTx(tx, segs[1])
			return err
		}); errors.Is(err, directory.ErrGroupNotFound) {
			return notFound(segs[1])
		} else if err != nil {
			return err
		}
		switch {
		case len(segs) == 2 && r.Method == http.MethodGet:
			out = groupView(g)
			return nil
		case len(segs) == 2 && r.Method == http.MethodDelete:
			status = http.StatusNoContent
			return st.Update(ctx, func(tx store.Tx) error { return s.dir.DeleteGroupTx(tx, g.ObjectID) })
		case len(segs) == 3 && r.Method == http.MethodGet && strings.EqualFold(segs[2], "members"):
			list := []any{}
			for _, m := range g.Members {
				if v, ok := s.memberView(r, m); ok {
					list = append(list, v)
				}
			}
			out = map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects", "value": list}
			return nil
		case len(segs) == 4 && r.Method == http.MethodPost && strings.EqualFold(segs[2], "members") && segs[3] == "$ref":
			var in struct {
				ID string `json:"@odata.id"`
			}
			if err := decodeBody(r, &in); err != nil {
				return err
			}
			m := directoryObjectRE.FindStringSubmatch(in.ID)
			if m == nil {
				return graphError{http.StatusBadRequest, "Request_BadRequest", "Invalid URL format specified in @odata.id: give https://graph.microsoft.com/v1.0/directoryObjects/{id}."}
			}
			status = http.StatusNoContent
			return memberErr(m[1], st.Update(ctx, func(tx store.Tx) error { return s.dir.AddMemberTx(tx, g.ObjectID, m[1]) }))
		case len(segs) == 5 && r.Method == http.MethodDelete && strings.EqualFold(segs[2], "members") && segs[4] == "$ref":
			status = http.StatusNoContent
			return memberErr(segs[3], st.Update(ctx, func(tx store.Tx) error { return s.dir.RemoveMemberTx(tx, g.ObjectID, segs[3]) }))
		}
		return graphError{http.StatusBadRequest, "Request_BadRequest", "Cerulean's Microsoft Graph serves GET/POST /groups, GET/DELETE /groups/{id}, GET /groups/{id}/members, POST /groups/{id}/members/$ref and DELETE /groups/{id}/members/{id}/$ref."}
	}()
	var ge graphError
	switch {
	case errors.As(err, &ge):
		writeError(w, ge)
	case err != nil:
		writeError(w, graphError{http.StatusInternalServerError, "InternalServerError", "The directory could not be updated."})
	case status == http.StatusNoContent:
		w.WriteHeader(status)
	default:
		w.Header().Set("Content-Type", "application/json;odata.metadata=minimal")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(out)
	}
}

func (e graphError) Error() string { return e.message }

func memberErr(id string, err error) error {
	switch {
	case errors.Is(err, directory.ErrMemberExists):
		return graphError{http.StatusBadRequest, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'."}
	case errors.Is(err, directory.ErrMemberNotFound):
		return notFound(id)
	case errors.Is(err, directory.ErrMemberCycle), errors.Is(err, directory.ErrGroupTooLarge):
		return graphError{http.StatusBadRequest, "Request_BadRequest", err.Error()}
	}
	return err
}

func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return graphError{http.StatusBadRequest, "Request_BadRequest", "The request body could not be read."}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return graphError{http.StatusBadRequest, "Request_BadRequest", "The request body is not valid JSON: " + err.Error()}
	}
	return nil
}

// memberView renders a member (principal or group) as a directoryObject.
func (s *Service) memberView(r *http.Request, id string) (map[string]any, bool) {
	if p, err := s.dir.Get(r.Context(), id); err == nil && !p.Deleted() {
		v := s.view(p)
		v["@odata.type"] = "#microsoft.graph.servicePrincipal"
		if p.Kind == directory.KindUser {
			v["@odata.type"] = "#microsoft.graph.user"
		}
		return v, true
	}
	var g directory.Group
	if err := s.dir.Store().View(r.Context(), func(tx store.Tx) error {
		var err error
		g, err = s.dir.GetGroupTx(tx, id)
		return err
	}); err == nil {
		return groupView(g), true
	}
	return nil, false
}

var (
	groupEqRE         = regexp.MustCompile(`(?i)^\s*(displayName|id|mailNickname)\s+eq\s+'([^']*)'\s*$`)
	groupStartsWithRE = regexp.MustCompile(`(?i)^\s*startswith\(\s*displayName\s*,\s*'([^']*)'\s*\)\s*$`)
)

// groupFilter compiles a $filter of clauses joined by "and", as az sends them
// ("displayName eq 'x' and mailNickname eq 'x'").
func groupFilter(f string) (func(directory.Group) bool, bool) {
	if strings.TrimSpace(f) == "" {
		return func(directory.Group) bool { return true }, true
	}
	var all []func(directory.Group) bool
	for _, clause := range andRE.Split(f, -1) {
		m, ok := groupClause(clause)
		if !ok {
			return nil, false
		}
		all = append(all, m)
	}
	return func(g directory.Group) bool {
		for _, m := range all {
			if !m(g) {
				return false
			}
		}
		return true
	}, true
}

var andRE = regexp.MustCompile(`(?i)\s+and\s+`)

func groupClause(f string) (func(directory.Group) bool, bool) {
	if m := groupStartsWithRE.FindStringSubmatch(f); m != nil {
		return func(g directory.Group) bool {
			return strings.HasPrefix(strings.ToLower(g.DisplayName), strings.ToLower(m[1]))
		}, true
	}
	if m := groupEqRE.FindStringSubmatch(f); m != nil {
		field, v := strings.ToLower(m[1]), m[2]
		return func(g directory.Group) bool {
			switch field {
			case "displayname":
				return g.DisplayName == v
			case "mailnickname":
				return strings.EqualFold(g.MailNickname, v)
			}
			return strings.EqualFold(g.ObjectID, v)
		}, true
	}
	return nil, false
}

// serveMemberGroups answers POST /{directoryObjects|users|servicePrincipals|groups}/{id}/
// checkMemberGroups (which of groupIds the object is in, transitively) and getMemberGroups
// (every group it is in).
func (s *Service) serveMemberGroups(w http.ResponseWriter, r *http.Request, claims *sts.Claims, id, op string) {
	if !strings.EqualFold(id, claims.ObjectID) && !allowed(claims, groupReadPerms) {
		writeError(w, graphError{http.StatusForbidden, "Authorization_RequestDenied", deniedMessage})
		return
	}
	var in struct {
		GroupIDs []string `json:"groupIds"`
	}
	if err := decodeBody(r, &in); err != nil {
		writeError(w, err.(graphError))
		return
	}
	if _, ok := s.memberView(r, id); !ok {
		writeError(w, notFound(id))
		return
	}
	var m map[string][]string
	if err := s.dir.Store().View(r.Context(), func(tx store.Tx) error {
		var err error
		m, err = directory.MembershipsTx(tx)
		return err
	}); err != nil {
		writeError(w, graphError{http.StatusInternalServerError, "InternalServerError", "The directory could not be read."})
		return
	}
	out := []string{}
	for _, g := range m[strings.ToLower(id)] {
		if strings.EqualFold(op, "getMemberGroups") {
			out = append(out, g)
			continue
		}
		for _, want := range in.GroupIDs {
			if strings.EqualFold(want, g) {
				out = append(out, g)
			}
		}
	}
	writeJSON(w, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)", "value": out})
}
