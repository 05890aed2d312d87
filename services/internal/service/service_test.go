package service

import (
	"bytes"
	"encoding/json"
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
	if proc.MetricsAddr != addr {
		t.Errorf("MetricsAddr: got %q, want %q", proc.MetricsAddr, addr)
	}
	if ready := proc.Ready(); len(ready) != 1 || ready[0].Key != "metrics_address" || ready[0].Value.String() != addr {
		t.Errorf("Ready(): got %v, want metrics_address=%s", ready, addr)
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

func TestStartNamesTheServiceInLogs(t *testing.T) {
	t.Setenv("OTEL_SDK_DISABLED", "true")
	for _, tt := range []struct{ env, want string }{{"", "polymesh-test"}, {"from-env", "from-env"}} {
		t.Run(tt.want, func(t *testing.T) {
			t.Setenv("OTEL_SERVICE_NAME", tt.env)
			var logs bytes.Buffer
			proc, err := start("polymesh-test", "off", &logs)
			if err != nil {
				t.Fatal(err)
			}
			if proc.MetricsAddr != "" || proc.Ready() != nil {
				t.Errorf("MetricsAddr %q, Ready() %v: want none", proc.MetricsAddr, proc.Ready())
			}
			proc.Log.Info("m")
			proc.Close()
			var line map[string]any
			if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
				t.Fatalf("not one JSON line: %q", logs.String())
			}
			if line["service.name"] != tt.want {
				t.Errorf("service.name: got %v, want %q", line["service.name"], tt.want)
			}
		})
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
