package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestFileSync_JS (issue 12, "Done when"): the JavaScript client @azure/arm-storagesync
// (api-version 2020-09-01) creates a Storage Sync Service, a sync group, its cloud endpoint,
// a registered server and a server endpoint, following each long-running operation; lists
// the endpoints; is refused a second cloud endpoint (409); deletes the server endpoint.
func TestFileSync_JS(t *testing.T) {
	requireNode(t)
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@azure", "arm-storagesync", "package.json")); err != nil {
		t.Fatalf("@azure/arm-storagesync is not installed in e2e/js/node_modules (%v): run scripts/install-test-deps", err)
	}
	rg := "afsjs-" + uuid.NewString()[:8]
	if err := createGroup(t, adminCredential(t), rg); err != nil {
		t.Fatal(err)
	}
	a := accountWithShares(t, rg, newAccountName(), "data")
	serverID := uuid.NewString()
	cmd := exec.CommandContext(ctxT(t), "node", filepath.Join("e2e", "js", "storagesync.mjs"))
	cmd.Dir = ".."
	cmd.Env = append(agentEnv(), "NODE_EXTRA_CA_CERTS="+srv.CACertFile, "NO_PROXY=127.0.0.1,localhost",
		"CERULEAN_TENANT_ID="+srv.TenantID, "CERULEAN_AUTHORITY_HOST="+srv.AuthorityHost,
		"CERULEAN_CLIENT_ID="+srv.AdminClientID, "CERULEAN_CLIENT_SECRET="+srv.AdminClientSecret,
		"CERULEAN_ARM_ENDPOINT="+srv.ResourceManagerEndpoint, "CERULEAN_SUBSCRIPTION_ID="+srv.SubscriptionID,
		"CERULEAN_RESOURCE_GROUP="+rg, "CERULEAN_ACCOUNT_ID="+*a.ID,
		"CERULEAN_SERVER_ID="+serverID, "CERULEAN_SERVER_CERT="+serverCertificate(t, "js-server"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node e2e/js/storagesync.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var got struct {
		Service                struct{ UID, State, Traffic string }
		Group                  struct{ UniqueID string }
		Cloud                  struct{ Share, PartnershipID string }
		Server                 struct{ Name, AgentVersion string }
		Endpoint               struct{ Path, Tiering, ServerName string }
		Endpoints, AfterDelete []string
		Refused                *struct {
			StatusCode int
			Code       string
		}
	}
	line := strings.TrimSpace(stdout.String())
	if err := json.Unmarshal([]byte(line[strings.LastIndexByte(line, '\n')+1:]), &got); err != nil {
		t.Fatalf("the script's output: %v\n%s", err, stdout.String())
	}
	if got.Service.UID == "" || got.Service.State != "Succeeded" || got.Service.Traffic != "AllowAllTraffic" || got.Group.UniqueID == "" ||
		got.Cloud.Share != "data" || got.Cloud.PartnershipID == "" || got.Server.Name != "js-server" || got.Server.AgentVersion != "20.0.0.0" ||
		got.Endpoint.Path != "/srv/js" || got.Endpoint.Tiering != "off" || got.Endpoint.ServerName != "js-server" ||
		len(got.Endpoints) != 1 || got.Endpoints[0] != "jsendpoint" || len(got.AfterDelete) != 0 ||
		got.Refused == nil || got.Refused.StatusCode != 409 || got.Refused.Code != "CloudEndpointAlreadyExists" {
		t.Errorf("@azure/arm-storagesync against Cerulean: %s", line)
	}
}
