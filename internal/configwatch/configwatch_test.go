package configwatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const debounce = 50 * time.Millisecond

func watch(t *testing.T, path string) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := Watch(ctx, path, Options{Debounce: debounce})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func wantChange(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatal("channel closed, want a change")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no change reported within 2s")
	}
}

func wantQuiet(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
		t.Fatal("a change was reported, want none")
	case <-time.After(6 * debounce):
	}
}

// watchedConfig is config.yaml ("a: 1\n") in a new directory dir, watched.
func watchedConfig(t *testing.T) (dir, path string, ch <-chan struct{}) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "config.yaml")
	write(t, path, "a: 1\n")
	return dir, path, watch(t, path)
}

func TestEditInPlace(t *testing.T) {
	_, path, ch := watchedConfig(t)
	write(t, path, "a: 2\n")
	wantChange(t, ch)
	wantQuiet(t, ch) // one report for the write's several events
}

func TestSameContentIsNoChange(t *testing.T) {
	_, path, ch := watchedConfig(t)
	write(t, path, "a: 1\n")
	wantQuiet(t, ch)
}

func TestOtherFilesInTheDirectoryAreNoChange(t *testing.T) {
	dir, _, ch := watchedConfig(t)
	write(t, filepath.Join(dir, "other.yaml"), "b: 1\n")
	wantQuiet(t, ch)
}

func TestReplacedByRename(t *testing.T) {
	dir, path, ch := watchedConfig(t)
	tmp := filepath.Join(dir, ".config.yaml.swp")
	write(t, tmp, "a: 2\n")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	wantChange(t, ch)
	// The watch survives the rename: a second edit is seen too.
	write(t, path, "a: 3\n")
	wantChange(t, ch)
}

// TestConfigMapSymlinkSwap does what the kubelet does to a mounted
// ConfigMap: config.yaml -> ..data/config.yaml, ..data -> ..<timestamp>,
// and an update renames a new ..data link over the old one, then deletes
// the old directory.
func TestConfigMapSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	version := func(name, content string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, name, "config.yaml"), content)
	}
	swap := func(to string) {
		t.Helper()
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(to, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_12_01_a", "a: 1\n")
	if err := os.Symlink("..2026_12_01_a", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.Symlink("..data/config.yaml", path); err != nil {
		t.Fatal(err)
	}
	ch := watch(t, path)

	version("..2026_12_01_b", "a: 2\n")
	swap("..2026_12_01_b")
	if err := os.RemoveAll(filepath.Join(dir, "..2026_12_01_a")); err != nil {
		t.Fatal(err)
	}
	wantChange(t, ch)

	version("..2026_12_01_c", "a: 3\n")
	swap("..2026_12_01_c")
	wantChange(t, ch)
}

func TestSymlinkToAFileElsewhere(t *testing.T) {
	real := filepath.Join(t.TempDir(), "real.yaml")
	write(t, real, "a: 1\n")
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.Symlink(real, path); err != nil {
		t.Fatal(err)
	}
	ch := watch(t, path)
	write(t, real, "a: 2\n") // an edit in the target's directory only
	wantChange(t, ch)
}

func TestClosedWhenTheContextEnds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, "a: 1\n")
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := Watch(ctx, path, Options{Debounce: debounce})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("a change was reported, want the channel closed")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("channel not closed after the context ended")
	}
}

func TestUnwatchableDirectory(t *testing.T) {
	if _, err := Watch(context.Background(), filepath.Join(t.TempDir(), "missing", "config.yaml"), Options{}); err == nil {
		t.Fatal("no error for a directory that does not exist")
	}
}
