package files

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Share soft delete: with the File service's share delete retention policy on, Delete Share
// keeps the share (and its snapshots) for the policy's days as a deleted share with a
// version, listed with include=deleted and brought back by Restore Share (PUT
// ?restype=share&comp=undelete). A deleted share is stored as <share>#<version>, its
// snapshots as <share>#<version>@<snapshot>; deleting and restoring move its documents,
// still sealed as they were. A deleted share past its retention is purged by the next delete
// or restore in the account, and is no longer listed.

// softDeleteShareTx moves a share and its snapshots to a new deleted version.
func softDeleteShareTx(tx store.Tx, account, share string, snaps []Share, now time.Time, days int) error {
	if err := purgeExpiredSharesTx(tx, account, now); err != nil {
		return err
	}
	s, err := GetShareTx(tx, account, share)
	if err != nil {
		return err
	}
	version := fmt.Sprintf("%016X", now.UnixNano())
	for _, sn := range append(snaps, s) {
		moved := sn
		moved.Deleted, moved.Version, moved.DeletedTime, moved.RetentionDays = true, version, now.UTC(), days
		moved.Lease = nil
		if err := moveShareTx(tx, account, sn, moved); err != nil {
			return err
		}
	}
	return nil
}

// moveShareTx stores a share's documents and record under another name. Garbage records
// are dropped: the chunks they name are deleted with the share when it is purged.
func moveShareTx(tx store.Tx, account string, from, to Share) error {
	fp, tp := shareKey(account, from.stored())+"/", shareKey(account, to.stored())+"/"
	for _, col := range []string{colNodes, colPermissions, colChunks, colCounters} {
		if err := copyUnderTx(tx, col, fp, tp); err != nil {
			return err
		}
	}
	if err := deleteUnderTx(tx, fp, colNodes, colPermissions, colChunks, colCounters, colGarbage); err != nil {
		return err
	}
	if err := tx.Delete(colShares, shareKey(account, from.stored())); err != nil {
		return err
	}
	return PutShareTx(tx, account, to)
}

func (s Share) expired(now time.Time) bool {
	return s.Deleted && now.After(s.DeletedTime.Add(time.Duration(s.RetentionDays)*24*time.Hour))
}

// remainingDays is what List Shares reports of a deleted share.
func (s Share) remainingDays(now time.Time) int {
	left := s.DeletedTime.Add(time.Duration(s.RetentionDays) * 24 * time.Hour).Sub(now)
	return max(0, int((left+24*time.Hour-1)/(24*time.Hour)))
}

// purgeExpiredSharesTx deletes the account's deleted shares past their retention.
func purgeExpiredSharesTx(tx store.Tx, account string, now time.Time) error {
	all, err := listAllSharesTx(tx, account)
	if err != nil {
		return err
	}
	for _, s := range all {
		if s.expired(now) {
			if err := DeleteShareTx(tx, account, s.stored()); err != nil {
				return err
			}
		}
	}
	return nil
}

// restoreShare serves Restore Share: the deleted version x-ms-deleted-share-version of the
// share x-ms-deleted-share-name, back under its own name with its snapshots.
func (q *request) restoreShare() error {
	name, version := q.r.Header.Get("x-ms-deleted-share-name"), q.r.Header.Get("x-ms-deleted-share-version")
	switch {
	case name == "":
		return missingHeader("x-ms-deleted-share-name")
	case version == "":
		return missingHeader("x-ms-deleted-share-version")
	case !strings.EqualFold(name, q.share):
		return invalidHeader("x-ms-deleted-share-name", "must be the share the request restores (a share is restored under its own name)")
	}
	now := q.svc.now()
	var restored Share
	err := q.svc.st.Update(q.ctx, func(tx store.Tx) error {
		if err := purgeExpiredSharesTx(tx, q.account.Name, now); err != nil {
			return err
		}
		if _, err := GetShareTx(tx, q.account.Name, q.share); err == nil {
			return azerr.Conflict("ShareAlreadyExists", "The specified share already exists: delete or rename it before restoring its deleted version.")
		}
		deleted, err := GetShareTx(tx, q.account.Name, storedName(q.share+"#"+strings.ToUpper(version), ""))
		if err != nil || !deleted.Deleted {
			return azerr.NotFound("ShareNotFound", "The specified share does not exist: no deleted share %s has version %s (List Shares with include=deleted lists them).", q.share, version)
		}
		snaps, err := shareSnapshotsTx(tx, q.account.Name, deleted.stored())
		if err != nil {
			return err
		}
		for _, sn := range append(snaps, deleted) {
			back := sn
			back.Deleted, back.Version, back.DeletedTime, back.RetentionDays = false, "", time.Time{}, 0
			if sn.Snapshot == "" {
				back.LastModified, back.ETag = now.UTC(), newETag(now)
				restored = back
			}
			if err := moveShareTx(tx, q.account.Name, sn, back); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	shareHeaders(q.w, restored)
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

// shareDeleted starts a deleted share's "being deleted" time (Settings.ShareDeleteDelay).
func (s *Service) shareDeleted(account, share string) {
	if s.settings.ShareDeleteDelay <= 0 {
		return
	}
	s.deletingMu.Lock()
	defer s.deletingMu.Unlock()
	if s.deleting == nil {
		s.deleting = map[string]time.Time{}
	}
	now := s.now()
	for k, until := range s.deleting {
		if now.After(until) {
			delete(s.deleting, k)
		}
	}
	s.deleting[shareKey(account, share)] = now.Add(s.settings.ShareDeleteDelay)
}

// beingDeleted reports whether a share deleted moments ago is still being deleted.
func (s *Service) beingDeleted(account, share string) bool {
	s.deletingMu.Lock()
	defer s.deletingMu.Unlock()
	until, ok := s.deleting[shareKey(account, share)]
	return ok && s.now().Before(until)
}

func errShareBeingDeleted() error {
	return azerr.Conflict("ShareBeingDeleted", "The specified share is being deleted. Try operation later.")
}
