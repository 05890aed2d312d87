package service

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestStartServesMetricsUntilClosed(t *testing.T) {
	t.Setenv("OTEL_SDK_DISABLED", "true")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	proc, err := Start("polymesh-test", addr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "go_goroutines") {
		t.Errorf("/metrics lacks the Go collector")
	}
	if proc.Ctx.Err() != nil {
		t.Error("the process context ended before Close")
	}
	proc.Close()
	if proc.Ctx.Err() == nil {
		t.Error("the process context is still live after Close")
	}
}

func TestStartRefusesAMetricsAddressInUse(t *testing.T) {
	t.Setenv("OTEL_SDK_DISABLED", "true")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	if _, err := Start("polymesh-test", lis.Addr().String()); err == nil {
		t.Fatal("Start succeeded on an address in use")
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("POLYMESH_TEST_VALUE", "")
	if got := Env("POLYMESH_TEST_VALUE", "fallback"); got != "fallback" {
		t.Errorf("Env(empty) = %q", got)
	}
	t.Setenv("POLYMESH_TEST_VALUE", "set")
	if got := Env("POLYMESH_TEST_VALUE", "fallback"); got != "set" {
		t.Errorf("Env(set) = %q", got)
	}
}
