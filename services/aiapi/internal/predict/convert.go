package predict

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/polymesh/polymesh/gen/go/inference"
	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
	"github.com/polymesh/polymesh/services/aiapi/internal/catalog"
	"github.com/polymesh/polymesh/services/internal/datatypes"
)

// inferRequest turns a PredictRequest checked against model into a
// ModelInferRequest: rows become one tensor of the model's single input.
func inferRequest(req *aiv1.PredictRequest, model *catalog.Model) (*inference.ModelInferRequest, error) {
	out := &inference.ModelInferRequest{ModelName: req.GetModel(), ModelVersion: req.GetModelVersion(), Id: req.GetId()}
	if rows := req.GetRows(); len(rows) > 0 {
		input := model.Inputs[0]
		width := len(rows[0].GetValues())
		flat := make([]float64, 0, len(rows)*width)
		for _, r := range rows {
			flat = append(flat, r.GetValues()...)
		}
		t := &aiv1.Tensor{Name: input.GetName(), Datatype: input.GetDatatype(), Shape: []int64{int64(len(rows)), int64(width)}, FpValues: flat}
		in, err := inferInput(t)
		if err != nil {
			return nil, err
		}
		out.Inputs = append(out.Inputs, in)
		return out, nil
	}
	for _, t := range req.GetInputs() {
		in, err := inferInput(t)
		if err != nil {
			return nil, err
		}
		out.Inputs = append(out.Inputs, in)
	}
	return out, nil
}

// inferInput puts a tensor's values into the contents field of its datatype.
func inferInput(t *aiv1.Tensor) (*inference.ModelInferRequest_InferInputTensor, error) {
	c := &inference.InferTensorContents{}
	switch t.GetDatatype() {
	case "FP32":
		c.Fp32Contents = make([]float32, len(t.GetFpValues()))
		for i, x := range t.GetFpValues() {
			c.Fp32Contents[i] = float32(x)
		}
	case "FP64":
		c.Fp64Contents = t.GetFpValues()
	case "INT8", "INT16", "INT32":
		c.IntContents = make([]int32, len(t.GetIntValues()))
		for i, x := range t.GetIntValues() {
			c.IntContents[i] = int32(x)
		}
	case "INT64":
		c.Int64Contents = t.GetIntValues()
	case "UINT8", "UINT16", "UINT32":
		c.UintContents = make([]uint32, len(t.GetIntValues()))
		for i, x := range t.GetIntValues() {
			c.UintContents[i] = uint32(x)
		}
	case "UINT64":
		c.Uint64Contents = make([]uint64, len(t.GetIntValues()))
		for i, x := range t.GetIntValues() {
			c.Uint64Contents[i] = uint64(x)
		}
	case "BOOL":
		c.BoolContents = t.GetBoolValues()
	case "BYTES":
		c.BytesContents = t.GetBytesValues()
	default: // FP16 has no typed contents field in the protocol
		return nil, fmt.Errorf("datatype %s of input %q is not supported for typed contents", t.GetDatatype(), t.GetName())
	}
	return &inference.ModelInferRequest_InferInputTensor{Name: t.GetName(), Datatype: t.GetDatatype(), Shape: t.GetShape(), Contents: c}, nil
}

// predictResponse turns a ModelInferResponse into a PredictResponse,
// reading each output from its typed contents or from raw_output_contents.
func predictResponse(r *inference.ModelInferResponse) (*aiv1.PredictResponse, error) {
	out := &aiv1.PredictResponse{Model: r.GetModelName(), ModelVersion: r.GetModelVersion(), Id: r.GetId()}
	raw := r.GetRawOutputContents()
	if len(raw) > 0 && len(raw) != len(r.GetOutputs()) {
		return nil, fmt.Errorf("%d raw output contents for %d outputs", len(raw), len(r.GetOutputs()))
	}
	for i, o := range r.GetOutputs() {
		t := &aiv1.Tensor{Name: o.GetName(), Datatype: o.GetDatatype(), Shape: o.GetShape()}
		var err error
		if len(raw) > 0 {
			err = fromRaw(t, raw[i])
		} else {
			fromContents(t, o.GetContents())
		}
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", o.GetName(), err)
		}
		out.Outputs = append(out.Outputs, t)
	}
	return out, nil
}

func fromContents(t *aiv1.Tensor, c *inference.InferTensorContents) {
	for _, x := range c.GetFp32Contents() {
		t.FpValues = append(t.FpValues, float64(x))
	}
	t.FpValues = append(t.FpValues, c.GetFp64Contents()...)
	for _, x := range c.GetIntContents() {
		t.IntValues = append(t.IntValues, int64(x))
	}
	t.IntValues = append(t.IntValues, c.GetInt64Contents()...)
	for _, x := range c.GetUintContents() {
		t.IntValues = append(t.IntValues, int64(x))
	}
	for _, x := range c.GetUint64Contents() {
		t.IntValues = append(t.IntValues, int64(x))
	}
	t.BoolValues = c.GetBoolContents()
	t.BytesValues = c.GetBytesContents()
}

// fromRaw decodes little-endian raw contents by datatype.
func fromRaw(t *aiv1.Tensor, b []byte) error {
	size := datatypes.Size(t.GetDatatype())
	if t.GetDatatype() == "BYTES" {
		for len(b) > 0 {
			if len(b) < 4 {
				return fmt.Errorf("truncated BYTES element")
			}
			n := binary.LittleEndian.Uint32(b)
			if uint64(len(b)-4) < uint64(n) {
				return fmt.Errorf("truncated BYTES element")
			}
			t.BytesValues = append(t.BytesValues, b[4:4+n])
			b = b[4+n:]
		}
		return nil
	}
	if size == 0 || len(b)%size != 0 {
		return fmt.Errorf("%d raw bytes do not hold %s values", len(b), t.GetDatatype())
	}
	for i := 0; i < len(b); i += size {
		e := b[i : i+size]
		switch t.GetDatatype() {
		case "BOOL":
			t.BoolValues = append(t.BoolValues, e[0] != 0)
		case "INT8":
			t.IntValues = append(t.IntValues, int64(int8(e[0])))
		case "UINT8":
			t.IntValues = append(t.IntValues, int64(e[0]))
		case "INT16":
			t.IntValues = append(t.IntValues, int64(int16(binary.LittleEndian.Uint16(e))))
		case "UINT16":
			t.IntValues = append(t.IntValues, int64(binary.LittleEndian.Uint16(e)))
		case "INT32":
			t.IntValues = append(t.IntValues, int64(int32(binary.LittleEndian.Uint32(e))))
		case "UINT32":
			t.IntValues = append(t.IntValues, int64(binary.LittleEndian.Uint32(e)))
		case "INT64":
			t.IntValues = append(t.IntValues, int64(binary.LittleEndian.Uint64(e)))
		case "UINT64":
			t.IntValues = append(t.IntValues, int64(binary.LittleEndian.Uint64(e)))
		case "FP16":
			t.FpValues = append(t.FpValues, float16(binary.LittleEndian.Uint16(e)))
		case "FP32":
			t.FpValues = append(t.FpValues, float64(math.Float32frombits(binary.LittleEndian.Uint32(e))))
		case "FP64":
			t.FpValues = append(t.FpValues, math.Float64frombits(binary.LittleEndian.Uint64(e)))
		}
	}
	return nil
}

// float16 converts an IEEE 754 half-precision value.
func float16(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * frac * math.Pow(2, -24)
	case 0x1f:
		if frac == 0 {
			return sign * math.Inf(1)
		}
		return math.NaN()
	}
	return sign * (1 + frac/1024) * math.Pow(2, float64(exp-15))
}
