package e2e

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/share"
	"github.com/cerulean-azure/cerulean/internal/ntfs"
)

// TestFiles_BinaryPermissionFormat (issue 11, issue 13): descriptors travel as SDDL or as
// base64 self-relative binary (x-ms-file-permission-format: binary) and read back the same
// either way; a malformed binary descriptor is refused with 400, nothing stored.
func TestFiles_BinaryPermissionFormat(t *testing.T) {
	svc, account, rg, _ := filesFixture(t)
	keys, err := accountsClient(t, adminCredential(t)).ListKeys(ctxT(t), rg, account, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := svc.NewShareClient("data")
	const sddl = "O:S-1-12-1-1-2-3-4G:SYD:PAI(A;;FA;;;S-1-12-1-1-2-3-4)(A;OICI;0x1200a9;;;BU)(D;;FW;;;S-1-12-1-5-6-7-8)"
	created, err := sc.CreatePermission(ctxT(t), sddl, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sc.GetPermission(ctxT(t), *created.FilePermissionKey, &share.GetPermissionOptions{FilePermissionFormat: to.Ptr(share.FilePermissionFormatBinary)})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(*got.Permission)
	if err != nil {
		t.Fatalf("binary permission is not base64: %v", err)
	}
	sd, err := ntfs.UnmarshalBinary(raw)
	if err != nil || sd.String() != sddl {
		t.Fatalf("binary permission decodes to %v (%v), want %s", sd, err, sddl)
	}
	if got.Format == nil || *got.Format != share.FilePermissionFormatBinary {
		t.Errorf("format = %v, want Binary", got.Format)
	}

	// A file created with the binary form carries the same descriptor.
	fc := sc.NewDirectoryClient("dir").NewFileClient("bin.txt")
	if _, err := fc.Create(ctxT(t), 0, &file.CreateOptions{Permissions: &file.Permissions{Permission: got.Permission},
		FilePermissionFormat: to.Ptr(file.PermissionFormat(share.FilePermissionFormatBinary))}); err != nil {
		t.Fatalf("create with a binary permission: %v", err)
	}
	props, err := fc.GetProperties(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := sc.GetPermission(ctxT(t), *props.FilePermissionKey, nil)
	if err != nil || *back.Permission != sddl {
		t.Fatalf("the file's permission = %v (%v), want %s", back.Permission, err, sddl)
	}
	// As Azure does, a permission given inline gets a key of its own each time, even for
	// an equal descriptor; both keys name it (issue 13 item 2).
	set, err := fc.SetHTTPHeaders(ctxT(t), &file.SetHTTPHeadersOptions{Permissions: &file.Permissions{Permission: to.Ptr(sddl)}})
	if err != nil || set.FilePermissionKey == nil || *set.FilePermissionKey == *props.FilePermissionKey {
		t.Errorf("setting an equal inline permission: %v, key %v (was %s)", err, set.FilePermissionKey, *props.FilePermissionKey)
	} else if again, err := sc.GetPermission(ctxT(t), *set.FilePermissionKey, nil); err != nil || *again.Permission != sddl {
		t.Errorf("the new key's permission = %v (%v)", again.Permission, err)
	}

	// Malformed binary: 400, not stored.
	bad := base64.StdEncoding.EncodeToString(raw[:len(raw)-5])
	url := strings.TrimSuffix(svc.URL(), "/") + "/data?restype=share&comp=filepermission"
	req := signedRequest(t, http.MethodPut, url, account, *keys.Keys[0].Value, map[string]string{"Content-Type": "application/json"},
		[]byte(`{"permission":"`+bad+`","format":"binary"}`))
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("x-ms-error-code") != "InvalidInput" {
		t.Fatalf("a truncated binary descriptor: %d %s", resp.StatusCode, resp.Header.Get("x-ms-error-code"))
	}
	_, err = fc.Create(ctxT(t), 0, &file.CreateOptions{Permissions: &file.Permissions{Permission: to.Ptr(bad)},
		FilePermissionFormat: to.Ptr(file.PermissionFormat(share.FilePermissionFormatBinary))})
	if err == nil || !strings.Contains(err.Error(), "InvalidHeaderValue") {
		t.Fatalf("create with a truncated binary permission: %v", err)
	}
}
