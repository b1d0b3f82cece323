package e2e

import (
	"crypto/md5"
	encbinary "encoding/binary"
	"hash/crc64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/directory"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/fileerror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/service"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/share"
)

// TestFiles_ConformanceProperties (issue 13 item 2): file properties as the azfile suite
// expects them: Content-MD5 stored as given, an explicit change time kept, Put Range and
// Create File with content answering the MD5 of what they stored (and refusing a mismatch),
// a range's own MD5 on request beside the file's, last-write-time preserve on Put Range,
// Content-Type application/octet-stream from Create and none once cleared.
func TestFiles_ConformanceProperties(t *testing.T) {
	svc, _, _, _ := filesFixture(t)
	fc := svc.NewShareClient("data").NewRootDirectoryClient().NewFileClient("props.bin")
	data := []byte("0123456789abcdef0123456789abcdef")
	sum := md5.Sum(data)

	// Create File with content: its Content-MD5 is checked and answered.
	_, err := fc.Create(ctxT(t), int64(len(data)), &file.CreateOptions{OptionalBody: streamOf(data),
		ContentLength: to.Ptr(int64(len(data))), ContentMD5: md5.New().Sum(nil)})
	wantFileError(t, err, http.StatusBadRequest, fileerror.MD5Mismatch)
	created, err := fc.Create(ctxT(t), int64(len(data)), &file.CreateOptions{OptionalBody: streamOf(data),
		ContentLength: to.Ptr(int64(len(data))), ContentMD5: sum[:]})
	if err != nil || string(created.ContentMD5) != string(sum[:]) {
		t.Fatalf("Create File with content: %v, Content-MD5 %x, want %x", err, created.ContentMD5, sum)
	}
	props, err := fc.GetProperties(ctxT(t), nil)
	if err != nil || props.ContentType == nil || *props.ContentType != "application/octet-stream" {
		t.Errorf("a new file's Content-Type: %v %v, want application/octet-stream", err, props.ContentType)
	}

	// Put Range answers the MD5 of what it stored without being asked, and keeps the last
	// write time when told to preserve it.
	before := props.FileLastWriteTime
	time.Sleep(20 * time.Millisecond)
	part := []byte("XYZ")
	partSum := md5.Sum(part)
	put, err := fc.UploadRange(ctxT(t), 4, streamOf(part), &file.UploadRangeOptions{LastWrittenMode: to.Ptr(file.LastWrittenModePreserve)})
	if err != nil || string(put.ContentMD5) != string(partSum[:]) {
		t.Fatalf("Put Range: %v, Content-MD5 %x, want %x", err, put.ContentMD5, partSum)
	}
	if props, err = fc.GetProperties(ctxT(t), nil); err != nil || props.FileLastWriteTime == nil || !props.FileLastWriteTime.Equal(*before) {
		t.Errorf("last write time after Put Range with preserve: %v %v, want %v", err, props.FileLastWriteTime, before)
	}

	// Content-MD5 is stored as given (any length); an explicit change time is kept; Set
	// HTTP headers without a content type clears it.
	odd := []byte("not sixteen bytes")
	change := time.Date(2021, 3, 4, 5, 6, 7, 800000000, time.UTC)
	if _, err := fc.SetHTTPHeaders(ctxT(t), &file.SetHTTPHeadersOptions{HTTPHeaders: &file.HTTPHeaders{ContentMD5: odd},
		SMBProperties: &file.SMBProperties{ChangeTime: &change}}); err != nil {
		t.Fatal(err)
	}
	props, err = fc.GetProperties(ctxT(t), nil)
	if err != nil || string(props.ContentMD5) != string(odd) || props.FileChangeTime == nil || !props.FileChangeTime.Equal(change) || props.ContentType != nil {
		t.Errorf("after Set HTTP headers: %v md5 %q change %v type %v", err, props.ContentMD5, props.FileChangeTime, props.ContentType)
	}

	// A range read answers the file's MD5 as x-ms-content-md5 and, asked, the range's own.
	resp, err := fc.DownloadStream(ctxT(t), &file.DownloadStreamOptions{Range: file.HTTPRange{Offset: 0, Count: 8}, RangeGetContentMD5: to.Ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rangeSum := md5.Sum(got)
	if string(resp.ContentMD5) != string(rangeSum[:]) || string(resp.FileContentMD5) != string(odd) || resp.ContentType != nil {
		t.Errorf("range read: Content-MD5 %x (want %x), file MD5 %q, type %v", resp.ContentMD5, rangeSum, resp.FileContentMD5, resp.ContentType)
	}
}

// TestFiles_ConformanceCopy (issue 13 item 2): Copy File as the azfile suite expects it:
// SMB properties taken from the source when asked ("source"), set explicitly otherwise,
// the archive attribute on request, permission copy modes (override needs a permission),
// the copy's id, status, source, progress and completion time reported by Get Properties,
// a missing source 404 ResourceNotFound, and a read-only destination (of a copy or a
// rename) refused unless told to ignore it; invalid attribute combinations refused.
func TestFiles_ConformanceCopy(t *testing.T) {
	svc, _, _, _ := filesFixture(t)
	root := svc.NewShareClient("data").NewRootDirectoryClient()
	src := root.NewFileClient("src.txt")
	at := time.Date(2023, 3, 31, 20, 0, 0, 0, time.UTC)
	created, err := src.Create(ctxT(t), 0, &file.CreateOptions{SMBProperties: &file.SMBProperties{
		Attributes: &file.NTFSFileAttributes{System: true}, CreationTime: to.Ptr(at.Add(time.Minute)),
		LastWriteTime: to.Ptr(at.Add(2 * time.Minute)), ChangeTime: to.Ptr(at.Add(5 * time.Minute))}})
	if err != nil {
		t.Fatal(err)
	}

	dst := root.NewFileClient("dst.txt")
	if _, err := dst.StartCopyFromURL(ctxT(t), src.URL(), &file.StartCopyFromURLOptions{CopyFileSMBInfo: &file.CopyFileSMBInfo{
		CreationTime: file.SourceCopyFileCreationTime{}, LastWriteTime: file.SourceCopyFileLastWriteTime{}, ChangeTime: file.SourceCopyFileChangeTime{},
		Attributes: file.SourceCopyFileAttributes{}, PermissionCopyMode: to.Ptr(file.PermissionCopyModeTypeSource)}}); err != nil {
		t.Fatalf("copy with the source's properties: %v", err)
	}
	props, err := dst.GetProperties(ctxT(t), nil)
	if err != nil || !props.FileCreationTime.Equal(*created.FileCreationTime) || !props.FileLastWriteTime.Equal(*created.FileLastWriteTime) ||
		!props.FileChangeTime.Equal(*created.FileChangeTime) || *props.FileAttributes != *created.FileAttributes || *props.FilePermissionKey != *created.FilePermissionKey {
		t.Errorf("copy with source properties: %v %+v", err, props)
	}
	if props.CopyID == nil || props.CopyStatus == nil || *props.CopyStatus != file.CopyStatusTypeSuccess || props.CopySource == nil ||
		*props.CopySource != src.URL() || props.CopyProgress == nil || *props.CopyProgress != "0/0" || props.CopyCompletionTime == nil {
		t.Errorf("the copy's record: id %v status %v source %v progress %v completed %v", props.CopyID, props.CopyStatus, props.CopySource, props.CopyProgress, props.CopyCompletionTime)
	}

	// Explicit properties and the archive attribute.
	dest := at.Add(7 * time.Minute)
	arch := root.NewFileClient("arch.txt")
	if _, err := arch.StartCopyFromURL(ctxT(t), src.URL(), &file.StartCopyFromURLOptions{CopyFileSMBInfo: &file.CopyFileSMBInfo{
		ChangeTime: file.DestinationCopyFileChangeTime(dest), Attributes: file.DestinationCopyFileAttributes{System: true, ReadOnly: true},
		SetArchiveAttribute: to.Ptr(true)}}); err != nil {
		t.Fatal(err)
	}
	if props, err := arch.GetProperties(ctxT(t), nil); err != nil || !props.FileChangeTime.Equal(dest) || *props.FileAttributes != "ReadOnly | System | Archive" {
		t.Errorf("copy with explicit properties: %v %v %v", err, props.FileChangeTime, props.FileAttributes)
	}

	// A read-only destination: refused, unless ignored; likewise for a rename over it.
	_, err = arch.StartCopyFromURL(ctxT(t), src.URL(), nil)
	wantFileError(t, err, http.StatusConflict, fileerror.ReadOnlyAttribute)
	_, err = root.NewFileClient("dst.txt").Rename(ctxT(t), "arch.txt", &file.RenameOptions{ReplaceIfExists: to.Ptr(true)})
	wantFileError(t, err, http.StatusConflict, fileerror.ReadOnlyAttribute)
	if _, err := arch.StartCopyFromURL(ctxT(t), src.URL(), &file.StartCopyFromURLOptions{CopyFileSMBInfo: &file.CopyFileSMBInfo{IgnoreReadOnly: to.Ptr(true)}}); err != nil {
		t.Errorf("copy over a read-only file with ignore-readonly: %v", err)
	}

	// Override needs a permission; a missing source is 404 ResourceNotFound.
	_, err = root.NewFileClient("o.txt").StartCopyFromURL(ctxT(t), src.URL(), &file.StartCopyFromURLOptions{CopyFileSMBInfo: &file.CopyFileSMBInfo{
		PermissionCopyMode: to.Ptr(file.PermissionCopyModeTypeOverride)}})
	wantFileError(t, err, http.StatusBadRequest, fileerror.MissingRequiredHeader)
	_, err = root.NewFileClient("o.txt").StartCopyFromURL(ctxT(t), root.NewFileClient("missing.txt").URL(), nil)
	wantFileError(t, err, http.StatusNotFound, fileerror.ResourceNotFound)

	// A change after the copy ends its record; None goes alone; files are no directories.
	if _, err := dst.SetHTTPHeaders(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	if props, err := dst.GetProperties(ctxT(t), nil); err != nil || props.CopyID != nil {
		t.Errorf("a changed copy still reports its copy: %v %v", err, props.CopyID)
	}
	_, err = root.NewFileClient("bad.txt").Create(ctxT(t), 0, &file.CreateOptions{SMBProperties: &file.SMBProperties{Attributes: &file.NTFSFileAttributes{None: true, ReadOnly: true}}})
	wantFileError(t, err, http.StatusBadRequest, fileerror.InvalidHeaderValue)
}

// TestFiles_ConformanceShareSAS (issue 13 item 2): a share's SAS reaches its directories and
// files, not the share's own management operations (403 AuthorizationFailure).
func TestFiles_ConformanceShareSAS(t *testing.T) {
	svc, _, _, _ := filesFixture(t)
	u, err := svc.NewShareClient("data").GetSASURL(sas.SharePermissions{Read: true, Write: true, Delete: true, List: true, Create: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := share.NewClientWithNoCredential(u, &share.ClientOptions{ClientOptions: noRetryFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = sc.GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationFailure)
	_, err = sc.SetMetadata(ctxT(t), &share.SetMetadataOptions{Metadata: map[string]*string{"a": to.Ptr("b")}})
	wantFileError(t, err, http.StatusForbidden, fileerror.AuthorizationFailure)
	if _, err := sc.NewDirectoryClient("viasas").Create(ctxT(t), nil); err != nil {
		t.Errorf("a share SAS creates a directory: %v", err)
	}
	if _, err := sc.NewRootDirectoryClient().NewFileClient("viasas.txt").Create(ctxT(t), 10, nil); err != nil {
		t.Errorf("a share SAS creates a file: %v", err)
	}
}

// TestFiles_ConformanceClearRanges (issue 13 item 2): a clear removes only its 512-byte
// aligned part from the range list; the bytes outside it read as zeros and stay listed.
func TestFiles_ConformanceClearRanges(t *testing.T) {
	svc, _, _, _ := filesFixture(t)
	fc := svc.NewShareClient("data").NewRootDirectoryClient().NewFileClient("clear.bin")
	data := make([]byte, 2048)
	for i := range data {
		data[i] = 'x'
	}
	if _, err := fc.Create(ctxT(t), 2048, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := fc.UploadRange(ctxT(t), 0, streamOf(data), nil); err != nil {
		t.Fatal(err)
	}
	ranges := func() [][2]int64 {
		t.Helper()
		rl, err := fc.GetRangeList(ctxT(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		var out [][2]int64
		for _, r := range rl.Ranges {
			out = append(out, [2]int64{*r.Start, *r.End})
		}
		return out
	}
	if _, err := fc.ClearRange(ctxT(t), file.HTTPRange{Offset: 0, Count: 1}, nil); err != nil {
		t.Fatal(err)
	}
	if got := ranges(); len(got) != 1 || got[0] != [2]int64{0, 2047} {
		t.Errorf("after an unaligned clear of one byte: %v, want [[0 2047]]", got)
	}
	if _, err := fc.ClearRange(ctxT(t), file.HTTPRange{Offset: 500, Count: 600}, nil); err != nil {
		t.Fatal(err)
	}
	if got := ranges(); len(got) != 2 || got[0] != [2]int64{0, 511} || got[1] != [2]int64{1024, 2047} {
		t.Errorf("after clearing 500-1099: %v, want [[0 511] [1024 2047]]", got)
	}
	resp, err := fc.DownloadStream(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := append([]byte(nil), data...)
	for i := 0; i < 1; i++ {
		want[i] = 0
	}
	for i := 500; i < 1100; i++ {
		want[i] = 0
	}
	if string(got) != string(want) {
		t.Error("the cleared bytes do not read as zeros (or others changed)")
	}
}

// TestFiles_ConformanceEncodedNames (issue 13 item 2): names XML cannot carry (U+FFFE,
// U+FFFF) are listed percent-encoded with Encoded="true", in prefixes too, and paging past
// one of them continues where it stopped.
func TestFiles_ConformanceEncodedNames(t *testing.T) {
	svc, _, _, _ := filesFixture(t)
	sc := svc.NewShareClient("data")
	dirName, f0, f1 := "directory\uFFFF", "file0\uFFFE", "file1\uFFFE"
	if _, err := sc.NewDirectoryClient(dirName).Create(ctxT(t), nil); err != nil {
		t.Fatalf("create %q: %v", dirName, err)
	}
	for _, f := range []string{f0, f1} {
		if _, err := sc.NewRootDirectoryClient().NewFileClient(f).Create(ctxT(t), 10, nil); err != nil {
			t.Fatalf("create %q: %v", f, err)
		}
		if _, err := sc.NewRootDirectoryClient().NewFileClient(f).GetProperties(ctxT(t), nil); err != nil {
			t.Fatalf("get %q: %v", f, err)
		}
	}
	var names []string
	pager := sc.NewRootDirectoryClient().NewListFilesAndDirectoriesPager(&directory.ListFilesAndDirectoriesOptions{Prefix: to.Ptr("file"), MaxResults: to.Ptr[int32](1)})
	for pager.More() {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page.Segment.Files {
			names = append(names, *f.Name)
		}
	}
	if len(names) != 2 || names[0] != f0 || names[1] != f1 {
		t.Errorf("paged listing: %q, want %q", names, []string{f0, f1})
	}
	page, err := sc.NewRootDirectoryClient().NewListFilesAndDirectoriesPager(&directory.ListFilesAndDirectoriesOptions{Prefix: to.Ptr(dirName)}).NextPage(ctxT(t))
	if err != nil || len(page.Segment.Directories) != 1 || *page.Segment.Directories[0].Name != dirName || page.Prefix == nil || *page.Prefix != dirName {
		t.Errorf("listing by an encoded prefix: %v %+v", err, page.Segment)
	}
}

// TestFiles_ConformanceTrailingDots (issue 13 item 2): trailing dots of path segments are
// trimmed unless the request allows them (x-ms-allow-trailing-dot), and a rename source's
// unless x-ms-source-allow-trailing-dot.
func TestFiles_ConformanceTrailingDots(t *testing.T) {
	svc, account, _, cred := filesFixture(t)
	plain := svc.NewShareClient("data").NewRootDirectoryClient()
	if _, err := plain.NewFileClient("dotted.txt..").Create(ctxT(t), 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.NewFileClient("dotted.txt").GetProperties(ctxT(t), nil); err != nil {
		t.Errorf("without x-ms-allow-trailing-dot the dots are trimmed: %v", err)
	}
	dotted, err := service.NewClientWithSharedKeyCredential(srv.ResourceManagerEndpoint+"/"+account+"/", cred,
		&service.ClientOptions{ClientOptions: noRetryFile(t), AllowTrailingDot: to.Ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	root := dotted.NewShareClient("data").NewRootDirectoryClient()
	kept := root.NewFileClient("kept..")
	if _, err := kept.Create(ctxT(t), 1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kept.GetProperties(ctxT(t), nil); err != nil {
		t.Errorf("with x-ms-allow-trailing-dot the name keeps its dots: %v", err)
	}
	if _, err := plain.NewFileClient("kept").GetProperties(ctxT(t), nil); respStatus(err) != http.StatusNotFound {
		t.Errorf("'kept..' was stored as 'kept': %v", err)
	}
	// The rename source loses its dots without x-ms-source-allow-trailing-dot: not found.
	_, err = kept.Rename(ctxT(t), "renamed..", nil)
	wantFileError(t, err, http.StatusNotFound, fileerror.ResourceNotFound)
}

// TestFiles_ConformanceServiceProperties (issue 13 item 2): the File service's properties
// persist, one record that the REST API and Resource Manager both read and write: metrics
// and CORS set over REST come back over REST and ARM; SMB settings and CORS set through ARM
// come back over REST; share soft delete, not built, is refused.
func TestFiles_ConformanceServiceProperties(t *testing.T) {
	svc, account, rg, _ := filesFixture(t)
	set := &service.SetPropertiesOptions{
		HourMetrics:   &service.Metrics{Enabled: to.Ptr(true), IncludeAPIs: to.Ptr(true), RetentionPolicy: &service.RetentionPolicy{Enabled: to.Ptr(true), Days: to.Ptr[int32](2)}},
		MinuteMetrics: &service.Metrics{Enabled: to.Ptr(true), IncludeAPIs: to.Ptr(false), RetentionPolicy: &service.RetentionPolicy{Enabled: to.Ptr(true), Days: to.Ptr[int32](3)}},
		CORS: []*service.CORSRule{{AllowedOrigins: to.Ptr("*"), AllowedMethods: to.Ptr("PUT,GET"), AllowedHeaders: to.Ptr("x-ms-client-request-id"),
			ExposedHeaders: to.Ptr("x-ms-*"), MaxAgeInSeconds: to.Ptr[int32](2)}},
	}
	if _, err := svc.SetProperties(ctxT(t), set); err != nil {
		t.Fatal(err)
	}
	got, err := svc.GetProperties(ctxT(t), nil)
	if err != nil || *got.HourMetrics.RetentionPolicy.Days != 2 || *got.MinuteMetrics.RetentionPolicy.Days != 3 || len(got.CORS) != 1 || *got.CORS[0].AllowedMethods != "PUT,GET" {
		t.Fatalf("service properties over REST: %v %+v", err, got)
	}
	fs, err := armstorage.NewFileServicesClient(srv.SubscriptionID, adminCredential(t), armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	viaARM, err := fs.GetServiceProperties(ctxT(t), rg, account, nil)
	if err != nil || len(viaARM.FileServiceProperties.FileServiceProperties.Cors.CorsRules) != 1 || len(viaARM.FileServiceProperties.FileServiceProperties.Cors.CorsRules[0].AllowedMethods) != 2 {
		t.Fatalf("the REST-set CORS rule through ARM: %v", err)
	}
	if _, err := fs.SetServiceProperties(ctxT(t), rg, account, armstorage.FileServiceProperties{FileServiceProperties: &armstorage.FileServicePropertiesProperties{
		ProtocolSettings: &armstorage.ProtocolSettings{Smb: &armstorage.SmbSetting{Versions: to.Ptr("SMB3.0;SMB3.1.1"), Multichannel: &armstorage.Multichannel{Enabled: to.Ptr(true)}}},
		Cors: &armstorage.CorsRules{CorsRules: []*armstorage.CorsRule{
			{AllowedOrigins: []*string{to.Ptr("https://a.example")}, AllowedMethods: []*armstorage.CorsRuleAllowedMethodsItem{to.Ptr(armstorage.CorsRuleAllowedMethodsItemGET)},
				AllowedHeaders: []*string{}, ExposedHeaders: []*string{}, MaxAgeInSeconds: to.Ptr[int32](5)},
			{AllowedOrigins: []*string{to.Ptr("https://b.example")}, AllowedMethods: []*armstorage.CorsRuleAllowedMethodsItem{to.Ptr(armstorage.CorsRuleAllowedMethodsItemPUT)},
				AllowedHeaders: []*string{}, ExposedHeaders: []*string{}, MaxAgeInSeconds: to.Ptr[int32](6)}}}}}, nil); err != nil {
		t.Fatalf("set service properties through ARM: %v", err)
	}
	viaARM, err = fs.GetServiceProperties(ctxT(t), rg, account, nil)
	if p := viaARM.FileServiceProperties.FileServiceProperties; err != nil || *p.ProtocolSettings.Smb.Versions != "SMB3.0;SMB3.1.1" || !*p.ProtocolSettings.Smb.Multichannel.Enabled {
		t.Errorf("SMB settings through ARM: %v", err)
	}
	if got, err = svc.GetProperties(ctxT(t), nil); err != nil || len(got.CORS) != 2 || *got.CORS[1].AllowedOrigins != "https://b.example" || *got.HourMetrics.RetentionPolicy.Days != 2 {
		t.Errorf("the ARM-set CORS rules over REST (metrics kept): %v %+v", err, got)
	}
	_, err = fs.SetServiceProperties(ctxT(t), rg, account, armstorage.FileServiceProperties{FileServiceProperties: &armstorage.FileServicePropertiesProperties{
		ShareDeleteRetentionPolicy: &armstorage.DeleteRetentionPolicy{Enabled: to.Ptr(true), Days: to.Ptr[int32](0)}}}, nil)
	if respStatus(err) != http.StatusBadRequest {
		t.Errorf("share soft delete kept 0 days through ARM: %v, want 400", err)
	}
	if _, err = fs.SetServiceProperties(ctxT(t), rg, account, armstorage.FileServiceProperties{FileServiceProperties: &armstorage.FileServicePropertiesProperties{
		ShareDeleteRetentionPolicy: &armstorage.DeleteRetentionPolicy{Enabled: to.Ptr(true), Days: to.Ptr[int32](7)}}}, nil); err != nil {
		t.Fatalf("share soft delete through ARM: %v", err)
	}
	viaARM, err = fs.GetServiceProperties(ctxT(t), rg, account, nil)
	if p := viaARM.FileServiceProperties.FileServiceProperties; err != nil || !*p.ShareDeleteRetentionPolicy.Enabled || *p.ShareDeleteRetentionPolicy.Days != 7 {
		t.Errorf("share soft delete read back through ARM: %v", err)
	}
}

// TestFiles_ConformancePropertySemantics (issue 13 item 2): a new file gets the Archive
// attribute (New, the default), unless created with Restore semantics and a permission.
func TestFiles_ConformancePropertySemantics(t *testing.T) {
	svc, _, _, _ := filesFixture(t)
	root := svc.NewShareClient("data").NewRootDirectoryClient()
	for _, c := range []struct {
		name    string
		opts    *file.CreateOptions
		archive bool
	}{
		{"default.txt", nil, true},
		{"readonly.txt", &file.CreateOptions{SMBProperties: &file.SMBProperties{Attributes: &file.NTFSFileAttributes{ReadOnly: true}}}, true},
		{"restored.txt", &file.CreateOptions{FilePropertySemantics: to.Ptr(file.FilePropertySemanticsRestore),
			Permissions: &file.Permissions{Permission: to.Ptr("O:BAG:SYD:(A;;FA;;;SY)(A;;FA;;;BA)")}}, false},
	} {
		resp, err := root.NewFileClient(c.name).Create(ctxT(t), 10, c.opts)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		attrs, err := file.ParseNTFSFileAttributes(resp.FileAttributes)
		if err != nil || attrs.Archive != c.archive {
			t.Errorf("%s: attributes %q, want Archive %v", c.name, *resp.FileAttributes, c.archive)
		}
	}
}

// TestFiles_StoredAccessPolicies (issue 13 item 3): Set and Get Share ACL keep up to five
// stored access policies; a share SAS naming one (si) takes its permissions and times from
// it, works while it exists and stops the moment it is removed; a SAS repeating what the
// policy gives is refused.
func TestFiles_StoredAccessPolicies(t *testing.T) {
	svc, _, _, cred := filesFixture(t)
	sc := svc.NewShareClient("data")
	expiry := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	perm := "rl"
	if _, err := sc.SetAccessPolicy(ctxT(t), &share.SetAccessPolicyOptions{ShareACL: []*share.SignedIdentifier{
		{ID: to.Ptr("readers"), AccessPolicy: &share.AccessPolicy{Expiry: &expiry, Permission: &perm}}}}); err != nil {
		t.Fatalf("set share ACL: %v", err)
	}
	got, err := sc.GetAccessPolicy(ctxT(t), nil)
	if err != nil || len(got.SignedIdentifiers) != 1 || *got.SignedIdentifiers[0].ID != "readers" || *got.SignedIdentifiers[0].AccessPolicy.Permission != "rl" {
		t.Fatalf("get share ACL: %v %+v", err, got.SignedIdentifiers)
	}
	six := make([]*share.SignedIdentifier, 6)
	for i := range six {
		six[i] = &share.SignedIdentifier{ID: to.Ptr("p" + string(rune('a'+i))), AccessPolicy: &share.AccessPolicy{Expiry: &expiry, Permission: &perm}}
	}
	if _, err := sc.SetAccessPolicy(ctxT(t), &share.SetAccessPolicyOptions{ShareACL: six}); respStatus(err) != http.StatusBadRequest {
		t.Errorf("six stored access policies: %v, want 400", err)
	}

	// A SAS naming the policy: signed with only si (and the resource).
	qp, err := sas.SignatureValues{Protocol: sas.ProtocolHTTPS, ShareName: "data", Identifier: "readers"}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	fileURL := svc.NewShareClient("data").NewDirectoryClient("dir").NewFileClient("a.txt").URL()
	viaPolicy, err := file.NewClientWithNoCredential(fileURL+"?"+qp.Encode(), &file.ClientOptions{ClientOptions: noRetryFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := viaPolicy.GetProperties(ctxT(t), nil); err != nil {
		t.Fatalf("read with a SAS naming the policy: %v", err)
	}
	if _, err := viaPolicy.SetMetadata(ctxT(t), &file.SetMetadataOptions{Metadata: map[string]*string{"a": to.Ptr("b")}}); respStatus(err) != http.StatusForbidden {
		t.Errorf("a write beyond the policy's permissions: %v, want 403", err)
	}
	// Repeating the policy's permissions in the SAS is refused.
	dup, err := sas.SignatureValues{Protocol: sas.ProtocolHTTPS, ShareName: "data", Identifier: "readers", Permissions: "r"}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	viaDup, _ := file.NewClientWithNoCredential(fileURL+"?"+dup.Encode(), &file.ClientOptions{ClientOptions: noRetryFile(t)})
	if _, err := viaDup.GetProperties(ctxT(t), nil); respStatus(err) != http.StatusForbidden {
		t.Errorf("a SAS repeating the policy's permissions: %v, want 403", err)
	}
	// Removing the policy revokes the SAS at once.
	if _, err := sc.SetAccessPolicy(ctxT(t), &share.SetAccessPolicyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := viaPolicy.GetProperties(ctxT(t), nil); respStatus(err) != http.StatusForbidden {
		t.Errorf("a SAS whose policy was removed: %v, want 403", err)
	}
}

// TestFiles_ConformanceRenameAndAbort (issue 13 item 2): a rename sets what it carries (SMB
// properties, permission, metadata, content type) on the moved file; aborting a copy that
// completed answers 409 NoPendingCopyOperation, an unknown copy id 400.
func TestFiles_ConformanceRenameAndAbort(t *testing.T) {
	svc, _, _, _ := filesFixture(t)
	root := svc.NewShareClient("data").NewRootDirectoryClient()
	src := root.NewFileClient("torename.txt")
	if _, err := src.Create(ctxT(t), 10, nil); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2023, 3, 31, 21, 5, 0, 0, time.UTC)
	resp, err := src.Rename(ctxT(t), "renamed.txt", &file.RenameOptions{SMBProperties: &file.SMBProperties{
		Attributes: &file.NTFSFileAttributes{ReadOnly: true, System: true}, CreationTime: &created},
		Metadata: map[string]*string{"Foo": to.Ptr("FooValuE")}, ContentType: to.Ptr("my_type")})
	if err != nil || resp.FileCreationTime == nil || !resp.FileCreationTime.Equal(created) {
		t.Fatalf("rename with properties: %v", err)
	}
	props, err := root.NewFileClient("renamed.txt").GetProperties(ctxT(t), nil)
	if err != nil || *props.ContentType != "my_type" || props.Metadata["Foo"] == nil || *props.FileAttributes != "ReadOnly | System" {
		t.Errorf("the renamed file's properties: %v %+v", err, props)
	}

	copied := root.NewFileClient("copied.txt")
	cp, err := copied.StartCopyFromURL(ctxT(t), root.NewFileClient("renamed.txt").URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = copied.AbortCopy(ctxT(t), *cp.CopyID, nil)
	wantFileError(t, err, http.StatusConflict, fileerror.Code("NoPendingCopyOperation"))
	_, err = copied.AbortCopy(ctxT(t), "00000000-0000-0000-0000-000000000000", nil)
	wantFileError(t, err, http.StatusBadRequest, fileerror.InvalidQueryParameterValue)
	_, err = root.NewFileClient("never-copied.txt").AbortCopy(ctxT(t), "copynotstarted", nil)
	wantFileError(t, err, http.StatusBadRequest, fileerror.InvalidQueryParameterValue)
}

// TestFiles_ConformanceHandles (issue 13 item 3): REST holds no handles open, so without SMB
// a file and a directory list none and closing them all closes none; while the server
// serves the shares over SMB (the shared test server does as root), smbd's open files are
// handles Cerulean does not list, and the calls say NotSupported rather than list none.
func TestFiles_ConformanceHandles(t *testing.T) {
	svc, _, _, _ := filesFixture(t)
	dir := svc.NewShareClient("data").NewDirectoryClient("dir")
	fc := dir.NewFileClient("a.txt")
	_, err := dir.NewFileClient("missing.txt").ListHandles(ctxT(t), nil)
	if smbPort != 0 {
		_, err := fc.ListHandles(ctxT(t), nil)
		wantFileError(t, err, http.StatusBadRequest, fileerror.Code("NotSupported"))
		_, err = dir.ListHandles(ctxT(t), nil)
		wantFileError(t, err, http.StatusBadRequest, fileerror.Code("NotSupported"))
		return
	}
	wantFileError(t, err, http.StatusNotFound, fileerror.ResourceNotFound)
	if l, err := fc.ListHandles(ctxT(t), nil); err != nil || len(l.Handles) != 0 {
		t.Errorf("file handles: %v %v", err, l.Handles)
	}
	if c, err := fc.ForceCloseHandles(ctxT(t), "*", nil); err != nil || c.NumberOfHandlesClosed == nil || *c.NumberOfHandlesClosed != 0 {
		t.Errorf("force close a file's handles: %v", err)
	}
	if l, err := dir.ListHandles(ctxT(t), nil); err != nil || len(l.Handles) != 0 {
		t.Errorf("directory handles: %v %v", err, l.Handles)
	}
}

// TestFiles_PutRangeFromURL (issue 13 item 3): a range copied from another file by URL,
// with the CRC-64 Azure computes, checked against the one the client sends; the source is
// authorized for the caller (the key, or the source's own SAS) before it is read.
func TestFiles_PutRangeFromURL(t *testing.T) {
	svc, account, rg, cred := filesFixture(t)
	root := svc.NewShareClient("data").NewRootDirectoryClient()
	src, dst := root.NewFileClient("src.bin"), root.NewFileClient("dst.bin")
	content := []byte(strings.Repeat("range-from-url ", 512))[:4096]
	for _, f := range []*file.Client{src, dst} {
		if _, err := f.Create(ctxT(t), 8192, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.UploadRange(ctxT(t), 1024, streamOf(content), nil); err != nil {
		t.Fatal(err)
	}
	qp, err := sas.SignatureValues{Protocol: sas.ProtocolHTTPS, ExpiryTime: time.Now().Add(time.Hour).UTC(), ShareName: "data", FilePath: "src.bin",
		Permissions: (&sas.FilePermissions{Read: true}).String()}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	srcURL := src.URL() + "?" + qp.Encode()
	crc := crc64.Checksum(content, crc64.MakeTable(0x9A6C9329AC4BC9B5))
	resp, err := dst.UploadRangeFromURL(ctxT(t), srcURL, 1024, 0, int64(len(content)), &file.UploadRangeFromURLOptions{
		SourceContentValidation: file.SourceContentValidationTypeCRC64(crc)})
	if err != nil || len(resp.XMSContentCRC64) != 8 || encbinary.LittleEndian.Uint64(resp.XMSContentCRC64) != crc {
		t.Fatalf("Put Range From URL: %v", err)
	}
	d, err := dst.DownloadStream(ctxT(t), &file.DownloadStreamOptions{Range: file.HTTPRange{Offset: 0, Count: int64(len(content))}})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(d.Body)
	d.Body.Close()
	if string(got) != string(content) {
		t.Error("the copied range differs from the source's")
	}
	_, err = dst.UploadRangeFromURL(ctxT(t), srcURL, 1024, 0, int64(len(content)), &file.UploadRangeFromURLOptions{
		SourceContentValidation: file.SourceContentValidationTypeCRC64(crc + 1)})
	wantFileError(t, err, http.StatusBadRequest, fileerror.Code("Crc64Mismatch"))
	_, err = dst.UploadRangeFromURL(ctxT(t), srcURL, 8000, 0, 1000, nil)
	wantFileError(t, err, http.StatusBadRequest, fileerror.InvalidHeaderValue)
	// The request's Shared Key does not cover the source: it needs its own SAS.
	_, err = dst.UploadRangeFromURL(ctxT(t), src.URL(), 1024, 0, int64(len(content)), nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.Code("CannotVerifyCopySource"))

	// A caller holding only a SAS for the destination's share cannot read another share's
	// file through it.
	if _, err := svc.NewShareClient("other").Create(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	secret := svc.NewShareClient("other").NewRootDirectoryClient().NewFileClient("secret.bin")
	if _, err := secret.Create(ctxT(t), 10, nil); err != nil {
		t.Fatal(err)
	}
	u, err := svc.NewShareClient("data").GetSASURL(sas.SharePermissions{Read: true, Write: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	base, query, _ := strings.Cut(u, "?")
	viaSAS, err := file.NewClientWithNoCredential(base+"/dst.bin?"+query, &file.ClientOptions{ClientOptions: noRetryFile(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = viaSAS.UploadRangeFromURL(ctxT(t), secret.URL(), 0, 0, 10, nil)
	wantFileError(t, err, http.StatusForbidden, fileerror.Code("CannotVerifyCopySource"))

	// x-ms-copy-source-authorization: a bearer token whose principal may read the source
	// (Storage File Data Privileged Reader at the share), and no other.
	reader := newServicePrincipal(t, "range-source-reader")
	token := func() string {
		tok, err := spCredential(t, reader.AppID, reader.Password).GetToken(ctxT(t), policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok.Token
	}
	_, err = dst.UploadRangeFromURL(ctxT(t), src.URL(), 1024, 0, int64(len(content)), &file.UploadRangeFromURLOptions{CopySourceAuthorization: to.Ptr(token())})
	wantFileError(t, err, http.StatusForbidden, fileerror.Code("CannotVerifyCopySource"))
	if err := assignRole(t, adminCredential(t), accountScopeOf(rg, account)+"/fileServices/default/fileshares/data", "b8eda974-7b85-4f76-af95-65846b26df6d", reader.ObjectID); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.UploadRangeFromURL(ctxT(t), src.URL(), 1024, 0, int64(len(content)), &file.UploadRangeFromURLOptions{CopySourceAuthorization: to.Ptr(token())}); err != nil {
		t.Errorf("Put Range From URL with a bearer source authorization: %v", err)
	}
	_, err = dst.UploadRangeFromURL(ctxT(t), src.URL(), 1024, 0, int64(len(content)), &file.UploadRangeFromURLOptions{CopySourceAuthorization: to.Ptr("Bearer not-a-token")})
	wantFileError(t, err, http.StatusForbidden, fileerror.Code("CannotVerifyCopySource"))
}
