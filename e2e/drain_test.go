package e2e

import (
	"context"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tokengate/tokengate/testsupport"
)

// TestDrainOnSIGTERM: a check in flight when SIGTERM arrives (the
// authorization server takes 2 s) gets its answer, /readyz turns 503 and a
// gRPC health watch gets NOT_SERVING and ends during the drain, and the
// process exits 0 after logging "draining" and "stopped".
func TestDrainOnSIGTERM(t *testing.T) {
	as, p := serveAcme(t, cfg{timeout: "5s"}, "--drain-timeout", "10s")
	as.Claims("tok-slow", goodClaims(nil))
	as.SetDelay(2 * time.Second)
	conn := p.grpcConn(t)

	type result struct {
		resp *authv3.CheckResponse
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := p.checkRaw(conn, req{auth: bearer("tok-slow")})
		done <- result{resp, err}
	}()
	testsupport.WaitFor(t, 5*time.Second, "the check reaching the authorization server", func() bool { return as.InFlight() == 1 })
	// gRPC health, watched from before the signal, turns NOT_SERVING.
	watchCtx, stopWatch := context.WithTimeout(t.Context(), 10*time.Second)
	defer stopWatch()
	watch, err := healthpb.NewHealthClient(conn).Watch(watchCtx, &healthpb.HealthCheckRequest{Service: "envoy.service.auth.v3.Authorization"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health before the signal: %v, %v", st, err)
	}
	sent := time.Now()
	p.signal(t, syscall.SIGTERM)
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("gRPC health during the drain: %v, %v; want NOT_SERVING", st, err)
	}
	// Then the watch ends, so that it does not hold the drain (an open
	// watch is an RPC in flight).
	if st, err := watch.Recv(); err == nil {
		t.Errorf("the watch goes on during the drain: %v", st)
	}

	// /readyz answers 503 while the check drains.
	testsupport.WaitFor(t, 1500*time.Millisecond, "/readyz 503 during the drain", func() bool {
		code, _, err := tryGet("http://" + p.httpAddr + "/readyz")
		if err != nil {
			t.Fatalf("/readyz during the drain: %v (the HTTP listener must answer until the checks are done)", err)
		}
		return code == 503
	})
	if code, _, _ := httpDo(t, "GET", "http://"+p.httpAddr+"/healthz", nil, ""); code != 200 {
		t.Errorf("/healthz during the drain: %d, want 200", code)
	}

	var r result
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the in-flight check got no answer")
	}
	if r.err != nil {
		t.Fatalf("the in-flight check failed: %v", r.err)
	}
	if a := parseAnswer(t, r.resp); !a.allow {
		t.Fatalf("the in-flight check: %d %v, want allow", a.status, a.body)
	}
	if code := p.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0", code)
	}
	if el := time.Since(sent); el > 8*time.Second {
		t.Errorf("the drain took %v for a 2s check", el)
	}
	for _, msg := range []string{"draining", "stopped"} {
		if len(p.findLogs(0, msgIs(msg))) == 0 {
			t.Errorf("no %q log line", msg)
		}
	}
	draining, stopped := p.findLogs(0, msgIs("draining")), p.findLogs(0, msgIs("stopped"))
	if len(draining) == 1 && len(stopped) == 1 && draining[0].str("time") > stopped[0].str("time") {
		t.Errorf("stopped logged before draining")
	}
}

// TestSIGINTStops: SIGINT is a graceful stop too.
func TestSIGINTStops(t *testing.T) {
	t.Parallel()
	p := startServe(t, cfg{as: newAS(t).URL}.write(t), serveOpts{env: acmeEnv})
	p.signal(t, syscall.SIGINT)
	if code := p.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGINT, want 0", code)
	}
	if len(p.findLogs(0, msgIs("stopped"))) == 0 {
		t.Error("no stopped line")
	}
}
