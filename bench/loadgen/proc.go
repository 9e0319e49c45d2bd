package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a server subprocess in its own process group. stop ends it
// gracefully; the context given to startChild ends it hard.
type child struct {
	name   string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	done   chan struct{} // closed when Wait returned
	err    error         // Wait's result, set before done closes
	out    *lineWatcher  // the stream the child announces its address on
}

// startChild runs cmd (built by the caller without a context) under ctx.
// The announce function picks the child's address out of one output line
// of the stream selected by onStderr; startChild waits for it up to timeout.
func startChild(ctx context.Context, name string, path string, args []string, env []string,
	onStderr bool, announce func(line string) (string, bool), timeout time.Duration) (*child, string, error) {
	cctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(cctx, path, args...)
	cmd.Env = env
	cmd.SysProcAttr = childProcAttr()
	cmd.Cancel = func() error { return killGroup(cmd.Process, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	// The child's stdin is a pipe we never write: when this process dies,
	// the pipe closes, and the no-op server takes that as a signal to exit.
	if _, err := cmd.StdinPipe(); err != nil {
		cancel()
		return nil, "", fmt.Errorf("%s stdin: %w", name, err)
	}
	w := newLineWatcher(announce)
	if onStderr {
		cmd.Stderr, cmd.Stdout = w, io.Discard
	} else {
		cmd.Stdout, cmd.Stderr = w, newLineWatcher(nil)
	}
	if err := startOnCPUs(cmd, childCPUs); err != nil {
		cancel()
		return nil, "", fmt.Errorf("start %s (%s): %w", name, path, err)
	}
	c := &child{name: name, cmd: cmd, cancel: cancel, done: make(chan struct{}), out: w}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case addr := <-w.found:
		return c, addr, nil
	case <-c.done:
		c.stop()
		return nil, "", fmt.Errorf("%s exited before serving (%v); last output:\n%s", name, c.err, w.tail())
	case <-timer.C:
		c.stop()
		return nil, "", fmt.Errorf("%s did not announce its address within %v; last output:\n%s", name, timeout, w.tail())
	case <-ctx.Done():
		c.stop()
		return nil, "", fmt.Errorf("waiting for %s: %w", name, ctx.Err())
	}
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM to the child's process group, waits up to five
// seconds, then kills the group. It is safe to call more than once.
func (c *child) stop() {
	select {
	case <-c.done:
		c.cancel()
		return
	default:
	}
	_ = killGroup(c.cmd.Process, syscall.SIGTERM)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		c.cancel() // SIGKILL to the group through cmd.Cancel
		<-c.done
	}
	c.cancel()
}

// memory is a process's resident set size and its peak, in KiB; -1 when
// unknown.
type memory struct {
	rssKiB, hwmKiB int64
}

// readMemory reads VmRSS and VmHWM from /proc/<pid>/status.
func readMemory(pid int) (memory, error) {
	m := memory{rssKiB: -1, hwmKiB: -1}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return m, fmt.Errorf("memory of pid %d: %w", pid, err)
	}
	return parseProcStatus(b), nil
}

// parseProcStatus picks VmRSS and VmHWM (in kB) out of a /proc status file.
func parseProcStatus(b []byte) memory {
	m := memory{rssKiB: -1, hwmKiB: -1}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch key {
		case "VmRSS":
			m.rssKiB = n
		case "VmHWM":
			m.hwmKiB = n
		}
	}
	return m
}

// clockTicks is USER_HZ, the unit of the CPU times in /proc/<pid>/stat; 100
// on every Linux architecture Go supports.
const clockTicks = 100

// readCPU is the user+system CPU time pid has used, from /proc/<pid>/stat.
func readCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("cpu of pid %d: %w", pid, err)
	}
	return parseProcStat(string(b))
}

// parseProcStat picks utime+stime (fields 14 and 15) out of a /proc stat
// line. The command name (field 2) is parenthesised and may hold spaces and
// parentheses, so fields are counted after its last ')'.
func parseProcStat(line string) (time.Duration, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat line without command name: %q", line)
	}
	f := strings.Fields(line[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("stat line with %d fields after the command name", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat cpu field %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// loadAverage is the first field of /proc/loadavg (the 1-minute load), or
// "n/a".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "n/a"
}

// lineWatcher is an io.Writer for a child's output. It hands the first
// address the announce function recognises to found, keeps the last lines
// for error messages, and discards the rest, so the child never blocks on
// a full pipe.
type lineWatcher struct {
	announce func(string) (string, bool)
	found    chan string

	mu      sync.Mutex
	partial []byte
	last    []string
	sent    bool
}

const tailLines = 20

func newLineWatcher(announce func(string) (string, bool)) *lineWatcher {
	return &lineWatcher{announce: announce, found: make(chan string, 1)}
}

// Write implements io.Writer.
func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	if len(w.partial) > 64<<10 { // a runaway line: keep memory bounded
		w.line(string(w.partial))
		w.partial = w.partial[:0]
	}
	return len(p), nil
}

func (w *lineWatcher) line(l string) {
	if len(w.last) == tailLines {
		w.last = append(w.last[:0], w.last[1:]...)
	}
	w.last = append(w.last, l)
	if w.sent || w.announce == nil {
		return
	}
	if addr, ok := w.announce(l); ok {
		w.sent = true
		w.found <- addr
	}
}

// tail is the last lines written, for error messages.
func (w *lineWatcher) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.last, "\n")
}
