// Command users serves polymesh.users.v1.UserService: the mesh's users, in
// a SQLite file or a PostgreSQL database.
//
// Environment (flags override): POLYMESH_LISTEN_ADDR (default
// 127.0.0.1:50053), POLYMESH_USERS_DB (a SQLite file path, default
// "users.db", or a postgres:// or postgresql:// URL), POLYMESH_METRICS_ADDR
// (Prometheus /metrics, default 127.0.0.1:9103; "off" for none), and the
// standard OTEL_* variables.
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

	"github.com/polymesh/polymesh/services/internal/logging"
	"github.com/polymesh/polymesh/services/internal/metrics"
	"github.com/polymesh/polymesh/services/internal/telemetry"
	"github.com/polymesh/polymesh/services/users/internal/app"
)

func main() {
	if err := run(); err != nil {
		slog.Error("users failed", "error", err)
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
	listen := flag.String("listen", envOr("POLYMESH_LISTEN_ADDR", "127.0.0.1:50053"), "gRPC listen address")
	db := flag.String("db", envOr("POLYMESH_USERS_DB", "users.db"),
		"the database: a SQLite file path, or a postgres:// or postgresql:// URL")
	metricsAddr := flag.String("metrics-listen", envOr("POLYMESH_METRICS_ADDR", "127.0.0.1:9103"),
		`Prometheus /metrics listen address, or "off"`)
	flag.Parse()

	log := logging.New(os.Stderr, "polymesh-users")
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	shutdown, err := telemetry.Setup(ctx, "polymesh-users")
	if err != nil {
		return err
	}
	defer func() {
		if err := shutdown(context.Background()); err != nil {
			log.Warn("flushing spans", "error", err)
		}
	}()

	m, err := metrics.Setup("polymesh-users")
	if err != nil {
		return err
	}
	defer m.Shutdown(context.Background())
	if err := m.Start(ctx, *metricsAddr, log); err != nil {
		return err
	}

	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	log.Info("starting", "database", app.Describe(*db))
	return app.Run(ctx, lis, app.Config{DB: *db, Logger: log})
}
