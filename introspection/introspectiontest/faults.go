package introspectiontest

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Fault makes every request fail in one way until cleared; the zero value
// is no fault. At most one of its fields is meant to be set.
type Fault struct {
	// Status, when not 0, is the HTTP status of every answer (with Body).
	Status int
	// Body replaces the answer's body (e.g. "<html>" for a non-JSON one);
	// with Status 0 the status is 200.
	Body string
	// Hang holds every request until the client gives up or the server is
	// closed; nothing is written.
	Hang bool
	// Refuse stops listening: connections are refused, as when nothing
	// listens at the address, until the fault is cleared and the server
	// listens on the same address again.
	Refuse bool
	// BlackHole accepts connections but neither reads nor answers them
	// (they are closed when the fault is cleared); BlackHoled counts them.
	BlackHole bool
	// Truncate sends the answer's status, its headers with a Content-Length
	// of its whole body and half of that body, then closes the connection.
	Truncate bool
	// Drip sends the answer's body one byte at a time, Drip apart.
	Drip time.Duration
}

// answers reports whether f is about the answer rather than the
// connection: one that serve writes instead of the server's own.
func (f Fault) answers() bool {
	return f.Status != 0 || f.Body != "" || f.Hang || f.Truncate || f.Drip > 0
}

// SetFault makes every request fail as f says; SetFault(Fault{}) clears it.
// Refuse and BlackHole close the connections open so far, so that none
// outlives them (a client's next request on one of its idle connections
// may then fail before the fault has a say). Clearing Refuse listens
// again; it panics if the address has been taken meanwhile.
func (s *Server) SetFault(f Fault) {
	guarded(&s.mu, func() { s.fault = f })
	if f.Refuse || f.BlackHole {
		s.CloseClientConnections()
	}
	s.lis.set(f.Refuse, f.BlackHole)
}

// BlackHoled is the number of connections held by the BlackHole fault so
// far: attempts that never became requests.
func (s *Server) BlackHoled() int64 { return s.lis.blackHoled.Load() }

// writeFault answers r as fault says (answers is true), answer being what
// the server would have written without it.
func writeFault(w http.ResponseWriter, r *http.Request, fault Fault, answer http.HandlerFunc, stop <-chan struct{}) {
	switch {
	case fault.Hang:
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	case fault.Truncate:
		rec := httptest.NewRecorder()
		answer(rec, r)
		body := rec.Body.Bytes()
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer func() { _ = conn.Close() }()
		_, _ = fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", rec.Code, http.StatusText(rec.Code))
		rec.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_ = rec.Header().Write(buf)
		_, _ = buf.WriteString("\r\n")
		_, _ = buf.Write(body[:len(body)/2])
		_ = buf.Flush()
	case fault.Drip > 0:
		rec := httptest.NewRecorder()
		answer(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		rc := http.NewResponseController(w)
		for _, b := range rec.Body.Bytes() {
			if _, err := w.Write([]byte{b}); err != nil || rc.Flush() != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-stop:
				return
			case <-time.After(fault.Drip):
			}
		}
	default:
		status := fault.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(fault.Body))
	}
}

// faultListener is a Server's listener: it stops listening (Refuse) and
// holds connections (BlackHole) as the fault says, on a fixed address.
type faultListener struct {
	addr       net.Addr
	blackHoled atomic.Int64

	mu     sync.Mutex // guards what follows
	l      net.Listener
	ready  chan struct{} // closed when l is listening again (after Refuse)
	hole   bool
	held   []net.Conn
	closed bool
	done   chan struct{} // closed by Close
}

func newFaultListener() *faultListener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic("introspectiontest: listen: " + err.Error())
	}
	return &faultListener{addr: l.Addr(), l: l, done: make(chan struct{})}
}

func (fl *faultListener) Addr() net.Addr { return fl.addr }

// Accept waits while refusing and holds connections while black-holing.
func (fl *faultListener) Accept() (net.Conn, error) {
	for {
		fl.mu.Lock()
		l, ready := fl.l, fl.ready
		fl.mu.Unlock()
		if l == nil {
			select {
			case <-ready:
				continue
			case <-fl.done:
				return nil, net.ErrClosed
			}
		}
		c, err := l.Accept()
		fl.mu.Lock()
		switch {
		case err != nil && fl.l != l && !fl.closed: // stopped by Refuse
			fl.mu.Unlock()
			continue
		case err == nil && fl.hole:
			fl.held = append(fl.held, c)
			fl.blackHoled.Add(1)
			fl.mu.Unlock()
			continue
		}
		fl.mu.Unlock()
		return c, err
	}
}

// set applies the connection faults.
func (fl *faultListener) set(refuse, hole bool) {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.closed {
		return
	}
	fl.hole = hole
	if !hole {
		fl.release()
	}
	switch {
	case refuse && fl.l != nil:
		_ = fl.l.Close()
		fl.l, fl.ready = nil, make(chan struct{})
	case !refuse && fl.l == nil:
		l, err := net.Listen("tcp", fl.addr.String())
		if err != nil {
			panic("introspectiontest: listening again on " + fl.addr.String() + ": " + err.Error())
		}
		fl.l = l
		close(fl.ready)
	}
}

// release closes the held connections; fl.mu is held.
func (fl *faultListener) release() {
	for _, c := range fl.held {
		_ = c.Close()
	}
	fl.held = nil
}

func (fl *faultListener) Close() error {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	if fl.closed {
		return nil
	}
	fl.closed = true
	close(fl.done)
	fl.release()
	if fl.l != nil {
		return fl.l.Close()
	}
	return nil
}
