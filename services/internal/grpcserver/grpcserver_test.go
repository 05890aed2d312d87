package grpcserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
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
