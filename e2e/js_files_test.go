package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// jsFilesPackage is the npm package e2e/js/files.mjs imports, pinned by e2e/js/package-lock.json.
const jsFilesPackage = "@azure/storage-file-share"

// requireNodeFiles fails the test (never skips) when node or the npm packages are missing.
func requireNodeFiles(t *testing.T) {
	t.Helper()
	requireNode(t)
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", filepath.FromSlash(jsFilesPackage), "package.json")); err != nil {
		t.Fatalf("npm package %s is not installed in e2e/js/node_modules (%v): run scripts/install-test-deps", jsFilesPackage, err)
	}
}

// jsRefusal is what files.mjs records of a request the SDK threw for.
type jsRefusal struct {
	StatusCode int    `json:"statusCode"`
	Code       string `json:"code"`
	Message    string `json:"message"`
}

// jsFilesResult is the JSON line e2e/js/files.mjs prints.
type jsFilesResult struct {
	FailedStep string `json:"failedStep"`

	ServiceURL             string            `json:"serviceUrl"`
	AccountName            string            `json:"accountName"`
	WrongKey               jsRefusal         `json:"wrongKey"`
	ShareCreatedETag       bool              `json:"shareCreatedETag"`
	ShareCreateAgain       jsRefusal         `json:"shareCreateAgain"`
	ShareCreateIfNotExists *bool             `json:"shareCreateIfNotExists"`
	ShareQuota             int               `json:"shareQuota"`
	ShareMetadata          map[string]string `json:"shareMetadata"`
	ListedShares           []struct {
		Name     string            `json:"name"`
		Quota    int               `json:"quota"`
		Metadata map[string]string `json:"metadata"`
	} `json:"listedShares"`
	DirMetadata                map[string]string `json:"dirMetadata"`
	DirFileID                  string            `json:"dirFileId"`
	MissingParent              jsRefusal         `json:"missingParent"`
	UploadRangeServerEncrypted bool              `json:"uploadRangeServerEncrypted"`
	RangePastEnd               jsRefusal         `json:"rangePastEnd"`
	SmallEqual                 bool              `json:"smallEqual"`
	BigSize                    int64             `json:"bigSize"`
	BigSha256                  string            `json:"bigSha256"`
	BigDownloadLength          int64             `json:"bigDownloadLength"`
	BigDownloadSha256          string            `json:"bigDownloadSha256"`
	BigBlocksEqual             bool              `json:"bigBlocksEqual"`
	RangeContentLength         int64             `json:"rangeContentLength"`
	RangeEqual                 bool              `json:"rangeEqual"`
	BigRanges                  [][2]int64        `json:"bigRanges"`
	FileProps                  struct {
		ContentLength     int64  `json:"contentLength"`
		ContentType       string `json:"contentType"`
		IsServerEncrypted bool   `json:"isServerEncrypted"`
		ETag              bool   `json:"etag"`
		FileID            string `json:"fileId"`
		FileParentID      string `json:"fileParentId"`
		FileAttributes    string `json:"fileAttributes"`
		FileType          string `json:"fileType"`
	} `json:"fileProps"`
	FileMetadata               map[string]string `json:"fileMetadata"`
	ContentLengthAfterMetadata int64             `json:"contentLengthAfterMetadata"`
	ContentTypeAfterSetHeaders string            `json:"contentTypeAfterSetHeaders"`
	ListedInDir                []struct {
		Kind          string `json:"kind"`
		Name          string `json:"name"`
		ContentLength int64  `json:"contentLength"`
	} `json:"listedInDir"`
	ListedInRoot []struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"listedInRoot"`
	RenamedPath              string            `json:"renamedPath"`
	OldExists                *bool             `json:"oldExists"`
	RenamedEqual             bool              `json:"renamedEqual"`
	RenamedMetadata          map[string]string `json:"renamedMetadata"`
	RenamedDirPath           string            `json:"renamedDirPath"`
	OldDirExists             *bool             `json:"oldDirExists"`
	RenamedDirExists         bool              `json:"renamedDirExists"`
	DirNotEmpty              jsRefusal         `json:"dirNotEmpty"`
	RenamedExistsAfterDelete *bool             `json:"renamedExistsAfterDelete"`
	DeleteIfExistsAgain      *bool             `json:"deleteIfExistsAgain"`
	DirExistsAfterDelete     *bool             `json:"dirExistsAfterDelete"`
	ShareExistsAfterDelete   *bool             `json:"shareExistsAfterDelete"`
}

// runFilesJS runs e2e/js/files.mjs and returns its result line (raw and decoded). Like
// runKeyVaultJS, the script reaches Cerulean directly (no proxy in the environment) and
// trusts its CA through NODE_EXTRA_CA_CERTS; only its host-style client (the renames) is
// given Cerulean's proxy.
func runFilesJS(t *testing.T, vars ...string) (string, jsFilesResult) {
	t.Helper()
	cmd := exec.CommandContext(ctxT(t), "node", filepath.Join("e2e", "js", "files.mjs"))
	cmd.Dir = ".." // the repository root: tests run in e2e/
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY":
			continue // replaced below: every request goes straight to Cerulean
		}
		env = append(env, kv)
	}
	cmd.Env = append(append(env,
		"NODE_EXTRA_CA_CERTS="+srv.CACertFile,
		"NO_PROXY=127.0.0.1,localhost", "HTTPS_PROXY=", "HTTP_PROXY=",
		"CERULEAN_PROXY="+srv.Proxy,
	), vars...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	line := strings.TrimSpace(stdout.String())
	if i := strings.LastIndexByte(line, '\n'); i >= 0 {
		line = line[i+1:]
	}
	var res jsFilesResult
	if jerr := json.Unmarshal([]byte(line), &res); jerr != nil {
		t.Fatalf("node e2e/js/files.mjs: %v; its last line is not its JSON result (%v)\nstdout:\n%s\nstderr:\n%s", err, jerr, stdout.String(), stderr.String())
	}
	if err != nil || res.FailedStep != "" {
		t.Fatalf("node e2e/js/files.mjs failed at step %q: %v\nstdout:\n%s\nstderr:\n%s", res.FailedStep, err, stdout.String(), stderr.String())
	}
	t.Logf("files.mjs: %s", line)
	return line, res
}

// TestJS_Files drives the Azure Files data plane with the official, unmodified Azure SDK for
// JavaScript (@azure/storage-file-share ShareServiceClient.fromConnectionString, Shared Key
// with the account key) on the path-style file endpoint ARM reports: shares, directories,
// files, ranges and a > 4 MiB uploadData, downloads, properties, metadata, listings, renames,
// deletes, and the refusals Azure gives.
func TestJS_Files(t *testing.T) {
	requireNodeFiles(t)
	rg := "js-files-" + uuid.NewString()[:8]
	if err := createGroup(t, adminCredential(t), rg); err != nil {
		t.Fatal(err)
	}
	name := newAccountName()
	acct := createAccount(t, rg, name)
	keys, err := accountsClient(t, adminCredential(t)).ListKeys(ctxT(t), rg, name, nil)
	if err != nil || len(keys.Keys) != 2 {
		t.Fatalf("list keys: %v %+v", err, keys)
	}
	fileEndpoint := strings.TrimSuffix(*acct.Properties.PrimaryEndpoints.File, "/")
	if want := srv.ResourceManagerEndpoint + "/" + name; fileEndpoint != want {
		t.Fatalf("primaryEndpoints.file = %s, want %s/", *acct.Properties.PrimaryEndpoints.File, want)
	}
	connStr := func(key string) string {
		return "DefaultEndpointsProtocol=https;AccountName=" + name + ";AccountKey=" + key + ";FileEndpoint=" + fileEndpoint
	}

	big := make([]byte, 9<<20+4321) // three 4 MiB ranges for uploadData, the last one partial
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	copy(big, "js-uploaddata-marker-for-the-store-scan")
	rememberSensitive(t, big[:64])
	rememberSensitive(t, big[5<<20:5<<20+64])
	bigFile := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(bigFile, big, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(big)
	bigSum := hex.EncodeToString(sum[:])
	const share = "jsdocs"
	const smallLen = int64(len("quarterly report, Cerulean e2e (JavaScript)\n"))

	_, r := runFilesJS(t,
		"CERULEAN_CONNECTION_STRING="+connStr(*keys.Keys[0].Value),
		"CERULEAN_BAD_CONNECTION_STRING="+connStr("AAAA"+strings.Repeat("B", 84)),
		"CERULEAN_SHARE="+share,
		"CERULEAN_BIG_FILE="+bigFile,
	)

	isFalse := func(b *bool) bool { return b != nil && !*b }
	refusal := func(what string, got jsRefusal, status int, code string) {
		t.Helper()
		if got.StatusCode != status || got.Code != code {
			t.Errorf("%s: got %d %q (%s), want %d %s", what, got.StatusCode, got.Code, got.Message, status, code)
		}
	}
	if r.ServiceURL != fileEndpoint || r.AccountName != name {
		t.Errorf("ShareServiceClient url %q account %q, want %q %q", r.ServiceURL, r.AccountName, fileEndpoint, name)
	}
	refusal("listShares with a wrong AccountKey", r.WrongKey, 403, "AuthenticationFailed")

	// Shares.
	if !r.ShareCreatedETag {
		t.Error("shareClient.create returned no etag")
	}
	refusal("shareClient.create of an existing share", r.ShareCreateAgain, 409, "ShareAlreadyExists")
	if !isFalse(r.ShareCreateIfNotExists) {
		t.Errorf("createIfNotExists of an existing share: succeeded=%v, want false", r.ShareCreateIfNotExists)
	}
	if r.ShareQuota != 5 || r.ShareMetadata["team"] != "blue" || len(r.ShareMetadata) != 1 {
		t.Errorf("shareClient.getProperties: quota %d metadata %v, want 5 and team=blue", r.ShareQuota, r.ShareMetadata)
	}
	if len(r.ListedShares) != 1 || r.ListedShares[0].Name != share || r.ListedShares[0].Quota != 5 || r.ListedShares[0].Metadata["team"] != "blue" {
		t.Errorf("listShares({includeMetadata}) = %+v, want only %s, quota 5, team=blue", r.ListedShares, share)
	}

	// Directories.
	if r.DirMetadata["kind"] != "monthly" || len(r.DirMetadata) != 1 || r.DirFileID == "" {
		t.Errorf("directoryClient.getProperties: metadata %v fileId %q, want kind=monthly and a file id", r.DirMetadata, r.DirFileID)
	}
	refusal("directoryClient.create under a missing parent", r.MissingParent, 404, "ParentNotFound")

	// Files: create + uploadRange, a range past the end, uploadData of three ranges.
	if !r.UploadRangeServerEncrypted {
		t.Error("uploadRange: x-ms-request-server-encrypted is not true")
	}
	refusal("uploadRange past the end of the file", r.RangePastEnd, 416, "InvalidRange")
	if !r.SmallEqual {
		t.Error("downloadToBuffer of the small file differs from what uploadRange wrote")
	}
	if r.BigSize != int64(len(big)) || r.BigSha256 != bigSum {
		t.Errorf("the script read %d bytes (sha256 %s) of the big file, want %d (%s)", r.BigSize, r.BigSha256, len(big), bigSum)
	}
	if r.BigDownloadLength != int64(len(big)) || r.BigDownloadSha256 != bigSum {
		t.Errorf("download of the uploadData file: %d bytes, sha256 %s; want %d bytes, %s", r.BigDownloadLength, r.BigDownloadSha256, len(big), bigSum)
	}
	if !r.BigBlocksEqual {
		t.Error("downloadToBuffer in 1 MiB blocks differs from what uploadData wrote")
	}
	if r.RangeContentLength != 20 || !r.RangeEqual {
		t.Errorf("ranged download across the 4 MiB boundary: %d bytes, equal %v; want 20 equal bytes", r.RangeContentLength, r.RangeEqual)
	}
	if want := [][2]int64{{0, int64(len(big)) - 1}}; !reflect.DeepEqual(r.BigRanges, want) {
		t.Errorf("getRangeList of the uploadData file = %v, want %v", r.BigRanges, want)
	}

	// Properties, metadata, HTTP headers.
	fp := r.FileProps
	if fp.ContentLength != smallLen || fp.ContentType != "text/plain" || !fp.IsServerEncrypted || !fp.ETag ||
		fp.FileID == "" || fp.FileParentID != r.DirFileID || fp.FileAttributes != "Archive" || fp.FileType != "File" {
		t.Errorf("fileClient.getProperties = %+v, want %d bytes, text/plain, server-encrypted, an etag, a file id, parent %s, Archive, File", fp, smallLen, r.DirFileID)
	}
	if len(r.FileMetadata) != 2 || r.FileMetadata["owner"] != "finance" || r.FileMetadata["stage"] != "final" {
		t.Errorf("getProperties after setMetadata: metadata %v, want owner=finance stage=final", r.FileMetadata)
	}
	if r.ContentLengthAfterMetadata != smallLen {
		t.Errorf("content length after setMetadata %d, want %d", r.ContentLengthAfterMetadata, smallLen)
	}
	if r.ContentTypeAfterSetHeaders != "application/x-report" {
		t.Errorf("content type after setHttpHeaders %q, want application/x-report", r.ContentTypeAfterSetHeaders)
	}

	// Listings.
	var inDir []string
	for _, it := range r.ListedInDir {
		inDir = append(inDir, it.Kind+":"+it.Name)
		if it.Name == "a.txt" && it.ContentLength != smallLen || it.Name == "big.bin" && it.ContentLength != int64(len(big)) {
			t.Errorf("listFilesAndDirectories: %s has content length %d", it.Name, it.ContentLength)
		}
	}
	if strings.Join(inDir, ",") != "file:a.txt,file:big.bin" {
		t.Errorf("listFilesAndDirectories(reports) = %v, want file:a.txt, file:big.bin", inDir)
	}
	if len(r.ListedInRoot) != 1 || r.ListedInRoot[0].Kind != "directory" || r.ListedInRoot[0].Name != "reports" {
		t.Errorf("listFilesAndDirectories(root) = %+v, want only the directory reports", r.ListedInRoot)
	}

	// Renames (on the host-style URL; see hostStyleService in files.mjs).
	if r.RenamedPath != "reports/renamed.txt" || !isFalse(r.OldExists) || !r.RenamedEqual ||
		r.RenamedMetadata["owner"] != "finance" || r.RenamedMetadata["stage"] != "final" {
		t.Errorf("fileClient.rename: path %q, old exists %v, content equal %v, metadata %v; want reports/renamed.txt, false, true, owner=finance stage=final",
			r.RenamedPath, r.OldExists, r.RenamedEqual, r.RenamedMetadata)
	}
	if r.RenamedDirPath != "archive" || !isFalse(r.OldDirExists) || !r.RenamedDirExists {
		t.Errorf("directoryClient.rename: path %q, old exists %v, new exists %v; want archive, false, true", r.RenamedDirPath, r.OldDirExists, r.RenamedDirExists)
	}

	// Deletes.
	refusal("directoryClient.delete of a non-empty directory", r.DirNotEmpty, 409, "DirectoryNotEmpty")
	if !isFalse(r.RenamedExistsAfterDelete) {
		t.Errorf("fileClient.exists after delete = %v, want false", r.RenamedExistsAfterDelete)
	}
	if !isFalse(r.DeleteIfExistsAgain) {
		t.Errorf("deleteIfExists of a deleted file: succeeded=%v, want false", r.DeleteIfExistsAgain)
	}
	if !isFalse(r.DirExistsAfterDelete) {
		t.Errorf("directoryClient.exists after delete = %v, want false", r.DirExistsAfterDelete)
	}
	if !isFalse(r.ShareExistsAfterDelete) {
		t.Errorf("shareClient.exists after delete = %v, want false", r.ShareExistsAfterDelete)
	}
}
