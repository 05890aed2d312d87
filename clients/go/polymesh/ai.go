package polymesh

import (
	"context"

	"google.golang.org/grpc"

	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
)

// AIClient calls the AI API, polymesh.ai.v1.AIService. Get one from
// Conn.AI; it is safe for concurrent use.
//
//	answer, err := conn.AI().PredictRows(ctx, "iris", [][]float32{{5.1, 3.5, 1.4, 0.2}})
//	labels := polymesh.Output(answer, "label").GetIntValues()
type AIClient struct {
	raw aiv1.AIServiceClient
}

// Raw is the generated client, for what the wrappers do not cover.
func (c *AIClient) Raw() aiv1.AIServiceClient { return c.raw }

// ListModels returns every model of the inference tier.
func (c *AIClient) ListModels(ctx context.Context, opts ...grpc.CallOption) ([]*aiv1.Model, error) {
	resp, err := c.raw.ListModels(ctx, &aiv1.ListModelsRequest{}, opts...)
	if err != nil {
		return nil, err
	}
	return resp.GetModels(), nil
}

// GetModel returns one model's versions, inputs and outputs; version ""
// means the model's default version.
func (c *AIClient) GetModel(ctx context.Context, name, version string, opts ...grpc.CallOption) (*aiv1.Model, error) {
	resp, err := c.raw.GetModel(ctx, &aiv1.GetModelRequest{Name: name, Version: version}, opts...)
	if err != nil {
		return nil, err
	}
	return resp.GetModel(), nil
}

// Predict runs one prediction.
func (c *AIClient) Predict(ctx context.Context, req *aiv1.PredictRequest, opts ...grpc.CallOption) (*aiv1.PredictResponse, error) {
	return c.raw.Predict(ctx, req, opts...)
}

// PredictRows runs one prediction over feature rows (see RowsRequest).
func (c *AIClient) PredictRows(ctx context.Context, model string, rows [][]float32, opts ...grpc.CallOption) (*aiv1.PredictResponse, error) {
	return c.raw.Predict(ctx, RowsRequest(model, rows), opts...)
}

// PredictStream opens a stream of predictions: each request sent gets one
// result, in order. The stream's deadline (the default one too) covers the
// whole stream.
func (c *AIClient) PredictStream(ctx context.Context, opts ...grpc.CallOption) (aiv1.AIService_PredictStreamClient, error) {
	return c.raw.PredictStream(ctx, opts...)
}

// RowsRequest is a PredictRequest of model over feature rows, one row per
// example.
func RowsRequest(model string, rows [][]float32) *aiv1.PredictRequest {
	req := &aiv1.PredictRequest{Model: model, Rows: make([]*aiv1.FeatureRow, len(rows))}
	for i, row := range rows {
		values := make([]float64, len(row))
		for j, v := range row {
			values[j] = float64(v)
		}
		req.Rows[i] = &aiv1.FeatureRow{Values: values}
	}
	return req
}

// Output is the output tensor name of resp, or nil if it has none (the
// getters of a nil tensor return zero values).
func Output(resp *aiv1.PredictResponse, name string) *aiv1.Tensor {
	for _, t := range resp.GetOutputs() {
		if t.GetName() == name {
			return t
		}
	}
	return nil
}
