package files

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// nodeHeaders writes the SMB and HTTP properties every directory and file response carries.
func nodeHeaders(w http.ResponseWriter, n Node) {
	h := w.Header()
	h.Set("ETag", n.ETag)
	h.Set("Last-Modified", n.LastModified.UTC().Format(http.TimeFormat))
	h.Set("x-ms-file-attributes", n.Attributes)
	h.Set("x-ms-file-creation-time", fileTime(n.CreationTime))
	h.Set("x-ms-file-last-write-time", fileTime(n.LastWriteTime))
	h.Set("x-ms-file-change-time", fileTime(n.ChangeTime))
	h.Set("x-ms-file-id", strconv.FormatUint(n.ID, 10))
	h.Set("x-ms-file-parent-id", strconv.FormatUint(n.ParentID, 10))
	h.Set("x-ms-file-permission-key", n.PermissionKey)
	h.Set("x-ms-request-server-encrypted", "true")
	h.Set("x-ms-server-encrypted", "true")
}

// loadShareAndParent checks the share exists and the node's parent is a directory.
func (q *request) loadParent(tx store.Tx) (Node, error) {
	_, parent, err := q.loadShareAndParent(tx)
	return parent, err
}

// loadShareAndParent is loadParent that returns the share too.
func (q *request) loadShareAndParent(tx store.Tx) (Share, Node, error) {
	s, err := GetShareTx(tx, q.account.Name, q.share)
	if err != nil {
		return s, Node{}, err
	}
	parent, err := getNodeTx(tx, q.account.Name, q.share, parentPath(q.path))
	if err != nil || !parent.Dir {
		return s, parent, errParentNotFound()
	}
	return s, parent, nil
}

// smbProperties applies x-ms-file-attributes and the three times to n.
func smbProperties(h http.Header, n *Node, dir bool) error {
	if a := h.Get("x-ms-file-attributes"); a != "" && !strings.EqualFold(a, "preserve") {
		attrs, err := canonicalAttributes(a, dir)
		if err != nil {
			return err
		}
		n.Attributes = attrs
	}
	for _, f := range []struct {
		header string
		t      *timeField
	}{{"x-ms-file-creation-time", &timeField{&n.CreationTime}}, {"x-ms-file-last-write-time", &timeField{&n.LastWriteTime}}, {"x-ms-file-change-time", &timeField{&n.ChangeTime}}} {
		v := h.Get(f.header)
		if v == "" || strings.EqualFold(v, "preserve") || strings.EqualFold(v, "now") {
			continue
		}
		t, err := parseFileTime(v, *f.t.p)
		if err != nil {
			return invalidHeader(f.header, "is not an ISO 8601 time, 'now' or 'preserve'")
		}
		*f.t.p = t
	}
	return nil
}

type timeField struct{ p *time.Time }

var attributeNames = []string{"ReadOnly", "Hidden", "System", "None", "Directory", "Archive", "Temporary", "Offline", "NotContentIndexed", "NoScrubData"}

func canonicalAttributes(v string, dir bool) (string, error) {
	var out []string
	none := false
	for _, part := range strings.Split(v, "|") {
		part = strings.TrimSpace(part)
		found := ""
		for _, a := range attributeNames {
			if strings.EqualFold(a, part) {
				found = a
			}
		}
		if found == "" {
			return "", invalidHeader("x-ms-file-attributes", "'"+part+"' is not a file attribute")
		}
		if found == "Directory" && !dir {
			return "", invalidHeader("x-ms-file-attributes", "a file cannot have the Directory attribute")
		}
		if found != "None" {
			out = append(out, found)
		} else {
			none = true
		}
	}
	if none && len(out) > 0 {
		return "", invalidHeader("x-ms-file-attributes", "None must be used alone")
	}
	if len(out) == 0 {
		if dir {
			return "Directory", nil
		}
		return "Archive", nil
	}
	if dir && !containsStr(out, "Directory") {
		out = append([]string{"Directory"}, out...)
	}
	return strings.Join(out, " | "), nil
}

func containsStr(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// newNode makes a directory or file under parent with the request's properties and
// descriptor (explicit, or inherited from the parent).
func (q *request) newNode(tx store.Tx, parent Node, dir bool) (Node, error) {
	now := q.svc.now().UTC()
	id, err := nextID(tx, q.account.Name, q.share)
	if err != nil {
		return Node{}, err
	}
	attrs := "Archive"
	if dir {
		attrs = "Directory"
	}
	n := Node{Path: q.path, Dir: dir, ID: id, ParentID: parent.ID, Attributes: attrs, Generation: id,
		CreationTime: now, LastWriteTime: now, ChangeTime: now, LastModified: now, ETag: newETag(now)}
	if err := smbProperties(q.r.Header, &n, dir); err != nil {
		return n, err
	}
	if n.Metadata, err = metadataFrom(q.r.Header); err != nil {
		return n, err
	}
	key, err := permissionFor(tx, q.r.Header, q.account.Name, q.share)
	if err != nil {
		return n, err
	}
	if key == "" {
		sddl, err := q.svc.inheritedTx(tx, q.account.Name, q.share, parent.PermissionKey, dir)
		if err != nil {
			return n, err
		}
		if key, err = putPermissionTx(tx, q.account.Name, q.share, sddl); err != nil {
			return n, err
		}
	}
	n.PermissionKey = key
	return n, nil
}

// requireKey checks the account's data key is usable. Under a customer-managed key that was
// revoked, every operation that touches data or metadata fails with 403 (Azure's
// KeyVaultEncryptionKeyNotFound and siblings); deletes and share-level operations do not.
func (q *request) requireKey() error {
	_, err := q.svc.dataKey(q.ctx, q.account)
	return err
}

func (q *request) serveDirectory() error {
	m, comp := q.r.Method, q.q("comp")
	if m != http.MethodDelete {
		if err := q.requireKey(); err != nil {
			return err
		}
	}
	switch {
	case comp == "list" && m == http.MethodGet:
		return q.listDirectory()
	case comp == "listhandles" && m == http.MethodGet:
		return q.handles(true)
	case comp == "forceclosehandles" && m == http.MethodPut:
		return q.handles(false)
	case comp == "" && m == http.MethodPut:
		if q.path == "" {
			return azerr.Conflict("ResourceAlreadyExists", "The specified resource already exists.")
		}
		var n Node
		err := q.svc.st.Update(q.ctx, func(tx store.Tx) error {
			parent, err := q.loadParent(tx)
			if err != nil {
				return err
			}
			if existing, err := getNodeTx(tx, q.account.Name, q.share, q.path); err == nil {
				if existing.Dir {
					return azerr.Conflict("ResourceAlreadyExists", "The specified resource already exists.")
				}
				return azerr.Conflict("ResourceTypeMismatch", "The specified resource type does not match the type of the existing resource (a file of this name exists).")
			}
			if n, err = q.newNode(tx, parent, true); err != nil {
				return err
			}
			return putNodeTx(tx, q.account.Name, q.share, n)
		})
		if err != nil {
			return err
		}
		nodeHeaders(q.w, n)
		q.w.WriteHeader(http.StatusCreated)
		return nil
	case comp == "" && (m == http.MethodGet || m == http.MethodHead):
		n, err := q.viewNode(true)
		if err != nil {
			return err
		}
		nodeHeaders(q.w, n)
		writeMetadata(q.w, n.Metadata)
		q.w.WriteHeader(http.StatusOK)
		return nil
	case comp == "" && m == http.MethodDelete:
		if q.path == "" {
			return azerr.BadRequest("InvalidResourceName", "The root directory of a share cannot be deleted; delete the share.")
		}
		err := q.svc.st.Update(q.ctx, func(tx store.Tx) error {
			n, err := q.loadNode(tx, true)
			if err != nil {
				return err
			}
			if has, err := hasChildrenTx(tx, q.account.Name, q.share, n.Path); err != nil || has {
				if err == nil {
					err = azerr.Conflict("DirectoryNotEmpty", "The specified directory is not empty.")
				}
				return err
			}
			return tx.Delete(colNodes, nodeKey(q.account.Name, q.share, n.Path))
		})
		if err != nil {
			return err
		}
		q.w.WriteHeader(http.StatusAccepted)
		return nil
	case (comp == "metadata" || comp == "properties") && m == http.MethodPut:
		return q.updateNode(true, comp)
	case comp == "rename" && m == http.MethodPut:
		return q.rename(true)
	}
	return azerr.BadRequest("UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb (%s with comp=%s).", m, comp)
}

// loadNode loads the request's node, checking its kind.
func (q *request) loadNode(tx store.Tx, dir bool) (Node, error) {
	if _, err := GetShareTx(tx, q.account.Name, q.share); err != nil {
		return Node{}, err
	}
	n, err := getNodeTx(tx, q.account.Name, q.share, q.path)
	if err != nil {
		if _, perr := getNodeTx(tx, q.account.Name, q.share, parentPath(q.path)); perr != nil && q.path != "" {
			return n, errParentNotFound()
		}
		return n, err
	}
	if n.Dir != dir {
		return n, azerr.Conflict("ResourceTypeMismatch", "The specified resource type does not match the type of the existing resource.")
	}
	return n, nil
}

func (q *request) viewNode(dir bool) (Node, error) {
	var n Node
	err := q.svc.st.View(q.ctx, func(tx store.Tx) error {
		var err error
		n, err = q.loadNode(tx, dir)
		return err
	})
	return n, err
}

// updateNode sets metadata (comp=metadata) or properties (comp=properties) of a node.
func (q *request) updateNode(dir bool, comp string) error {
	var n Node
	err := q.svc.st.Update(q.ctx, func(tx store.Tx) error {
		var err error
		if n, err = q.loadNode(tx, dir); err != nil {
			return err
		}
		if !dir {
			if err := q.leaseFor(n, true); err != nil {
				return err
			}
		}
		if comp == "metadata" {
			if n.Metadata, err = metadataFrom(q.r.Header); err != nil {
				return err
			}
		} else {
			if err := smbProperties(q.r.Header, &n, dir); err != nil {
				return err
			}
			key, err := permissionFor(tx, q.r.Header, q.account.Name, q.share)
			if err != nil {
				return err
			}
			if key != "" {
				n.PermissionKey = key
			}
			if !dir {
				if err := q.fileHTTPHeaders(tx, &n); err != nil {
					return err
				}
				n.Copy = nil // a file changed after a copy no longer reports it
			}
			// The change time is now unless the request gave one (or said preserve).
			if v := q.r.Header.Get("x-ms-file-change-time"); v == "" || strings.EqualFold(v, "now") {
				n.ChangeTime = q.svc.now().UTC()
			}
		}
		now := q.svc.now().UTC()
		n.LastModified, n.ETag = now, newETag(now)
		return putNodeTx(tx, q.account.Name, q.share, n)
	})
	if err != nil {
		return err
	}
	nodeHeaders(q.w, n)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

type entryProps struct {
	ContentLength  *int64 `xml:"Content-Length,omitempty"`
	CreationTime   string `xml:"CreationTime,omitempty"`
	LastAccessTime string `xml:"LastAccessTime,omitempty"`
	LastWriteTime  string `xml:"LastWriteTime,omitempty"`
	ChangeTime     string `xml:"ChangeTime,omitempty"`
	LastModified   string `xml:"Last-Modified,omitempty"`
	Etag           string `xml:"Etag,omitempty"`
}

// xmlName is a name as listings carry it: as is, or percent-encoded with Encoded="true" when
// it holds characters XML cannot carry (U+FFFE, U+FFFF, most control characters).
type xmlName struct {
	Encoded bool   `xml:"Encoded,attr,omitempty"`
	Value   string `xml:",chardata"`
}

func listedName(s string) xmlName {
	for _, r := range s {
		if !xmlChar(r) {
			return xmlName{Encoded: true, Value: url.QueryEscape(s)}
		}
	}
	return xmlName{Value: s}
}

// xmlChar tells whether XML 1.0 can carry r.
func xmlChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// A listing's continuation marker is the next name, kept opaque (base64url) when XML could
// not carry it as is.
const markerPrefix = "b64!"

func encodeMarker(name string) string {
	if n := listedName(name); !n.Encoded {
		return name
	}
	return markerPrefix + base64.RawURLEncoding.EncodeToString([]byte(name))
}

func decodeMarker(m string) string {
	if rest, ok := strings.CutPrefix(m, markerPrefix); ok {
		if b, err := base64.RawURLEncoding.DecodeString(rest); err == nil {
			return string(b)
		}
	}
	return m
}

type entry struct {
	XMLName       xml.Name
	Name          xmlName    `xml:"Name"`
	FileID        string     `xml:"FileId"`
	Properties    entryProps `xml:"Properties"`
	Attributes    string     `xml:"Attributes,omitempty"`
	PermissionKey string     `xml:"PermissionKey,omitempty"`
}

func (q *request) listDirectory() error {
	max, err := maxResults(q)
	if err != nil {
		return err
	}
	var dir Node
	var kids []Node
	err = q.svc.st.View(q.ctx, func(tx store.Tx) error {
		var err error
		if dir, err = q.loadNode(tx, true); err != nil {
			return err
		}
		kids, err = childrenTx(tx, q.account.Name, q.share, dir.Path)
		return err
	})
	if err != nil {
		return err
	}
	sort.Slice(kids, func(i, j int) bool { return kids[i].Name() < kids[j].Name() })
	include := strings.ToLower(q.q("include"))
	extended := include != "" || strings.EqualFold(q.r.Header.Get("x-ms-file-extended-info"), "true")
	prefix, marker := q.q("prefix"), decodeMarker(q.q("marker"))
	var entries []entry
	next := ""
	for _, k := range kids {
		name := k.Name()
		if !strings.HasPrefix(name, prefix) || (marker != "" && name < marker) {
			continue
		}
		if len(entries) == max {
			next = encodeMarker(name)
			break
		}
		e := entry{XMLName: xml.Name{Local: "File"}, Name: listedName(name), FileID: strconv.FormatUint(k.ID, 10)}
		if k.Dir {
			e.XMLName.Local = "Directory"
		} else {
			size := k.Size
			e.Properties.ContentLength = &size
		}
		if strings.Contains(include, "timestamps") || extended {
			e.Properties.CreationTime, e.Properties.LastAccessTime = fileTime(k.CreationTime), fileTime(k.LastWriteTime)
			e.Properties.LastWriteTime, e.Properties.ChangeTime = fileTime(k.LastWriteTime), fileTime(k.ChangeTime)
			e.Properties.LastModified = k.LastModified.UTC().Format(http.TimeFormat)
		}
		if strings.Contains(include, "etag") || extended {
			e.Properties.Etag = k.ETag
		}
		if strings.Contains(include, "attributes") || extended {
			e.Attributes = k.Attributes
		}
		if strings.Contains(include, "permissionkey") || extended {
			e.PermissionKey = k.PermissionKey
		}
		entries = append(entries, e)
	}
	var prefixXML *xmlName
	if prefix != "" {
		n := listedName(prefix)
		prefixXML = &n
	}
	return writeXML(q.w, struct {
		XMLName         xml.Name `xml:"EnumerationResults"`
		ServiceEndpoint string   `xml:"ServiceEndpoint,attr"`
		ShareName       string   `xml:"ShareName,attr"`
		ShareSnapshot   string   `xml:"ShareSnapshot,attr,omitempty"`
		DirectoryPath   string   `xml:"DirectoryPath,attr"`
		Prefix          *xmlName `xml:"Prefix,omitempty"`
		Marker          string   `xml:"Marker,omitempty"`
		MaxResults      string   `xml:"MaxResults,omitempty"`
		DirectoryID     string   `xml:"DirectoryId"`
		Entries         struct {
			Items []entry `xml:",any"`
		} `xml:"Entries"`
		NextMarker string `xml:"NextMarker"`
	}{ServiceEndpoint: q.base + "/", ShareName: baseShareName(q.share), ShareSnapshot: snapshotOf(q.share), DirectoryPath: dir.Path, Prefix: prefixXML, Marker: q.q("marker"),
		MaxResults: q.q("maxresults"), DirectoryID: strconv.FormatUint(dir.ID, 10), Entries: struct {
			Items []entry `xml:",any"`
		}{entries}, NextMarker: next})
}
