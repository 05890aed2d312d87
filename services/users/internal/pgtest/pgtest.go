// Package pgtest runs throwaway PostgreSQL servers for tests: Debian's
// server binaries, initdb into a temporary folder, postgres on a free port of
// 127.0.0.1 with its unix socket in that folder, stopped by its PID at the
// end. Run as root (as CI does), the server runs as the `postgres` system
// user, which owns the folder.
//
// Without PostgreSQL binaries a test fails when the CI environment variable
// is "true", and is skipped otherwise.
//
//	var pg pgtest.Shared // one server for the package's tests
//
//	func TestMain(m *testing.M) { code := m.Run(); pg.Stop(); os.Exit(code) }
//
//	func TestX(t *testing.T) {
//		dsn := pg.NewDatabase(t) // a fresh, empty database
//		...
//	}
package pgtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// ErrNoPostgres says that the PostgreSQL server binaries are not installed.
var ErrNoPostgres = errors.New("no PostgreSQL server binaries (initdb, postgres): install postgresql-15 with ./dev setup")

// startTimeout bounds initdb plus the server's start.
const startTimeout = 90 * time.Second

// Server is one running PostgreSQL server.
type Server struct {
	dir   string // holds data/, the socket and the log
	port  int
	cmd   *exec.Cmd
	done  chan struct{} // closed when the server process has exited
	admin *sql.DB
	n     atomic.Int64
}

// BinDir finds the server binaries: the newest /usr/lib/postgresql/*/bin
// (Debian's layout), else the folder of `postgres` on PATH.
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "postgres")) && isExecutable(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		d := filepath.Dir(p)
		if isExecutable(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start runs initdb and starts a server. The error wraps ErrNoPostgres when
// the binaries are missing.
func Start(ctx context.Context) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir}
	ok := false
	defer func() {
		if !ok {
			_ = s.Stop()
		}
	}()
	run, err := asServerUser(dir)
	if err != nil {
		return nil, err
	}
	initdb := run(ctx, filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// The port is free when chosen, but another process may take it before
	// postgres binds it: try again then.
	for attempt := 1; ; attempt++ {
		err = s.startServer(ctx, run, bin)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *Server) logPath() string { return filepath.Join(s.dir, "postgres.log") }

// startServer starts postgres on a free port and waits until it answers.
func (s *Server) startServer(ctx context.Context, run runner, bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	// Not CommandContext: the server outlives this call, until Stop.
	cmd := run(context.Background(), filepath.Join(bin, "postgres"), "-D", s.dataDir(),
		"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", s.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done, s.port = cmd, done, port

	admin, err := sql.Open("pgx", s.url("postgres"))
	if err != nil {
		return err
	}
	for {
		pingCtx, cancel := context.WithTimeout(ctx, time.Second)
		err = admin.PingContext(pingCtx)
		cancel()
		if err == nil {
			s.admin = admin
			return nil
		}
		select {
		case <-done:
			admin.Close()
			log, _ := os.ReadFile(s.logPath())
			return fmt.Errorf("postgres exited at start: %s", bytes.TrimSpace(log))
		case <-ctx.Done():
			admin.Close()
			log, _ := os.ReadFile(s.logPath())
			return fmt.Errorf("postgres not ready: %w (last ping: %v)\n%s", ctx.Err(), err, log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// url is the connection URL of a database of the server.
func (s *Server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// CreateDatabase creates an empty database and returns its URL. Its
// collation is ICU's en-US, as on many production servers, so that tests see
// what a locale-aware text order does.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d", s.n.Add(1))
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE "+name+
		" TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.url(name), nil
}

// Stop stops the server (a fast shutdown, SIGINT, then SIGKILL if it has
// not exited within 30 s) and removes its folder.
func (s *Server) Stop() error {
	if s.admin != nil {
		s.admin.Close()
		s.admin = nil
	}
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-s.done:
			case <-time.After(30 * time.Second):
				err = fmt.Errorf("postgres (pid %d) ignored SIGINT for 30 s; killed", s.cmd.Process.Pid)
				_ = s.cmd.Process.Kill()
				<-s.done
			}
		}
		s.cmd = nil
	}
	if s.dir != "" {
		if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
			err = rmErr
		}
		s.dir = ""
	}
	return err
}

// runner makes the command that runs a server binary.
type runner func(ctx context.Context, name string, args ...string) *exec.Cmd

// asServerUser returns how to run the server binaries: as ourselves, or, as
// root (which PostgreSQL refuses), as the postgres system user, who is
// given dir. The server gets SIGINT if this process dies first.
func asServerUser(dir string) (runner, error) {
	if os.Geteuid() != 0 {
		return func(ctx context.Context, name string, args ...string) *exec.Cmd {
			cmd := exec.CommandContext(ctx, name, args...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGINT}
			return cmd
		}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and no postgres user to run the server as: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres user: %w", err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, fmt.Errorf("give %s to the postgres user: %w", dir, err)
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return nil, fmt.Errorf("running as root needs setpriv (util-linux) to run the server as postgres: %w", err)
	}
	return func(ctx context.Context, name string, args ...string) *exec.Cmd {
		// setpriv execs the binary, so the PID is the server's own, and
		// sets the parent-death signal after changing user (a change of
		// user clears one set before).
		argv := append([]string{"--reuid=" + u.Uid, "--regid=" + u.Gid, "--init-groups",
			"--pdeathsig=INT", "--", name}, args...)
		cmd := exec.CommandContext(ctx, setpriv, argv...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+dir)
		return cmd
	}, nil
}

func freePort() (int, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer lis.Close()
	return lis.Addr().(*net.TCPAddr).Port, nil
}

// Shared is one server for all the tests of a package, started by the first
// NewDatabase. Stop it in TestMain after m.Run.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// NewDatabase returns the URL of a new, empty database on the shared
// server. Without PostgreSQL binaries it skips the test, or fails it when
// CI=true.
func (sh *Shared) NewDatabase(t testing.TB) string {
	t.Helper()
	sh.once.Do(func() { sh.srv, sh.err = Start(context.Background()) })
	if sh.err != nil {
		Unavailable(t, sh.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := sh.srv.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// Stop stops the shared server if it was started.
func (sh *Shared) Stop() {
	sh.once.Do(func() {}) // no start after this
	if sh.srv != nil {
		if err := sh.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
}

// Unavailable ends a test that could not get a server: a skip when the
// binaries are missing outside CI, else a failure.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoPostgres) && strings.TrimSpace(os.Getenv("CI")) != "true" {
		t.Skipf("PostgreSQL tests skipped: %v (with CI=true this fails)", err)
	}
	t.Fatalf("PostgreSQL: %v", err)
}
