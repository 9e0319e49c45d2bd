package app

import (
	"net/http"
	"runtime"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Connection bounds of the listeners. A client cannot hold a file
// descriptor forever by opening connections and sending nothing, nor open
// unbounded streams on one connection; the bounds are loose enough that
// Envoy's few long-lived, heavily multiplexed connections never meet them.
const (
	// httpIdleTimeout closes an idle keep-alive connection of the HTTP and
	// admin listeners (proxies reconnect at once when they need to).
	httpIdleTimeout = 60 * time.Second
	// httpReadHeaderTimeout bounds how long a client may take to send a
	// request's headers (a slowloris holds connections this way).
	httpReadHeaderTimeout = 10 * time.Second
	// httpMaxHeaderBytes bounds a request's headers.
	httpMaxHeaderBytes = 64 << 10

	// grpcMaxConcurrentStreams is per connection: Envoy multiplexes every
	// check of a worker thread onto one connection, so this is high.
	grpcMaxConcurrentStreams = 4096
	// grpcKeepaliveMinTime: a client pinging more often than this is told
	// to go away (ENHANCE_YOUR_CALM), so pings cannot be used to keep the
	// server busy. Pings without streams are allowed: Envoy keeps idle
	// connections to ext_authz alive this way.
	grpcKeepaliveMinTime = 10 * time.Second
	// grpcMaxConnectionIdle closes a connection with no stream for this long.
	grpcMaxConnectionIdle = 15 * time.Minute
	// grpcMaxConnectionAge and its grace bound a connection's life, so
	// load spreads over new replicas; in-flight checks finish in the grace.
	grpcMaxConnectionAge      = 30 * time.Minute
	grpcMaxConnectionAgeGrace = 30 * time.Second
)

// newHTTPServer is an http.Server for h with the listeners' bounds;
// idleTimeout 0 means httpIdleTimeout.
func newHTTPServer(h http.Handler, idleTimeout time.Duration) *http.Server {
	if idleTimeout <= 0 {
		idleTimeout = httpIdleTimeout
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
	}
}

// grpcBounds are the gRPC server options that bound connections and
// streams.
func grpcBounds() []grpc.ServerOption {
	return []grpc.ServerOption{
		// Streams run on a pool of long-lived goroutines (16 per CPU: a
		// burst of streams is dispatched before the workers get to run)
		// instead of a new goroutine each: decoding a CheckRequest and
		// deciding it needs more stack than a new goroutine starts with,
		// and growing it (copying the stack) was ~18% of the CPU of a
		// cached check (bench/loadgen --profile; throughput against the
		// no-op server 0.73-0.75 before, 0.82-0.86 after). Streams beyond
		// the pool still get goroutines of their own.
		grpc.NumStreamWorkers(uint32(16 * runtime.GOMAXPROCS(0))),
		grpc.MaxConcurrentStreams(grpcMaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             grpcKeepaliveMinTime,
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     grpcMaxConnectionIdle,
			MaxConnectionAge:      grpcMaxConnectionAge,
			MaxConnectionAgeGrace: grpcMaxConnectionAgeGrace,
		}),
	}
}
