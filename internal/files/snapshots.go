package files

import (
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Share snapshots (Snapshot Share, ?sharesnapshot=): a snapshot is a read-only copy of a
// share at one moment, stored as a share of its own named <share>@<snapshot time> ('@' cannot
// occur in a share name). Taking one copies the share's directory entries, permissions and
// sealed content chunks as they are, in one transaction; the chunks stay sealed under the
// live share's file keys (fileCipher uses the base name), so nothing is decrypted or
// re-encrypted. Requests that read (properties, listings, ranges, content) address a
// snapshot with ?sharesnapshot=; every other operation on a snapshot is refused with
// ShareSnapshotOperationNotSupported before it runs.

// SnapshotTimeFormat is how Azure writes a share snapshot's time (x-ms-snapshot).
const SnapshotTimeFormat = "2006-01-02T15:04:05.0000000Z"

// MaxShareSnapshots is how many snapshots a share may have (Azure: 200).
const MaxShareSnapshots = 200

// storedName is the name a share or share snapshot is stored under.
func storedName(share, snapshot string) string {
	if snapshot == "" {
		return share
	}
	return share + "@" + snapshot
}

// snapshotOf is the snapshot time a stored name names, "" for a live share.
func snapshotOf(stored string) string {
	if i := strings.IndexByte(stored, '@'); i >= 0 {
		return stored[i+1:]
	}
	return ""
}

// baseShareName is the live share a stored name belongs to.
func baseShareName(stored string) string {
	if i := strings.IndexAny(stored, "@#"); i >= 0 {
		return stored[:i]
	}
	return stored
}

// parseSnapshotTime reads a sharesnapshot value (an ISO 8601 time) into Azure's form.
func parseSnapshotTime(v string) (string, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		e := azerr.BadRequest("InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid: sharesnapshot %q is not a snapshot time such as 2026-12-03T19:50:00.0000000Z.", v)
		e.Target = "sharesnapshot"
		return "", e
	}
	return t.UTC().Format(SnapshotTimeFormat), nil
}

// readsSnapshot reports whether an operation can address a share snapshot.
func (o *operation) readsSnapshot() bool {
	switch o.Name {
	case "Get Share Properties", "Delete Share", "List Directories and Files", "Get Directory Properties",
		"List Handles", "List Ranges", "Get File", "Get File Properties", "Get File Metadata":
		return true
	}
	return false
}

func errSnapshotOperation() error {
	return azerr.BadRequest("ShareSnapshotOperationNotSupported", "The operation is not supported on a share snapshot: snapshots are read-only.")
}

// useSnapshot points the request at the share snapshot ?sharesnapshot= names, when the
// operation reads one; Snapshot Share ignores the parameter, as Azure does; any other
// operation is refused.
func (q *request) useSnapshot() error {
	v := q.q("sharesnapshot")
	if v == "" {
		return nil
	}
	op, err := classify(q.r, q.share, q.path, q.query)
	if err != nil {
		return err
	}
	switch {
	case op.Comp == "snapshot":
		return nil
	case !op.readsSnapshot():
		return errSnapshotOperation()
	}
	snap, err := parseSnapshotTime(v)
	if err != nil {
		return err
	}
	q.share = storedName(q.share, snap)
	return nil
}

// sourceSnapshot is where a copy source is read from: the snapshot its URL names with
// sharesnapshot=, or the share itself.
func sourceSnapshot(share string, query url.Values) (string, error) {
	v := query.Get("sharesnapshot")
	if v == "" {
		return share, nil
	}
	snap, err := parseSnapshotTime(v)
	if err != nil {
		return "", err
	}
	return storedName(share, snap), nil
}

// shareSnapshotsTx lists a share's snapshots, oldest first.
func shareSnapshotsTx(tx store.Tx, account, share string) ([]Share, error) {
	items, err := tx.List(colShares, shareKey(account, share)+"@")
	if err != nil {
		return nil, err
	}
	out := make([]Share, 0, len(items))
	for _, it := range items {
		var s Share
		if err := jsonUnmarshal(it.Value, &s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Snapshot < out[j].Snapshot })
	return out, nil
}

// CreateShareSnapshotTx takes a snapshot of a share: its metadata is meta when the request
// gave any, the share's otherwise.
func CreateShareSnapshotTx(tx store.Tx, account, share string, meta map[string]string, now time.Time) (Share, error) {
	s, err := GetShareTx(tx, account, share)
	if err != nil {
		return s, err
	}
	snaps, err := shareSnapshotsTx(tx, account, share)
	if err != nil {
		return s, err
	}
	if len(snaps) >= MaxShareSnapshots {
		return s, azerr.Conflict("ShareSnapshotCountExceeded", "The total number of snapshots for the share is over the limit of %d: delete some first.", MaxShareSnapshots)
	}
	// A time no other snapshot of the share has (Azure's resolution is 100 ns).
	t := now.UTC().Truncate(100 * time.Nanosecond)
	for {
		if _, err := tx.Get(colShares, shareKey(account, storedName(share, t.Format(SnapshotTimeFormat)))); errors.Is(err, store.ErrNotFound) {
			break
		} else if err != nil {
			return s, err
		}
		t = t.Add(100 * time.Nanosecond)
	}
	snap := s
	snap.Snapshot = t.Format(SnapshotTimeFormat)
	snap.Lease, snap.ACL = nil, nil
	if meta != nil {
		snap.Metadata = meta
	}
	snap.LastModified, snap.ETag = t, newETag(t)
	from, to := shareKey(account, share)+"/", shareKey(account, storedName(share, snap.Snapshot))+"/"
	for _, col := range []string{colNodes, colPermissions, colChunks} {
		if err := copyUnderTx(tx, col, from, to); err != nil {
			return s, err
		}
	}
	return snap, PutShareTx(tx, account, snap)
}

// copyUnderTx copies every document of col under the prefix from to the same key under to,
// one document at a time (content chunks are 1 MiB each).
func copyUnderTx(tx store.Tx, col, from, to string) error {
	keys, err := keysUnder(tx, col, from)
	if err != nil {
		return err
	}
	for _, k := range keys {
		v, err := tx.Get(col, k)
		if err != nil {
			return err
		}
		if err := tx.Put(col, to+strings.TrimPrefix(k, from), v); err != nil {
			return err
		}
	}
	return nil
}

// DeleteShareWithSnapshotsTx deletes a live share (Resource Manager's delete passes include
// unless $include=none): its snapshots too when the request says
// so (x-ms-delete-snapshots: include or include-leased), otherwise 409 ShareHasSnapshots
// while it has any.
func DeleteShareWithSnapshotsTx(tx store.Tx, account, share, deleteSnapshots string, now time.Time) error {
	snaps, err := shareSnapshotsTx(tx, account, share)
	if err != nil {
		return err
	}
	if len(snaps) > 0 {
		switch strings.ToLower(deleteSnapshots) {
		case "include", "include-leased":
		case "":
			return azerr.Conflict("ShareHasSnapshots", "The share has snapshots and the operation requires no snapshots: send x-ms-delete-snapshots: include to delete them with it.")
		default:
			return invalidHeader("x-ms-delete-snapshots", "must be include or include-leased")
		}
	}
	props, err := GetServicePropertiesTx(tx, account)
	if err != nil {
		return err
	}
	if r := props.ShareDeleteRetention; r.Enabled {
		return softDeleteShareTx(tx, account, share, snaps, now, r.Days)
	}
	for _, sn := range snaps {
		if err := DeleteShareTx(tx, account, storedName(share, sn.Snapshot)); err != nil {
			return err
		}
	}
	return DeleteShareTx(tx, account, share)
}

// snapshotShare serves Snapshot Share (PUT ?restype=share&comp=snapshot).
func (q *request) snapshotShare() error {
	var meta map[string]string
	if hasMetadata(q.r.Header) {
		m, err := metadataFrom(q.r.Header)
		if err != nil {
			return err
		}
		meta = m
	}
	var snap Share
	if err := q.svc.st.Update(q.ctx, func(tx store.Tx) error {
		var err error
		snap, err = CreateShareSnapshotTx(tx, q.account.Name, baseShareName(q.share), meta, q.svc.now())
		return err
	}); err != nil {
		return err
	}
	shareHeaders(q.w, snap)
	q.w.Header().Set("x-ms-snapshot", snap.Snapshot)
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

func hasMetadata(h http.Header) bool {
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-ms-meta-") {
			return true
		}
	}
	return false
}

// snapshotVirtualDirectoryAccess is what an NFS share reports of its snapshots' virtual
// directory (.snapshot), true unless set otherwise; nil for SMB shares, which have none.
func (s Share) snapshotVirtualDirectoryAccess() *bool {
	if !strings.EqualFold(s.EnabledProtocols, "NFS") {
		return nil
	}
	if s.SnapshotVirtualDirectoryAccess != nil {
		return s.SnapshotVirtualDirectoryAccess
	}
	t := true
	return &t
}

// listRangeDiff serves List Ranges with prevsharesnapshot: the 512-byte-aligned ranges whose
// content differs between the file in that earlier snapshot and the file now (or in
// sharesnapshot), as Range, and the ranges written then and cleared since, as ClearRange.
// The earlier file is found by path, or, with x-ms-file-support-rename: true, by file id
// after a rename; otherwise 409 PreviousSnapshotNotFound.
func (q *request) listRangeDiff() error {
	prevSnap, err := parseSnapshotTime(q.q("prevsharesnapshot"))
	if err != nil {
		return err
	}
	prevShare := storedName(baseShareName(q.share), prevSnap)
	supportRename := strings.EqualFold(q.r.Header.Get("x-ms-file-support-rename"), "true")
	type xr struct {
		Start int64 `xml:"Start"`
		End   int64 `xml:"End"`
	}
	var n Node
	var changed, cleared []xr
	add := func(list *[]xr, s, e int64) {
		if k := len(*list); k > 0 && (*list)[k-1].End+1 == s {
			(*list)[k-1].End = e - 1
			return
		}
		*list = append(*list, xr{s, e - 1})
	}
	err = q.svc.st.View(q.ctx, func(tx store.Tx) error {
		var err error
		if n, err = q.loadNode(tx, false); err != nil {
			return err
		}
		notFound := azerr.Conflict("PreviousSnapshotNotFound", "The previous share snapshot or the file in it is not found: with a file renamed since, send x-ms-file-support-rename: true.")
		if _, err := GetShareTx(tx, q.account.Name, prevShare); err != nil {
			return notFound
		}
		p, err := getNodeTx(tx, q.account.Name, prevShare, q.path)
		if err != nil || p.ID != n.ID {
			found := false
			if supportRename {
				if p, found, err = nodeByIDTx(tx, q.account.Name, prevShare, n.ID); err != nil {
					return err
				}
			}
			if !found {
				return notFound
			}
		}
		lo, hi := int64(0), max(n.Size, p.Size)
		if rh := rangeHeader(q.r.Header); rh != "" {
			s, e, err := parseRange(rh)
			if err != nil {
				return err
			}
			lo = s &^ 511
			if e >= 0 && e+1 < hi {
				hi = e + 1
			}
		}
		cc, err := q.cipher(n)
		if err != nil {
			return err
		}
		pc, err := encryptionFor(q, prevShare, p)
		if err != nil {
			return err
		}
		// Chunk by chunk: a chunk whose sealed bytes are the snapshot's was not written
		// since; one written since is compared 512 bytes at a time, and if it was
		// rewritten with the same bytes, its written ranges count as changed (Azure reports
		// what was written, whatever it wrote).
		for c := uint64(lo / chunkSize); int64(c)*chunkSize < hi; c++ {
			cs, ce := chunkSpan(c)
			cs, ce = max(cs, lo), min(ce, hi)
			curSealed, err := tx.Get(colChunks, chunkKey(q.account.Name, q.share, n.ID, c))
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			prevSealed, err := tx.Get(colChunks, chunkKey(q.account.Name, prevShare, p.ID, c))
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			unchanged := n.Generation == p.Generation && curSealed != nil && string(curSealed) == string(prevSealed)
			var cur, prev []byte
			type unit struct {
				lo, hi int64
				state  byte // 'c' changed, 'x' cleared, 's' written then and now with the same bytes
			}
			var units []unit
			differs := false
			for u := cs; u < ce; u += 512 {
				ue := min(u+512, ce)
				wc, wp := u < n.Size && written(n.Ranges, u, ue), u < p.Size && written(p.Ranges, u, ue)
				switch {
				case wc && !wp:
					units = append(units, unit{u, ue, 'c'})
				case wp && !wc:
					units = append(units, unit{u, ue, 'x'})
				case wc && wp && !unchanged:
					if cur == nil {
						if cur, err = readRangeTx(tx, cc, q.account.Name, q.share, n, cs, min(ce, n.Size)); err != nil {
							return err
						}
						if prev, err = readRangeTx(tx, pc, q.account.Name, prevShare, p, cs, min(ce, p.Size)); err != nil {
							return err
						}
					}
					a, b := cur[u-cs:min(ue-cs, int64(len(cur)))], prev[u-cs:min(ue-cs, int64(len(prev)))]
					if string(a) != string(b) {
						differs = true
						units = append(units, unit{u, ue, 'c'})
					} else {
						units = append(units, unit{u, ue, 's'})
					}
				}
			}
			for _, u := range units {
				switch {
				case u.state == 'c' || (u.state == 's' && !differs):
					add(&changed, u.lo, u.hi)
				case u.state == 'x':
					add(&cleared, u.lo, u.hi)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	nodeHeaders(q.w, n)
	q.w.Header().Set("x-ms-content-length", strconv.FormatInt(n.Size, 10))
	return writeXML(q.w, struct {
		XMLName xml.Name `xml:"Ranges"`
		Ranges  []xr     `xml:"Range"`
		Clear   []xr     `xml:"ClearRange"`
	}{Ranges: changed, Clear: cleared})
}

// nodeByIDTx finds a share's file or directory by its id (a scan: used only to follow a
// rename between snapshots).
func nodeByIDTx(tx store.Tx, account, share string, id uint64) (Node, bool, error) {
	items, err := tx.List(colNodes, shareKey(account, share)+"/")
	if err != nil {
		return Node{}, false, err
	}
	for _, it := range items {
		var n Node
		if err := jsonUnmarshal(it.Value, &n); err != nil {
			return Node{}, false, err
		}
		if n.ID == id {
			return n, true, nil
		}
	}
	return Node{}, false, nil
}

// smbDirectoryLease is what an SMB share reports of x-ms-enable-smb-directory-lease (on unless
// turned off); nil for NFS shares.
func (s Share) smbDirectoryLease() *bool {
	if strings.EqualFold(s.EnabledProtocols, "NFS") {
		return nil
	}
	if s.SMBDirectoryLease != nil {
		return s.SMBDirectoryLease
	}
	t := true
	return &t
}

// setShareFlags takes the boolean share settings a Create Share or Set Share Properties may
// carry: snapshot virtual directory access (NFS) and SMB directory leases.
func (s *Share) setShareFlags(h http.Header) error {
	for _, f := range []struct {
		header string
		to     **bool
	}{{"x-ms-enable-snapshot-virtual-directory-access", &s.SnapshotVirtualDirectoryAccess}, {"x-ms-enable-smb-directory-lease", &s.SMBDirectoryLease}} {
		v := h.Get(f.header)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return invalidHeader(f.header, "must be true or false")
		}
		*f.to = &b
	}
	return nil
}
