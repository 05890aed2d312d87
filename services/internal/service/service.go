// Package service starts what every Go service of polymesh runs beside its
// gRPC server: JSON logs of polymesh's one shape (see package logging), a context that ends on SIGTERM
// or an interrupt, OpenTelemetry tracing (the standard OTEL_* variables)
// and a Prometheus /metrics endpoint.
//
//	proc, err := service.Start("polymesh-users", *metricsAddr)
//	if err != nil { return err }
//	defer proc.Close()
//	// serve until proc.Ctx ends, logging with proc.Log
package service

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/polymesh/polymesh/services/internal/logging"
	"github.com/polymesh/polymesh/services/internal/metrics"
	"github.com/polymesh/polymesh/services/internal/telemetry"
)

// Process is a started service's shared machinery.
type Process struct {
	// Ctx ends when the process is asked to stop.
	Ctx context.Context
	// Log is the service's logger (also slog's default).
	Log *slog.Logger
	// MetricsAddr is the address /metrics is served at; "" when none.
	MetricsAddr string
	closers     []func()
}

// Start sets up logging, the stop signals, tracing and metrics (served at
// metricsAddr; "" or "off" serves none) for the service `name` (the
// default of OTEL_SERVICE_NAME, which names it in logs and traces).
func Start(name, metricsAddr string) (*Process, error) {
	return start(name, metricsAddr, os.Stderr)
}

// Logger is the JSON logger on stderr of the service `name` (or the one
// OTEL_SERVICE_NAME names), the one Start makes slog's default; a command
// sets it as the default itself for what it logs before Start.
func Logger(name string) *slog.Logger { return newLogger(name, os.Stderr) }

func newLogger(name string, logs io.Writer) *slog.Logger {
	return logging.New(logs, Env("OTEL_SERVICE_NAME", name))
}

// start is Start logging to logs.
func start(name, metricsAddr string, logs io.Writer) (*Process, error) {
	log := newLogger(name, logs)
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	p := &Process{Ctx: ctx, Log: log, closers: []func(){stop}}

	shutdown, err := telemetry.Setup(ctx, name)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.closers = append(p.closers, func() {
		if err := shutdown(context.Background()); err != nil {
			log.Warn("flushing spans", "error", err)
		}
	})
	m, err := metrics.Setup(name)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.closers = append(p.closers, func() { _ = m.Shutdown(context.Background()) })
	if p.MetricsAddr, err = m.Start(ctx, metricsAddr, log); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Ready is the attributes the process adds to its service's ready line:
// "metrics_address" when /metrics is served.
func (p *Process) Ready() []slog.Attr {
	if p.MetricsAddr == "" {
		return nil
	}
	return []slog.Attr{slog.String("metrics_address", p.MetricsAddr)}
}

// Close stops the metrics, flushes spans and stops watching signals, in
// the reverse order of Start.
func (p *Process) Close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

// Env is the value of an environment variable, or fallback when it is
// unset or empty.
func Env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
