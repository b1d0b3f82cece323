package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azfile/share"
	"github.com/cerulean-azure/cerulean/internal/providers/storagesync"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/store/sqlite"
	"github.com/fsnotify/fsnotify"
)

// Agent runs a registered server: heartbeats, its endpoints' sync, status reports.
type Agent struct {
	State   *State
	Client  *Client
	hc      *http.Client
	mi      azcore.TokenCredential
	journal store.Store
	// Progress, when set, hears each endpoint's progress.
	Progress func(endpoint string, done, total int)
}

// Open opens the agent of the server registered in dir (its journal too).
func Open(ctx context.Context, dir string, hc *http.Client) (*Agent, error) {
	st, err := LoadState(dir)
	if err != nil {
		return nil, err
	}
	j, err := sqlite.Open(ctx, filepath.Join(dir, "journal.db"))
	if err != nil {
		return nil, err
	}
	mi := MachineIdentity(ctx, hc)
	return &Agent{State: st, Client: NewClient(st, hc, mi), hc: pooled(hc), mi: mi, journal: j}, nil
}

// pooled is hc keeping enough idle connections for the sync's workers: Go's default of two
// per host would make most requests a new TLS handshake.
func pooled(hc *http.Client) *http.Client {
	base, ok := hc.Transport.(*http.Transport)
	if hc.Transport == nil {
		base, ok = http.DefaultTransport.(*http.Transport)
	}
	if !ok {
		return hc
	}
	t := base.Clone()
	t.MaxIdleConnsPerHost = 4 * workers
	c := *hc
	c.Transport = t
	return &c
}

// Close closes the journal.
func (a *Agent) Close() error { return a.journal.Close() }

// EndpointStatus is the agent's own record of an endpoint's last sync.
type EndpointStatus struct {
	ID          string    `json:"id"`
	Path        string    `json:"path"`
	Share       string    `json:"share"`
	ShareAuth   string    `json:"shareAuth"`
	LastSync    time.Time `json:"lastSync"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	Result      Result    `json:"result"`
	Error       string    `json:"error,omitempty"`
}

// Status is what 'cerulean agent status' shows.
type Status struct {
	Server        string           `json:"server"`
	ServerID      string           `json:"serverId"`
	AuthType      string           `json:"activeAuthType"`
	LastHeartbeat time.Time        `json:"lastHeartbeat"`
	Endpoints     []EndpointStatus `json:"endpoints"`
	Error         string           `json:"error,omitempty"`
}

const colStatus = "agent.status"

// RunOnce heartbeats, reads the server's configuration and syncs each endpoint once,
// reporting to the service. It returns the status, and an error when the service could not
// be reached (endpoint failures are in the status).
func (a *Agent) RunOnce(ctx context.Context) (Status, error) {
	st := Status{Server: a.State.Name, ServerID: a.State.ServerID}
	prev, _ := a.LastStatus(ctx)
	if err := a.Client.Heartbeat(ctx); err != nil {
		st.Error = err.Error()
		st.Endpoints = prev.Endpoints
		_ = a.saveStatus(ctx, st)
		return st, err
	}
	st.LastHeartbeat = time.Now().UTC()
	cfg, err := a.Client.Config(ctx)
	st.AuthType = a.Client.Mode()
	if err != nil {
		st.Error = err.Error()
		_ = a.saveStatus(ctx, st)
		return st, err
	}
	for _, ep := range cfg.Endpoints {
		es := EndpointStatus{ID: ep.ID, Path: ep.ServerLocalPath, Share: ep.StorageAccount + "/" + ep.Share, ShareAuth: ep.ShareAuth, LastSync: time.Now().UTC()}
		for _, p := range prev.Endpoints {
			if p.ID == ep.ID {
				es.LastSuccess = p.LastSuccess
			}
		}
		res, err := a.syncEndpoint(ctx, ep)
		es.Result = res
		report := storagesync.EndpointStatus{Errors: len(res.Errors), Pending: res.Pending,
			Upload:   storagesync.SyncSession{LastSyncTimestamp: es.LastSync, ItemCount: res.Uploaded + res.DeletedRemote, LastSyncPerItemErrorCount: len(res.Errors)},
			Download: storagesync.SyncSession{LastSyncTimestamp: es.LastSync, ItemCount: res.Downloaded + res.DeletedLocal}}
		if err != nil {
			es.Error = err.Error()
			report.Upload.LastSyncResult, report.Download.LastSyncResult = syncFailed, syncFailed
		} else {
			es.LastSuccess = es.LastSync
			report.Upload.LastSyncSuccessTimestamp, report.Download.LastSyncSuccessTimestamp = es.LastSync, es.LastSync
		}
		st.Endpoints = append(st.Endpoints, es)
		_ = a.Client.Report(ctx, ep.ID, report)
	}
	return st, a.saveStatus(ctx, st)
}

// syncFailed is the HRESULT a failed session reports (ECS_E_SYNC_METADATA_WRITE... any
// failure: Azure shows non-zero as an error).
const syncFailed = -2134364065

func (a *Agent) syncEndpoint(ctx context.Context, ep storagesync.AgentEndpoint) (Result, error) {
	if fi, err := os.Stat(ep.ServerLocalPath); err != nil || !fi.IsDir() {
		if err := os.MkdirAll(ep.ServerLocalPath, 0o755); err != nil {
			return Result{}, fmt.Errorf("the server endpoint's folder %s cannot be made: %w", ep.ServerLocalPath, err)
		}
	}
	sc, err := a.shareClient(ep)
	if err != nil {
		return Result{}, err
	}
	s := &Syncer{Endpoint: ep, Server: a.State.Name, Share: sc, Journal: a.journal}
	if a.Progress != nil {
		s.Progress = func(done, total int) { a.Progress(ep.ID, done, total) }
	}
	// One server endpoint of a sync group syncs at a time: the session is held (renewed)
	// for the run, and a run whose session is lost stops.
	sess, err := a.startSession(ctx, ep.ID)
	if err != nil {
		return Result{}, err
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(time.Duration(max(sess.TTLSeconds, 3)) * time.Second / 3)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				if _, err := a.Client.Session(runCtx, ep.ID, sess.Token); err != nil && runCtx.Err() == nil {
					cancel(fmt.Errorf("the sync session was lost: %w", err))
					return
				}
			}
		}
	}()
	res, err := s.Run(runCtx)
	if cause := context.Cause(runCtx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	cancel(nil)
	<-renewed
	endCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer done()
	_ = a.Client.EndSession(endCtx, ep.ID, sess.Token)
	return res, err
}

// sessionWait is the longest a run waits for another server's sync session to end.
const sessionWait = 10 * time.Minute

// startSession takes the endpoint's sync session, waiting while another server endpoint
// of the sync group holds it.
func (a *Agent) startSession(ctx context.Context, endpointID string) (storagesync.Session, error) {
	deadline := time.Now().Add(sessionWait)
	wait := 200 * time.Millisecond
	for {
		sess, err := a.Client.Session(ctx, endpointID, "")
		var se *ServiceError
		if err == nil || !errors.As(err, &se) || se.Status != http.StatusConflict || time.Now().After(deadline) {
			return sess, err
		}
		select {
		case <-ctx.Done():
			return sess, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// shareClient reaches an endpoint's share as the service says: with the account key, or
// with the machine's managed identity and backup intent (Storage File Data Privileged
// Contributor).
func (a *Agent) shareClient(ep storagesync.AgentEndpoint) (*share.Client, error) {
	url := ep.FileEndpoint + ep.Share
	opts := &share.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: a.hc}}
	if ep.ShareAuth == AuthManagedIdentity {
		if a.mi == nil {
			return nil, errors.New("the service has this server use its managed identity, but the machine has none now")
		}
		opts.FileRequestIntent = to.Ptr(share.TokenIntentBackup)
		return share.NewClient(url, a.mi, opts)
	}
	cred, err := share.NewSharedKeyCredential(ep.StorageAccount, ep.AccountKey)
	if err != nil {
		return nil, err
	}
	return share.NewClientWithSharedKeyCredential(url, cred, opts)
}

func (a *Agent) saveStatus(ctx context.Context, st Status) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return a.journal.Update(ctx, func(tx store.Tx) error { return tx.Put(colStatus, "last", b) })
}

// LastStatus is the status the last run left.
func (a *Agent) LastStatus(ctx context.Context) (Status, error) {
	var st Status
	err := a.journal.View(ctx, func(tx store.Tx) error {
		b, err := tx.Get(colStatus, "last")
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &st)
	})
	return st, err
}

// Run syncs until ctx ends: at once when a server endpoint's folder changes (file-system
// events), every interval otherwise (the share's changes, and any event missed), and after a
// failure with a growing wait (up to a minute), so that a share coming back is picked up
// without losing anything.
func (a *Agent) Run(ctx context.Context, interval time.Duration, report func(Status, error)) error {
	w, err := newWatcher()
	var events chan fsnotify.Event
	if err == nil {
		defer w.close()
		events = w.w.Events
	}
	wait := interval
	for {
		st, err := a.RunOnce(ctx)
		if report != nil {
			report(st, err)
		}
		failed := err != nil
		for _, e := range st.Endpoints {
			failed = failed || e.Error != ""
			if w != nil {
				w.add(e.Path)
			}
		}
		if failed {
			wait = min(max(2*wait, time.Second), time.Minute)
		} else {
			wait = interval
		}
		if err := a.waitForChange(ctx, wait, w, events); err != nil {
			return err
		}
	}
}

// settle is how long changes are gathered after the first one before syncing them.
const settle = 300 * time.Millisecond

// waitForChange returns after wait, or soon after a change to a watched folder.
func (a *Agent) waitForChange(ctx context.Context, wait time.Duration, w *watcher, events chan fsnotify.Event) error {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if !w.changed(ev) {
				continue
			}
			quiet := time.NewTimer(settle)
			for {
				select {
				case <-ctx.Done():
					quiet.Stop()
					return ctx.Err()
				case ev, ok := <-events:
					if !ok {
						events = nil
						continue
					}
					w.changed(ev)
				case <-quiet.C:
					return nil
				}
			}
		}
	}
}
