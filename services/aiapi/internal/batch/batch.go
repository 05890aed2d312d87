// Package batch merges concurrent ModelInfer requests for one model into one
// call to the inference tier and splits the answer back: micro-batching.
//
// A request joins the open batch of its model version and input signature
// (input names, datatypes and every dimension but the first). A batch is
// sent when it holds MaxRows rows or Window after its first request came,
// whichever is first. A batch of one request is sent as it is, in that
// request's context. A merged call runs in the first request's trace, on a
// span linked to every request's, under the earliest deadline of its
// requests. If a merged call fails with a status that may be one request's
// fault (INVALID_ARGUMENT, INTERNAL, OUT_OF_RANGE), each request is sent
// again on its own, so that one bad request cannot fail its neighbours.
package batch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/polymesh/polymesh/gen/go/inference"
	"github.com/polymesh/polymesh/services/internal/datatypes"
)

// InferFunc calls the inference tier.
type InferFunc func(ctx context.Context, req *inference.ModelInferRequest) (*inference.ModelInferResponse, error)

// Options tune a Batcher.
type Options struct {
	// Window is how long a batch waits for more requests after its first.
	Window time.Duration
	// MaxRows caps the rows (first-dimension entries) of a batch.
	MaxRows int
}

// Batcher merges requests. It is safe for concurrent use.
type Batcher struct {
	opts  Options
	infer InferFunc

	tracer    trace.Tracer
	batchSize metric.Int64Histogram
	wait      metric.Float64Histogram

	mu   sync.Mutex
	open map[string]*group
}

type group struct {
	key   string
	model string
	calls []*call
	rows  int
	timer *time.Timer
}

type call struct {
	ctx   context.Context
	req   *inference.ModelInferRequest
	rows  int
	start time.Time
	done  chan result
}

type result struct {
	resp *inference.ModelInferResponse
	err  error
}

// New returns a Batcher sending merged requests with infer.
func New(infer InferFunc, opts Options) *Batcher {
	if opts.MaxRows <= 0 {
		opts.MaxRows = 64
	}
	meter := otel.Meter("github.com/polymesh/polymesh/services/aiapi/internal/batch")
	size, _ := meter.Int64Histogram("polymesh.aiapi.batch.size",
		metric.WithDescription("Requests merged into one ModelInfer call."),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128))
	wait, _ := meter.Float64Histogram("polymesh.aiapi.batch.wait",
		metric.WithDescription("Time a request waited for its batch to be sent."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025))
	return &Batcher{
		opts: opts, infer: infer, open: map[string]*group{},
		tracer:    otel.Tracer("github.com/polymesh/polymesh/services/aiapi/internal/batch"),
		batchSize: size, wait: wait,
	}
}

// Do runs req, alone or merged with concurrent requests of the same
// signature. rows is the size of every input's first dimension. The answer
// is req's own: its outputs hold req's rows only.
func (b *Batcher) Do(ctx context.Context, req *inference.ModelInferRequest, rows int) (*inference.ModelInferResponse, error) {
	key, ok := signature(req)
	if !ok || b.opts.Window <= 0 || rows <= 0 || rows >= b.opts.MaxRows {
		return b.infer(ctx, req)
	}
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= b.opts.Window {
		return b.infer(ctx, req) // no time to wait for company
	}
	c := &call{ctx: ctx, req: req, rows: rows, start: time.Now(), done: make(chan result, 1)}
	b.mu.Lock()
	g := b.open[key]
	if g != nil && g.rows+rows > b.opts.MaxRows {
		b.detach(g) // full: send it and start another
		g = nil
	}
	if g == nil {
		g = &group{key: key, model: req.GetModelName()}
		b.open[key] = g
		g.timer = time.AfterFunc(b.opts.Window, func() {
			b.mu.Lock()
			b.detach(g)
			b.mu.Unlock()
		})
	}
	g.calls = append(g.calls, c)
	g.rows += rows
	if g.rows >= b.opts.MaxRows {
		b.detach(g)
	}
	b.mu.Unlock()

	select {
	case r := <-c.done:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// detach closes g to newcomers and sends it. b.mu is held.
func (b *Batcher) detach(g *group) {
	if b.open[g.key] != g {
		return // already sent
	}
	delete(b.open, g.key)
	g.timer.Stop()
	go b.send(g)
}

func (b *Batcher) send(g *group) {
	now := time.Now()
	attrs := metric.WithAttributes(attribute.String("model", g.model))
	b.batchSize.Record(context.Background(), int64(len(g.calls)), attrs)
	for _, c := range g.calls {
		b.wait.Record(context.Background(), now.Sub(c.start).Seconds(), attrs)
	}
	if len(g.calls) == 1 {
		c := g.calls[0]
		resp, err := b.infer(c.ctx, c.req)
		c.done <- result{resp, err}
		return
	}
	ctx, cancel := b.batchContext(g)
	defer cancel()
	ctx, span := b.tracer.Start(ctx, "batch "+g.model, trace.WithLinks(links(g)...),
		trace.WithAttributes(
			attribute.String("polymesh.model", g.model),
			attribute.Int("polymesh.batch.size", len(g.calls)),
			attribute.Int("polymesh.batch.rows", g.rows)))
	defer span.End()
	for _, c := range g.calls {
		trace.SpanFromContext(c.ctx).AddEvent("batched", trace.WithAttributes(
			attribute.Int("polymesh.batch.size", len(g.calls)),
			attribute.String("polymesh.batch.trace_id", span.SpanContext().TraceID().String())))
	}

	resp, err := b.infer(ctx, merge(g))
	if err == nil {
		var parts []*inference.ModelInferResponse
		if parts, err = split(resp, g); err == nil {
			for i, c := range g.calls {
				c.done <- result{parts[i], nil}
			}
			return
		}
		err = status.Errorf(codes.Internal, "model %q: %v", g.model, err)
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.Internal, codes.OutOfRange:
		span.AddEvent("merged call failed; each request is sent alone",
			trace.WithAttributes(attribute.String("error", err.Error())))
		var wg sync.WaitGroup
		for _, c := range g.calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := b.infer(c.ctx, c.req)
				c.done <- result{resp, err}
			}()
		}
		wg.Wait()
	default:
		for _, c := range g.calls {
			c.done <- result{nil, err}
		}
	}
}

// batchContext carries the first call's values (trace, metadata) and the
// earliest deadline of the batch, and ends when every call has ended.
func (b *Batcher) batchContext(g *group) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(g.calls[0].ctx)
	var earliest time.Time
	for _, c := range g.calls {
		if d, ok := c.ctx.Deadline(); ok && (earliest.IsZero() || d.Before(earliest)) {
			earliest = d
		}
	}
	cancelDeadline := context.CancelFunc(func() {})
	if !earliest.IsZero() {
		ctx, cancelDeadline = context.WithDeadline(ctx, earliest)
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := make(chan struct{})
	go func() {
		for _, c := range g.calls {
			select {
			case <-c.ctx.Done():
			case <-stop:
				return
			}
		}
		cancel() // nobody is waiting any more
	}()
	return ctx, func() { close(stop); cancel(); cancelDeadline() }
}

func links(g *group) []trace.Link {
	out := make([]trace.Link, 0, len(g.calls))
	for _, c := range g.calls {
		if sc := trace.SpanContextFromContext(c.ctx); sc.IsValid() {
			out = append(out, trace.Link{SpanContext: sc})
		}
	}
	return out
}

// signature is the key of the batches req may join; ok is false if req
// cannot be merged (raw contents, no inputs, requested outputs, parameters).
func signature(req *inference.ModelInferRequest) (string, bool) {
	if len(req.GetInputs()) == 0 || len(req.GetRawInputContents()) > 0 ||
		len(req.GetParameters()) > 0 || len(req.GetOutputs()) > 0 {
		return "", false
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s\x00%s", req.GetModelName(), req.GetModelVersion())
	for _, in := range req.GetInputs() {
		if len(in.GetShape()) == 0 || in.GetContents() == nil || len(in.GetParameters()) > 0 {
			return "", false
		}
		fmt.Fprintf(&sb, "\x00%s\x00%s\x00%v", in.GetName(), in.GetDatatype(), in.GetShape()[1:])
	}
	return sb.String(), true
}

// merge concatenates the calls' inputs along the first dimension.
func merge(g *group) *inference.ModelInferRequest {
	first := g.calls[0].req
	out := &inference.ModelInferRequest{ModelName: first.GetModelName(), ModelVersion: first.GetModelVersion()}
	for i, in := range first.GetInputs() {
		shape := append([]int64{int64(g.rows)}, in.GetShape()[1:]...)
		c := &inference.InferTensorContents{}
		for _, call := range g.calls {
			appendContents(c, call.req.GetInputs()[i].GetContents())
		}
		out.Inputs = append(out.Inputs, &inference.ModelInferRequest_InferInputTensor{
			Name: in.GetName(), Datatype: in.GetDatatype(), Shape: shape, Contents: c,
		})
	}
	return out
}

func appendContents(dst, src *inference.InferTensorContents) {
	dst.BoolContents = append(dst.BoolContents, src.GetBoolContents()...)
	dst.IntContents = append(dst.IntContents, src.GetIntContents()...)
	dst.Int64Contents = append(dst.Int64Contents, src.GetInt64Contents()...)
	dst.UintContents = append(dst.UintContents, src.GetUintContents()...)
	dst.Uint64Contents = append(dst.Uint64Contents, src.GetUint64Contents()...)
	dst.Fp32Contents = append(dst.Fp32Contents, src.GetFp32Contents()...)
	dst.Fp64Contents = append(dst.Fp64Contents, src.GetFp64Contents()...)
	dst.BytesContents = append(dst.BytesContents, src.GetBytesContents()...)
}

var errRows = errors.New("batched response does not have one row per request row")

// split cuts a merged response into one response per call.
func split(resp *inference.ModelInferResponse, g *group) ([]*inference.ModelInferResponse, error) {
	parts := make([]*inference.ModelInferResponse, len(g.calls))
	for i, c := range g.calls {
		parts[i] = &inference.ModelInferResponse{
			ModelName: resp.GetModelName(), ModelVersion: resp.GetModelVersion(), Id: c.req.GetId(),
		}
	}
	raw := resp.GetRawOutputContents()
	if len(raw) > 0 && len(raw) != len(resp.GetOutputs()) {
		return nil, fmt.Errorf("%d raw output contents for %d outputs", len(raw), len(resp.GetOutputs()))
	}
	for oi, o := range resp.GetOutputs() {
		shape := o.GetShape()
		if len(shape) == 0 || shape[0] != int64(g.rows) {
			return nil, fmt.Errorf("output %q has shape %v for %d rows: %w", o.GetName(), shape, g.rows, errRows)
		}
		per := int64(1)
		for _, d := range shape[1:] {
			per *= d
		}
		var rawCuts [][]byte
		if len(raw) > 0 {
			var err error
			if rawCuts, err = cutRaw(raw[oi], o.GetDatatype(), per, g); err != nil {
				return nil, fmt.Errorf("output %q: %w", o.GetName(), err)
			}
		}
		at := int64(0)
		for i, c := range g.calls {
			n := int64(c.rows) * per
			t := &inference.ModelInferResponse_InferOutputTensor{
				Name: o.GetName(), Datatype: o.GetDatatype(), Parameters: o.GetParameters(),
				Shape: append([]int64{int64(c.rows)}, shape[1:]...),
			}
			if rawCuts != nil {
				parts[i].RawOutputContents = append(parts[i].RawOutputContents, rawCuts[i])
			} else if o.GetContents() != nil {
				cut, err := sliceContents(o.GetContents(), at, at+n)
				if err != nil {
					return nil, fmt.Errorf("output %q: %w", o.GetName(), err)
				}
				t.Contents = cut
			}
			at += n
			parts[i].Outputs = append(parts[i].Outputs, t)
		}
	}
	return parts, nil
}

// sliceContents returns elements [from, to) of whichever field is used.
func sliceContents(c *inference.InferTensorContents, from, to int64) (*inference.InferTensorContents, error) {
	out := &inference.InferTensorContents{}
	var err error
	cut := func(n int) bool {
		if int64(n) < to {
			err = fmt.Errorf("%d values, need at least %d", n, to)
			return false
		}
		return true
	}
	switch {
	case len(c.GetBoolContents()) > 0 && cut(len(c.GetBoolContents())):
		out.BoolContents = c.GetBoolContents()[from:to]
	case len(c.GetIntContents()) > 0 && cut(len(c.GetIntContents())):
		out.IntContents = c.GetIntContents()[from:to]
	case len(c.GetInt64Contents()) > 0 && cut(len(c.GetInt64Contents())):
		out.Int64Contents = c.GetInt64Contents()[from:to]
	case len(c.GetUintContents()) > 0 && cut(len(c.GetUintContents())):
		out.UintContents = c.GetUintContents()[from:to]
	case len(c.GetUint64Contents()) > 0 && cut(len(c.GetUint64Contents())):
		out.Uint64Contents = c.GetUint64Contents()[from:to]
	case len(c.GetFp32Contents()) > 0 && cut(len(c.GetFp32Contents())):
		out.Fp32Contents = c.GetFp32Contents()[from:to]
	case len(c.GetFp64Contents()) > 0 && cut(len(c.GetFp64Contents())):
		out.Fp64Contents = c.GetFp64Contents()[from:to]
	case len(c.GetBytesContents()) > 0 && cut(len(c.GetBytesContents())):
		out.BytesContents = c.GetBytesContents()[from:to]
	}
	return out, err
}

// cutRaw cuts one output's raw bytes into each call's rows.
func cutRaw(b []byte, datatype string, per int64, g *group) ([][]byte, error) {
	size := int64(datatypes.Size(datatype))
	out := make([][]byte, 0, len(g.calls))
	if datatype == "BYTES" { // 4-byte little-endian length, then the bytes, per element
		for _, c := range g.calls {
			start := 0
			for range int64(c.rows) * per {
				if len(b[start:]) < 4 {
					return nil, errors.New("truncated BYTES element")
				}
				n := int(uint32(b[start]) | uint32(b[start+1])<<8 | uint32(b[start+2])<<16 | uint32(b[start+3])<<24)
				if len(b[start+4:]) < n {
					return nil, errors.New("truncated BYTES element")
				}
				start += 4 + n
			}
			out = append(out, b[:start])
			b = b[start:]
		}
		return out, nil
	}
	if size == 0 || int64(len(b)) != int64(g.rows)*per*size {
		return nil, fmt.Errorf("%d raw bytes for %d %s values", len(b), int64(g.rows)*per, datatype)
	}
	for _, c := range g.calls {
		n := int64(c.rows) * per * size
		out = append(out, b[:n])
		b = b[n:]
	}
	return out, nil
}
