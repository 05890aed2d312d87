package grpcserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/polymesh/polymesh/services/internal/logging"
)

const defaultTestTimeout = 10 * time.Second

func TestRunServesHealthAndStopsWhenCtxEnds(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, grpc.NewServer(), lis, Options{Services: []string{"x.Svc"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	callCtx, callCancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer callCancel()
	for _, name := range []string{"", "x.Svc"} {
		resp, err := healthpb.NewHealthClient(conn).Check(callCtx, &healthpb.HealthCheckRequest{Service: name}, grpc.WaitForReady(true))
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check(%q) = %v, %v; want SERVING", name, resp.GetStatus(), err)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run() = %v, want nil after a graceful stop", err)
		}
	case <-callCtx.Done():
		t.Fatal("Run did not return after ctx ended")
	}
}

func TestCheckTurnsHealthNotServingWhileADependencyIsDown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	check := func(context.Context) error {
		if down.Load() {
			return errors.New("database unreachable")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = Run(ctx, grpc.NewServer(), lis, Options{
			Services: []string{"x.Svc"}, Check: check, CheckInterval: 10 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	waitFor := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(defaultTestTimeout)
		for _, name := range []string{"", "x.Svc"} {
			for {
				resp, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{Service: name}, grpc.WaitForReady(true))
				if err == nil && resp.GetStatus() == want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("Check(%q) = %v, %v; want %v", name, resp.GetStatus(), err, want)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	waitFor(healthpb.HealthCheckResponse_SERVING)
	down.Store(true)
	waitFor(healthpb.HealthCheckResponse_NOT_SERVING)
	down.Store(false)
	waitFor(healthpb.HealthCheckResponse_SERVING)
}

func TestRunLogsOneReadyLine(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer // Run has returned when it is read
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve, log ready, then stop at once
	err = Run(ctx, grpc.NewServer(), lis, Options{
		Logger: logging.New(&out, "polymesh-test"),
		Ready:  []slog.Attr{slog.String("metrics_address", "127.0.0.1:9999")},
	})
	if err != nil {
		t.Fatalf("Run() = %v", err)
	}
	var ready []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if entry["body"] == "ready" {
			ready = append(ready, entry)
		}
	}
	if len(ready) != 1 {
		t.Fatalf("got %d ready lines, want 1:\n%s", len(ready), out.String())
	}
	got := slices.Sorted(maps.Keys(ready[0]))
	want := []string{"address", "body", "metrics_address", "service.name", "severity", "time"}
	if !slices.Equal(got, want) {
		t.Errorf("ready line keys: got %v, want %v", got, want)
	}
	if ready[0]["address"] != lis.Addr().String() || ready[0]["severity"] != "INFO" || ready[0]["metrics_address"] != "127.0.0.1:9999" {
		t.Errorf("ready line %v: want address %s, severity INFO, metrics_address 127.0.0.1:9999", ready[0], lis.Addr())
	}
}
