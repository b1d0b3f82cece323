package files

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

// Share leases (Lease Share, and Resource Manager's fileShares lease action): a lock that
// keeps a share from being deleted, infinite or 15 to 60 seconds, renewable, changeable,
// releasable, and broken at once or after a break period.

// ShareLease is a share's lease.
type ShareLease struct {
	ID       string    `json:"id"`
	Duration int       `json:"duration"`         // seconds; -1 infinite
	Expires  time.Time `json:"expires,omitzero"` // finite leases
	Breaks   time.Time `json:"breaks,omitzero"`  // when a break completes
	Broken   bool      `json:"broken,omitempty"` // a break was asked for
	Released bool      `json:"released,omitempty"`
}

// state is the lease's state at now: available, leased, expired, breaking or broken.
func (l *ShareLease) state(now time.Time) string {
	switch {
	case l == nil || l.Released:
		return "available"
	case l.Broken && now.Before(l.Breaks):
		return "breaking"
	case l.Broken:
		return "broken"
	case l.Duration > 0 && !now.Before(l.Expires):
		return "expired"
	}
	return "leased"
}

// locks tells whether the lease keeps the share from being deleted at now.
func (l *ShareLease) locks(now time.Time) bool {
	s := l.state(now)
	return s == "leased" || s == "breaking"
}

// ShareLeaseRequest is one lease action on a share.
type ShareLeaseRequest struct {
	Action      string // acquire, renew, change, release, break
	ID          string // the current lease id
	ProposedID  string
	Duration    int  // acquire: -1 or 15-60
	BreakPeriod *int // break: 0-60 seconds
}

// ShareLeaseResult is what a lease action answers.
type ShareLeaseResult struct {
	ID       string
	Seconds  int // break: seconds until the break completes
	Share    Share
	Acquired bool
}

func leaseConflict(code, msg string) error { return azerr.Conflict(code, "%s", msg) }

// LeaseShareTx performs a lease action on a share.
func LeaseShareTx(tx store.Tx, account, share string, r ShareLeaseRequest, now time.Time) (ShareLeaseResult, error) {
	var out ShareLeaseResult
	s, err := GetShareTx(tx, account, share)
	if err != nil {
		return out, err
	}
	l, state := s.Lease, s.Lease.state(now)
	same := func(id string) bool { return l != nil && strings.EqualFold(l.ID, id) }
	switch strings.ToLower(r.Action) {
	case "acquire":
		if r.Duration != -1 && (r.Duration < 15 || r.Duration > 60) {
			return out, invalidHeader("x-ms-lease-duration", "must be -1 or 15 to 60 seconds")
		}
		id := r.ProposedID
		if id == "" {
			id = uuid.NewString()
		}
		if (state == "leased" && !same(id)) || state == "breaking" {
			return out, leaseConflict("LeaseAlreadyPresent", "There is already a lease present.")
		}
		l = &ShareLease{ID: id, Duration: r.Duration}
		out.Acquired = true
	case "renew":
		if state == "breaking" || state == "broken" {
			return out, leaseConflict("LeaseIsBrokenAndCannotBeRenewed", "The lease ID matched, but the lease has been broken explicitly and cannot be renewed.")
		}
		if !same(r.ID) || state == "available" {
			return out, leaseConflict("LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID for the share.")
		}
		l = &ShareLease{ID: l.ID, Duration: l.Duration}
	case "change":
		if state != "leased" {
			return out, leaseConflict("LeaseNotPresentWithLeaseOperation", "There is currently no lease on the share.")
		}
		if !same(r.ID) && !same(r.ProposedID) {
			return out, leaseConflict("LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID for the share.")
		}
		l = &ShareLease{ID: r.ProposedID, Duration: l.Duration, Expires: l.Expires}
	case "release":
		if state == "available" || !same(r.ID) {
			return out, leaseConflict("LeaseIdMismatchWithLeaseOperation", "The lease ID specified did not match the lease ID for the share.")
		}
		l = nil
	case "break":
		if state == "available" || state == "expired" {
			return out, leaseConflict("LeaseNotPresentWithLeaseOperation", "There is currently no lease on the share.")
		}
		if state != "breaking" && state != "broken" {
			period := 0
			if l.Duration > 0 {
				period = int(l.Expires.Sub(now).Seconds())
			}
			if r.BreakPeriod != nil {
				if *r.BreakPeriod < 0 || *r.BreakPeriod > 60 {
					return out, invalidHeader("x-ms-lease-break-period", "must be 0 to 60 seconds")
				}
				if l.Duration < 0 || *r.BreakPeriod < period {
					period = *r.BreakPeriod
				}
			}
			l = &ShareLease{ID: l.ID, Duration: l.Duration, Expires: l.Expires, Broken: true, Breaks: now.Add(time.Duration(period) * time.Second)}
		}
		out.Seconds = max(0, int(l.Breaks.Sub(now).Seconds()))
	default:
		return out, invalidHeader("x-ms-lease-action", "must be acquire, renew, change, release or break")
	}
	if l != nil && l.Duration > 0 && !l.Broken {
		l.Expires = now.Add(time.Duration(l.Duration) * time.Second)
	}
	s.Lease = l
	if l != nil {
		out.ID = l.ID
	}
	out.Share = s
	return out, PutShareTx(tx, account, s)
}

// CheckShareDelete refuses deleting a leased share without its lease id.
func CheckShareDelete(s Share, leaseID string, now time.Time) error {
	if !s.Lease.locks(now) {
		if leaseID != "" {
			return azerr.New(http.StatusPreconditionFailed, "LeaseNotPresentWithContainerOperation", "There is currently no lease on the share.")
		}
		return nil
	}
	if leaseID == "" {
		return azerr.New(http.StatusPreconditionFailed, "LeaseIdMissing", "There is currently a lease on the share and no lease ID was specified in the request.")
	}
	if !strings.EqualFold(leaseID, s.Lease.ID) {
		return azerr.New(http.StatusPreconditionFailed, "LeaseIdMismatchWithContainerOperation", "The lease ID specified did not match the lease ID for the share.")
	}
	return nil
}

// shareLeaseHeaders reports a share's lease.
func shareLeaseHeaders(w http.ResponseWriter, l *ShareLease, now time.Time) {
	h := w.Header()
	state := l.state(now)
	status := "unlocked"
	if l.locks(now) {
		status = "locked"
	}
	h["x-ms-lease-status"], h["x-ms-lease-state"] = []string{status}, []string{state}
	if state == "leased" {
		d := "fixed"
		if l.Duration < 0 {
			d = "infinite"
		}
		h["x-ms-lease-duration"] = []string{d}
	}
}

// leaseShare serves Lease Share.
func (q *request) leaseShare() error {
	h := q.r.Header
	r := ShareLeaseRequest{Action: h.Get("x-ms-lease-action"), ID: h.Get("x-ms-lease-id"), ProposedID: h.Get("x-ms-proposed-lease-id"), Duration: -1}
	if v := h.Get("x-ms-lease-duration"); v != "" {
		d, err := strconv.Atoi(v)
		if err != nil {
			return invalidHeader("x-ms-lease-duration", "is not a number of seconds")
		}
		r.Duration = d
	}
	if v := h.Get("x-ms-lease-break-period"); v != "" {
		d, err := strconv.Atoi(v)
		if err != nil {
			return invalidHeader("x-ms-lease-break-period", "is not a number of seconds")
		}
		r.BreakPeriod = &d
	}
	if a := strings.ToLower(r.Action); (a == "renew" || a == "change" || a == "release") && r.ID == "" {
		return missingHeader("x-ms-lease-id")
	}
	if strings.EqualFold(r.Action, "change") && r.ProposedID == "" {
		return missingHeader("x-ms-proposed-lease-id")
	}
	var res ShareLeaseResult
	err := q.svc.st.Update(q.ctx, func(tx store.Tx) error {
		var err error
		res, err = LeaseShareTx(tx, q.account.Name, q.share, r, q.svc.now())
		return err
	})
	if err != nil {
		return err
	}
	shareHeaders(q.w, res.Share)
	status := http.StatusOK
	switch strings.ToLower(r.Action) {
	case "acquire":
		status = http.StatusCreated
		q.w.Header().Set("x-ms-lease-id", res.ID)
	case "renew", "change":
		q.w.Header().Set("x-ms-lease-id", res.ID)
	case "break":
		status = http.StatusAccepted
		q.w.Header().Set("x-ms-lease-time", strconv.Itoa(res.Seconds))
	}
	q.w.WriteHeader(status)
	return nil
}

// LeaseView is a share's lease as Resource Manager reports it: leaseStatus, leaseState and
// leaseDuration ("" when the lease has no duration to report).
func LeaseView(s Share, now time.Time) (status, state, duration string) {
	state = s.Lease.state(now)
	status = "Unlocked"
	if s.Lease.locks(now) {
		status = "Locked"
	}
	if state == "leased" {
		duration = "Fixed"
		if s.Lease.Duration < 0 {
			duration = "Infinite"
		}
	}
	return status, strings.ToUpper(state[:1]) + state[1:], duration
}
