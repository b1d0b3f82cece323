package arm

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Identity types, in their canonical (Compute) spelling.
const (
	IdentityNone          = "None"
	IdentitySystem        = "SystemAssigned"
	IdentityUser          = "UserAssigned"
	IdentitySystemAndUser = "SystemAssigned, UserAssigned"
)

// Identity is the identity block of an identity-bearing resource.
type Identity struct {
	Type                   string                      `json:"type"`
	PrincipalID            string                      `json:"principalId,omitempty"`
	TenantID               string                      `json:"tenantId,omitempty"`
	UserAssignedIdentities map[string]*UserIdentityRef `json:"userAssignedIdentities,omitempty"`
}

// UserIdentityRef is one attached user-assigned identity.
type UserIdentityRef struct {
	PrincipalID string `json:"principalId"`
	ClientID    string `json:"clientId"`
}

type identityInput struct {
	Type string
	// User maps a user-assigned identity id to true (attach) or false (detach, a null value
	// in a PATCH).
	User map[string]bool
}

// normalizeIdentityType accepts every spelling Azure uses and returns the canonical one.
func normalizeIdentityType(t string) (string, bool) {
	k := strings.ToLower(strings.ReplaceAll(t, " ", ""))
	switch k {
	case "none", "":
		return IdentityNone, true
	case "systemassigned":
		return IdentitySystem, true
	case "userassigned":
		return IdentityUser, true
	case "systemassigned,userassigned":
		return IdentitySystemAndUser, true
	}
	return "", false
}

func parseIdentityInput(raw json.RawMessage) (*identityInput, error) {
	var in struct {
		Type                   *string                    `json:"type"`
		UserAssignedIdentities map[string]json.RawMessage `json:"userAssignedIdentities"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, azerr.BadRequest("InvalidRequestContent", "The identity property is invalid: %s.", jsonErr(err))
	}
	if in.Type == nil {
		return nil, azerr.BadRequest("InvalidIdentityType", "The identity type is required: one of 'None', 'SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned'.")
	}
	t, ok := normalizeIdentityType(*in.Type)
	if !ok {
		return nil, azerr.BadRequest("InvalidIdentityType",
			"The identity type '%s' is not valid: use one of 'None', 'SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned'.", *in.Type)
	}
	out := &identityInput{Type: t, User: map[string]bool{}}
	for id, v := range in.UserAssignedIdentities {
		parsed, err := ParseID(strings.Split(strings.Trim(id, "/"), "/"))
		if err != nil || !strings.EqualFold(parsed.FullType(), "Microsoft.ManagedIdentity/userAssignedIdentities") || parsed.IsCollection() || parsed.ResourceGroup == "" {
			return nil, azerr.BadRequest("InvalidIdentityValues",
				"'%s' is not a user-assigned identity resource id: expected /subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}.", id)
		}
		out.User[parsed.ResourceID()] = string(v) != "null"
	}
	hasUser := t == IdentityUser || t == IdentitySystemAndUser
	attach := 0
	for _, on := range out.User {
		if on {
			attach++
		}
	}
	if !hasUser && attach > 0 {
		return nil, azerr.BadRequest("InvalidIdentityValues",
			"userAssignedIdentities may only be given when the identity type includes 'UserAssigned' (type was '%s').", *in.Type)
	}
	return out, nil
}

// applyIdentity turns the resource's identity into what the request asks: it creates the
// system-assigned identity when enabled and soft-deletes it when disabled, and attaches or
// detaches user-assigned identities — each newly attached one only if the caller may
// perform Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action on it
// (LinkedAuthorizationFailed otherwise). patch keeps unmentioned user-assigned identities.
func (s *Service) applyIdentity(c *Call, tx store.Tx, r *Resource, in *identityInput, patch bool) error {
	tenant, err := s.dir.Tenant(c.Ctx)
	if err != nil {
		return err
	}
	cur := Identity{Type: IdentityNone}
	if r.Identity != nil {
		cur = *r.Identity
	}
	wantSystem := in.Type == IdentitySystem || in.Type == IdentitySystemAndUser
	wantUser := in.Type == IdentityUser || in.Type == IdentitySystemAndUser

	// System-assigned.
	if wantSystem && cur.PrincipalID == "" {
		p, err := s.dir.CreatePrincipal(tx, directory.Principal{Kind: directory.KindManagedIdentity,
			ManagedIdentityType: directory.SystemAssigned, DisplayName: r.Name, ResourceID: r.ID})
		if err != nil {
			return err
		}
		cur.PrincipalID, cur.TenantID = p.ObjectID, tenant.ID
	}
	if !wantSystem && cur.PrincipalID != "" {
		if err := s.dir.DeleteTx(tx, cur.PrincipalID); err != nil {
			return err
		}
		cur.PrincipalID = ""
	}

	// User-assigned.
	next := map[string]*UserIdentityRef{}
	if wantUser && patch {
		for id, ref := range cur.UserAssignedIdentities {
			next[Key(id)] = ref
		}
	}
	keep := map[string]string{} // key → spelling
	for id := range cur.UserAssignedIdentities {
		keep[Key(id)] = id
	}
	var linked []string
	ids := make([]string, 0, len(in.User))
	for id := range in.User {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		k := Key(id)
		if !in.User[id] {
			delete(next, k)
			continue
		}
		if wantUser {
			if old, ok := cur.UserAssignedIdentities[keep[k]]; ok && keep[k] != "" {
				next[k] = old
				continue
			}
		}
		uami, err := GetResourceTx(tx, id)
		if isNotFound(err) {
			return azerr.BadRequest("FailedIdentityOperation", "Identity '%s' does not exist: create it first with a PUT on that id (az identity create).", id)
		}
		if err != nil {
			return err
		}
		if err := c.Authorize("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", uami.ID); err != nil {
			linked = append(linked, uami.ID)
			continue
		}
		var props struct {
			PrincipalID string `json:"principalId"`
			ClientID    string `json:"clientId"`
		}
		_ = json.Unmarshal(uami.Properties, &props)
		next[k] = &UserIdentityRef{PrincipalID: props.PrincipalID, ClientID: props.ClientID}
		keep[k] = lowerRG(uami.ID)
	}
	if len(linked) > 0 {
		return linkedAuthorizationFailed(c.Caller, c.Action(), r.ID, linked)
	}
	cur.UserAssignedIdentities = nil
	if wantUser {
		if len(next) == 0 {
			return azerr.BadRequest("InvalidIdentityValues", "The identity type '%s' needs at least one entry in userAssignedIdentities.", in.Type)
		}
		cur.UserAssignedIdentities = map[string]*UserIdentityRef{}
		for k, ref := range next {
			spelling := keep[k]
			if spelling == "" {
				spelling = k
			}
			cur.UserAssignedIdentities[spelling] = ref
		}
	}
	cur.Type = in.Type
	if !wantSystem && !wantUser {
		r.Identity = &Identity{Type: IdentityNone}
		return nil
	}
	cur.TenantID = ""
	if wantSystem {
		cur.TenantID = tenant.ID
	}
	r.Identity = &cur
	return nil
}

// lowerRG spells the resourceGroups segment of an id in lower case, as ARM echoes
// user-assigned identity ids.
func lowerRG(id string) string {
	i := strings.Index(strings.ToLower(id), "/resourcegroups/")
	if i < 0 {
		return id
	}
	return id[:i] + "/resourcegroups/" + id[i+len("/resourcegroups/"):]
}

// linkedAuthorizationFailed is ARM's 403 for a missing permission on a linked resource.
func linkedAuthorizationFailed(p access.Principal, action, scope string, linked []string) error {
	return azerr.New(http.StatusForbidden, "LinkedAuthorizationFailed",
		"The client '%s' with object id '%s' has permission to perform action '%s' on scope '%s'; however, it does not have permission to perform action(s) 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' on the linked scope(s) '%s' (respectively) or the linked scope(s) are invalid.",
		p.Display, p.ObjectID, action, scope, strings.Join(linked, ","))
}
