package predict

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"

	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
	"github.com/polymesh/polymesh/services/aiapi/internal/auth"
	"github.com/polymesh/polymesh/services/aiapi/internal/batch"
)

func TestListAndGetModels(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	list, err := f.client.ListModels(ctx, &aiv1.ListModelsRequest{})
	if err != nil {
		t.Fatalf("ListModels: %v", err)
	}
	want := `models:{name:"broken" versions:"1" reason:"model.joblib: not a pickle"} ` +
		`models:{name:"sum" versions:"1" platform:"polymesh_test" ready:true ` +
		`inputs:{name:"x" datatype:"FP32" shape:-1 shape:-1} outputs:{name:"total" datatype:"FP64" shape:-1}}`
	got := prototext.MarshalOptions{}.Format(list)
	if normalize(got) != normalize(want) {
		t.Errorf("ListModels =\n%s\nwant\n%s", got, want)
	}
	if _, err := f.client.ListModels(ctx, &aiv1.ListModelsRequest{}); err != nil {
		t.Fatalf("ListModels again: %v", err)
	}
	model, err := f.client.GetModel(ctx, &aiv1.GetModelRequest{Name: "sum"})
	if err != nil {
		t.Fatalf("GetModel: %v", err)
	}
	if model.GetModel().GetInputs()[0].GetName() != "x" || !model.GetModel().GetReady() {
		t.Errorf("GetModel = %v", model)
	}
	if n := f.upstream.metadataCalls.Load(); n != 1 {
		t.Errorf("ModelMetadata calls = %d, want 1: the answer is cached", n)
	}
	for _, tc := range []struct {
		req  *aiv1.GetModelRequest
		want codes.Code
	}{
		{&aiv1.GetModelRequest{}, codes.InvalidArgument},
		{&aiv1.GetModelRequest{Name: "nope"}, codes.NotFound},
	} {
		if _, err := f.client.GetModel(ctx, tc.req); status.Code(err) != tc.want {
			t.Errorf("GetModel(%v) = %v, want %v", tc.req, err, tc.want)
		}
	}
}

func normalize(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r != ' ' && r != '\n' {
			out = append(out, r)
		}
	}
	return string(out)
}

func TestPredictIsCheckedAgainstTheModel(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	x := func(datatype string, shape ...int64) *aiv1.Tensor {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		return &aiv1.Tensor{Name: "x", Datatype: datatype, Shape: shape, FpValues: make([]float64, n)}
	}
	tests := []struct {
		name   string
		inputs []*aiv1.Tensor
		field  string
	}{
		{"unknown name", []*aiv1.Tensor{{Name: "y", Datatype: "FP32", Shape: []int64{1}, FpValues: []float64{1}}}, "inputs[0].name"},
		{"wrong datatype", []*aiv1.Tensor{x("FP64", 1, 2)}, "inputs[0].datatype"},
		{"wrong rank", []*aiv1.Tensor{x("FP32", 2)}, "inputs[0].shape"},
		{"twice", []*aiv1.Tensor{x("FP32", 1, 1), x("FP32", 1, 1)}, "inputs[1].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client.Predict(ctx, &aiv1.PredictRequest{Model: "sum", Inputs: tt.inputs})
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("Predict = %v, want INVALID_ARGUMENT", err)
			}
			if got := badRequestFields(t, err); len(got) == 0 || got[0] != tt.field {
				t.Errorf("BadRequest fields = %v, want %s first (%v)", got, tt.field, err)
			}
		})
	}
	if n := f.upstream.inferCalls.Load(); n != 0 {
		t.Errorf("ModelInfer calls = %d, want 0: bad requests never reach the inference tier", n)
	}
}

func badRequestFields(t *testing.T, err error) []string {
	t.Helper()
	var fields []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

func TestADeadlineTooShortIsNotForwarded(t *testing.T) {
	f := newFixtureWith(t, Options{MinDeadline: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	_, err := f.client.Predict(ctx, &aiv1.PredictRequest{Model: "sum", Rows: rows([]float64{1})})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("Predict = %v, want DEADLINE_EXCEEDED", err)
	}
	if n := f.upstream.inferCalls.Load() + f.upstream.metadataCalls.Load(); n != 0 {
		t.Errorf("inference calls = %d, want 0", n)
	}
	// Without a deadline, nothing to check.
	if _, err := f.client.Predict(context.Background(), &aiv1.PredictRequest{Model: "sum", Rows: rows([]float64{1})}); err != nil {
		t.Errorf("Predict without a deadline: %v", err)
	}
}

// predictConcurrently sends n one-row predictions at once; row i is [i, 1].
func predictConcurrently(t *testing.T, f *fixture, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := f.client.Predict(ctx, &aiv1.PredictRequest{Model: "sum", Id: fmt.Sprint(i), Rows: rows([]float64{float64(i), 1})})
			if err != nil {
				got[i] = err.Error()
				return
			}
			got[i] = fmt.Sprintf("%s=%v", resp.GetId(), resp.GetOutputs()[0].GetFpValues())
		}()
	}
	wg.Wait()
	return got
}

func TestConcurrentPredictionsAreMergedAndSplitBack(t *testing.T) {
	const n = 8
	// A full batch is sent at once, so the long window is not waited for.
	f := newFixtureWith(t, Options{Batch: batch.Options{Window: defaultTestTimeout / 2, MaxRows: n}})
	got := predictConcurrently(t, f, n)
	for i := range n {
		if want := fmt.Sprintf("%d=[%d]", i, i+1); got[i] != want {
			t.Errorf("prediction %d = %s, want %s", i, got[i], want)
		}
	}
	if calls := f.upstream.inferCalls.Load(); calls != 1 {
		t.Errorf("ModelInfer calls = %d, want 1 for %d merged predictions", calls, n)
	}
}

func TestAFailedBatchIsRetriedOneByOne(t *testing.T) {
	const n = 4
	f := newFixtureWith(t, Options{Batch: batch.Options{Window: defaultTestTimeout / 2, MaxRows: n}})
	f.upstream.rejectBatches = true
	got := predictConcurrently(t, f, n)
	for i := range n {
		if want := fmt.Sprintf("%d=[%d]", i, i+1); got[i] != want {
			t.Errorf("prediction %d = %s, want %s", i, got[i], want)
		}
	}
	if calls := f.upstream.inferCalls.Load(); calls != n+1 {
		t.Errorf("ModelInfer calls = %d, want %d (the batch, then each alone)", calls, n+1)
	}
}

func TestPredictStreamChargesEachRequest(t *testing.T) {
	a, err := auth.New([]auth.Key{{Name: "demo", SHA256: auth.HashKey("k"), RequestsPerSecond: 0.001, Burst: 2}}, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, Options{Auth: a})
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, auth.Header, "k")
	stream, err := f.client.PredictStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		req := &aiv1.PredictRequest{Model: "sum", Id: fmt.Sprint(i), Rows: rows([]float64{1})}
		if err := stream.Send(&aiv1.PredictStreamRequest{Request: req}); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var codesSeen []codes.Code
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		codesSeen = append(codesSeen, codes.Code(r.GetErrorCode()))
		if codes.Code(r.GetErrorCode()) == codes.ResourceExhausted {
			var retry errdetails.RetryInfo
			if len(r.GetErrorDetails()) == 0 || r.GetErrorDetails()[0].UnmarshalTo(&retry) != nil || retry.GetRetryDelay().AsDuration() <= 0 {
				t.Errorf("quota result details = %v, want a RetryInfo first", r.GetErrorDetails())
			}
		}
	}
	if fmt.Sprint(codesSeen) != "[OK OK ResourceExhausted]" {
		t.Errorf("results = %v, want [OK OK ResourceExhausted]", codesSeen)
	}
}
