package grpcauthz

import (
	"context"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc/metadata"
)

// benchCheckRequest is a check as Envoy sends it for a GET with a few
// ordinary headers and no trace context.
func benchCheckRequest() *authv3.CheckRequest {
	return httpReq(&authv3.AttributeContext_HttpRequest{
		Method: "GET", Path: "/orders/1", Host: "orders.acme.example", Scheme: "https",
		Headers: map[string]string{
			":authority": "orders.acme.example", ":method": "GET", ":path": "/orders/1", ":scheme": "https",
			"authorization": "Bearer cached", "user-agent": "bench", "accept": "*/*",
			"x-request-id": "2f1c7e7e-5c1b-4c54-9d3c-5b8f7f0f6a11", "x-forwarded-proto": "https",
		},
	}, nil)
}

// benchIncomingContext is a server handler's context with the metadata
// Envoy's gRPC client sends, under a few context layers as grpc-go adds.
func benchIncomingContext() context.Context {
	ctx := context.WithValue(context.Background(), struct{ a int }{}, 1)
	ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(
		":authority", "tokengate:9191", "content-type", "application/grpc", "user-agent", "envoy/1.31",
		"te", "trailers", "grpc-timeout", "199m", "x-envoy-internal", "true",
		"x-envoy-expected-rq-timeout-ms", "200", "grpc-accept-encoding", "identity"))
	ctx = context.WithValue(ctx, struct{ b int }{}, 2)
	return context.WithValue(ctx, struct{ c int }{}, 3)
}

// BenchmarkFrontCached is the adapter's work around the check on a check
// without trace context: the request conversion and the trace context
// lookup (gRPC metadata, then the checked request's headers).
func BenchmarkFrontCached(b *testing.B) {
	s := &Server{propagator: propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}, b3.New())}
	req := benchCheckRequest()
	ctx := benchIncomingContext()
	b.ReportAllocs()
	for b.Loop() {
		headers := req.GetAttributes().GetRequest().GetHttp().GetHeaders()
		mixed := hasMixedCaseKey(headers)
		r := request(req, mixed)
		if s.traceParent(ctx, traceCarrier(headers, mixed)) != ctx || r.Authorization == "" {
			b.Fatal("unexpected trace context")
		}
	}
}
