package predict

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"

	"github.com/polymesh/polymesh/gen/go/inference"
	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
	"github.com/polymesh/polymesh/services/internal/telemetry"
)

const defaultTestTimeout = 10 * time.Second

// inferenceServer is a small Open Inference Protocol server: one model
// "sum" with input "x" FP32 [-1, -1] whose output "total" (FP64 [-1]) is
// each row's sum. Other models are NOT_FOUND.
type inferenceServer struct {
	inference.UnimplementedGRPCInferenceServiceServer
	metadataCalls atomic.Int32
	inferCalls    atomic.Int32
	lastDeadline  atomic.Int64 // remaining ns seen by the last ModelInfer; 0 if none
	failWith      codes.Code
	rejectBatches bool // answer INVALID_ARGUMENT to a request of more than one row
}

func (s *inferenceServer) RepositoryIndex(context.Context, *inference.RepositoryIndexRequest) (*inference.RepositoryIndexResponse, error) {
	return &inference.RepositoryIndexResponse{Models: []*inference.RepositoryIndexResponse_ModelIndex{
		{Name: "sum", Version: "1", State: "READY"},
		{Name: "broken", Version: "1", State: "UNAVAILABLE", Reason: "model.joblib: not a pickle"},
	}}, nil
}

func (s *inferenceServer) ModelMetadata(_ context.Context, r *inference.ModelMetadataRequest) (*inference.ModelMetadataResponse, error) {
	s.metadataCalls.Add(1)
	if r.GetName() != "sum" {
		return nil, status.Errorf(codes.NotFound, "model '%s' not found", r.GetName())
	}
	return &inference.ModelMetadataResponse{
		Name: "sum", Versions: []string{"1"}, Platform: "polymesh_test",
		Inputs:  []*inference.ModelMetadataResponse_TensorMetadata{{Name: "x", Datatype: "FP32", Shape: []int64{-1, -1}}},
		Outputs: []*inference.ModelMetadataResponse_TensorMetadata{{Name: "total", Datatype: "FP64", Shape: []int64{-1}}},
	}, nil
}

func (s *inferenceServer) ModelInfer(ctx context.Context, r *inference.ModelInferRequest) (*inference.ModelInferResponse, error) {
	s.inferCalls.Add(1)
	if d, ok := ctx.Deadline(); ok {
		s.lastDeadline.Store(int64(time.Until(d)))
	}
	if s.rejectBatches && r.GetInputs()[0].GetShape()[0] > 1 {
		return nil, status.Error(codes.InvalidArgument, "one row at a time")
	}
	if s.failWith != codes.OK {
		return nil, status.Error(s.failWith, "upstream says no")
	}
	if r.GetModelName() != "sum" {
		return nil, status.Errorf(codes.NotFound, "model '%s' not found", r.GetModelName())
	}
	in := r.GetInputs()[0]
	if in.GetName() != "x" || in.GetDatatype() != "FP32" {
		return nil, status.Errorf(codes.InvalidArgument, "unexpected input %s %s", in.GetName(), in.GetDatatype())
	}
	width := int(in.GetShape()[1])
	values := in.GetContents().GetFp32Contents()
	var totals []float64
	for i := 0; i < len(values); i += width {
		var sum float64
		for _, v := range values[i : i+width] {
			sum += float64(v)
		}
		totals = append(totals, sum)
	}
	return &inference.ModelInferResponse{ModelName: "sum", ModelVersion: "1", Id: r.GetId(), Outputs: []*inference.ModelInferResponse_InferOutputTensor{
		{Name: "total", Datatype: "FP64", Shape: []int64{int64(len(totals))}, Contents: &inference.InferTensorContents{Fp64Contents: totals}}}}, nil
}

// fixture runs the inference server and the AI service over bufconn, both
// traced into one span recorder.
type fixture struct {
	upstream *inferenceServer
	client   aiv1.AIServiceClient
	spans    *tracetest.SpanRecorder
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, Options{})
}

func newFixtureWith(t *testing.T, serverOpts Options) *fixture {
	t.Helper()
	t.Setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "rpc/dup")
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	prop := propagation.TraceContext{}
	opts := []otelgrpc.Option{otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(prop)}

	f := &fixture{upstream: &inferenceServer{}, spans: spans}
	inferConn := serve(t, func(s *grpc.Server) { inference.RegisterGRPCInferenceServiceServer(s, f.upstream) }, nil)
	var interceptors []grpc.ServerOption
	if serverOpts.Auth != nil {
		interceptors = append(interceptors, grpc.ChainUnaryInterceptor(serverOpts.Auth.UnaryInterceptor()),
			grpc.ChainStreamInterceptor(serverOpts.Auth.StreamInterceptor()))
	}
	aiConn := serve(t, func(s *grpc.Server) {
		client := inference.NewGRPCInferenceServiceClient(dial(t, inferConn, telemetry.ClientHandler(opts...)))
		aiv1.RegisterAIServiceServer(s, NewServer(client, slog.New(slog.NewTextHandler(io.Discard, nil)), serverOpts))
	}, telemetry.ServerHandler(opts...), interceptors...)
	f.client = aiv1.NewAIServiceClient(dial(t, aiConn, nil))
	return f
}

type grpcStatsHandler = stats.Handler

func serve(t *testing.T, register func(*grpc.Server), handler grpcStatsHandler, opts ...grpc.ServerOption) *bufconn.Listener {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	if handler != nil {
		opts = append(opts, grpc.StatsHandler(handler))
	}
	s := grpc.NewServer(opts...)
	register(s)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis
}

func dial(t *testing.T, lis *bufconn.Listener, handler grpcStatsHandler) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
	}
	if handler != nil {
		opts = append(opts, grpc.WithStatsHandler(handler))
	}
	conn, err := grpc.NewClient("passthrough:///bufnet", opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestPredictRows(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	for i := 0; i < 3; i++ {
		resp, err := f.client.Predict(ctx, &aiv1.PredictRequest{Model: "sum", Id: "r", Rows: rows([]float64{1, 2}, []float64{3, 4})})
		if err != nil {
			t.Fatalf("Predict: %v", err)
		}
		if got, want := fmtValues(resp.GetOutputs()[0].GetFpValues()), "[3 7]"; got != want || resp.GetId() != "r" {
			t.Errorf("outputs = %s id %q, want %s id r", got, resp.GetId(), want)
		}
	}
	if got := f.upstream.metadataCalls.Load(); got != 1 {
		t.Errorf("ModelMetadata calls = %d, want 1 (cached)", got)
	}
	if d := time.Duration(f.upstream.lastDeadline.Load()); d <= 0 || d > defaultTestTimeout {
		t.Errorf("upstream deadline remaining = %v, want within (0, %v]", d, defaultTestTimeout)
	}
}

func TestPredictTensors(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	resp, err := f.client.Predict(ctx, &aiv1.PredictRequest{Model: "sum", Inputs: []*aiv1.Tensor{
		{Name: "x", Datatype: "FP32", Shape: []int64{1, 3}, FpValues: []float64{1, 1, 1}}}})
	if err != nil {
		t.Fatalf("Predict: %v", err)
	}
	if got := fmtValues(resp.GetOutputs()[0].GetFpValues()); got != "[3]" {
		t.Errorf("outputs = %s, want [3]", got)
	}
	if got := f.upstream.metadataCalls.Load(); got != 1 {
		t.Errorf("ModelMetadata calls = %d, want 1 (tensors are checked against the model)", got)
	}
}

func TestPredictErrors(t *testing.T) {
	tests := []struct {
		name     string
		req      *aiv1.PredictRequest
		failWith codes.Code
		want     codes.Code
	}{
		{"invalid", &aiv1.PredictRequest{Model: "sum"}, codes.OK, codes.InvalidArgument},
		{"unknown model", &aiv1.PredictRequest{Model: "nope", Rows: rows([]float64{1})}, codes.OK, codes.NotFound},
		{"unavailable", &aiv1.PredictRequest{Model: "sum", Rows: rows([]float64{1})}, codes.Unavailable, codes.Unavailable},
		{"internal hides text", &aiv1.PredictRequest{Model: "sum", Rows: rows([]float64{1})}, codes.DataLoss, codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.upstream.failWith = tt.failWith
			ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
			defer cancel()
			_, err := f.client.Predict(ctx, tt.req)
			if got := status.Code(err); got != tt.want {
				t.Fatalf("code = %v, want %v (%v)", got, tt.want, err)
			}
			if tt.want == codes.Internal && status.Convert(err).Message() == "upstream says no" {
				t.Errorf("INTERNAL leaked the upstream's text")
			}
		})
	}
}

func TestPredictStreamGoesOnAfterAFailure(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	stream, err := f.client.PredictStream(ctx)
	if err != nil {
		t.Fatalf("PredictStream: %v", err)
	}
	models := []string{"sum", "nope", "sum"}
	for i, m := range models {
		req := &aiv1.PredictRequest{Model: m, Id: fmt.Sprint(i), Rows: rows([]float64{1, 1})}
		if err := stream.Send(&aiv1.PredictStreamRequest{Request: req}); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("CloseSend: %v", err)
	}
	var got []string
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		got = append(got, fmt.Sprintf("%s:%v", r.GetResponse().GetId(), codes.Code(r.GetErrorCode())))
	}
	if want := "[0:OK 1:NotFound 2:OK]"; fmt.Sprint(got) != want {
		t.Errorf("results = %v, want %s", got, want)
	}
}

func TestSpans(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	if _, err := f.client.Predict(ctx, &aiv1.PredictRequest{Model: "sum", Rows: rows([]float64{1})}); err != nil {
		t.Fatalf("Predict: %v", err)
	}
	// The server ends its span after the client has its answer: wait for it.
	var server, client sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(defaultTestTimeout); time.Now().Before(deadline) && len(f.spans.Ended()) < 3; {
		time.Sleep(time.Millisecond)
	}
	for _, s := range f.spans.Ended() {
		switch {
		case s.SpanKind() == trace.SpanKindServer && s.Name() == "polymesh.ai.v1.AIService/Predict":
			server = s
		case s.SpanKind() == trace.SpanKindClient && s.Name() == "inference.GRPCInferenceService/ModelInfer":
			client = s
		}
	}
	if server == nil || client == nil {
		var names []string
		for _, s := range f.spans.Ended() {
			names = append(names, s.SpanKind().String()+" "+s.Name())
		}
		t.Fatalf("want a Predict SERVER span and a ModelInfer CLIENT span, got %q", names)
	}
	if client.Parent().SpanID() != server.SpanContext().SpanID() {
		t.Errorf("ModelInfer CLIENT span's parent = %v, want the Predict SERVER span %v", client.Parent().SpanID(), server.SpanContext().SpanID())
	}
	for _, s := range []sdktrace.ReadOnlySpan{server, client} {
		attrs := map[string]string{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.Emit()
		}
		for key, want := range map[string]string{
			"rpc.system": "grpc", "rpc.system.name": "grpc", "rpc.method": s.Name(),
			"rpc.response.status_code": "OK", "rpc.grpc.status_code": "0",
		} {
			if attrs[key] != want {
				t.Errorf("%s span %s = %q, want %q", s.SpanKind(), key, attrs[key], want)
			}
		}
	}
}

func fmtValues[T any](v []T) string { return fmt.Sprint(v) }
