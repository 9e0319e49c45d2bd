// Package telemetry sets up OpenTelemetry for tokengate: a tracer provider
// whose exporter the standard OTEL_* variables choose, W3C trace context and
// b3 propagation, and a meter provider exported in Prometheus text format
// on /metrics (and over OTLP when OTEL_METRICS_EXPORTER asks).
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Options configures New.
type Options struct {
	Version string
	// Getenv reads the OTEL_* variables; default: none set.
	Getenv func(string) string
	// SpanProcessor, when set, also receives every span (tests record
	// spans in memory with tracetest.NewSpanRecorder).
	SpanProcessor sdktrace.SpanProcessor
}

// Telemetry owns the providers. Its fields are safe for concurrent use;
// Shutdown flushes and stops them once, at the end of the process.
type Telemetry struct {
	Tracer     trace.Tracer
	Propagator propagation.TextMapPropagator
	Meter      metric.Meter
	// TracerProvider is for instrumentation libraries (otelgrpc, otelhttp).
	TracerProvider trace.TracerProvider
	// Exporting says whether spans go anywhere; when not, spans are not
	// recorded and per-RPC instrumentation can be skipped.
	Exporting     bool
	MeterProvider metric.MeterProvider

	registry *prometheus.Registry
	shutdown []func(context.Context) error
}

// New builds the providers. With OTEL_TRACES_EXPORTER unset (or "none")
// nothing is exported, but spans are still created so that logs can carry
// trace and span ids of the checked request's trace.
func New(ctx context.Context, o Options) (*Telemetry, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", "tokengate"),
		attribute.String("service.version", o.Version),
	)
	if o.Getenv != nil {
		// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the
		// defaults, as in every OpenTelemetry SDK.
		fromEnv, err := resource.New(ctx, resource.WithFromEnv())
		if err != nil {
			return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
		}
		if res, err = resource.Merge(res, fromEnv); err != nil {
			return nil, fmt.Errorf("resource: %w", err)
		}
	}
	t := &Telemetry{
		Propagator: propagation.NewCompositeTextMapPropagator(
			propagation.TraceContext{}, propagation.Baggage{}, b3.New()),
		registry: newRegistry(),
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	exporting := false
	if name := getenv("OTEL_TRACES_EXPORTER"); name != "" && name != "none" {
		exporter, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: %w", name, err)
		}
		tpOpts = append(tpOpts, sdktrace.WithBatcher(exporter))
		exporting = true
	}
	if o.SpanProcessor != nil {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(o.SpanProcessor))
		exporting = true
	}
	// With nowhere to send spans, do not record them: non-recording spans
	// still get trace and span ids (for logs and the traceparent sent to
	// authorization servers) at a fraction of the cost.
	sampler := sdktrace.NeverSample()
	if exporting {
		sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
	tpOpts = append(tpOpts, sdktrace.WithSampler(sampler))
	t.Exporting = exporting
	tp := sdktrace.NewTracerProvider(tpOpts...)
	t.shutdown = append(t.shutdown, tp.Shutdown)
	t.TracerProvider = tp
	t.Tracer = tp.Tracer("github.com/tokengate/tokengate")

	promExporter, err := otelprom.New(otelprom.WithRegisterer(t.registry), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	mpOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExporter)}
	if name := getenv("OTEL_METRICS_EXPORTER"); name != "" && name != "none" && name != "prometheus" {
		reader, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTEL_METRICS_EXPORTER=%s: %w", name, err)
		}
		mpOpts = append(mpOpts, sdkmetric.WithReader(reader))
	}
	mp := sdkmetric.NewMeterProvider(mpOpts...)
	t.shutdown = append(t.shutdown, mp.Shutdown)
	t.MeterProvider = mp
	t.Meter = mp.Meter("github.com/tokengate/tokengate")
	return t, nil
}

// newRegistry is the registry /metrics serves: tokengate's own metrics
// (registered by the OpenTelemetry exporter) plus the standard Go runtime
// (go_*) and process (process_*: CPU, memory, file descriptors, start
// time; Linux and a few other systems) collectors every Prometheus
// exporter has.
func newRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

// MetricsHandler serves the metrics in Prometheus text format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{})
}

// Shutdown flushes pending spans and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}
