package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// SQL is the Store on database/sql, for SQLite and PostgreSQL alike; the
// dialect holds what differs between them.
type SQL struct {
	db      *sql.DB
	dialect *dialect
	now     func() time.Time
}

var _ Store = (*SQL)(nil)

// Open connects to the database named by dsn and brings its schema up to
// date. A dsn starting with postgres:// or postgresql:// is a PostgreSQL
// connection URL (the pgx driver's parameters apply); anything else is the
// path of a SQLite database file, created if missing.
func Open(ctx context.Context, dsn string) (*SQL, error) {
	d, driverDSN, err := pickDialect(dsn)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(d.driver, driverDSN)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", d.name, err)
	}
	d.configure(db)
	s := &SQL{db: db, dialect: d, now: time.Now}
	if d.prepare != nil {
		if err := d.prepare(ctx, db); err != nil {
			db.Close()
			return nil, fmt.Errorf("%s database: %w", d.name, d.classify(err))
		}
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s database: %w", d.name, d.classify(err))
	}
	return s, nil
}

// Dialect is "sqlite" or "postgres".
func (s *SQL) Dialect() string { return s.dialect.name }

// SetClockForTest makes the store read the time from now.
func (s *SQL) SetClockForTest(now func() time.Time) { s.now = now }

// timestamp is the store's current time: UTC, truncated to microseconds,
// the precision both databases keep.
func (s *SQL) timestamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

const userColumns = "id, email, name, create_time, update_time"

// scanUser reads the userColumns of one row.
func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.Name, timeScanner{&u.CreateTime}, timeScanner{&u.UpdateTime})
	return u, err
}

// Create implements Store.
func (s *SQL) Create(ctx context.Context, email, name string) (User, error) {
	id, err := uuid.NewRandom()
	if err != nil {
		return User{}, fmt.Errorf("new user id: %w", err)
	}
	now := s.timestamp()
	u := User{ID: id.String(), Email: email, Name: name, CreateTime: now, UpdateTime: now}
	_, err = s.db.ExecContext(ctx, s.dialect.rebind(
		"INSERT INTO users ("+userColumns+") VALUES (?, ?, ?, ?, ?)"),
		u.ID, u.Email, u.Name, s.dialect.timeArg(now), s.dialect.timeArg(now))
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", s.dialect.classify(err))
	}
	return u, nil
}

// Get implements Store.
func (s *SQL) Get(ctx context.Context, id string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.dialect.rebind(
		"SELECT "+userColumns+" FROM users WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("get user: %w", s.dialect.classify(err))
	}
	return u, nil
}

// List implements Store.
func (s *SQL) List(ctx context.Context, after string, limit int) ([]User, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list users: limit %d, want > 0", limit)
	}
	rows, err := s.db.QueryContext(ctx, s.dialect.rebind(
		"SELECT "+userColumns+" FROM users WHERE id > ? ORDER BY id LIMIT ?"), after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", s.dialect.classify(err))
	}
	defer rows.Close()
	users := make([]User, 0, min(limit, 256))
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", s.dialect.classify(err))
		}
		users = append(users, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", s.dialect.classify(err))
	}
	return users, nil
}

// Update implements Store.
func (s *SQL) Update(ctx context.Context, id string, change Change) (User, error) {
	var sets []string
	var args []any
	if change.Email != nil {
		sets, args = append(sets, "email = ?"), append(args, *change.Email)
	}
	if change.Name != nil {
		sets, args = append(sets, "name = ?"), append(args, *change.Name)
	}
	if len(sets) == 0 {
		return User{}, errors.New("update user: the change sets no field")
	}
	sets, args = append(sets, "update_time = ?"), append(args, s.dialect.timeArg(s.timestamp()))
	args = append(args, id)
	u, err := scanUser(s.db.QueryRowContext(ctx, s.dialect.rebind(
		"UPDATE users SET "+strings.Join(sets, ", ")+" WHERE id = ? RETURNING "+userColumns), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("update user: %w", s.dialect.classify(err))
	}
	return u, nil
}

// Delete implements Store.
func (s *SQL) Delete(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, s.dialect.rebind("DELETE FROM users WHERE id = ?"), id)
	if err != nil {
		return fmt.Errorf("delete user: %w", s.dialect.classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete user: %w", s.dialect.classify(err))
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Ping implements Store: a round trip to the database, on a connection of
// the pool.
func (s *SQL) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping %s database: %w", s.dialect.name, s.dialect.classify(err))
	}
	return nil
}

// Close implements Store.
func (s *SQL) Close() error { return s.db.Close() }

// timeScanner reads a time column: a time.Time (PostgreSQL's TIMESTAMPTZ) or
// the RFC 3339 text that SQLite keeps.
type timeScanner struct{ t *time.Time }

func (ts timeScanner) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*ts.t = v.UTC()
		return nil
	case string:
		return ts.parse(v)
	case []byte:
		return ts.parse(string(v))
	}
	return fmt.Errorf("time column: cannot read %T", src)
}

func (ts timeScanner) parse(s string) error {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("time column: %w", err)
	}
	*ts.t = t.UTC()
	return nil
}
