package storagesync

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The agent's endpoint (a registered server's managementEndpointUri): how a server's agent
// talks to its Storage Sync Service, authenticated as the registered server, first with its
// certificate, then (once configured) with its machine's managed identity.

// ManagementPath is where the agent endpoint is served.
const ManagementPath = managementPath

// AgentAudience is the resource a machine's managed-identity token names to reach the
// Storage Sync Service.
const AgentAudience = "https://azurefilesync.azure.com"

// ServerHeader names the registered server (its resource id) a call is made for.
const ServerHeader = "x-ms-registered-server"

// IdentityHeader carries a token of the machine's managed identity (audience AgentAudience)
// when a heartbeat reports it: the service takes no principal id on the agent's word.
const IdentityHeader = "x-ms-server-identity"

// maxAssertion is the longest a certificate assertion may live.
const maxAssertion = 10 * time.Minute

// AgentConfig is what GET config answers: how this server syncs.
type AgentConfig struct {
	ServerID       string          `json:"serverId"`
	ActiveAuthType string          `json:"activeAuthType"`
	ApplicationID  string          `json:"applicationId,omitempty"`
	Endpoints      []AgentEndpoint `json:"endpoints"`
}

// AgentEndpoint is one server endpoint of the server, with its cloud endpoint.
type AgentEndpoint struct {
	ID                    string `json:"id"`
	SyncGroup             string `json:"syncGroup"`
	ServerLocalPath       string `json:"serverLocalPath"`
	InitialUploadPolicy   string `json:"initialUploadPolicy"`
	InitialDownloadPolicy string `json:"initialDownloadPolicy"`
	LocalCacheMode        string `json:"localCacheMode"`
	StorageAccount        string `json:"storageAccount"`
	StorageAccountID      string `json:"storageAccountResourceId"`
	Share                 string `json:"share"`
	// FileEndpoint is the account's File service endpoint, as the account lists it.
	FileEndpoint string `json:"fileEndpoint"`
	// ShareAuth is how the server reaches the share: SharedKey (AccountKey given) while it
	// authenticates with its certificate, ManagedIdentity (its own token, backup intent) once
	// it uses its identity.
	ShareAuth  string `json:"shareAuth"`
	AccountKey string `json:"accountKey,omitempty"`
}

// Heartbeat is what the agent reports.
type Heartbeat struct {
	AgentVersion    string `json:"agentVersion"`
	ServerOSVersion string `json:"serverOSVersion,omitempty"`
}

// KeyLookup gives a storage account's key1 (the sync service hands it to servers that use
// certificates, as Azure File Sync's service does).
type KeyLookup func(tx store.Tx, account string) (string, error)

// ServeAgent serves the agent endpoint: POST heartbeat, GET config, POST status/{endpoint
// resource id}, POST and DELETE session/{endpoint resource id}.
func (p *Provider) ServeAgent(w http.ResponseWriter, r *http.Request, base string, keys KeyLookup) {
	op := strings.Trim(strings.TrimPrefix(r.URL.Path, managementPath), "/")
	server, err := p.authenticateAgent(r, base)
	if err != nil {
		azerr.WriteARM(w, err)
		return
	}
	var out any
	switch {
	case op == "heartbeat" && r.Method == http.MethodPost:
		out, err = p.heartbeat(r, server)
	case op == "config" && r.Method == http.MethodGet:
		out, err = p.config(r, server, keys, base)
	case strings.HasPrefix(op, "status/") && r.Method == http.MethodPost:
		err = p.report(r, server, "/"+strings.TrimPrefix(op, "status/"))
	case strings.HasPrefix(op, "session/") && (r.Method == http.MethodPost || r.Method == http.MethodDelete):
		out, err = p.session(r, server, "/"+strings.TrimPrefix(op, "session/"), r.Method == http.MethodDelete)
	default:
		err = azerr.NotFound("NotFound", "The agent endpoint serves POST heartbeat, GET config, POST status/<server endpoint id> and POST or DELETE session/<server endpoint id>.")
	}
	if err != nil {
		azerr.WriteARM(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if out == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

// authenticateAgent checks the caller is the registered server it names: with an assertion
// signed by the key of its registered certificate while it authenticates with a certificate,
// with its machine identity's token once it uses that identity (certificates are refused
// then).
func (p *Provider) authenticateAgent(r *http.Request, base string) (Child, error) {
	unauthorized := func(format string, args ...any) (Child, error) {
		return Child{}, azerr.Unauthorized("AuthenticationFailed", format, args...)
	}
	id := r.Header.Get(ServerHeader)
	parsed, err := arm.ParseID(strings.Split(strings.Trim(id, "/"), "/"))
	if id == "" || err != nil || !strings.EqualFold(parsed.FullType(), RegisteredServerType) || parsed.IsCollection() {
		return unauthorized("Name the registered server in the %s header (its resource id).", ServerHeader)
	}
	scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return unauthorized("The Authorization header is missing: send Bearer <assertion or token>.")
	}
	var server Child
	if err := p.arm.Store().View(r.Context(), func(tx store.Tx) error {
		var err error
		server, err = GetChildTx(tx, parsed.ResourceID())
		return err
	}); err != nil {
		return unauthorized("'%s' is not a registered server.", id)
	}
	var rs RegisteredServerProps
	_ = json.Unmarshal(server.Properties, &rs)
	mode, app := p.ServerAuth(rs)
	if mode == activeAuthManagedIdentity {
		claims, err := p.arm.Tokens().Verify(r.Context(), raw, []string{AgentAudience, AgentAudience + "/"})
		if err != nil {
			return unauthorized("The server uses its managed identity: send a token of it for %s (%v).", AgentAudience, err)
		}
		if !strings.EqualFold(claims.ObjectID, app) {
			return unauthorized("The token is not the server's managed identity %s.", app)
		}
		return server, nil
	}
	der, err := base64.StdEncoding.DecodeString(rs.ServerCertificate)
	if err != nil {
		return unauthorized("The server has no usable certificate.")
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return unauthorized("The server has no usable certificate.")
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256})
	if err != nil {
		return unauthorized("The assertion is not a signed JWT: %v.", err)
	}
	var c jwt.Claims
	if err := tok.Claims(cert.PublicKey, &c); err != nil {
		return unauthorized("The assertion is not signed with the registered server's certificate.")
	}
	now := p.now()
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: rs.ServerID, AnyAudience: jwt.Audience{base + managementPath}, Time: now}, time.Minute); err != nil {
		return unauthorized("The assertion is not valid here: %v (iss must be the server id, aud %s).", err, base+managementPath)
	}
	if c.Expiry == nil || c.Expiry.Time().Sub(now) > maxAssertion {
		return unauthorized("The assertion must expire within %s.", maxAssertion)
	}
	return server, nil
}

// heartbeat records the agent's version and, when it proves one, its machine identity
// (latestApplicationId until the server is configured to use it).
func (p *Provider) heartbeat(r *http.Request, server Child) (any, error) {
	var hb Heartbeat
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&hb); err != nil {
		return nil, invalid("The heartbeat must be JSON {\"agentVersion\": ...}: %v.", err)
	}
	identity := ""
	if tok := r.Header.Get(IdentityHeader); tok != "" {
		claims, err := p.arm.Tokens().Verify(r.Context(), tok, []string{AgentAudience, AgentAudience + "/"})
		if err != nil {
			return nil, azerr.Unauthorized("AuthenticationFailed", "The %s token is not valid: %v.", IdentityHeader, err)
		}
		if pr, err := p.arm.Directory().Get(r.Context(), claims.ObjectID); err != nil || pr.Kind != directory.KindManagedIdentity {
			return nil, invalid("The %s token is not a managed identity's.", IdentityHeader)
		}
		identity = claims.ObjectID
	}
	var out RegisteredServerProps
	err := p.arm.Store().Update(r.Context(), func(tx store.Tx) error {
		cur, err := GetChildTx(tx, server.ID)
		if err != nil {
			return err
		}
		var rs RegisteredServerProps
		_ = json.Unmarshal(cur.Properties, &rs)
		if hb.AgentVersion != "" {
			if _, ok := parseVersion(hb.AgentVersion); !ok {
				return invalid("agentVersion '%s' is not a version like 20.0.0.0.", hb.AgentVersion)
			}
			rs.AgentVersion = hb.AgentVersion
		}
		if hb.ServerOSVersion != "" {
			rs.ServerOSVersion = hb.ServerOSVersion
		}
		rs.LastHeartBeat = p.now().UTC()
		if identity != "" && !strings.EqualFold(identity, rs.ApplicationID) {
			rs.LatestApplicationID = identity
		}
		out = rs
		cur.Properties = mustJSON(rs)
		return putChildTx(tx, cur)
	})
	return map[string]any{"lastHeartBeat": out.LastHeartBeat, "latestApplicationId": out.LatestApplicationID}, err
}

// config lists the server's endpoints and how to reach each share.
func (p *Provider) config(r *http.Request, server Child, keys KeyLookup, base string) (any, error) {
	var rs RegisteredServerProps
	_ = json.Unmarshal(server.Properties, &rs)
	mode, app := p.ServerAuth(rs)
	cfg := AgentConfig{ServerID: rs.ServerID, ActiveAuthType: mode, ApplicationID: app, Endpoints: []AgentEndpoint{}}
	parsed, _ := arm.ParseID(strings.Split(strings.Trim(server.ID, "/"), "/"))
	err := p.arm.Store().View(r.Context(), func(tx store.Tx) error {
		eps, err := ServerEndpointsTx(tx, serviceOf(parsed))
		if err != nil {
			return err
		}
		for _, ep := range eps {
			if arm.Key(ep.Props.ServerResourceID) != arm.Key(server.ID) {
				continue
			}
			clouds, err := ListChildrenTx(tx, ep.Group.ID, "cloudEndpoints")
			if err != nil || len(clouds) == 0 {
				continue
			}
			var ce CloudEndpointProps
			_ = json.Unmarshal(clouds[0].Properties, &ce)
			acct := ce.StorageAccountResourceID[strings.LastIndex(ce.StorageAccountResourceID, "/")+1:]
			ae := AgentEndpoint{ID: ep.ID, SyncGroup: ep.Group.Name, ServerLocalPath: ep.Props.ServerLocalPath,
				InitialUploadPolicy: ep.Props.InitialUploadPolicy, InitialDownloadPolicy: ep.Props.InitialDownloadPolicy,
				LocalCacheMode: ep.Props.LocalCacheMode, StorageAccount: acct, StorageAccountID: ce.StorageAccountResourceID,
				Share: ce.AzureFileShareName, ShareAuth: mode, FileEndpoint: fileEndpoint(base, acct)}
			if mode != activeAuthManagedIdentity {
				ae.ShareAuth = "SharedKey"
				if ae.AccountKey, err = keys(tx, acct); err != nil {
					return err
				}
			}
			cfg.Endpoints = append(cfg.Endpoints, ae)
		}
		return nil
	})
	return cfg, err
}

// report records a server endpoint's sync status (only the server's own endpoints).
func (p *Provider) report(r *http.Request, server Child, endpointID string) error {
	var st EndpointStatus
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&st); err != nil {
		return invalid("The status must be JSON: %v.", err)
	}
	st.Updated = p.now().UTC()
	return p.arm.Store().Update(r.Context(), func(tx store.Tx) error {
		if _, err := ownEndpointTx(tx, server, endpointID); err != nil {
			return err
		}
		return PutStatusTx(tx, endpointID, st)
	})
}

// ownEndpointTx loads server endpoint endpointID, refused unless it is server's.
func ownEndpointTx(tx store.Tx, server Child, endpointID string) (Child, error) {
	ep, err := GetChildTx(tx, endpointID)
	if err != nil {
		return ep, err
	}
	var sp serverEndpointProps
	_ = json.Unmarshal(ep.Properties, &sp)
	if arm.Key(sp.ServerResourceID) != arm.Key(server.ID) {
		return ep, azerr.Forbidden("AuthorizationFailed", "'%s' is not an endpoint of this server.", endpointID)
	}
	return ep, nil
}

// fileEndpoint is an account's File endpoint as seen from base: path-style on Cerulean's own
// loopback address, the account's host name otherwise (as the account's primaryEndpoints).
func fileEndpoint(base, account string) string {
	host := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
	if strings.HasPrefix(host, "127.0.0.1") || strings.HasPrefix(host, "localhost") || strings.HasPrefix(host, "[::1]") {
		return base + "/" + account + "/"
	}
	return "https://" + account + ".file.core.windows.net/"
}
