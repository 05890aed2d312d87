package polymesh

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/polymesh/polymesh/gen/go/inference"
)

// InferenceClient calls the Open Inference Protocol API,
// inference.GRPCInferenceService, of the inference tier. Get one from
// Conn.Inference; it is safe for concurrent use.
//
//	resp, err := conn.Inference().InferRows(ctx, "iris", "input", [][]float32{{5.1, 3.5, 1.4, 0.2}})
//	labels, err := polymesh.OutputInt64(resp, "label")
type InferenceClient struct {
	raw inference.GRPCInferenceServiceClient
}

func newInferenceClient(cc grpc.ClientConnInterface) *InferenceClient {
	return &InferenceClient{raw: inference.NewGRPCInferenceServiceClient(cc)}
}

// Raw is the generated client, for what the wrappers do not cover.
func (c *InferenceClient) Raw() inference.GRPCInferenceServiceClient { return c.raw }

// ServerLive reports whether the server is live.
func (c *InferenceClient) ServerLive(ctx context.Context, opts ...grpc.CallOption) (bool, error) {
	resp, err := c.raw.ServerLive(ctx, &inference.ServerLiveRequest{}, opts...)
	return resp.GetLive(), err
}

// ServerReady reports whether the server is ready for inference.
func (c *InferenceClient) ServerReady(ctx context.Context, opts ...grpc.CallOption) (bool, error) {
	resp, err := c.raw.ServerReady(ctx, &inference.ServerReadyRequest{}, opts...)
	return resp.GetReady(), err
}

// ModelReady reports whether a model (version "": its default) is ready.
func (c *InferenceClient) ModelReady(ctx context.Context, name, version string, opts ...grpc.CallOption) (bool, error) {
	resp, err := c.raw.ModelReady(ctx, &inference.ModelReadyRequest{Name: name, Version: version}, opts...)
	return resp.GetReady(), err
}

// ServerMetadata returns the server's name, version and extensions.
func (c *InferenceClient) ServerMetadata(ctx context.Context, opts ...grpc.CallOption) (*inference.ServerMetadataResponse, error) {
	return c.raw.ServerMetadata(ctx, &inference.ServerMetadataRequest{}, opts...)
}

// ModelMetadata returns a model's versions, inputs and outputs.
func (c *InferenceClient) ModelMetadata(ctx context.Context, name, version string, opts ...grpc.CallOption) (*inference.ModelMetadataResponse, error) {
	return c.raw.ModelMetadata(ctx, &inference.ModelMetadataRequest{Name: name, Version: version}, opts...)
}

// ModelInfer runs one inference request.
func (c *InferenceClient) ModelInfer(ctx context.Context, req *inference.ModelInferRequest, opts ...grpc.CallOption) (*inference.ModelInferResponse, error) {
	return c.raw.ModelInfer(ctx, req, opts...)
}

// InferRows runs model on rows, sent as its FP32 input tensor named input
// (see InferRequest).
func (c *InferenceClient) InferRows(ctx context.Context, model, input string, rows [][]float32, opts ...grpc.CallOption) (*inference.ModelInferResponse, error) {
	req, err := InferRequest(model, input, rows)
	if err != nil {
		return nil, err
	}
	return c.raw.ModelInfer(ctx, req, opts...)
}

// InferRequest is a ModelInferRequest for model with one FP32 input tensor
// named input, of shape [len(rows), len(rows[0])], in typed contents. Rows
// of different lengths are an INVALID_ARGUMENT status error.
func InferRequest(model, input string, rows [][]float32) (*inference.ModelInferRequest, error) {
	width := 0
	if len(rows) > 0 {
		width = len(rows[0])
	}
	values := make([]float32, 0, len(rows)*width)
	for i, row := range rows {
		if len(row) != width {
			return nil, status.Errorf(codes.InvalidArgument, "polymesh: row %d has %d values, row 0 has %d", i, len(row), width)
		}
		values = append(values, row...)
	}
	return &inference.ModelInferRequest{
		ModelName: model,
		Inputs: []*inference.ModelInferRequest_InferInputTensor{{
			Name:     input,
			Datatype: "FP32",
			Shape:    []int64{int64(len(rows)), int64(width)},
			Contents: &inference.InferTensorContents{Fp32Contents: values},
		}},
	}, nil
}

// outputOf finds the output name of resp and its raw bytes (nil when the
// response carries typed contents).
func outputOf(resp *inference.ModelInferResponse, name string) (*inference.ModelInferResponse_InferOutputTensor, []byte, error) {
	raw := resp.GetRawOutputContents()
	for i, t := range resp.GetOutputs() {
		if t.GetName() != name {
			continue
		}
		if len(raw) == 0 {
			return t, nil, nil
		}
		if i >= len(raw) {
			return nil, nil, fmt.Errorf("polymesh: output %q has no raw_output_contents entry", name)
		}
		return t, raw[i], nil
	}
	return nil, nil, fmt.Errorf("polymesh: no output %q in the response of model %q", name, resp.GetModelName())
}

// OutputFloat64 returns the values of the numeric output name (FP32, FP64
// or an integer datatype), from typed or raw contents, as float64.
func OutputFloat64(resp *inference.ModelInferResponse, name string) ([]float64, error) {
	t, raw, err := outputOf(resp, name)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		c := t.GetContents()
		switch t.GetDatatype() {
		case "FP32":
			return convert(c.GetFp32Contents(), func(v float32) float64 { return float64(v) }), nil
		case "FP64":
			return c.GetFp64Contents(), nil
		}
		ints, err := OutputInt64(resp, name)
		if err != nil {
			return nil, err
		}
		return convert(ints, func(v int64) float64 { return float64(v) }), nil
	}
	switch t.GetDatatype() {
	case "FP32":
		return decodeRaw(raw, 4, func(b []byte) float64 { return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))) })
	case "FP64":
		return decodeRaw(raw, 8, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) })
	}
	ints, err := OutputInt64(resp, name)
	if err != nil {
		return nil, err
	}
	return convert(ints, func(v int64) float64 { return float64(v) }), nil
}

// OutputInt64 returns the values of the integer output name (INT8 to
// UINT64; UINT64 values above MaxInt64 wrap), from typed or raw contents.
func OutputInt64(resp *inference.ModelInferResponse, name string) ([]int64, error) {
	t, raw, err := outputOf(resp, name)
	if err != nil {
		return nil, err
	}
	c := t.GetContents()
	le := binary.LittleEndian
	switch dt := t.GetDatatype(); dt {
	case "INT8", "INT16", "INT32":
		if raw == nil {
			return convert(c.GetIntContents(), func(v int32) int64 { return int64(v) }), nil
		}
		switch dt {
		case "INT8":
			return decodeRaw(raw, 1, func(b []byte) int64 { return int64(int8(b[0])) })
		case "INT16":
			return decodeRaw(raw, 2, func(b []byte) int64 { return int64(int16(le.Uint16(b))) })
		}
		return decodeRaw(raw, 4, func(b []byte) int64 { return int64(int32(le.Uint32(b))) })
	case "INT64":
		if raw == nil {
			return c.GetInt64Contents(), nil
		}
		return decodeRaw(raw, 8, func(b []byte) int64 { return int64(le.Uint64(b)) })
	case "UINT8", "UINT16", "UINT32":
		if raw == nil {
			return convert(c.GetUintContents(), func(v uint32) int64 { return int64(v) }), nil
		}
		switch dt {
		case "UINT8":
			return decodeRaw(raw, 1, func(b []byte) int64 { return int64(b[0]) })
		case "UINT16":
			return decodeRaw(raw, 2, func(b []byte) int64 { return int64(le.Uint16(b)) })
		}
		return decodeRaw(raw, 4, func(b []byte) int64 { return int64(le.Uint32(b)) })
	case "UINT64":
		if raw == nil {
			return convert(c.GetUint64Contents(), func(v uint64) int64 { return int64(v) }), nil
		}
		return decodeRaw(raw, 8, func(b []byte) int64 { return int64(le.Uint64(b)) })
	default:
		return nil, fmt.Errorf("polymesh: output %q is %s, not a number this client decodes", name, dt)
	}
}

func convert[From, To any](in []From, f func(From) To) []To {
	out := make([]To, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func decodeRaw[T any](raw []byte, size int, f func([]byte) T) ([]T, error) {
	if len(raw)%size != 0 {
		return nil, fmt.Errorf("polymesh: raw contents of %d bytes are not a whole number of %d-byte values", len(raw), size)
	}
	out := make([]T, len(raw)/size)
	for i := range out {
		out[i] = f(raw[i*size : (i+1)*size])
	}
	return out, nil
}
