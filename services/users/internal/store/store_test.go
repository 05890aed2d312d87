package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/polymesh/polymesh/services/users/internal/pgtest"
	"github.com/polymesh/polymesh/services/users/internal/store"
)

const defaultTestTimeout = 60 * time.Second

var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	t.Cleanup(cancel)
	return ctx
}

// backend opens a new, empty store of one database.
type backend struct {
	name string
	dsn  func(t *testing.T) string
}

var backends = []backend{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "users.db") }},
	{"postgres", func(t *testing.T) string { return pg.NewDatabase(t) }},
}

// forEachBackend runs test against a new store on each database.
func forEachBackend(t *testing.T, test func(t *testing.T, s *store.SQL)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, err := store.Open(testContext(t), b.dsn(t))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			if got := s.Dialect(); got != b.name {
				t.Fatalf("Dialect: got %q, want %q", got, b.name)
			}
			test(t, s)
		})
	}
}

// clock is a settable time for SetClockForTest.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func mustCreate(t *testing.T, s store.Store, email, name string) store.User {
	t.Helper()
	u, err := s.Create(testContext(t), email, name)
	if err != nil {
		t.Fatalf("Create(%q, %q): %v", email, name, err)
	}
	return u
}

func TestCreateAndGet(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.SQL) {
		ctx := testContext(t)
		// Nanoseconds and a zone other than UTC: stored as UTC microseconds.
		at := time.Date(2025, 3, 4, 5, 6, 7, 891234567, time.FixedZone("X", 3600))
		s.SetClockForTest(func() time.Time { return at })
		created := mustCreate(t, s, "ada@example.com", "Ada Lovelace")

		id, err := uuid.Parse(created.ID)
		if err != nil || id.Version() != 4 || id.String() != created.ID {
			t.Errorf("id %q: want a canonical UUIDv4 (%v)", created.ID, err)
		}
		want := at.UTC().Truncate(time.Microsecond)
		if !created.CreateTime.Equal(want) || !created.UpdateTime.Equal(want) || created.CreateTime.Location() != time.UTC {
			t.Errorf("times: got %v / %v, want %v UTC", created.CreateTime, created.UpdateTime, want)
		}
		got, err := s.Get(ctx, created.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if !equalUsers(got, created) {
			t.Errorf("Get: got %+v, want %+v", got, created)
		}
	})
}

func TestCreateDuplicateEmail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.SQL) {
		ctx := testContext(t)
		first := mustCreate(t, s, "ada@example.com", "Ada")
		_, err := s.Create(ctx, "ada@example.com", "Another Ada")
		if !errors.Is(err, store.ErrEmailTaken) {
			t.Fatalf("second Create: got %v, want ErrEmailTaken", err)
		}
		// Emails compare byte for byte.
		mustCreate(t, s, "Ada@example.com", "Ada again")
		users, err := s.List(ctx, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 2 {
			t.Errorf("List: %d users, want 2 (the failed Create stored nothing)", len(users))
		}
		if got, _ := s.Get(ctx, first.ID); got.Name != "Ada" {
			t.Errorf("the first user changed: %+v", got)
		}
	})
}

func TestNotFound(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.SQL) {
		ctx := testContext(t)
		missing := uuid.NewString()
		name := "Nobody"
		tests := []struct {
			name string
			call func() error
		}{
			{"Get", func() error { _, err := s.Get(ctx, missing); return err }},
			{"Update", func() error { _, err := s.Update(ctx, missing, store.Change{Name: &name}); return err }},
			{"Delete", func() error { return s.Delete(ctx, missing) }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := tt.call(); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("got %v, want ErrNotFound", err)
				}
			})
		}
	})
}

func TestDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.SQL) {
		ctx := testContext(t)
		u := mustCreate(t, s, "ada@example.com", "Ada")
		keep := mustCreate(t, s, "bob@example.com", "Bob")
		if err := s.Delete(ctx, u.ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Get(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get after Delete: got %v, want ErrNotFound", err)
		}
		if err := s.Delete(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second Delete: got %v, want ErrNotFound", err)
		}
		if _, err := s.Get(ctx, keep.ID); err != nil {
			t.Errorf("the other user: %v", err)
		}
		// The email is free again.
		mustCreate(t, s, "ada@example.com", "Ada again")
	})
}

func TestUpdate(t *testing.T) {
	ptr := func(s string) *string { return &s }
	tests := []struct {
		name      string
		change    store.Change
		wantEmail string
		wantName  string
	}{
		{"email", store.Change{Email: ptr("lovelace@example.com")}, "lovelace@example.com", "Ada"},
		{"name", store.Change{Name: ptr("Countess")}, "ada@example.com", "Countess"},
		{"both", store.Change{Email: ptr("c@example.com"), Name: ptr("C")}, "c@example.com", "C"},
		{"same email", store.Change{Email: ptr("ada@example.com")}, "ada@example.com", "Ada"},
	}
	forEachBackend(t, func(t *testing.T, s *store.SQL) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := testContext(t)
				c := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
				s.SetClockForTest(c.now)
				u := mustCreate(t, s, "ada@example.com", "Ada")
				defer s.Delete(ctx, u.ID)
				later := c.now().Add(90 * time.Minute)
				c.set(later)

				got, err := s.Update(ctx, u.ID, tt.change)
				if err != nil {
					t.Fatalf("Update: %v", err)
				}
				want := store.User{ID: u.ID, Email: tt.wantEmail, Name: tt.wantName,
					CreateTime: u.CreateTime, UpdateTime: later}
				if !equalUsers(got, want) {
					t.Errorf("Update: got %+v, want %+v", got, want)
				}
				stored, err := s.Get(ctx, u.ID)
				if err != nil || !equalUsers(stored, want) {
					t.Errorf("Get after Update: got %+v (%v), want %+v", stored, err, want)
				}
			})
		}
		t.Run("no field", func(t *testing.T) {
			u := mustCreate(t, s, "nofield@example.com", "N")
			if _, err := s.Update(testContext(t), u.ID, store.Change{}); err == nil {
				t.Error("Update with an empty change: got no error")
			}
		})
	})
}

func TestUpdateDuplicateEmail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.SQL) {
		ctx := testContext(t)
		ada := mustCreate(t, s, "ada@example.com", "Ada")
		mustCreate(t, s, "bob@example.com", "Bob")
		taken, name := "bob@example.com", "Ada B"
		_, err := s.Update(ctx, ada.ID, store.Change{Email: &taken, Name: &name})
		if !errors.Is(err, store.ErrEmailTaken) {
			t.Fatalf("Update to a taken email: got %v, want ErrEmailTaken", err)
		}
		got, err := s.Get(ctx, ada.ID)
		if err != nil || !equalUsers(got, ada) {
			t.Errorf("after the failed Update: got %+v (%v), want it unchanged %+v", got, err, ada)
		}
	})
}

func TestListPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.SQL) {
		ctx := testContext(t)
		if users, err := s.List(ctx, "", 10); err != nil || len(users) != 0 {
			t.Fatalf("List of an empty store: got %v, %v", users, err)
		}
		var want []string
		for i := range 23 {
			want = append(want, mustCreate(t, s, fmt.Sprintf("u%02d@example.com", i), fmt.Sprintf("User %d", i)).ID)
		}
		sort.Strings(want) // byte order

		for _, limit := range []int{1, 5, 23, 100} {
			t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
				var got []string
				after := ""
				for pages := 0; ; pages++ {
					if pages > len(want) {
						t.Fatalf("more pages than users")
					}
					page, err := s.List(ctx, after, limit)
					if err != nil {
						t.Fatalf("List(%q, %d): %v", after, limit, err)
					}
					if len(page) > limit {
						t.Fatalf("List(%q, %d): %d users", after, limit, len(page))
					}
					for _, u := range page {
						got = append(got, u.ID)
					}
					if len(page) < limit {
						break
					}
					after = page[len(page)-1].ID
				}
				if !slices.Equal(got, want) {
					t.Errorf("ids over every page:\n got %v\nwant %v", got, want)
				}
			})
		}
		if _, err := s.List(ctx, "", 0); err == nil {
			t.Error("List with limit 0: got no error")
		}
		// A cursor between ids, and one past the last.
		mid := want[10][:8]
		page, err := s.List(ctx, mid, 100)
		if err != nil {
			t.Fatal(err)
		}
		wantFrom := sort.SearchStrings(want, mid)
		if len(page) != len(want)-wantFrom || page[0].ID != want[wantFrom] {
			t.Errorf("List(%q): got %d users from %s, want %d from %s", mid, len(page), page[0].ID, len(want)-wantFrom, want[wantFrom])
		}
		if page, err := s.List(ctx, want[len(want)-1], 100); err != nil || len(page) != 0 {
			t.Errorf("List after the last id: got %d users, %v", len(page), err)
		}
	})
}

func TestListByteOrder(t *testing.T) {
	// Ids that a locale-aware collation would order differently from byte
	// order; the schema stores whatever id the store is given, so these are
	// written straight into the table.
	ids := []string{"a-b", "a_b", "aB", "ab", "a0", "A1", "b"}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			s, err := store.Open(testContext(t), dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			db := openRaw(t, b.name, dsn)
			for i, id := range ids {
				q := "INSERT INTO users (id, email, name, create_time, update_time) VALUES ($1, $2, 'n', $3, $3)"
				var ts any = "2025-01-01T00:00:00.000000Z"
				if b.name == "postgres" {
					ts = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
				}
				if _, err := db.ExecContext(testContext(t), q, id, fmt.Sprintf("%d@example.com", i), ts); err != nil {
					t.Fatalf("insert %q: %v", id, err)
				}
			}
			page, err := s.List(testContext(t), "", 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range page {
				got = append(got, u.ID)
			}
			want := slices.Clone(ids)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("order: got %q, want byte order %q", got, want)
			}
		})
	}
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			s1, err := store.Open(testContext(t), dsn)
			if err != nil {
				t.Fatal(err)
			}
			u := mustCreate(t, s1, "ada@example.com", "Ada")
			s1.Close()

			s2, err := store.Open(testContext(t), dsn)
			if err != nil {
				t.Fatalf("second Open: %v", err)
			}
			defer s2.Close()
			if got, err := s2.Get(testContext(t), u.ID); err != nil || !equalUsers(got, u) {
				t.Errorf("after reopening: got %+v (%v), want %+v", got, err, u)
			}
			versions := queryInts(t, b.name, dsn, "SELECT version FROM schema_migrations ORDER BY version")
			if !slices.Equal(versions, []int{1}) {
				t.Errorf("schema_migrations: got %v, want [1]", versions)
			}
		})
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			s, err := store.Open(testContext(t), dsn)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			execSQL(t, b.name, dsn, "INSERT INTO schema_migrations (version, applied_at) VALUES (999, "+
				map[string]string{"sqlite": "'2025-01-01T00:00:00.000000Z'", "postgres": "now()"}[b.name]+")")
			_, err = store.Open(testContext(t), dsn)
			if err == nil || !strings.Contains(err.Error(), "schema version 999") {
				t.Errorf("Open: got %v, want an error about schema version 999", err)
			}
		})
	}
}

func TestConcurrentOpensMigrateOnce(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			const n = 8 // processes starting at once, racing to migrate
			errs := make(chan error, n)
			for range n {
				go func() {
					s, err := store.Open(testContext(t), dsn)
					if err == nil {
						s.Close()
					}
					errs <- err
				}()
			}
			for range n {
				if err := <-errs; err != nil {
					t.Errorf("Open: %v", err)
				}
			}
			if got := queryInts(t, b.name, dsn, "SELECT count(*) FROM schema_migrations"); !slices.Equal(got, []int{1}) {
				t.Errorf("schema_migrations rows: got %v, want [1]", got)
			}
		})
	}
}

func TestConcurrentWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *store.SQL) {
		ctx := testContext(t)
		const writers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					u, err := s.Create(ctx, fmt.Sprintf("w%d-%d@example.com", w, i), "Writer")
					if err == nil {
						name := "Renamed"
						_, err = s.Update(ctx, u.ID, store.Change{Name: &name})
					}
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent write: %v", err)
		}
		users, err := s.List(ctx, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != writers*each {
			t.Errorf("users: got %d, want %d", len(users), writers*each)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, dsn, wantErr string
	}{
		{"empty", "", "no database"},
		{"memory", ":memory:", "not a URI or an in-memory name"},
		{"uri", "file:" + filepath.Join(dir, "x.db"), "not a URI"},
		{"query", filepath.Join(dir, "x.db?mode=ro"), "may not contain"},
		{"missing folder", filepath.Join(dir, "no", "such", "users.db"), "sqlite database"},
		{"unreachable postgres", "postgres://postgres@127.0.0.1:1/users?sslmode=disable&connect_timeout=5", "postgres database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.Open(testContext(t), tt.dsn)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q): got no error", tt.dsn)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open(%q): got %v, want it to mention %q", tt.dsn, err, tt.wantErr)
			}
		})
	}
	t.Run("unreachable postgres is unavailable", func(t *testing.T) {
		_, err := store.Open(testContext(t), "postgres://postgres@127.0.0.1:1/users?sslmode=disable")
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("got %v, want ErrUnavailable", err)
		}
	})
}

// TestPostgresDown checks that a store whose server went away reports
// ErrUnavailable, from Ping and from calls, and recovers nothing silently.
func TestPostgresDown(t *testing.T) {
	srv, err := pgtest.Start(testContext(t))
	if err != nil {
		pgtest.Unavailable(t, err)
	}
	defer srv.Stop()
	dsn, err := srv.CreateDatabase(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(testContext(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := mustCreate(t, s, "ada@example.com", "Ada")
	if err := s.Ping(testContext(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("stopping postgres: %v", err)
	}
	if err := s.Ping(testContext(t)); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping with the server down: got %v, want ErrUnavailable", err)
	}
	if _, err := s.Get(testContext(t), u.ID); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get with the server down: got %v, want ErrUnavailable", err)
	}
}

func equalUsers(a, b store.User) bool {
	return a.ID == b.ID && a.Email == b.Email && a.Name == b.Name &&
		a.CreateTime.Equal(b.CreateTime) && a.UpdateTime.Equal(b.UpdateTime)
}

func openRaw(t *testing.T, dialect, dsn string) *sql.DB {
	t.Helper()
	driver := map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[dialect]
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func execSQL(t *testing.T, dialect, dsn, query string) {
	t.Helper()
	if _, err := openRaw(t, dialect, dsn).ExecContext(testContext(t), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func queryInts(t *testing.T, dialect, dsn, query string) []int {
	t.Helper()
	rows, err := openRaw(t, dialect, dsn).QueryContext(testContext(t), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
