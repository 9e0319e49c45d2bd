package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tokengate/tokengate/httpsyntax"
)

// HTTP mode: tokengate's /authz listener against a no-op HTTP server that
// writes the very allow response tokengate writes (status 200, the claim
// headers, x-envoy-auth-headers-to-remove, Cache-Control), with the same
// http.Server bounds, driven by the same keep-alive HTTP/1.1 client, rounds
// alternated as in step 1.

// minHTTPRatio is HTTP mode's throughput target: tokengate at least this
// fraction of the no-op HTTP server's checks per second.
const minHTTPRatio = 0.85

// httpCheckPath is the checked request as Envoy's http_service
// (path_prefix /authz) sends it: /authz + the request's path.
const httpCheckPath = "/authz/orders/1"

// httpTarget is one HTTP server under test.
type httpTarget struct {
	addr   string // host:port
	base   string // "http://host:port"
	client *http.Client
	tr     *http.Transport
}

// newHTTPTarget is a keep-alive client for addr with an idle connection
// kept for each of up to conns clients.
func newHTTPTarget(addr string, conns int) *httpTarget {
	tr := &http.Transport{
		MaxIdleConns: 2 * conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
		DisableCompression: true, ResponseHeaderTimeout: callTimeout,
		DialContext: (&net.Dialer{Timeout: callTimeout}).DialContext,
	}
	return &httpTarget{addr: addr, base: "http://" + addr, client: &http.Client{Transport: tr}, tr: tr}
}

func (t *httpTarget) close() { t.tr.CloseIdleConnections() }

// httpRequest is one client's check request: GET /authz/orders/1 with the
// checked request's Host and the headers Envoy passes on, with a fresh
// X-Request-Id for every call. It belongs to one goroutine.
type httpRequest struct {
	r      *http.Request
	prefix string
	seq    uint64
}

func newHTTPRequest(ctx context.Context, base, token string, client int) (*httpRequest, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, base+httpCheckPath, nil)
	if err != nil {
		return nil, err
	}
	r.Host = benchHost
	r.Header = http.Header{
		"Authorization":     {"Bearer " + token},
		"User-Agent":        {"Mozilla/5.0 (X11; Linux x86_64) bench-loadgen/1.0"},
		"Accept":            {"application/json"},
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-For":   {"203.0.113.7"},
		"X-Request-Id":      {""},
	}
	return &httpRequest{r: r, prefix: "bench-" + strconv.Itoa(client) + "-"}, nil
}

// next is the request for the next call, with a new request id.
func (r *httpRequest) next() *http.Request {
	r.seq++
	r.r.Header["X-Request-Id"] = []string{r.prefix + strconv.FormatUint(r.seq, 10)}
	return r.r
}

// do sends r and reads the whole answer (so the connection is reused).
func (t *httpTarget) do(r *http.Request) (int, http.Header, error) {
	resp, err := t.client.Do(r)
	if err != nil {
		return 0, nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header, err
}

// loop is closedLoop for HTTP: each client on a keep-alive connection of
// its own (rawConn), so that the client side costs little and the server
// is the bottleneck.
func (t *httpTarget) loop(ctx context.Context, spec loopSpec) loadResult {
	return runLoop(ctx, spec, func(i int) (func(*tally), func()) {
		var c *rawConn
		req := newRawRequest(spec.token(i), i)
		call := func(tl *tally) {
			var err error
			if c == nil {
				c, err = dialRaw(ctx, t.addr)
			}
			status := 0
			if err == nil {
				status, err = c.roundTrip(req.next())
			}
			if err != nil && c != nil {
				c.close()
				c = nil
			}
			tl.addHTTP(status, err)
		}
		return call, func() {
			if c != nil {
				c.close()
			}
		}
	})
}

// rawRequest is one client's check request as bytes: the request of
// httpRequest, serialized once, with the X-Request-Id digits rewritten for
// every call. It belongs to one goroutine.
type rawRequest struct {
	buf []byte
	n   int // length of buf up to the request id
	seq uint64
}

func newRawRequest(token string, client int) *rawRequest {
	head := "GET " + httpCheckPath + " HTTP/1.1\r\n" +
		"Host: " + benchHost + "\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) bench-loadgen/1.0\r\n" +
		"Accept: application/json\r\n" +
		"Authorization: Bearer " + token + "\r\n" +
		"X-Forwarded-Proto: https\r\n" +
		"X-Forwarded-For: 203.0.113.7\r\n" +
		"X-Request-Id: bench-" + strconv.Itoa(client) + "-"
	return &rawRequest{buf: []byte(head), n: len(head)}
}

// next is the bytes of the next call, with a new request id.
func (r *rawRequest) next() []byte {
	r.seq++
	r.buf = strconv.AppendUint(r.buf[:r.n], r.seq, 10)
	return append(r.buf, "\r\n\r\n"...)
}

// rawConn is a keep-alive HTTP/1.1 connection that sends prepared requests
// and reads just enough of each answer: the status and the body's length.
type rawConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(ctx context.Context, addr string) (*rawConn, error) {
	d := net.Dialer{Timeout: callTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{conn: conn, r: bufio.NewReaderSize(conn, 4096)}, nil
}

func (c *rawConn) close() { _ = c.conn.Close() }

// roundTrip writes req and reads the answer: its status, its headers (only
// Content-Length and Connection matter) and its body, discarded.
func (c *rawConn) roundTrip(req []byte) (int, error) {
	if err := c.conn.SetDeadline(time.Now().Add(callTimeout)); err != nil {
		return 0, err
	}
	if _, err := c.conn.Write(req); err != nil {
		return 0, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, closing := 0, false
	for {
		h, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, _ := bytes.Cut(h, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case httpsyntax.EqualFold(string(name), "content-length"):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, fmt.Errorf("bad Content-Length %q", value)
			}
		case httpsyntax.EqualFold(string(name), "transfer-encoding"):
			return 0, fmt.Errorf("unexpected Transfer-Encoding %q", value)
		case httpsyntax.EqualFold(string(name), "connection"):
			closing = httpsyntax.EqualFold(string(value), "close")
		}
	}
	if _, err := c.r.Discard(length); err != nil {
		return 0, err
	}
	if closing {
		return status, errServerClosed
	}
	return status, nil
}

// errServerClosed is an answer with Connection: close; the answer counts,
// and the next call dials again.
var errServerClosed = errors.New("server closed the connection")

// addHTTP classifies one HTTP-mode answer: 200 is an allow, any other
// status a deny with that status, err a transport error.
func (t *tally) addHTTP(status int, err error) {
	switch {
	case err != nil:
		t.rpcErrors++
		if t.firstErr == "" {
			t.firstErr = err.Error()
		}
	case status == http.StatusOK:
		t.allowed++
	default:
		t.denied[status]++
	}
}

// allowHeaders asks tokengate's HTTP listener for one check with token and
// returns the allow's headers, without those net/http writes itself (Date,
// Content-Length): what the no-op HTTP server is to write.
func allowHeaders(ctx context.Context, httpAddr, token string) (http.Header, error) {
	t := newHTTPTarget(httpAddr, 1)
	defer t.close()
	req, err := newHTTPRequest(ctx, t.base, token, 0)
	if err != nil {
		return nil, err
	}
	status, h, err := t.do(req.next())
	if err != nil {
		return nil, fmt.Errorf("HTTP-mode check: %w", err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("HTTP-mode check of %s: status %d, want 200", token, status)
	}
	h = h.Clone()
	h.Del("Date")
	h.Del("Content-Length")
	return h, nil
}

// encodeHeaders and decodeHeaders carry the no-op's response headers on
// its command line.
func encodeHeaders(h http.Header) string {
	b, _ := json.Marshal(h) // a map of string slices always marshals
	return string(b)
}

func decodeHeaders(s string) (http.Header, error) {
	h := http.Header{}
	if s == "" {
		return h, nil
	}
	if err := json.Unmarshal([]byte(s), &h); err != nil {
		return nil, fmt.Errorf("--%s: %w", noopHeadersFlag, err)
	}
	return h, nil
}

// noopHTTPHandler writes h and 200 to every request, the body unread: the
// cheapest way to send tokengate's allow (direct map assignments of
// prepared keys and values).
func noopHTTPHandler(h http.Header) http.Handler {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	vals := make([][]string, len(keys))
	for i, k := range keys {
		vals[i] = slices.Clip(h[k])
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hdr := w.Header()
		for i, k := range keys {
			hdr[k] = vals[i]
		}
		w.WriteHeader(http.StatusOK)
	})
}

// The bounds tokengate's HTTP listener has (internal/app/limits.go), given
// to the no-op HTTP server too so that they cost both the same.
const (
	noopHTTPReadHeaderTimeout = 10 * time.Second
	noopHTTPIdleTimeout       = 60 * time.Second
	noopHTTPMaxHeaderBytes    = 64 << 10
)

// newNoopHTTPServer is the no-op HTTP server for headers h.
func newNoopHTTPServer(h http.Header) *http.Server {
	return &http.Server{
		Handler:           noopHTTPHandler(h),
		ReadHeaderTimeout: noopHTTPReadHeaderTimeout,
		IdleTimeout:       noopHTTPIdleTimeout,
		MaxHeaderBytes:    noopHTTPMaxHeaderBytes,
	}
}

// httpHeading renames step 1's heading for the HTTP comparison.
func httpHeading(out io.Writer) io.Writer {
	return &headingWriter{w: out, old: "== 1. Throughput, closed loop:",
		new: "== 1b. HTTP-mode throughput (GET " + httpCheckPath + ", keep-alive HTTP/1.1, no-op writes the same allow), closed loop:"}
}

// headerNames lists h's names, for the report.
func headerNames(h http.Header) string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, strings.ToLower(k))
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
