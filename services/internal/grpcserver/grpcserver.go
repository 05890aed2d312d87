// Package grpcserver runs a gRPC server the way every Go service of polymesh
// does: grpc.health.v1 and server reflection registered, health SERVING once
// listening and NOT_SERVING while stopping, and a graceful stop when ctx ends
// (GracefulStop, then a forced Stop after the grace period).
//
//	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
//	defer stop()
//	err := grpcserver.Run(ctx, srv, lis, grpcserver.Options{Services: []string{"polymesh.ai.v1.AIService"}})
package grpcserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
)

// Options tune Run.
type Options struct {
	// Services whose health is reported besides the overall "" entry.
	Services []string
	// Grace is how long in-flight calls may run on after ctx ends. Default 10s.
	Grace time.Duration
	// Logger receives the start and stop lines. Default slog.Default().
	Logger *slog.Logger
}

// Run registers health and reflection on srv, serves on lis until ctx ends,
// then stops gracefully. It returns nil after a clean stop, or the error
// that ended serving.
func Run(ctx context.Context, srv *grpc.Server, lis net.Listener, opts Options) error {
	if opts.Grace <= 0 {
		opts.Grace = 10 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	for _, name := range append([]string{""}, opts.Services...) {
		hs.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	log.Info("serving", "address", lis.Addr().String())

	select {
	case err := <-served:
		if errors.Is(err, grpc.ErrServerStopped) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	log.Info("stopping", "grace", opts.Grace.String())
	hs.Shutdown() // every entry NOT_SERVING
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(opts.Grace):
		log.Warn("grace period over, stopping in-flight calls")
		srv.Stop()
		<-done
	}
	log.Info("stopped")
	return nil
}
