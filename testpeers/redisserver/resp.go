package redisserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Value sends one command as Do does and returns its whole reply: a
// string (simple or bulk), an int64, nil (a nil bulk string or array) or
// an []any of those. An error reply is an error.
func (s *Server) Value(args ...string) (any, error) {
	return s.ValueContext(context.Background(), args...)
}

// ValueContext is Value bounded by ctx (and 5 s).
func (s *Server) ValueContext(ctx context.Context, args ...string) (any, error) {
	return exchange(ctx, s, args, func(r *bufio.Reader) (any, error) { return readValue(r, 0) })
}

// Text is Value for a command whose reply is text (INFO, CLUSTER INFO,
// CLUSTER NODES).
func (s *Server) Text(args ...string) (string, error) {
	v, err := s.Value(args...)
	if err != nil {
		return "", err
	}
	str, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("redis: %s answered %T, not text", strings.Join(args, " "), v)
	}
	return str, nil
}

// InfoField is the value of field in an INFO-style text ("name:value"
// lines), "" when absent.
func InfoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// readValue reads one RESP2 reply; depth bounds nested arrays.
func readValue(r *bufio.Reader, depth int) (any, error) {
	if depth > 8 {
		return nil, fmt.Errorf("redis: reply nested too deep")
	}
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	kind, rest := line[0], line[1:]
	switch kind {
	case '+':
		return rest, nil
	case '-':
		return nil, fmt.Errorf("redis: %s", strings.TrimSpace(rest))
	case ':':
		return strconv.ParseInt(rest, 10, 64)
	case '$', '*':
		n, err := strconv.Atoi(rest)
		if err != nil || n > 64<<20 {
			return nil, fmt.Errorf("redis: bad length in %q", line)
		}
		if n < 0 {
			return nil, nil
		}
		if kind == '$' {
			b := make([]byte, n+2) // and its \r\n
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, err
			}
			return string(b[:n]), nil
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = readValue(r, depth+1); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, fmt.Errorf("redis: unexpected reply %q", line)
}

// Subscribers is the number of subscribers of channel (PUBSUB NUMSUB).
func (s *Server) Subscribers(channel string) (int, error) {
	v, err := s.Value("PUBSUB", "NUMSUB", channel)
	if err != nil {
		return 0, err
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 2 {
		return 0, fmt.Errorf("PUBSUB NUMSUB answered %v", v)
	}
	n, ok := arr[1].(int64)
	if !ok {
		return 0, fmt.Errorf("PUBSUB NUMSUB answered %v", v)
	}
	return int(n), nil
}

// WaitSubscribers waits, up to 10 s, until channel has at least n
// subscribers, so that a test publishes only once every replica listens;
// it fails t otherwise.
func (s *Server) WaitSubscribers(t testing.TB, channel string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.Subscribers(channel)
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %q: %d subscribers after 10 s, want %d (%v)", channel, got, n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
