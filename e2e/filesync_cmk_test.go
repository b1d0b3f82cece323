package e2e

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

// TestFileSync_CMKRevoked (issue 12, faults; seed 002 under File Sync): the cloud endpoint's
// account is encrypted with a customer-managed key. Disabling the key stops the agent's sync
// (reported, as a failed session and in 'agent status'), loses nothing on the server; once
// the key is enabled again the next run carries everything over, and another server gets it.
func TestFileSync_CMKRevoked(t *testing.T) {
	rg, vault, kc, _, uami := cmkSetup(t, "afscmk-")
	if _, err := kc.CreateKey(ctxT(t), "cmk", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := assignRole(t, adminCredential(t), vaultScope(rg, vault), roleKVCryptoSEU, *uami.Properties.PrincipalID); err != nil {
		t.Fatal(err)
	}
	name := createCMKAccount(t, rg, vault, *uami.ID)
	shares, _ := armstorage.NewFileSharesClient(srv.SubscriptionID, adminCredential(t), armOptions(t))
	if _, err := shares.Create(ctxT(t), rg, name, "data", armstorage.FileShare{}, nil); err != nil {
		t.Fatal(err)
	}
	tp := syncTopologyOn(t, rg, name)
	a := newSyncServer(t, tp, "cmk-a", "")
	writeFile(t, filepath.Join(a.folder, "first.txt"), []byte("under the customer's key"))
	a.sync(t)

	setEnabled := func(on bool) {
		t.Helper()
		if _, err := kc.UpdateKey(ctxT(t), "cmk", "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(on)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	setEnabled(false)
	writeFile(t, filepath.Join(a.folder, "second.txt"), []byte("written while the key is disabled"))
	if out, err := a.syncMay(t); err == nil || !strings.Contains(out, "KeyVault") {
		t.Errorf("the agent synced with the key disabled: %v\n%s", err, out)
	}
	st, _ := exec.Command(binary, "agent", "status", "--state", a.state).CombinedOutput()
	if !strings.Contains(string(st), "KeyVault") {
		t.Errorf("agent status does not report the disabled key:\n%s", st)
	}
	_, _, ep := rawARM(t, http.MethodGet, tp.group+"/serverEndpoints/cmk-a?api-version=2022-09-01", "")
	if !strings.Contains(ep, `"combinedHealth":"Error"`) {
		t.Errorf("the server endpoint's health with the key disabled: %s", ep)
	}
	setEnabled(true)
	if out := a.sync(t); !strings.Contains(out, "up 1") {
		t.Errorf("after the key came back: %s", out)
	}
	b := newSyncServer(t, tp, "cmk-b", "")
	b.sync(t)
	want := map[string]string{"first.txt": "under the customer's key", "second.txt": "written while the key is disabled"}
	if got := tree(t, b.folder); !sameTree(got, want) {
		t.Errorf("another server after the key came back: %v", treeNames(got))
	}
}
