package e2e

import (
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/file"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/fileerror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/lease"
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
