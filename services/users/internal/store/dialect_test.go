package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestSQLiteSettings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "users.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Several connections at once: each has the settings.
	conns := make([]interface{ Close() error }, 0, 3)
	for range 3 {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		for pragma, want := range map[string]string{
			"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000", "synchronous": "1",
		} {
			var got string
			if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", pragma, err)
			}
			if got != want {
				t.Errorf("PRAGMA %s: got %q, want %q", pragma, got, want)
			}
		}
	}
	for _, c := range conns {
		c.Close()
	}
}

func TestRebind(t *testing.T) {
	tests := []struct {
		d    *dialect
		in   string
		want string
	}{
		{&sqliteDialect, "SELECT ? WHERE a = ?", "SELECT ? WHERE a = ?"},
		{&postgresDialect, "SELECT ? WHERE a = ?", "SELECT $1 WHERE a = $2"},
		{&postgresDialect, "UPDATE t SET a = ?, b = ?, c = ? WHERE id = ? RETURNING x", "UPDATE t SET a = $1, b = $2, c = $3 WHERE id = $4 RETURNING x"},
		{&postgresDialect, "SELECT 1", "SELECT 1"},
	}
	for _, tt := range tests {
		if got := tt.d.rebind(tt.in); got != tt.want {
			t.Errorf("%s rebind(%q): got %q, want %q", tt.d.name, tt.in, got, tt.want)
		}
	}
}
