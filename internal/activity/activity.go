// Package activity is Azure's activity log for Cerulean's control plane: every Resource
// Manager write, every authorization failure and every Azure Policy effect, with its caller,
// operation (the RBAC action), scope, outcome and correlation id. Events are kept for 90 days,
// as Azure keeps them, and are listed by time range and scope.
//
// It records and lists; package arm decides what to record and package
// providers/insights serves the list as Microsoft.Insights/eventtypes/management/values.
package activity

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/google/uuid"
)

const col = "activity.events"

// Retention is how long events are kept.
const Retention = 90 * 24 * time.Hour

// Categories of events.
const (
	Administrative = "Administrative"
	Policy         = "Policy"
)

// Event is one activity-log entry.
type Event struct {
	ID             string    `json:"eventDataId"`
	Time           time.Time `json:"eventTimestamp"`
	Category       string    `json:"category"`
	Level          string    `json:"level"` // Informational, Warning or Error
	CorrelationID  string    `json:"correlationId"`
	Caller         string    `json:"caller"`
	CallerObjectID string    `json:"callerObjectId,omitempty"`
	TenantID       string    `json:"tenantId,omitempty"`
	Operation      string    `json:"operationName"` // the RBAC action, e.g. Microsoft.Resources/subscriptions/resourceGroups/write
	Scope          string    `json:"resourceId"`
	Status         string    `json:"status"` // Succeeded or Failed
	StatusCode     int       `json:"statusCode"`
	ErrorCode      string    `json:"errorCode,omitempty"`
	Message        string    `json:"message,omitempty"`
	// Policies are the policy assignment and definition ids behind a Policy event.
	Policies []string `json:"policies,omitempty"`
}

// Log records and lists events.
type Log struct {
	st  store.Store
	now func() time.Time

	mu        sync.Mutex
	lastPrune time.Time

	startLater sync.Once
	later      chan []Event
}

// laterQueue bounds the events RecordLater holds; beyond it, events are dropped.
const laterQueue = 1024

// RecordLater queues events for a background writer and returns at once. Callers that may be
// running inside another store transaction (a data-plane call made while Resource Manager
// holds the write lock, such as a customer-key check) use it: writing synchronously there
// would wait on the very transaction it is nested in. Events are dropped if the queue is
// full.
func (l *Log) RecordLater(events ...Event) {
	l.startLater.Do(func() {
		l.later = make(chan []Event, laterQueue)
		go func() {
			for evs := range l.later {
				_ = l.Record(context.Background(), evs...)
			}
		}()
	})
	now := l.now().UTC()
	for i := range events {
		if events[i].Time.IsZero() {
			events[i].Time = now
		}
	}
	select {
	case l.later <- events:
	default:
	}
}

// pruneEvery is how often Record looks for events past retention.
const pruneEvery = time.Hour

// New returns the log over st.
func New(st store.Store, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{st: st, now: now}
}

func key(t time.Time, id string) string { return fmt.Sprintf("%020d/%s", t.UnixNano(), id) }

// Record stores events, stamping id and time where empty, and drops events older than the
// retention period.
func (l *Log) Record(ctx context.Context, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	now := l.now().UTC()
	l.mu.Lock()
	prune := now.Sub(l.lastPrune) >= pruneEvery
	if prune {
		l.lastPrune = now
	}
	l.mu.Unlock()
	return l.st.Update(ctx, func(tx store.Tx) error {
		for _, e := range events {
			if e.ID == "" {
				e.ID = uuid.NewString()
			}
			if e.Time.IsZero() {
				e.Time = now
			}
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := tx.Put(col, key(e.Time, e.ID), b); err != nil {
				return err
			}
		}
		if !prune {
			return nil
		}
		return l.pruneTx(tx, now)
	})
}

// pruneTx deletes events that have outlived the retention period.
func (l *Log) pruneTx(tx store.Tx, now time.Time) error {
	cutoff := fmt.Sprintf("%020d", now.Add(-Retention).UnixNano())
	items, err := tx.List(col, "0")
	if err != nil || len(items) == 0 || items[0].Key >= cutoff {
		return err
	}
	for _, it := range items {
		if it.Key >= cutoff {
			break
		}
		if err := tx.Delete(col, it.Key); err != nil {
			return err
		}
	}
	return nil
}

// Filter selects events: From ≤ time ≤ To (zero: unbounded), at or below Scope (empty:
// everywhere), and with the correlation id, caller or category when given.
type Filter struct {
	From, To      time.Time
	Scope         string
	CorrelationID string
	Caller        string
	Category      string
}

// List returns the events the filter selects, newest first, at most limit (0: all).
func (l *Log) List(ctx context.Context, f Filter, limit int) ([]Event, error) {
	var items []store.Item
	if err := l.st.View(ctx, func(tx store.Tx) error {
		var err error
		items, err = tx.List(col, "")
		return err
	}); err != nil {
		return nil, err
	}
	scope := strings.ToLower(strings.TrimRight(f.Scope, "/"))
	var out []Event
	for i := len(items) - 1; i >= 0; i-- {
		var e Event
		if err := json.Unmarshal(items[i].Value, &e); err != nil {
			return nil, fmt.Errorf("decode activity event %s: %w", items[i].Key, err)
		}
		if (!f.From.IsZero() && e.Time.Before(f.From)) || (!f.To.IsZero() && e.Time.After(f.To)) {
			continue
		}
		if s := strings.ToLower(e.Scope); scope != "" && s != scope && !strings.HasPrefix(s, scope+"/") {
			continue
		}
		if (f.CorrelationID != "" && !strings.EqualFold(e.CorrelationID, f.CorrelationID)) ||
			(f.Caller != "" && !strings.EqualFold(e.Caller, f.Caller) && !strings.EqualFold(e.CallerObjectID, f.Caller)) ||
			(f.Category != "" && !strings.EqualFold(e.Category, f.Category)) {
			continue
		}
		out = append(out, e)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}
