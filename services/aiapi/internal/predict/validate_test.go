package predict

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
)

func rows(values ...[]float64) []*aiv1.FeatureRow {
	out := make([]*aiv1.FeatureRow, len(values))
	for i, v := range values {
		out[i] = &aiv1.FeatureRow{Values: v}
	}
	return out
}

func TestValidate(t *testing.T) {
	fp := func(shape []int64, values ...float64) *aiv1.Tensor {
		return &aiv1.Tensor{Name: "input", Datatype: "FP32", Shape: shape, FpValues: values}
	}
	tests := []struct {
		name      string
		req       *aiv1.PredictRequest
		wantField string // "" for a valid request
	}{
		{"rows", &aiv1.PredictRequest{Model: "iris", Rows: rows([]float64{1, 2}, []float64{3, 4})}, ""},
		{"tensor", &aiv1.PredictRequest{Model: "m", Inputs: []*aiv1.Tensor{fp([]int64{1, 2}, 1, 2)}}, ""},
		{"empty tensor", &aiv1.PredictRequest{Model: "m", Inputs: []*aiv1.Tensor{fp([]int64{0, 2})}}, ""},
		{"no model", &aiv1.PredictRequest{Rows: rows([]float64{1})}, "model"},
		{"no input", &aiv1.PredictRequest{Model: "m"}, "inputs"},
		{"both", &aiv1.PredictRequest{Model: "m", Rows: rows([]float64{1}), Inputs: []*aiv1.Tensor{fp([]int64{1}, 1)}}, "rows"},
		{"ragged rows", &aiv1.PredictRequest{Model: "m", Rows: rows([]float64{1, 2}, []float64{1, 2}, []float64{1})}, "rows[2].values"},
		{"empty row", &aiv1.PredictRequest{Model: "m", Rows: rows([]float64{})}, "rows[0].values"},
		{"nan", &aiv1.PredictRequest{Model: "m", Rows: rows([]float64{1, math.NaN()})}, "rows[0].values[1]"},
		{"no tensor name", &aiv1.PredictRequest{Model: "m", Inputs: []*aiv1.Tensor{{Datatype: "FP32", Shape: []int64{1}, FpValues: []float64{1}}}}, "inputs[0].name"},
		{"bad datatype", &aiv1.PredictRequest{Model: "m", Inputs: []*aiv1.Tensor{{Name: "x", Datatype: "FP128", Shape: []int64{1}}}}, "inputs[0].datatype"},
		{"no shape", &aiv1.PredictRequest{Model: "m", Inputs: []*aiv1.Tensor{fp(nil, 1)}}, "inputs[0].shape"},
		{"negative dim", &aiv1.PredictRequest{Model: "m", Inputs: []*aiv1.Tensor{fp([]int64{2, -1}, 1, 2)}}, "inputs[0].shape[1]"},
		{"count mismatch", &aiv1.PredictRequest{Model: "m", Inputs: []*aiv1.Tensor{fp([]int64{2, 2}, 1, 2, 3)}}, "inputs[0].fp_values"},
		{"wrong field", &aiv1.PredictRequest{Model: "m", Inputs: []*aiv1.Tensor{{Name: "x", Datatype: "INT64", Shape: []int64{1}, FpValues: []float64{1}}}}, "inputs[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.req)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("code = %v, want InvalidArgument (err %v)", st.Code(), err)
			}
			if !strings.HasPrefix(st.Message(), tt.wantField+":") {
				t.Errorf("message = %q, want it to start with %q", st.Message(), tt.wantField+":")
			}
			var got string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 {
					got = br.GetFieldViolations()[0].GetField()
				}
			}
			if got != tt.wantField {
				t.Errorf("BadRequest field = %q, want %q", got, tt.wantField)
			}
		})
	}
}

func TestFromRaw(t *testing.T) {
	tests := []struct {
		datatype string
		raw      []byte
		want     string
	}{
		{"INT64", []byte{2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "[2 -1]"},
		{"FP32", []byte{0, 0, 0x80, 0x3f}, "[1]"},
		{"FP16", []byte{0x00, 0x3c, 0x00, 0xc0}, "[1 -2]"},
		{"BOOL", []byte{1, 0}, "[true false]"},
		{"BYTES", []byte{2, 0, 0, 0, 'h', 'i'}, "[[104 105]]"},
	}
	for _, tt := range tests {
		t.Run(tt.datatype, func(t *testing.T) {
			tensor := &aiv1.Tensor{Datatype: tt.datatype}
			if err := fromRaw(tensor, tt.raw); err != nil {
				t.Fatalf("fromRaw: %v", err)
			}
			var got string
			switch {
			case len(tensor.FpValues) > 0:
				got = fmtValues(tensor.FpValues)
			case len(tensor.IntValues) > 0:
				got = fmtValues(tensor.IntValues)
			case len(tensor.BoolValues) > 0:
				got = fmtValues(tensor.BoolValues)
			default:
				got = fmtValues(tensor.BytesValues)
			}
			if got != tt.want {
				t.Errorf("values = %s, want %s", got, tt.want)
			}
		})
	}
	if err := fromRaw(&aiv1.Tensor{Datatype: "FP32"}, []byte{1, 2, 3}); err == nil {
		t.Error("fromRaw(3 bytes of FP32) = nil, want an error")
	}
}
