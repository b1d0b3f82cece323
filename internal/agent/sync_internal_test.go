package agent

import (
	"fmt"
	"slices"
	"testing"
)

func TestInterleave(t *testing.T) {
	in := []string{"a/1", "a/2", "a/3", "b/1", "c/1", "c/2", "top"}
	got := interleave(in)
	want := []string{"a/1", "b/1", "c/1", "top", "a/2", "c/2", "a/3"}
	if !slices.Equal(got, want) {
		t.Fatalf("interleave = %v, want %v", got, want)
	}
	// Each path once, whatever the shape: one crowded folder beside many single files.
	var many []string
	for i := range 2000 {
		many = append(many, fmt.Sprintf("big/%04d", i), fmt.Sprintf("d%04d/x", i))
	}
	got = interleave(many)
	slices.Sort(got)
	slices.Sort(many)
	if !slices.Equal(got, many) {
		t.Fatal("interleave lost or repeated paths")
	}
}
