package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite connection settings, applied to every connection of the pool: a
// busy timeout instead of immediate SQLITE_BUSY errors, foreign keys
// enforced, and write transactions that take the write lock when they begin
// (no deadlock between two readers upgrading). Write-ahead logging (readers
// never wait for the writer) is a property of the file, set once by
// sqliteWAL: as a connection setting, connections opened at the same time
// (two processes starting) could fail with SQLITE_BUSY, which switching the
// journal mode reports without waiting.
const sqliteParams = "?_pragma=busy_timeout(5000)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(NORMAL)" +
	"&_txlock=immediate"

// sqliteTimeLayout is how SQLite keeps times: RFC 3339 UTC with exactly six
// fractional digits, so that text order is time order.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

// postgresMigrationLock is the pg_advisory_xact_lock key that serializes
// the migrations of concurrent starts.
const postgresMigrationLock = 0x706f6c796d657368 // "polymesh"

// dialect is what differs between the databases.
type dialect struct {
	name   string // "sqlite" or "postgres": also the folder of its migrations
	driver string // the database/sql driver name
	// migrationsTable creates the table of applied migrations.
	migrationsTable string
	// migrationLock, if set, runs first in the migration transaction.
	migrationLock string
	// configure sizes the connection pool.
	configure func(*sql.DB)
	// prepare, if set, readies the database before the migrations.
	prepare func(context.Context, *sql.DB) error
	// timeArg is a time as a query argument.
	timeArg func(time.Time) any
	// classifyDriver maps a driver error to the store's errors, or returns
	// nil if it is none of them.
	classifyDriver func(error) error
	// numberedParams: the driver wants $1, $2... instead of ?.
	numberedParams bool
}

var sqliteDialect = dialect{
	name:            "sqlite",
	driver:          "sqlite",
	migrationsTable: "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at TEXT NOT NULL)",
	configure: func(db *sql.DB) {
		// One writer at a time anyway; a few connections let reads run
		// beside it.
		db.SetMaxOpenConns(8)
		db.SetMaxIdleConns(8)
	},
	prepare:        sqliteWAL,
	timeArg:        func(t time.Time) any { return t.UTC().Format(sqliteTimeLayout) },
	classifyDriver: classifySQLite,
}

// sqliteWAL puts the database file in write-ahead logging mode, retrying
// while another connection holds the lock that the switch needs, for as long
// as the busy timeout.
func sqliteWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(5 * time.Second)
	wait := 5 * time.Millisecond
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("journal_mode=WAL: the database stays in %q mode", mode)
			}
			return nil
		}
		if !errors.Is(classifySQLite(err), ErrUnavailable) || time.Now().After(deadline) {
			return fmt.Errorf("journal_mode=WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("journal_mode=WAL: %w", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

var postgresDialect = dialect{
	name:            "postgres",
	driver:          "pgx",
	migrationsTable: "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)",
	migrationLock:   fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", int64(postgresMigrationLock)),
	configure: func(db *sql.DB) {
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(16)
		db.SetConnMaxIdleTime(5 * time.Minute)
		db.SetConnMaxLifetime(30 * time.Minute)
	},
	timeArg:        func(t time.Time) any { return t.UTC() },
	classifyDriver: classifyPostgres,
	numberedParams: true,
}

// pickDialect chooses the database from the form of dsn, and returns the
// dialect with the DSN its driver opens.
func pickDialect(dsn string) (*dialect, string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return &postgresDialect, dsn, nil
	}
	switch {
	case dsn == "":
		return nil, "", errors.New("no database: want a SQLite file path or a postgres:// URL")
	case strings.HasPrefix(dsn, ":") || strings.HasPrefix(dsn, "file:"):
		return nil, "", fmt.Errorf("database %q: want a SQLite file path (not a URI or an in-memory name) or a postgres:// URL", dsn)
	case strings.ContainsAny(dsn, "?#"):
		return nil, "", fmt.Errorf("database %q: a SQLite file path may not contain '?' or '#'", dsn)
	}
	return &sqliteDialect, dsn + sqliteParams, nil
}

// rebind turns the ? placeholders of query into the dialect's.
func (d *dialect) rebind(query string) string {
	if !d.numberedParams {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// classify wraps err with ErrEmailTaken or ErrUnavailable when it is one of
// those; context errors and others are returned as they are.
func (d *dialect) classify(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if sentinel := d.classifyDriver(err); sentinel != nil {
		return fmt.Errorf("%w: %w", sentinel, err)
	}
	if errors.Is(err, driver.ErrBadConn) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func classifySQLite(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch {
	case se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE && strings.Contains(se.Error(), "users.email"):
		return ErrEmailTaken
	case se.Code()&0xff == sqlite3.SQLITE_BUSY, se.Code()&0xff == sqlite3.SQLITE_LOCKED:
		return ErrUnavailable
	}
	return nil
}

func classifyPostgres(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505" && pe.ConstraintName == "users_email_key": // unique_violation
			return ErrEmailTaken
		case strings.HasPrefix(pe.Code, "08"), // connection_exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // admin/crash shutdown, cannot_connect_now
			pe.Code == "53300": // too_many_connections
			return ErrUnavailable
		}
		return nil
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || pgconn.SafeToRetry(err) {
		return ErrUnavailable
	}
	return nil
}
