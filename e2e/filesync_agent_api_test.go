package e2e

import (
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

const agentPath = "/_storagesync/agent/"

// assertion is a registered server's proof of its certificate's key for the agent endpoint.
func assertion(t *testing.T, key *ecdsa.PrivateKey, serverID string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: serverID, Audience: jwt.Audience{srv.ResourceManagerEndpoint + strings.TrimSuffix(agentPath, "/")},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)), ID: uuid.NewString()}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func agentCall(t *testing.T, method, op, server, bearer string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	h := map[string]string{"x-ms-registered-server": server}
	for k, v := range hdr {
		h[k] = v
	}
	return rawCall(t, method, srv.ResourceManagerEndpoint+agentPath+op, bearer, body, h)
}

// TestFileSync_AgentEndpoint (issue 12 items 2-3, the service side of a server's agent): a
// registered server talks to its Storage Sync Service with an assertion of its certificate's
// key (another key is refused); its heartbeat proves its machine's managed identity, which
// the service shows as latestApplicationId; while it uses its certificate, its config gives
// the share's account key; configured to use its identity (PATCH identity: true), its
// applicationId and activeAuthType follow seed 000, the certificate is refused and only its
// identity's token is taken, and the config says to reach the share with that identity;
// status reports show in the server endpoint's syncStatus.
func TestFileSync_AgentEndpoint(t *testing.T) {
	admin := adminCredential(t)
	rg := "afsa-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	acct := newAccountName()
	a := accountWithShares(t, rg, acct, "data")
	keys, err := accountsClient(t, admin).ListKeys(ctxT(t), rg, acct, nil)
	if err != nil {
		t.Fatal(err)
	}
	svcPath := "/subscriptions/" + srv.SubscriptionID + "/resourceGroups/" + rg + "/providers/Microsoft.StorageSync/storageSyncServices/sync"
	putLRO := func(path, body string) {
		t.Helper()
		if st, _, out := rawARM(t, http.MethodPut, path+"?api-version=2022-09-01", body); st != http.StatusAccepted && st != http.StatusOK {
			t.Fatalf("PUT %s: %d %s", path, st, out)
		}
	}
	putLRO(svcPath, `{"location":"westus","properties":{}}`)
	putLRO(svcPath+"/syncGroups/g", `{"properties":{}}`)
	putLRO(svcPath+"/syncGroups/g/cloudEndpoints/c", `{"properties":{"storageAccountResourceId":"`+*a.ID+`","azureFileShareName":"data"}}`)
	serverID := uuid.NewString()
	cert, key := serverCredential(t, "server-a")
	serverRes := svcPath + "/registeredServers/" + serverID
	putLRO(serverRes, `{"properties":{"serverCertificate":"`+cert+`","agentVersion":"20.0.0.0","serverId":"`+serverID+`","friendlyName":"server-a"}}`)
	putLRO(svcPath+"/syncGroups/g/serverEndpoints/e", `{"properties":{"serverLocalPath":"/srv/data","serverResourceId":"`+serverRes+`"}}`)
	endpointID := svcPath + "/syncGroups/g/serverEndpoints/e"

	// The machine: a VM with a system-assigned identity.
	vmID, ident := createHost(t, rg, "Microsoft.Compute/virtualMachines", "afs-vm", &armresources.Identity{Type: to.Ptr(armresources.ResourceIdentityTypeSystemAssigned)})
	e, err := ceruleanEnv(vmID)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("IDENTITY_ENDPOINT", e.IdentityEndpoint)
	t.Setenv("IDENTITY_HEADER", e.IdentityHeader)
	mi, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: httpClient(t)}})
	if err != nil {
		t.Fatal(err)
	}
	miTok, err := mi.GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{"https://azurefilesync.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}

	// Certificate: no proof, another key, and the right one.
	if st, _ := agentCall(t, http.MethodPost, "heartbeat", serverRes, "", nil, `{}`); st != http.StatusUnauthorized {
		t.Errorf("a heartbeat without credentials: %d", st)
	}
	_, other := serverCredential(t, "impostor")
	if st, _ := agentCall(t, http.MethodPost, "heartbeat", serverRes, assertion(t, other, serverID), nil, `{"agentVersion":"20.0.0.0"}`); st != http.StatusUnauthorized {
		t.Errorf("an assertion signed with another key: %d, want 401", st)
	}
	if st, body := agentCall(t, http.MethodPost, "heartbeat", serverRes, assertion(t, key, serverID), map[string]string{"x-ms-server-identity": miTok.Token}, `{"agentVersion":"20.1.0.0"}`); st != http.StatusOK {
		t.Fatalf("heartbeat: %d %s", st, body)
	}
	server := func() map[string]any {
		t.Helper()
		_, _, body := rawARM(t, http.MethodGet, serverRes+"?api-version=2022-09-01", "")
		var v struct{ Properties map[string]any }
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		return v.Properties
	}
	if p := server(); p["latestApplicationId"] != *ident.PrincipalID || p["activeAuthType"] != "Certificate" || p["applicationId"] != "" || p["agentVersion"] != "20.1.0.0" {
		t.Errorf("after a heartbeat with the machine's identity: %v", p)
	}
	var cfg struct {
		ActiveAuthType string
		Endpoints      []struct{ ID, Share, StorageAccount, ShareAuth, AccountKey, ServerLocalPath string }
	}
	st, body := agentCall(t, http.MethodGet, "config", serverRes, assertion(t, key, serverID), nil, "")
	if st != http.StatusOK || json.Unmarshal([]byte(body), &cfg) != nil || len(cfg.Endpoints) != 1 || cfg.Endpoints[0].ShareAuth != "SharedKey" ||
		cfg.Endpoints[0].AccountKey != *keys.Keys[0].Value || cfg.Endpoints[0].ServerLocalPath != "/srv/data" || cfg.Endpoints[0].Share != "data" {
		t.Fatalf("config with the certificate: %d %s", st, body)
	}

	// Configured to use its identity (the last step of enable-identity).
	if st, _, out := rawARM(t, http.MethodPatch, serverRes+"?api-version=2022-09-01", `{"properties":{"identity":true}}`); st != http.StatusAccepted {
		t.Fatalf("PATCH identity: %d %s", st, out)
	}
	if p := server(); p["applicationId"] != *ident.PrincipalID || p["latestApplicationId"] != "" || p["activeAuthType"] != "ManagedIdentity" || p["identity"] != true {
		t.Errorf("after configuring the identity: %v", p)
	}
	if st, _ := agentCall(t, http.MethodGet, "config", serverRes, assertion(t, key, serverID), nil, ""); st != http.StatusUnauthorized {
		t.Errorf("the certificate after the switch to the identity: %d, want 401", st)
	}
	st, body = agentCall(t, http.MethodGet, "config", serverRes, miTok.Token, nil, "")
	cfg.Endpoints = nil
	if st != http.StatusOK || json.Unmarshal([]byte(body), &cfg) != nil || cfg.ActiveAuthType != "ManagedIdentity" || len(cfg.Endpoints) != 1 ||
		cfg.Endpoints[0].ShareAuth != "ManagedIdentity" || cfg.Endpoints[0].AccountKey != "" {
		t.Fatalf("config with the identity: %d %s", st, body)
	}
	// Another machine's identity is not this server.
	vm2, ident2 := createHost(t, rg, "Microsoft.Compute/virtualMachines", "afs-vm2", &armresources.Identity{Type: to.Ptr(armresources.ResourceIdentityTypeSystemAssigned)})
	e2, err := ceruleanEnv(vm2)
	if err != nil || *ident2.PrincipalID == *ident.PrincipalID {
		t.Fatalf("the second machine: %v", err)
	}
	// (Straight from its identity endpoint: MSAL keeps one managed-identity token cache per
	// process, a machine's, and would answer the first machine's token.)
	req, _ := http.NewRequest(http.MethodGet, e2.IdentityEndpoint+"?api-version=2019-08-01&resource=https://azurefilesync.azure.com", nil)
	req.Header.Set("X-IDENTITY-HEADER", e2.IdentityHeader)
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok2 struct {
		Token string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok2); err != nil || tok2.Token == "" {
		t.Fatalf("the second machine's token: %v", err)
	}
	resp.Body.Close()
	if st, _ := agentCall(t, http.MethodGet, "config", serverRes, tok2.Token, nil, ""); st != http.StatusUnauthorized {
		t.Errorf("another machine's identity: %d, want 401", st)
	}

	// Status reports show in syncStatus.
	if st, body := agentCall(t, http.MethodPost, "status"+endpointID, serverRes, miTok.Token, nil, `{"upload":{"lastSyncResult":0},"download":{"lastSyncResult":0}}`); st != http.StatusNoContent {
		t.Fatalf("status: %d %s", st, body)
	}
	_, _, out := rawARM(t, http.MethodGet, endpointID+"?api-version=2022-09-01", "")
	if !strings.Contains(out, `"combinedHealth":"Healthy"`) || !strings.Contains(out, `"provisioningStatus":"Ready_SyncFunctional"`) {
		t.Errorf("the server endpoint after a status report: %s", out)
	}
}
