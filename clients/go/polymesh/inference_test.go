package polymesh_test

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/polymesh/polymesh/clients/go/polymesh"
	"github.com/polymesh/polymesh/gen/go/inference"
)

func TestInference(t *testing.T) {
	inf := dial(t, "inference").Inference()
	ctx := testContext(t)

	for name, call := range map[string]func() (bool, error){
		"ServerLive":  func() (bool, error) { return inf.ServerLive(ctx) },
		"ServerReady": func() (bool, error) { return inf.ServerReady(ctx) },
		"ModelReady":  func() (bool, error) { return inf.ModelReady(ctx, "iris", "") },
	} {
		if ok, err := call(); !ok || err != nil {
			t.Errorf("%s: %v, %v; want true", name, ok, err)
		}
	}
	if md, err := inf.ServerMetadata(ctx); err != nil || md.GetName() == "" {
		t.Errorf("ServerMetadata: %v, %v", md, err)
	}
	md, err := inf.ModelMetadata(ctx, "iris", "")
	if err != nil || md.GetName() != "iris" || md.GetInputs()[0].GetName() != "input" {
		t.Fatalf("ModelMetadata(iris): %v, %v", md, err)
	}

	resp, err := inf.InferRows(ctx, "iris", "input", irisRows)
	if err != nil {
		t.Fatalf("InferRows: %v", err)
	}
	labels, err := polymesh.OutputInt64(resp, "label")
	if err != nil || !slices.Equal(labels, []int64{0, 2}) {
		t.Errorf("labels %v (%v), want [0 2]", labels, err)
	}
	probabilities, err := polymesh.OutputFloat64(resp, "probabilities")
	if err != nil || len(probabilities) != 6 {
		t.Fatalf("probabilities %v (%v), want 2 rows of 3", probabilities, err)
	}
	for row := range 2 {
		sum := probabilities[3*row] + probabilities[3*row+1] + probabilities[3*row+2]
		if math.Abs(sum-1) > 1e-6 {
			t.Errorf("row %d probabilities sum to %v, want 1", row, sum)
		}
	}
	if labels, err := polymesh.OutputFloat64(resp, "label"); err != nil || !slices.Equal(labels, []float64{0, 2}) {
		t.Errorf("labels as float64 %v (%v), want [0 2]", labels, err)
	}
	if _, err := polymesh.OutputInt64(resp, "nothing"); err == nil {
		t.Error("OutputInt64 of a missing output: no error")
	}
}

func TestInferenceRawContents(t *testing.T) {
	inf := dial(t, "inference").Inference()
	req, err := polymesh.InferRequest("iris", "input", irisRows)
	if err != nil {
		t.Fatal(err)
	}
	// The same request in raw_input_contents: the server answers raw too.
	raw := make([]byte, 0, 4*8)
	for _, v := range req.GetInputs()[0].GetContents().GetFp32Contents() {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	req.Inputs[0].Contents = nil
	req.RawInputContents = [][]byte{raw}
	resp, err := inf.ModelInfer(testContext(t), req)
	if err != nil {
		t.Fatalf("ModelInfer: %v", err)
	}
	if len(resp.GetRawOutputContents()) == 0 {
		t.Fatal("the response has no raw_output_contents")
	}
	labels, err := polymesh.OutputInt64(resp, "label")
	if err != nil || !slices.Equal(labels, []int64{0, 2}) {
		t.Errorf("labels %v (%v), want [0 2]", labels, err)
	}
	probabilities, err := polymesh.OutputFloat64(resp, "probabilities")
	if err != nil || len(probabilities) != 6 {
		t.Errorf("probabilities %v (%v), want 6 values", probabilities, err)
	}
}

func TestInferenceErrors(t *testing.T) {
	inf := dial(t, "inference").Inference()
	ctx := testContext(t)
	if _, err := inf.InferRows(ctx, "no-such-model", "input", irisRows); status.Code(err) != codes.NotFound {
		t.Errorf("InferRows of an unknown model: got %v, want NOT_FOUND", err)
	}
	if _, err := inf.InferRows(ctx, "iris", "input", [][]float32{{1, 2}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("InferRows with 2 features: got %v, want INVALID_ARGUMENT", err)
	}
	if _, err := inf.ModelInfer(ctx, &inference.ModelInferRequest{ModelName: "iris"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ModelInfer without inputs: got %v, want INVALID_ARGUMENT", err)
	}
	// Ragged rows never leave the client.
	_, err := inf.InferRows(ctx, "iris", "input", [][]float32{{1, 2, 3, 4}, {1}})
	if st, ok := status.FromError(err); !ok || st.Code() != codes.InvalidArgument {
		t.Errorf("InferRows with ragged rows: got %v, want INVALID_ARGUMENT", err)
	}
}
