package polymesh_test

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/polymesh/polymesh/clients/go/polymesh"
)

// seen records, per method, what the interceptor after the client's own
// saw: the call's deadline and outgoing metadata.
type seen struct {
	mu       sync.Mutex
	deadline map[string]time.Duration // 0: none
	md       map[string]metadata.MD
}

func (s *seen) option() polymesh.Option {
	s.deadline, s.md = map[string]time.Duration{}, map[string]metadata.MD{}
	record := func(ctx context.Context, method string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.deadline[method] = 0
		if d, ok := ctx.Deadline(); ok {
			s.deadline[method] = time.Until(d)
		}
		s.md[method], _ = metadata.FromOutgoingContext(ctx)
	}
	return polymesh.WithDialOptions(
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			record(ctx, method)
			return invoker(ctx, method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			record(ctx, method)
			return streamer(ctx, desc, cc, method, opts...)
		}))
}

func (s *seen) get(method string) (time.Duration, metadata.MD) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deadline[method], s.md[method]
}

const (
	getUser   = "/polymesh.users.v1.UserService/GetUser"
	listUsers = "/polymesh.users.v1.UserService/ListUsers"
)

func TestDeadlines(t *testing.T) {
	tests := []struct {
		name        string
		timeout     time.Duration // the connection's default
		callTimeout time.Duration // the caller's; 0: none
		wantMax     time.Duration // 0: no deadline
	}{
		{"the default when the caller has none", 7 * time.Second, 0, 7 * time.Second},
		{"the caller's own", 7 * time.Second, 20 * time.Second, 20 * time.Second},
		{"none when the default is off", 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s seen
			users := dial(t, "users", polymesh.WithDefaultTimeout(tt.timeout), s.option()).Users()
			ctx := context.Background()
			if tt.callTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.callTimeout)
				defer cancel()
			}
			for method, call := range map[string]func() error{
				getUser: func() error {
					_, err := users.Get(ctx, "0f8fad5b-d9cb-469f-a165-70867728950e")
					return err
				},
				listUsers: func() error {
					_, _, err := users.ListPage(ctx, 1, "")
					return err
				},
			} {
				if err := call(); err != nil && status.Code(err) != codes.NotFound {
					t.Fatalf("%s: %v", method, err)
				}
				got, _ := s.get(method)
				if tt.wantMax == 0 {
					if got != 0 {
						t.Errorf("%s: deadline in %v, want none", method, got)
					}
				} else if got <= 0 || got > tt.wantMax || (tt.callTimeout == 0 && got > tt.timeout) {
					t.Errorf("%s: deadline in %v, want within (0, %v]", method, got, tt.wantMax)
				}
			}
		})
	}
}

func TestDefaultDeadlineEndsCalls(t *testing.T) {
	users := dial(t, "users", polymesh.WithDefaultTimeout(time.Nanosecond)).Users()
	if _, err := users.Get(context.Background(), "0f8fad5b-d9cb-469f-a165-70867728950e"); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("Get: got %v, want DEADLINE_EXCEEDED", err)
	}
	for _, err := range users.List(context.Background(), 10) {
		if status.Code(err) != codes.DeadlineExceeded {
			t.Errorf("List: got %v, want DEADLINE_EXCEEDED", err)
		}
	}
	// The caller's deadline wins over the default.
	if _, err := users.Get(testContext(t), "0f8fad5b-d9cb-469f-a165-70867728950e"); status.Code(err) != codes.NotFound {
		t.Errorf("Get with the caller's deadline: got %v, want NOT_FOUND", err)
	}
}

func TestAPIKeyGoesWithEveryCall(t *testing.T) {
	var s seen
	conn := dial(t, "gateway", polymesh.WithAPIKey(testAPIKey), s.option())
	ctx := testContext(t)
	if _, err := conn.AI().ListModels(ctx); err != nil {
		t.Fatalf("ListModels: %v", err)
	}
	if _, err := conn.Users().Get(ctx, "0f8fad5b-d9cb-469f-a165-70867728950e"); status.Code(err) != codes.NotFound {
		t.Fatalf("Get: got %v, want NOT_FOUND (admitted by the gateway)", err)
	}
	for _, method := range []string{"/polymesh.ai.v1.AIService/ListModels", getUser} {
		if _, md := s.get(method); len(md.Get(polymesh.APIKeyHeader)) != 1 || md.Get(polymesh.APIKeyHeader)[0] != testAPIKey {
			t.Errorf("%s: metadata %v, want %s: %s", method, md, polymesh.APIKeyHeader, testAPIKey)
		}
	}
}

// TestAIAPIKeys calls through the gateway, which checks the keys (aiapi
// takes the caller it names).
func TestAIAPIKeys(t *testing.T) {
	tests := []struct {
		name string
		opts []polymesh.Option
		want codes.Code
	}{
		{"no key", nil, codes.Unauthenticated},
		{"unknown key", []polymesh.Option{polymesh.WithAPIKey("not-a-key")}, codes.Unauthenticated},
		{"the key", []polymesh.Option{polymesh.WithAPIKey(testAPIKey)}, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dial(t, "gateway", tt.opts...).AI().ListModels(testContext(t))
			if got := status.Code(err); got != tt.want {
				t.Errorf("ListModels: got %v (%v), want %v", got, err, tt.want)
			}
		})
	}
}

func TestTraceContextReachesTheServer(t *testing.T) {
	users := dial(t, "users").Users()
	ctx, root := otel.Tracer("polymesh-client-test").Start(testContext(t), "test root")
	_, err := users.Get(ctx, "0f8fad5b-d9cb-469f-a165-70867728950e")
	root.End()
	if status.Code(err) != codes.NotFound {
		t.Fatalf("Get: got %v, want NOT_FOUND", err)
	}
	traceID := root.SpanContext().TraceID()
	var client trace.SpanContext
	for _, s := range recorder.Ended() {
		if s.SpanContext().TraceID() == traceID && s.SpanKind() == trace.SpanKindClient {
			client = s.SpanContext()
		}
	}
	if !client.IsValid() {
		t.Fatalf("no CLIENT span in trace %s", traceID)
	}
	server, err := mesh.Collector.WaitSpan(testContext(t), func(s *tracepb.Span) bool {
		return hex.EncodeToString(s.GetTraceId()) == traceID.String() && s.GetKind() == tracepb.Span_SPAN_KIND_SERVER
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(server.GetParentSpanId()), client.SpanID().String(); got != want {
		t.Errorf("server span %q has parent %s, want the client span %s", server.GetName(), got, want)
	}
}

func TestTLSCredentialsErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		ca, cert, key string
		want          string
	}{
		"a missing CA":                  {ca: filepath.Join(dir, "missing"), want: "TLS CA"},
		"a CA that is not PEM":          {ca: notPEM, want: "no PEM certificate"},
		"a certificate without its key": {cert: "client.crt", want: "both a client certificate and its key"},
	} {
		if _, err := polymesh.TLSCredentials(tc.ca, tc.cert, tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, tc.want)
		}
	}
	if creds, err := polymesh.TLSCredentials("", "", ""); err != nil || creds.Info().SecurityProtocol != "tls" {
		t.Errorf("the system's roots: %v, %v", creds, err)
	}
}
