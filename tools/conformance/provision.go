package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func signalNotify(ch chan os.Signal) { signal.Notify(ch, os.Interrupt, syscall.SIGTERM) }

// location is where the suites' resources live.
const location = "eastus"

// account is a storage account the suites use, with its key.
type account struct{ Name, Key string }

// resources are what the suites' live tests expect to exist.
type resources struct {
	Vault                        string // premium, RBAC, soft delete without purge protection
	Default, Premium, SoftDelete account
}

// Built-in roles the suites need for the administrator.
const (
	roleKeyVaultAdministrator       = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
	roleFileDataPrivilegedContrib   = "69566ab7-960f-475b-8e7c-b3118f30c6bd"
	roleStorageAccountContributor   = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
	conformanceResourceGroup        = "conformance"
	armVersionGroups                = "2021-04-01"
	armVersionVaults                = "2023-07-01"
	armVersionStorage               = "2023-05-01"
	armVersionAuthorizationAssigned = "2022-04-01"
)

// armClient calls Cerulean's Resource Manager as the bootstrap administrator.
type armClient struct {
	hc    *http.Client
	base  string
	token string
}

func newARMClient(ctx context.Context, e serverEnv) (*armClient, error) {
	pem, err := os.ReadFile(e.CACertFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {e.AdminClientID}, "client_secret": {e.AdminClientSecret},
		"scope": {"https://management.azure.com/.default"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.AuthorityHost+"/"+e.TenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("token for the administrator: %s %v", resp.Status, err)
	}
	return &armClient{hc: hc, base: e.ResourceManagerEndpoint, token: tok.AccessToken}, nil
}

func (c *armClient) do(ctx context.Context, method, path, version string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path+"?api-version="+version, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusConflict && bytes.Contains(b, []byte(`"RoleAssignmentExists"`)) {
		return nil // a work folder used before: the server kept its data, and this grant
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b)
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

func randomName(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// provision creates, as the administrator: the resource group, a premium RBAC vault with
// Key Vault Administrator for the administrator, a general-purpose v2 account, a premium
// FileStorage account and an account with share soft delete, their keys, and Storage File
// Data Privileged Contributor on the group (the OAuth tests).
func provision(ctx context.Context, e serverEnv) (resources, error) {
	var r resources
	c, err := newARMClient(ctx, e)
	if err != nil {
		return r, err
	}
	sub := "/subscriptions/" + e.SubscriptionID
	rg := sub + "/resourceGroups/" + conformanceResourceGroup
	if err := c.do(ctx, http.MethodPut, rg, armVersionGroups, map[string]any{"location": location}, nil); err != nil {
		return r, err
	}
	r.Vault = randomName("cfkv", 6)
	vault := rg + "/providers/Microsoft.KeyVault/vaults/" + r.Vault
	if err := c.do(ctx, http.MethodPut, vault, armVersionVaults, map[string]any{"location": location, "properties": map[string]any{
		"tenantId": e.TenantID, "sku": map[string]string{"family": "A", "name": "premium"}, "enableRbacAuthorization": true,
		"enableSoftDelete": true, "softDeleteRetentionInDays": 7}}, nil); err != nil {
		return r, err
	}
	for _, g := range []struct{ scope, role string }{{vault, roleKeyVaultAdministrator}, {rg, roleFileDataPrivilegedContrib}, {rg, roleStorageAccountContributor}} {
		if err := c.do(ctx, http.MethodPut, g.scope+"/providers/Microsoft.Authorization/roleAssignments/"+uuid4(), armVersionAuthorizationAssigned,
			map[string]any{"properties": map[string]string{"roleDefinitionId": sub + "/providers/Microsoft.Authorization/roleDefinitions/" + g.role,
				"principalId": e.AdminObjectID, "principalType": "ServicePrincipal"}}, nil); err != nil {
			return r, err
		}
	}
	for _, a := range []struct {
		acct       *account
		kind, sku  string
		softDelete bool
	}{{&r.Default, "StorageV2", "Standard_RAGRS", true}, {&r.Premium, "FileStorage", "Premium_LRS", false}, {&r.SoftDelete, "StorageV2", "Standard_LRS", true}} {
		a.acct.Name = randomName("cf", 10)
		id := rg + "/providers/Microsoft.Storage/storageAccounts/" + a.acct.Name
		if err := c.do(ctx, http.MethodPut, id, armVersionStorage, map[string]any{"location": location, "kind": a.kind,
			"sku": map[string]string{"name": a.sku}}, nil); err != nil {
			return r, err
		}
		if a.softDelete {
			if err := c.do(ctx, http.MethodPut, id+"/fileServices/default", armVersionStorage, map[string]any{"properties": map[string]any{
				"shareDeleteRetentionPolicy": map[string]any{"enabled": true, "days": 1}}}, nil); err != nil {
				fmt.Printf("   (share soft delete not set: %v)\n", err)
			}
		}
		var keys struct {
			Keys []struct {
				Value string `json:"value"`
			} `json:"keys"`
		}
		if err := c.do(ctx, http.MethodPost, id+"/listKeys", armVersionStorage, nil, &keys); err != nil || len(keys.Keys) == 0 {
			return r, fmt.Errorf("keys of %s: %v", a.acct.Name, err)
		}
		a.acct.Key = keys.Keys[0].Value
	}
	fmt.Printf("   vault %s, accounts %s (StorageV2), %s (FileStorage), %s (share soft delete)\n", r.Vault, r.Default.Name, r.Premium.Name, r.SoftDelete.Name)
	return r, nil
}

func uuid4() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
