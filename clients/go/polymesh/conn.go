// Package polymesh is the Go client of the polymesh mesh: one connection to
// the gateway (or to a service directly) and typed clients of the public
// contracts on it: the AI API (polymesh.ai.v1.AIService), the users API
// (polymesh.users.v1.UserService) and the Open Inference Protocol
// (inference.GRPCInferenceService).
//
//	conn, err := polymesh.Dial("127.0.0.1:8080", polymesh.WithAPIKey("polymesh-demo-key"))
//	if err != nil { ... }
//	defer conn.Close()
//	models, err := conn.AI().ListModels(ctx)
//
//	creds, err := polymesh.TLSCredentials(".run/tls/ca.crt", "", "")   // the TLS port
//	conn, err := polymesh.Dial("127.0.0.1:8443", polymesh.WithTransportCredentials(creds),
//		polymesh.WithAPIKey("polymesh-demo-key"))
//
// Every call has a deadline: the caller's, or DefaultTimeout when the
// caller's context has none. Every call carries the API key as `x-api-key`
// metadata: the gateway checks it on each route that says who may call it,
// and removes it before the call goes on. Calls are traced with otelgrpc: each is a CLIENT
// span of the global tracer provider, and the W3C trace context travels
// with it through the global propagator (set them with otel.SetTracerProvider
// and otel.SetTextMapPropagator). Errors are the gRPC status errors the
// servers answer: status.FromError and status.Code work on them.
package polymesh

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
)

// DefaultTimeout is the deadline of a call whose context has none, unless
// WithDefaultTimeout says otherwise.
const DefaultTimeout = 5 * time.Second

// APIKeyHeader is the metadata key that carries the API key.
const APIKeyHeader = "x-api-key"

// DefaultKeepalive pings an idle connection that has calls in flight every
// 5 minutes and drops it when a ping is not answered within 20 seconds. gRPC
// servers by default close connections that ping more often than every
// 5 minutes (GOAWAY too_many_pings), so shorter intervals need the server's
// consent.
var DefaultKeepalive = keepalive.ClientParameters{
	Time:                5 * time.Minute,
	Timeout:             20 * time.Second,
	PermitWithoutStream: false,
}

type options struct {
	apiKey      string
	timeout     time.Duration
	keepalive   keepalive.ClientParameters
	creds       credentials.TransportCredentials
	tracing     bool
	dialOptions []grpc.DialOption
}

// Option changes a default of Dial.
type Option func(*options)

// WithAPIKey sends key as the x-api-key metadata of every call.
func WithAPIKey(key string) Option { return func(o *options) { o.apiKey = key } }

// WithDefaultTimeout sets the deadline of calls whose context has none
// (DefaultTimeout unless given). It applies to streams too, from their start
// to their end; d <= 0 leaves such calls without a deadline.
func WithDefaultTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithKeepalive replaces DefaultKeepalive.
func WithKeepalive(p keepalive.ClientParameters) Option {
	return func(o *options) { o.keepalive = p }
}

// WithTransportCredentials secures the connection (plaintext unless given);
// see TLSCredentials.
func WithTransportCredentials(c credentials.TransportCredentials) Option {
	return func(o *options) { o.creds = c }
}

// TLSCredentials are the credentials of a TLS connection to the gateway's TLS
// listener: the server's certificate verified against the CA certificates
// of caFile (the system's roots when empty), and the client certificate of
// certFile and keyFile presented for mTLS (none when both are empty).
func TLSCredentials(caFile, certFile, keyFile string) (credentials.TransportCredentials, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("polymesh: TLS CA: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("polymesh: TLS CA %s: no PEM certificate in it", caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("polymesh: TLS: give both a client certificate and its key, or neither")
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("polymesh: TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg), nil
}

// WithoutTracing leaves the calls untraced: no spans and no trace context
// sent.
func WithoutTracing() Option { return func(o *options) { o.tracing = false } }

// WithDialOptions adds grpc.DialOptions after the ones Dial sets.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}

// Conn is a connection to the mesh. It is safe for concurrent use; make one
// per target and share it.
type Conn struct {
	cc *grpc.ClientConn
}

// Dial makes a connection to target (host:port, or any gRPC target such as
// dns:///gateway:8080). It does not wait for the connection: the first
// call does, until its deadline.
func Dial(target string, opts ...Option) (*Conn, error) {
	o := options{
		timeout:   DefaultTimeout,
		keepalive: DefaultKeepalive,
		creds:     insecure.NewCredentials(),
		tracing:   true,
	}
	for _, opt := range opts {
		opt(&o)
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(o.creds),
		grpc.WithKeepaliveParams(o.keepalive),
		grpc.WithChainUnaryInterceptor(unaryDefaults(o.timeout, o.apiKey)),
		grpc.WithChainStreamInterceptor(streamDefaults(o.timeout, o.apiKey)),
	}
	if o.tracing {
		// The global tracer provider and propagator, read at each call.
		dial = append(dial, grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
	}
	cc, err := grpc.NewClient(target, append(dial, o.dialOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("polymesh: connection to %q: %w", target, err)
	}
	return &Conn{cc: cc}, nil
}

// Close closes the connection; calls in flight fail with CANCELED.
func (c *Conn) Close() error { return c.cc.Close() }

// ClientConn is the underlying connection, for other services' stubs. Calls
// on it get the same deadline, key and tracing as the typed clients'.
func (c *Conn) ClientConn() *grpc.ClientConn { return c.cc }

// AI is the client of the AI API on this connection.
func (c *Conn) AI() *AIClient { return &AIClient{raw: aiv1.NewAIServiceClient(c.cc)} }

// Users is the client of the users API on this connection.
func (c *Conn) Users() *UsersClient { return newUsersClient(c.cc) }

// Inference is the Open Inference Protocol client on this connection.
func (c *Conn) Inference() *InferenceClient { return newInferenceClient(c.cc) }

// callContext gives ctx the default deadline if it has none and the API
// key. The returned cancel must be called.
func callContext(ctx context.Context, timeout time.Duration, apiKey string) (context.Context, context.CancelFunc) {
	if apiKey != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, APIKeyHeader, apiKey)
	}
	if _, ok := ctx.Deadline(); !ok && timeout > 0 {
		return context.WithTimeout(ctx, timeout)
	}
	return ctx, func() {}
}

func unaryDefaults(timeout time.Duration, apiKey string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, cancel := callContext(ctx, timeout, apiKey)
		defer cancel()
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

func streamDefaults(timeout time.Duration, apiKey string) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		ctx, cancel := callContext(ctx, timeout, apiKey)
		s, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			cancel()
			return nil, err
		}
		return &cancelOnEnd{ClientStream: s, cancel: cancel, single: !desc.ServerStreams}, nil
	}
}

// cancelOnEnd releases a stream's deadline timer once the stream has ended:
// a receive returned an error (io.EOF included), or received the one
// response of a client-streaming call.
type cancelOnEnd struct {
	grpc.ClientStream
	cancel context.CancelFunc
	single bool
}

func (s *cancelOnEnd) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil || s.single {
		s.cancel()
	}
	return err
}
