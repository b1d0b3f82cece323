package server

import "testing"

func TestIdleRelease(t *testing.T) {
	var r idleRelease
	for i, c := range []struct {
		requests int64 // the count at this tick
		release  bool
	}{
		{0, false}, {0, false}, // no request yet: nothing to give back
		{5, false},             // a burst
		{5, true},              // quiet: release once
		{5, false}, {5, false}, // still quiet: not again
		{6, false}, {9, false}, {12, false}, // requests keep coming
		{12, true}, {12, false},
	} {
		if got := r.step(c.requests); got != c.release {
			t.Fatalf("tick %d (count %d): release %v, want %v", i, c.requests, got, c.release)
		}
	}
}
