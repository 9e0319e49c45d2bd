// Package configwatch tells when a configuration file's content changes:
// edited in place, replaced by a rename (as editors save), or swapped
// through a symlink the way Kubernetes updates a mounted ConfigMap (the
// file is a link to ..data/config.yaml, and ..data is a link renamed onto
// a new timestamped directory).
//
// It watches directories, not the file: a watch on the file itself follows
// the inode that a rename or a symlink swap leaves behind. Every event in
// the directory of the path (and in the directory the path resolves to, if
// it is a symlink) arms a short debounce; when it fires, the file is read
// and a change is reported only if its bytes differ from the last ones
// seen, so a burst of events, or events about other files, cost no reload.
package configwatch

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long the directory must be quiet before the file
// is read again: long enough for a ConfigMap swap's several renames, short
// enough to keep a change within the contract's 2 s.
const DefaultDebounce = 250 * time.Millisecond

// Options configures Watch.
type Options struct {
	Debounce time.Duration // default DefaultDebounce
	Logger   *slog.Logger  // default slog.Default()
}

// Watch reports changes of the file at path on the returned channel until
// ctx ends, when the channel is closed. The channel holds at most one
// pending change: a slow reader sees one report for several changes, which
// is what a reload needs. A file that cannot be read (mid-swap, or removed)
// is not a change; its next readable content is compared with the last.
//
// Watch returns an error when the directory cannot be watched (no inotify
// instances left, say); the caller can still reload on a signal.
func Watch(ctx context.Context, path string, o Options) (<-chan struct{}, error) {
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config watch: %w", err)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("config watch: %w", err)
	}
	if err := fw.Add(filepath.Dir(abs)); err != nil {
		_ = fw.Close() // the Add error is the one reported
		return nil, fmt.Errorf("config watch: %s: %w", filepath.Dir(abs), err)
	}
	w := &watcher{fw: fw, path: abs, opts: o, changes: make(chan struct{}, 1)}
	w.last, _ = digest(abs)
	w.followLink()
	go w.run(ctx)
	return w.changes, nil
}

// watcher is owned by its run goroutine; nothing else touches it.
type watcher struct {
	fw      *fsnotify.Watcher
	path    string
	opts    Options
	changes chan struct{}
	last    [sha256.Size]byte
	target  string // the extra directory watched for a symlinked path
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.changes)
	defer func() { _ = w.fw.Close() }() // the watch is over; nobody to tell
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-w.fw.Events:
			if !ok {
				return
			}
			debounce.Reset(w.opts.Debounce)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			// An overflow drops events, so look at the file all the same.
			w.opts.Logger.Warn("config file watch", slog.String("error", err.Error()))
			debounce.Reset(w.opts.Debounce)
		case <-debounce.C:
			w.followLink()
			sum, err := digest(w.path)
			if err != nil || sum == w.last {
				continue
			}
			w.last = sum
			select {
			case w.changes <- struct{}{}:
			default: // one is pending already
			}
		}
	}
}

// followLink watches the directory the path resolves to when that is not
// the path's own directory (a symlink to a file elsewhere), moving the
// watch when the link is pointed somewhere else. For a ConfigMap the
// resolved directory is ..2026_x inside the watched one, so its own watch
// only adds events for edits made inside it.
func (w *watcher) followLink() {
	real, err := filepath.EvalSymlinks(w.path)
	if err != nil {
		return
	}
	dir := filepath.Dir(real)
	if dir == w.target || dir == filepath.Dir(w.path) {
		return
	}
	if w.target != "" {
		_ = w.fw.Remove(w.target) // gone already when the old directory was deleted
	}
	if err := w.fw.Add(dir); err != nil {
		w.opts.Logger.Warn("config file watch", slog.String("error", err.Error()))
		w.target = ""
		return
	}
	w.target = dir
}

// digest is the SHA-256 of the file's content, read through any symlinks.
func digest(path string) ([sha256.Size]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(data), nil
}
