package e2e

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestREADME_WalkThrough (issue 13 item 6): README.md's walk-through, run as written — every
// ```sh block in order in one bash shell against a fresh server (scripts/walkthrough) — so it
// cannot drift from what Cerulean does. A command the README marks "# refused: CODE" must
// fail with CODE; every other command must succeed.
func TestREADME_WalkThrough(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "../scripts/walkthrough")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/walkthrough: %v (the output above names the README line)", err)
	}
}
