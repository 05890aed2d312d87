package batch

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/polymesh/polymesh/gen/go/inference"
)

// rowsModel answers like a model of one FP32 [-1, 2] input "x" with three
// outputs per row: "sum" FP64 as typed contents, and "pair" INT32 [-1, 2]
// and "label" BYTES, both as raw contents.
func rowsModel(calls *atomic.Int32) InferFunc {
	return func(_ context.Context, req *inference.ModelInferRequest) (*inference.ModelInferResponse, error) {
		calls.Add(1)
		in := req.GetInputs()[0]
		if in.GetContents() == nil {
			return nil, status.Error(codes.InvalidArgument, "typed contents only")
		}
		n := in.GetShape()[0]
		x := in.GetContents().GetFp32Contents()
		resp := &inference.ModelInferResponse{ModelName: req.GetModelName(), ModelVersion: "1"}
		var sums []float64
		var pair, label []byte
		for i := range n {
			a, b := x[2*i], x[2*i+1]
			sums = append(sums, float64(a+b))
			pair = binary.LittleEndian.AppendUint32(pair, uint32(int32(a)))
			pair = binary.LittleEndian.AppendUint32(pair, uint32(int32(b)))
			word := fmt.Sprintf("row-%g", a)
			label = binary.LittleEndian.AppendUint32(label, uint32(len(word)))
			label = append(label, word...)
		}
		resp.Outputs = []*inference.ModelInferResponse_InferOutputTensor{
			{Name: "sum", Datatype: "FP64", Shape: []int64{n}},
			{Name: "pair", Datatype: "INT32", Shape: []int64{n, 2}},
			{Name: "label", Datatype: "BYTES", Shape: []int64{n}},
		}
		var sumRaw []byte
		for _, s := range sums {
			sumRaw = binary.LittleEndian.AppendUint64(sumRaw, math.Float64bits(s))
		}
		resp.RawOutputContents = [][]byte{sumRaw, pair, label}
		return resp, nil
	}
}

func request(rows ...[2]float32) *inference.ModelInferRequest {
	var flat []float32
	for _, r := range rows {
		flat = append(flat, r[0], r[1])
	}
	return &inference.ModelInferRequest{ModelName: "m", Inputs: []*inference.ModelInferRequest_InferInputTensor{{
		Name: "x", Datatype: "FP32", Shape: []int64{int64(len(rows)), 2},
		Contents: &inference.InferTensorContents{Fp32Contents: flat},
	}}}
}

func TestMergedRequestsGetTheirOwnRowsBack(t *testing.T) {
	var calls atomic.Int32
	// Rows 1 + 2 + 3 = 6 = MaxRows: the batch is sent when the last joins.
	b := New(rowsModel(&calls), Options{Window: 5 * time.Second, MaxRows: 6})
	reqs := []*inference.ModelInferRequest{
		request([2]float32{1, 1}),
		request([2]float32{2, 2}, [2]float32{3, 3}),
		request([2]float32{4, 4}, [2]float32{5, 5}, [2]float32{6, 6}),
	}
	got := make([]*inference.ModelInferResponse, len(reqs))
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = b.Do(context.Background(), r, int(r.GetInputs()[0].GetShape()[0]))
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("inference calls = %d, want 1", calls.Load())
	}
	for i, resp := range got {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		rows := len(reqs[i].GetInputs()[0].GetContents().GetFp32Contents()) / 2
		if shape := resp.GetOutputs()[1].GetShape(); shape[0] != int64(rows) || shape[1] != 2 {
			t.Errorf("request %d: pair shape %v, want [%d 2]", i, shape, rows)
		}
		first := reqs[i].GetInputs()[0].GetContents().GetFp32Contents()[0]
		raw := resp.GetRawOutputContents()
		if sum := math.Float64frombits(binary.LittleEndian.Uint64(raw[0])); sum != float64(2*first) || len(raw[0]) != 8*rows {
			t.Errorf("request %d: first sum %v over %d bytes, want %v over %d", i, sum, len(raw[0]), 2*first, 8*rows)
		}
		if len(raw[1]) != 8*rows || int32(binary.LittleEndian.Uint32(raw[1])) != int32(first) {
			t.Errorf("request %d: pair raw = %v", i, raw[1])
		}
		if n := binary.LittleEndian.Uint32(raw[2]); string(raw[2][4:4+n]) != fmt.Sprintf("row-%g", first) {
			t.Errorf("request %d: first label = %q", i, raw[2][4:4+n])
		}
	}
}

func TestTypedContentsAreSplit(t *testing.T) {
	resp := &inference.ModelInferResponse{Outputs: []*inference.ModelInferResponse_InferOutputTensor{{
		Name: "y", Datatype: "INT64", Shape: []int64{3, 2},
		Contents: &inference.InferTensorContents{Int64Contents: []int64{1, 2, 3, 4, 5, 6}},
	}}}
	g := &group{calls: []*call{{rows: 1, req: &inference.ModelInferRequest{Id: "a"}}, {rows: 2, req: &inference.ModelInferRequest{Id: "b"}}}, rows: 3}
	parts, err := split(resp, g)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintln(parts[0].GetId(), parts[0].GetOutputs()[0].GetContents().GetInt64Contents(), parts[1].GetId(),
		parts[1].GetOutputs()[0].GetContents().GetInt64Contents(), parts[1].GetOutputs()[0].GetShape()); got != "a [1 2] b [3 4 5 6] [2 2]\n" {
		t.Errorf("split = %s", got)
	}
	resp.Outputs[0].Shape = []int64{4, 2}
	if _, err := split(resp, g); err == nil {
		t.Error("split accepted an output with more rows than the batch")
	}
}

func TestWhatIsNotMerged(t *testing.T) {
	var calls atomic.Int32
	b := New(rowsModel(&calls), Options{Window: time.Hour, MaxRows: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw := request([2]float32{1, 1})
	raw.RawInputContents = [][]byte{{0}}
	raw.Inputs[0].Contents = nil
	for name, tc := range map[string]struct {
		req  *inference.ModelInferRequest
		rows int
	}{
		"a request as large as a batch":      {request([2]float32{1, 1}, [2]float32{1, 1}, [2]float32{1, 1}, [2]float32{1, 1}), 4},
		"raw contents":                       {raw, 1},
		"a deadline shorter than the window": {request([2]float32{1, 1}), 1},
	} {
		before := calls.Load()
		// Each returns without waiting an hour for company.
		if _, err := b.Do(ctx, tc.req, tc.rows); err != nil && name != "raw contents" {
			t.Errorf("%s: %v", name, err)
		}
		if calls.Load() != before+1 {
			t.Errorf("%s: not sent at once", name)
		}
	}
}

func TestAFailedBatchFailsEveryRequestWithItsStatus(t *testing.T) {
	var calls atomic.Int32
	unavailable := func(context.Context, *inference.ModelInferRequest) (*inference.ModelInferResponse, error) {
		calls.Add(1)
		return nil, status.Error(codes.Unavailable, "inference tier down")
	}
	b := New(unavailable, Options{Window: 5 * time.Second, MaxRows: 2})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = b.Do(context.Background(), request([2]float32{1, 1}), 1)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if status.Code(err) != codes.Unavailable {
			t.Errorf("request %d: %v, want UNAVAILABLE", i, err)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("calls = %d, want 1: UNAVAILABLE is nobody's fault, so no one-by-one retry", calls.Load())
	}
}

func TestAWaitingRequestLeavesWhenItsContextEnds(t *testing.T) {
	var calls atomic.Int32
	b := New(rowsModel(&calls), Options{Window: time.Hour, MaxRows: 8})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.Do(ctx, request([2]float32{1, 1}), 1)
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Errorf("Do = %v, want CANCELLED", err)
	}
}

func BenchmarkBatcher(b *testing.B) {
	for _, window := range []time.Duration{0, 200 * time.Microsecond} {
		b.Run(fmt.Sprintf("window=%s", window), func(b *testing.B) {
			var calls atomic.Int32
			// An inference tier of two workers whose calls cost a fixed
			// 100µs however many rows they carry: what merging saves is the
			// per-call cost, paid once per batch instead of once per request.
			model := rowsModel(&calls)
			workers := make(chan struct{}, 2)
			slow := func(ctx context.Context, r *inference.ModelInferRequest) (*inference.ModelInferResponse, error) {
				workers <- struct{}{}
				defer func() { <-workers }()
				time.Sleep(100 * time.Microsecond)
				return model(ctx, r)
			}
			batcher := New(slow, Options{Window: window, MaxRows: 32})
			var waited atomic.Int64
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					start := time.Now()
					if _, err := batcher.Do(context.Background(), request([2]float32{1, 2}), 1); err != nil {
						b.Error(err)
					}
					waited.Add(int64(time.Since(start)))
				}
			})
			// ns/op is the inverse of throughput; latency is per request.
			b.ReportMetric(float64(b.N)/float64(max(calls.Load(), 1)), "requests/call")
			b.ReportMetric(float64(waited.Load())/float64(b.N)/1e3, "µs-latency/request")
		})
	}
}
