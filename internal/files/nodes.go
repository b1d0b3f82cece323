package files

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Node is a directory or a file of a share. Names are case-preserving and looked up
// case-insensitively, as in Azure Files.
type Node struct {
	Path     string `json:"path"` // relative to the share root, '/'-separated; "" for the root
	Dir      bool   `json:"dir"`
	ID       uint64 `json:"id"`
	ParentID uint64 `json:"parentId"`
	// Size, Ranges and Generation are for files: Ranges are the written [start, end) byte
	// ranges, merged; Generation changes whenever the file is (re)created, and is bound into
	// every chunk's associated data.
	Size       int64      `json:"size"`
	Ranges     [][2]int64 `json:"ranges,omitempty"`
	Generation uint64     `json:"generation"`
	// Content counts the writes of the file's stored chunks: with ID, Generation, Size and
	// Ranges it tells whether bytes read earlier are still the file's (ReadWindow).
	Content  uint64            `json:"content,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	// HTTP headers of a file.
	ContentType        string `json:"contentType,omitempty"`
	ContentEncoding    string `json:"contentEncoding,omitempty"`
	ContentLanguage    string `json:"contentLanguage,omitempty"`
	ContentDisposition string `json:"contentDisposition,omitempty"`
	CacheControl       string `json:"cacheControl,omitempty"`
	ContentMD5         []byte `json:"contentMD5,omitempty"`
	// SMB properties.
	Attributes    string    `json:"attributes"`
	CreationTime  time.Time `json:"creationTime"`
	LastWriteTime time.Time `json:"lastWriteTime"`
	ChangeTime    time.Time `json:"changeTime"`
	PermissionKey string    `json:"permissionKey"`
	LastModified  time.Time `json:"lastModified"`
	ETag          string    `json:"etag"`
	// Copy is the Copy File that made the file, until the file is changed.
	Copy *CopyInfo `json:"copy,omitempty"`
	// Lease is the file's lease (Lease File), nil when it has none.
	Lease *Lease `json:"lease,omitempty"`
}

// CopyInfo is what Get File Properties reports of the Copy File that made a file.
type CopyInfo struct {
	ID        string    `json:"id"`
	Source    string    `json:"source"`
	Status    string    `json:"status"`
	Progress  string    `json:"progress"`
	Completed time.Time `json:"completed"`
}

// readOnly tells whether a node carries the ReadOnly attribute.
func (n Node) readOnly() bool {
	for _, a := range strings.Split(n.Attributes, "|") {
		if strings.EqualFold(strings.TrimSpace(a), "ReadOnly") {
			return true
		}
	}
	return false
}

func errReadOnly() error {
	return azerr.Conflict("ReadOnlyAttribute", "The specified resource is read-only and cannot be modified at this time.")
}

// Name is the last path segment.
func (n Node) Name() string { return n.Path[strings.LastIndex(n.Path, "/")+1:] }

// RootID is the file id of every share's root directory.
const RootID = 0

func nodeKey(account, share, path string) string {
	return shareKey(account, share) + "/" + strings.ToLower(path)
}

func errNotFound() error {
	return azerr.NotFound("ResourceNotFound", "The specified resource does not exist.")
}
func errParentNotFound() error {
	return azerr.NotFound("ParentNotFound", "The specified parent path does not exist.")
}

// getNodeTx loads a node.
func getNodeTx(tx store.Tx, account, share, path string) (Node, error) {
	var n Node
	b, err := tx.Get(colNodes, nodeKey(account, share, path))
	if errors.Is(err, store.ErrNotFound) {
		return n, errNotFound()
	}
	if err != nil {
		return n, err
	}
	return n, json.Unmarshal(b, &n)
}

func putNodeTx(tx store.Tx, account, share string, n Node) error {
	b, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("encode node: %w", err)
	}
	return tx.Put(colNodes, nodeKey(account, share, n.Path), b)
}

// nextID allocates a file id in the share.
func nextID(tx store.Tx, account, share string) (uint64, error) {
	k := shareKey(account, share) + "/ids"
	var n uint64 = 1 << 63
	b, err := tx.Get(colCounters, k)
	if err == nil && len(b) == 8 {
		n = binary.BigEndian.Uint64(b)
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	n++
	return n, tx.Put(colCounters, k, binary.BigEndian.AppendUint64(nil, n))
}

func createRootTx(tx store.Tx, account, share string, now time.Time) error {
	key, err := putPermissionTx(tx, account, share, DefaultRootSDDL)
	if err != nil {
		return err
	}
	now = now.UTC()
	return putNodeTx(tx, account, share, Node{Path: "", Dir: true, ID: RootID, Attributes: "Directory",
		CreationTime: now, LastWriteTime: now, ChangeTime: now, LastModified: now, ETag: newETag(now), PermissionKey: key})
}

// children returns the direct children of a directory, in case-insensitive name order.
func childrenTx(tx store.Tx, account, share, dir string) ([]Node, error) {
	prefix := shareKey(account, share) + "/"
	if dir != "" {
		prefix += strings.ToLower(dir) + "/"
	}
	items, err := tx.List(colNodes, prefix)
	if err != nil {
		return nil, err
	}
	var out []Node
	for _, it := range items {
		rest := it.Key[len(prefix):]
		if rest == "" || strings.Contains(rest, "/") {
			continue
		}
		var n Node
		if err := json.Unmarshal(it.Value, &n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// hasChildrenTx reports whether a directory has any entry.
func hasChildrenTx(tx store.Tx, account, share, dir string) (bool, error) {
	kids, err := childrenTx(tx, account, share, dir)
	return len(kids) > 0, err
}

// parentPath is the path of a node's directory ("" for the root).
func parentPath(p string) string {
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// ValidPath checks a file or directory path: segments of 1-255 characters without the
// characters Azure Files forbids, no "." or ".." segments, at most 2048 characters.
func ValidPath(p string) error {
	if len(p) > 2048 {
		return azerr.BadRequest("InvalidResourceName", "The specified resource name length is not within the permissible limits (2048 characters).")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." || len(seg) > 255 {
			return azerr.BadRequest("InvalidResourceName", "The specified resource name contains invalid characters: empty, '.' or '..' path segments, or a segment over 255 characters.")
		}
		if strings.ContainsAny(seg, "\"\\:|<>*?") {
			return azerr.BadRequest("InvalidResourceName", "The specified resource name contains invalid characters (\" \\ : | < > * ?).")
		}
		for _, r := range seg {
			if r < 0x20 {
				return azerr.BadRequest("InvalidResourceName", "The specified resource name contains invalid characters (control characters).")
			}
		}
	}
	return nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// trimTrailingDots drops the trailing dots of each path segment, as Azure Files does unless
// the request says x-ms-allow-trailing-dot: true (x-ms-source-allow-trailing-dot for a copy
// or rename source). A segment of dots only stays as it was, for ValidPath to refuse.
func trimTrailingDots(p string) string {
	if !strings.Contains(p, ".") {
		return p
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if t := strings.TrimRight(seg, "."); t != "" {
			segs[i] = t
		}
	}
	return strings.Join(segs, "/")
}
