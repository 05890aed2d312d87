// Command polymesh-example calls the mesh with the Go client: it lists the
// AI API's models, predicts two iris flowers, then creates, reads and
// deletes a user, all through one target (the gateway of `./dev up` by
// default).
//
//	go run ./clients/go/cmd/polymesh-example -target 127.0.0.1:8443 -ca-file .run/tls/ca.crt
//	go run ./clients/go/cmd/polymesh-example -target 127.0.0.1:8080 -api-key polymesh-demo-key
//
// The key (the demo key of ./dev up by default) goes with every call: the
// gateway admits it to the AI API and the users API.
//
// With OTEL_EXPORTER_OTLP_ENDPOINT set, the calls are one trace, exported
// with OTLP/gRPC; its id is printed at the end.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/polymesh/polymesh/clients/go/polymesh"
)

func main() {
	if err := run(); err != nil {
		slog.Error("polymesh-example failed", "error", err)
		os.Exit(1)
	}
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func run() error {
	target := flag.String("target", env("POLYMESH_TARGET", "127.0.0.1:8080"), "the gateway (or a service) to call, host:port")
	apiKey := flag.String("api-key", env("POLYMESH_API_KEY", "polymesh-demo-key"), "the API key, sent as x-api-key with every call")
	caFile := flag.String("ca-file", "", "TLS: the CA of the gateway's certificate (./dev up: .run/tls/ca.crt); plaintext without it")
	timeout := flag.Duration("timeout", polymesh.DefaultTimeout, "the deadline of each call")
	email := flag.String("email", fmt.Sprintf("example-%d@example.com", time.Now().UnixNano()), "the email of the user to create")
	flag.Parse()

	ctx := context.Background()
	shutdown, err := setupTracing(ctx)
	if err != nil {
		return err
	}
	defer shutdown()

	opts := []polymesh.Option{polymesh.WithAPIKey(*apiKey), polymesh.WithDefaultTimeout(*timeout)}
	if *caFile != "" {
		creds, err := polymesh.TLSCredentials(*caFile, "", "")
		if err != nil {
			return err
		}
		opts = append(opts, polymesh.WithTransportCredentials(creds))
	}
	conn, err := polymesh.Dial(*target, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()

	ctx, span := otel.Tracer("polymesh-example").Start(ctx, "polymesh-example")
	defer span.End()

	models, err := conn.AI().ListModels(ctx)
	if err != nil {
		return fmt.Errorf("ListModels: %w", err)
	}
	for _, m := range models {
		fmt.Printf("model %s versions %v ready %v\n", m.GetName(), m.GetVersions(), m.GetReady())
	}

	rows := [][]float32{{5.1, 3.5, 1.4, 0.2}, {6.7, 3.0, 5.2, 2.3}}
	answer, err := conn.AI().PredictRows(ctx, "iris", rows)
	if err != nil {
		return fmt.Errorf("Predict: %w", err)
	}
	fmt.Printf("iris %v -> labels %v\n", rows, polymesh.Output(answer, "label").GetIntValues())

	users := conn.Users()
	created, err := users.Create(ctx, *email, "Example User")
	if err != nil {
		return fmt.Errorf("CreateUser: %w", err)
	}
	fmt.Printf("created user %s <%s>\n", created.GetId(), created.GetEmail())
	got, err := users.Get(ctx, created.GetId())
	if err != nil {
		return fmt.Errorf("GetUser: %w", err)
	}
	fmt.Printf("read user %s: %s, created %s\n", got.GetId(), got.GetName(), got.GetCreateTime().AsTime().Format(time.RFC3339))
	if err := users.Delete(ctx, created.GetId()); err != nil {
		return fmt.Errorf("DeleteUser: %w", err)
	}
	fmt.Printf("deleted user %s\n", created.GetId())
	if span.SpanContext().IsValid() {
		fmt.Printf("trace %s\n", span.SpanContext().TraceID())
	}
	return nil
}

// setupTracing exports spans with OTLP/gRPC when OTEL_EXPORTER_OTLP_ENDPOINT
// is set, and propagates W3C trace context either way.
func setupTracing(ctx context.Context) (func(), error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		return func() {}, nil
	}
	exporter, err := otlptracegrpc.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the name.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", "polymesh-example")), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("resource: %w", err)
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(provider)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = provider.Shutdown(ctx)
	}, nil
}
