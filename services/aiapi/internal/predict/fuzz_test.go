package predict

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
	"github.com/polymesh/polymesh/services/aiapi/internal/catalog"
)

var irisLike = &catalog.Model{
	Name:    "iris",
	Inputs:  []*aiv1.TensorSpec{{Name: "input", Datatype: "FP64", Shape: []int64{-1, 4}}},
	Outputs: []*aiv1.TensorSpec{{Name: "label", Datatype: "INT64", Shape: []int64{-1}}},
}

func seeds(f *testing.F) {
	for _, req := range []*aiv1.PredictRequest{
		{Model: "iris", Rows: rows([]float64{5.1, 3.5, 1.4, 0.2})},
		{Model: "iris", Rows: rows([]float64{1, 2, 3}, []float64{1})},
		{Model: "iris", Inputs: []*aiv1.Tensor{{Name: "input", Datatype: "FP64", Shape: []int64{1, 4}, FpValues: []float64{1, 2, 3, 4}}}},
		{Model: "iris", Inputs: []*aiv1.Tensor{{Name: "input", Datatype: "INT8", Shape: []int64{-2}, IntValues: []int64{1}}}},
		{Model: "iris", Inputs: []*aiv1.Tensor{{Name: "x", Datatype: "BYTES", Shape: []int64{2}, BytesValues: [][]byte{{1}, {}}}}},
		{},
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzValidate: any request, however malformed, is either valid or
// INVALID_ARGUMENT naming a field, and never panics; a valid one converts.
func FuzzValidate(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		req := &aiv1.PredictRequest{}
		if proto.Unmarshal(data, req) != nil {
			return
		}
		if err := Validate(req); err != nil {
			if status.Code(err) != codes.InvalidArgument || len(badRequestFields(t, err)) == 0 {
				t.Fatalf("Validate = %v, want INVALID_ARGUMENT with a BadRequest", err)
			}
			return
		}
		if err := CheckModel(req, irisLike); err != nil {
			if status.Code(err) != codes.InvalidArgument || len(badRequestFields(t, err)) == 0 {
				t.Fatalf("CheckModel = %v, want INVALID_ARGUMENT with a BadRequest", err)
			}
			return
		}
		if _, err := inferRequest(req, irisLike); err != nil {
			t.Fatalf("a request that passed both checks does not convert: %v", err)
		}
	})
}

func BenchmarkValidate(b *testing.B) {
	req := &aiv1.PredictRequest{Model: "iris", Rows: rows(
		[]float64{5.1, 3.5, 1.4, 0.2}, []float64{6.2, 2.9, 4.3, 1.3}, []float64{7.7, 3.0, 6.1, 2.3}, []float64{5.0, 3.4, 1.5, 0.2})}
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(req); err != nil {
			b.Fatal(err)
		}
		if err := CheckModel(req, irisLike); err != nil {
			b.Fatal(err)
		}
		if _, err := inferRequest(req, irisLike); err != nil {
			b.Fatal(err)
		}
	}
}
