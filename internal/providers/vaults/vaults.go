// Package vaults is the Microsoft.KeyVault resource provider: vaults (create, update, get,
// list, delete into the soft-deleted state, recover with createMode "recover"), deleted
// vaults (list, get, purge — refused while purge protection holds), and name availability.
// Vault names are global, as in Azure: a name held by a live or soft-deleted vault anywhere
// in the server cannot be taken. It writes the vault registry the Key Vault data plane
// (internal/keyvault) reads.
package vaults

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/keyvault"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

// Resource types.
const (
	VaultType        = "Microsoft.KeyVault/vaults"
	DeletedVaultType = "Microsoft.KeyVault/deletedVaults"
)

// minAPIVersion is the oldest Microsoft.KeyVault api-version accepted.
const minAPIVersion = "2015-06-01"

// Register adds the provider's types to ARM; kv serves the vaults' keys and secrets (nil in
// a route catalog).
func Register(s *arm.Service, kv *keyvault.Service) {
	s.Register(VaultType, minAPIVersion, &arm.TrackedType{
		Type:       VaultType,
		NameRE:     regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$`),
		Properties: properties,
		OnWrite:    onWrite,
		OnDelete:   onDelete,
	}, arm.TrackedActions(VaultType))
	readDeleted := arm.Actions{http.MethodGet: "Microsoft.KeyVault/deletedVaults/read"}
	s.Register(DeletedVaultType, minAPIVersion, deletedList{}, readDeleted)
	s.Register("Microsoft.KeyVault/locations/deletedVaults", minAPIVersion, deletedItem{}, readDeleted)
	s.Register("Microsoft.KeyVault/locations/deletedVaults/purge", minAPIVersion, purge{}, arm.Actions{http.MethodPost: "Microsoft.KeyVault/locations/deletedVaults/purge/action"})
	s.Register("Microsoft.KeyVault/checkNameAvailability", minAPIVersion, nameAvailability{}, arm.Actions{http.MethodPost: "Microsoft.KeyVault/checkNameAvailability/read"})
	// az keyvault list and list-deleted also ask for managed HSMs; Cerulean has none.
	s.Register("Microsoft.KeyVault/managedHSMs", minAPIVersion, emptyList{"Managed HSM pools"}, arm.Actions{http.MethodGet: "Microsoft.KeyVault/managedHSMs/read"})
	s.Register("Microsoft.KeyVault/deletedManagedHSMs", minAPIVersion, emptyList{"Managed HSM pools"}, arm.Actions{http.MethodGet: "Microsoft.KeyVault/deletedManagedHSMs/read"})
	registerObjects(s, kv)
}

// vaultProperties is the stored properties of a vault.
type vaultProperties struct {
	TenantID                     string                  `json:"tenantId"`
	SKU                          sku                     `json:"sku"`
	AccessPolicies               []keyvault.AccessPolicy `json:"accessPolicies"`
	VaultURI                     string                  `json:"vaultUri"`
	EnabledForDeployment         *bool                   `json:"enabledForDeployment,omitempty"`
	EnabledForDiskEncryption     *bool                   `json:"enabledForDiskEncryption,omitempty"`
	EnabledForTemplateDeployment *bool                   `json:"enabledForTemplateDeployment,omitempty"`
	EnableSoftDelete             bool                    `json:"enableSoftDelete"`
	SoftDeleteRetentionInDays    int                     `json:"softDeleteRetentionInDays"`
	EnableRbacAuthorization      bool                    `json:"enableRbacAuthorization"`
	EnablePurgeProtection        *bool                   `json:"enablePurgeProtection,omitempty"`
	NetworkACLs                  json.RawMessage         `json:"networkAcls,omitempty"`
	PublicNetworkAccess          string                  `json:"publicNetworkAccess"`
	ProvisioningState            string                  `json:"provisioningState"`
	// CreateMode is not stored; it only steers a request.
	CreateMode string `json:"-"`
}

type sku struct {
	Family string `json:"family"`
	Name   string `json:"name"`
}

// propertiesIn is the request form: every field optional, so PATCH can tell "absent".
type propertiesIn struct {
	TenantID                     *string                  `json:"tenantId"`
	SKU                          *sku                     `json:"sku"`
	AccessPolicies               *[]keyvault.AccessPolicy `json:"accessPolicies"`
	EnabledForDeployment         *bool                    `json:"enabledForDeployment"`
	EnabledForDiskEncryption     *bool                    `json:"enabledForDiskEncryption"`
	EnabledForTemplateDeployment *bool                    `json:"enabledForTemplateDeployment"`
	EnableSoftDelete             *bool                    `json:"enableSoftDelete"`
	SoftDeleteRetentionInDays    *int                     `json:"softDeleteRetentionInDays"`
	EnableRbacAuthorization      *bool                    `json:"enableRbacAuthorization"`
	EnablePurgeProtection        *bool                    `json:"enablePurgeProtection"`
	NetworkACLs                  json.RawMessage          `json:"networkAcls"`
	PublicNetworkAccess          *string                  `json:"publicNetworkAccess"`
	CreateMode                   *string                  `json:"createMode"`
}

func bad(format string, args ...any) error { return azerr.BadRequest("BadRequest", format, args...) }

var keyPerms = []string{"all", "encrypt", "decrypt", "wrapKey", "unwrapKey", "sign", "verify", "get", "list", "create", "update",
	"import", "delete", "backup", "restore", "recover", "purge", "release", "rotate", "getrotationpolicy", "setrotationpolicy"}
var secretPerms = []string{"all", "get", "list", "set", "delete", "backup", "restore", "recover", "purge"}

// canonical returns the allowed spelling of p, or "".
func canonical(p string, allowed []string) string {
	for _, a := range allowed {
		if strings.EqualFold(a, p) {
			return a
		}
	}
	return ""
}

func validatePolicies(ps []keyvault.AccessPolicy, tenant string) error {
	if len(ps) > 1024 {
		return bad("A vault has at most 1024 access policies.")
	}
	for i := range ps {
		p := &ps[i]
		if _, err := uuid.Parse(p.ObjectID); err != nil {
			return bad("accessPolicies[%d].objectId '%s' is not a GUID.", i, p.ObjectID)
		}
		if p.TenantID == "" {
			p.TenantID = tenant
		}
		if !strings.EqualFold(p.TenantID, tenant) {
			return bad("accessPolicies[%d].tenantId '%s' is not the vault's tenant '%s'.", i, p.TenantID, tenant)
		}
		for j, k := range p.Permissions.Keys {
			if p.Permissions.Keys[j] = canonical(k, keyPerms); p.Permissions.Keys[j] == "" {
				return bad("accessPolicies[%d]: '%s' is not a key permission (valid: %s).", i, k, strings.Join(keyPerms, ", "))
			}
		}
		for j, k := range p.Permissions.Secrets {
			if p.Permissions.Secrets[j] = canonical(k, secretPerms); p.Permissions.Secrets[j] == "" {
				return bad("accessPolicies[%d]: '%s' is not a secret permission (valid: %s).", i, k, strings.Join(secretPerms, ", "))
			}
		}
	}
	return nil
}

// properties validates a vault's properties as Key Vault does and returns what to store.
func properties(c *arm.Call, old, raw json.RawMessage) (json.RawMessage, error) {
	var in propertiesIn
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, azerr.BadRequest("InvalidRequestContent", "The vault properties could not be read: %v.", err)
		}
	}
	tenant, err := c.Svc.Directory().Tenant(c.Ctx)
	if err != nil {
		return nil, err
	}
	var p vaultProperties
	creating := old == nil
	if !creating {
		if err := json.Unmarshal(old, &p); err != nil {
			return nil, err
		}
	}
	patch := c.R.Method == http.MethodPatch
	if in.CreateMode != nil && !strings.EqualFold(*in.CreateMode, "default") && !strings.EqualFold(*in.CreateMode, "recover") {
		return nil, bad("createMode '%s' is invalid: use default or recover.", *in.CreateMode)
	}
	if in.CreateMode != nil && strings.EqualFold(*in.CreateMode, "recover") {
		p.CreateMode = "recover"
		return marshal(p, "recover")
	}
	if in.TenantID == nil {
		if creating || !patch {
			return nil, bad("The property 'tenantId' is required: set it to the tenant id %s.", tenant.ID)
		}
	} else if !strings.EqualFold(*in.TenantID, tenant.ID) {
		return nil, bad("The tenant id '%s' is not the tenant of this subscription ('%s'); cross-tenant vaults are not supported.", *in.TenantID, tenant.ID)
	}
	p.TenantID = tenant.ID
	if in.SKU != nil {
		name := strings.ToLower(in.SKU.Name)
		if name != "standard" && name != "premium" {
			return nil, bad("The sku name '%s' is invalid: use standard or premium.", in.SKU.Name)
		}
		p.SKU = sku{Family: "A", Name: name}
	} else if creating || !patch {
		return nil, bad("The property 'sku' is required: {\"family\":\"A\",\"name\":\"standard\"}.")
	}
	if in.AccessPolicies != nil {
		if err := validatePolicies(*in.AccessPolicies, tenant.ID); err != nil {
			return nil, err
		}
		p.AccessPolicies = *in.AccessPolicies
	} else if !patch {
		p.AccessPolicies = nil
	}
	if p.AccessPolicies == nil {
		p.AccessPolicies = []keyvault.AccessPolicy{}
	}
	if in.EnableSoftDelete != nil && !*in.EnableSoftDelete {
		return nil, bad("Soft delete cannot be disabled: every vault is soft-delete enabled (the property \"enableSoftDelete\" cannot be set to false).")
	}
	p.EnableSoftDelete = true
	switch {
	case in.SoftDeleteRetentionInDays == nil && creating:
		p.SoftDeleteRetentionInDays = 90
	case in.SoftDeleteRetentionInDays == nil:
	case *in.SoftDeleteRetentionInDays < 7 || *in.SoftDeleteRetentionInDays > 90:
		return nil, bad("softDeleteRetentionInDays must be between 7 and 90, got %d.", *in.SoftDeleteRetentionInDays)
	case !creating && *in.SoftDeleteRetentionInDays != p.SoftDeleteRetentionInDays:
		return nil, bad("softDeleteRetentionInDays cannot be changed once the vault is created (it is %d).", p.SoftDeleteRetentionInDays)
	default:
		p.SoftDeleteRetentionInDays = *in.SoftDeleteRetentionInDays
	}
	if in.EnablePurgeProtection != nil {
		if !*in.EnablePurgeProtection {
			return nil, bad(`The property "enablePurgeProtection" cannot be set to false. Enabling the purge protection for a vault is an irreversible action.`)
		}
		t := true
		p.EnablePurgeProtection = &t
	}
	wasRBAC := p.EnableRbacAuthorization
	if in.EnableRbacAuthorization != nil {
		p.EnableRbacAuthorization = *in.EnableRbacAuthorization
	} else if !patch {
		p.EnableRbacAuthorization = false
	}
	if !creating && wasRBAC != p.EnableRbacAuthorization {
		if err := authorizePermissionModelChange(c); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		in  *bool
		out **bool
	}{{in.EnabledForDeployment, &p.EnabledForDeployment}, {in.EnabledForDiskEncryption, &p.EnabledForDiskEncryption},
		{in.EnabledForTemplateDeployment, &p.EnabledForTemplateDeployment}} {
		if f.in != nil {
			*f.out = f.in
		}
	}
	if len(in.NetworkACLs) > 0 && string(in.NetworkACLs) != "null" {
		p.NetworkACLs = in.NetworkACLs
	}
	if in.PublicNetworkAccess != nil {
		v := *in.PublicNetworkAccess
		if !strings.EqualFold(v, "Enabled") && !strings.EqualFold(v, "Disabled") {
			return nil, bad("publicNetworkAccess '%s' is invalid: use Enabled or Disabled.", v)
		}
		p.PublicNetworkAccess = strings.ToUpper(v[:1]) + strings.ToLower(v[1:])
	}
	if p.PublicNetworkAccess == "" {
		p.PublicNetworkAccess = "Enabled"
	}
	p.VaultURI = keyvault.VaultURI(c.ID.Name()) + "/"
	p.ProvisioningState = "Succeeded"
	return marshal(p, "")
}

// authorizePermissionModelChange: switching a vault between Azure RBAC and access policies
// decides who reads its keys and secrets, so, as in Azure, it takes unrestricted
// Microsoft.Authorization/roleAssignments/write on the vault, not just vaults/write (a
// Contributor could otherwise turn RBAC off and grant itself an access policy).
func authorizePermissionModelChange(c *arm.Call) error {
	const action = "Microsoft.Authorization/roleAssignments/write"
	id := c.ID.ResourceID()
	if err := c.Authorize(action, id); err != nil {
		var ae *azerr.Error
		if errors.As(err, &ae) && ae.Status == http.StatusForbidden {
			return azerr.BadRequest("InsufficientPermissions", "Caller is not allowed to change permission model. Changing the permission model requires unrestricted '%s' permission on the vault (Owner or User Access Administrator). Details: oid=%s; action=%s; resource=%s; decision=NotAllowed;", action, c.Caller.ObjectID, action, id)
		}
		return err
	}
	return nil
}

// marshal stores the properties; a recover request carries its mode in a marker field
// that onWrite consumes.
func marshal(p vaultProperties, mode string) (json.RawMessage, error) {
	b, err := json.Marshal(p)
	if err != nil || mode == "" {
		return b, err
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["createMode"] = mode
	return json.Marshal(m)
}

func newUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// onWrite keeps the data plane's registry in step, and carries out global name rules and
// recovery on create.
func onWrite(c *arm.Call, tx store.Tx, r *arm.Resource, created bool) error {
	var marker struct {
		CreateMode string `json:"createMode"`
	}
	_ = json.Unmarshal(r.Properties, &marker)
	existing, err := keyvault.GetVaultTx(tx, r.Name)
	found := err == nil
	if err != nil && !errors.Is(err, keyvault.ErrVaultNotFound) {
		return err
	}
	if marker.CreateMode == "recover" {
		if !created {
			return bad("createMode 'recover' applies only to a vault that is soft-deleted; vault '%s' exists.", r.Name)
		}
		if !found || !existing.Deleted() || !strings.EqualFold(existing.ResourceID, r.ID) {
			return azerr.BadRequest("SoftDeletedVaultDoesNotExist",
				"A soft deleted vault with the given name does not exist. Ensure that the name for the vault that is being attempted to recover is in a recoverable state.")
		}
		v, err := keyvault.RecoverVaultTx(tx, r.Name)
		if err != nil {
			return err
		}
		r.Properties, r.Tags, r.Location = v.ARMProperties, v.Tags, v.Location
		return nil
	}
	if created && found {
		if existing.Deleted() {
			return azerr.Conflict("ConflictError", "A vault with the same name already exists in deleted state. You need to either recover or purge existing key vault. Follow this link https://go.microsoft.com/fwlink/?linkid=2149745 for more information on soft delete.")
		}
		return azerr.Conflict("VaultAlreadyExists", "The vault name '%s' is already in use. Vault names are globally unique so it is possible that the name is already taken. If you are sure that the vault name was not taken then it is possible that a vault with the same name was recently deleted but not purged after being placed in a recoverable state. If the vault is in a recoverable state then the vault will need to be purged before reusing the name. For more information about VaultAlreadyExists, soft delete and purging a vault follow this link https://go.microsoft.com/fwlink/?linkid=2147740.", r.Name)
	}
	var p vaultProperties
	if err := json.Unmarshal(r.Properties, &p); err != nil {
		return err
	}
	v := existing
	if created {
		v = keyvault.Vault{Name: r.Name, UID: newUID()}
	}
	v.ResourceID, v.SubscriptionID, v.TenantID, v.Location = r.ID, c.ID.SubscriptionID, p.TenantID, r.Location
	v.SKU, v.EnableRBAC, v.AccessPolicies, v.RetentionDays = p.SKU.Name, p.EnableRbacAuthorization, p.AccessPolicies, p.SoftDeleteRetentionInDays
	v.PurgeProtection = p.EnablePurgeProtection != nil && *p.EnablePurgeProtection
	v.Tags, v.ARMProperties = r.Tags, r.Properties
	return keyvault.PutVaultTx(tx, v)
}

func onDelete(s *arm.Service, tx store.Tx, r *arm.Resource) error {
	_, err := keyvault.SoftDeleteVaultTx(tx, r.Name, time.Now())
	if errors.Is(err, keyvault.ErrVaultNotFound) {
		return nil
	}
	return err
}

// ---- deleted vaults ----

func deletedView(v keyvault.Vault) map[string]any {
	tags := v.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return map[string]any{
		"id":   "/subscriptions/" + v.SubscriptionID + "/providers/Microsoft.KeyVault/locations/" + v.Location + "/deletedVaults/" + v.Name,
		"name": v.Name, "type": DeletedVaultType,
		"properties": map[string]any{"vaultId": v.ResourceID, "location": v.Location, "tags": tags,
			"deletionDate": v.DeletedAt.UTC().Format(time.RFC3339), "scheduledPurgeDate": v.ScheduledPurgeDate.UTC().Format(time.RFC3339),
			"purgeProtectionEnabled": v.PurgeProtection},
	}
}

func subscriptionScope(c *arm.Call) (string, error) {
	if c.ID.SubscriptionID == "" || c.ID.ResourceGroup != "" {
		return "", azerr.BadRequest("InvalidResourceId", "Deleted vaults are listed at subscription scope: /subscriptions/{id}/providers/Microsoft.KeyVault/deletedVaults.")
	}
	return "/subscriptions/" + c.ID.SubscriptionID, nil
}

type deletedList struct{}

func (deletedList) ServeARM(c *arm.Call) (int, any, error) {
	scope, err := subscriptionScope(c)
	if err != nil {
		return 0, nil, err
	}
	if c.R.Method != http.MethodGet || !c.ID.IsCollection() {
		return 0, nil, methodNotAllowed(c.R)
	}
	if err := c.Authorize("Microsoft.KeyVault/deletedVaults/read", scope); err != nil {
		return 0, nil, err
	}
	out := []any{}
	err = c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		vs, err := keyvault.ListVaultsTx(tx)
		for _, v := range vs {
			if v.Deleted() && strings.EqualFold(v.SubscriptionID, c.ID.SubscriptionID) {
				out = append(out, deletedView(v))
			}
		}
		return err
	})
	return http.StatusOK, map[string]any{"value": out}, err
}

func methodNotAllowed(r *http.Request) error {
	return azerr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '%s'.", r.Method)
}

// deletedVault loads the deleted vault a /locations/{l}/deletedVaults/{n} path names.
func deletedVault(c *arm.Call, tx store.Tx) (keyvault.Vault, error) {
	name := c.ID.Names[1]
	v, err := keyvault.GetVaultTx(tx, name)
	if errors.Is(err, keyvault.ErrVaultNotFound) || (err == nil && (!v.Deleted() ||
		!strings.EqualFold(v.SubscriptionID, c.ID.SubscriptionID) || !strings.EqualFold(v.Location, arm.NormalizeLocation(c.ID.Names[0])))) {
		return v, azerr.NotFound("ResourceNotFound", "The Resource 'Microsoft.KeyVault/deletedVaults/%s' under location '%s' was not found.", name, c.ID.Names[0])
	}
	return v, err
}

type deletedItem struct{}

func (deletedItem) ServeARM(c *arm.Call) (int, any, error) {
	scope, err := subscriptionScope(c)
	if err != nil {
		return 0, nil, err
	}
	if c.R.Method != http.MethodGet || len(c.ID.Names) != 2 {
		return 0, nil, methodNotAllowed(c.R)
	}
	if err := c.Authorize("Microsoft.KeyVault/deletedVaults/read", scope); err != nil {
		return 0, nil, err
	}
	var v keyvault.Vault
	err = c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		var err error
		v, err = deletedVault(c, tx)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, deletedView(v), nil
}

type purge struct{}

func (purge) ServeARM(c *arm.Call) (int, any, error) {
	if _, err := subscriptionScope(c); err != nil {
		return 0, nil, err
	}
	if c.R.Method != http.MethodPost || len(c.ID.Names) != 2 {
		return 0, nil, methodNotAllowed(c.R)
	}
	id := c.ID.Parent()
	if err := c.Authorize("Microsoft.KeyVault/locations/deletedVaults/purge/action", id); err != nil {
		return 0, nil, err
	}
	err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error {
		v, err := deletedVault(c, tx)
		if err != nil {
			return err
		}
		if v.PurgeProtection && time.Now().Before(*v.ScheduledPurgeDate) {
			return azerr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "Operation 'DeletedVaultPurge' is not allowed. The vault '%s' has purge protection: it is purged automatically on %s, at the end of its retention period.", v.Name, v.ScheduledPurgeDate.UTC().Format(time.RFC3339))
		}
		return keyvault.PurgeVaultTx(tx, v.Name)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, nil, nil
}

// ---- name availability, managed HSMs ----

type nameAvailability struct{}

var vaultNameRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$`)

func (nameAvailability) ServeARM(c *arm.Call) (int, any, error) {
	scope, err := subscriptionScope(c)
	if err != nil {
		return 0, nil, err
	}
	if c.R.Method != http.MethodPost {
		return 0, nil, methodNotAllowed(c.R)
	}
	if err := c.Authorize("Microsoft.KeyVault/checkNameAvailability/read", scope); err != nil {
		return 0, nil, err
	}
	var in struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := c.Decode(&in); err != nil {
		return 0, nil, err
	}
	if !strings.EqualFold(in.Type, VaultType) {
		return 0, nil, bad("The type must be '%s', got '%s'.", VaultType, in.Type)
	}
	if !vaultNameRE.MatchString(in.Name) || strings.Contains(in.Name, "--") {
		return http.StatusOK, map[string]any{"nameAvailable": false, "reason": "AccountNameInvalid",
			"message": "Vault name must be 3-24 characters, start with a letter, end with a letter or digit, and contain only letters, digits and non-consecutive hyphens."}, nil
	}
	taken := false
	err = c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		_, err := keyvault.GetVaultTx(tx, in.Name)
		taken = err == nil
		if errors.Is(err, keyvault.ErrVaultNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	if taken {
		return http.StatusOK, map[string]any{"nameAvailable": false, "reason": "AlreadyExists",
			"message": "The vault name '" + in.Name + "' is already in use."}, nil
	}
	return http.StatusOK, map[string]any{"nameAvailable": true}, nil
}

type emptyList struct{ what string }

func (e emptyList) ServeARM(c *arm.Call) (int, any, error) {
	if c.R.Method == http.MethodGet && c.ID.IsCollection() {
		return http.StatusOK, map[string]any{"value": []any{}}, nil
	}
	return 0, nil, azerr.BadRequest("NotSupported", "%s are not supported by this version of Cerulean.", e.what)
}
