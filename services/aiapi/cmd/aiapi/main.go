// Command aiapi serves polymesh.ai.v1.AIService: the mesh's public AI API,
// in front of the inference tier's Open Inference Protocol API.
//
// Environment (flags override): POLYMESH_LISTEN_ADDR (default
// 127.0.0.1:50051), POLYMESH_INFERENCE_ADDR (default 127.0.0.1:8080, the
// gateway), and the standard OTEL_* variables.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/polymesh/polymesh/gen/go/inference"
	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
	"github.com/polymesh/polymesh/services/aiapi/internal/predict"
	"github.com/polymesh/polymesh/services/internal/grpcserver"
	"github.com/polymesh/polymesh/services/internal/telemetry"
)

func main() {
	if err := run(); err != nil {
		slog.Error("aiapi failed", "error", err)
		os.Exit(1)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func run() error {
	listen := flag.String("listen", envOr("POLYMESH_LISTEN_ADDR", "127.0.0.1:50051"), "gRPC listen address")
	upstream := flag.String("inference", envOr("POLYMESH_INFERENCE_ADDR", "127.0.0.1:8080"),
		"the inference API (the gateway, or the inference service directly)")
	flag.Parse()

	log := slog.New(traceHandler{slog.NewJSONHandler(os.Stderr, nil)}).With("service", "polymesh-aiapi")
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	shutdown, err := telemetry.Setup(ctx, "polymesh-aiapi")
	if err != nil {
		return err
	}
	defer func() {
		if err := shutdown(context.Background()); err != nil {
			log.Warn("flushing spans", "error", err)
		}
	}()

	conn, err := grpc.NewClient(*upstream,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(telemetry.ClientHandler()))
	if err != nil {
		return fmt.Errorf("inference client for %s: %w", *upstream, err)
	}
	defer conn.Close()

	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	srv := grpc.NewServer(grpc.StatsHandler(telemetry.ServerHandler()))
	aiv1.RegisterAIServiceServer(srv, predict.NewServer(inference.NewGRPCInferenceServiceClient(conn), log))
	log.Info("starting", "inference", *upstream)
	return grpcserver.Run(ctx, srv, lis, grpcserver.Options{Services: []string{aiv1.AIService_ServiceDesc.ServiceName}, Logger: log})
}

// traceHandler adds the trace and span ids of a record's context.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
