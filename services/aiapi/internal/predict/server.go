package predict

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/polymesh/polymesh/gen/go/inference"
	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
	"github.com/polymesh/polymesh/services/aiapi/internal/auth"
	"github.com/polymesh/polymesh/services/aiapi/internal/batch"
	"github.com/polymesh/polymesh/services/aiapi/internal/catalog"
)

// DefaultMinDeadline is the least time left on a call's deadline for it to
// be forwarded to the inference tier.
const DefaultMinDeadline = 2 * time.Millisecond

// Options tune a Server. The zero value serves without batching, without
// API keys, with the default metadata lifetime.
type Options struct {
	// MetadataTTL is how long model metadata is reused (catalog.DefaultTTL
	// when zero).
	MetadataTTL time.Duration
	// Batch merges concurrent predictions; a zero Window turns it off.
	Batch batch.Options
	// Auth, if set, charges each request of a PredictStream to the
	// caller's quota (unary calls are charged by its interceptor).
	Auth *auth.Authenticator
	// MinDeadline: a call with less time left is DEADLINE_EXCEEDED without
	// being forwarded. DefaultMinDeadline when zero.
	MinDeadline time.Duration
}

// Server implements polymesh.ai.v1.AIService over an inference client.
type Server struct {
	aiv1.UnimplementedAIServiceServer

	infer   inference.GRPCInferenceServiceClient
	catalog *catalog.Catalog
	batcher *batch.Batcher
	auth    *auth.Authenticator
	minLeft time.Duration
	log     *slog.Logger
}

var _ aiv1.AIServiceServer = (*Server)(nil)

// NewServer returns a Server calling the inference tier through infer.
func NewServer(infer inference.GRPCInferenceServiceClient, log *slog.Logger, opts Options) *Server {
	s := &Server{
		infer: infer, catalog: catalog.New(infer, opts.MetadataTTL), auth: opts.Auth,
		minLeft: opts.MinDeadline, log: log,
	}
	if s.minLeft <= 0 {
		s.minLeft = DefaultMinDeadline
	}
	s.batcher = batch.New(func(ctx context.Context, r *inference.ModelInferRequest) (*inference.ModelInferResponse, error) {
		return s.infer.ModelInfer(ctx, r)
	}, opts.Batch)
	return s
}

// ListModels lists the inference tier's models.
func (s *Server) ListModels(ctx context.Context, _ *aiv1.ListModelsRequest) (*aiv1.ListModelsResponse, error) {
	if err := s.checkDeadline(ctx); err != nil {
		return nil, err
	}
	models, err := s.catalog.List(ctx)
	if err != nil {
		return nil, s.upstreamError(ctx, "RepositoryIndex", "", err)
	}
	return &aiv1.ListModelsResponse{Models: models}, nil
}

// GetModel describes one model.
func (s *Server) GetModel(ctx context.Context, req *aiv1.GetModelRequest) (*aiv1.GetModelResponse, error) {
	if req.GetName() == "" {
		var v violations
		v.add("name", "required")
		return nil, v.err()
	}
	if err := s.checkDeadline(ctx); err != nil {
		return nil, err
	}
	m, err := s.catalog.Model(ctx, req.GetName(), req.GetVersion())
	if err != nil {
		return nil, s.upstreamError(ctx, "ModelMetadata", req.GetName(), err)
	}
	return &aiv1.GetModelResponse{Model: m.Proto()}, nil
}

// Predict validates the request against the model's metadata, runs it
// (possibly merged with others) and maps the answer.
func (s *Server) Predict(ctx context.Context, req *aiv1.PredictRequest) (*aiv1.PredictResponse, error) {
	if err := Validate(req); err != nil {
		return nil, err
	}
	if err := s.checkDeadline(ctx); err != nil {
		return nil, err
	}
	model, err := s.catalog.Model(ctx, req.GetModel(), req.GetModelVersion())
	if err != nil {
		return nil, s.upstreamError(ctx, "ModelMetadata", req.GetModel(), err)
	}
	if err := CheckModel(req, model); err != nil {
		return nil, err
	}
	inferReq, err := inferRequest(req, model)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	var answer *inference.ModelInferResponse
	if rows := batchRows(inferReq); model.Batchable() && rows > 0 {
		answer, err = s.batcher.Do(ctx, inferReq, rows)
	} else {
		answer, err = s.infer.ModelInfer(ctx, inferReq)
	}
	if err != nil {
		if status.Code(err) == codes.NotFound {
			s.catalog.Forget(req.GetModel()) // unloaded since we read its metadata
		}
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
		var resp *aiv1.PredictResponse
		if s.auth != nil {
			err = s.auth.Charge(ctx)
		}
		if err == nil {
			resp, err = s.Predict(ctx, in.GetRequest())
		}
		out := &aiv1.PredictStreamResponse{Response: resp}
		if err != nil {
			st := status.Convert(err).Proto()
			out.ErrorCode, out.ErrorMessage = st.GetCode(), st.GetMessage()
			out.ErrorDetails = append([]*anypb.Any(nil), st.GetDetails()...)
			out.Response = &aiv1.PredictResponse{Id: in.GetRequest().GetId(), Model: in.GetRequest().GetModel()}
		}
		if err := stream.Send(out); err != nil {
			return err
		}
	}
}

// checkDeadline refuses a call whose deadline leaves too little time to
// call the inference tier: forwarding it would only load the tier with work
// whose answer nobody waits for.
func (s *Server) checkDeadline(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	if left := time.Until(deadline); left < s.minLeft {
		return status.Errorf(codes.DeadlineExceeded,
			"deadline too short: %s left, the inference tier is not called with less than %s",
			left.Round(time.Microsecond), s.minLeft)
	}
	return nil
}

// batchRows is the first dimension all inputs share, or 0.
func batchRows(r *inference.ModelInferRequest) int {
	rows := int64(-1)
	for _, in := range r.GetInputs() {
		if len(in.GetShape()) == 0 || (rows >= 0 && in.GetShape()[0] != rows) {
			return 0
		}
		rows = in.GetShape()[0]
	}
	return int(max(rows, 0))
}

// upstreamError maps an inference-tier error to the status our client gets:
// codes a client can act on pass through with their message; anything else
// is INTERNAL without the upstream's text.
func (s *Server) upstreamError(ctx context.Context, call, model string, err error) error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.NotFound, codes.InvalidArgument, codes.Unavailable, codes.DeadlineExceeded,
		codes.ResourceExhausted, codes.Canceled, codes.FailedPrecondition:
		return status.Error(st.Code(), st.Message())
	}
	s.log.ErrorContext(ctx, "inference call failed", "call", call, "model", model, "code", st.Code().String(), "error", st.Message())
	if model == "" {
		return status.Errorf(codes.Internal, "the inference tier failed on %s", call)
	}
	return status.Error(codes.Internal, fmt.Sprintf("inference failed for model %q", model))
}
