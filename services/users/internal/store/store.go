// Package store keeps the users of polymesh.users.v1 in a SQL database:
// SQLite (the pure-Go modernc.org/sqlite driver) for a file path, PostgreSQL
// (pgx) for a postgres:// or postgresql:// URL. Both run the migrations of
// services/users/schema at Open and answer the same Store contract, down to
// the errors: ErrNotFound, ErrEmailTaken and ErrUnavailable, matched with
// errors.Is.
//
//	db, err := store.Open(ctx, "users.db") // or "postgres://user@host/db"
//	if err != nil { ... }
//	defer db.Close()
//	u, err := db.Create(ctx, "ada@example.com", "Ada")
package store

import (
	"context"
	"errors"
	"time"
)

// User is one stored user.
type User struct {
	// ID is a canonical lowercase UUIDv4, set by Create.
	ID string
	// Email is unique among users, compared byte for byte.
	Email string
	// Name is the display name.
	Name string
	// CreateTime and UpdateTime are UTC, truncated to microseconds.
	CreateTime time.Time
	UpdateTime time.Time
}

// Change says which fields Update sets: a nil field is left alone.
type Change struct {
	Email *string
	Name  *string
}

// Errors of every Store, to match with errors.Is. Other errors are
// unexpected database failures, or the context's error.
var (
	// ErrNotFound: no user has the id.
	ErrNotFound = errors.New("user not found")
	// ErrEmailTaken: another user has the email.
	ErrEmailTaken = errors.New("email already taken")
	// ErrUnavailable: the database cannot be reached or is busy for now; a
	// later try may succeed.
	ErrUnavailable = errors.New("database unavailable")
)

// Store keeps users. Its methods are safe for concurrent use. Callers
// validate values first: a Store checks only what the database enforces
// (unique emails, existing ids).
type Store interface {
	// Create stores a new user with a fresh id, CreateTime = UpdateTime = now.
	Create(ctx context.Context, email, name string) (User, error)
	// Get returns the user with the id.
	Get(ctx context.Context, id string) (User, error)
	// List returns up to limit users whose id sorts after `after` in byte
	// order ("" for the first), ordered by id.
	List(ctx context.Context, after string, limit int) ([]User, error)
	// Update sets the fields of the change and UpdateTime = now, and returns
	// the user as stored. A change with no field is an error.
	Update(ctx context.Context, id string, change Change) (User, error)
	// Delete removes the user with the id.
	Delete(ctx context.Context, id string) error
	// Ping checks that the database can be reached.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}
