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
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/polymesh/polymesh/services/internal/service"
	"github.com/polymesh/polymesh/services/users/internal/app"
)

const serviceName = "polymesh-users"

func main() {
	slog.SetDefault(service.Logger(serviceName)) // for what is logged before service.Start
	if err := run(); err != nil {
		slog.Error("users failed", "error", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", service.Env("POLYMESH_LISTEN_ADDR", "127.0.0.1:50053"), "gRPC listen address")
	db := flag.String("db", service.Env("POLYMESH_USERS_DB", "users.db"),
		"the database: a SQLite file path, or a postgres:// or postgresql:// URL")
	metricsAddr := flag.String("metrics-listen", service.Env("POLYMESH_METRICS_ADDR", "127.0.0.1:9103"),
		`Prometheus /metrics listen address, or "off"`)
	flag.Parse()

	proc, err := service.Start(serviceName, *metricsAddr)
	if err != nil {
		return err
	}
	defer proc.Close()
	ctx, log := proc.Ctx, proc.Log

	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	log.Info("starting", "database", app.Describe(*db))
	return app.Run(ctx, lis, app.Config{DB: *db, Logger: log, Ready: proc.Ready()})
}
