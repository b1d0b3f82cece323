package files

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/cerulean-azure/cerulean/internal/encryption"
	"github.com/cerulean-azure/cerulean/internal/store"
)

// File content is kept in chunks of chunkSize bytes under
// files.chunks/<account>/<share>/<file id>/<chunk index>, each sealed by the file's cipher.
//
// A file's node lists its written byte ranges (Node.Ranges), and they alone say what the
// file holds: a byte reads as its chunk's byte when it lies in a written range, and as zero
// otherwise (maskChunk). A chunk that was never written reads as zeros. Every change to a
// file's content and ranges happens in one store transaction with its node, so a crash
// leaves either all of a range or none.
//
// Work is proportional to the chunks stored, never to the length of a range: reads skip
// unwritten regions without touching the store, and clearing, truncating or deleting finds
// the chunks it makes unreadable with one key-range query. When those are few (at most
// chunkBatch) the same transaction deletes them; otherwise it records them as garbage and
// sweep deletes them afterwards, chunkBatch per transaction, so no request holds the store's
// write lock for long. Until then they are only unreadable: the ranges mask them.

// chunkBatch is the most chunks one transaction deletes.
const chunkBatch = 64

// maxChunks bounds chunk indexes: a file holds at most MaxFileSize bytes.
const maxChunks = MaxFileSize / chunkSize

func chunkKey(account, share string, fileID, index uint64) string {
	return shareKey(account, share) + "/" + fmt.Sprintf("%020d/%012d", fileID, index)
}

func chunkPrefix(account, share string, fileID uint64) string {
	return shareKey(account, share) + "/" + fmt.Sprintf("%020d/", fileID)
}

// chunkIndex reads the index back from a chunk key.
func chunkIndex(key string) (uint64, bool) {
	if len(key) < 12 {
		return 0, false
	}
	i, err := strconv.ParseUint(key[len(key)-12:], 10, 64)
	return i, err == nil
}

// keysUnder lists the keys of a collection under prefix (which ends in '/').
func keysUnder(tx store.Tx, col, prefix string) ([]string, error) {
	return tx.Keys(col, prefix, prefix[:len(prefix)-1]+string(prefix[len(prefix)-1]+1), 0)
}

func (q *request) cipher(n Node) (*encryption.FileCipher, error) {
	return q.svc.fileCipher(q.ctx, q.account, q.share, n)
}

// fileCipher is the cipher of one file's content under the account's data key.
func (s *Service) fileCipher(ctx context.Context, a Account, share string, n Node) (*encryption.FileCipher, error) {
	dk, err := s.dataKey(ctx, a)
	if err != nil {
		return nil, err
	}
	// A share snapshot's chunks are the live share's, sealed under its name.
	return encryption.ForFile(dk, a.UID, baseShareName(share), n.ID, n.Generation)
}

// firstRangeAfter is the index of the first of the sorted ranges that ends after off.
func firstRangeAfter(rs [][2]int64, off int64) int {
	return sort.Search(len(rs), func(i int) bool { return rs[i][1] > off })
}

// written reports whether any byte of [lo, hi) lies in a written range.
func written(rs [][2]int64, lo, hi int64) bool {
	i := firstRangeAfter(rs, lo)
	return i < len(rs) && rs[i][0] < hi
}

func chunkSpan(index uint64) (lo, hi int64) {
	return int64(index) * chunkSize, int64(index+1) * chunkSize
}

// maskChunk zeroes the bytes of a chunk's plaintext that lie in no written range.
func maskChunk(plain []byte, index uint64, rs [][2]int64) {
	lo, _ := chunkSpan(index)
	hi := lo + int64(len(plain))
	pos := lo // bytes before pos are settled
	for i := firstRangeAfter(rs, lo); i < len(rs) && rs[i][0] < hi; i++ {
		if s := rs[i][0]; s > pos {
			clear(plain[pos-lo : s-lo])
		}
		pos = max(pos, min(rs[i][1], hi))
	}
	clear(plain[pos-lo:])
}

// readChunk returns a chunk's plaintext as the file reads (chunkSize bytes, masked by the
// node's ranges) and whether it is stored.
func readChunk(tx store.Tx, c *encryption.FileCipher, account, share string, n Node, index uint64) ([]byte, bool, error) {
	plain, stored, err := readStoredChunk(tx, c, account, share, n, index)
	if err != nil {
		return nil, false, err
	}
	if len(plain) < chunkSize { // the file's last chunk, stored as far as the file went
		plain = append(plain, make([]byte, chunkSize-len(plain))...)
	}
	return plain, stored, nil
}

// readStoredChunk is a chunk's plaintext as far as it is stored (masked by the node's
// ranges); the bytes beyond, up to chunkSize, read as zeros.
func readStoredChunk(tx store.Tx, c *encryption.FileCipher, account, share string, n Node, index uint64) ([]byte, bool, error) {
	b, err := tx.Get(colChunks, chunkKey(account, share, n.ID, index))
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	plain, err := c.Open(index, b)
	if err != nil {
		return nil, false, err
	}
	maskChunk(plain, index, n.Ranges)
	return plain, true, nil
}

// trimChunk is the part of chunk index's plaintext within a file of size bytes: a file's
// last chunk is stored only as far as the file goes (a 1 KiB file stores 1 KiB, not 1 MiB),
// and reads fill the rest with zeros.
func trimChunk(plain []byte, index uint64, size int64) []byte {
	lo, _ := chunkSpan(index)
	if end := size - lo; end >= 0 && end < int64(len(plain)) {
		return plain[:end]
	}
	return plain
}

// writeRangeTx writes data at offset (within the file's size), read-modify-writing the
// partial chunks at the edges. The caller adds the range to n.Ranges afterwards.
func writeRangeTx(tx store.Tx, c *encryption.FileCipher, account, share string, n *Node, offset int64, data []byte) error {
	for len(data) > 0 {
		index := uint64(offset / chunkSize)
		within := int(offset % chunkSize)
		take := min(chunkSize-within, len(data))
		plain := data[:take]
		lo, _ := chunkSpan(index)
		// A write from a chunk's start to the file's end replaces all the chunk holds: no
		// need to read (a new small file, or the last piece of a sequential write).
		whole := within == 0 && (take == chunkSize || lo+int64(take) >= n.Size)
		if !whole {
			old, _, err := readChunk(tx, c, account, share, *n, index)
			if err != nil {
				return err
			}
			copy(old[within:], data[:take])
			plain = old
		}
		// Sealed into a pooled buffer: the store copies what it is given.
		sb := sealedBufs.Get().(*[]byte)
		err := tx.Put(colChunks, chunkKey(account, share, n.ID, index), c.SealTo(*sb, index, trimChunk(plain, index, n.Size)))
		sealedBufs.Put(sb)
		if err != nil {
			return err
		}
		n.Content++
		offset += int64(take)
		data = data[take:]
	}
	return nil
}

// readIntoTx fills buf with the file's bytes from offset start (within its size), reading
// only the chunks that hold written bytes.
func readIntoTx(tx store.Tx, c *encryption.FileCipher, account, share string, n Node, start int64, buf []byte) error {
	end := start + int64(len(buf))
	for off := start; off < end; {
		index := uint64(off / chunkSize)
		lo, hi := chunkSpan(index)
		to := min(hi, end)
		out := buf[off-start : to-start]
		if written(n.Ranges, off, to) {
			// Decrypted straight from the store's memory into a pooled buffer, then copied
			// out: no garbage per chunk read (issue 14: a download allocated ≈ 3 bytes per
			// byte it moved).
			err := tx.GetFunc(colChunks, chunkKey(account, share, n.ID, index), func(sealed []byte) error {
				pb := plainBufs.Get().(*[]byte)
				defer plainBufs.Put(pb)
				plain, err := c.OpenTo(*pb, index, sealed)
				if err != nil {
					return err
				}
				maskChunk(plain, index, n.Ranges)
				k := 0
				if int64(len(plain)) > off-lo {
					k = copy(out, plain[off-lo:min(to-lo, int64(len(plain)))])
				}
				clear(out[k:])
				return nil
			})
			if errors.Is(err, store.ErrNotFound) {
				clear(out)
			} else if err != nil {
				return err
			}
		} else {
			clear(out)
		}
		off = to
	}
	return nil
}

// sealedBufs hold one sealed chunk each (the plaintext, a nonce and a tag).
var sealedBufs = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize+64); return &b }}

// plainBufs hold one chunk's plaintext each.
var plainBufs = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

// readRangeTx reads [start, end) of a file.
func readRangeTx(tx store.Tx, c *encryption.FileCipher, account, share string, n Node, start, end int64) ([]byte, error) {
	out := make([]byte, end-start)
	return out, readIntoTx(tx, c, account, share, n, start, out)
}

// rewriteEdgeTx brings a stored chunk in step with the node's ranges after they shrank: it
// is deleted when no byte of it is written any more, else re-sealed with the bytes that
// fell out of the ranges zeroed.
func rewriteEdgeTx(tx store.Tx, c *encryption.FileCipher, account, share string, n *Node, index uint64) error {
	lo, hi := chunkSpan(index)
	if !written(n.Ranges, lo, hi) {
		err := tx.Delete(colChunks, chunkKey(account, share, n.ID, index))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	plain, stored, err := readChunk(tx, c, account, share, *n, index)
	if err != nil || !stored {
		return err
	}
	n.Content++
	return tx.Put(colChunks, chunkKey(account, share, n.ID, index), c.Seal(index, trimChunk(plain, index, n.Size)))
}

// clearRangeTx zeroes [start, end): the range leaves n.Ranges, the chunks at its edges are
// rewritten, the chunks wholly inside it dropped.
func clearRangeTx(tx store.Tx, c *encryption.FileCipher, account, share string, n *Node, start, end int64) error {
	// As in Azure, only the 512-byte-aligned part of a clear leaves the range list; bytes
	// outside it are written as zeros and stay listed.
	as, ae := (start+clearAlign-1)/clearAlign*clearAlign, end/clearAlign*clearAlign
	edges := [][2]int64{{start, end}}
	if as < ae {
		edges = [][2]int64{{start, as}, {ae, end}}
	}
	for _, e := range edges {
		for _, r := range n.Ranges {
			lo, hi := max(r[0], e[0]), min(r[1], e[1])
			if lo < hi {
				if err := writeRangeTx(tx, c, account, share, n, lo, make([]byte, hi-lo)); err != nil {
					return err
				}
			}
		}
	}
	if as >= ae {
		return nil
	}
	return clearAlignedTx(tx, c, account, share, n, as, ae)
}

// clearAlign is the granularity of the ranges a clear removes.
const clearAlign = 512

// clearAlignedTx drops [start, end) from the file's ranges and its chunks.
func clearAlignedTx(tx store.Tx, c *encryption.FileCipher, account, share string, n *Node, start, end int64) error {
	n.Ranges = subtractRange(n.Ranges, start, end)
	first, last := uint64(start/chunkSize), uint64((end-1)/chunkSize)
	for _, index := range []uint64{first, last} {
		if lo, hi := chunkSpan(index); lo < start || hi > end {
			if err := rewriteEdgeTx(tx, c, account, share, n, index); err != nil {
				return err
			}
		}
		if first == last {
			break
		}
	}
	return dropChunksTx(tx, account, share, *n, uint64((start+chunkSize-1)/chunkSize), uint64(end/chunkSize))
}

// truncateTx drops content past size: its ranges, the chunks past it, and the bytes past it
// in its last chunk.
func truncateTx(tx store.Tx, c *encryption.FileCipher, account, share string, n *Node, size int64) error {
	n.Ranges = subtractRange(n.Ranges, size, MaxFileSize)
	if size%chunkSize != 0 {
		if err := rewriteEdgeTx(tx, c, account, share, n, uint64(size/chunkSize)); err != nil {
			return err
		}
	}
	return dropChunksTx(tx, account, share, *n, uint64((size+chunkSize-1)/chunkSize), maxChunks)
}

// deleteContentTx drops all of a deleted file's chunks.
func deleteContentTx(tx store.Tx, account, share string, n Node) error {
	n.Path = "" // the file is gone: its garbage is swept without looking at it
	return dropChunksTx(tx, account, share, n, 0, maxChunks)
}

// dropChunksTx deletes the stored chunks [from, to) of file n, which no byte of it reads any
// more, or, when there are more than chunkBatch, records them as garbage for sweep.
func dropChunksTx(tx store.Tx, account, share string, n Node, from, to uint64) error {
	if from >= to {
		return nil
	}
	keys, err := tx.Keys(colChunks, chunkKey(account, share, n.ID, from), chunkKey(account, share, n.ID, to), chunkBatch+1)
	if err != nil {
		return err
	}
	if len(keys) > chunkBatch {
		return putGarbageTx(tx, garbage{Account: account, Share: share, Path: n.Path, FileID: n.ID, From: from, To: to})
	}
	for _, k := range keys {
		if err := tx.Delete(colChunks, k); err != nil {
			return err
		}
	}
	return nil
}

// garbage is a key range of a file's chunks that no byte of the file reads any more, too
// many to delete in the transaction that made them unreadable.
type garbage struct {
	Account string `json:"account"`
	Share   string `json:"share"`
	// Path is where the file lived when it still does ("" when it was deleted): chunks its
	// ranges were written into again since are kept. When the file has moved, sweeping it
	// stops; its chunks stay unread until the file is deleted.
	Path   string `json:"path,omitempty"`
	FileID uint64 `json:"fileId"`
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
}

func putGarbageTx(tx store.Tx, g garbage) error {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	b, err := json.Marshal(g)
	if err != nil {
		return fmt.Errorf("encode garbage: %w", err)
	}
	return tx.Put(colGarbage, shareKey(g.Account, g.Share)+"/"+hex.EncodeToString(id), b)
}

// sweep deletes recorded garbage, chunkBatch chunks per write transaction, until none is
// left. Requests that made garbage call it once their own transaction committed; garbage
// left by a crash is swept by the next of them.
func (s *Service) sweep(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx) // the deletes are owed whatever the client does
	for {
		rev, err := s.st.Revision(ctx, colGarbage)
		if err != nil || rev == s.swept.Load() {
			return err // nothing recorded since the collection was last found empty
		}
		var pending []string
		if err := s.st.View(ctx, func(tx store.Tx) error {
			var err error
			pending, err = tx.Keys(colGarbage, "", "", 1)
			return err
		}); err != nil {
			return err
		}
		if len(pending) == 0 {
			s.swept.Store(rev)
			return nil
		}
		if err := s.st.Update(ctx, func(tx store.Tx) error { return sweepOneTx(tx, pending[0]) }); err != nil {
			return err
		}
	}
}

// sweepOneTx deletes up to chunkBatch chunks of one garbage record, and the record once it
// is done.
func sweepOneTx(tx store.Tx, key string) error {
	b, err := tx.Get(colGarbage, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil // swept by another request meanwhile
	}
	if err != nil {
		return err
	}
	var g garbage
	if err := json.Unmarshal(b, &g); err != nil {
		return tx.Delete(colGarbage, key)
	}
	var live *Node
	if g.Path != "" {
		n, err := getNodeTx(tx, g.Account, g.Share, g.Path)
		if err != nil || n.Dir || n.ID != g.FileID {
			return tx.Delete(colGarbage, key)
		}
		live = &n
	}
	keys, err := tx.Keys(colChunks, chunkKey(g.Account, g.Share, g.FileID, g.From), chunkKey(g.Account, g.Share, g.FileID, g.To), chunkBatch)
	if err != nil {
		return err
	}
	for _, k := range keys {
		index, ok := chunkIndex(k)
		if !ok {
			continue
		}
		g.From = index + 1
		if live != nil {
			if lo, hi := chunkSpan(index); written(live.Ranges, lo, hi) {
				continue // written again since it was cleared
			}
		}
		if err := tx.Delete(colChunks, k); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if len(keys) < chunkBatch {
		return tx.Delete(colGarbage, key)
	}
	b, err = json.Marshal(g)
	if err != nil {
		return err
	}
	return tx.Put(colGarbage, key, b)
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
