// Package testmesh runs real polymesh processes on loopback for the Go
// client's tests, with the commands and environment that deploy/mesh.yaml
// gives them: the Go services built from this module, the Python inference
// service from the project's virtual environment, the C++ gateway of the
// build tree, and an in-process OTLP trace receiver that they export their
// spans to.
//
//	mesh, err := testmesh.New()
//	defer mesh.Close()                 // SIGTERM to each, clean exits checked
//	addr, err := mesh.Start("users")   // started on first use, then reused
package testmesh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// Root is the repository root: the nearest folder above the working
// directory with a go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testmesh: no go.mod above the working directory")
		}
		dir = parent
	}
}

// BuildGo builds the main packages pkgs (paths relative to the root, such
// as "./services/users/cmd/users") into dir and returns each binary's path
// by its name (the package's last path element).
func BuildGo(dir string, pkgs ...string) (map[string]string, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("testmesh: go build %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	bins := map[string]string{}
	for _, p := range pkgs {
		bins[filepath.Base(p)] = filepath.Join(dir, filepath.Base(p))
	}
	return bins, nil
}

// FreeAddr is a 127.0.0.1 address with a port that was free a moment ago.
func FreeAddr() (string, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer lis.Close()
	return lis.Addr().String(), nil
}

// Process is a child process with its log file.
type Process struct {
	Name string
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the exit error, once done is closed
}

// Start runs argv with the environment of this process plus env, its
// output going to logDir/<name>.log.
func Start(name string, argv, env []string, logDir string) (*Process, error) {
	logPath := filepath.Join(logDir, name+".log")
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if root, err := Root(); err == nil {
		cmd.Dir = root
	}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("testmesh: start %s: %w", name, err)
	}
	p := &Process{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// WaitHealthy waits until addr answers grpc.health.v1 SERVING for the
// whole server, or the process exits, or ctx ends.
func (p *Process) WaitHealthy(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	health := grpc_health_v1.NewHealthClient(conn)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		callCtx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := health.Check(callCtx, &grpc_health_v1.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == grpc_health_v1.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("testmesh: %s exited (%v):\n%s", p.Name, p.err, p.Tail(30))
		case <-ctx.Done():
			return fmt.Errorf("testmesh: %s not healthy at %s (%v):\n%s", p.Name, addr, err, p.Tail(30))
		case <-tick.C:
		}
	}
}

// Stop sends SIGTERM and waits for the exit (SIGKILL after 20s); it
// returns the exit error, nil for a clean exit.
func (p *Process) Stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// Tail is the last n lines of the process's log.
func (p *Process) Tail(n int) string {
	data, _ := os.ReadFile(p.Log)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Collector receives OTLP/gRPC trace exports and keeps their spans.
type Collector struct {
	collectortrace.UnimplementedTraceServiceServer
	Addr string
	srv  *grpc.Server

	mu      sync.Mutex
	spans   []*tracepb.Span
	changed chan struct{} // closed and replaced when spans arrive
}

// StartCollector serves an OTLP trace receiver on a free loopback port.
func StartCollector() (*Collector, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &Collector{Addr: lis.Addr().String(), srv: grpc.NewServer(), changed: make(chan struct{})}
	collectortrace.RegisterTraceServiceServer(c.srv, c)
	go func() { _ = c.srv.Serve(lis) }()
	return c, nil
}

// Export keeps the spans of an export.
func (c *Collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			c.spans = append(c.spans, ss.GetSpans()...)
		}
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// WaitSpan waits for a span for which match is true, or for ctx to end.
func (c *Collector) WaitSpan(ctx context.Context, match func(*tracepb.Span) bool) (*tracepb.Span, error) {
	for {
		c.mu.Lock()
		for _, s := range c.spans {
			if match(s) {
				c.mu.Unlock()
				return s, nil
			}
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("testmesh: no such span received: %w", ctx.Err())
		}
	}
}

// Stop stops the receiver.
func (c *Collector) Stop() { c.srv.Stop() }
