package agent

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storagesync/armstoragesync"
)

// ServiceParts splits a Storage Sync Service resource id.
func ServiceParts(id string) (sub, rg, name string, err error) {
	p := strings.Split(strings.Trim(id, "/"), "/")
	if len(p) != 8 || !strings.EqualFold(p[0], "subscriptions") || !strings.EqualFold(p[2], "resourceGroups") ||
		!strings.EqualFold(p[4], "providers") || !strings.EqualFold(p[5], "Microsoft.StorageSync") || !strings.EqualFold(p[6], "storageSyncServices") {
		return "", "", "", fmt.Errorf("'%s' is not a Storage Sync Service id: /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.StorageSync/storageSyncServices/<name>", id)
	}
	return p[1], p[3], p[7], nil
}

// Register registers a new server named name with the Storage Sync Service serviceID,
// through Resource Manager at armBase as cred (the signed-in caller, whose roles decide),
// keeping the server's identity in dir, then sends its first heartbeat (with the machine's
// managed identity mi, when it has one).
func Register(ctx context.Context, hc *http.Client, armBase string, cred azcore.TokenCredential, serviceID, name, dir string, mi azcore.TokenCredential) (*State, error) {
	sub, rg, svc, err := ServiceParts(serviceID)
	if err != nil {
		return nil, err
	}
	st, err := NewState(dir, serviceID, name)
	if err != nil {
		return nil, err
	}
	opts := &arm.ClientOptions{ClientOptions: policy.ClientOptions{Transport: hc, Cloud: cloud.Configuration{
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: {Endpoint: armBase, Audience: "https://management.azure.com/"}}}}}
	c, err := armstoragesync.NewRegisteredServersClient(sub, cred, opts)
	if err != nil {
		return nil, err
	}
	p, err := c.BeginCreate(ctx, rg, svc, st.ServerID, armstoragesync.RegisteredServerCreateParameters{Properties: &armstoragesync.RegisteredServerCreateParametersProperties{
		ServerCertificate: to.Ptr(st.Certificate), AgentVersion: to.Ptr(Version), ServerOSVersion: to.Ptr("Linux"),
		ServerRole: to.Ptr("Standalone"), ServerID: to.Ptr(st.ServerID), FriendlyName: to.Ptr(name)}}, nil)
	if err != nil {
		return nil, fmt.Errorf("register the server: %w", err)
	}
	res, err := p.PollUntilDone(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("register the server: %w", err)
	}
	if res.Properties == nil || res.Properties.ManagementEndpointURI == nil {
		return nil, fmt.Errorf("the Storage Sync Service gave the server no management endpoint")
	}
	st.ManagementEndpoint = *res.Properties.ManagementEndpointURI
	if err := st.Save(); err != nil {
		return nil, err
	}
	return st, NewClient(st, hc, mi).Heartbeat(ctx)
}
