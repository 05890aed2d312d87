package metrics

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

func TestServeExposesOTelInstrumentsAndRuntimeMetrics(t *testing.T) {
	m, err := Setup("polymesh-test")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown(context.Background())
	counter, err := otel.Meter("polymesh/test").Int64Counter("polymesh.test.calls")
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(context.Background(), 3, metric.WithAttributes(attribute.String("model", "iris")))

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, lis, slog.New(slog.NewTextHandler(io.Discard, nil))) }()

	resp, err := http.Get("http://" + lis.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`polymesh_test_calls_total{model="iris"`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
		`service_name="polymesh-test"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(text, `polymesh_test_calls_total{model="iris",otel_scope_name="polymesh/test",otel_scope_schema_url="",otel_scope_version=""} 3`+"\n") {
		t.Errorf("/metrics does not count 3 calls:\n%s", text)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve() = %v after ctx ended", err)
	}
}
