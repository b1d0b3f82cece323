package files

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Share is a file share of an account.
type Share struct {
	Name             string            `json:"name"`
	Quota            int               `json:"quota"` // GiB
	Metadata         map[string]string `json:"metadata,omitempty"`
	AccessTier       string            `json:"accessTier"`
	EnabledProtocols string            `json:"enabledProtocols"`
	Created          time.Time         `json:"created"`
	LastModified     time.Time         `json:"lastModified"`
	ETag             string            `json:"etag"`
	// UsedBytes is the sum of the shares' file sizes (for the quota).
	UsedBytes int64 `json:"usedBytes"`
	// Lease is the share's lease (nil: never leased, or released).
	Lease *ShareLease `json:"lease,omitempty"`
	// ACL is the share's stored access policies (Set Share ACL), at most five.
	ACL []SignedIdentifier `json:"acl,omitempty"`
	// Snapshot is a share snapshot's time (x-ms-snapshot); "" for the live share. A snapshot
	// is stored as a share of its own, named <share>@<snapshot> (see snapshots.go).
	Snapshot string `json:"snapshot,omitempty"`
	// SnapshotVirtualDirectoryAccess is an NFS share's x-ms-enable-snapshot-virtual-directory-access.
	SnapshotVirtualDirectoryAccess *bool `json:"snapshotVirtualDirectoryAccess,omitempty"`
	// SMBDirectoryLease is x-ms-enable-smb-directory-lease (nil: the default, on). Stored
	// and reported; Samba grants no directory leases either way.
	SMBDirectoryLease *bool `json:"smbDirectoryLease,omitempty"`
	// Paid bursting of a premium share (x-ms-share-paid-bursting-*).
	PaidBursting *PaidBursting `json:"paidBursting,omitempty"`
	// A soft-deleted share (share soft delete on): its version, when it was deleted and how
	// many days it is kept. It is stored as <share>#<version> (see softdelete.go).
	Deleted       bool      `json:"deleted,omitempty"`
	Version       string    `json:"version,omitempty"`
	DeletedTime   time.Time `json:"deletedTime,omitempty"`
	RetentionDays int       `json:"retentionDays,omitempty"`
}

// stored is the name a share, share snapshot or deleted share is stored under.
func (s Share) stored() string {
	n := s.Name
	if s.Version != "" {
		n += "#" + s.Version
	}
	return storedName(n, s.Snapshot)
}

// SignedIdentifier is a stored access policy: what a SAS naming it (si) leaves out. The
// times are kept as sent (ISO 8601), the permission as letters.
type SignedIdentifier struct {
	ID         string `json:"id"`
	Start      string `json:"start,omitempty"`
	Expiry     string `json:"expiry,omitempty"`
	Permission string `json:"permission,omitempty"`
}

// DefaultQuota is a new share's quota in GiB when none is given (large file shares).
const DefaultQuota = 102400

var shareNameRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$`)

// ValidShareName reports whether name is a valid share name: 3-63 lowercase letters, digits
// and single hyphens, starting and ending with a letter or digit.
func ValidShareName(name string) bool { return shareNameRE.MatchString(name) }

func shareKey(account, share string) string {
	return accountKey(account) + "/" + strings.ToLower(share)
}

func errShareNotFound() error {
	return azerr.NotFound("ShareNotFound", "The specified share does not exist.")
}

// GetShareTx returns a share.
func GetShareTx(tx store.Tx, account, share string) (Share, error) {
	var s Share
	b, err := tx.Get(colShares, shareKey(account, share))
	if errors.Is(err, store.ErrNotFound) {
		return s, errShareNotFound()
	}
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// PutShareTx stores a share.
func PutShareTx(tx store.Tx, account string, s Share) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode share: %w", err)
	}
	return tx.Put(colShares, shareKey(account, s.stored()), b)
}

// CreateShareTx creates a share with its root directory; ShareAlreadyExists if it exists.
func CreateShareTx(tx store.Tx, account string, s Share, now time.Time) (Share, error) {
	if !ValidShareName(s.Name) {
		return s, azerr.BadRequest("InvalidResourceName", "The specified resource name contains invalid characters: share names are 3-63 lowercase letters, digits and single hyphens.")
	}
	if _, err := GetShareTx(tx, account, s.Name); err == nil {
		return s, azerr.Conflict("ShareAlreadyExists", "The specified share already exists.")
	}
	if s.Quota == 0 {
		s.Quota = DefaultQuota
	}
	if s.Quota < 1 || s.Quota > DefaultQuota {
		return s, azerr.BadRequest("InvalidHeaderValue", "The share quota must be between 1 and %d GiB.", DefaultQuota)
	}
	if s.AccessTier == "" {
		s.AccessTier = "TransactionOptimized"
	}
	if s.EnabledProtocols == "" {
		s.EnabledProtocols = "SMB"
	}
	s.Created, s.LastModified, s.ETag = now.UTC(), now.UTC(), newETag(now)
	if err := PutShareTx(tx, account, s); err != nil {
		return s, err
	}
	return s, createRootTx(tx, account, s.Name, now)
}

// ListSharesTx returns an account's shares in name order, without their snapshots and
// deleted shares.
func ListSharesTx(tx store.Tx, account string) ([]Share, error) {
	all, err := listAllSharesTx(tx, account)
	out := all[:0]
	for _, s := range all {
		if s.Snapshot == "" && !s.Deleted {
			out = append(out, s)
		}
	}
	return out, err
}

// listAllSharesTx returns an account's shares and share snapshots.
func listAllSharesTx(tx store.Tx, account string) ([]Share, error) {
	items, err := tx.List(colShares, accountKey(account)+"/")
	if err != nil {
		return nil, err
	}
	out := make([]Share, 0, len(items))
	for _, it := range items {
		var s Share
		if err := json.Unmarshal(it.Value, &s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// DeleteShareTx removes a share with all its directories, files and permissions.
func DeleteShareTx(tx store.Tx, account, share string) error {
	if _, err := GetShareTx(tx, account, share); err != nil {
		return err
	}
	if err := deleteUnderTx(tx, shareKey(account, share)+"/", colNodes, colChunks, colPermissions, colCounters, colGarbage); err != nil {
		return err
	}
	return tx.Delete(colShares, shareKey(account, share))
}

func newETag(t time.Time) string { return fmt.Sprintf("\"0x%X\"", t.UnixNano()) }

var _ = http.StatusOK
