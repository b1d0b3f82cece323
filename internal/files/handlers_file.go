package files

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/encryption"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

// MaxFileSize is the largest file Azure Files holds (4 TiB).
const MaxFileSize = 4 << 40

// parseFileSize reads x-ms-content-length: a number (400 InvalidHeaderValue otherwise) from
// 0 to 4 TiB (400 OutOfRangeInput otherwise, as Azure answers).
func parseFileSize(v string) (int64, error) {
	size, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, invalidHeader("x-ms-content-length", "is not a number of bytes")
	}
	if size < 0 || size > MaxFileSize {
		e := azerr.BadRequest("OutOfRangeInput", "One of the request inputs is out of range: x-ms-content-length must be from 0 to 4 TiB (%d bytes).", int64(MaxFileSize))
		e.Target = "x-ms-content-length"
		return 0, e
	}
	return size, nil
}

func invalidRange(size int64) error {
	return azerr.New(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The range specified is invalid for the current size of the resource.").
		WithHeader("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
}

// parseRange reads "bytes=start-end" or "bytes=start-" (end = -1 when open).
func parseRange(v string) (start, end int64, err error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !ok {
		return 0, 0, invalidHeader("x-ms-range", "must be bytes=<start>-<end>")
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, invalidHeader("x-ms-range", "must be bytes=<start>-<end>")
	}
	start, err = strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, invalidHeader("x-ms-range", "has an invalid start")
	}
	if b == "" {
		return start, -1, nil
	}
	end, err = strconv.ParseInt(b, 10, 64)
	if err != nil || end < start {
		return 0, 0, invalidHeader("x-ms-range", "has an invalid end")
	}
	return start, end, nil
}

func rangeHeader(h http.Header) string {
	if v := h.Get("x-ms-range"); v != "" {
		return v
	}
	return h.Get("Range")
}

func (q *request) fileHeaders(n Node) {
	nodeHeaders(q.w, n)
	h := q.w.Header()
	h.Set("x-ms-type", "File")
	if n.ContentType != "" { // Create File gives application/octet-stream; Set HTTP headers may clear it
		h.Set("Content-Type", n.ContentType)
	} else {
		h["Content-Type"] = nil // none, and none sniffed from the body by net/http
	}
	for k, v := range map[string]string{"Content-Encoding": n.ContentEncoding, "Content-Language": n.ContentLanguage,
		"Content-Disposition": n.ContentDisposition, "Cache-Control": n.CacheControl} {
		if v != "" {
			h.Set(k, v)
		}
	}
	if len(n.ContentMD5) > 0 {
		h.Set("Content-MD5", base64.StdEncoding.EncodeToString(n.ContentMD5))
	}
	if c := n.Copy; c != nil {
		h.Set("x-ms-copy-id", c.ID)
		h.Set("x-ms-copy-source", c.Source)
		h.Set("x-ms-copy-status", c.Status)
		h.Set("x-ms-copy-progress", c.Progress)
		h.Set("x-ms-copy-completion-time", c.Completed.Format(http.TimeFormat))
	}
	writeMetadata(q.w, n.Metadata)
	leaseHeaders(q.w, n.Lease)
}

// fileHTTPHeaders applies x-ms-content-* and x-ms-cache-control, and x-ms-content-length
// (a resize), on create or set properties.
func (q *request) fileHTTPHeaders(tx store.Tx, n *Node) error {
	h := q.r.Header
	// Set File Properties replaces them all: one not given is cleared (as in Azure).
	setting := q.q("comp") == "properties"
	for hdr, field := range map[string]*string{"x-ms-content-type": &n.ContentType, "x-ms-content-encoding": &n.ContentEncoding,
		"x-ms-content-language": &n.ContentLanguage, "x-ms-content-disposition": &n.ContentDisposition, "x-ms-cache-control": &n.CacheControl} {
		if _, ok := h[http.CanonicalHeaderKey(hdr)]; ok || setting {
			*field = h.Get(hdr)
		}
	}
	if setting {
		n.ContentMD5 = nil
	}
	if v := h.Get("x-ms-content-md5"); v != "" {
		// Stored as given: Azure keeps the file's Content-MD5 property whatever its length.
		md, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return invalidHeader("x-ms-content-md5", "is not base64")
		}
		n.ContentMD5 = md
	}
	if v := h.Get("x-ms-content-length"); v != "" && q.q("comp") == "properties" {
		size, err := parseFileSize(v)
		if err != nil {
			return err
		}
		if err := q.resize(tx, n, size); err != nil {
			return err
		}
	}
	return nil
}

// resize changes a file's size, keeping the share within its quota.
func (q *request) resize(tx store.Tx, n *Node, size int64) error {
	return q.svc.resizeTx(q.ctx, tx, q.account, q.share, n, size)
}

// resizeTx sets a file's size within the share's quota, dropping content past a new end.
func (svc *Service) resizeTx(ctx context.Context, tx store.Tx, a Account, share string, n *Node, size int64) error {
	s, err := GetShareTx(tx, a.Name, share)
	if err != nil {
		return err
	}
	return svc.resizeInShareTx(ctx, tx, a, s, n, size)
}

// resizeInShareTx is resizeTx for the share s, read in the same transaction.
func (svc *Service) resizeInShareTx(ctx context.Context, tx store.Tx, a Account, s Share, n *Node, size int64) error {
	share := s.Name
	used := s.UsedBytes - n.Size + size
	if used > int64(s.Quota)<<30 {
		return azerr.New(http.StatusRequestEntityTooLarge, "ShareSizeLimitReached", "The file size would take the share over its quota of %d GiB.", s.Quota)
	}
	if size < n.Size {
		c, err := svc.fileCipher(ctx, a, share, *n)
		if err != nil {
			return err
		}
		if err := truncateTx(tx, c, a.Name, share, n, size); err != nil {
			return err
		}
	}
	n.Size, s.UsedBytes = size, used
	return PutShareTx(tx, a.Name, s)
}

func (q *request) serveFile() error {
	m, comp := q.r.Method, q.q("comp")
	if m != http.MethodDelete {
		if err := q.requireKey(); err != nil {
			return err
		}
	}
	switch {
	case comp == "" && m == http.MethodPut && q.r.Header.Get("x-ms-copy-source") != "":
		return q.copyFile()
	case comp == "" && m == http.MethodPut:
		return q.createFile()
	case comp == "range" && m == http.MethodPut && q.r.Header.Get("x-ms-copy-source") != "":
		return q.putRangeFromURL()
	case comp == "range" && m == http.MethodPut:
		return q.putRange()
	case comp == "rangelist" && m == http.MethodGet:
		return q.listRanges()
	case comp == "" && m == http.MethodGet:
		return q.getFile()
	case comp == "" && m == http.MethodHead:
		n, err := q.viewNode(false)
		if err != nil {
			return err
		}
		if err := q.leaseFor(n, false); err != nil {
			return err
		}
		if _, err := q.cipher(n); err != nil { // the account's key must be usable to read
			return err
		}
		q.fileHeaders(n)
		q.w.Header().Set("Content-Length", strconv.FormatInt(n.Size, 10))
		q.w.WriteHeader(http.StatusOK)
		return nil
	case comp == "" && m == http.MethodDelete:
		err := q.svc.st.Update(q.ctx, func(tx store.Tx) error {
			n, err := q.loadNode(tx, false)
			if err != nil {
				return err
			}
			if err := q.leaseFor(n, true); err != nil {
				return err
			}
			return removeFileTx(tx, q.account.Name, q.share, n)
		})
		if err != nil {
			return err
		}
		q.w.WriteHeader(http.StatusAccepted)
		return nil
	case comp == "metadata" && m == http.MethodGet:
		n, err := q.viewNode(false)
		if err != nil {
			return err
		}
		nodeHeaders(q.w, n)
		writeMetadata(q.w, n.Metadata)
		q.w.WriteHeader(http.StatusOK)
		return nil
	case (comp == "metadata" || comp == "properties") && m == http.MethodPut:
		if _, err := q.svc.dataKey(q.ctx, q.account); err != nil {
			return err
		}
		return q.updateNode(false, comp)
	case comp == "rename" && m == http.MethodPut:
		return q.rename(false)
	case comp == "lease" && m == http.MethodPut:
		return q.leaseFile()
	case comp == "copy" && m == http.MethodPut:
		return q.abortCopy()
	case comp == "listhandles" && m == http.MethodGet:
		return q.handles(true)
	case comp == "forceclosehandles" && m == http.MethodPut:
		return q.handles(false)
	}
	return azerr.BadRequest("UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb (%s with comp=%s).", m, comp)
}

func (q *request) createFile() error {
	if !strings.EqualFold(q.r.Header.Get("x-ms-type"), "file") {
		return missingHeader("x-ms-type")
	}
	v := q.r.Header.Get("x-ms-content-length")
	if v == "" {
		return missingHeader("x-ms-content-length")
	}
	size, err := parseFileSize(v)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(q.r.Body, MaxRange+1))
	if err != nil {
		return err
	}
	if len(body) > MaxRange || int64(len(body)) > size {
		return azerr.New(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The request body is too large: at most 4 MiB, and no more than x-ms-content-length.")
	}
	if len(body) > 0 {
		if err := checkBodyMD5(q.r.Header, body); err != nil {
			return err
		}
	}
	if _, err := q.svc.dataKey(q.ctx, q.account); err != nil {
		return err
	}
	var n Node
	err = q.svc.st.Update(q.ctx, func(tx store.Tx) error {
		sh, parent, err := q.loadShareAndParent(tx)
		if err != nil {
			return err
		}
		replaced := false
		if old, err := getNodeTx(tx, q.account.Name, q.share, q.path); err == nil {
			if old.Dir {
				return azerr.Conflict("ResourceTypeMismatch", "The specified resource type does not match the type of the existing resource (a directory of this name exists).")
			}
			if err := q.leaseFor(old, true); err != nil {
				return err
			}
			// Create over an existing file replaces it (a new, empty generation).
			if err := removeFileTx(tx, q.account.Name, q.share, old); err != nil {
				return err
			}
			replaced = true
		}
		if n, err = q.newNode(tx, parent, false); err != nil {
			return err
		}
		if err := q.propertySemantics(&n); err != nil {
			return err
		}
		n.ContentType = "application/octet-stream" // Azure's default when x-ms-content-type is not given
		if err := q.fileHTTPHeaders(tx, &n); err != nil {
			return err
		}
		if replaced { // the share's usage changed: read it again
			err = q.resize(tx, &n, size)
		} else {
			err = q.svc.resizeInShareTx(q.ctx, tx, q.account, sh, &n, size)
		}
		if err != nil {
			return err
		}
		if len(body) > 0 {
			c, err := q.cipher(n)
			if err != nil {
				return err
			}
			if err := writeRangeTx(tx, c, q.account.Name, q.share, &n, 0, body); err != nil {
				return err
			}
			n.Ranges = addRange(n.Ranges, 0, int64(len(body)))
		}
		return putNodeTx(tx, q.account.Name, q.share, n)
	})
	if err != nil {
		return err
	}
	nodeHeaders(q.w, n)
	if len(body) > 0 {
		setBodyMD5(q.w.Header(), body)
	}
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

func (q *request) putRange() error {
	rh := rangeHeader(q.r.Header)
	if rh == "" {
		return missingHeader("x-ms-range")
	}
	start, end, err := parseRange(rh)
	if err != nil {
		return err
	}
	if end < 0 {
		return invalidHeader("x-ms-range", "must give an end for Put Range")
	}
	write := strings.ToLower(q.r.Header.Get("x-ms-write"))
	if write != "update" && write != "clear" {
		return invalidHeader("x-ms-write", "must be update or clear")
	}
	length := end - start + 1
	var body []byte
	if write == "update" {
		if length > MaxRange {
			return azerr.New(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit (4 MiB per range).")
		}
		if q.r.ContentLength != length {
			return invalidHeader("Content-Length", "must equal the length of x-ms-range ("+strconv.FormatInt(length, 10)+")")
		}
		buf := getRangeBuf(length)
		defer putRangeBuf(buf)
		body = *buf
		if _, err := io.ReadFull(q.r.Body, body); err != nil {
			return azerr.BadRequest("InvalidInput", "The request body is shorter than Content-Length.")
		}
		if err := checkBodyMD5(q.r.Header, body); err != nil {
			return err
		}
	} else if q.r.ContentLength > 0 {
		return invalidHeader("Content-Length", "must be 0 for x-ms-write: clear")
	}
	var n Node
	err = q.svc.st.Update(q.ctx, func(tx store.Tx) error {
		var err error
		n, err = q.putRangeTx(tx, start, end, body)
		return err
	})
	if err != nil {
		return err
	}
	nodeHeaders(q.w, n)
	if body != nil {
		setBodyMD5(q.w.Header(), body) // the MD5 of what was stored, asked for or not
	}
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

// checkBodyMD5 refuses a body whose transactional Content-MD5 does not match it.
func checkBodyMD5(h http.Header, body []byte) error {
	v := h.Get("Content-MD5")
	if v == "" {
		return nil
	}
	sum := md5.Sum(body)
	if base64.StdEncoding.EncodeToString(sum[:]) != v {
		return azerr.BadRequest("Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 value calculated by the server.")
	}
	return nil
}

// setBodyMD5 answers the MD5 of the body the service stored.
func setBodyMD5(h http.Header, body []byte) {
	sum := md5.Sum(body)
	h.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
}

func (q *request) listRanges() error {
	if q.q("prevsharesnapshot") != "" {
		return q.listRangeDiff()
	}
	n, err := q.viewNode(false)
	if err != nil {
		return err
	}
	lo, hi := int64(0), n.Size
	if rh := rangeHeader(q.r.Header); rh != "" {
		s, e, err := parseRange(rh)
		if err != nil {
			return err
		}
		lo = s
		if e >= 0 && e+1 < hi {
			hi = e + 1
		}
	}
	type xr struct {
		Start int64 `xml:"Start"`
		End   int64 `xml:"End"`
	}
	var out []xr
	for _, r := range n.Ranges {
		s, e := max(r[0], lo), min(r[1], hi)
		if s < e {
			out = append(out, xr{s, e - 1})
		}
	}
	nodeHeaders(q.w, n)
	q.w.Header().Set("x-ms-content-length", strconv.FormatInt(n.Size, 10))
	return writeXML(q.w, struct {
		XMLName xml.Name `xml:"Ranges"`
		Ranges  []xr     `xml:"Range"`
	}{Ranges: out})
}

func (q *request) getFile() error {
	var n Node
	rh := rangeHeader(q.r.Header)
	status := http.StatusOK
	var start, end int64
	var body []byte // the whole response when it fits in one window, read in the same snapshot
	rangeMD5 := rh != "" && strings.EqualFold(q.r.Header.Get("x-ms-range-get-content-md5"), "true")
	var pooled *[]byte // body's buffer, returned to the pool once written
	defer func() {
		if pooled != nil {
			putRangeBuf(pooled)
		}
	}()
	err := q.svc.st.View(q.ctx, func(tx store.Tx) error {
		var err error
		if n, err = q.loadNode(tx, false); err != nil {
			return err
		}
		if err := q.leaseFor(n, false); err != nil {
			return err
		}
		start, end = 0, n.Size-1
		if rh != "" {
			s, e, err := parseRange(rh)
			if err != nil {
				return err
			}
			if s >= n.Size {
				return invalidRange(n.Size)
			}
			if e < 0 || e >= n.Size {
				e = n.Size - 1
			}
			start, end, status = s, e, http.StatusPartialContent
		}
		c, err := q.cipher(n) // the account's key must be usable to read
		if err == nil && rangeMD5 && end-start+1 > MaxRange {
			return invalidHeader("x-ms-range-get-content-md5", "needs a range of at most 4 MiB")
		}
		if err != nil || end < start || end-start+1 > streamWindow {
			return err
		}
		buf := getRangeBuf(end - start + 1)
		pooled = buf
		body = *buf
		return readIntoTx(tx, c, q.account.Name, q.share, n, start, body)
	})
	if err != nil {
		return err
	}
	q.fileHeaders(n)
	q.w.Header().Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	q.w.Header().Set("Accept-Ranges", "bytes")
	if status == http.StatusPartialContent {
		q.w.Header().Set("Content-Range", "bytes "+strconv.FormatInt(start, 10)+"-"+strconv.FormatInt(end, 10)+"/"+strconv.FormatInt(n.Size, 10))
		// A range answers the file's MD5 as x-ms-content-md5, and Content-MD5 only for the
		// range itself when asked (x-ms-range-get-content-md5).
		q.w.Header().Del("Content-MD5")
		if len(n.ContentMD5) > 0 {
			q.w.Header().Set("x-ms-content-md5", base64.StdEncoding.EncodeToString(n.ContentMD5))
		}
		if rangeMD5 && body != nil {
			setBodyMD5(q.w.Header(), body)
		}
	}
	q.w.WriteHeader(status)
	if body != nil {
		_, _ = q.w.Write(body)
		return nil
	}
	q.streamContent(n, start, end+1)
	return nil
}

// streamWindow is how much of a file a GET reads per read transaction and holds in memory.
const streamWindow = MaxRange

// streamContent writes bytes [start, end) of file n a window at a time, whatever the file's
// size: a window with no written byte is zeros, sent without reading the store; any other
// is read in its own short read transaction, which first checks the file is still the one
// the response describes (same id and ETag) and its key still usable. When it is not, or
// the client goes away, the body ends short of its Content-Length: the client sees a broken
// response, never a mix of two versions of the file.
func (q *request) streamContent(n Node, start, end int64) {
	if end <= start {
		return
	}
	pooled := getRangeBuf(min(streamWindow, end-start))
	defer putRangeBuf(pooled)
	buf := *pooled
	for off := start; off < end; {
		w := buf[:min(int64(len(buf)), end-off)]
		if !written(n.Ranges, off, off+int64(len(w))) {
			clear(w)
		} else if err := q.svc.st.View(q.ctx, func(tx store.Tx) error {
			cur, err := getNodeTx(tx, q.account.Name, q.share, q.path)
			if err != nil || cur.ID != n.ID || cur.ETag != n.ETag {
				return errFileChanged
			}
			c, err := q.cipher(cur)
			if err != nil {
				return err
			}
			return readIntoTx(tx, c, q.account.Name, q.share, cur, off, w)
		}); err != nil {
			return
		}
		if _, err := q.w.Write(w); err != nil {
			return
		}
		off += int64(len(w))
	}
}

var errFileChanged = errors.New("the file changed while it was being read")

func (q *request) copyFile() error {
	srcShare, srcPath, srcSAS, err := q.sourcePath(copySource, q.r.Header.Get("x-ms-copy-source"))
	if err != nil {
		return err
	}
	if err := q.authorizeSource(copySource, srcShare, srcPath, srcSAS); err != nil {
		return err
	}
	// Authorized at the share; read from the snapshot the URL names, if it names one.
	if srcShare, err = sourceSnapshot(srcShare, srcSAS); err != nil {
		return err
	}
	if _, err := q.svc.dataKey(q.ctx, q.account); err != nil {
		return err
	}
	h := q.r.Header
	mode := strings.ToLower(h.Get("x-ms-file-permission-copy-mode"))
	switch {
	case mode != "" && mode != "source" && mode != "override":
		return invalidHeader("x-ms-file-permission-copy-mode", "must be source or override")
	case mode == "override" && h.Get("x-ms-file-permission") == "" && h.Get("x-ms-file-permission-key") == "":
		return missingHeader("x-ms-file-permission")
	case mode != "override" && (h.Get("x-ms-file-permission") != "" || h.Get("x-ms-file-permission-key") != ""):
		return invalidHeader("x-ms-file-permission-copy-mode", "must be override when a permission is given")
	}
	ignoreReadOnly, setArchive := strings.EqualFold(h.Get("x-ms-file-copy-ignore-readonly"), "true"), strings.EqualFold(h.Get("x-ms-file-copy-set-archive"), "true")
	var n Node
	err = q.svc.st.Update(q.ctx, func(tx store.Tx) error {
		if _, err := GetShareTx(tx, q.account.Name, srcShare); err != nil {
			return err
		}
		src, err := getNodeTx(tx, q.account.Name, srcShare, srcPath)
		if err != nil {
			return err // 404 ResourceNotFound
		}
		if src.Dir {
			return azerr.Conflict("ResourceTypeMismatch", "The copy source is a directory, not a file.")
		}
		parent, err := q.loadParent(tx)
		if err != nil {
			return err
		}
		if old, err := getNodeTx(tx, q.account.Name, q.share, q.path); err == nil {
			if old.Dir {
				return azerr.Conflict("ResourceTypeMismatch", "The destination is a directory.")
			}
			if old.readOnly() && !ignoreReadOnly {
				return errReadOnly()
			}
			if err := q.leaseFor(old, true); err != nil {
				return err
			}
			if err := removeFileTx(tx, q.account.Name, q.share, old); err != nil {
				return err
			}
		}
		// The SMB properties given as "source" are the source file's.
		q.r.Header = h.Clone()
		defer func() { q.r.Header = h }()
		for hdr, v := range map[string]string{"x-ms-file-attributes": src.Attributes, "x-ms-file-creation-time": fileTime(src.CreationTime),
			"x-ms-file-last-write-time": fileTime(src.LastWriteTime), "x-ms-file-change-time": fileTime(src.ChangeTime)} {
			if strings.EqualFold(h.Get(hdr), "source") {
				q.r.Header.Set(hdr, v)
			}
		}
		if n, err = q.newNode(tx, parent, false); err != nil {
			return err
		}
		if setArchive && !strings.Contains(n.Attributes, "Archive") {
			n.Attributes += " | Archive"
		}
		n.ContentType, n.ContentEncoding, n.ContentLanguage, n.ContentDisposition, n.CacheControl, n.ContentMD5 =
			src.ContentType, src.ContentEncoding, src.ContentLanguage, src.ContentDisposition, src.CacheControl, src.ContentMD5
		if n.Metadata == nil {
			n.Metadata = src.Metadata
		}
		if mode == "source" {
			n.PermissionKey = src.PermissionKey
		}
		if err := q.resize(tx, &n, src.Size); err != nil {
			return err
		}
		sc, err := encryptionFor(q, srcShare, src)
		if err != nil {
			return err
		}
		dc, err := q.cipher(n)
		if err != nil {
			return err
		}
		for _, r := range src.Ranges {
			for off := r[0]; off < r[1]; off += MaxRange {
				to := min(off+MaxRange, r[1])
				data, err := readRangeTx(tx, sc, q.account.Name, srcShare, src, off, to)
				if err != nil {
					return err
				}
				if err := writeRangeTx(tx, dc, q.account.Name, q.share, &n, off, data); err != nil {
					return err
				}
			}
		}
		n.Ranges = append([][2]int64(nil), src.Ranges...)
		// The copy finishes within the request: reported as done, with its id and source.
		n.Copy = &CopyInfo{ID: uuid.NewString(), Source: h.Get("x-ms-copy-source"), Status: "success",
			Progress: strconv.FormatInt(src.Size, 10) + "/" + strconv.FormatInt(src.Size, 10), Completed: q.svc.now().UTC()}
		return putNodeTx(tx, q.account.Name, q.share, n)
	})
	if err != nil {
		return err
	}
	nodeHeaders(q.w, n)
	q.w.Header().Set("x-ms-copy-id", n.Copy.ID)
	q.w.Header().Set("x-ms-copy-status", n.Copy.Status)
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

func encryptionFor(q *request, share string, n Node) (*encryption.FileCipher, error) {
	sub := *q
	sub.share = share
	return sub.cipher(n)
}

// rename moves a file or directory (with everything under it) within the share.
func (q *request) rename(dir bool) error {
	raw := q.r.Header.Get("x-ms-file-rename-source")
	if raw == "" {
		return missingHeader("x-ms-file-rename-source")
	}
	srcShare, srcPath, srcSAS, err := q.sourcePath(renameSource, raw)
	if err != nil {
		return err
	}
	if srcSAS.Get("sharesnapshot") != "" {
		return errSnapshotOperation() // nothing moves out of a snapshot
	}
	if !strings.EqualFold(srcShare, q.share) {
		return azerr.BadRequest("InvalidInput", "A rename stays within its share.")
	}
	if err := q.authorizeSource(renameSource, srcShare, srcPath, srcSAS); err != nil {
		return err
	}
	replace := strings.EqualFold(q.r.Header.Get("x-ms-file-rename-replace-if-exists"), "true")
	var n Node
	err = q.svc.st.Update(q.ctx, func(tx store.Tx) error {
		src, err := getNodeTx(tx, q.account.Name, q.share, srcPath)
		if err != nil {
			return err
		}
		if src.Dir != dir {
			return azerr.Conflict("ResourceTypeMismatch", "The rename source is not a %s.", map[bool]string{true: "directory", false: "file"}[dir])
		}
		if !src.Dir {
			if err := checkLease(src, q.r.Header.Get("x-ms-source-lease-id"), true); err != nil {
				return err
			}
		}
		parent, err := q.loadParent(tx)
		if err != nil {
			return err
		}
		if dir && strings.HasPrefix(strings.ToLower(q.path)+"/", strings.ToLower(src.Path)+"/") {
			return azerr.BadRequest("InvalidInput", "A directory cannot be moved into itself.")
		}
		if old, err := getNodeTx(tx, q.account.Name, q.share, q.path); err == nil && !strings.EqualFold(old.Path, src.Path) {
			if !replace || old.Dir {
				return azerr.Conflict("ResourceAlreadyExists", "The specified resource already exists: set x-ms-file-rename-replace-if-exists to replace a file.")
			}
			if old.readOnly() && !strings.EqualFold(q.r.Header.Get("x-ms-file-rename-ignore-readonly"), "true") {
				return errReadOnly()
			}
			if err := checkLease(old, q.r.Header.Get("x-ms-destination-lease-id"), true); err != nil {
				return err
			}
			if err := removeFileTx(tx, q.account.Name, q.share, old); err != nil {
				return err
			}
		}
		if n, err = moveNodeTx(tx, q.account.Name, q.share, src, q.path, parent.ID, q.svc.now().UTC()); err != nil {
			return err
		}
		return q.renameProperties(tx, &n, dir)
	})
	if err != nil {
		return err
	}
	nodeHeaders(q.w, n)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// moveNodeTx moves src (and, for a directory, every node under it) to path, under the
// directory with id parentID, and returns it as moved.
func moveNodeTx(tx store.Tx, account, share string, src Node, path string, parentID uint64, now time.Time) (Node, error) {
	moves := []Node{src}
	if src.Dir {
		items, err := tx.List(colNodes, nodeKey(account, share, src.Path)+"/")
		if err != nil {
			return Node{}, err
		}
		for _, it := range items {
			var c Node
			if err := jsonUnmarshal(it.Value, &c); err != nil {
				return Node{}, err
			}
			moves = append(moves, c)
		}
	}
	for _, m := range moves {
		if err := tx.Delete(colNodes, nodeKey(account, share, m.Path)); err != nil {
			return Node{}, err
		}
	}
	var moved Node
	for i, m := range moves {
		m.Path = path + m.Path[len(src.Path):]
		if i == 0 {
			m.ParentID, m.ChangeTime = parentID, now
			moved = m
		}
		if err := putNodeTx(tx, account, share, m); err != nil {
			return Node{}, err
		}
	}
	return moved, nil
}

// removeFileTx deletes a file: its content, its node, and its share of the quota.
func removeFileTx(tx store.Tx, account, share string, n Node) error {
	s, err := GetShareTx(tx, account, share)
	if err != nil {
		return err
	}
	s.UsedBytes -= n.Size
	if err := PutShareTx(tx, account, s); err != nil {
		return err
	}
	if err := deleteContentTx(tx, account, share, n); err != nil {
		return err
	}
	return tx.Delete(colNodes, nodeKey(account, share, n.Path))
}

// propertySemantics applies x-ms-file-property-semantics to a new file: New (the default)
// adds the Archive attribute, as Windows does on create; Restore, given a permission, keeps
// the attributes exactly as sent (None when none).
func (q *request) propertySemantics(n *Node) error {
	h := q.r.Header
	switch v := strings.ToLower(h.Get("x-ms-file-property-semantics")); v {
	case "", "new":
	case "restore":
		if h.Get("x-ms-file-permission") != "" || h.Get("x-ms-file-permission-key") != "" {
			if a := h.Get("x-ms-file-attributes"); a == "" || strings.EqualFold(a, "none") {
				n.Attributes = "None"
			}
			return nil
		}
	default:
		return invalidHeader("x-ms-file-property-semantics", "must be New or Restore")
	}
	if !strings.Contains(n.Attributes, "Archive") {
		n.Attributes += " | Archive"
	}
	return nil
}

// renameProperties applies what a rename may set on the moved file or directory: SMB
// properties, a permission, metadata and (files) a content type; what is not given stays.
func (q *request) renameProperties(tx store.Tx, n *Node, dir bool) error {
	h := q.r.Header
	if err := smbProperties(h, n, dir); err != nil {
		return err
	}
	key, err := permissionFor(tx, h, q.account.Name, q.share)
	if err != nil {
		return err
	}
	if key != "" {
		n.PermissionKey = key
	}
	meta, err := metadataFrom(h)
	if err != nil {
		return err
	}
	if len(meta) > 0 {
		n.Metadata = meta
	}
	if ct := h.Get("x-ms-content-type"); ct != "" && !dir {
		n.ContentType = ct
	}
	return putNodeTx(tx, q.account.Name, q.share, *n)
}

// abortCopy serves Abort Copy File: copies finish within their request here, so the one a
// file records is never pending (409 NoPendingCopyOperation); an id it does not record is
// 400 InvalidQueryParameterValue.
func (q *request) abortCopy() error {
	if !strings.EqualFold(q.r.Header.Get("x-ms-copy-action"), "abort") {
		return invalidHeader("x-ms-copy-action", "must be abort")
	}
	id := q.q("copyid")
	if id == "" {
		return azerr.BadRequest("MissingRequiredQueryParameter", "A query parameter that's mandatory for this request is not specified: copyid.")
	}
	if _, err := uuid.Parse(id); err != nil {
		return azerr.BadRequest("InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid: copyid '%s' is not a copy id.", id)
	}
	n, err := q.viewNode(false)
	if err != nil {
		return err
	}
	if err := q.leaseFor(n, true); err != nil {
		return err
	}
	if n.Copy == nil || !strings.EqualFold(n.Copy.ID, id) {
		return azerr.BadRequest("InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid: copyid '%s' names no copy of this file.", id)
	}
	return azerr.Conflict("NoPendingCopyOperation", "There is currently no pending copy operation.")
}

// putRangeTx writes data at [start, end] of the request's file (clears it when data is nil)
// and stamps the file as changed, within its size and its lease.
func (q *request) putRangeTx(tx store.Tx, start, end int64, data []byte) (Node, error) {
	n, err := q.loadNode(tx, false)
	if err != nil {
		return n, err
	}
	if err := q.leaseFor(n, true); err != nil {
		return n, err
	}
	if end >= n.Size {
		return n, invalidRange(n.Size)
	}
	c, err := q.cipher(n)
	if err != nil {
		return n, err
	}
	if data != nil {
		if err := writeRangeTx(tx, c, q.account.Name, q.share, &n, start, data); err != nil {
			return n, err
		}
		n.Ranges = addRange(n.Ranges, start, end+1)
	} else if err := clearRangeTx(tx, c, q.account.Name, q.share, &n, start, end+1); err != nil {
		return n, err
	}
	now := q.svc.now().UTC()
	n.LastModified, n.ETag, n.ChangeTime, n.Copy = now, newETag(now), now, nil
	if !strings.EqualFold(q.r.Header.Get("x-ms-file-last-write-time"), "preserve") {
		n.LastWriteTime = now
	}
	return n, putNodeTx(tx, q.account.Name, q.share, n)
}

// rangeBufs are the 4 MiB buffers a Put Range reads its body into and a GET reads a window
// into: reused, so a large file moving in many ranges costs the server a few buffers per
// request in flight rather than new garbage for each (issue 14).
var rangeBufs = sync.Pool{New: func() any { b := make([]byte, MaxRange); return &b }}

// getRangeBuf is a pooled buffer of n bytes (n <= MaxRange).
func getRangeBuf(n int64) *[]byte {
	b := rangeBufs.Get().(*[]byte)
	*b = (*b)[:n]
	return b
}

func putRangeBuf(b *[]byte) {
	*b = (*b)[:cap(*b)]
	rangeBufs.Put(b)
}
