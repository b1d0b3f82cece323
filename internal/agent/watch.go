package agent

import (
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"
)

// watcher hears changes in the endpoints' folders (inotify, through fsnotify): a change makes
// the agent sync soon instead of at its next scan. Folders made later are watched as they
// appear; the periodic scan stays, as events can be missed (overflow, a folder made and
// filled before its watch).
type watcher struct {
	w       *fsnotify.Watcher
	watched map[string]bool
}

func newWatcher() (*watcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return &watcher{w: w, watched: map[string]bool{}}, nil
}

// add watches root and every folder below it.
func (w *watcher) add(root string) {
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if !w.watched[p] && w.w.Add(p) == nil {
			w.watched[p] = true
		}
		return nil
	})
}

// changed reports whether an event is a change to sync (the agent's own temporary files are
// not), watching a new folder it names.
func (w *watcher) changed(ev fsnotify.Event) bool {
	if strings.HasPrefix(filepath.Base(ev.Name), tmpPrefix) {
		return false
	}
	if ev.Has(fsnotify.Create) {
		w.add(ev.Name)
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		delete(w.watched, ev.Name)
	}
	return ev.Op != fsnotify.Chmod
}

func (w *watcher) close() { _ = w.w.Close() }
