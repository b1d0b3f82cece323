package storagesync

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cerulean-azure/cerulean/internal/arm"
	"github.com/cerulean-azure/cerulean/internal/azerr"
	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

// Sync sessions: the service lets one server endpoint of a sync group sync with the share
// at a time, so that two servers never overwrite each other's upload between listing the
// share and writing to it (Azure File Sync's service orders its servers' sessions the same
// way). A session is a lease the agent renews while it syncs and ends when it is done; a
// crashed agent's lease runs out after SessionTTL.

const colSessions = "storagesync.sessions" // sync group Key(id) -> sessionLease

// SessionTTL is how long a sync session lasts unless renewed.
const SessionTTL = time.Minute

type sessionLease struct {
	Endpoint string    `json:"endpoint"`
	Token    string    `json:"token"`
	Expires  time.Time `json:"expires"`
}

// Session is a sync session granted to a server endpoint: renewed by asking again with its
// token, ended with DELETE.
type Session struct {
	Token      string    `json:"token"`
	ExpiresOn  time.Time `json:"expiresOn"`
	TTLSeconds int       `json:"ttlSeconds"`
}

// SessionHeader carries a session's token to renew or end it.
const SessionHeader = "x-ms-sync-session"

// session grants, renews (the token in SessionHeader) or, with end, ends the sync session
// of the server endpoint endpointID's sync group for its server.
func (p *Provider) session(r *http.Request, server Child, endpointID string, end bool) (any, error) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<10))
	token := r.Header.Get(SessionHeader)
	now := p.now().UTC()
	var out *Session
	err := p.arm.Store().Update(r.Context(), func(tx store.Tx) error {
		ep, err := ownEndpointTx(tx, server, endpointID)
		if err != nil {
			return err
		}
		i := strings.LastIndex(strings.ToLower(ep.ID), "/serverendpoints/")
		if i < 0 {
			return azerr.NotFound("NotFound", "'%s' is not a server endpoint.", endpointID)
		}
		group := arm.Key(ep.ID[:i])
		var cur sessionLease
		b, err := tx.Get(colSessions, group)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			_ = json.Unmarshal(b, &cur)
		}
		mine := cur.Token != "" && cur.Token == token
		if end {
			if !mine {
				return nil // not (or no longer) this caller's: nothing to end
			}
			return tx.Delete(colSessions, group)
		}
		if !mine && now.Before(cur.Expires) && arm.Key(cur.Endpoint) != arm.Key(ep.ID) {
			return azerr.Conflict("SyncSessionInProgress", "Server endpoint '%s' is syncing this sync group until %s at the latest: try again then.",
				cur.Endpoint, cur.Expires.Format(time.RFC3339))
		}
		// A server endpoint may take over its own session (its agent restarted).
		if !mine {
			token = uuid.NewString()
		}
		lease := sessionLease{Endpoint: ep.ID, Token: token, Expires: now.Add(SessionTTL)}
		b, err = json.Marshal(lease)
		if err != nil {
			return err
		}
		out = &Session{Token: token, ExpiresOn: lease.Expires, TTLSeconds: int(SessionTTL / time.Second)}
		return tx.Put(colSessions, group, b)
	})
	if err != nil || out == nil {
		return nil, err
	}
	return out, nil
}
