package graph

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/sts"
	"github.com/google/uuid"
)

// Microsoft Graph's own service principal and its application permissions (app roles), and
// appRoleAssignments: how an administrator's tooling grants an application a Graph
// permission (what 'az ad app permission admin-consent' and the portal's "Grant admin
// consent" do). An assignment is the permission in the principal's graphPermissions, so
// tokens issued afterwards carry it in their roles claim.

// GraphAppID is Microsoft Graph's application id, the same in every tenant.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// appRoles are Graph's application permissions Cerulean honours, with Microsoft's ids.
var appRoles = []struct{ ID, Value, Description string }{
	{"9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", "Application.Read.All", "Read all applications"},
	{"06b708a9-e830-4db3-a914-8e69da51d44f", "AppRoleAssignment.ReadWrite.All", "Manage app permission grants and app role assignments"},
	{"7ab1d382-f21e-4acd-a863-ba3e13f7da61", "Directory.Read.All", "Read directory data"},
	{"19dbc75e-c2e2-444c-a770-ec69d8559fc7", "Directory.ReadWrite.All", "Read and write directory data"},
	{"bf7b1a76-6e77-406b-b258-bf5c7720e98f", "Group.Create", "Create groups"},
	{"5b567255-7703-4780-807c-7be8301ae99b", "Group.Read.All", "Read all groups"},
	{"62a82d76-70ea-41e2-9197-370581804d09", "Group.ReadWrite.All", "Read and write all groups"},
	{"98830695-27a2-44f7-8c18-0c3ebc9698f6", "GroupMember.Read.All", "Read all group memberships"},
	{"dbaae8cf-10b5-4b86-a4a1-f871c94c6695", "GroupMember.ReadWrite.All", "Read and write all group memberships"},
	{"df021288-bdef-4463-88db-98f22de89214", "User.Read.All", "Read all users' full profiles"},
}

func roleByID(id string) (string, bool) {
	for _, r := range appRoles {
		if strings.EqualFold(r.ID, id) {
			return r.Value, true
		}
	}
	return "", false
}

func roleByValue(v string) (string, bool) {
	for _, r := range appRoles {
		if strings.EqualFold(r.Value, v) {
			return r.ID, true
		}
	}
	return "", false
}

// graphSPID is the object id of Microsoft Graph's service principal in a tenant.
func graphSPID(tenant string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://graph.microsoft.com/"+strings.ToLower(tenant))).String()
}

// graphSPView is Microsoft Graph's service principal as Graph lists it.
func graphSPView(tenant string) map[string]any {
	roles := make([]map[string]any, 0, len(appRoles))
	for _, r := range appRoles {
		roles = append(roles, map[string]any{"id": r.ID, "value": r.Value, "displayName": r.Description, "description": r.Description,
			"allowedMemberTypes": []string{"Application"}, "isEnabled": true, "origin": "Application"})
	}
	return map[string]any{"id": graphSPID(tenant), "appId": GraphAppID, "displayName": "Microsoft Graph",
		"servicePrincipalNames": []string{GraphAppID, "https://graph.microsoft.com"}, "servicePrincipalType": "Application",
		"accountEnabled": true, "appRoles": roles}
}

// assignmentID is an assignment's id: stable for a principal and an app role.
func assignmentID(principal, role string) string {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte(strings.ToLower(principal+"/"+role))).String()
}

func (s *Service) assignmentView(tenant string, p directory.Principal, permission string) map[string]any {
	id, _ := roleByValue(permission)
	return map[string]any{"id": assignmentID(p.ObjectID, id), "appRoleId": id, "principalId": p.ObjectID,
		"principalDisplayName": p.DisplayName, "principalType": "ServicePrincipal", "resourceId": graphSPID(tenant),
		"resourceDisplayName": "Microsoft Graph", "createdDateTime": time.Time{}.Format(time.RFC3339)}
}

var assignmentWritePerms = []string{"AppRoleAssignment.ReadWrite.All"}

// serveAppRoleAssignments serves /servicePrincipals/{id}/appRoleAssignments[/{assignment}]:
// GET lists, POST grants (appRoleId of Microsoft Graph's service principal), DELETE revokes.
// Reading needs what reading the principal needs; writing needs AppRoleAssignment.ReadWrite.All.
func (s *Service) serveAppRoleAssignments(w http.ResponseWriter, r *http.Request, claims *sts.Claims, principalID, assignment string) {
	ctx := r.Context()
	p, err := s.dir.Get(ctx, principalID)
	if errors.Is(err, directory.ErrPrincipalNotFound) || (err == nil && p.Kind == directory.KindUser) {
		writeError(w, notFound(principalID))
		return
	}
	if err != nil {
		writeError(w, graphError{http.StatusInternalServerError, "InternalServerError", "The directory could not be read."})
		return
	}
	write := r.Method != http.MethodGet
	if write && !allowed(claims, assignmentWritePerms) {
		writeError(w, graphError{http.StatusForbidden, "Authorization_RequestDenied", deniedMessage})
		return
	}
	if !write && !strings.EqualFold(claims.ObjectID, p.ObjectID) && !allowed(claims, []string{"Application.Read.All", "Directory.Read.All", "Directory.ReadWrite.All", "AppRoleAssignment.ReadWrite.All"}) {
		writeError(w, graphError{http.StatusForbidden, "Authorization_RequestDenied", deniedMessage})
		return
	}
	switch {
	case r.Method == http.MethodGet && assignment == "":
		out := []any{}
		for _, g := range p.GraphPermissions {
			if _, ok := roleByValue(g); ok {
				out = append(out, s.assignmentView(claims.TenantID, p, g))
			}
		}
		writeJSON(w, map[string]any{"value": out})
	case r.Method == http.MethodPost && assignment == "":
		var in struct {
			PrincipalID string `json:"principalId"`
			ResourceID  string `json:"resourceId"`
			AppRoleID   string `json:"appRoleId"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil {
			writeError(w, graphError{http.StatusBadRequest, "Request_BadRequest", "The body must be JSON with principalId, resourceId and appRoleId."})
			return
		}
		if !strings.EqualFold(in.PrincipalID, p.ObjectID) {
			writeError(w, graphError{http.StatusBadRequest, "Request_BadRequest", "principalId must be the service principal in the path."})
			return
		}
		if !strings.EqualFold(in.ResourceID, graphSPID(claims.TenantID)) {
			writeError(w, graphError{http.StatusBadRequest, "Request_BadRequest", "resourceId must be Microsoft Graph's service principal (" + graphSPID(claims.TenantID) + "): Cerulean assigns Graph's app roles only."})
			return
		}
		perm, ok := roleByID(in.AppRoleID)
		if !ok {
			writeError(w, graphError{http.StatusBadRequest, "Request_BadRequest", "Permission being assigned was not found on application: appRoleId " + in.AppRoleID + " is not one of Microsoft Graph's app roles Cerulean honours."})
			return
		}
		if err := s.dir.Store().Update(ctx, func(tx store.Tx) error { return s.dir.GrantGraphPermissionTx(tx, p.ObjectID, perm) }); err != nil {
			writeError(w, graphError{http.StatusInternalServerError, "InternalServerError", "The assignment could not be stored."})
			return
		}
		w.Header().Set("Content-Type", "application/json;odata.metadata=minimal")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(s.assignmentView(claims.TenantID, p, perm))
	case r.Method == http.MethodDelete && assignment != "":
		var perm string
		for _, g := range p.GraphPermissions {
			if id, ok := roleByValue(g); ok && strings.EqualFold(assignmentID(p.ObjectID, id), assignment) {
				perm = g
			}
		}
		if perm == "" {
			writeError(w, notFound(assignment))
			return
		}
		if err := s.dir.Store().Update(ctx, func(tx store.Tx) error { return s.dir.RevokeGraphPermissionTx(tx, p.ObjectID, perm) }); err != nil {
			writeError(w, graphError{http.StatusInternalServerError, "InternalServerError", "The assignment could not be removed."})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, graphError{http.StatusMethodNotAllowed, "Request_BadRequest", "appRoleAssignments take GET, POST, and DELETE of one assignment."})
	}
}
