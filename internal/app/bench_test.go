package app

import (
	"context"
	"log/slog"
	"net"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/tokengate/tokengate/extauthz/grpcauthz"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
)

// cachedHarness is a tokengate logging at the production default (info),
// where allows are not logged, in front of a fake authorization server
// that calls the token "cached" good; stop stops both.
func cachedHarness() (h *harness, stop func()) {
	as := introspectiontest.NewServer()
	as.Claims("cached", goodClaims(nil))
	h = startHarnessLevel(&testing.T{}, testsupport.WriteConfig(&testing.T{}, testConfig(as.URL)), slog.LevelInfo)
	return h, func() {
		h.srv.Shutdown(context.Background())
		as.Close()
	}
}

// BenchmarkGRPCCheckCached is one full ext_authz check over a real gRPC
// connection on 127.0.0.1, for a token already in the cache: the hot path.
func BenchmarkGRPCCheckCached(b *testing.B) {
	h, stop := cachedHarness()
	defer stop()
	r := benchRequest()
	ctx := context.Background()
	if resp, err := h.client.Check(ctx, r); err != nil || resp.GetOkResponse() == nil {
		b.Fatalf("warm-up: %v %v", resp, err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := h.client.Check(ctx, r)
			if err != nil || resp.GetOkResponse() == nil {
				b.Fatalf("check: %v %v", resp, err)
			}
		}
	})
}

// BenchmarkCheckerCached is the same check without gRPC: what tokengate
// itself adds per request on a cache hit.
func BenchmarkCheckerCached(b *testing.B) {
	h, stop := cachedHarness()
	defer stop()
	checker := h.srv.Checker()
	r := checkRequest(req{path: "/orders/1", auth: "Bearer cached"})
	ctx := context.Background()
	if out := checker.Check(ctx, &r); !out.Decision.Allow {
		b.Fatal(out.Decision.Reason)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if out := checker.Check(ctx, &r); !out.Decision.Allow {
				b.Fatal(out.Decision.Reason)
			}
		}
	})
}

// noopAuthz allows everything: the ceiling a gRPC ext_authz server can reach.
type noopAuthz struct {
	authv3.UnimplementedAuthorizationServer
}

func (noopAuthz) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{Status: &rpcstatus.Status{},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}}}, nil
}

// BenchmarkGRPCCheckNoop is BenchmarkGRPCCheckCached's request against a
// server that allows without looking: compare the two in one run.
func BenchmarkGRPCCheckNoop(b *testing.B) { benchGRPC(b, noopAuthz{}) }

// benchGRPC drives impl over a real gRPC connection on 127.0.0.1.
func benchGRPC(b *testing.B, impl authv3.AuthorizationServer) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, impl)
	go srv.Serve(lis)
	defer srv.Stop()
	client := testsupport.AuthorizationClient(b, lis.Addr().String())
	r := benchRequest()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.Check(ctx, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchRequest() *authv3.CheckRequest {
	return req{path: "/orders/1", auth: "Bearer cached", extraHeaders: map[string]string{
		"user-agent": "bench", "x-request-id": "2f1c7e7e-5c1b-4c54-9d3c-5b8f7f0f6a11", "accept": "*/*",
	}}.proto()
}

// BenchmarkAdapterCached is the gRPC adapter's Check called directly (no
// network, no proto decoding): request conversion, trace context lookup,
// the check, and the (memoized) response.
func BenchmarkAdapterCached(b *testing.B) {
	h, stop := cachedHarness()
	defer stop()
	srv := grpcauthz.New(h.srv.Checker(), grpcauthz.Options{Propagator: h.srv.tel.Propagator})
	r := benchRequest()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if resp, _ := srv.Check(ctx, r); resp.GetStatus().GetCode() != 0 {
			b.Fatal(resp)
		}
	}
}

// fixedAuthz answers every check with one prepared response.
type fixedAuthz struct {
	authv3.UnimplementedAuthorizationServer
	resp *authv3.CheckResponse
}

func (f fixedAuthz) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return f.resp, nil
}

// BenchmarkGRPCCheckNoopSameResponse is a no-op server that sends the very
// allow response tokengate sends (headers, headers to remove, metadata):
// the gap to BenchmarkGRPCCheckCached is tokengate's own work, the gap to
// BenchmarkGRPCCheckNoop is the cost of carrying the contract's answer.
func BenchmarkGRPCCheckNoopSameResponse(b *testing.B) {
	h, stop := cachedHarness()
	defer stop()
	resp, err := h.client.Check(context.Background(), benchRequest())
	if err != nil || resp.GetOkResponse() == nil {
		b.Fatal(resp, err)
	}
	benchGRPC(b, fixedAuthz{resp: resp})
}
