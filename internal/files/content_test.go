package files

import (
	"bytes"
	"testing"
)

// TestMaskChunk: a chunk reads its bytes inside the written ranges and zeros outside them.
func TestMaskChunk(t *testing.T) {
	const base = 3 * chunkSize // chunk 3
	tests := []struct {
		name   string
		ranges [][2]int64
		keep   [][2]int64 // offsets within the chunk that keep their bytes
	}{
		{"no ranges", nil, nil},
		{"whole chunk", [][2]int64{{0, 10 * chunkSize}}, [][2]int64{{0, chunkSize}}},
		{"ranges elsewhere", [][2]int64{{0, base}, {base + chunkSize, base + 2*chunkSize}}, nil},
		{"head and tail", [][2]int64{{base - 5, base + 10}, {base + chunkSize - 7, base + chunkSize + 1}}, [][2]int64{{0, 10}, {chunkSize - 7, chunkSize}}},
		{"middle pieces", [][2]int64{{base + 100, base + 200}, {base + 300, base + 301}}, [][2]int64{{100, 200}, {300, 301}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bytes.Repeat([]byte{0xAB}, chunkSize)
			maskChunk(got, 3, tt.ranges)
			want := make([]byte, chunkSize)
			for _, k := range tt.keep {
				copy(want[k[0]:k[1]], bytes.Repeat([]byte{0xAB}, int(k[1]-k[0])))
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("masked chunk differs from the ranges %v", tt.ranges)
			}
			if w := written(tt.ranges, base, base+chunkSize); w != (len(tt.keep) > 0) {
				t.Fatalf("written = %v, want %v", w, len(tt.keep) > 0)
			}
		})
	}
}

func TestChunkIndex(t *testing.T) {
	k := chunkKey("acct", "share", 1<<63+5, 4194303)
	if i, ok := chunkIndex(k); !ok || i != 4194303 {
		t.Fatalf("chunkIndex(%q) = %d, %v", k, i, ok)
	}
	if _, ok := chunkIndex("short"); ok {
		t.Fatal("chunkIndex accepted a short key")
	}
	if chunkKey("a", "s", 7, maxChunks) <= chunkKey("a", "s", 7, maxChunks-1) {
		t.Fatal("chunk keys do not sort by index up to maxChunks")
	}
}
