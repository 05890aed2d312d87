package predict

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/polymesh/polymesh/gen/go/inference"
	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
)

// MetadataTTL is how long a model's metadata is reused before it is asked
// for again.
const MetadataTTL = 30 * time.Second

// Server implements polymesh.ai.v1.AIService over an inference client.
type Server struct {
	aiv1.UnimplementedAIServiceServer

	infer inference.GRPCInferenceServiceClient
	log   *slog.Logger
	now   func() time.Time

	mu       sync.Mutex
	metadata map[string]metadataEntry // by model name and version
}

var _ aiv1.AIServiceServer = (*Server)(nil)

type metadataEntry struct {
	input   modelInput
	expires time.Time
}

// NewServer returns a Server calling the inference tier through infer.
func NewServer(infer inference.GRPCInferenceServiceClient, log *slog.Logger) *Server {
	return &Server{infer: infer, log: log, now: time.Now, metadata: map[string]metadataEntry{}}
}

// Predict validates the request, runs one ModelInfer and maps the answer.
func (s *Server) Predict(ctx context.Context, req *aiv1.PredictRequest) (*aiv1.PredictResponse, error) {
	if err := Validate(req); err != nil {
		return nil, err
	}
	var input modelInput
	if len(req.GetRows()) > 0 {
		var err error
		if input, err = s.rowsInput(ctx, req.GetModel(), req.GetModelVersion()); err != nil {
			return nil, err
		}
	}
	inferReq, err := inferRequest(req, input)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	answer, err := s.infer.ModelInfer(ctx, inferReq)
	if err != nil {
		return nil, s.upstreamError(ctx, "ModelInfer", req.GetModel(), err)
	}
	resp, err := predictResponse(answer)
	if err != nil {
		s.log.ErrorContext(ctx, "malformed inference response", "model", req.GetModel(), "error", err)
		return nil, status.Errorf(codes.Internal, "model %q gave a malformed response", req.GetModel())
	}
	return resp, nil
}

// PredictStream answers each request in order; a failed request yields a
// result carrying its error and the stream goes on.
func (s *Server) PredictStream(stream aiv1.AIService_PredictStreamServer) error {
	ctx := stream.Context()
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		out := &aiv1.PredictStreamResponse{}
		resp, err := s.Predict(ctx, in.GetRequest())
		if err != nil {
			st := status.Convert(err)
			out.ErrorCode, out.ErrorMessage = int32(st.Code()), st.Message()
			out.Response = &aiv1.PredictResponse{Id: in.GetRequest().GetId(), Model: in.GetRequest().GetModel()}
		} else {
			out.Response = resp
		}
		if err := stream.Send(out); err != nil {
			return err
		}
	}
}

// rowsInput is the name and datatype of the model's single input, from its
// cached metadata.
func (s *Server) rowsInput(ctx context.Context, model, version string) (modelInput, error) {
	key := model + "\x00" + version
	s.mu.Lock()
	entry, ok := s.metadata[key]
	s.mu.Unlock()
	if ok && s.now().Before(entry.expires) {
		return entry.input, nil
	}
	md, err := s.infer.ModelMetadata(ctx, &inference.ModelMetadataRequest{Name: model, Version: version})
	if err != nil {
		return modelInput{}, s.upstreamError(ctx, "ModelMetadata", model, err)
	}
	if len(md.GetInputs()) != 1 {
		return modelInput{}, status.Errorf(codes.InvalidArgument,
			"rows: model %q has %d inputs; rows need a model with one input, send named inputs instead", model, len(md.GetInputs()))
	}
	in := md.GetInputs()[0]
	if in.GetDatatype() != "FP32" && in.GetDatatype() != "FP64" {
		return modelInput{}, status.Errorf(codes.InvalidArgument,
			"rows: model %q takes %s input %q; rows are floating-point, send named inputs instead", model, in.GetDatatype(), in.GetName())
	}
	input := modelInput{name: in.GetName(), datatype: in.GetDatatype()}
	s.mu.Lock()
	s.metadata[key] = metadataEntry{input: input, expires: s.now().Add(MetadataTTL)}
	s.mu.Unlock()
	return input, nil
}

// upstreamError maps an inference-tier error to the status our client gets:
// codes a client can act on pass through with their message; anything else
// is INTERNAL without the upstream's text.
func (s *Server) upstreamError(ctx context.Context, call, model string, err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.NotFound, codes.InvalidArgument, codes.Unavailable, codes.DeadlineExceeded,
		codes.ResourceExhausted, codes.Canceled:
		return status.Error(st.Code(), st.Message())
	}
	s.log.ErrorContext(ctx, "inference call failed", "call", call, "model", model, "code", st.Code().String(), "error", st.Message())
	return status.Error(codes.Internal, fmt.Sprintf("inference failed for model %q", model))
}
