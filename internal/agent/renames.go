package agent

import (
	"context"
	"crypto/md5"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// remoteRenames finds paths renamed on the share since the last sync (another server's
// agent, or a client of the File service), by the file id a rename keeps, and renames them
// here too instead of deleting and downloading them again. A path qualifies when it is gone
// from the share, its id is found at a new path the journal does not know, the local copy
// is as last synced and the new local name is free. A renamed file must also still hold
// what was synced: the same ETag. Folders go first (a
// folder's rename carries its whole subtree: the local and journal maps are moved along),
// then files. It updates local and journal in place and returns how many it renamed.
func (s *Syncer) remoteRenames(ctx context.Context, local, remote map[string]side, journal map[string]entry, res *Result) int {
	byID := map[string]string{} // id → new path on the share
	for q, r := range remote {
		if _, known := journal[q]; !known && r.ID != "" {
			byID[r.ID] = q
		}
	}
	if len(byID) == 0 {
		return 0
	}
	target := func(p string, j entry) (string, bool) {
		if j.Pending != "" || j.Remote.ID == "" || remote[p].Exists {
			return "", false
		}
		q, ok := byID[j.Remote.ID]
		if !ok || remote[q].Dir != j.Remote.Dir || local[q].Exists || !local[p].Exists || !sameLocal(local[p], j.Local) {
			return "", false
		}
		// The new path's parent is a folder here already, or one the share has and this
		// side lacks (made here first).
		for dir := path.Dir(q); dir != "."; dir = path.Dir(dir) {
			if l := local[dir]; l.Dir {
				break
			} else if l.Exists || !remote[dir].Dir {
				return "", false
			}
		}
		return q, true
	}
	// rename makes the local rename, after the new parent folders.
	rename := func(p, q string) bool {
		var made []string
		for dir := path.Dir(q); dir != "." && !local[dir].Dir; dir = path.Dir(dir) {
			made = append(made, dir)
		}
		for i := len(made) - 1; i >= 0; i-- {
			if err := os.Mkdir(s.local(made[i]), 0o755); err != nil && !os.IsExist(err) {
				return false
			}
			local[made[i]] = side{Exists: true, Dir: true}
		}
		return os.Rename(s.local(p), s.local(q)) == nil
	}
	renamed := 0
	// Folders, shallowest first, pass after pass: a folder renamed inside a renamed folder
	// is found at its moved path in the next pass.
	for {
		var dirs []string
		for p, j := range journal {
			if j.Local.Dir && j.Remote.Dir {
				dirs = append(dirs, p)
			}
		}
		sort.Slice(dirs, func(a, b int) bool {
			return strings.Count(dirs[a], "/") < strings.Count(dirs[b], "/") || dirs[a] < dirs[b]
		})
		moved := false
		for _, p := range dirs {
			j, ok := journal[p]
			if !ok {
				continue
			}
			q, ok := target(p, j)
			if !ok || !rename(p, q) {
				continue
			}
			delete(byID, j.Remote.ID)
			s.moveTree(ctx, p, q, local, journal, remote[q])
			renamed++
			res.Renamed++
			moved = true
			break // the maps changed: list the folders again
		}
		if !moved {
			break
		}
	}
	var files []string
	for p, j := range journal {
		if !j.Local.Dir && !j.Remote.Dir {
			files = append(files, p)
		}
	}
	sort.Strings(files)
	for _, p := range files {
		j := journal[p]
		q, ok := target(p, j)
		if !ok {
			continue
		}
		r := remote[q]
		if r.ETag != j.Remote.ETag {
			// Changed as well as renamed (or a service whose renames change the ETag): the
			// stored MD5 cannot tell, since writing ranges leaves it as it was. Deleted and
			// downloaded the long way.
			continue
		}
		if !rename(p, q) {
			continue
		}
		got, err := statLocal(s.local(q))
		if err != nil {
			continue
		}
		delete(byID, j.Remote.ID)
		if s.forget(ctx, p, false) != nil || s.record(ctx, q, entry{Local: got, Remote: r}) != nil {
			continue
		}
		delete(local, p)
		delete(journal, p)
		local[q] = got
		journal[q] = entry{Local: got, Remote: r}
		renamed++
		res.Renamed++
	}
	return renamed
}

// moveTree moves folder p to q in the local listing and the journal (in memory and on
// disk): everything under it moved with the local rename.
func (s *Syncer) moveTree(ctx context.Context, p, q string, local map[string]side, journal map[string]entry, r side) {
	re := func(k string) (string, bool) {
		if k == p {
			return q, true
		}
		if strings.HasPrefix(k, p+"/") {
			return q + k[len(p):], true
		}
		return "", false
	}
	for k, l := range local {
		if nk, ok := re(k); ok {
			delete(local, k)
			local[nk] = l
		}
	}
	for k, e := range journal {
		nk, ok := re(k)
		if !ok {
			continue
		}
		if k == p {
			e.Remote = r
		}
		delete(journal, k)
		journal[nk] = e
		if s.forget(ctx, k, false) == nil {
			_ = s.record(ctx, nk, e)
		}
	}
}

// sameBytes tells whether local file p holds what the share's q does (by the MD5 the
// share keeps).
func (s *Syncer) sameBytes(ctx context.Context, p, q string) bool {
	props, err := s.Share.NewRootDirectoryClient().NewFileClient(q).GetProperties(ctx, nil)
	if err != nil || len(props.ContentMD5) == 0 {
		return false
	}
	sum, err := s.localMD5(p, 0, -1)
	return err == nil && string(sum) == string(props.ContentMD5)
}

// localMD5 is the MD5 of n bytes of local file p from off (n < 0: to its end).
func (s *Syncer) localMD5(p string, off, n int64) ([]byte, error) {
	f, err := os.Open(s.local(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if n >= 0 {
		r = io.NewSectionReader(f, off, n)
	}
	h := md5.New()
	if _, err := io.Copy(h, r); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
