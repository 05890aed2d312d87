// Command aiapi serves polymesh.ai.v1.AIService: the mesh's public AI API,
// in front of the inference tier's Open Inference Protocol API.
//
// Environment (flags override, see -help): POLYMESH_LISTEN_ADDR (default
// 127.0.0.1:50051), POLYMESH_INFERENCE_ADDR (default 127.0.0.1:8080, the
// gateway), POLYMESH_INFERENCE_TLS_CA_FILE, POLYMESH_INFERENCE_TLS_CERT_FILE,
// POLYMESH_INFERENCE_TLS_KEY_FILE and POLYMESH_INFERENCE_TLS_SERVER_NAME
// (TLS to the inference address: the CA that signed its certificate, this
// service's client certificate and key for mTLS, the name to verify;
// plaintext when none is set), POLYMESH_API_KEYS_FILE (the callers' keys and
// quotas, reloaded when it changes; without it every caller is admitted),
// POLYMESH_TRUST_PRINCIPAL_HEADER (true: callers are who the gateway's
// x-polymesh-principal says, their quotas from the key file; default
// false: their x-api-key), POLYMESH_METRICS_ADDR (Prometheus, default
// 127.0.0.1:9101; "off" for none), POLYMESH_BATCH_WINDOW (default 2ms; 0
// turns micro-batching off), POLYMESH_BATCH_MAX_ROWS (default 64),
// POLYMESH_METADATA_TTL (default 30s), and the standard OTEL_* variables.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/polymesh/polymesh/gen/go/inference"
	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
	"github.com/polymesh/polymesh/services/aiapi/internal/auth"
	"github.com/polymesh/polymesh/services/aiapi/internal/batch"
	"github.com/polymesh/polymesh/services/aiapi/internal/predict"
	"github.com/polymesh/polymesh/services/internal/grpcserver"
	"github.com/polymesh/polymesh/services/internal/service"
	"github.com/polymesh/polymesh/services/internal/telemetry"
)

const serviceName = "polymesh-aiapi"

func main() {
	slog.SetDefault(service.Logger(serviceName)) // for what is logged before service.Start
	if err := run(); err != nil {
		slog.Error("aiapi failed", "error", err)
		os.Exit(1)
	}
}

func durationEnv(name string, fallback time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
		slog.Warn("ignoring a malformed duration", "variable", name, "value", v)
	}
	return fallback
}

func intEnv(name string, fallback int) int {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
		slog.Warn("ignoring a malformed integer", "variable", name, "value", v)
	}
	return fallback
}

func boolEnv(name string) bool {
	if v := os.Getenv(name); v != "" {
		b, err := strconv.ParseBool(v)
		if err == nil {
			return b
		}
		slog.Warn("ignoring a malformed boolean", "variable", name, "value", v)
	}
	return false
}

// clientTLS is how aiapi connects to the inference address: TLS when any
// of its settings is given (the CA that signed the server's certificate,
// else the system's; a client certificate and key for mTLS; the server
// name to verify, else the address's host), plaintext otherwise.
type clientTLS struct {
	caFile, certFile, keyFile, serverName string
}

func (c clientTLS) enabled() bool {
	return c.caFile != "" || c.certFile != "" || c.keyFile != "" || c.serverName != ""
}

func (c clientTLS) credentials() (credentials.TransportCredentials, error) {
	if !c.enabled() {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.serverName}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, fmt.Errorf("inference TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("inference TLS CA %s: no PEM certificate in it", c.caFile)
		}
		cfg.RootCAs = pool
	}
	if (c.certFile == "") != (c.keyFile == "") {
		return nil, fmt.Errorf("inference TLS: give both a certificate file and a key file, or neither")
	}
	if c.certFile != "" {
		pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("inference TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg), nil
}

func run() error {
	listen := flag.String("listen", service.Env("POLYMESH_LISTEN_ADDR", "127.0.0.1:50051"), "gRPC listen address")
	upstream := flag.String("inference", service.Env("POLYMESH_INFERENCE_ADDR", "127.0.0.1:8080"),
		"the inference API (the gateway, or the inference service directly)")
	var upstreamTLS clientTLS
	flag.StringVar(&upstreamTLS.caFile, "inference-tls-ca", os.Getenv("POLYMESH_INFERENCE_TLS_CA_FILE"),
		"PEM file of the CA that signed the inference address's certificate (TLS)")
	flag.StringVar(&upstreamTLS.certFile, "inference-tls-cert", os.Getenv("POLYMESH_INFERENCE_TLS_CERT_FILE"),
		"PEM file of this service's client certificate for the inference address (mTLS)")
	flag.StringVar(&upstreamTLS.keyFile, "inference-tls-key", os.Getenv("POLYMESH_INFERENCE_TLS_KEY_FILE"),
		"PEM file of the client certificate's private key")
	flag.StringVar(&upstreamTLS.serverName, "inference-tls-server-name", os.Getenv("POLYMESH_INFERENCE_TLS_SERVER_NAME"),
		"the name the inference address's certificate is verified for (default: its host)")
	keysFile := flag.String("api-keys", os.Getenv("POLYMESH_API_KEYS_FILE"),
		"YAML file of API keys and quotas, reloaded when it changes; empty admits every caller")
	trustPrincipal := flag.Bool("trust-principal-header", boolEnv("POLYMESH_TRUST_PRINCIPAL_HEADER"),
		"identify callers by the gateway's x-polymesh-principal instead of x-api-key (reach aiapi through the gateway only)")
	metricsAddr := flag.String("metrics-listen", service.Env("POLYMESH_METRICS_ADDR", "127.0.0.1:9101"),
		`Prometheus /metrics listen address, or "off"`)
	window := flag.Duration("batch-window", durationEnv("POLYMESH_BATCH_WINDOW", 2*time.Millisecond),
		"how long a micro-batch waits for more predictions; 0 turns batching off")
	maxRows := flag.Int("batch-max-rows", intEnv("POLYMESH_BATCH_MAX_ROWS", 64), "rows per micro-batch at most")
	ttl := flag.Duration("metadata-ttl", durationEnv("POLYMESH_METADATA_TTL", 30*time.Second),
		"how long model metadata is reused")
	flag.Parse()

	proc, err := service.Start(serviceName, *metricsAddr)
	if err != nil {
		return err
	}
	defer proc.Close()
	ctx, log := proc.Ctx, proc.Log

	var authn *auth.Authenticator
	if *keysFile != "" {
		keys, err := auth.LoadFile(*keysFile)
		if err != nil {
			return err
		}
		if authn, err = auth.New(keys, auth.Options{TrustPrincipalHeader: *trustPrincipal}); err != nil {
			return fmt.Errorf("API keys in %s: %w", *keysFile, err)
		}
		rejected, err := otel.Meter("github.com/polymesh/polymesh/services/aiapi").Int64Counter(
			"polymesh.aiapi.rejected", metric.WithDescription("Calls turned away for a missing or unknown key or an exhausted quota."))
		if err != nil {
			return fmt.Errorf("metric: %w", err)
		}
		authn.OnReject = func(ctx context.Context, name string, code codes.Code) {
			rejected.Add(ctx, 1, metric.WithAttributes(attribute.String("caller", name), attribute.String("code", code.String())))
			log.InfoContext(ctx, "call rejected", "caller", name, "code", code.String())
		}
		go authn.WatchFile(ctx, *keysFile, 2*time.Second, log)
		identity := "x-api-key"
		if *trustPrincipal {
			identity = auth.PrincipalHeader + " (set by the gateway)"
		}
		log.Info("API keys loaded", "keys", len(keys), "callers_by", identity)
	} else {
		log.Warn("no API keys configured (POLYMESH_API_KEYS_FILE): every caller is admitted")
	}

	creds, err := upstreamTLS.credentials()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(*upstream,
		grpc.WithTransportCredentials(creds),
		grpc.WithStatsHandler(telemetry.ClientHandler()))
	if err != nil {
		return fmt.Errorf("inference client for %s: %w", *upstream, err)
	}
	defer conn.Close()

	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	serverOpts := []grpc.ServerOption{grpc.StatsHandler(telemetry.ServerHandler())}
	if authn != nil {
		serverOpts = append(serverOpts,
			grpc.ChainUnaryInterceptor(authn.UnaryInterceptor()), grpc.ChainStreamInterceptor(authn.StreamInterceptor()))
	}
	srv := grpc.NewServer(serverOpts...)
	infer := inference.NewGRPCInferenceServiceClient(conn)
	aiv1.RegisterAIServiceServer(srv, predict.NewServer(infer, log, predict.Options{
		MetadataTTL: *ttl, Auth: authn, Batch: batch.Options{Window: *window, MaxRows: *maxRows},
	}))
	log.Info("starting", "inference", *upstream, "inference_tls", upstreamTLS.enabled(),
		"inference_client_certificate", upstreamTLS.certFile != "",
		"batch_window", window.String(), "batch_max_rows", *maxRows)
	return grpcserver.Run(ctx, srv, lis, grpcserver.Options{
		Services: []string{aiv1.AIService_ServiceDesc.ServiceName},
		Logger:   log,
		Ready:    proc.Ready(),
		// NOT_SERVING while the inference tier is not ready.
		Check: func(ctx context.Context) error {
			ready, err := infer.ServerReady(ctx, &inference.ServerReadyRequest{})
			if err != nil {
				return fmt.Errorf("inference tier at %s: %w", *upstream, err)
			}
			if !ready.GetReady() {
				return fmt.Errorf("inference tier at %s is not ready", *upstream)
			}
			return nil
		},
	})
}
