package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// callTimeout bounds every Check, as Envoy's grpc_service timeout would.
const callTimeout = 5 * time.Second

// pool is a fixed set of gRPC connections to one target, shared round-robin
// by the clients.
type pool struct {
	conns   []*grpc.ClientConn
	clients []authv3.AuthorizationClient
}

// dialPool opens n connections to addr and starts connecting them; the
// warm-up of the first round finds them ready.
func dialPool(addr string, n int) (*pool, error) {
	p := &pool{}
	for range n {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			p.close()
			return nil, fmt.Errorf("dial %s: %w", addr, err)
		}
		conn.Connect()
		p.conns = append(p.conns, conn)
		p.clients = append(p.clients, authv3.NewAuthorizationClient(conn))
	}
	return p, nil
}

// client is the connection client i uses.
func (p *pool) client(i int) authv3.AuthorizationClient { return p.clients[i%len(p.clients)] }

// close closes every connection.
func (p *pool) close() {
	for _, c := range p.conns {
		_ = c.Close()
	}
}

// request is one client's CheckRequest, shaped like the ones Envoy sends,
// with a fresh x-request-id for every call. It belongs to one goroutine.
type request struct {
	msg     *authv3.CheckRequest
	headers map[string]string
	prefix  string
	seq     uint64
}

// newRequest is GET https://orders.bench.example/orders/1 with token.
func newRequest(token string, client int) *request {
	headers := map[string]string{
		":authority":        benchHost,
		":method":           "GET",
		":path":             "/orders/1",
		":scheme":           "https",
		"authorization":     "Bearer " + token,
		"user-agent":        "Mozilla/5.0 (X11; Linux x86_64) bench-loadgen/1.0",
		"accept":            "application/json",
		"x-forwarded-proto": "https",
		"x-forwarded-for":   "203.0.113.7",
		"x-request-id":      "",
	}
	src := &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: "203.0.113.7", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(40000 + client%20000)},
	}}}
	dst := &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: "10.0.0.10", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8443},
	}}}
	return &request{
		headers: headers,
		prefix:  "bench-" + strconv.Itoa(client) + "-",
		msg: &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source:      &authv3.AttributeContext_Peer{Address: src},
			Destination: &authv3.AttributeContext_Peer{Address: dst},
			Request: &authv3.AttributeContext_Request{
				Time: timestamppb.Now(),
				Http: &authv3.AttributeContext_HttpRequest{
					Method: "GET", Host: benchHost, Path: "/orders/1", Scheme: "https",
					Protocol: "HTTP/1.1", Headers: headers,
				},
			},
		}},
	}
}

// setToken makes the following calls carry token.
func (r *request) setToken(token string) { r.headers["authorization"] = "Bearer " + token }

// next is the message for the next call, with a new request id.
func (r *request) next() *authv3.CheckRequest {
	r.seq++
	id := r.prefix + strconv.FormatUint(r.seq, 10)
	r.headers["x-request-id"] = id
	r.msg.Attributes.Request.Http.Id = id
	return r.msg
}

// tally counts the answers one or more clients received.
type tally struct {
	allowed   int64
	denied    map[int]int64    // deny HTTP status -> count
	reasons   map[string]int64 // status message of non-allows -> count
	rpcErrors int64
	firstErr  string
}

func newTally() tally {
	return tally{denied: map[int]int64{}, reasons: map[string]int64{}}
}

// add classifies one Check result.
func (t *tally) add(resp *authv3.CheckResponse, err error) {
	switch {
	case err != nil:
		t.rpcErrors++
		if t.firstErr == "" {
			t.firstErr = err.Error()
		}
	case resp.GetStatus().GetCode() == int32(codes.OK) && resp.GetOkResponse() != nil:
		t.allowed++
	default:
		t.denied[int(resp.GetDeniedResponse().GetStatus().GetCode())]++
		t.reasons[resp.GetStatus().GetMessage()]++
	}
}

// merge adds o into t.
func (t *tally) merge(o tally) {
	t.allowed += o.allowed
	t.rpcErrors += o.rpcErrors
	if t.firstErr == "" {
		t.firstErr = o.firstErr
	}
	for k, v := range o.denied {
		t.denied[k] += v
	}
	for k, v := range o.reasons {
		t.reasons[k] += v
	}
}

// total is the number of answers counted.
func (t tally) total() int64 {
	n := t.allowed + t.rpcErrors
	for _, v := range t.denied {
		n += v
	}
	return n
}

// notAllowed is every answer that was not an allow.
func (t tally) notAllowed() int64 { return t.total() - t.allowed }

// String is a one-line summary such as "allow=10 401=2 (inactive=2) errors=0".
func (t tally) String() string {
	s := fmt.Sprintf("allow=%d", t.allowed)
	for _, code := range sortedKeys(t.denied) {
		s += fmt.Sprintf(" %d=%d", code, t.denied[code])
	}
	if len(t.reasons) > 0 {
		s += " ("
		for i, r := range sortedKeys(t.reasons) {
			if i > 0 {
				s += " "
			}
			s += fmt.Sprintf("%s=%d", r, t.reasons[r])
		}
		s += ")"
	}
	s += fmt.Sprintf(" grpc_errors=%d", t.rpcErrors)
	if t.firstErr != "" {
		s += fmt.Sprintf(" first_error=%q", t.firstErr)
	}
	return s
}

// loadResult is what a closed-loop run measured.
type loadResult struct {
	elapsed time.Duration
	lat     latencies
	tally   tally
}

// rps is completed checks per second.
func (r loadResult) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.tally.total()) / r.elapsed.Seconds()
}

// maxCallsPerClient bounds every closed loop in count as well as in time.
const maxCallsPerClient = 50_000_000

// loopSpec describes one closed-loop run.
type loopSpec struct {
	clients  int
	duration time.Duration
	token    func(client int) string // the token client i sends
	record   bool                    // keep latencies (false for warm-ups)
	stop     *atomic.Bool            // optional: ends the run early when set
}

// closedLoop runs spec.clients goroutines, each sending its next Check on
// its pool connection as soon as the previous answer arrived (runLoop).
func closedLoop(ctx context.Context, p *pool, spec loopSpec) loadResult {
	return runLoop(ctx, spec, func(i int) (func(*tally), func()) {
		c, req := p.client(i), newRequest(spec.token(i), i)
		return func(t *tally) {
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			resp, err := c.Check(cctx, req.next())
			cancel()
			t.add(resp, err)
		}, nil
	})
}

// runLoop runs spec.clients goroutines; client i makes its call with
// newClient(i) and then calls it in a closed loop, each call as soon as
// the previous one returned, until the duration has passed, stop is set or
// ctx ends; then it calls its done (when not nil). Each goroutine records
// latencies into its own preallocated slice and counts answers in its own
// tally; they are merged at the end, so the hot path takes no locks.
func runLoop(ctx context.Context, spec loopSpec, newClient func(i int) (call func(*tally), done func())) loadResult {
	lats := make([][]time.Duration, spec.clients)
	tallies := make([]tally, spec.clients)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(spec.duration)
	for i := range spec.clients {
		if spec.record {
			lats[i] = make([]time.Duration, 0, 1<<15)
		}
		tallies[i] = newTally()
		wg.Add(1)
		go func() {
			defer wg.Done()
			call, done := newClient(i)
			if done != nil {
				defer done()
			}
			for n := 0; n < maxCallsPerClient && ctx.Err() == nil; n++ {
				t0 := time.Now()
				if !t0.Before(deadline) || (spec.stop != nil && spec.stop.Load()) {
					return
				}
				call(&tallies[i])
				if spec.record {
					lats[i] = append(lats[i], time.Since(t0))
				}
			}
		}()
	}
	wg.Wait()
	res := loadResult{elapsed: time.Since(start), tally: mergeTallies(tallies)}
	if spec.record {
		res.lat = mergeLatencies(lats)
	}
	return res
}

// mergeTallies is the sum of ts.
func mergeTallies(ts []tally) tally {
	sum := newTally()
	for _, t := range ts {
		sum.merge(t)
	}
	return sum
}
