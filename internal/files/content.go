package files

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/cerulean-azure/cerulean/internal/encryption"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// File content is kept in chunks of chunkSize bytes under
// files.chunks/<account>/<share>/<file id>/<chunk index>, each sealed by the file's cipher.
// A chunk that was never written reads as zeros. Every change to a file's content happens in
// one store transaction with its node, so a crash leaves either all of a range or none.

func chunkKey(account, share string, fileID, index uint64) string {
	return shareKey(account, share) + "/" + fmt.Sprintf("%020d/%012d", fileID, index)
}

func chunkPrefix(account, share string, fileID uint64) string {
	return shareKey(account, share) + "/" + fmt.Sprintf("%020d/", fileID)
}

func (q *request) cipher(n Node) (*encryption.FileCipher, error) {
	dk, err := q.svc.dataKey(q.ctx, q.account)
	if err != nil {
		return nil, err
	}
	return encryption.ForFile(dk, q.account.UID, q.share, n.ID, n.Generation)
}

// readChunk returns a chunk's plaintext (chunkSize bytes, zeros if never written).
func readChunk(tx store.Tx, c *encryption.FileCipher, account, share string, n Node, index uint64) ([]byte, error) {
	b, err := tx.Get(colChunks, chunkKey(account, share, n.ID, index))
	if errors.Is(err, store.ErrNotFound) {
		return make([]byte, chunkSize), nil
	}
	if err != nil {
		return nil, err
	}
	return c.Open(index, b)
}

// writeRangeTx writes data at offset (within the file's size), read-modify-writing the
// partial chunks at the edges.
func writeRangeTx(tx store.Tx, c *encryption.FileCipher, account, share string, n *Node, offset int64, data []byte) error {
	for len(data) > 0 {
		index := uint64(offset / chunkSize)
		within := int(offset % chunkSize)
		take := chunkSize - within
		if take > len(data) {
			take = len(data)
		}
		var plain []byte
		if within == 0 && take == chunkSize {
			plain = data[:take]
		} else {
			old, err := readChunk(tx, c, account, share, *n, index)
			if err != nil {
				return err
			}
			copy(old[within:], data[:take])
			plain = old
		}
		if err := tx.Put(colChunks, chunkKey(account, share, n.ID, index), c.Seal(index, plain)); err != nil {
			return err
		}
		offset += int64(take)
		data = data[take:]
	}
	return nil
}

// clearRangeTx zeroes [start, end): whole chunks are removed, partial ones rewritten.
func clearRangeTx(tx store.Tx, c *encryption.FileCipher, account, share string, n *Node, start, end int64) error {
	for off := start; off < end; {
		index := uint64(off / chunkSize)
		chunkStart := int64(index) * chunkSize
		to := chunkStart + chunkSize
		if to > end {
			to = end
		}
		if off == chunkStart && to == chunkStart+chunkSize {
			if err := tx.Delete(colChunks, chunkKey(account, share, n.ID, index)); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		} else if err := writeRangeTx(tx, c, account, share, n, off, make([]byte, to-off)); err != nil {
			return err
		}
		off = to
	}
	return nil
}

// readRangeTx reads [start, end) of a file.
func readRangeTx(tx store.Tx, c *encryption.FileCipher, account, share string, n Node, start, end int64) ([]byte, error) {
	out := make([]byte, 0, end-start)
	for off := start; off < end; {
		index := uint64(off / chunkSize)
		chunkStart := int64(index) * chunkSize
		plain, err := readChunk(tx, c, account, share, n, index)
		if err != nil {
			return nil, err
		}
		to := chunkStart + chunkSize
		if to > end {
			to = end
		}
		out = append(out, plain[off-chunkStart:to-chunkStart]...)
		off = to
	}
	return out, nil
}

// truncateTx drops content past size (whole chunks removed, the last one zero-padded).
func truncateTx(tx store.Tx, c *encryption.FileCipher, account, share string, n *Node, size int64) error {
	items, err := tx.List(colChunks, chunkPrefix(account, share, n.ID))
	if err != nil {
		return err
	}
	for _, it := range items {
		var index uint64
		if _, err := fmt.Sscanf(it.Key[len(chunkPrefix(account, share, n.ID)):], "%d", &index); err != nil {
			continue
		}
		chunkStart := int64(index) * chunkSize
		switch {
		case chunkStart >= size:
			if err := tx.Delete(colChunks, it.Key); err != nil {
				return err
			}
		case chunkStart+chunkSize > size:
			if err := clearRangeTx(tx, c, account, share, n, size, chunkStart+chunkSize); err != nil {
				return err
			}
		}
	}
	n.Ranges = subtractRange(n.Ranges, size, 1<<62)
	return nil
}

// deleteContentTx removes all of a file's chunks.
func deleteContentTx(tx store.Tx, account, share string, fileID uint64) error {
	items, err := tx.List(colChunks, chunkPrefix(account, share, fileID))
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := tx.Delete(colChunks, it.Key); err != nil {
			return err
		}
	}
	return nil
}

// addRange merges [s, e) into a sorted list of disjoint ranges.
func addRange(rs [][2]int64, s, e int64) [][2]int64 {
	rs = append(rs, [2]int64{s, e})
	sort.Slice(rs, func(i, j int) bool { return rs[i][0] < rs[j][0] })
	out := rs[:0:0]
	for _, r := range rs {
		if len(out) > 0 && r[0] <= out[len(out)-1][1] {
			if r[1] > out[len(out)-1][1] {
				out[len(out)-1][1] = r[1]
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// subtractRange removes [s, e) from the ranges.
func subtractRange(rs [][2]int64, s, e int64) [][2]int64 {
	var out [][2]int64
	for _, r := range rs {
		if r[1] <= s || r[0] >= e {
			out = append(out, r)
			continue
		}
		if r[0] < s {
			out = append(out, [2]int64{r[0], s})
		}
		if r[1] > e {
			out = append(out, [2]int64{e, r[1]})
		}
	}
	return out
}

var _ = binary.BigEndian
