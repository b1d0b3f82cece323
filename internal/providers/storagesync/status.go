package storagesync

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/store"
)

const colStatus = "storagesync.status" // server endpoint Key(id) -> EndpointStatus

// EndpointStatus is what a server's agent last reported of a server endpoint's sync.
type EndpointStatus struct {
	Updated  time.Time   `json:"updated"`
	Upload   SyncSession `json:"upload"`
	Download SyncSession `json:"download"`
	Errors   int         `json:"errors"` // items that do not sync
	Activity string      `json:"activity,omitempty"`
	Pending  int         `json:"pending"`
}

// SyncSession is one direction's last sync session.
type SyncSession struct {
	LastSyncResult            int       `json:"lastSyncResult"` // HRESULT: 0 is success
	LastSyncTimestamp         time.Time `json:"lastSyncTimestamp"`
	LastSyncSuccessTimestamp  time.Time `json:"lastSyncSuccessTimestamp"`
	LastSyncPerItemErrorCount int       `json:"lastSyncPerItemErrorCount"`
	ItemCount                 int       `json:"itemCount"`
}

// PutStatusTx records an agent's report on a server endpoint.
func PutStatusTx(tx store.Tx, endpointID string, st EndpointStatus) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return tx.Put(colStatus, arm.Key(endpointID), b)
}

func getStatusTx(tx store.Tx, endpointID string) (*EndpointStatus, error) {
	b, err := tx.Get(colStatus, arm.Key(endpointID))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st EndpointStatus
	return &st, json.Unmarshal(b, &st)
}

func (st *EndpointStatus) health() string {
	if st == nil {
		return "Unavailable"
	}
	if st.Upload.LastSyncResult != 0 || st.Download.LastSyncResult != 0 {
		return "Error"
	}
	return "Healthy"
}

func (st *EndpointStatus) activity() string {
	if st == nil || st.Activity == "" {
		return ""
	}
	return st.Activity
}

func (st *EndpointStatus) errorCount() int {
	if st == nil {
		return 0
	}
	return st.Errors
}

func (st *EndpointStatus) updated() any {
	if st == nil {
		return nil
	}
	return st.Updated
}

func (st *EndpointStatus) session(upload bool) any {
	if st == nil {
		return map[string]any{}
	}
	s := st.Download
	if upload {
		s = st.Upload
	}
	return s
}
