package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storagesync/armstoragesync"
	"github.com/google/uuid"
)

const (
	roleAFSReader = "754c1a27-40dc-4708-8ad4-2bffdeee09e8"
)

func syncFactory(t *testing.T, cred azcore.TokenCredential) *armstoragesync.ClientFactory {
	t.Helper()
	f, err := armstoragesync.NewClientFactory(srv.SubscriptionID, cred, armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// accountWithShares creates a storage account with shares (armstorage, as the admin).
func accountWithShares(t *testing.T, rg, name string, shares ...string) armstorage.Account {
	t.Helper()
	a := createAccount(t, rg, name)
	c, err := armstorage.NewFileSharesClient(srv.SubscriptionID, adminCredential(t), armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shares {
		if _, err := c.Create(ctxT(t), rg, name, sh, armstorage.FileShare{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// serverCertificate is a self-signed certificate as a registering agent sends it (base64 DER).
func serverCertificate(t *testing.T, name string) string {
	t.Helper()
	cert, _ := serverCredential(t, name)
	return cert
}

// serverCredential is a server's certificate (base64 DER) and its private key.
func serverCredential(t *testing.T, name string) (string, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der), key
}

func respStatus(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// TestFileSync_ControlPlane (issue 12 item 1): armstoragesync (api-version 2020-09-01, as
// v1.2.0 sends) drives Microsoft.StorageSync end to end: a Storage Sync Service, a sync
// group, its one cloud endpoint (an existing share, same tenant, one sync group per share),
// a registered server (its certificate and agent version), a server endpoint (one per
// server per sync group, no nesting), each write answered 202 with an operation the SDK's
// poller follows; Azure's rules on what may be deleted before what; Azure File Sync Reader
// reads but does not write. With api-version 2022-09-01 (raw REST): the service's
// system-assigned identity and useIdentity.
func TestFileSync_ControlPlane(t *testing.T) {
	admin := adminCredential(t)
	rg := "afs-" + uuid.NewString()[:8]
	if err := createGroup(t, admin, rg); err != nil {
		t.Fatal(err)
	}
	acct := newAccountName()
	a := accountWithShares(t, rg, acct, "data", "other")
	f := syncFactory(t, admin)
	ctx := ctxT(t)

	// The service: 202 and an operation to poll, then the resource.
	svcPoller, err := f.NewServicesClient().BeginCreate(ctx, rg, "sync1", armstoragesync.ServiceCreateParameters{
		Location: to.Ptr("westus"), Properties: &armstoragesync.ServiceCreateParametersProperties{
			IncomingTrafficPolicy: to.Ptr(armstoragesync.IncomingTrafficPolicyAllowAllTraffic)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := svcPoller.PollUntilDone(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Properties == nil || svc.Properties.StorageSyncServiceUID == nil || *svc.Properties.ProvisioningState != "Succeeded" ||
		*svc.Properties.IncomingTrafficPolicy != armstoragesync.IncomingTrafficPolicyAllowAllTraffic {
		t.Fatalf("service: %+v", svc.Properties)
	}
	// The raw answer is Azure's long-running shape.
	status, hdr, _ := rawARM(t, http.MethodPut, "/subscriptions/"+srv.SubscriptionID+"/resourceGroups/"+rg+"/providers/Microsoft.StorageSync/storageSyncServices/sync1?api-version=2022-09-01",
		`{"location":"westus","properties":{"incomingTrafficPolicy":"AllowAllTraffic"}}`)
	if status != http.StatusAccepted || !strings.Contains(hdr.Get("Azure-AsyncOperation"), "/providers/Microsoft.StorageSync/locations/westus/workflows/") {
		t.Errorf("PUT of a service answered %d, Azure-AsyncOperation %q: want 202 and an operation", status, hdr.Get("Azure-AsyncOperation"))
	}
	if st, _, body := rawARM(t, http.MethodGet, strings.TrimPrefix(hdr.Get("Azure-AsyncOperation"), srv.ResourceManagerEndpoint), ""); st != http.StatusOK || !strings.Contains(body, `"status":"Succeeded"`) {
		t.Errorf("operation status: %d %s", st, body)
	}

	avail, err := f.NewServicesClient().CheckNameAvailability(ctx, "westus", armstoragesync.CheckNameAvailabilityParameters{
		Name: to.Ptr("sync1"), Type: to.Ptr("Microsoft.StorageSync/storageSyncServices")}, nil)
	if err != nil || avail.NameAvailable == nil || *avail.NameAvailable {
		t.Errorf("checkNameAvailability of a taken name: %v %+v", err, avail)
	}

	sg, err := f.NewSyncGroupsClient().Create(ctx, rg, "sync1", "group1", armstoragesync.SyncGroupCreateParameters{Properties: map[string]any{}}, nil)
	if err != nil || sg.Properties == nil || sg.Properties.UniqueID == nil {
		t.Fatalf("sync group: %v %+v", err, sg)
	}
	if _, err := f.NewSyncGroupsClient().Create(ctx, rg, "sync1", "group2", armstoragesync.SyncGroupCreateParameters{Properties: map[string]any{}}, nil); err != nil {
		t.Fatal(err)
	}

	ce := f.NewCloudEndpointsClient()
	cloud := func(group, share, tenant string) error {
		p, err := ce.BeginCreate(ctx, rg, "sync1", group, "cloud", armstoragesync.CloudEndpointCreateParameters{Properties: &armstoragesync.CloudEndpointCreateParametersProperties{
			StorageAccountResourceID: a.ID, AzureFileShareName: to.Ptr(share), StorageAccountTenantID: to.Ptr(tenant)}}, nil)
		if err != nil {
			return err
		}
		_, err = p.PollUntilDone(ctx, nil)
		return err
	}
	if err := cloud("group1", "data", uuid.NewString()); respStatus(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "Cross-tenant") {
		t.Errorf("a cloud endpoint in another tenant: %v", err)
	}
	if err := cloud("group1", "nosuchshare", srv.TenantID); respStatus(err) != http.StatusBadRequest {
		t.Errorf("a cloud endpoint on a missing share: %v", err)
	}
	if err := cloud("group1", "data", srv.TenantID); err != nil {
		t.Fatalf("cloud endpoint: %v", err)
	}
	got, err := ce.Get(ctx, rg, "sync1", "group1", "cloud", nil)
	if err != nil || got.Properties == nil || got.Properties.PartnershipID == nil || *got.Properties.AzureFileShareName != "data" {
		t.Fatalf("cloud endpoint: %v %+v", err, got.Properties)
	}
	if err := cloud("group2", "data", srv.TenantID); respStatus(err) != http.StatusConflict {
		t.Errorf("the same share in a second sync group: %v, want 409", err)
	}

	// A registered server, then its endpoint.
	serverID := uuid.NewString()
	rsPoller, err := f.NewRegisteredServersClient().BeginCreate(ctx, rg, "sync1", serverID, armstoragesync.RegisteredServerCreateParameters{
		Properties: &armstoragesync.RegisteredServerCreateParametersProperties{ServerCertificate: to.Ptr(serverCertificate(t, "server-a")),
			AgentVersion: to.Ptr("20.0.0.0"), ServerOSVersion: to.Ptr("10.0.20348.0"), ServerRole: to.Ptr("Standalone"),
			ServerID: to.Ptr(serverID), FriendlyName: to.Ptr("server-a")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rsPoller.PollUntilDone(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Properties == nil || *rs.Properties.ServerName != "server-a" || *rs.Properties.AgentVersion != "20.0.0.0" || rs.Properties.ManagementEndpointURI == nil {
		t.Fatalf("registered server: %+v", rs.Properties)
	}
	if _, err := f.NewRegisteredServersClient().BeginCreate(ctx, rg, "sync1", uuid.NewString(), armstoragesync.RegisteredServerCreateParameters{
		Properties: &armstoragesync.RegisteredServerCreateParametersProperties{ServerCertificate: to.Ptr("bm90IGEgY2VydA=="), AgentVersion: to.Ptr("20.0.0.0")}}, nil); respStatus(err) != http.StatusBadRequest {
		t.Errorf("registering with a certificate that is not one: %v", err)
	}
	se := f.NewServerEndpointsClient()
	endpoint := func(group, name, path string) error {
		p, err := se.BeginCreate(ctx, rg, "sync1", group, name, armstoragesync.ServerEndpointCreateParameters{Properties: &armstoragesync.ServerEndpointCreateParametersProperties{
			ServerLocalPath: to.Ptr(path), ServerResourceID: rs.ID, InitialUploadPolicy: to.Ptr(armstoragesync.InitialUploadPolicyMerge)}}, nil)
		if err != nil {
			return err
		}
		_, err = p.PollUntilDone(ctx, nil)
		return err
	}
	if err := endpoint("group2", "ep", "/srv/other"); respStatus(err) != http.StatusBadRequest {
		t.Errorf("a server endpoint in a sync group without a cloud endpoint: %v", err)
	}
	if err := endpoint("group1", "ep", "/srv/data"); err != nil {
		t.Fatalf("server endpoint: %v", err)
	}
	if err := endpoint("group1", "ep2", "/srv/elsewhere"); respStatus(err) != http.StatusConflict {
		t.Errorf("a second endpoint of one server in one sync group: %v, want 409", err)
	}
	sep, err := se.Get(ctx, rg, "sync1", "group1", "ep", nil)
	if err != nil || *sep.Properties.ServerLocalPath != "/srv/data" || *sep.Properties.InitialDownloadPolicy != armstoragesync.InitialDownloadPolicyNamespaceThenModifiedFiles ||
		*sep.Properties.ServerName != "server-a" || sep.Properties.SyncStatus == nil || *sep.Properties.SyncStatus.CombinedHealth != armstoragesync.ServerEndpointHealthStateUnavailable {
		t.Fatalf("server endpoint: %v %+v", err, sep.Properties)
	}

	// Cloud tiering, a namespace-only initial download and Data Box transfer are not built:
	// NotSupported, and the endpoint is left as it was.
	epPath := "/subscriptions/" + srv.SubscriptionID + "/resourceGroups/" + rg + "/providers/Microsoft.StorageSync/storageSyncServices/sync1/syncGroups/group1/serverEndpoints/ep?api-version=2022-09-01"
	for _, props := range []string{`"cloudTiering":"on","volumeFreeSpacePercent":20`, `"initialDownloadPolicy":"NamespaceOnly"`, `"offlineDataTransfer":"on"`} {
		body := `{"properties":{"serverLocalPath":"/srv/data","serverResourceId":"` + *sep.Properties.ServerResourceID + `",` + props + `}}`
		if st, _, resp := rawARM(t, http.MethodPut, epPath, body); st != http.StatusBadRequest || !strings.Contains(resp, "NotSupported") {
			t.Errorf("server endpoint with %s: %d %s, want 400 NotSupported", props, st, resp)
		}
	}
	if sep, err := se.Get(ctx, rg, "sync1", "group1", "ep", nil); err != nil || *sep.Properties.CloudTiering != armstoragesync.FeatureStatusOff ||
		*sep.Properties.InitialDownloadPolicy != armstoragesync.InitialDownloadPolicyNamespaceThenModifiedFiles {
		t.Errorf("server endpoint after refused updates: %v %+v", err, sep.Properties)
	}

	// An action not built answers NotSupported (after authorization).
	if st, _, body := rawARM(t, http.MethodPost, "/subscriptions/"+srv.SubscriptionID+"/resourceGroups/"+rg+
		"/providers/Microsoft.StorageSync/storageSyncServices/sync1/syncGroups/group1/cloudEndpoints/cloud/triggerChangeDetection?api-version=2022-09-01",
		`{"directoryPath":"","changeDetectionMode":"Default"}`); st != http.StatusBadRequest || !strings.Contains(body, "NotSupported") {
		t.Errorf("triggerChangeDetection: %d %s", st, body)
	}

	// Azure File Sync Reader reads, does not write.
	reader := newServicePrincipal(t, "afs-reader")
	if err := assignRole(t, admin, "/subscriptions/"+srv.SubscriptionID+"/resourceGroups/"+rg, roleAFSReader, reader.ObjectID); err != nil {
		t.Fatal(err)
	}
	rf := syncFactory(t, spCredential(t, reader.AppID, reader.Password))
	if _, err := rf.NewServerEndpointsClient().Get(ctx, rg, "sync1", "group1", "ep", nil); err != nil {
		t.Errorf("Azure File Sync Reader reads a server endpoint: %v", err)
	}
	if _, err := rf.NewSyncGroupsClient().Create(ctx, rg, "sync1", "group3", armstoragesync.SyncGroupCreateParameters{Properties: map[string]any{}}, nil); respStatus(err) != http.StatusForbidden {
		t.Errorf("Azure File Sync Reader creates a sync group: %v, want 403", err)
	}

	// What may be deleted before what.
	if _, err := f.NewServicesClient().BeginDelete(ctx, rg, "sync1", nil); respStatus(err) != http.StatusConflict {
		t.Errorf("deleting a service with sync groups: %v, want 409", err)
	}
	if _, err := f.NewRegisteredServersClient().BeginDelete(ctx, rg, "sync1", serverID, nil); respStatus(err) != http.StatusConflict {
		t.Errorf("unregistering a server with a server endpoint: %v, want 409", err)
	}
	if _, err := ce.BeginDelete(ctx, rg, "sync1", "group1", "cloud", nil); respStatus(err) != http.StatusConflict {
		t.Errorf("deleting a cloud endpoint before its server endpoints: %v, want 409", err)
	}
	for _, step := range []func() error{
		func() error {
			p, err := se.BeginDelete(ctx, rg, "sync1", "group1", "ep", nil)
			return pollDone(ctx, p, err)
		},
		func() error {
			p, err := ce.BeginDelete(ctx, rg, "sync1", "group1", "cloud", nil)
			return pollDone(ctx, p, err)
		},
		func() error { _, err := f.NewSyncGroupsClient().Delete(ctx, rg, "sync1", "group1", nil); return err },
		func() error { _, err := f.NewSyncGroupsClient().Delete(ctx, rg, "sync1", "group2", nil); return err },
		func() error {
			p, err := f.NewRegisteredServersClient().BeginDelete(ctx, rg, "sync1", serverID, nil)
			return pollDone(ctx, p, err)
		},
	} {
		if err := step(); err != nil {
			t.Fatalf("tearing down in order: %v", err)
		}
	}

	// 2022-09-01: the service's system-assigned identity and useIdentity.
	base := "/subscriptions/" + srv.SubscriptionID + "/resourceGroups/" + rg + "/providers/Microsoft.StorageSync/storageSyncServices/sync1"
	if st, _, body := rawARM(t, http.MethodPatch, base+"?api-version=2022-09-01", `{"properties":{"useIdentity":true}}`); st != http.StatusBadRequest {
		t.Errorf("useIdentity without an identity: %d %s", st, body)
	}
	if st, _, body := rawARM(t, http.MethodPatch, base+"?api-version=2022-09-01", `{"identity":{"type":"SystemAssigned"},"properties":{"useIdentity":true}}`); st != http.StatusAccepted {
		t.Fatalf("identity and useIdentity: %d %s", st, body)
	}
	_, _, body := rawARM(t, http.MethodGet, base+"?api-version=2022-09-01", "")
	var view struct {
		Identity struct {
			Type, PrincipalID string
		}
		Properties struct {
			UseIdentity bool
		}
	}
	if err := json.Unmarshal([]byte(body), &view); err != nil || view.Identity.Type != "SystemAssigned" || view.Identity.PrincipalID == "" || !view.Properties.UseIdentity {
		t.Errorf("the service after turning its identity on: %s", body)
	}
	p, err := f.NewServicesClient().BeginDelete(ctx, rg, "sync1", nil)
	if err := pollDone(ctx, p, err); err != nil {
		t.Errorf("deleting the emptied service: %v", err)
	}
}

// pollDone follows a long-running operation the SDK began (err: beginning it failed).
func pollDone[T any](ctx context.Context, p *runtime.Poller[T], err error) error {
	if err != nil {
		return err
	}
	_, err = p.PollUntilDone(ctx, nil)
	return err
}

// rawARM sends one request to Resource Manager as the admin and returns status, headers and
// body.
func rawARM(t *testing.T, method, path, body string) (int, http.Header, string) {
	t.Helper()
	tok, err := adminCredential(t).GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{armScope}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, srv.ResourceManagerEndpoint+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}
