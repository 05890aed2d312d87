// Package grpcserver runs a gRPC server the way every Go service of polymesh
// does: grpc.health.v1 and server reflection registered, health SERVING once
// listening and NOT_SERVING while stopping, and a graceful stop when ctx ends
// (GracefulStop, then a forced Stop after the grace period). With a Check,
// health also turns NOT_SERVING while a dependency is down. Once serving it
// logs the service's one ready line, the same in every polymesh process:
// body "ready", with the gRPC address in "address" and Options.Ready after it.
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
	// Logger receives the ready and stop lines. Default slog.Default().
	Logger *slog.Logger
	// Ready holds the ready line's attributes besides "address" (such as
	// "metrics_address").
	Ready []slog.Attr
	// Check, if set, tells whether the service's dependencies (a database,
	// an upstream API) can be used. It runs off the request path, every
	// CheckInterval, with CheckInterval as its timeout; while it fails,
	// health is NOT_SERVING for every entry.
	Check func(ctx context.Context) error
	// CheckInterval is how often Check runs. Default 5s.
	CheckInterval time.Duration
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
	names := append([]string{""}, opts.Services...)
	setAll := func(st healthpb.HealthCheckResponse_ServingStatus) {
		for _, name := range names {
			hs.SetServingStatus(name, st)
		}
	}
	setAll(healthpb.HealthCheckResponse_SERVING)
	checkCtx, stopChecks := context.WithCancel(ctx)
	defer stopChecks()
	if opts.Check != nil {
		if opts.CheckInterval <= 0 {
			opts.CheckInterval = 5 * time.Second
		}
		go watch(checkCtx, opts.Check, opts.CheckInterval, setAll, log)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	log.LogAttrs(ctx, slog.LevelInfo, "ready", append([]slog.Attr{slog.String("address", lis.Addr().String())}, opts.Ready...)...)

	select {
	case err := <-served:
		if errors.Is(err, grpc.ErrServerStopped) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	log.Info("stopping", "grace", opts.Grace.String())
	stopChecks()
	hs.Shutdown() // every entry NOT_SERVING, and no later change
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

// watch runs check now and every interval until ctx ends, setting health
// from its result and logging each change.
func watch(ctx context.Context, check func(context.Context) error, interval time.Duration,
	set func(healthpb.HealthCheckResponse_ServingStatus), log *slog.Logger,
) {
	healthy := true
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		callCtx, cancel := context.WithTimeout(ctx, interval)
		err := check(callCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil && healthy:
			log.Warn("dependency down, health NOT_SERVING", "error", err)
			set(healthpb.HealthCheckResponse_NOT_SERVING)
		case err == nil && !healthy:
			log.Info("dependency back, health SERVING")
			set(healthpb.HealthCheckResponse_SERVING)
		}
		healthy = err == nil
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
