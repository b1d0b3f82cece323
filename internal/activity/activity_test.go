package activity

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cerulean-azure/cerulean/internal/store"
	"github.com/cerulean-azure/cerulean/internal/store/sqlite"
)

func TestRecordListPrune(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	l := New(db, func() time.Time { return now })
	rg := "/subscriptions/s/resourceGroups/app"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(l.Record(ctx, Event{Time: now.Add(-100 * 24 * time.Hour), Operation: "old", Scope: rg}))
	must(l.Record(ctx,
		Event{Time: now.Add(-2 * time.Hour), Operation: "a", Scope: rg + "/providers/X/y/one", CorrelationID: "c1"},
		Event{Time: now.Add(-time.Hour), Operation: "b", Scope: "/subscriptions/s/resourceGroups/application", Category: Policy},
		Event{Operation: "c", Scope: rg, CorrelationID: "c1"}))
	all, err := l.List(ctx, Filter{}, 0)
	must(err)
	if len(all) != 3 || all[0].Operation != "c" || all[2].Operation != "a" || all[0].ID == "" || !all[0].Time.Equal(now) {
		t.Fatalf("all (newest first, the 100-day-old one pruned) = %+v", all)
	}
	cases := []struct {
		name string
		f    Filter
		want []string
	}{
		{"scope is segment-aligned", Filter{Scope: rg}, []string{"c", "a"}},
		{"time range", Filter{From: now.Add(-90 * time.Minute), To: now.Add(-time.Minute)}, []string{"b"}},
		{"correlation", Filter{CorrelationID: "C1"}, []string{"c", "a"}},
		{"category", Filter{Category: "policy"}, []string{"b"}},
	}
	for _, tc := range cases {
		got, err := l.List(ctx, tc.f, 0)
		must(err)
		var ops []string
		for _, e := range got {
			ops = append(ops, e.Operation)
		}
		if len(ops) != len(tc.want) || (len(ops) > 0 && ops[0] != tc.want[0]) {
			t.Errorf("%s: %v, want %v", tc.name, ops, tc.want)
		}
	}
	if got, _ := l.List(ctx, Filter{}, 1); len(got) != 1 {
		t.Errorf("limit 1 returned %d", len(got))
	}
}

func TestRecordLater(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := New(db, nil)
	// Queued while another transaction holds the write lock: RecordLater must not wait on it.
	done := make(chan struct{})
	go func() {
		_ = db.Update(ctx, func(tx store.Tx) error {
			l.RecordLater(Event{Operation: "queued"})
			return nil
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RecordLater blocked inside a transaction")
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, err := l.List(ctx, Filter{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 && got[0].Operation == "queued" && !got[0].Time.IsZero() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queued event not written: %+v", got)
		}
	}
}
