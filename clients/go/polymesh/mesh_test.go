package polymesh_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/polymesh/polymesh/clients/go/internal/testmesh"
	"github.com/polymesh/polymesh/clients/go/polymesh"
)

// The tests call real servers on loopback: the users and aiapi binaries
// built from this module, and the Python inference service serving the
// trained models of build/models. Each starts on first use and stops when
// the tests end. Every process exports its spans to one in-process OTLP
// receiver.

const defaultTestTimeout = 30 * time.Second

const testAPIKey = testmesh.APIKey

var (
	mesh *testmesh.Mesh
	// recorder holds the spans this process ends (the client's).
	recorder = tracetest.NewSpanRecorder()
)

func TestMain(m *testing.M) {
	var err error
	if mesh, err = testmesh.New(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	code := m.Run()
	if err := mesh.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// dial connects to the process name (started if need be); the connection
// closes when the test ends.
func dial(t *testing.T, name string, opts ...polymesh.Option) *polymesh.Conn {
	t.Helper()
	addr, err := mesh.Start(name)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := polymesh.Dial(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	t.Cleanup(cancel)
	return ctx
}
