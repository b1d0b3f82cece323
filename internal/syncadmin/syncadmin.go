// Package syncadmin is Azure File Sync administration done as the signed-in caller through
// Resource Manager, as Az.StorageSync's cmdlets do it: "Turn on Managed identity"
// (Set-AzStorageSyncServiceIdentity, seed 000) and the portal's managed-identity tiles. Every
// step is an ARM request, so the caller's roles (and their conditions) decide.
package syncadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/uuid"
)

const apiVersion = "2022-09-01"

// Role definitions the identity flow grants (reference §8.4).
const (
	roleStorageAccountContributor = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
	roleFileDataPrivilegedContrib = "69566ab7-960f-475b-8e7c-b3118f30c6bd"
)

// Client sends Resource Manager requests as the signed-in caller.
type Client struct {
	HC   *http.Client
	Base string // Resource Manager's endpoint
	Cred azcore.TokenCredential
	// Progress hears each step.
	Progress func(format string, args ...any)
}

func (c *Client) say(format string, args ...any) {
	if c.Progress != nil {
		c.Progress(format, args...)
	}
}

// do sends one request; a 202 is followed to its operation's end and, for a PUT or PATCH,
// to the resource.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	tok, err := c.Cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := c.Base + path
	if !strings.Contains(path, "api-version=") {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		u += sep + "api-version=" + apiVersion
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HC.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal(b, &e)
		return &Error{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, Op: method + " " + path}
	}
	if resp.StatusCode == http.StatusAccepted {
		if op := resp.Header.Get("Azure-AsyncOperation"); op != "" {
			if err := c.wait(ctx, op); err != nil {
				return err
			}
		}
		if method == http.MethodDelete || out == nil {
			return nil
		}
		return c.do(ctx, http.MethodGet, path, nil, out)
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// wait polls a long-running operation until it ends.
func (c *Client) wait(ctx context.Context, op string) error {
	for {
		var st struct {
			Status string
			Error  json.RawMessage
		}
		if err := c.do(ctx, http.MethodGet, strings.TrimPrefix(op, c.Base), nil, &st); err != nil {
			return err
		}
		switch strings.ToLower(st.Status) {
		case "succeeded":
			return nil
		case "failed", "canceled":
			return fmt.Errorf("the operation %s: %s", strings.ToLower(st.Status), st.Error)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// Error is a refused Resource Manager request.
type Error struct {
	Status        int
	Code, Message string
	Op            string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %d %s: %s", e.Op, e.Status, e.Code, e.Message)
}

// Server is a registered server as the tiles show it.
type Server struct {
	ID                  string `json:"id"`
	Name                string `json:"name"`
	ActiveAuthType      string `json:"activeAuthType"`
	ApplicationID       string `json:"applicationId"`
	LatestApplicationID string `json:"latestApplicationId"`
	Identity            bool   `json:"identity"`
	AgentVersion        string `json:"agentVersion"`
}

// Tiles are the portal's Managed identity blade: servers ready to use their managed identity
// (an identity reported, not yet used), servers using it, and the rest (no identity: they
// keep the certificate and the shared key).
type Tiles struct {
	Service          string   `json:"service"`
	UseIdentity      bool     `json:"useIdentity"`
	ServicePrincipal string   `json:"servicePrincipalId,omitempty"`
	ReadyToUse       []Server `json:"readyToUseManagedId"`
	Using            []Server `json:"usingManagedId"`
	WithoutIdentity  []Server `json:"withoutManagedId"`
}

type resource struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Identity struct {
		Type        string `json:"type"`
		PrincipalID string `json:"principalId"`
	} `json:"identity"`
	Properties json.RawMessage `json:"properties"`
}

func (c *Client) list(ctx context.Context, path string) ([]resource, error) {
	var page struct {
		Value []resource `json:"value"`
	}
	err := c.do(ctx, http.MethodGet, path, nil, &page)
	return page.Value, err
}

func servers(rs []resource) []Server {
	out := make([]Server, 0, len(rs))
	for _, r := range rs {
		var s Server
		_ = json.Unmarshal(r.Properties, &s)
		var name struct {
			ServerName string `json:"serverName"`
		}
		_ = json.Unmarshal(r.Properties, &name)
		s.ID, s.Name = r.ID, name.ServerName
		out = append(out, s)
	}
	return out
}

// GetTiles reads the Storage Sync Service's managed-identity state.
func (c *Client) GetTiles(ctx context.Context, serviceID string) (Tiles, error) {
	var svc resource
	if err := c.do(ctx, http.MethodGet, serviceID, nil, &svc); err != nil {
		return Tiles{}, err
	}
	var props struct {
		UseIdentity bool `json:"useIdentity"`
	}
	_ = json.Unmarshal(svc.Properties, &props)
	t := Tiles{Service: serviceID, UseIdentity: props.UseIdentity, ServicePrincipal: svc.Identity.PrincipalID,
		ReadyToUse: []Server{}, Using: []Server{}, WithoutIdentity: []Server{}}
	rs, err := c.list(ctx, serviceID+"/registeredServers")
	if err != nil {
		return t, err
	}
	for _, s := range servers(rs) {
		switch {
		case s.ActiveAuthType == "ManagedIdentity":
			t.Using = append(t.Using, s)
		case candidate(s):
			t.ReadyToUse = append(t.ReadyToUse, s)
		default:
			t.WithoutIdentity = append(t.WithoutIdentity, s)
		}
	}
	return t, nil
}

// candidate is a server Set-AzStorageSyncServiceIdentity migrates: on certificates with an
// applicationId, or with a newly reported identity.
func candidate(s Server) bool {
	if s.ActiveAuthType == "Certificate" && s.ApplicationID != "" {
		return true
	}
	_, err := uuid.Parse(s.LatestApplicationID)
	return err == nil
}

// EnableIdentity turns on managed identities for a Storage Sync Service, seed 000's six
// steps: the service's system-assigned identity; Storage Account Contributor on each cloud
// endpoint's account and Storage File Data Privileged Contributor on each share for it; the
// same share role for each candidate server's identity; useIdentity; each candidate server
// configured to use its identity. Re-running picks up servers that reported an identity
// since. Servers without one keep their certificate and the shared key.
func (c *Client) EnableIdentity(ctx context.Context, serviceID string) (Tiles, error) {
	sub := strings.Split(strings.Trim(serviceID, "/"), "/")
	if len(sub) < 2 {
		return Tiles{}, fmt.Errorf("'%s' is not a Storage Sync Service id", serviceID)
	}
	subscription := "/subscriptions/" + sub[1]
	var svc resource
	if err := c.do(ctx, http.MethodGet, serviceID, nil, &svc); err != nil {
		return Tiles{}, err
	}
	rs, err := c.list(ctx, serviceID+"/registeredServers")
	if err != nil {
		return Tiles{}, err
	}
	var cands []Server
	for _, s := range servers(rs) {
		if candidate(s) {
			cands = append(cands, s)
		}
	}
	if len(cands) == 0 {
		return Tiles{}, errors.New("No server found which is available for migration: a registered server needs a system-assigned managed identity (an Azure VM or Azure Arc-enabled server with its identity turned on) and agent 20.0.0.0 or later, and its agent must have reported it (latestApplicationId)")
	}
	c.say("1/6 enable the Storage Sync Service's system-assigned identity")
	if err := c.do(ctx, http.MethodPatch, serviceID, map[string]any{"identity": map[string]any{"type": "SystemAssigned"}}, &svc); err != nil {
		return Tiles{}, err
	}
	if svc.Identity.PrincipalID == "" {
		return Tiles{}, errors.New("the Storage Sync Service answered without its identity's principalId")
	}
	groups, err := c.list(ctx, serviceID+"/syncGroups")
	if err != nil {
		return Tiles{}, err
	}
	type target struct{ account, share string }
	var targets []target
	for _, g := range groups {
		clouds, err := c.list(ctx, g.ID+"/cloudEndpoints")
		if err != nil {
			return Tiles{}, err
		}
		for _, ce := range clouds {
			var p struct {
				StorageAccountResourceID string `json:"storageAccountResourceId"`
				AzureFileShareName       string `json:"azureFileShareName"`
			}
			_ = json.Unmarshal(ce.Properties, &p)
			targets = append(targets, target{p.StorageAccountResourceID, p.StorageAccountResourceID + "/fileServices/default/fileshares/" + p.AzureFileShareName})
		}
	}
	c.say("2/6 grant it Storage Account Contributor on %d storage account(s)", len(targets))
	for _, tg := range targets {
		if err := c.ensureRole(ctx, subscription, svc.Identity.PrincipalID, roleStorageAccountContributor, tg.account); err != nil {
			return Tiles{}, err
		}
	}
	c.say("3/6 grant it Storage File Data Privileged Contributor on %d share(s)", len(targets))
	for _, tg := range targets {
		if err := c.ensureRole(ctx, subscription, svc.Identity.PrincipalID, roleFileDataPrivilegedContrib, tg.share); err != nil {
			return Tiles{}, err
		}
	}
	c.say("4/6 grant %d server identity(ies) Storage File Data Privileged Contributor on the shares", len(cands))
	for _, s := range cands {
		principal := s.LatestApplicationID
		if principal == "" {
			principal = s.ApplicationID
		}
		for _, tg := range targets {
			if err := c.ensureRole(ctx, subscription, principal, roleFileDataPrivilegedContrib, tg.share); err != nil {
				return Tiles{}, err
			}
		}
	}
	c.say("5/6 configure the Storage Sync Service to use its identity")
	if err := c.do(ctx, http.MethodPatch, serviceID, map[string]any{"properties": map[string]any{"useIdentity": true}}, nil); err != nil {
		return Tiles{}, err
	}
	c.say("6/6 configure %d server(s) to use their identity", len(cands))
	for _, s := range cands {
		if err := c.do(ctx, http.MethodPatch, s.ID, map[string]any{"properties": map[string]any{"identity": true}}, nil); err != nil {
			return Tiles{}, err
		}
	}
	return c.GetTiles(ctx, serviceID)
}

// ensureRole assigns role to principal at scope unless it already holds it there.
func (c *Client) ensureRole(ctx context.Context, subscription, principal, role, scope string) error {
	roleID := subscription + "/providers/Microsoft.Authorization/roleDefinitions/" + role
	// The role definition, read where it is assigned (a caller with a role in one resource
	// group reads definitions there).
	if err := c.do(ctx, http.MethodGet, scope+"/providers/Microsoft.Authorization/roleDefinitions/"+role+"?api-version=2022-04-01", nil, nil); err != nil {
		return err
	}
	var have struct {
		Value []struct {
			Properties struct {
				RoleDefinitionID string `json:"roleDefinitionId"`
				Scope            string `json:"scope"`
			} `json:"properties"`
		} `json:"value"`
	}
	filter := url.QueryEscape("assignedTo('" + principal + "')")
	if err := c.do(ctx, http.MethodGet, scope+"/providers/Microsoft.Authorization/roleAssignments?$filter="+filter+"&api-version=2022-04-01", nil, &have); err != nil {
		return err
	}
	for _, a := range have.Value {
		if strings.HasSuffix(strings.ToLower(a.Properties.RoleDefinitionID), role) {
			return nil
		}
	}
	// principalType says what the identity is (a service principal), as seed 000's
	// least-privilege condition for Azure File Sync Administrators requires.
	return c.do(ctx, http.MethodPut, scope+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=2022-04-01",
		map[string]any{"properties": map[string]any{"roleDefinitionId": roleID, "principalId": principal, "principalType": "ServicePrincipal"}}, nil)
}
