package files

import (
	"net/http"
	"strings"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

// File leases (Lease File): an infinite write lock on a file that a client takes, changes,
// releases or breaks. While a file is leased, every write to it (Put Range, properties,
// metadata, overwrite, delete, a copy or rename onto it, a rename of it) must carry its
// lease id; a request naming a lease id is refused when it is not the active one.

// Lease is a file's lease.
type Lease struct {
	ID     string `json:"id"`
	Broken bool   `json:"broken,omitempty"`
}

func (l *Lease) active() bool { return l != nil && !l.Broken }

func leaseErr(code, msg string) error {
	return azerr.New(http.StatusPreconditionFailed, code, "%s", msg)
}

// checkLease admits a request on file n that gave leaseID ("" for none): a write to a
// leased file needs its lease id; any request naming a lease id needs that lease active.
func checkLease(n Node, leaseID string, write bool) error {
	switch {
	case leaseID == "" && write && n.Lease.active():
		return leaseErr("LeaseIdMissing", "There is currently a lease on the file and no lease ID was specified in the request.")
	case leaseID != "" && !n.Lease.active():
		return leaseErr("LeaseNotPresentWithFileOperation", "There is currently no lease on the file.")
	case leaseID != "" && !strings.EqualFold(leaseID, n.Lease.ID):
		return leaseErr("LeaseIdMismatchWithFileOperation", "The lease ID specified did not match the lease ID for the file.")
	}
	return nil
}

// leaseFor is checkLease with the request's own x-ms-lease-id.
func (q *request) leaseFor(n Node, write bool) error {
	return checkLease(n, q.r.Header.Get("x-ms-lease-id"), write)
}

// leaseFile serves Lease File: x-ms-lease-action acquire (duration -1 only, an optional
// proposed id), change, release or break.
func (q *request) leaseFile() error {
	h := q.r.Header
	action := strings.ToLower(h.Get("x-ms-lease-action"))
	id, proposed := h.Get("x-ms-lease-id"), h.Get("x-ms-proposed-lease-id")
	validID := func(name, v string) error {
		if _, err := uuid.Parse(v); err != nil {
			return invalidHeader(name, "is not a GUID")
		}
		return nil
	}
	switch action {
	case "acquire":
		if d := h.Get("x-ms-lease-duration"); d != "-1" {
			return invalidHeader("x-ms-lease-duration", "must be -1: file leases are infinite")
		}
		if proposed == "" {
			proposed = uuid.NewString()
		} else if err := validID("x-ms-proposed-lease-id", proposed); err != nil {
			return err
		}
	case "change":
		if id == "" {
			return missingHeader("x-ms-lease-id")
		}
		if proposed == "" {
			return missingHeader("x-ms-proposed-lease-id")
		}
		if err := validID("x-ms-proposed-lease-id", proposed); err != nil {
			return err
		}
	case "release":
		if id == "" {
			return missingHeader("x-ms-lease-id")
		}
	case "break":
	default:
		return invalidHeader("x-ms-lease-action", "must be acquire, change, release or break")
	}
	var n Node
	err := q.svc.st.Update(q.ctx, func(tx store.Tx) error {
		var err error
		if n, err = q.loadNode(tx, false); err != nil {
			return err
		}
		switch action {
		case "acquire":
			if n.Lease.active() && !strings.EqualFold(n.Lease.ID, proposed) {
				return azerr.Conflict("LeaseAlreadyPresent", "There is already a lease present.")
			}
			n.Lease = &Lease{ID: proposed}
		case "change":
			if !n.Lease.active() {
				return azerr.Conflict("LeaseNotPresentWithLeaseOperation", "There is currently no lease on the file.")
			}
			if !strings.EqualFold(n.Lease.ID, id) && !strings.EqualFold(n.Lease.ID, proposed) {
				return azerr.Conflict("LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID for the file.")
			}
			n.Lease = &Lease{ID: proposed}
		case "release":
			if n.Lease == nil {
				return azerr.Conflict("LeaseNotPresentWithLeaseOperation", "There is currently no lease on the file.")
			}
			if !strings.EqualFold(n.Lease.ID, id) {
				return azerr.Conflict("LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID for the file.")
			}
			n.Lease = nil
		case "break":
			if n.Lease == nil {
				return azerr.Conflict("LeaseNotPresentWithLeaseOperation", "There is currently no lease on the file.")
			}
			n.Lease.Broken = true // a file lease breaks at once
		}
		return putNodeTx(tx, q.account.Name, q.share, n)
	})
	if err != nil {
		return err
	}
	w := q.w.Header()
	w.Set("ETag", n.ETag)
	w.Set("Last-Modified", n.LastModified.UTC().Format(http.TimeFormat))
	status := http.StatusOK
	switch action {
	case "acquire":
		status = http.StatusCreated
		w.Set("x-ms-lease-id", n.Lease.ID)
	case "change":
		w.Set("x-ms-lease-id", n.Lease.ID)
	case "break":
		status = http.StatusAccepted
		w.Set("x-ms-lease-time", "0")
	}
	q.w.WriteHeader(status)
	return nil
}

// leaseHeaders reports a lease's state (nil: none).
func leaseHeaders(w http.ResponseWriter, l *Lease) {
	h := w.Header()
	switch {
	case l.active():
		h["x-ms-lease-status"], h["x-ms-lease-state"], h["x-ms-lease-duration"] = []string{"locked"}, []string{"leased"}, []string{"infinite"}
	case l != nil:
		h["x-ms-lease-status"], h["x-ms-lease-state"] = []string{"unlocked"}, []string{"broken"}
	default:
		h["x-ms-lease-status"], h["x-ms-lease-state"] = []string{"unlocked"}, []string{"available"}
	}
}
