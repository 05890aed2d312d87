// Package metrics exposes a Go service's metrics to Prometheus.
//
// Setup installs a global OpenTelemetry meter provider whose reader is the
// OpenTelemetry Prometheus exporter, so the instruments of otelgrpc
// (rpc.server.duration, rpc.client.duration...) and a service's own
// instruments are scraped from one /metrics endpoint, beside the Go runtime
// and process collectors.
//
//	m, err := metrics.Setup("polymesh-aiapi")
//	go m.Serve(ctx, lis, log)
//	meter := otel.Meter("polymesh/aiapi")
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/polymesh/polymesh/services/internal/telemetry"
)

// Metrics is a service's registry and meter provider.
type Metrics struct {
	// Registry holds every collector /metrics serves.
	Registry *prometheus.Registry
	// Provider is also installed as the global meter provider.
	Provider *sdkmetric.MeterProvider
}

// Setup builds the registry with the Go and process collectors and installs
// a global meter provider that exports to it. defaultServiceName names the
// service when OTEL_SERVICE_NAME does not.
func Setup(defaultServiceName string) (*Metrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	res, err := telemetry.Resource(context.Background(), defaultServiceName)
	if err != nil {
		return nil, err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(res))
	otel.SetMeterProvider(provider)
	return &Metrics{Registry: reg, Provider: provider}, nil
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Serve answers GET /metrics on lis until ctx ends.
func (m *Metrics) Serve(ctx context.Context, lis net.Listener, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	log.Info("metrics serving", "address", "http://"+lis.Addr().String()+"/metrics")
	if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}

// Start serves /metrics at addr in the background until ctx ends and
// returns the address it listens on; "off" or "" serves nothing and
// returns "". It fails only when addr cannot be listened on.
func (m *Metrics) Start(ctx context.Context, addr string, log *slog.Logger) (string, error) {
	if addr == "" || addr == "off" {
		return "", nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("metrics listen on %s: %w", addr, err)
	}
	go func() {
		if err := m.Serve(ctx, lis, log); err != nil {
			log.Error("metrics server failed", "error", err)
		}
	}()
	return lis.Addr().String(), nil
}

// Shutdown stops the meter provider.
func (m *Metrics) Shutdown(ctx context.Context) error {
	return m.Provider.Shutdown(ctx)
}
