// Package storage is the Microsoft.Storage resource provider: storage accounts (kind, sku,
// identity, encryption, account keys), their file service and file shares, and name
// availability. Account names are global, as in Azure. It writes the account and share
// records the Azure Files data plane (internal/files) serves.
package storage

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/encryption"
	"github.com/cerulean-azure/cerulean/internal/files"
	"github.com/cerulean-azure/cerulean/internal/seal"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Resource types.
const (
	AccountType = "Microsoft.Storage/storageAccounts"
	ShareType   = "Microsoft.Storage/storageAccounts/fileServices/shares"
)

const minAPIVersion = "2016-01-01"

// Provider is the Microsoft.Storage provider.
type Provider struct {
	barrier *seal.Barrier
	kv      *encryption.KeyVault
	arm     *arm.Service
}

var accountNameRE = regexp.MustCompile(`^[a-z0-9]{3,24}$`)

// accountNameInvalid is Azure's answer to a name accountNameRE refuses.
func accountNameInvalid(name string) *azerr.Error {
	e := azerr.BadRequest("AccountNameInvalid", "%s is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.", name)
	e.Target = name
	return e
}

func reservedName(name string) *azerr.Error {
	e := azerr.BadRequest("AccountNameInvalid", "The storage account name '%s' is reserved by Cerulean: its path-style URL would shadow Cerulean's own endpoints. Choose another name.", name)
	e.Target = name
	return e
}

// reservedNames are the first path segments of Cerulean's own endpoints on its address.
var reservedNames = map[string]bool{"subscriptions": true, "providers": true, "tenants": true, "metadata": true,
	"vaults": true, "adfs": true, "common": true, "organizations": true, "consumers": true, "msi": true}

// Register adds the provider's types to ARM.
func Register(s *arm.Service, barrier *seal.Barrier, kv *encryption.KeyVault) *Provider {
	p := &Provider{barrier: barrier, kv: kv, arm: s}
	s.Register(AccountType, minAPIVersion, &arm.TrackedType{
		Type: AccountType, Identity: true, CombinedSpelling: "SystemAssigned,UserAssigned", CreatedStatus: http.StatusOK,
		NameRE:      accountNameRE,
		InvalidName: func(name string) error { return accountNameInvalid(name) },
		Properties:  p.properties,
		OnWrite:     p.onWrite,
		OnDelete:    p.onDelete,
	}, arm.TrackedActions(AccountType))
	s.Register(AccountType+"/listKeys", minAPIVersion, keysAction{p, false}, arm.Actions{http.MethodPost: AccountType + "/listkeys/action"})
	s.Register(AccountType+"/regenerateKey", minAPIVersion, keysAction{p, true}, arm.Actions{http.MethodPost: AccountType + "/regeneratekey/action"})
	s.Register("Microsoft.Storage/checkNameAvailability", minAPIVersion, nameAvailability{}, arm.Actions{http.MethodPost: "Microsoft.Storage/checknameavailability/read"})
	s.Register(AccountType+"/fileServices", minAPIVersion, fileServices{}, arm.Actions{http.MethodGet: AccountType + "/fileServices/read",
		http.MethodPut: AccountType + "/fileServices/write", http.MethodPatch: AccountType + "/fileServices/write"})
	s.Register(ShareType, minAPIVersion, shares{}, arm.TrackedActions(ShareType))
	s.Register(ShareType+"/lease", minAPIVersion, shareLease{}, arm.Actions{http.MethodPost: ShareType + "/lease/action"})
	p.registerMetadata(s)
	return p
}

// accountProperties is what is stored as the account's properties.
type accountProperties struct {
	ProvisioningState                     string               `json:"provisioningState"`
	CreationTime                          time.Time            `json:"creationTime"`
	PrimaryLocation                       string               `json:"primaryLocation"`
	StatusOfPrimary                       string               `json:"statusOfPrimary"`
	PrimaryEndpoints                      map[string]string    `json:"primaryEndpoints"`
	Encryption                            encryptionBlock      `json:"encryption"`
	AccessTier                            string               `json:"accessTier,omitempty"`
	SupportsHTTPSTrafficOnly              bool                 `json:"supportsHttpsTrafficOnly"`
	AllowSharedKeyAccess                  *bool                `json:"allowSharedKeyAccess,omitempty"`
	AllowBlobPublicAccess                 bool                 `json:"allowBlobPublicAccess"`
	MinimumTLSVersion                     string               `json:"minimumTlsVersion"`
	KeyCreationTime                       map[string]time.Time `json:"keyCreationTime"`
	NetworkACLs                           json.RawMessage      `json:"networkAcls,omitempty"`
	LargeFileSharesState                  string               `json:"largeFileSharesState,omitempty"`
	AzureFilesIdentityBasedAuthentication json.RawMessage      `json:"azureFilesIdentityBasedAuthentication,omitempty"`
}

type encryptionBlock struct {
	Services                        map[string]encryptionService `json:"services"`
	KeySource                       string                       `json:"keySource"`
	RequireInfrastructureEncryption bool                         `json:"requireInfrastructureEncryption"`
	KeyVaultProperties              *keyVaultProperties          `json:"keyvaultproperties,omitempty"`
	Identity                        *encryptionIdentity          `json:"identity,omitempty"`
}

type encryptionService struct {
	Enabled         bool      `json:"enabled"`
	KeyType         string    `json:"keyType"`
	LastEnabledTime time.Time `json:"lastEnabledTime"`
}

type keyVaultProperties struct {
	KeyName                       string     `json:"keyname"`
	KeyVersion                    string     `json:"keyversion"`
	KeyVaultURI                   string     `json:"keyvaulturi"`
	CurrentVersionedKeyIdentifier string     `json:"currentVersionedKeyIdentifier,omitempty"`
	LastKeyRotationTimestamp      *time.Time `json:"lastKeyRotationTimestamp,omitempty"`
}

type encryptionIdentity struct {
	UserAssignedIdentity string `json:"userAssignedIdentity,omitempty"`
}

// propertiesIn is the request form.
type propertiesIn struct {
	Encryption *struct {
		KeySource                       *string             `json:"keySource"`
		RequireInfrastructureEncryption *bool               `json:"requireInfrastructureEncryption"`
		KeyVaultProperties              *keyVaultProperties `json:"keyvaultproperties"`
		Identity                        *encryptionIdentity `json:"identity"`
		Services                        json.RawMessage     `json:"services"`
	} `json:"encryption"`
	AccessTier                            *string         `json:"accessTier"`
	SupportsHTTPSTrafficOnly              *bool           `json:"supportsHttpsTrafficOnly"`
	AllowSharedKeyAccess                  *bool           `json:"allowSharedKeyAccess"`
	AllowBlobPublicAccess                 *bool           `json:"allowBlobPublicAccess"`
	MinimumTLSVersion                     *string         `json:"minimumTlsVersion"`
	NetworkACLs                           json.RawMessage `json:"networkAcls"`
	LargeFileSharesState                  *string         `json:"largeFileSharesState"`
	AzureFilesIdentityBasedAuthentication json.RawMessage `json:"azureFilesIdentityBasedAuthentication"`
}

func bad(code, format string, args ...any) error { return azerr.BadRequest(code, format, args...) }

// properties validates and merges the request's properties.
func (p *Provider) properties(c *arm.Call, old, raw json.RawMessage) (json.RawMessage, error) {
	var in propertiesIn
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, azerr.BadRequest("InvalidRequestContent", "The storage account properties could not be read: %v.", err)
		}
	}
	var out accountProperties
	creating := old == nil
	now := time.Now().UTC()
	if !creating {
		if err := json.Unmarshal(old, &out); err != nil {
			return nil, err
		}
	} else {
		out = accountProperties{ProvisioningState: "Succeeded", CreationTime: now, StatusOfPrimary: "available",
			SupportsHTTPSTrafficOnly: true, MinimumTLSVersion: "TLS1_2", AccessTier: "Hot",
			Encryption: encryptionBlock{KeySource: files.KeySourceMicrosoft, Services: map[string]encryptionService{
				"file": {Enabled: true, KeyType: "Account", LastEnabledTime: now}, "blob": {Enabled: true, KeyType: "Account", LastEnabledTime: now}}}}
	}
	if in.AccessTier != nil {
		if *in.AccessTier != "Hot" && *in.AccessTier != "Cool" && *in.AccessTier != "Cold" && *in.AccessTier != "Premium" {
			return nil, bad("InvalidValuesForRequestParameters", "accessTier '%s' is invalid: use Hot, Cool, Cold or Premium.", *in.AccessTier)
		}
		out.AccessTier = *in.AccessTier
	}
	if in.SupportsHTTPSTrafficOnly != nil {
		out.SupportsHTTPSTrafficOnly = *in.SupportsHTTPSTrafficOnly
	}
	if in.AllowSharedKeyAccess != nil {
		out.AllowSharedKeyAccess = in.AllowSharedKeyAccess
	}
	if in.AllowBlobPublicAccess != nil {
		out.AllowBlobPublicAccess = *in.AllowBlobPublicAccess
	}
	if in.MinimumTLSVersion != nil {
		switch *in.MinimumTLSVersion {
		case "TLS1_0", "TLS1_1", "TLS1_2", "TLS1_3":
			out.MinimumTLSVersion = *in.MinimumTLSVersion
		default:
			return nil, bad("InvalidValuesForRequestParameters", "minimumTlsVersion '%s' is invalid: use TLS1_0, TLS1_1, TLS1_2 or TLS1_3.", *in.MinimumTLSVersion)
		}
	}
	if len(in.NetworkACLs) > 0 && string(in.NetworkACLs) != "null" {
		out.NetworkACLs = in.NetworkACLs
	}
	if in.LargeFileSharesState != nil {
		out.LargeFileSharesState = *in.LargeFileSharesState
	}
	if len(in.AzureFilesIdentityBasedAuthentication) > 0 && string(in.AzureFilesIdentityBasedAuthentication) != "null" {
		out.AzureFilesIdentityBasedAuthentication = in.AzureFilesIdentityBasedAuthentication
	}
	if e := in.Encryption; e != nil {
		if e.RequireInfrastructureEncryption != nil {
			if !creating && *e.RequireInfrastructureEncryption != out.Encryption.RequireInfrastructureEncryption {
				return nil, bad("InvalidRequestPropertyValue", "requireInfrastructureEncryption can be set only when the account is created.")
			}
			out.Encryption.RequireInfrastructureEncryption = *e.RequireInfrastructureEncryption
		}
		if e.KeySource != nil {
			switch {
			case strings.EqualFold(*e.KeySource, files.KeySourceMicrosoft):
				out.Encryption.KeySource, out.Encryption.KeyVaultProperties, out.Encryption.Identity = files.KeySourceMicrosoft, nil, nil
			case strings.EqualFold(*e.KeySource, files.KeySourceKeyVault):
				kvp := e.KeyVaultProperties
				if kvp == nil || kvp.KeyName == "" || kvp.KeyVaultURI == "" {
					return nil, bad("MissingKeyvaultProperties", "keySource Microsoft.Keyvault requires encryption.keyvaultproperties with keyname and keyvaulturi.")
				}
				out.Encryption.KeySource = files.KeySourceKeyVault
				kept := keyVaultProperties{KeyName: kvp.KeyName, KeyVersion: kvp.KeyVersion, KeyVaultURI: strings.TrimRight(kvp.KeyVaultURI, "/")}
				if old := out.Encryption.KeyVaultProperties; old != nil {
					kept.CurrentVersionedKeyIdentifier, kept.LastKeyRotationTimestamp = old.CurrentVersionedKeyIdentifier, old.LastKeyRotationTimestamp
				}
				out.Encryption.KeyVaultProperties = &kept
				out.Encryption.Identity = e.Identity
			default:
				return nil, bad("InvalidValuesForRequestParameters", "keySource '%s' is invalid: use Microsoft.Storage or Microsoft.Keyvault.", *e.KeySource)
			}
		}
	}
	b, err := json.Marshal(out)
	return b, err
}

type skuIn struct {
	Name string `json:"name"`
	Tier string `json:"tier"`
}

var skus = map[string]string{"Standard_LRS": "Standard", "Standard_GRS": "Standard", "Standard_RAGRS": "Standard", "Standard_ZRS": "Standard",
	"Standard_GZRS": "Standard", "Standard_RAGZRS": "Standard", "Premium_LRS": "Premium", "Premium_ZRS": "Premium"}
var kinds = map[string]bool{"StorageV2": true, "Storage": true, "BlobStorage": true, "FileStorage": true, "BlockBlobStorage": true}

// onWrite validates sku and kind, fills in endpoints and key times, and keeps the data
// plane's account record in step.
func (p *Provider) onWrite(c *arm.Call, tx store.Tx, r *arm.Resource, created bool) error {
	var sk skuIn
	if len(r.SKU) == 0 {
		return bad("MissingRequiredProperty", "The sku of a storage account is required, e.g. {\"name\":\"Standard_LRS\"}.")
	}
	if err := json.Unmarshal(r.SKU, &sk); err != nil {
		return bad("InvalidRequestContent", "The sku could not be read: %v.", err)
	}
	tier, ok := "", false
	for name, t := range skus {
		if strings.EqualFold(name, sk.Name) {
			sk.Name, tier, ok = name, t, true
		}
	}
	if !ok {
		return bad("SkuNotSupported", "The sku '%s' is not supported: use Standard_LRS, Standard_GRS, Standard_RAGRS, Standard_ZRS, Standard_GZRS, Standard_RAGZRS, Premium_LRS or Premium_ZRS.", sk.Name)
	}
	r.SKU, _ = json.Marshal(map[string]string{"name": sk.Name, "tier": tier})
	if r.Kind == "" {
		return bad("MissingRequiredProperty", "The kind of a storage account is required (StorageV2, FileStorage, ...).")
	}
	if !kinds[r.Kind] {
		return bad("InvalidValuesForRequestParameters", "The kind '%s' is invalid: use StorageV2, Storage, BlobStorage, FileStorage or BlockBlobStorage.", r.Kind)
	}
	var props accountProperties
	if err := json.Unmarshal(r.Properties, &props); err != nil {
		return err
	}
	if created && reservedNames[strings.ToLower(r.Name)] {
		return reservedName(r.Name)
	}
	acct, err := files.GetAccountTx(tx, r.Name)
	switch {
	case errors.Is(err, files.ErrAccountNotFound) && created:
		acct = files.NewAccount(p.barrier, r.Name, time.Now())
	case err != nil && !errors.Is(err, files.ErrAccountNotFound):
		return err
	case created:
		return azerr.Conflict("StorageAccountAlreadyTaken", "The storage account named %s is already taken.", r.Name)
	}
	acct.ResourceID, acct.SubscriptionID, acct.Location = r.ID, c.ID.SubscriptionID, r.Location
	acct.AllowSharedKeyAccess = props.AllowSharedKeyAccess == nil || *props.AllowSharedKeyAccess
	acct.AllowHTTP = !props.SupportsHTTPSTrafficOnly
	acct.Premium = strings.EqualFold(r.Kind, "FileStorage")
	if err := p.configureEncryption(c, tx, r, &props, &acct, created); err != nil {
		return err
	}
	props.PrimaryLocation = r.Location
	props.PrimaryEndpoints = endpoints(c.R, r.Name)
	props.KeyCreationTime = map[string]time.Time{}
	for _, k := range acct.Keys {
		props.KeyCreationTime[k.Name] = k.CreationTime
	}
	if r.Properties, err = json.Marshal(props); err != nil {
		return err
	}
	return files.PutAccountTx(tx, acct)
}

// endpoints are the account's service URLs. Reached on Cerulean's own address, ARM reports
// path-style URLs there (usable with no proxy, as the SDKs accept for IP hosts); reached as
// management.azure.com, the real host names (served through the proxy).
func endpoints(r *http.Request, account string) map[string]string {
	host := strings.ToLower(r.Host)
	out := map[string]string{}
	for _, svc := range []string{"blob", "file", "queue", "table", "dfs", "web"} {
		if strings.HasPrefix(host, "127.0.0.1") || strings.HasPrefix(host, "localhost") || strings.HasPrefix(host, "[::1]") {
			scheme := "https"
			if svc == "file" {
				out[svc] = scheme + "://" + r.Host + "/" + account + "/"
				continue
			}
			out[svc] = scheme + "://" + account + "." + svc + ".core.windows.net/"
			continue
		}
		out[svc] = "https://" + account + "." + svc + ".core.windows.net/"
	}
	return out
}

func (p *Provider) onDelete(_ *arm.Service, tx store.Tx, r *arm.Resource) error {
	return files.DeleteAccountTx(tx, r.Name)
}

// ---- keys ----

type keysAction struct {
	p          *Provider
	regenerate bool
}

func (k keysAction) ServeARM(c *arm.Call) (int, any, error) {
	if c.R.Method != http.MethodPost {
		return 0, nil, methodNotAllowed(c.R)
	}
	id := c.ID.Parent()
	action := AccountType + "/listkeys/action"
	if k.regenerate {
		action = AccountType + "/regeneratekey/action"
	}
	if err := c.Authorize(action, id); err != nil {
		return 0, nil, err
	}
	var keyName string
	if k.regenerate {
		var in struct {
			KeyName string `json:"keyName"`
		}
		if err := c.Decode(&in); err != nil {
			return 0, nil, err
		}
		keyName = in.KeyName
	}
	var out []map[string]any
	err := c.Svc.Store().Update(c.Ctx, func(tx store.Tx) error {
		a, err := accountRecordTx(tx, c, id)
		if err != nil {
			return err
		}
		if k.regenerate {
			if !files.RegenerateKey(k.p.barrier, &a, keyName, time.Now()) {
				return bad("InvalidValuesForRequestParameters", "keyName '%s' is invalid: use key1 or key2.", keyName)
			}
			if err := files.PutAccountTx(tx, a); err != nil {
				return err
			}
		}
		keys, err := files.AccountKeys(k.p.barrier, a)
		if err != nil {
			return err
		}
		for _, ak := range a.Keys {
			out = append(out, map[string]any{"keyName": ak.Name, "value": keys[ak.Name], "permissions": "FULL", "creationTime": ak.CreationTime})
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"keys": out}, nil
}

func methodNotAllowed(r *http.Request) error {
	return azerr.New(http.StatusMethodNotAllowed, "MethodNotAllowed", "The requested resource does not support http method '%s'.", r.Method)
}

type nameAvailability struct{}

func (nameAvailability) ServeARM(c *arm.Call) (int, any, error) {
	if c.R.Method != http.MethodPost || c.ID.SubscriptionID == "" {
		return 0, nil, methodNotAllowed(c.R)
	}
	if err := c.Authorize("Microsoft.Storage/checknameavailability/read", "/subscriptions/"+c.ID.SubscriptionID); err != nil {
		return 0, nil, err
	}
	var in struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := c.Decode(&in); err != nil {
		return 0, nil, err
	}
	if !accountNameRE.MatchString(in.Name) {
		return http.StatusOK, map[string]any{"nameAvailable": false, "reason": "AccountNameInvalid", "message": accountNameInvalid(in.Name).Message}, nil
	}
	if reservedNames[strings.ToLower(in.Name)] {
		return http.StatusOK, map[string]any{"nameAvailable": false, "reason": "AccountNameInvalid", "message": reservedName(in.Name).Message}, nil
	}
	taken := false
	err := c.Svc.Store().View(c.Ctx, func(tx store.Tx) error {
		_, err := files.GetAccountTx(tx, in.Name)
		taken = err == nil
		if errors.Is(err, files.ErrAccountNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	if taken {
		return http.StatusOK, map[string]any{"nameAvailable": false, "reason": "AlreadyExists", "message": "The storage account named " + in.Name + " is already taken."}, nil
	}
	return http.StatusOK, map[string]any{"nameAvailable": true}, nil
}

// accountRecordTx is the File service's record of the storage account id (a call on the
// account, c.ID.Names[0] its name), once the ARM resource is found.
func accountRecordTx(tx store.Tx, c *arm.Call, id string) (files.Account, error) {
	if _, err := arm.GetResourceTx(tx, id); err != nil {
		return files.Account{}, err
	}
	return files.GetAccountTx(tx, c.ID.Names[0])
}
