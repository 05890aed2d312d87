// Package app runs the users service: it opens the database (running its
// migrations), serves polymesh.users.v1.UserService with health and
// reflection, keeps health NOT_SERVING while the database cannot be reached,
// and stops gracefully when ctx ends.
//
//	err := app.Run(ctx, lis, app.Config{DB: "users.db", Logger: log})
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc"

	usersv1 "github.com/polymesh/polymesh/gen/go/polymesh/users/v1"
	"github.com/polymesh/polymesh/services/internal/grpcserver"
	"github.com/polymesh/polymesh/services/internal/telemetry"
	"github.com/polymesh/polymesh/services/users/internal/store"
	"github.com/polymesh/polymesh/services/users/internal/userapi"
)

// Config tunes Run.
type Config struct {
	// DB is a SQLite file path or a postgres:// (postgresql://) URL.
	DB string
	// Logger receives the service's lines. Default slog.Default().
	Logger *slog.Logger
	// Ready holds the ready line's attributes besides "address" (such as
	// "metrics_address").
	Ready []slog.Attr
	// OpenTimeout is how long Run retries a database that is unavailable
	// at start (a PostgreSQL server still starting). Default 30s.
	OpenTimeout time.Duration
	// CheckInterval is how often the database is pinged for health.
	// Default 5s.
	CheckInterval time.Duration
	// Grace is how long in-flight calls may run on at stop. Default 10s.
	Grace time.Duration
}

// Run serves on lis until ctx ends; it returns nil after a clean stop.
func Run(ctx context.Context, lis net.Listener, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = 30 * time.Second
	}
	st, err := open(ctx, cfg.DB, cfg.OpenTimeout, log)
	if err != nil {
		lis.Close()
		return err
	}
	defer st.Close()
	log.Info("database ready", "database", Describe(cfg.DB), "dialect", st.Dialect())

	srv := grpc.NewServer(grpc.StatsHandler(telemetry.ServerHandler()))
	usersv1.RegisterUserServiceServer(srv, userapi.NewServer(st, log))
	return grpcserver.Run(ctx, srv, lis, grpcserver.Options{
		Services:      []string{usersv1.UserService_ServiceDesc.ServiceName},
		Logger:        log,
		Ready:         cfg.Ready,
		Grace:         cfg.Grace,
		Check:         st.Ping,
		CheckInterval: cfg.CheckInterval,
	})
}

// open opens the store, retrying while the database is unavailable, with
// backoff, for up to timeout.
func open(ctx context.Context, dsn string, timeout time.Duration, log *slog.Logger) (*store.SQL, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wait := 200 * time.Millisecond
	for {
		st, err := store.Open(ctx, dsn)
		if err == nil {
			return st, nil
		}
		if !errors.Is(err, store.ErrUnavailable) {
			return nil, fmt.Errorf("database %s: %w", Describe(dsn), err)
		}
		log.Warn("database unavailable, retrying", "database", Describe(dsn), "in", wait.String(), "error", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("database %s: still unavailable after %s: %w", Describe(dsn), timeout, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// Describe is dsn fit for logs: a PostgreSQL URL without its password.
func Describe(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			return u.Redacted()
		}
		return "a postgres URL that does not parse"
	}
	return dsn
}
