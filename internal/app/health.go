package app

import (
	"context"
	"sync/atomic"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// drainingHealth is grpc.health.v1 whose Watch streams end once they have
// told their client NOT_SERVING during a drain. An open Watch is an RPC in
// flight, so without this a client that watches (grpc-go's client-side
// health checking does) would hold the drain until --drain-timeout; this
// way it learns NOT_SERVING, sees its stream end, and goes elsewhere. It
// is safe for concurrent use.
type drainingHealth struct {
	*health.Server
	draining *atomic.Bool // set by Shutdown before it turns the status NOT_SERVING
}

func (h drainingHealth) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	return h.Server.Watch(req, &drainWatch{Health_WatchServer: stream, ctx: ctx, cancel: cancel, draining: h.draining})
}

// drainWatch ends its Watch (through its context) after a NOT_SERVING
// sent while draining.
type drainWatch struct {
	healthpb.Health_WatchServer
	ctx      context.Context
	cancel   context.CancelFunc
	draining *atomic.Bool
}

func (w *drainWatch) Context() context.Context { return w.ctx }

func (w *drainWatch) Send(r *healthpb.HealthCheckResponse) error {
	err := w.Health_WatchServer.Send(r)
	if r.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING && w.draining.Load() {
		w.cancel()
	}
	return err
}
