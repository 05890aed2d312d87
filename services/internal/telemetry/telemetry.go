// Package telemetry sets up OpenTelemetry tracing for the Go services of
// polymesh and instruments gRPC servers and clients with it.
//
// Setup reads the standard OTEL_* environment (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER...) and
// exports spans with OTLP/gRPC. ServerHandler and ClientHandler are otelgrpc
// stats handlers that also emit the RPC semantic conventions chosen by
// OTEL_SEMCONV_STABILITY_OPT_IN ("rpc": the new names, "rpc/dup": old and
// new), which otelgrpc does not do itself. Health checks are not traced.
//
//	shutdown, err := telemetry.Setup(ctx, "polymesh-aiapi")
//	defer shutdown(context.Background())
//	srv := grpc.NewServer(grpc.StatsHandler(telemetry.ServerHandler()))
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// Setup installs a global tracer provider exporting with OTLP/gRPC and the
// W3C trace-context and baggage propagators. defaultServiceName is used when
// neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES names the service.
// The returned function flushes and stops the exporter.
func Setup(ctx context.Context, defaultServiceName string) (func(context.Context) error, error) {
	if os.Getenv("OTEL_SDK_DISABLED") == "true" {
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
			propagation.TraceContext{}, propagation.Baggage{}))
		return func(context.Context) error { return nil }, nil
	}
	exporter, err := otlptracegrpc.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := Resource(ctx, defaultServiceName)
	if err != nil {
		return nil, err
	}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter), // OTEL_BSP_* honoured
		sdktrace.WithResource(res),     // sampler from OTEL_TRACES_SAMPLER(_ARG)
	)
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}))
	return provider.Shutdown, nil
}

// Resource describes this process: the SDK, the host process, and the
// service, named by OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES when they
// say, else defaultServiceName.
func Resource(ctx context.Context, defaultServiceName string) (*resource.Resource, error) {
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithProcessPID(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithAttributes(attribute.String("service.name", defaultServiceName)),
		resource.WithFromEnv(), // later detectors win: the environment overrides
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("resource: %w", err)
	}
	return res, nil
}

// SemconvMode says which RPC semantic conventions spans carry.
type SemconvMode int

const (
	// SemconvOld emits only the conventions otelgrpc emits (the default).
	SemconvOld SemconvMode = iota
	// SemconvNew emits the stable names (rpc.system.name, qualified
	// rpc.method, rpc.response.status_code).
	SemconvNew
	// SemconvDup emits both.
	SemconvDup
)

// SemconvModeFrom parses an OTEL_SEMCONV_STABILITY_OPT_IN value: a
// comma-separated list in which "rpc/dup" wins over "rpc".
func SemconvModeFrom(value string) SemconvMode {
	mode := SemconvOld
	for _, item := range strings.Split(value, ",") {
		switch strings.TrimSpace(item) {
		case "rpc/dup":
			return SemconvDup
		case "rpc":
			mode = SemconvNew
		}
	}
	return mode
}

// ServerHandler is the stats handler for gRPC servers.
func ServerHandler(opts ...otelgrpc.Option) stats.Handler {
	return newHandler(otelgrpc.NewServerHandler(append(defaultOptions(), opts...)...))
}

// ClientHandler is the stats handler for gRPC client connections.
func ClientHandler(opts ...otelgrpc.Option) stats.Handler {
	return newHandler(otelgrpc.NewClientHandler(append(defaultOptions(), opts...)...))
}

func defaultOptions() []otelgrpc.Option {
	return []otelgrpc.Option{otelgrpc.WithFilter(func(info *stats.RPCTagInfo) bool {
		return !strings.HasPrefix(info.FullMethodName, "/grpc.health.v1.Health/")
	})}
}

// semconvHandler wraps otelgrpc's handler: it adds the new attributes once
// otelgrpc has started the span, and the status before otelgrpc ends it.
type semconvHandler struct {
	stats.Handler
	mode SemconvMode
}

func newHandler(inner stats.Handler) stats.Handler {
	return &semconvHandler{Handler: inner, mode: SemconvModeFrom(os.Getenv("OTEL_SEMCONV_STABILITY_OPT_IN"))}
}

func (h *semconvHandler) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	ctx = h.Handler.TagRPC(ctx, info)
	if h.mode == SemconvOld {
		return ctx
	}
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("rpc.system.name", "grpc"),
			attribute.String("rpc.method", strings.TrimPrefix(info.FullMethodName, "/")),
		)
	}
	return ctx
}

func (h *semconvHandler) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if end, ok := s.(*stats.End); ok && h.mode != SemconvOld {
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			span.SetAttributes(attribute.String("rpc.response.status_code", CodeName(status.Code(end.Error))))
		}
	}
	h.Handler.HandleRPC(ctx, s)
}

// CodeName is a gRPC code's canonical name, such as "NOT_FOUND".
func CodeName(c codes.Code) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "UNKNOWN"
}

var codeNames = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
	"UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}
