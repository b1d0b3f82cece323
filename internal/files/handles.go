package files

import (
	"encoding/xml"
	"net/http"
	"sync/atomic"

	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// List Handles and Force Close Handles. REST requests hold no handles open, so without SMB
// a share has none: the list is empty and closing closes nothing. While Cerulean serves the
// shares over SMB (serve --smb), smbd's open files are handles Cerulean does not list yet:
// these operations answer NotSupported then rather than a list that would leave them out.

// SetSMBServing records whether the shares are being served over SMB.
func (s *Service) SetSMBServing(on bool) { s.smbServing.Store(on) }

type smbFlag = atomic.Bool

func (q *request) handles(list bool) error {
	if q.svc.smbServing.Load() {
		return azerr.BadRequest("NotSupported", "Listing and closing SMB handles is not supported by this version of Cerulean while it serves the shares over SMB.")
	}
	// The object must exist: a file or a directory (clients address both without restype).
	if err := q.svc.st.View(q.ctx, func(tx store.Tx) error {
		if _, err := GetShareTx(tx, q.account.Name, q.share); err != nil {
			return err
		}
		if q.path == "" {
			return nil
		}
		_, err := getNodeTx(tx, q.account.Name, q.share, q.path)
		return err
	}); err != nil {
		return err
	}
	if list {
		return writeXML(q.w, struct {
			XMLName    xml.Name `xml:"EnumerationResults"`
			Entries    struct{} `xml:"Entries"`
			NextMarker string   `xml:"NextMarker"`
		}{})
	}
	if q.r.Header.Get("x-ms-handle-id") == "" {
		return missingHeader("x-ms-handle-id")
	}
	h := q.w.Header()
	h.Set("x-ms-number-of-handles-closed", "0")
	h.Set("x-ms-number-of-handles-failed", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}
