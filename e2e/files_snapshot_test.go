package e2e

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/directory"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/fileerror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/service"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/share"
	"github.com/google/uuid"
)

// TestFiles_ShareSnapshots (issue 13 item 3): share snapshots as azfile drives them. A
// snapshot keeps the share as it was (content, listings, properties, metadata) while the
// share changes; it lists with include=snapshots; it is read-only (400
// ShareSnapshotOperationNotSupported); a file deleted from the share is restored by copying
// it from the snapshot with a SAS; List Ranges diffs two snapshots (following a rename only
// with support-rename); a share with snapshots is deleted only with its snapshots.
func TestFiles_ShareSnapshots(t *testing.T) {
	svc, _, _, cred := filesFixture(t)
	sc := svc.NewShareClient("data")
	fc := sc.NewDirectoryClient("dir").NewFileClient("a.txt")

	snap1, err := sc.CreateSnapshot(ctxT(t), &share.CreateSnapshotOptions{Metadata: map[string]*string{"taken": to.Ptr("first")}})
	if err != nil || snap1.Snapshot == nil || snap1.ETag == nil || snap1.LastModified == nil {
		t.Fatalf("create a snapshot: %v %+v", err, snap1)
	}
	if _, err := time.Parse(time.RFC3339Nano, *snap1.Snapshot); err != nil || len(*snap1.Snapshot) != len("2026-12-03T19:50:00.0000000Z") {
		t.Fatalf("x-ms-snapshot %q: %v", *snap1.Snapshot, err)
	}
	// The share changes: new bytes, a new file, the old one renamed.
	if _, err := fc.UploadRange(ctxT(t), 0, streamOf([]byte("HELLO")), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.NewRootDirectoryClient().NewFileClient("new.txt").Create(ctxT(t), 3, nil); err != nil {
		t.Fatal(err)
	}

	// Reads from the snapshot see the share as it was.
	ss, err := sc.WithSnapshot(*snap1.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	old := ss.NewDirectoryClient("dir").NewFileClient("a.txt")
	if body := download(t, old); body != "hello files" {
		t.Errorf("the snapshot's a.txt = %q, want what it held then", body)
	}
	if live := download(t, fc); live != "HELLO files" {
		t.Errorf("the share's a.txt = %q", live)
	}
	names := listNames(t, ss.NewRootDirectoryClient())
	if len(names) != 1 || names[0] != "dir" {
		t.Errorf("the snapshot's root lists %v, want [dir] (new.txt came later)", names)
	}
	props, err := ss.GetProperties(ctxT(t), nil)
	if err != nil || props.Metadata["Taken"] == nil || *props.Metadata["Taken"] != "first" {
		t.Errorf("the snapshot's properties: %v %v", err, props.Metadata)
	}
	if _, err := old.GetProperties(ctxT(t), nil); err != nil {
		t.Errorf("a file's properties in the snapshot: %v", err)
	}

	// Listed with include=snapshots: the snapshot before the share, with its metadata.
	pager := svc.NewListSharesPager(&service.ListSharesOptions{Include: service.ListSharesInclude{Snapshots: true, Metadata: true}, Prefix: to.Ptr("data")})
	page, err := pager.NextPage(ctxT(t))
	if err != nil || len(page.Shares) != 2 || page.Shares[0].Snapshot == nil || *page.Shares[0].Snapshot != *snap1.Snapshot ||
		page.Shares[1].Snapshot != nil || *page.Shares[0].Metadata["taken"] != "first" {
		t.Fatalf("list shares with snapshots: %v %+v", err, page.Shares)
	}
	page, err = svc.NewListSharesPager(&service.ListSharesOptions{Prefix: to.Ptr("data")}).NextPage(ctxT(t))
	if err != nil || len(page.Shares) != 1 {
		t.Fatalf("list shares without snapshots: %v %d", err, len(page.Shares))
	}

	// Read-only.
	_, err = old.UploadRange(ctxT(t), 0, streamOf([]byte("x")), nil)
	wantFileError(t, err, http.StatusBadRequest, fileerror.ShareSnapshotOperationNotSupported)
	_, err = ss.NewRootDirectoryClient().NewFileClient("x.txt").Create(ctxT(t), 1, nil)
	wantFileError(t, err, http.StatusBadRequest, fileerror.ShareSnapshotOperationNotSupported)
	_, err = ss.SetMetadata(ctxT(t), nil)
	wantFileError(t, err, http.StatusBadRequest, fileerror.ShareSnapshotOperationNotSupported)
	bad, _ := sc.WithSnapshot("yesterday")
	_, err = bad.GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusBadRequest, fileerror.Code("InvalidQueryParameterValue"))

	// List Ranges diff: changed bytes since snapshot 1; after a rename, found only with
	// support-rename.
	diff, err := fc.GetRangeList(ctxT(t), &file.GetRangeListOptions{PrevShareSnapshot: snap1.Snapshot})
	if err != nil || len(diff.Ranges) != 1 || *diff.Ranges[0].Start != 0 || *diff.Ranges[0].End != 10 {
		t.Errorf("range diff since snapshot 1: %v %+v", err, diff.Ranges)
	}
	renamed, err := fc.Rename(ctxT(t), "moved.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	snap2, err := sc.CreateSnapshot(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	moved := sc.NewRootDirectoryClient().NewFileClient("moved.txt")
	_, err = moved.GetRangeList(ctxT(t), &file.GetRangeListOptions{PrevShareSnapshot: snap1.Snapshot, ShareSnapshot: snap2.Snapshot})
	wantFileError(t, err, http.StatusConflict, fileerror.Code("PreviousSnapshotNotFound"))
	diff, err = moved.GetRangeList(ctxT(t), &file.GetRangeListOptions{PrevShareSnapshot: snap1.Snapshot, ShareSnapshot: snap2.Snapshot, SupportRename: to.Ptr(true)})
	if err != nil || len(diff.Ranges) != 1 || *diff.ETag != *renamed.ETag {
		t.Errorf("range diff across a rename: %v %+v", err, diff.Ranges)
	}

	// Bytes rewritten as they were still count as written since the snapshot.
	if _, err := moved.UploadRange(ctxT(t), 0, streamOf([]byte("HELLO")), nil); err != nil {
		t.Fatal(err)
	}
	diff, err = moved.GetRangeList(ctxT(t), &file.GetRangeListOptions{PrevShareSnapshot: snap2.Snapshot})
	if err != nil || len(diff.Ranges) != 1 || *diff.Ranges[0].Start != 0 || *diff.Ranges[0].End != 10 {
		t.Errorf("range diff after rewriting the same bytes: %v %+v", err, diff.Ranges)
	}
	unchanged, err := moved.GetRangeList(ctxT(t), &file.GetRangeListOptions{PrevShareSnapshot: snap2.Snapshot, ShareSnapshot: snap2.Snapshot})
	if err != nil || len(unchanged.Ranges) != 0 {
		t.Errorf("range diff of a snapshot with itself: %v %+v", err, unchanged.Ranges)
	}

	// Restore a deleted file by copying it from the snapshot with a SAS.
	if _, err := moved.Delete(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	qp, err := sas.SignatureValues{Protocol: sas.ProtocolHTTPS, ExpiryTime: time.Now().Add(time.Hour), ShareName: "data",
		Permissions: (&sas.SharePermissions{Read: true}).String()}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	parts, _ := sas.ParseURL(old.URL())
	parts.ShareSnapshot, parts.SAS = *snap1.Snapshot, qp
	if _, err := fc.StartCopyFromURL(ctxT(t), parts.String(), nil); err != nil {
		t.Fatalf("copy from the snapshot: %v", err)
	}
	if got := download(t, fc); got != "hello files" {
		t.Errorf("restored from the snapshot: %q", got)
	}

	// Deleting: not while it has snapshots; one snapshot alone; then the rest with the share.
	_, err = sc.Delete(ctxT(t), nil)
	wantFileError(t, err, http.StatusConflict, fileerror.ShareHasSnapshots)
	if _, err := sc.Delete(ctxT(t), &share.DeleteOptions{ShareSnapshot: snap2.Snapshot}); err != nil {
		t.Fatalf("delete snapshot 2: %v", err)
	}
	s2, _ := sc.WithSnapshot(*snap2.Snapshot)
	_, err = s2.GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusNotFound, fileerror.ShareNotFound)
	if _, err := sc.Delete(ctxT(t), &share.DeleteOptions{DeleteSnapshots: to.Ptr(share.DeleteSnapshotsOptionTypeInclude)}); err != nil {
		t.Fatalf("delete with snapshots: %v", err)
	}
	page, err = svc.NewListSharesPager(&service.ListSharesOptions{Include: service.ListSharesInclude{Snapshots: true}, Prefix: to.Ptr("data")}).NextPage(ctxT(t))
	if err != nil || len(page.Shares) != 0 {
		t.Fatalf("after deleting with snapshots: %v %d", err, len(page.Shares))
	}
}

func download(t *testing.T, fc *file.Client) string {
	t.Helper()
	dl, err := fc.DownloadStream(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Body.Close()
	b, _ := io.ReadAll(dl.Body)
	return string(b)
}

func listNames(t *testing.T, dc *directory.Client) []string {
	t.Helper()
	var names []string
	pager := dc.NewListFilesAndDirectoriesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Segment.Directories {
			names = append(names, *d.Name)
		}
		for _, f := range page.Segment.Files {
			names = append(names, *f.Name)
		}
	}
	return names
}

// TestFiles_ShareSoftDelete (issue 13 item 3): with share soft delete on (the ARM
// fileServices retention policy), a deleted share is listed with include=deleted (version,
// deleted time, remaining days) and restored with its content and snapshots; a restore needs
// its headers (400 MissingRequiredHeader), a deleted version that exists (404) and no live
// share of that name (409 ShareAlreadyExists).
func TestFiles_ShareSoftDelete(t *testing.T) {
	svc, account, rg, _ := filesFixture(t)
	fs, err := armstorage.NewFileServicesClient(srv.SubscriptionID, adminCredential(t), armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.SetServiceProperties(ctxT(t), rg, account, armstorage.FileServiceProperties{FileServiceProperties: &armstorage.FileServicePropertiesProperties{
		ShareDeleteRetentionPolicy: &armstorage.DeleteRetentionPolicy{Enabled: to.Ptr(true), Days: to.Ptr[int32](3)}}}, nil); err != nil {
		t.Fatal(err)
	}
	sc := svc.NewShareClient("data")
	snap, err := sc.CreateSnapshot(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sc.Restore(ctxT(t), "", nil)
	wantFileError(t, err, http.StatusBadRequest, fileerror.MissingRequiredHeader)
	if _, err := sc.Delete(ctxT(t), &share.DeleteOptions{DeleteSnapshots: to.Ptr(share.DeleteSnapshotsOptionTypeInclude)}); err != nil {
		t.Fatal(err)
	}
	_, err = sc.GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusNotFound, fileerror.ShareNotFound)

	deletedVersion := func() string {
		t.Helper()
		page, err := svc.NewListSharesPager(&service.ListSharesOptions{Include: service.ListSharesInclude{Deleted: true}, Prefix: to.Ptr("data")}).NextPage(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		var deleted []*service.Share
		for _, s := range page.Shares {
			if s.Deleted != nil && *s.Deleted {
				deleted = append(deleted, s)
			}
		}
		if len(deleted) != 1 || deleted[0].Version == nil || deleted[0].Properties.DeletedTime == nil || *deleted[0].Properties.RemainingRetentionDays != 3 {
			t.Fatalf("list shares with deleted: %+v", page.Shares)
		}
		return *deleted[0].Version
	}
	version := deletedVersion()
	page, err := svc.NewListSharesPager(&service.ListSharesOptions{Include: service.ListSharesInclude{Snapshots: true}, Prefix: to.Ptr("data")}).NextPage(ctxT(t))
	if err != nil || len(page.Shares) != 0 {
		t.Fatalf("a deleted share or its snapshot listed without include=deleted: %v %d", err, len(page.Shares))
	}
	_, err = sc.Restore(ctxT(t), "0000000000000001", nil)
	wantFileError(t, err, http.StatusNotFound, fileerror.ShareNotFound)

	// A live share of the same name blocks the restore.
	if _, err := sc.Create(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	_, err = sc.Restore(ctxT(t), version, nil)
	wantFileError(t, err, http.StatusConflict, fileerror.ShareAlreadyExists)
	if _, err := sc.Delete(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	// Two deleted versions now; restore the first.
	if res, err := sc.Restore(ctxT(t), version, nil); err != nil || res.ETag == nil {
		t.Fatalf("restore: %v", err)
	}
	if got := download(t, sc.NewDirectoryClient("dir").NewFileClient("a.txt")); got != "hello files" {
		t.Errorf("a restored share's file: %q", got)
	}
	ss, _ := sc.WithSnapshot(*snap.Snapshot)
	if got := download(t, ss.NewDirectoryClient("dir").NewFileClient("a.txt")); got != "hello files" {
		t.Errorf("a restored share's snapshot: %q", got)
	}
	deletedVersion() // the empty share deleted later is still there to restore
}

// TestFiles_PremiumShares (issue 13 item 3): a FileStorage account's shares report what
// their quota provisions (IOPS, ingress, egress, bandwidth, next quota downgrade), in Get
// Share Properties and List Shares, and keep paid bursting settings; a standard account's
// share refuses paid bursting (400 InvalidHeaderValue).
func TestFiles_PremiumShares(t *testing.T) {
	rg := "prem-" + uuid.NewString()[:8]
	if err := createGroup(t, adminCredential(t), rg); err != nil {
		t.Fatal(err)
	}
	name := newAccountName()
	svc, _ := fileServiceOf(t, rg, name, createAccountKind(t, rg, name, armstorage.KindFileStorage, armstorage.SKUNamePremiumLRS))
	sc := svc.NewShareClient("premium")
	if _, err := sc.Create(ctxT(t), &share.CreateOptions{Quota: to.Ptr[int32](1024), PaidBurstingEnabled: to.Ptr(true),
		PaidBurstingMaxIops: to.Ptr[int64](5000), PaidBurstingMaxBandwidthMibps: to.Ptr[int64](1000)}); err != nil {
		t.Fatal(err)
	}
	p, err := sc.GetProperties(ctxT(t), nil)
	// 1,024 GiB: 3,000 + 1,024 IOPS; 40 + ceil(40.96) = 81 MB/s in, 60 + ceil(61.44) = 122 out.
	if err != nil || *p.ProvisionedIops != 4024 || *p.ProvisionedIngressMBps != 81 || *p.ProvisionedEgressMBps != 122 ||
		*p.ProvisionedBandwidthMiBps != 203 || p.NextAllowedQuotaDowngradeTime == nil ||
		!*p.PaidBurstingEnabled || *p.PaidBurstingMaxIops != 5000 || *p.PaidBurstingMaxBandwidthMibps != 1000 {
		t.Fatalf("premium share properties: %v %+v", err, p)
	}
	if _, err := sc.SetProperties(ctxT(t), &share.SetPropertiesOptions{PaidBurstingMaxIops: to.Ptr[int64](7000)}); err != nil {
		t.Fatal(err)
	}
	page, err := svc.NewListSharesPager(nil).NextPage(ctxT(t))
	if err != nil || len(page.Shares) != 1 {
		t.Fatal(err)
	}
	if lp := page.Shares[0].Properties; lp.ProvisionedIops == nil || *lp.ProvisionedIops != 4024 || *lp.ProvisionedBandwidthMiBps != 203 ||
		lp.NextAllowedQuotaDowngradeTime == nil || *lp.PaidBurstingMaxIops != 7000 {
		t.Errorf("a premium share listed: %+v", lp)
	}

	std, _, _, _ := filesFixture(t)
	_, err = std.NewShareClient("data").SetProperties(ctxT(t), &share.SetPropertiesOptions{PaidBurstingEnabled: to.Ptr(true)})
	wantFileError(t, err, http.StatusBadRequest, fileerror.InvalidHeaderValue)
	sp, err := std.NewShareClient("data").GetProperties(ctxT(t), nil)
	if err != nil || sp.ProvisionedIops != nil {
		t.Errorf("a standard share reports provisioned IOPS: %v %v", err, sp.ProvisionedIops)
	}
}

// TestFiles_ShareDeleteDelay: with serve --share-delete-delay, a deleted share stays "being
// deleted" as Azure's do: a second Delete Share is accepted (202), Create Share of that name
// answers 409 ShareBeingDeleted, reads answer 404; afterwards it is gone (404) and can be
// created again.
func TestFiles_ShareDeleteDelay(t *testing.T) {
	s := startOwnServer(t, t.TempDir(), "--share-delete-delay", "3s")
	defer func() { s.cmd.Process.Kill(); s.cmd.Wait() }()
	sc := s.newAccount(t)(s.env.ResourceManagerEndpoint, s.env.CACertFile).NewShareClient("going")
	if _, err := sc.Create(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Delete(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	if _, err := sc.Delete(ctxT(t), nil); err != nil {
		t.Errorf("a second delete while the share is being deleted: %v", err)
	}
	_, err := sc.Create(ctxT(t), nil)
	wantFileError(t, err, http.StatusConflict, fileerror.ShareBeingDeleted)
	_, err = sc.GetProperties(ctxT(t), nil)
	wantFileError(t, err, http.StatusNotFound, fileerror.ShareNotFound)
	time.Sleep(time.Until(deleted.Add(3500 * time.Millisecond)))
	_, err = sc.Delete(ctxT(t), nil)
	wantFileError(t, err, http.StatusNotFound, fileerror.ShareNotFound)
	if _, err := sc.Create(ctxT(t), nil); err != nil {
		t.Errorf("create again once deleted: %v", err)
	}
}

// TestFiles_ShareFlags: an SMB share reports x-ms-enable-smb-directory-lease (on unless
// created or set off), in its properties and in List Shares.
func TestFiles_ShareFlags(t *testing.T) {
	svc, _, _, _ := filesFixture(t)
	p, err := svc.NewShareClient("data").GetProperties(ctxT(t), nil)
	if err != nil || p.EnableSMBDirectoryLease == nil || !*p.EnableSMBDirectoryLease {
		t.Fatalf("a share's SMB directory leases by default: %v %v", err, p.EnableSMBDirectoryLease)
	}
	off := svc.NewShareClient("noleases")
	if _, err := off.Create(ctxT(t), &share.CreateOptions{EnableSMBDirectoryLease: to.Ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if p, err = off.GetProperties(ctxT(t), nil); err != nil || *p.EnableSMBDirectoryLease {
		t.Errorf("created without SMB directory leases: %v %v", err, p.EnableSMBDirectoryLease)
	}
	page, err := svc.NewListSharesPager(&service.ListSharesOptions{Prefix: to.Ptr("noleases")}).NextPage(ctxT(t))
	if err != nil || len(page.Shares) != 1 || page.Shares[0].Properties.EnableSMBDirectoryLease == nil || *page.Shares[0].Properties.EnableSMBDirectoryLease {
		t.Errorf("listed without SMB directory leases: %v", err)
	}
	if _, err := off.SetProperties(ctxT(t), &share.SetPropertiesOptions{EnableSMBDirectoryLease: to.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if p, err = off.GetProperties(ctxT(t), nil); err != nil || !*p.EnableSMBDirectoryLease {
		t.Errorf("set back on: %v %v", err, p.EnableSMBDirectoryLease)
	}
}
