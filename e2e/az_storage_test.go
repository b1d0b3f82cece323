package e2e

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// azStorageAccount is what az storage account create/show/update print (the SDK model's
// serialization: properties lifted to the top).
type azStorageAccount struct {
	ID                string            `json:"id"`
	Name              string            `json:"name"`
	Kind              string            `json:"kind"`
	Location          string            `json:"location"`
	ProvisioningState string            `json:"provisioningState"`
	Tags              map[string]string `json:"tags"`
	SKU               struct {
		Name string `json:"name"`
	} `json:"sku"`
	Encryption struct {
		KeySource string `json:"keySource"`
	} `json:"encryption"`
	PrimaryEndpoints struct {
		File string `json:"file"`
	} `json:"primaryEndpoints"`
}

type azStorageKey struct {
	KeyName     string `json:"keyName"`
	Value       string `json:"value"`
	Permissions string `json:"permissions"`
}

// TestAzureCLI_Storage drives Microsoft.Storage and the Azure Files data plane with Debian's
// unmodified az 2.45: the account's life cycle through Resource Manager as the bootstrap
// admin, then shares, directories and files with a connection string naming the account
// key and the path-style file endpoint ARM reported.
func TestAzureCLI_Storage(t *testing.T) {
	if _, err := exec.LookPath("az"); err != nil {
		t.Fatalf("the Azure CLI (az) is not on PATH: install Debian's azure-cli (apt-get install azure-cli; .ci/run installs it): %v", err)
	}
	start := time.Now()
	t.Cleanup(func() { t.Logf("TestAzureCLI_Storage took %s", time.Since(start).Round(time.Second)) })

	admin := newAzCLI(t, "st-admin")
	admin.registerCloudConfig()
	admin.loginSP(srv.AdminClientID, srv.AdminClientSecret)
	rg := "azst-" + uuid.NewString()[:8]
	name := newAccountName()
	admin.ok("group", "create", "-n", rg, "-l", "westus", "-o", "none")

	// 1. The account through Resource Manager.
	var acct azStorageAccount
	admin.json(&acct, "storage", "account", "create", "-n", name, "-g", rg, "-l", "westus",
		"--sku", "Standard_LRS", "--kind", "StorageV2")
	wantEndpoint := srv.ResourceManagerEndpoint + "/" + name + "/"
	if acct.Name != name || acct.Kind != "StorageV2" || acct.SKU.Name != "Standard_LRS" || acct.Location != "westus" ||
		acct.ProvisioningState != "Succeeded" || acct.Encryption.KeySource != "Microsoft.Storage" ||
		acct.PrimaryEndpoints.File != wantEndpoint || !strings.EqualFold(acct.ID, "/subscriptions/"+srv.SubscriptionID+"/resourceGroups/"+rg+"/providers/Microsoft.Storage/storageAccounts/"+name) {
		t.Fatalf("az storage account create = %+v, want %s: StorageV2, Standard_LRS in westus, Succeeded, keySource Microsoft.Storage, file endpoint %s", acct, name, wantEndpoint)
	}
	var shown azStorageAccount
	admin.json(&shown, "storage", "account", "show", "-n", name, "-g", rg)
	if shown.ID != acct.ID || shown.Kind != "StorageV2" || shown.SKU.Name != "Standard_LRS" || shown.PrimaryEndpoints.File != wantEndpoint {
		t.Fatalf("az storage account show = %+v, want the created account %+v", shown, acct)
	}
	var updated azStorageAccount
	admin.json(&updated, "storage", "account", "update", "-n", name, "-g", rg, "--tags", "a=b")
	if updated.Tags["a"] != "b" || updated.SKU.Name != "Standard_LRS" || updated.Kind != "StorageV2" {
		t.Fatalf("az storage account update --tags a=b = %+v, want tag a=b and the account otherwise unchanged", updated)
	}
	admin.json(&shown, "storage", "account", "show", "-n", name, "-g", rg)
	if shown.Tags["a"] != "b" {
		t.Fatalf("az storage account show after the update = %+v, want tag a=b", shown)
	}

	var keys []azStorageKey
	admin.json(&keys, "storage", "account", "keys", "list", "-n", name, "-g", rg)
	if len(keys) != 2 || keys[0].KeyName != "key1" || keys[1].KeyName != "key2" || len(keys[0].Value) != 88 ||
		len(keys[1].Value) != 88 || keys[0].Value == keys[1].Value || !strings.EqualFold(keys[0].Permissions, "FULL") {
		t.Fatalf("az storage account keys list = %+v, want key1 and key2, distinct 88-character values, FULL", keys)
	}
	var renewed []azStorageKey
	admin.json(&renewed, "storage", "account", "keys", "renew", "-n", name, "-g", rg, "--key", "primary")
	if len(renewed) != 2 || renewed[0].KeyName != "key1" || len(renewed[0].Value) != 88 ||
		renewed[0].Value == keys[0].Value || renewed[1].Value != keys[1].Value {
		t.Fatalf("az storage account keys renew --key primary = %+v, want a new key1 and key2 unchanged (was %+v)", renewed, keys)
	}
	key := renewed[0].Value

	// 2. The data plane, with a connection string: Shared Key with the renewed key1.
	fileEndpoint := strings.TrimSuffix(acct.PrimaryEndpoints.File, "/")
	connStr := func(accountKey string) string {
		return "DefaultEndpointsProtocol=https;AccountName=" + name + ";AccountKey=" + accountKey + ";FileEndpoint=" + fileEndpoint
	}
	cs := connStr(key)
	st := func(args ...string) []string { return append(args, "--connection-string", cs) }

	// A wrong key is refused by Shared Key, and so is the key1 that renew replaced.
	bad := "AAAA" + strings.Repeat("B", 84)
	admin.fails("AuthenticationFailed", "storage", "share", "list", "--connection-string", connStr(bad))
	admin.fails("AuthenticationFailed", "storage", "share", "list", "--connection-string", connStr(keys[0].Value))

	var created struct {
		Created bool `json:"created"`
	}
	admin.json(&created, st("storage", "share", "create", "-n", "docs", "--quota", "5", "--metadata", "team=blue")...)
	if !created.Created {
		t.Fatalf("az storage share create -n docs = %+v, want created true", created)
	}
	admin.json(&created, st("storage", "share", "create", "-n", "docs")...)
	if created.Created {
		t.Fatalf("az storage share create of an existing share = %+v, want created false", created)
	}
	var shares []struct {
		Name     string            `json:"name"`
		Quota    int               `json:"quota"`
		Metadata map[string]string `json:"metadata"`
	}
	admin.json(&shares, st("storage", "share", "list", "--include-metadata")...)
	if len(shares) != 1 || shares[0].Name != "docs" || shares[0].Quota != 5 || shares[0].Metadata["team"] != "blue" {
		t.Fatalf("az storage share list --include-metadata = %+v, want only docs with quota 5 and metadata team=blue", shares)
	}
	// az storage share show reads the share's properties and metadata from the headers of
	// Get Share Properties (x-ms-share-quota, x-ms-meta-*).
	var share struct {
		Name       string            `json:"name"`
		Metadata   map[string]string `json:"metadata"`
		Properties struct {
			Quota int    `json:"quota"`
			ETag  string `json:"etag"`
		} `json:"properties"`
	}
	admin.json(&share, st("storage", "share", "show", "-n", "docs")...)
	if share.Name != "docs" || share.Properties.Quota != 5 || share.Properties.ETag == "" {
		t.Fatalf("az storage share show -n docs = %+v, want docs with quota 5 and an etag", share)
	}
	if share.Metadata["team"] != "blue" {
		t.Errorf("az storage share show -n docs: metadata %v, want team=blue (Get Share Properties' x-ms-meta-* headers)", share.Metadata)
	}

	admin.json(&created, st("storage", "directory", "create", "-s", "docs", "-n", "reports", "--metadata", "kind=monthly")...)
	if !created.Created {
		t.Fatalf("az storage directory create -n reports = %+v, want created true", created)
	}
	var dirExists struct {
		Exists bool `json:"exists"`
	}
	admin.json(&dirExists, st("storage", "directory", "exists", "-s", "docs", "-n", "reports")...)
	if !dirExists.Exists {
		t.Fatalf("az storage directory exists -n reports = %+v, want true", dirExists)
	}
	var dir struct {
		Name       string            `json:"name"`
		Metadata   map[string]string `json:"metadata"`
		Properties struct {
			ETag string `json:"etag"`
		} `json:"properties"`
	}
	admin.json(&dir, st("storage", "directory", "show", "-s", "docs", "-n", "reports")...)
	if dir.Name != "reports" || dir.Properties.ETag == "" {
		t.Fatalf("az storage directory show -n reports = %+v, want reports with an etag", dir)
	}
	if dir.Metadata["kind"] != "monthly" {
		t.Errorf("az storage directory show -n reports: metadata %v, want kind=monthly (Get Directory Properties' x-ms-meta-* headers)", dir.Metadata)
	}

	// A small file, and one az uploads in three Put Range calls of at most 4 MiB; both read back byte for byte.
	tmp := t.TempDir()
	small := []byte("quarterly report, Cerulean e2e\n")
	big := make([]byte, 9<<20+12345)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	copy(big, "az-storage-upload-marker-for-the-store-scan")
	rememberSensitive(t, big[:64])
	rememberSensitive(t, big[8<<20:8<<20+64])
	smallFile, bigFile := filepath.Join(tmp, "a.txt"), filepath.Join(tmp, "big.bin")
	if err := os.WriteFile(smallFile, small, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bigFile, big, 0o600); err != nil {
		t.Fatal(err)
	}
	admin.ok(st("storage", "file", "upload", "-s", "docs", "--source", smallFile, "--path", "reports/a.txt",
		"--content-type", "text/plain", "-o", "none")...)
	admin.ok(st("storage", "file", "upload", "-s", "docs", "--source", bigFile, "--path", "reports/big.bin", "-o", "none")...)

	// Get Share Stats (GET ?restype=share&comp=stats): the server answers ShareUsageBytes;
	// az 2.45 prints the usage in GiB, rounded up, as a JSON string ("1" for our 9 MiB).
	if out, errOut, err := admin.run(st("storage", "share", "stats", "-n", "docs", "-o", "json")...); err != nil {
		t.Errorf("[st-admin] az storage share stats -n docs: %v\nstdout:\n%s\nstderr:\n%s", err, out, errOut)
	} else if n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(out), `"`), 10, 64); err != nil || n != 1 {
		t.Errorf("[st-admin] az storage share stats -n docs = %q, want \"1\" (about 9 MiB in use, in GiB rounded up)", out)
	}

	var listed []struct {
		Name       string `json:"name"`
		Type       string `json:"type"`
		Properties struct {
			ContentLength int64 `json:"contentLength"`
		} `json:"properties"`
	}
	admin.json(&listed, st("storage", "file", "list", "-s", "docs", "--path", "reports")...)
	sizes := map[string]int64{}
	for _, f := range listed {
		sizes[f.Name+":"+f.Type] = f.Properties.ContentLength
	}
	if len(listed) != 2 || sizes["a.txt:file"] != int64(len(small)) || sizes["big.bin:file"] != int64(len(big)) {
		t.Fatalf("az storage file list --path reports = %+v, want a.txt (%d bytes) and big.bin (%d bytes)", listed, len(small), len(big))
	}
	var root []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	admin.json(&root, st("storage", "file", "list", "-s", "docs")...)
	if len(root) != 1 || root[0].Name != "reports" || root[0].Type != "dir" {
		t.Fatalf("az storage file list of the share root = %+v, want only the directory reports", root)
	}

	type azFile struct {
		Name       string            `json:"name"`
		Metadata   map[string]string `json:"metadata"`
		Properties struct {
			ContentLength   int64 `json:"contentLength"`
			ContentSettings struct {
				ContentType string `json:"contentType"`
			} `json:"contentSettings"`
			ETag            string `json:"etag"`
			LastModified    string `json:"lastModified"`
			ServerEncrypted bool   `json:"serverEncrypted"`
		} `json:"properties"`
	}
	var file azFile
	admin.json(&file, st("storage", "file", "show", "-s", "docs", "-p", "reports/a.txt")...)
	if file.Name != "a.txt" || file.Properties.ContentLength != int64(len(small)) || file.Properties.ContentSettings.ContentType != "text/plain" ||
		file.Properties.ETag == "" || file.Properties.LastModified == "" || !file.Properties.ServerEncrypted {
		t.Fatalf("az storage file show reports/a.txt = %+v, want a.txt, %d bytes, text/plain, an etag, lastModified, server-encrypted", file, len(small))
	}

	download := func(path string, want []byte) {
		t.Helper()
		dest := filepath.Join(tmp, "dl-"+strings.ReplaceAll(path, "/", "_"))
		admin.ok(st("storage", "file", "download", "-s", "docs", "-p", path, "--dest", dest, "-o", "none")...)
		got, err := os.ReadFile(dest)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("az storage file download %s: %d bytes that differ from the %d uploaded", path, len(got), len(want))
		}
	}
	download("reports/a.txt", small)
	download("reports/big.bin", big)

	admin.ok(st("storage", "file", "metadata", "update", "-s", "docs", "-p", "reports/a.txt", "--metadata", "owner=finance", "stage=final", "-o", "none")...)
	var meta map[string]string
	admin.json(&meta, st("storage", "file", "metadata", "show", "-s", "docs", "-p", "reports/a.txt")...)
	if len(meta) != 2 || meta["owner"] != "finance" || meta["stage"] != "final" {
		t.Errorf("az storage file metadata show after az storage file metadata update = %v, want owner=finance stage=final (Get File Properties' x-ms-meta-* headers)", meta)
	}
	admin.json(&file, st("storage", "file", "show", "-s", "docs", "-p", "reports/a.txt")...)
	if file.Properties.ContentLength != int64(len(small)) || file.Properties.ContentSettings.ContentType != "text/plain" {
		t.Fatalf("az storage file show after the metadata update = %+v, want the content and its type untouched", file)
	}
	if file.Metadata["owner"] != "finance" || file.Metadata["stage"] != "final" {
		t.Errorf("az storage file show after the metadata update: metadata %v, want owner=finance stage=final", file.Metadata)
	}
	download("reports/a.txt", small)

	// Deletes: a non-empty directory is refused; files, then the directory, then the share.
	admin.fails("DirectoryNotEmpty", st("storage", "directory", "delete", "-s", "docs", "-n", "reports", "--fail-not-exist")...)
	for _, p := range []string{"reports/a.txt", "reports/big.bin"} {
		admin.ok(st("storage", "file", "delete", "-s", "docs", "-p", p, "-o", "none")...)
	}
	var exists struct {
		Exists bool `json:"exists"`
	}
	admin.json(&exists, st("storage", "file", "exists", "-s", "docs", "-p", "reports/a.txt")...)
	if exists.Exists {
		t.Fatal("az storage file exists reports/a.txt = true after az storage file delete")
	}
	var deleted struct {
		Deleted bool `json:"deleted"`
	}
	admin.json(&deleted, st("storage", "directory", "delete", "-s", "docs", "-n", "reports")...)
	if !deleted.Deleted {
		t.Fatalf("az storage directory delete -n reports = %+v, want deleted true", deleted)
	}
	admin.json(&dirExists, st("storage", "directory", "exists", "-s", "docs", "-n", "reports")...)
	if dirExists.Exists {
		t.Fatal("az storage directory exists -n reports = true after az storage directory delete")
	}
	admin.json(&deleted, st("storage", "share", "delete", "-n", "docs")...)
	if !deleted.Deleted {
		t.Fatalf("az storage share delete -n docs = %+v, want deleted true", deleted)
	}
	admin.json(&shares, st("storage", "share", "list")...)
	if len(shares) != 0 {
		t.Fatalf("az storage share list after the delete = %+v, want none", shares)
	}
}
