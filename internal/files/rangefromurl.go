package files

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc64"
	"net/http"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/access"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// Put Range From URL: a range of another file of the account (authorized for the caller,
// or by its own SAS, before it is looked up) written into this one.

// storageCRC64 is the CRC-64 table Azure Storage computes x-ms-content-crc64 with.
var storageCRC64 = crc64.MakeTable(0x9A6C9329AC4BC9B5)

func crc64Header(data []byte) string {
	b := binary.LittleEndian.AppendUint64(nil, crc64.Checksum(data, storageCRC64))
	return base64.StdEncoding.EncodeToString(b)
}

func (q *request) putRangeFromURL() error {
	h := q.r.Header
	if q.r.ContentLength > 0 {
		return invalidHeader("Content-Length", "must be 0: Put Range From URL reads its bytes from x-ms-copy-source")
	}
	if !strings.EqualFold(h.Get("x-ms-write"), "update") {
		return invalidHeader("x-ms-write", "must be update for Put Range From URL")
	}
	rh := rangeHeader(h)
	if rh == "" {
		return missingHeader("x-ms-range")
	}
	start, end, err := parseRange(rh)
	if err != nil {
		return err
	}
	sr := h.Get("x-ms-source-range")
	if sr == "" {
		return missingHeader("x-ms-source-range")
	}
	sStart, sEnd, err := parseRange(sr)
	if err != nil {
		return invalidHeader("x-ms-source-range", "is not a byte range")
	}
	if end < 0 || sEnd < 0 || end-start != sEnd-sStart {
		return invalidHeader("x-ms-source-range", "must be as long as x-ms-range")
	}
	if end-start+1 > MaxRange {
		return azerr.New(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "A range is at most 4 MiB.")
	}
	srcShare, srcPath, srcSAS, err := q.sourcePath(copySource, h.Get("x-ms-copy-source"))
	if err != nil {
		return err
	}
	// Unlike Copy File's, this source is not covered by the request's own credential: it
	// carries its SAS, or x-ms-copy-source-authorization a bearer token of a principal that
	// may read it.
	switch auth := h.Get("x-ms-copy-source-authorization"); {
	case auth != "":
		if err := q.authorizeBearerSource(auth, srcShare); err != nil {
			return err
		}
	case srcSAS.Get("sig") == "":
		return azerr.Forbidden("CannotVerifyCopySource", "This request is not authorized to perform this operation: give x-ms-copy-source a SAS that lets it be read, or x-ms-copy-source-authorization a bearer token.")
	default:
		if err := q.authorizeSource(copySource, srcShare, srcPath, srcSAS); err != nil {
			return err
		}
	}
	if srcShare, err = sourceSnapshot(srcShare, srcSAS); err != nil {
		return err
	}
	var n Node
	var data []byte
	err = q.svc.st.Update(q.ctx, func(tx store.Tx) error {
		src, err := getNodeTx(tx, q.account.Name, srcShare, srcPath)
		if err != nil || src.Dir {
			return azerr.NotFound("CannotVerifyCopySource", "The specified copy source does not exist or is not a file.")
		}
		if sEnd >= src.Size {
			return invalidHeader("x-ms-source-range", "lies beyond the source file's end")
		}
		sc, err := encryptionFor(q, srcShare, src)
		if err != nil {
			return err
		}
		if data, err = readRangeTx(tx, sc, q.account.Name, srcShare, src, sStart, sEnd+1); err != nil {
			return err
		}
		if v := h.Get("x-ms-source-content-crc64"); v != "" && v != crc64Header(data) {
			return azerr.BadRequest("Crc64Mismatch", "The CRC64 value specified in the request did not match with the CRC64 value calculated by the server.")
		}
		n, err = q.putRangeTx(tx, start, end, data)
		return err
	})
	if err != nil {
		return err
	}
	nodeHeaders(q.w, n)
	q.w.Header().Set("x-ms-content-crc64", crc64Header(data))
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

// authorizeBearerSource authorizes a copy source for the principal of the bearer token in
// x-ms-copy-source-authorization ("Bearer <token>", audience Azure Storage): it needs the
// source's read data actions with backup semantics, as OAuth over REST does.
func (q *request) authorizeBearerSource(auth, share string) error {
	scheme, token, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" || q.svc.tokens == nil {
		return invalidHeader("x-ms-copy-source-authorization", "must be 'Bearer <token>'")
	}
	claims, err := q.svc.tokens.Verify(q.ctx, strings.TrimSpace(token), []string{"https://storage.azure.com", "https://" + q.account.Name + DNSSuffix})
	if err != nil {
		return copySource.refuse(err)
	}
	p := access.Principal{ObjectID: claims.ObjectID, Display: claims.AppID, IssuedAt: time.Unix(claims.IssuedAt, 0)}
	if err := q.svc.authorizeData(q.ctx, p, q.account, baseShareName(share), copySource.actions); err != nil {
		return copySource.refuse(err)
	}
	return nil
}
