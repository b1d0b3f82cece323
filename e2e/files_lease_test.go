package e2e

import (
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/fileerror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/lease"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/share"
)

// TestFiles_Leases (issue 13 item 3): file leases as azfile's lease client drives them:
// acquire (a second lease refused), writes and deletes without the lease id refused (412
// LeaseIdMissing) and with a stale one too, change, release, break; properties report the
// lease; a rename of or onto a leased file needs its lease id.
func TestFiles_Leases(t *testing.T) {
	svc, _, _, _ := filesFixture(t)
	root := svc.NewShareClient("data").NewRootDirectoryClient()
	fc := root.NewFileClient("leased.txt")
	if _, err := fc.Create(ctxT(t), 5, nil); err != nil {
		t.Fatal(err)
	}
	ids := []string{"c820a799-76d7-4ee2-6e15-546f19325c2c", "a6e6ed0e-2c1f-4a3c-9a3b-35e9e2a8f1a1"}
	l0, err := lease.NewFileClient(fc, &lease.FileClientOptions{LeaseID: to.Ptr(ids[0])})
	if err != nil {
		t.Fatal(err)
	}
	l1, _ := lease.NewFileClient(fc, &lease.FileClientOptions{LeaseID: to.Ptr(ids[1])})
	acq, err := l0.Acquire(ctxT(t), nil)
	if err != nil || acq.LeaseID == nil || *acq.LeaseID != ids[0] {
		t.Fatalf("acquire: %v", err)
	}
	_, err = l1.Acquire(ctxT(t), nil)
	wantFileError(t, err, http.StatusConflict, fileerror.Code("LeaseAlreadyPresent"))
	props, err := fc.GetProperties(ctxT(t), nil)
	if err != nil || *props.LeaseState != lease.StateTypeLeased || *props.LeaseStatus != lease.StatusTypeLocked || *props.LeaseDuration != lease.DurationTypeInfinite {
		t.Errorf("a leased file's properties: %v %v %v %v", err, props.LeaseState, props.LeaseStatus, props.LeaseDuration)
	}
	_, err = fc.UploadRange(ctxT(t), 0, streamOf([]byte("abcde")), nil)
	wantFileError(t, err, http.StatusPreconditionFailed, fileerror.Code("LeaseIdMissing"))
	_, err = fc.Delete(ctxT(t), nil)
	wantFileError(t, err, http.StatusPreconditionFailed, fileerror.Code("LeaseIdMissing"))
	_, err = fc.Rename(ctxT(t), "moved.txt", nil)
	wantFileError(t, err, http.StatusPreconditionFailed, fileerror.Code("LeaseIdMissing"))
	if _, err := fc.UploadRange(ctxT(t), 0, streamOf([]byte("abcde")), &file.UploadRangeOptions{LeaseAccessConditions: &file.LeaseAccessConditions{LeaseID: to.Ptr(ids[0])}}); err != nil {
		t.Errorf("a write with the lease id: %v", err)
	}
	other := root.NewFileClient("other.txt")
	if _, err := other.Create(ctxT(t), 1, nil); err != nil {
		t.Fatal(err)
	}
	_, err = other.Rename(ctxT(t), "leased.txt", &file.RenameOptions{ReplaceIfExists: to.Ptr(true)})
	wantFileError(t, err, http.StatusPreconditionFailed, fileerror.Code("LeaseIdMissing"))

	// Change: the old id no longer works.
	if ch, err := l0.Change(ctxT(t), ids[1], nil); err != nil || *ch.LeaseID != ids[1] {
		t.Fatalf("change: %v", err)
	}
	_, err = fc.Delete(ctxT(t), &file.DeleteOptions{LeaseAccessConditions: &file.LeaseAccessConditions{LeaseID: to.Ptr(ids[0])}})
	wantFileError(t, err, http.StatusPreconditionFailed, fileerror.Code("LeaseIdMismatchWithFileOperation"))
	if _, err := l0.Release(ctxT(t), nil); err != nil {
		t.Fatalf("release: %v", err)
	}
	_, err = fc.Delete(ctxT(t), &file.DeleteOptions{LeaseAccessConditions: &file.LeaseAccessConditions{LeaseID: to.Ptr(ids[1])}})
	wantFileError(t, err, http.StatusPreconditionFailed, fileerror.Code("LeaseNotPresentWithFileOperation"))

	// Break: the file takes writes again without an id.
	if _, err := l0.Acquire(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l0.Break(ctxT(t), nil); err != nil {
		t.Fatalf("break: %v", err)
	}
	if props, err := fc.GetProperties(ctxT(t), nil); err != nil || *props.LeaseState != lease.StateTypeBroken {
		t.Errorf("a broken lease's state: %v %v", err, props.LeaseState)
	}
	if _, err := fc.Delete(ctxT(t), nil); err != nil {
		t.Errorf("delete after the lease broke: %v", err)
	}
}

// TestFiles_ShareLeases (issue 13 item 3): share leases through azfile's lease client and
// Resource Manager's lease action: a leased share is not deleted without its lease id
// (412), renew and change keep it, break ends it (at once, or after a break period),
// release frees it; ARM's view reports the lease and ARM's delete waits for it too.
func TestFiles_ShareLeases(t *testing.T) {
	svc, account, rg, _ := filesFixture(t)
	sc := svc.NewShareClient("leased")
	if _, err := sc.Create(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	ids := []string{"1f8c5a57-3c2b-4e0a-9d6f-5b1e2a7c9d01", "2a9d6b68-4d3c-4f1b-8e7a-6c2f3b8d0e12"}
	l, err := lease.NewShareClient(sc, &lease.ShareClientOptions{LeaseID: to.Ptr(ids[0])})
	if err != nil {
		t.Fatal(err)
	}
	if acq, err := l.Acquire(ctxT(t), 15, nil); err != nil || *acq.LeaseID != ids[0] {
		t.Fatalf("acquire a 15 s share lease: %v", err)
	}
	props, err := sc.GetProperties(ctxT(t), nil)
	if err != nil || *props.LeaseState != lease.StateTypeLeased || *props.LeaseDuration != lease.DurationTypeFixed {
		t.Errorf("a leased share's properties: %v %v %v", err, props.LeaseState, props.LeaseDuration)
	}
	_, err = sc.Delete(ctxT(t), nil)
	wantFileError(t, err, http.StatusPreconditionFailed, fileerror.Code("LeaseIdMissing"))
	if _, err := l.Renew(ctxT(t), nil); err != nil {
		t.Errorf("renew: %v", err)
	}
	if ch, err := l.Change(ctxT(t), ids[1], nil); err != nil || *ch.LeaseID != ids[1] {
		t.Fatalf("change: %v", err)
	}
	_, err = sc.Delete(ctxT(t), &share.DeleteOptions{LeaseAccessConditions: &share.LeaseAccessConditions{LeaseID: to.Ptr(ids[0])}})
	wantFileError(t, err, http.StatusPreconditionFailed, fileerror.Code("LeaseIdMismatchWithContainerOperation"))
	if _, err := l.Release(ctxT(t), nil); err != nil {
		t.Fatalf("release: %v", err)
	}
	// A break with a period: still locked meanwhile.
	l2, _ := lease.NewShareClient(sc, &lease.ShareClientOptions{LeaseID: to.Ptr(ids[0])})
	if _, err := l2.Acquire(ctxT(t), -1, nil); err != nil {
		t.Fatal(err)
	}
	br, err := l2.Break(ctxT(t), &lease.ShareBreakOptions{BreakPeriod: to.Ptr[int32](30)})
	if err != nil || br.LeaseTime == nil || *br.LeaseTime < 29 {
		t.Fatalf("break with a 30 s period: %v %v", err, br.LeaseTime)
	}
	if props, err := sc.GetProperties(ctxT(t), nil); err != nil || *props.LeaseState != lease.StateTypeBreaking {
		t.Errorf("a breaking lease: %v %v", err, props.LeaseState)
	}
	_, err = sc.Delete(ctxT(t), nil)
	wantFileError(t, err, http.StatusPreconditionFailed, fileerror.Code("LeaseIdMissing"))

	// Resource Manager: the share shows its lease; a break at once lets ARM delete it.
	shares, err := armstorage.NewFileSharesClient(srv.SubscriptionID, adminCredential(t), armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	other := "armleased"
	if _, err := shares.Create(ctxT(t), rg, account, other, armstorage.FileShare{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := shares.Lease(ctxT(t), rg, account, other, &armstorage.FileSharesClientLeaseOptions{Parameters: &armstorage.LeaseShareRequest{
		Action: to.Ptr(armstorage.LeaseShareActionAcquire), LeaseDuration: to.Ptr[int32](-1)}}); err != nil {
		t.Fatalf("ARM lease acquire: %v", err)
	}
	if got, err := shares.Get(ctxT(t), rg, account, other, nil); err != nil || *got.FileShareProperties.LeaseState != armstorage.LeaseStateLeased ||
		*got.FileShareProperties.LeaseDuration != armstorage.LeaseDurationInfinite {
		t.Errorf("ARM's view of a leased share: %v", err)
	}
	if _, err := shares.Delete(ctxT(t), rg, account, other, nil); respStatus(err) != http.StatusPreconditionFailed {
		t.Errorf("ARM delete of a leased share: %v, want 412", err)
	}
	if _, err := shares.Lease(ctxT(t), rg, account, other, &armstorage.FileSharesClientLeaseOptions{Parameters: &armstorage.LeaseShareRequest{
		Action: to.Ptr(armstorage.LeaseShareActionBreak), BreakPeriod: to.Ptr[int32](0)}}); err != nil {
		t.Fatalf("ARM lease break: %v", err)
	}
	if _, err := shares.Delete(ctxT(t), rg, account, other, nil); err != nil {
		t.Errorf("ARM delete after the break: %v", err)
	}
}
