package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/tokengate/tokengate/extauthz/grpcauthz"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// manyRoutesConfig is testsupport.ManyRoutes with every tenant and route
// in front of asURL, accepting goodClaims.
func manyRoutesConfig(asURL string, tenants, perTenant int) string {
	return "grpc:\n  address: \"127.0.0.1:0\"\nhttp:\n  address: \"127.0.0.1:0\"\n" +
		testsupport.ManyRoutes(tenants, perTenant, func(int) testsupport.RoutesTenant {
			return testsupport.RoutesTenant{Issuer: "https://idp.acme.example", IntrospectionURL: asURL + "/oauth2/introspect", Audience: "api://orders"}
		}, func(int) string { return "orders.read" })
}

// startManyRoutes runs tokengate with manyRoutesConfig, logging at info
// (allows are not logged), and returns it with a request for its last
// route and a token the introspection cache already holds.
func startManyRoutes(b *testing.B, tenants, perTenant int) (*Server, req) {
	b.Helper()
	as := introspectiontest.New(b)
	as.Claims("cached", goodClaims(nil))
	path := testsupport.WriteConfig(b, manyRoutesConfig(as.URL, tenants, perTenant))
	logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := Start(context.Background(), Options{ConfigPath: path, Logger: logger, Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	testsupport.ShutdownOnCleanup(b, srv.Shutdown)
	last := req{host: fmt.Sprintf("t%03d.example.com", tenants-1), path: fmt.Sprintf("/api/r%02d/items/1", perTenant-1),
		auth: "Bearer cached", extraHeaders: map[string]string{"user-agent": "bench", "accept": "*/*"}}
	r := checkRequest(last)
	if out := srv.Checker().Check(context.Background(), &r); !out.Decision.Allow {
		b.Fatalf("warm-up: %s", out.Decision.Reason)
	}
	return srv, last
}

// BenchmarkCachedCheckRoutes is a cached check of the last route of 10
// routes (1 tenant) and of 10,000 routes (100 tenants × 100 routes), on the
// Checker and through the gRPC adapter: with routes indexed, the second
// costs about what the first does. Compare them within one run.
func BenchmarkCachedCheckRoutes(b *testing.B) {
	for _, size := range []struct{ tenants, perTenant int }{{1, 10}, {100, 100}} {
		name := fmt.Sprintf("routes=%d", size.tenants*size.perTenant)
		b.Run("via=checker/"+name, func(b *testing.B) {
			srv, last := startManyRoutes(b, size.tenants, size.perTenant)
			checker := srv.Checker()
			r := checkRequest(last)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if out := checker.Check(ctx, &r); !out.Decision.Allow {
					b.Fatal(out.Decision.Reason)
				}
			}
		})
		b.Run("via=adapter/"+name, func(b *testing.B) {
			srv, last := startManyRoutes(b, size.tenants, size.perTenant)
			adapter := grpcauthz.New(srv.Checker(), grpcauthz.Options{Propagator: srv.tel.Propagator})
			r := last.proto()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if resp, _ := adapter.Check(ctx, r); resp.GetStatus().GetCode() != 0 {
					b.Fatal(resp)
				}
			}
		})
	}
}

// BenchmarkCachedCheckRoutesRatio alternates the two checks of
// BenchmarkCachedCheckRoutes (10 routes, 10,000 routes) in blocks of 64, so
// that both see the same machine load, and reports each one's time per
// check (CPU time of the benchmark's thread on Linux, wall time elsewhere)
// and their ratio (10 routes / 10,000 routes: 1 means the route count
// costs nothing; the goal is at least 0.9).
func BenchmarkCachedCheckRoutesRatio(b *testing.B) {
	for _, via := range []string{"checker", "adapter"} {
		b.Run("via="+via, func(b *testing.B) {
			var check [2]func()
			for k, size := range []struct{ tenants, perTenant int }{{1, 10}, {100, 100}} {
				srv, last := startManyRoutes(b, size.tenants, size.perTenant)
				ctx := context.Background()
				if via == "checker" {
					checker, r := srv.Checker(), checkRequest(last)
					check[k] = func() {
						if out := checker.Check(ctx, &r); !out.Decision.Allow {
							b.Fatal(out.Decision.Reason)
						}
					}
				} else {
					adapter, r := grpcauthz.New(srv.Checker(), grpcauthz.Options{Propagator: srv.tel.Propagator}), last.proto()
					check[k] = func() {
						if resp, _ := adapter.Check(ctx, r); resp.GetStatus().GetCode() != 0 {
							b.Fatal(resp)
						}
					}
				}
			}
			// Thread CPU time where the system has it (Linux): on a busy
			// machine wall time mostly measures the other processes.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			_, useCPU := threadCPU()
			now := func() time.Duration {
				if useCPU {
					t, _ := threadCPU()
					return t
				}
				return time.Duration(time.Now().UnixNano())
			}
			const block = 64
			var spent [2]time.Duration
			n := 0
			for b.Loop() {
				for k := range check {
					start := now()
					for range block {
						check[k]()
					}
					spent[k] += now() - start
				}
				n += block
			}
			small, large := float64(spent[0])/float64(n), float64(spent[1])/float64(n)
			b.ReportMetric(small, "ns/check-10-routes")
			b.ReportMetric(large, "ns/check-10000-routes")
			b.ReportMetric(small/large, "ratio")
		})
	}
}
