// Package storagesync is the Microsoft.StorageSync resource provider (Azure File Sync's
// control plane): Storage Sync Services with their system-assigned identity and useIdentity,
// sync groups, cloud endpoints (an Azure file share), registered servers (a server's agent,
// its certificate and its managed identity) and server endpoints (a folder on a registered
// server). Writes answer as Azure's long-running operations do (202, then an operation
// status to poll); every one of them has completed by the time it answers.
//
// Shapes follow api-version 2022-09-01 (the identity properties) and what 2020-09-01 clients
// (armstoragesync v1.2.0) send; docs/design/filesync.md.
package storagesync

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/directory"
	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

// Resource types.
const (
	Namespace            = "Microsoft.StorageSync"
	ServiceType          = Namespace + "/storageSyncServices"
	SyncGroupType        = ServiceType + "/syncGroups"
	CloudEndpointType    = SyncGroupType + "/cloudEndpoints"
	ServerEndpointType   = SyncGroupType + "/serverEndpoints"
	RegisteredServerType = ServiceType + "/registeredServers"
	WorkflowType         = ServiceType + "/workflows"
	operationType        = Namespace + "/locations/workflows/operations"
	locationOpType       = Namespace + "/locations/operations"
)

const (
	minAPIVersion = "2019-02-01"
	colChildren   = "storagesync.resources"  // Key(id) -> Child
	colOperations = "storagesync.operations" // operation id -> operation
)

// MinIdentityAgent is the first agent version that can use a managed identity (seed 000).
const MinIdentityAgent = "20.0.0.0"

// minAgent is the oldest agent version a service accepts; older ones are Blocked.
const minAgent = "17.0.0.0"

const (
	storageAccountType                   = "Microsoft.Storage/storageAccounts"
	storageAccountReadAction             = storageAccountType + "/read"
	registeredServerWorkflow             = "ICreateRegisteredServerWorkflow"
	cloudEndpointWorkflow                = "ICreateCloudEndpointWorkflow"
	serverEndpointWorkflow               = "ICreateServerEndpointWorkflow"
	serviceWorkflow                      = "ICreateStorageSyncServiceWorkflow"
	managementPath                       = "/_storagesync/agent"
	defaultVolumeFreeSpacePercent        = 20
	defaultInitialDownloadPolicy         = "NamespaceThenModifiedFiles"
	defaultLocalCacheMode                = "UpdateLocallyCachedFiles"
	defaultInitialUploadPolicy           = "Merge"
	provisioningSucceeded                = "Succeeded"
	serverEndpointProvisioningNotStarted = "NotStarted"
	serverEndpointProvisioningFunctional = "Ready_SyncFunctional"
	activeAuthCertificate                = "Certificate"
	activeAuthManagedIdentity            = "ManagedIdentity"
	incomingAllowAll                     = "AllowAllTraffic"
	incomingVNetOnly                     = "AllowVirtualNetworksOnly"
	agentVersionOK                       = "Ok"
	serverRoleStandalone                 = "Standalone"
	syncGroupStatusHealthy               = "0"
	serviceStatusHealthy                 = 0
	changeEnumerationNotStarted          = "NotStarted"
	cloudTieringOff                      = "off"
	cloudTieringOn                       = "on"
	offlineDataTransferOff               = "off"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,259}$`)

// Provider serves Microsoft.StorageSync.
type Provider struct {
	arm *arm.Service
	// IdentitySwitch is how long a registered server takes to start using its managed
	// identity after it is configured to (Azure: up to 15 minutes); 0 is at once.
	IdentitySwitch time.Duration
	now            func() time.Time
}

// Register adds the provider's types to ARM.
func Register(s *arm.Service, identitySwitch time.Duration) *Provider {
	p := &Provider{arm: s, IdentitySwitch: identitySwitch, now: time.Now}
	s.Register(ServiceType, minAPIVersion, &async{p: p, h: &arm.TrackedType{
		Type: ServiceType, Identity: true, CombinedSpelling: arm.IdentitySystemAndUser, CreatedStatus: http.StatusOK,
		NameRE:     regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_\-]{0,259}$`),
		Properties: p.serviceProperties,
		OnWrite:    p.onServiceWrite,
		OnDelete:   p.onServiceDelete,
	}, workflow: serviceWorkflow}, arm.TrackedActions(ServiceType))
	s.Register(SyncGroupType, minAPIVersion, &child{p: p, typ: SyncGroupType, props: p.syncGroupProperties}, arm.TrackedActions(SyncGroupType))
	s.Register(CloudEndpointType, minAPIVersion, &async{p: p, h: &child{p: p, typ: CloudEndpointType, props: p.cloudEndpointProperties},
		workflow: cloudEndpointWorkflow}, arm.TrackedActions(CloudEndpointType))
	s.Register(ServerEndpointType, minAPIVersion, &async{p: p, h: &child{p: p, typ: ServerEndpointType, props: p.serverEndpointProperties, view: p.serverEndpointView},
		workflow: serverEndpointWorkflow}, arm.TrackedActions(ServerEndpointType))
	s.Register(RegisteredServerType, minAPIVersion, &async{p: p, h: &child{p: p, typ: RegisteredServerType, props: p.registeredServerProperties, view: p.registeredServerView},
		workflow: registeredServerWorkflow}, arm.TrackedActions(RegisteredServerType))
	s.Register(operationType, minAPIVersion, operations{}, arm.Actions{http.MethodGet: Namespace + "/locations/workflows/operations/read"})
	s.Register(locationOpType, minAPIVersion, operations{}, arm.Actions{http.MethodGet: Namespace + "/locations/operations/read"})
	s.Register(WorkflowType, minAPIVersion, workflows{}, arm.Actions{http.MethodGet: WorkflowType + "/read"})
	s.Register(Namespace+"/locations/checkNameAvailability", minAPIVersion, nameAvailability{},
		arm.Actions{http.MethodPost: Namespace + "/locations/checkNameAvailability/action"})
	// Actions not built answer Azure's NotSupported, after the caller's right to them.
	for _, a := range []struct{ typ, action string }{
		{CloudEndpointType, "triggerChangeDetection"}, {CloudEndpointType, "prebackup"}, {CloudEndpointType, "postbackup"},
		{CloudEndpointType, "prerestore"}, {CloudEndpointType, "postrestore"}, {CloudEndpointType, "restoreheartbeat"},
		{CloudEndpointType, "afsShareMetadataCertificatePublicKeys"}, {ServerEndpointType, "recallAction"},
		{RegisteredServerType, "triggerRollover"},
	} {
		s.Register(a.typ+"/"+a.action, minAPIVersion, notBuilt(a.action), arm.Actions{http.MethodPost: a.typ + "/" + a.action + "/action"})
	}
	return p
}

// notBuilt is an action Cerulean does not carry out (yet): 400 NotSupported.
type notBuilt string

func (n notBuilt) ServeARM(c *arm.Call) (int, any, error) {
	return 0, nil, azerr.BadRequest("NotSupported", "The action '%s' is not supported by Cerulean's Azure File Sync: the agent syncs on file-system events and every 'agent run --interval'; cloud tiering, backup hooks and certificate rollover are not built.", string(n))
}

// ---- Storage Sync Services ----

type serviceProps struct {
	IncomingTrafficPolicy      string `json:"incomingTrafficPolicy"`
	UseIdentity                bool   `json:"useIdentity"`
	StorageSyncServiceStatus   int    `json:"storageSyncServiceStatus"`
	StorageSyncServiceUID      string `json:"storageSyncServiceUid"`
	ProvisioningState          string `json:"provisioningState"`
	LastWorkflowID             string `json:"lastWorkflowId,omitempty"`
	LastOperationName          string `json:"lastOperationName,omitempty"`
	PrivateEndpointConnections []any  `json:"privateEndpointConnections"`
}

func (p *Provider) serviceProperties(c *arm.Call, old, in json.RawMessage) (json.RawMessage, error) {
	var cur serviceProps
	if old != nil {
		_ = json.Unmarshal(old, &cur)
	} else {
		cur = serviceProps{IncomingTrafficPolicy: incomingAllowAll, StorageSyncServiceStatus: serviceStatusHealthy,
			StorageSyncServiceUID: uuid.NewString(), ProvisioningState: provisioningSucceeded, PrivateEndpointConnections: []any{}}
	}
	var req struct {
		IncomingTrafficPolicy *string `json:"incomingTrafficPolicy"`
		UseIdentity           *bool   `json:"useIdentity"`
	}
	if len(in) > 0 && string(in) != "null" {
		if err := json.Unmarshal(in, &req); err != nil {
			return nil, invalid("The properties of a Storage Sync Service must be a JSON object: %v.", err)
		}
	}
	if v := req.IncomingTrafficPolicy; v != nil {
		switch {
		case strings.EqualFold(*v, incomingAllowAll):
			cur.IncomingTrafficPolicy = incomingAllowAll
		case strings.EqualFold(*v, incomingVNetOnly):
			cur.IncomingTrafficPolicy = incomingVNetOnly
		default:
			return nil, invalid("incomingTrafficPolicy '%s' is not valid: use %s or %s.", *v, incomingAllowAll, incomingVNetOnly)
		}
	}
	if req.UseIdentity != nil {
		cur.UseIdentity = *req.UseIdentity
	}
	cur.ProvisioningState = provisioningSucceeded
	return json.Marshal(cur)
}

// onServiceWrite refuses useIdentity without a system-assigned identity to use.
func (p *Provider) onServiceWrite(c *arm.Call, tx store.Tx, r *arm.Resource, created bool) error {
	var props serviceProps
	_ = json.Unmarshal(r.Properties, &props)
	if props.UseIdentity && (r.Identity == nil || r.Identity.PrincipalID == "") {
		return invalid("useIdentity needs the Storage Sync Service's system-assigned managed identity: set identity.type to SystemAssigned first (or in the same request).")
	}
	return nil
}

// serviceEmpty refuses to delete a service (directly) while sync groups or registered
// servers remain, as Azure does; emptied first.
func (p *Provider) serviceEmpty(c *arm.Call) error {
	if err := c.Authorize(ServiceType+"/delete", c.ID.ResourceID()); err != nil {
		return err
	}
	return c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		for _, typ := range []string{"syncGroups", "registeredServers"} {
			items, err := ListChildrenTx(tx, c.ID.ResourceID(), typ)
			if err != nil {
				return err
			}
			if len(items) > 0 {
				return conflict("StorageSyncServiceNotEmpty", "The Storage Sync Service '%s' still has %s: delete its sync groups and unregister its servers first.", c.ID.Name(), typ)
			}
		}
		return nil
	})
}

// onServiceDelete removes what lives below a service deleted with its resource group.
func (p *Provider) onServiceDelete(s *arm.Service, tx store.Tx, r *arm.Resource) error {
	items, err := tx.List(colChildren, arm.Key(r.ID)+"/")
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := tx.Delete(colChildren, it.Key); err != nil {
			return err
		}
		for _, col := range []string{colStatus, colSessions} {
			if err := tx.Delete(col, it.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// serviceNameTakenTx reports whether a Storage Sync Service named name exists in location loc
// of subscription sub.
func serviceNameTakenTx(tx store.Tx, sub, loc, name string) (bool, error) {
	list, err := arm.ListResourcesTx(tx, "/subscriptions/"+sub+"/")
	if err != nil {
		return false, err
	}
	for _, r := range list {
		if strings.EqualFold(r.Type, ServiceType) && strings.EqualFold(r.Name, name) && arm.NormalizeLocation(r.Location) == loc {
			return true, nil
		}
	}
	return false, nil
}

// ---- child resources ----

// Child is a stored child resource (sync group, endpoint, registered server).
type Child struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Properties json.RawMessage `json:"properties"`
}

// GetChildTx loads a child resource by id.
func GetChildTx(tx store.Tx, id string) (Child, error) {
	var ch Child
	b, err := tx.Get(colChildren, arm.Key(id))
	if errors.Is(err, store.ErrNotFound) {
		return ch, notFound(id)
	}
	if err != nil {
		return ch, err
	}
	return ch, json.Unmarshal(b, &ch)
}

func putChildTx(tx store.Tx, ch Child) error {
	b, err := json.Marshal(ch)
	if err != nil {
		return err
	}
	return tx.Put(colChildren, arm.Key(ch.ID), b)
}

// ListChildrenTx lists the children of parent of one type ("syncGroups", ...).
func ListChildrenTx(tx store.Tx, parent, typ string) ([]Child, error) {
	items, err := tx.List(colChildren, arm.Key(parent)+"/"+strings.ToLower(typ)+"/")
	if err != nil {
		return nil, err
	}
	out := make([]Child, 0, len(items))
	for _, it := range items {
		if strings.Contains(strings.TrimPrefix(it.Key, arm.Key(parent)+"/"+strings.ToLower(typ)+"/"), "/") {
			continue // a grandchild
		}
		var ch Child
		if err := json.Unmarshal(it.Value, &ch); err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, nil
}

// child serves one child type: GET (one and list), PUT, PATCH, DELETE.
type child struct {
	p   *Provider
	typ string
	// props validates a write given the stored properties (nil on create) and the request's,
	// and returns what to store; it may look at (and refuse because of) other resources.
	props func(c *arm.Call, tx store.Tx, id string, old, in json.RawMessage) (json.RawMessage, error)
	// view adds what GET computes (nil: the stored properties).
	view func(tx store.Tx, ch Child) Child
	// del checks a delete (nil: allowed).
}

func (h *child) ServeARM(c *arm.Call) (int, any, error) {
	if c.ID.IsCollection() {
		return h.list(c)
	}
	id := c.ID.ResourceID()
	switch c.R.Method {
	case http.MethodGet:
		var ch Child
		err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
			var err error
			ch, err = GetChildTx(tx, id)
			return err
		})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, h.shown(c, ch), nil
	case http.MethodPut, http.MethodPatch:
		return h.write(c, id)
	case http.MethodDelete:
		return h.delete(c, id)
	}
	return 0, nil, azerr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '%s'.", c.R.Method)
}

func (h *child) list(c *arm.Call) (int, any, error) {
	parent := c.ID.Parent()
	out := []Child{}
	err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		if err := parentExistsTx(tx, parent); err != nil {
			return err
		}
		list, err := ListChildrenTx(tx, parent, c.ID.Types[len(c.ID.Types)-1])
		if err != nil {
			return err
		}
		out = append(out, list...)
		return nil
	})
	for i := range out {
		out[i] = h.shown(c, out[i])
	}
	if err != nil {
		return 0, nil, err
	}
	if err := c.Authorize(h.typ+"/read", parent); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"value": out}, nil
}

func (h *child) write(c *arm.Call, id string) (int, any, error) {
	if !nameRE.MatchString(c.ID.Name()) {
		return 0, nil, invalid("The name '%s' is not valid: up to 260 letters, digits, '_', '-' and '.', not starting with '-' or '.'.", c.ID.Name())
	}
	var in struct {
		Properties json.RawMessage `json:"properties"`
	}
	if len(strings.TrimSpace(string(c.Body))) > 0 {
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
	} else if c.R.Method == http.MethodPut {
		return 0, nil, invalid("The request body is empty: send {\"properties\": {...}}.")
	}
	var out Child
	err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error {
		if err := parentExistsTx(tx, parentOf(c.ID)); err != nil {
			return err
		}
		cur, err := GetChildTx(tx, id)
		exists := err == nil
		if err != nil && !isNotFound(err) {
			return err
		}
		if !exists && c.R.Method == http.MethodPatch {
			return err
		}
		var old json.RawMessage
		if exists {
			old = cur.Properties
		}
		props, err := h.props(c, tx, id, old, in.Properties)
		if err != nil {
			return err
		}
		out = Child{ID: id, Name: c.ID.Name(), Type: h.typ, Properties: props}
		return putChildTx(tx, out)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, h.shown(c, out), nil
}

// shown is a child as GET answers it (with what view computes).
func (h *child) shown(c *arm.Call, ch Child) Child {
	if h.view == nil {
		return ch
	}
	_ = c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		ch = h.view(tx, ch)
		return nil
	})
	return ch
}

func (h *child) delete(c *arm.Call, id string) (int, any, error) {
	status := http.StatusOK
	err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error {
		if _, err := GetChildTx(tx, id); isNotFound(err) {
			status = http.StatusNoContent
			return nil
		} else if err != nil {
			return err
		}
		// Whatever lives below it must go first, as in Azure.
		items, err := tx.List(colChildren, arm.Key(id)+"/")
		if err != nil {
			return err
		}
		if len(items) > 0 {
			return conflict("ResourceNotEmpty", "'%s' still has %d endpoint(s) or other resources below it: delete them first.", c.ID.Name(), len(items))
		}
		if h.typ == RegisteredServerType || h.typ == CloudEndpointType {
			if err := h.p.deleteBlockedTx(tx, id, h.typ); err != nil {
				return err
			}
		}
		for _, col := range []string{colStatus, colSessions} {
			if err := tx.Delete(col, arm.Key(id)); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		return tx.Delete(colChildren, arm.Key(id))
	})
	return status, nil, err
}

// deleteBlockedTx refuses to unregister a server that still has server endpoints, or to
// delete a cloud endpoint whose sync group still has server endpoints.
func (p *Provider) deleteBlockedTx(tx store.Tx, id, typ string) error {
	parsed, _ := arm.ParseID(strings.Split(strings.Trim(id, "/"), "/"))
	eps, err := ServerEndpointsTx(tx, serviceOf(parsed))
	if err != nil {
		return err
	}
	for _, ep := range eps {
		switch {
		case typ == RegisteredServerType && arm.Key(ep.Props.ServerResourceID) == arm.Key(id):
			return conflict("ServerHasServerEndpoints", "The server has server endpoint '%s' in sync group '%s': delete it before unregistering the server.", ep.Name, ep.Group.Name)
		case typ == CloudEndpointType && strings.HasPrefix(arm.Key(id), arm.Key(ep.Group.ID)+"/"):
			return conflict("SyncGroupHasServerEndpoints", "Sync group '%s' still has server endpoint '%s': delete the server endpoints before the cloud endpoint.", ep.Group.Name, ep.Name)
		}
	}
	return nil
}

// ServerEndpoint is a server endpoint with its sync group.
type ServerEndpoint struct {
	Child
	Group Child
	Props ServerEndpointProps
}

// ServerEndpointsTx lists every server endpoint of a Storage Sync Service.
func ServerEndpointsTx(tx store.Tx, serviceID string) ([]ServerEndpoint, error) {
	groups, err := ListChildrenTx(tx, serviceID, "syncGroups")
	if err != nil {
		return nil, err
	}
	var out []ServerEndpoint
	for _, g := range groups {
		eps, err := ListChildrenTx(tx, g.ID, "serverEndpoints")
		if err != nil {
			return nil, err
		}
		for _, ep := range eps {
			e := ServerEndpoint{Child: ep, Group: g}
			if err := json.Unmarshal(ep.Properties, &e.Props); err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// parentOf is the id of the resource a named child resource lives in.
func parentOf(id arm.ID) string {
	p := id
	p.Types, p.Names = id.Types[:len(id.Names)-1], id.Names[:len(id.Names)-1]
	return p.ResourceID()
}

// serviceOf is the Storage Sync Service id of a resource below it.
func serviceOf(id arm.ID) string {
	return id.Scope + "/providers/" + Namespace + "/storageSyncServices/" + id.Names[0]
}

func parentExistsTx(tx store.Tx, parent string) error {
	parsed, err := arm.ParseID(strings.Split(strings.Trim(parent, "/"), "/"))
	if err != nil {
		return err
	}
	if len(parsed.Types) == 1 {
		_, err := arm.GetResourceTx(tx, parent)
		return err
	}
	_, err = GetChildTx(tx, parent)
	return err
}

// ---- sync groups ----

type syncGroupProps struct {
	UniqueID        string `json:"uniqueId"`
	SyncGroupStatus string `json:"syncGroupStatus"`
}

func (p *Provider) syncGroupProperties(c *arm.Call, tx store.Tx, id string, old, in json.RawMessage) (json.RawMessage, error) {
	if old != nil {
		return old, nil
	}
	return json.Marshal(syncGroupProps{UniqueID: uuid.NewString(), SyncGroupStatus: syncGroupStatusHealthy})
}

// ---- cloud endpoints ----

// CloudEndpointProps are a cloud endpoint's properties.
type CloudEndpointProps struct {
	StorageAccountResourceID string          `json:"storageAccountResourceId"`
	AzureFileShareName       string          `json:"azureFileShareName"`
	StorageAccountTenantID   string          `json:"storageAccountTenantId"`
	PartnershipID            string          `json:"partnershipId"`
	FriendlyName             string          `json:"friendlyName"`
	BackupEnabled            string          `json:"backupEnabled"`
	ProvisioningState        string          `json:"provisioningState"`
	LastWorkflowID           string          `json:"lastWorkflowId"`
	LastOperationName        string          `json:"lastOperationName"`
	ChangeEnumerationStatus  json.RawMessage `json:"changeEnumerationStatus"`
}

func (p *Provider) cloudEndpointProperties(c *arm.Call, tx store.Tx, id string, old, in json.RawMessage) (json.RawMessage, error) {
	var req struct {
		StorageAccountResourceID string `json:"storageAccountResourceId"`
		AzureFileShareName       string `json:"azureFileShareName"`
		StorageAccountTenantID   string `json:"storageAccountTenantId"`
		FriendlyName             string `json:"friendlyName"`
	}
	if err := decodeProps(in, &req); err != nil {
		return nil, err
	}
	if old != nil {
		var cur CloudEndpointProps
		_ = json.Unmarshal(old, &cur)
		if (req.StorageAccountResourceID != "" && arm.Key(req.StorageAccountResourceID) != arm.Key(cur.StorageAccountResourceID)) ||
			(req.AzureFileShareName != "" && req.AzureFileShareName != cur.AzureFileShareName) {
			return nil, invalid("A cloud endpoint's storage account and share cannot change: delete it and create another.")
		}
		if req.FriendlyName != "" {
			cur.FriendlyName = req.FriendlyName
		}
		return json.Marshal(cur)
	}
	if req.StorageAccountResourceID == "" || req.AzureFileShareName == "" {
		return nil, invalid("A cloud endpoint needs properties.storageAccountResourceId and properties.azureFileShareName.")
	}
	tenant, err := c.Svc.Directory().Tenant(c.Ctx)
	if err != nil {
		return nil, err
	}
	if req.StorageAccountTenantID != "" && !strings.EqualFold(req.StorageAccountTenantID, tenant.ID) {
		return nil, invalid("Cross-tenant topologies aren't supported: the storage account's tenant '%s' is not the Storage Sync Service's tenant '%s'. The Storage Sync Service, the servers, their managed identities and the storage account must all be in one Microsoft Entra tenant.",
			req.StorageAccountTenantID, tenant.ID)
	}
	acct, err := arm.GetResourceTx(tx, req.StorageAccountResourceID)
	if err != nil || !strings.EqualFold(acct.Type, storageAccountType) {
		return nil, invalid("The storage account '%s' does not exist: give the full resource id of a Microsoft.Storage/storageAccounts account.", req.StorageAccountResourceID)
	}
	if err := c.Authorize(storageAccountReadAction, acct.ID); err != nil {
		return nil, err
	}
	if _, err := files.GetShareTx(tx, acct.Name, req.AzureFileShareName); err != nil {
		return nil, invalid("The file share '%s' does not exist in storage account '%s': create it first.", req.AzureFileShareName, acct.Name)
	}
	parsed, _ := arm.ParseID(strings.Split(strings.Trim(id, "/"), "/"))
	groupID := parentOf(parsed)
	siblings, err := ListChildrenTx(tx, groupID, "cloudEndpoints")
	if err != nil {
		return nil, err
	}
	if len(siblings) > 0 {
		return nil, conflict("CloudEndpointAlreadyExists", "Sync group '%s' already has cloud endpoint '%s': a sync group has exactly one.", parsed.Names[1], siblings[0].Name)
	}
	// A share belongs to one sync group.
	all, err := tx.List(colChildren, "")
	if err != nil {
		return nil, err
	}
	for _, it := range all {
		var ch Child
		if json.Unmarshal(it.Value, &ch) != nil || !strings.EqualFold(ch.Type, CloudEndpointType) {
			continue
		}
		var ce CloudEndpointProps
		_ = json.Unmarshal(ch.Properties, &ce)
		if arm.Key(ce.StorageAccountResourceID) == arm.Key(acct.ID) && ce.AzureFileShareName == req.AzureFileShareName {
			return nil, conflict("ShareAlreadyInSyncGroup", "The file share '%s' is already the cloud endpoint of '%s': a share syncs in one sync group only.", req.AzureFileShareName, ch.ID)
		}
	}
	now := p.now().UTC()
	return json.Marshal(CloudEndpointProps{
		StorageAccountResourceID: acct.ID, AzureFileShareName: req.AzureFileShareName, StorageAccountTenantID: tenant.ID,
		PartnershipID: uuid.NewString(), FriendlyName: firstNonEmpty(req.FriendlyName, req.AzureFileShareName), BackupEnabled: "false",
		ProvisioningState: provisioningSucceeded, LastWorkflowID: "storageSyncServices/" + parsed.Names[0] + "/workflows/" + uuid.NewString(),
		LastOperationName: cloudEndpointWorkflow,
		ChangeEnumerationStatus: mustJSON(map[string]any{"lastUpdatedTimestamp": now,
			"lastEnumerationStatus": map[string]any{"completedTimestamp": now, "namespaceFilesCount": 0, "namespaceDirectoriesCount": 0, "namespaceSizeBytes": 0},
			"activity":              map[string]any{"operationState": changeEnumerationNotStarted, "progressPercent": 0}}),
	})
}

// ---- registered servers ----

// RegisteredServerProps are a registered server's properties.
type RegisteredServerProps struct {
	ServerID                   string    `json:"serverId"`
	ServerCertificate          string    `json:"serverCertificate"`
	AgentVersion               string    `json:"agentVersion"`
	AgentVersionStatus         string    `json:"agentVersionStatus"`
	ServerOSVersion            string    `json:"serverOSVersion"`
	ServerRole                 string    `json:"serverRole"`
	ClusterID                  string    `json:"clusterId"`
	ClusterName                string    `json:"clusterName"`
	LastHeartBeat              time.Time `json:"lastHeartBeat"`
	StorageSyncServiceUID      string    `json:"storageSyncServiceUid"`
	ProvisioningState          string    `json:"provisioningState"`
	LastWorkflowID             string    `json:"lastWorkflowId"`
	LastOperationName          string    `json:"lastOperationName"`
	DiscoveryEndpointURI       string    `json:"discoveryEndpointUri"`
	ResourceLocation           string    `json:"resourceLocation"`
	ServiceLocation            string    `json:"serviceLocation"`
	FriendlyName               string    `json:"friendlyName"`
	ManagementEndpointURI      string    `json:"managementEndpointUri"`
	MonitoringEndpointURI      string    `json:"monitoringEndpointUri"`
	MonitoringConfiguration    string    `json:"monitoringConfiguration"`
	ServerName                 string    `json:"serverName"`
	ApplicationID              string    `json:"applicationId"`
	LatestApplicationID        string    `json:"latestApplicationId"`
	Identity                   bool      `json:"identity"`
	ActiveAuthType             string    `json:"activeAuthType"`
	ServerManagementErrorCode  int       `json:"serverManagementErrorCode"`
	AgentVersionExpirationDate time.Time `json:"agentVersionExpirationDate"`
	// IdentityFrom is when the server starts using its managed identity (the switch-over
	// delay after it was configured to); not shown.
	IdentityFrom time.Time `json:"identityFrom,omitzero"`
}

func (p *Provider) registeredServerProperties(c *arm.Call, tx store.Tx, id string, old, in json.RawMessage) (json.RawMessage, error) {
	var req struct {
		ServerCertificate *string `json:"serverCertificate"`
		AgentVersion      *string `json:"agentVersion"`
		ServerOSVersion   *string `json:"serverOSVersion"`
		LastHeartBeat     *string `json:"lastHeartBeat"`
		ServerRole        *string `json:"serverRole"`
		ClusterID         *string `json:"clusterId"`
		ClusterName       *string `json:"clusterName"`
		ServerID          *string `json:"serverId"`
		FriendlyName      *string `json:"friendlyName"`
		ApplicationID     *string `json:"applicationId"`
		Identity          *bool   `json:"identity"`
	}
	if err := decodeProps(in, &req); err != nil {
		return nil, err
	}
	name := path.Base(id)
	if _, err := uuid.Parse(name); err != nil {
		return nil, invalid("A registered server is named by its server id, a GUID: '%s' is not one.", name)
	}
	var cur RegisteredServerProps
	parsed, _ := arm.ParseID(strings.Split(strings.Trim(id, "/"), "/"))
	if old != nil {
		_ = json.Unmarshal(old, &cur)
	} else {
		svc, err := arm.GetResourceTx(tx, serviceOf(parsed))
		if err != nil {
			return nil, err
		}
		var sp serviceProps
		_ = json.Unmarshal(svc.Properties, &sp)
		if req.ServerCertificate == nil || req.AgentVersion == nil {
			return nil, invalid("Registering a server needs properties.serverCertificate (its certificate, base64 DER) and properties.agentVersion.")
		}
		base := "https://" + c.R.Host
		cur = RegisteredServerProps{ServerID: name, ServerRole: serverRoleStandalone, StorageSyncServiceUID: sp.StorageSyncServiceUID,
			ProvisioningState: provisioningSucceeded, LastWorkflowID: "storageSyncServices/" + parsed.Names[0] + "/workflows/" + uuid.NewString(),
			LastOperationName: registeredServerWorkflow, DiscoveryEndpointURI: base + managementPath, ResourceLocation: svc.Location,
			ServiceLocation: svc.Location, ManagementEndpointURI: base + managementPath, MonitoringEndpointURI: base + managementPath + "/monitoring",
			ActiveAuthType: activeAuthCertificate, AgentVersionExpirationDate: p.now().UTC().AddDate(1, 0, 0).Truncate(time.Second)}
	}
	if req.ServerID != nil && !strings.EqualFold(*req.ServerID, name) {
		return nil, invalid("properties.serverId '%s' is not the registered server's name '%s'.", *req.ServerID, name)
	}
	if req.ServerCertificate != nil {
		der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(*req.ServerCertificate))
		if err == nil {
			_, err = x509.ParseCertificate(der)
		}
		if err != nil {
			return nil, invalid("properties.serverCertificate is not a base64 DER X.509 certificate: %v.", err)
		}
		cur.ServerCertificate = strings.TrimSpace(*req.ServerCertificate)
	}
	if req.AgentVersion != nil {
		if _, ok := parseVersion(*req.AgentVersion); !ok {
			return nil, invalid("properties.agentVersion '%s' is not a version like 20.0.0.0.", *req.AgentVersion)
		}
		if versionLess(*req.AgentVersion, minAgent) {
			return nil, invalid("Agent version %s is blocked: Azure File Sync accepts agents %s and later.", *req.AgentVersion, minAgent)
		}
		cur.AgentVersion, cur.AgentVersionStatus = *req.AgentVersion, agentVersionOK
	}
	setStr := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setStr(&cur.ServerOSVersion, req.ServerOSVersion)
	setStr(&cur.ServerRole, req.ServerRole)
	setStr(&cur.ClusterID, req.ClusterID)
	setStr(&cur.ClusterName, req.ClusterName)
	if req.FriendlyName != nil {
		cur.FriendlyName, cur.ServerName = *req.FriendlyName, *req.FriendlyName
	}
	if req.LastHeartBeat != nil {
		t, err := parseTime(*req.LastHeartBeat)
		if err != nil {
			return nil, invalid("properties.lastHeartBeat '%s' is not a time: %v.", *req.LastHeartBeat, err)
		}
		cur.LastHeartBeat = t
	} else if old == nil {
		cur.LastHeartBeat = p.now().UTC()
	}
	if req.ApplicationID != nil && *req.ApplicationID != "" {
		if err := p.checkMachineIdentity(c, *req.ApplicationID); err != nil {
			return nil, err
		}
		if cur.Identity || (req.Identity != nil && *req.Identity) {
			cur.ApplicationID = *req.ApplicationID
		} else {
			cur.LatestApplicationID = *req.ApplicationID
		}
	}
	if req.Identity != nil {
		if *req.Identity && !cur.Identity {
			if err := p.configureIdentity(&cur); err != nil {
				return nil, err
			}
		} else if !*req.Identity && cur.Identity {
			cur.Identity, cur.ActiveAuthType = false, activeAuthCertificate
			if cur.LatestApplicationID == "" {
				cur.LatestApplicationID = cur.ApplicationID
			}
			cur.ApplicationID, cur.IdentityFrom = "", time.Time{}
		}
	}
	return json.Marshal(cur)
}

// configureIdentity makes a server use its managed identity: applicationId becomes the
// identity last discovered, latestApplicationId empties, and activeAuthType turns to
// ManagedIdentity once the switch-over delay has passed (seed 000).
func (p *Provider) configureIdentity(cur *RegisteredServerProps) error {
	app := firstNonEmpty(cur.LatestApplicationID, cur.ApplicationID)
	if app == "" {
		return invalid("The server '%s' has no system-assigned managed identity: enable one on its Azure VM or Azure Arc-enabled server, let the agent report it (latestApplicationId), then try again. Until then it keeps authenticating with its certificate and the shared key.", firstNonEmpty(cur.ServerName, cur.ServerID))
	}
	if versionLess(cur.AgentVersion, MinIdentityAgent) {
		return invalid("The server '%s' runs agent %s: managed identities need agent %s or later.", firstNonEmpty(cur.ServerName, cur.ServerID), cur.AgentVersion, MinIdentityAgent)
	}
	cur.Identity, cur.ApplicationID, cur.LatestApplicationID = true, app, ""
	cur.IdentityFrom = p.now().UTC().Add(p.IdentitySwitch)
	if p.IdentitySwitch <= 0 {
		cur.ActiveAuthType = activeAuthManagedIdentity
	}
	return nil
}

// checkMachineIdentity checks an applicationId names a managed identity of the tenant.
func (p *Provider) checkMachineIdentity(c *arm.Call, objectID string) error {
	pr, err := c.Svc.Directory().Get(c.Ctx, objectID)
	if err != nil || pr.Kind != directory.KindManagedIdentity {
		return invalid("applicationId '%s' is not a managed identity of this tenant: give the principal id of the server's system-assigned identity.", objectID)
	}
	return nil
}

// registeredServerView turns activeAuthType to ManagedIdentity once the switch-over delay has
// passed.
func (p *Provider) registeredServerView(tx store.Tx, ch Child) Child {
	var rs RegisteredServerProps
	if json.Unmarshal(ch.Properties, &rs) != nil {
		return ch
	}
	if rs.Identity && rs.ActiveAuthType != activeAuthManagedIdentity && !p.now().Before(rs.IdentityFrom) {
		rs.ActiveAuthType = activeAuthManagedIdentity
	}
	ch.Properties = mustJSON(rs)
	return ch
}

// ServerAuth is how a registered server authenticates now: ManagedIdentity with the
// principal applicationId, or Certificate.
func (p *Provider) ServerAuth(rs RegisteredServerProps) (string, string) {
	if rs.Identity && !p.now().Before(rs.IdentityFrom) {
		return activeAuthManagedIdentity, rs.ApplicationID
	}
	return activeAuthCertificate, ""
}

// ---- server endpoints ----

type serverEndpointProps struct {
	ServerLocalPath                  string          `json:"serverLocalPath"`
	ServerResourceID                 string          `json:"serverResourceId"`
	CloudTiering                     string          `json:"cloudTiering"`
	VolumeFreeSpacePercent           int             `json:"volumeFreeSpacePercent"`
	TierFilesOlderThanDays           int             `json:"tierFilesOlderThanDays"`
	FriendlyName                     string          `json:"friendlyName"`
	OfflineDataTransfer              string          `json:"offlineDataTransfer"`
	OfflineDataTransferShareName     string          `json:"offlineDataTransferShareName,omitempty"`
	InitialDownloadPolicy            string          `json:"initialDownloadPolicy"`
	LocalCacheMode                   string          `json:"localCacheMode"`
	InitialUploadPolicy              string          `json:"initialUploadPolicy"`
	ProvisioningState                string          `json:"provisioningState"`
	LastWorkflowID                   string          `json:"lastWorkflowId"`
	LastOperationName                string          `json:"lastOperationName"`
	ServerName                       string          `json:"serverName"`
	SyncStatus                       json.RawMessage `json:"syncStatus"`
	CloudTieringStatus               json.RawMessage `json:"cloudTieringStatus"`
	RecallStatus                     json.RawMessage `json:"recallStatus"`
	ServerEndpointProvisioningStatus json.RawMessage `json:"serverEndpointProvisioningStatus"`
}

// ServerEndpointProps is what the agent needs of a server endpoint.
type ServerEndpointProps = serverEndpointProps

func (p *Provider) serverEndpointProperties(c *arm.Call, tx store.Tx, id string, old, in json.RawMessage) (json.RawMessage, error) {
	var req struct {
		ServerLocalPath              *string `json:"serverLocalPath"`
		ServerResourceID             *string `json:"serverResourceId"`
		CloudTiering                 *string `json:"cloudTiering"`
		VolumeFreeSpacePercent       *int    `json:"volumeFreeSpacePercent"`
		TierFilesOlderThanDays       *int    `json:"tierFilesOlderThanDays"`
		FriendlyName                 *string `json:"friendlyName"`
		OfflineDataTransfer          *string `json:"offlineDataTransfer"`
		OfflineDataTransferShareName *string `json:"offlineDataTransferShareName"`
		InitialDownloadPolicy        *string `json:"initialDownloadPolicy"`
		LocalCacheMode               *string `json:"localCacheMode"`
		InitialUploadPolicy          *string `json:"initialUploadPolicy"`
	}
	if err := decodeProps(in, &req); err != nil {
		return nil, err
	}
	parsed, _ := arm.ParseID(strings.Split(strings.Trim(id, "/"), "/"))
	groupID := parentOf(parsed)
	var cur serverEndpointProps
	if old != nil {
		_ = json.Unmarshal(old, &cur)
		if (req.ServerLocalPath != nil && *req.ServerLocalPath != cur.ServerLocalPath) ||
			(req.ServerResourceID != nil && arm.Key(*req.ServerResourceID) != arm.Key(cur.ServerResourceID)) {
			return nil, invalid("A server endpoint's server and path cannot change: delete it and create another.")
		}
	} else {
		if req.ServerLocalPath == nil || *req.ServerLocalPath == "" || req.ServerResourceID == nil || *req.ServerResourceID == "" {
			return nil, invalid("A server endpoint needs properties.serverLocalPath (a folder on the server) and properties.serverResourceId (the registered server's resource id).")
		}
		if !path.IsAbs(*req.ServerLocalPath) && !windowsAbs(*req.ServerLocalPath) {
			return nil, invalid("serverLocalPath '%s' is not an absolute path on the server.", *req.ServerLocalPath)
		}
		serverID, err := arm.ParseID(strings.Split(strings.Trim(*req.ServerResourceID, "/"), "/"))
		if err != nil || !strings.EqualFold(serverID.FullType(), RegisteredServerType) || arm.Key(serviceOf(serverID)) != arm.Key(serviceOf(parsed)) {
			return nil, invalid("serverResourceId '%s' is not a registered server of this Storage Sync Service.", *req.ServerResourceID)
		}
		rsChild, err := GetChildTx(tx, serverID.ResourceID())
		if err != nil {
			return nil, invalid("serverResourceId '%s' is not a registered server of this Storage Sync Service: register the server first.", *req.ServerResourceID)
		}
		if clouds, err := ListChildrenTx(tx, groupID, "cloudEndpoints"); err != nil {
			return nil, err
		} else if len(clouds) == 0 {
			return nil, invalid("Sync group '%s' has no cloud endpoint yet: create its cloud endpoint first.", parsed.Names[1])
		}
		var rs RegisteredServerProps
		_ = json.Unmarshal(rsChild.Properties, &rs)
		if err := p.checkEndpointPlacement(tx, parsed, rsChild.ID, *req.ServerLocalPath); err != nil {
			return nil, err
		}
		cur = serverEndpointProps{ServerLocalPath: *req.ServerLocalPath, ServerResourceID: rsChild.ID, CloudTiering: cloudTieringOff,
			VolumeFreeSpacePercent: defaultVolumeFreeSpacePercent, OfflineDataTransfer: offlineDataTransferOff,
			InitialDownloadPolicy: defaultInitialDownloadPolicy, LocalCacheMode: defaultLocalCacheMode, InitialUploadPolicy: defaultInitialUploadPolicy,
			ProvisioningState: provisioningSucceeded, LastWorkflowID: "storageSyncServices/" + parsed.Names[0] + "/workflows/" + uuid.NewString(),
			LastOperationName: serverEndpointWorkflow, ServerName: firstNonEmpty(rs.ServerName, rs.ServerID)}
		if req.InitialDownloadPolicy != nil {
			v, err := oneOf("initialDownloadPolicy", *req.InitialDownloadPolicy, "NamespaceOnly", "NamespaceThenModifiedFiles", "AvoidTieredFiles")
			if err != nil {
				return nil, err
			}
			cur.InitialDownloadPolicy = v
		}
		if req.InitialUploadPolicy != nil {
			v, err := oneOf("initialUploadPolicy", *req.InitialUploadPolicy, "ServerAuthoritative", "Merge")
			if err != nil {
				return nil, err
			}
			cur.InitialUploadPolicy = v
		}
	}
	if req.CloudTiering != nil {
		v, err := oneOf("cloudTiering", *req.CloudTiering, cloudTieringOn, cloudTieringOff)
		if err != nil {
			return nil, err
		}
		if v == cloudTieringOn {
			return nil, azerr.BadRequest("NotSupported", "Cloud tiering is not supported by Cerulean's Azure File Sync: a server endpoint keeps a full copy of every file. Create it with cloudTiering 'off' (the default).")
		}
		cur.CloudTiering = v
	}
	if req.InitialDownloadPolicy != nil && strings.EqualFold(*req.InitialDownloadPolicy, "NamespaceOnly") {
		// Without cloud tiering every file is downloaded whole: NamespaceThenModifiedFiles
		// (folders first, then files) and AvoidTieredFiles (each file once complete) both
		// hold; a namespace without content would need tiered files.
		return nil, azerr.BadRequest("NotSupported", "The initial download policy 'NamespaceOnly' needs cloud tiering, which Cerulean's Azure File Sync does not support: use 'NamespaceThenModifiedFiles' or 'AvoidTieredFiles'.")
	}
	if v := req.VolumeFreeSpacePercent; v != nil {
		if *v < 0 || *v > 100 {
			return nil, invalid("volumeFreeSpacePercent %d is not between 0 and 100.", *v)
		}
		cur.VolumeFreeSpacePercent = *v
	}
	if v := req.TierFilesOlderThanDays; v != nil {
		if *v < 0 || *v > 2147483647 {
			return nil, invalid("tierFilesOlderThanDays %d is negative.", *v)
		}
		cur.TierFilesOlderThanDays = *v
	}
	if req.FriendlyName != nil {
		cur.FriendlyName = *req.FriendlyName
	}
	if req.OfflineDataTransfer != nil {
		v, err := oneOf("offlineDataTransfer", *req.OfflineDataTransfer, "on", "off")
		if err != nil {
			return nil, err
		}
		if v == "on" {
			return nil, azerr.BadRequest("NotSupported", "Offline data transfer (Azure Data Box) is not supported by Cerulean's Azure File Sync: the agent uploads the server's files itself. Leave offlineDataTransfer 'off'.")
		}
		cur.OfflineDataTransfer = v
	}
	if req.OfflineDataTransferShareName != nil {
		cur.OfflineDataTransferShareName = *req.OfflineDataTransferShareName
	}
	if req.LocalCacheMode != nil {
		v, err := oneOf("localCacheMode", *req.LocalCacheMode, "DownloadNewAndModifiedFiles", "UpdateLocallyCachedFiles")
		if err != nil {
			return nil, err
		}
		cur.LocalCacheMode = v
	}
	return json.Marshal(cur)
}

// checkEndpointPlacement enforces Azure's rules: one server endpoint per registered server in
// a sync group, and a server's endpoints in different sync groups never overlap.
func (p *Provider) checkEndpointPlacement(tx store.Tx, id arm.ID, serverID, localPath string) error {
	eps, err := ServerEndpointsTx(tx, serviceOf(id))
	if err != nil {
		return err
	}
	for _, ep := range eps {
		if arm.Key(ep.Props.ServerResourceID) != arm.Key(serverID) {
			continue
		}
		if strings.EqualFold(ep.Group.Name, id.Names[1]) {
			return conflict("ServerEndpointAlreadyExists", "The server already has server endpoint '%s' in sync group '%s': a sync group has one server endpoint per registered server.", ep.Name, ep.Group.Name)
		}
		if overlaps(ep.Props.ServerLocalPath, localPath) {
			return conflict("ServerEndpointOverlaps", "'%s' overlaps the server's endpoint '%s' (%s) in sync group '%s': endpoints on one server must not nest.", localPath, ep.Name, ep.Props.ServerLocalPath, ep.Group.Name)
		}
	}
	return nil
}

func overlaps(a, b string) bool {
	a, b = strings.ToLower(strings.TrimRight(strings.ReplaceAll(a, `\`, "/"), "/"))+"/", strings.ToLower(strings.TrimRight(strings.ReplaceAll(b, `\`, "/"), "/"))+"/"
	return strings.HasPrefix(a, b) || strings.HasPrefix(b, a)
}

func windowsAbs(p string) bool {
	return len(p) >= 3 && ((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')) && p[1] == ':' && (p[2] == '\\' || p[2] == '/')
}

// serverEndpointView adds the sync status the agent last reported.
func (p *Provider) serverEndpointView(tx store.Tx, ch Child) Child {
	var sp serverEndpointProps
	if json.Unmarshal(ch.Properties, &sp) != nil {
		return ch
	}
	st, _ := getStatusTx(tx, ch.ID)
	health, provisioning := "Unavailable", serverEndpointProvisioningNotStarted
	if st != nil {
		health, provisioning = st.health(), serverEndpointProvisioningFunctional
	}
	sp.SyncStatus = mustJSON(map[string]any{"uploadHealth": health, "downloadHealth": health, "combinedHealth": health,
		"syncActivity": st.activity(), "totalPersistentFilesNotSyncingCount": st.errorCount(),
		"uploadStatus": st.session(true), "downloadStatus": st.session(false), "lastUpdatedTimestamp": st.updated(),
		"offlineDataTransferStatus": "NotRunning"})
	sp.CloudTieringStatus = mustJSON(map[string]any{"health": "Healthy", "lastUpdatedTimestamp": st.updated()})
	sp.RecallStatus = mustJSON(map[string]any{"lastUpdatedTimestamp": st.updated(), "totalRecallErrorsCount": 0})
	sp.ServerEndpointProvisioningStatus = mustJSON(map[string]any{"provisioningStatus": provisioning, "provisioningType": "Regular"})
	ch.Properties = mustJSON(sp)
	return ch
}

// ---- helpers ----

func decodeProps(in json.RawMessage, v any) error {
	if len(in) == 0 || string(in) == "null" {
		return nil
	}
	if err := json.Unmarshal(in, v); err != nil {
		return invalid("The request's properties could not be read: %v.", err)
	}
	return nil
}

func oneOf(field, v string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a, nil
		}
	}
	return "", invalid("%s '%s' is not valid: use one of %s.", field, v, strings.Join(allowed, ", "))
}

func invalid(format string, args ...any) error {
	return azerr.BadRequest("InvalidRequestParameter", format, args...)
}

func conflict(code, format string, args ...any) error {
	return azerr.New(http.StatusConflict, code, format, args...)
}

func notFound(id string) error {
	return azerr.NotFound("ResourceNotFound", "The resource '%s' was not found.", id)
}

func isNotFound(err error) bool {
	e, ok := azerr.As(err)
	return ok && e.Status == http.StatusNotFound
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func parseTime(s string) (time.Time, error) {
	s = strings.Trim(s, `"`)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("use RFC 3339, e.g. 2026-12-03T10:00:00Z")
}

// parseVersion reads a dotted version of up to four numbers.
func parseVersion(v string) ([4]int, bool) {
	var out [4]int
	parts := strings.Split(strings.Trim(strings.TrimSpace(v), `"`), ".")
	if len(parts) == 0 || len(parts) > 4 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

func versionLess(a, b string) bool {
	va, _ := parseVersion(a)
	vb, _ := parseVersion(b)
	for i := range va {
		if va[i] != vb[i] {
			return va[i] < vb[i]
		}
	}
	return false
}
