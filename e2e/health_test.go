package e2e

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	_, p := serveAcme(t, cfg{})

	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _, body := httpDo(t, "GET", "http://"+p.httpAddr+path, nil, ""); code != 200 {
			t.Errorf("GET %s: %d %q, want 200", path, code, body)
		}
	}
	// Anything else on the HTTP listener that is not a check is not found.
	if code, _, _ := httpDo(t, "GET", "http://"+p.httpAddr+"/nope", nil, ""); code != 404 {
		t.Errorf("GET /nope: %d, want 404", code)
	}

	client := healthpb.NewHealthClient(p.grpcConn(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, service := range []string{"", "envoy.service.auth.v3.Authorization"} {
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("grpc health %q: %v", service, err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("grpc health %q: %v, want SERVING", service, resp.GetStatus())
		}
	}
	_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("grpc health of an unknown service: %v, want NotFound", err)
	}
}
