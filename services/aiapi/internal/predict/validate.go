// Package predict implements polymesh.ai.v1.AIService: it validates
// predictions, turns them into Open Inference Protocol ModelInfer calls to the
// inference tier, and maps the answers back.
package predict

import (
	"fmt"
	"math"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
	"github.com/polymesh/polymesh/services/aiapi/internal/catalog"
	"github.com/polymesh/polymesh/services/internal/datatypes"
)

// valueField is the Tensor field that holds a datatype's values.
type valueField int

const (
	fieldFP valueField = iota
	fieldInt
	fieldBool
	fieldBytes
)

// valueFieldOf is the Tensor value field that carries the values of the
// Open Inference Protocol datatype named datatype; ok is false for an
// unknown name.
func valueFieldOf(datatype string) (field valueField, ok bool) {
	d, ok := datatypes.Lookup(datatype)
	if !ok {
		return 0, false
	}
	switch d.Kind {
	case datatypes.Float:
		return fieldFP, true
	case datatypes.Int, datatypes.Uint:
		return fieldInt, true
	case datatypes.Bool:
		return fieldBool, true
	default:
		return fieldBytes, true
	}
}

// violations collects the field violations of one request.
type violations []*errdetails.BadRequest_FieldViolation

func (v *violations) add(field, format string, args ...any) {
	*v = append(*v, &errdetails.BadRequest_FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// err is nil without violations, else INVALID_ARGUMENT naming the first
// field, with every violation in a google.rpc.BadRequest detail.
func (v violations) err() error {
	if len(v) == 0 {
		return nil
	}
	st := status.New(codes.InvalidArgument, fmt.Sprintf("%s: %s", v[0].Field, v[0].Description))
	if withDetails, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: v}); err == nil {
		st = withDetails
	}
	return st.Err()
}

// Validate checks a PredictRequest against the contract in ai.proto and
// returns INVALID_ARGUMENT with a BadRequest detail if it breaks it.
func Validate(req *aiv1.PredictRequest) error {
	var v violations
	if req.GetModel() == "" {
		v.add("model", "required")
	}
	switch {
	case len(req.GetInputs()) == 0 && len(req.GetRows()) == 0:
		v.add("inputs", "one of inputs and rows is required")
	case len(req.GetInputs()) > 0 && len(req.GetRows()) > 0:
		v.add("rows", "give inputs or rows, not both")
	}
	validateRows(req.GetRows(), &v)
	for i, t := range req.GetInputs() {
		validateTensor(t, fmt.Sprintf("inputs[%d]", i), &v)
	}
	return v.err()
}

func validateRows(rows []*aiv1.FeatureRow, v *violations) {
	for i, row := range rows {
		field := fmt.Sprintf("rows[%d].values", i)
		if len(row.GetValues()) == 0 {
			v.add(field, "a row needs at least one value")
			continue
		}
		if n, first := len(row.GetValues()), len(rows[0].GetValues()); n != first {
			v.add(field, "has %d values; rows[0] has %d: every row has the same length", n, first)
		}
		for j, x := range row.GetValues() {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				v.add(fmt.Sprintf("%s[%d]", field, j), "must be a finite number, got %v", x)
			}
		}
	}
}

func validateTensor(t *aiv1.Tensor, path string, v *violations) {
	if t.GetName() == "" {
		v.add(path+".name", "required")
	}
	field, ok := valueFieldOf(t.GetDatatype())
	if !ok {
		v.add(path+".datatype", "unknown datatype %q (want BOOL, INT8..INT64, UINT8..UINT64, FP16, FP32, FP64 or BYTES)", t.GetDatatype())
	}
	if len(t.GetShape()) == 0 {
		v.add(path+".shape", "required")
	}
	want := int64(1)
	for i, d := range t.GetShape() {
		if d < 0 {
			v.add(fmt.Sprintf("%s.shape[%d]", path, i), "must be >= 0, got %d", d)
			return
		}
		want *= d
	}
	if !ok || len(t.GetShape()) == 0 {
		return
	}
	counts := map[valueField]int{
		fieldFP: len(t.GetFpValues()), fieldInt: len(t.GetIntValues()),
		fieldBool: len(t.GetBoolValues()), fieldBytes: len(t.GetBytesValues()),
	}
	for f, n := range counts {
		if f != field && n > 0 {
			v.add(path, "%s values must be in %s", t.GetDatatype(), fieldName(field))
			return
		}
	}
	if got := int64(counts[field]); got != want {
		v.add(path+"."+fieldName(field), "has %d values; shape %v needs %d", got, t.GetShape(), want)
	}
}

func fieldName(f valueField) string {
	return [...]string{"fp_values", "int_values", "bool_values", "bytes_values"}[f]
}

// CheckModel checks a valid PredictRequest against the model's metadata:
// rows need one floating-point input of rank 2 and as many features as it
// takes; named inputs must be the model's, each once, with its datatype
// and a shape that fits its declared one (-1 fits any size), and every
// input of the model must be given.
func CheckModel(req *aiv1.PredictRequest, m *catalog.Model) error {
	var v violations
	if rows := req.GetRows(); len(rows) > 0 {
		if len(m.Inputs) != 1 {
			v.add("rows", "model %s has %d inputs; rows need a model with one input, send named inputs instead", m, len(m.Inputs))
			return v.err()
		}
		in := m.Inputs[0]
		if in.GetDatatype() != "FP32" && in.GetDatatype() != "FP64" {
			v.add("rows", "model %s takes %s input %q; rows are floating-point, send named inputs instead", m, in.GetDatatype(), in.GetName())
			return v.err()
		}
		shape := []int64{int64(len(rows)), int64(len(rows[0].GetValues()))}
		if !fits(shape, in.GetShape()) {
			if len(in.GetShape()) == 2 {
				v.add("rows[0].values", "has %d values; model %s takes %d features per row (input %q, shape %v)",
					shape[1], m, in.GetShape()[1], in.GetName(), in.GetShape())
			} else {
				v.add("rows", "model %s input %q has shape %v; rows make a tensor of shape %v", m, in.GetName(), in.GetShape(), shape)
			}
		}
		return v.err()
	}
	seen := map[string]bool{}
	for i, t := range req.GetInputs() {
		path := fmt.Sprintf("inputs[%d]", i)
		spec, ok := m.Input(t.GetName())
		switch {
		case !ok:
			v.add(path+".name", "model %s has no input %q (its inputs: %s)", m, t.GetName(), names(m.Inputs))
			continue
		case seen[t.GetName()]:
			v.add(path+".name", "input %q is given twice", t.GetName())
			continue
		}
		seen[t.GetName()] = true
		if t.GetDatatype() != spec.GetDatatype() {
			v.add(path+".datatype", "input %q of model %s is %s, got %s", t.GetName(), m, spec.GetDatatype(), t.GetDatatype())
		}
		if !fits(t.GetShape(), spec.GetShape()) {
			v.add(path+".shape", "input %q of model %s has shape %v, got %v", t.GetName(), m, spec.GetShape(), t.GetShape())
		}
	}
	for _, spec := range m.Inputs {
		if !seen[spec.GetName()] {
			v.add("inputs", "model %s needs input %q", m, spec.GetName())
		}
	}
	return v.err()
}

// fits reports whether shape matches a declared shape, where -1 is any size.
func fits(shape, declared []int64) bool {
	if len(declared) == 0 {
		return true // the model does not say
	}
	if len(shape) != len(declared) {
		return false
	}
	for i, d := range declared {
		if d >= 0 && shape[i] != d {
			return false
		}
	}
	return true
}

func names(specs []*aiv1.TensorSpec) string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.GetName()
	}
	return strings.Join(out, ", ")
}
