// Command grpcload is the closed-loop gRPC load generator of ./dev bench for
// calls whose request must differ from call to call (CreateUser, whose email
// is unique), which neither h2load nor `polymesh bench` can send: they send the
// same request every time.
//
// The request is a serialized protobuf message read from a file; every
// occurrence of the -unique marker in it is replaced, per call, by a
// zero-padded call counter of the same length, so that the message stays
// valid (the lengths of its fields do not change); the counter starts at
// -first, and the report's "unique_next" is where the next run should start
// against the same data. Each of -concurrency
// workers has one call in flight on its own connection. After -warmup
// seconds, calls are counted for -duration seconds; the report is one JSON
// object on stdout:
//
//	{"calls": 1200, "errors_by_code": {"ALREADY_EXISTS": 1}, "duration_s": 2.0,
//	 "calls_per_s": 600, "latency_us": {"p50": ..., "p90": ..., "p99": ...,
//	 "p999": ..., "max": ...}, "unique_next": 1301}
//
// calls counts every call that ended in the window, errors included; the
// latencies are those of the calls that succeeded.
//
//	grpcload -target 127.0.0.1:50053 -method /polymesh.users.v1.UserService/CreateUser \
//	  -body create.bin -unique 000000000000 -concurrency 8 -duration 2 -warmup 0.5
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// rawCodec sends and receives messages as the bytes they already are.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// metadataFlag collects repeated -metadata key=value flags.
type metadataFlag []string

func (m *metadataFlag) String() string { return strings.Join(*m, ",") }

func (m *metadataFlag) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("metadata %q is not key=value", v)
	}
	*m = append(*m, v)
	return nil
}

// latencyReport holds latency percentiles in microseconds.
type latencyReport struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// report is what one run prints.
type report struct {
	Calls        int            `json:"calls"`
	ErrorsByCode map[string]int `json:"errors_by_code"`
	DurationS    float64        `json:"duration_s"`
	CallsPerS    float64        `json:"calls_per_s"`
	LatencyUs    latencyReport  `json:"latency_us"`
	// UniqueNext is the first counter value no call used (with -unique).
	UniqueNext int64 `json:"unique_next,omitempty"`
}

// worker is one closed-loop caller's tally inside the window.
type worker struct {
	latencies []float64
	errors    map[string]int
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "grpcload: %v\n", err)
		os.Exit(2)
	}
}

func run() error {
	target := flag.String("target", "", "host:port to call")
	method := flag.String("method", "", "the full method, /package.Service/Method")
	bodyFile := flag.String("body", "", "file with the serialized request message")
	unique := flag.String("unique", "", "marker in the message replaced by a per-call counter of its length")
	concurrency := flag.Int("concurrency", 1, "calls in flight, one per connection")
	duration := flag.Float64("duration", 2, "measured seconds")
	warmup := flag.Float64("warmup", 0.5, "seconds of calls before the measured window")
	first := flag.Int64("first", 1, "the counter's first value (with -unique)")
	timeout := flag.Duration("timeout", 10*time.Second, "deadline of each call")
	var md metadataFlag
	flag.Var(&md, "metadata", "key=value metadata sent with every call (repeatable)")
	flag.Parse()
	if *target == "" || !strings.HasPrefix(*method, "/") || *bodyFile == "" {
		return errors.New("-target, -method (/package.Service/Method) and -body are required")
	}
	if *concurrency < 1 || *duration <= 0 || *warmup < 0 || *first < 0 {
		return errors.New("-concurrency must be >= 1, -duration > 0, -warmup >= 0, -first >= 0")
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		return err
	}
	marker := []byte(*unique)
	if len(marker) > 0 && !bytes.Contains(body, marker) {
		return fmt.Errorf("the -unique marker %q is not in the message", *unique)
	}
	var pairs []string
	for _, kv := range md {
		k, v, _ := strings.Cut(kv, "=")
		pairs = append(pairs, k, v)
	}

	conns := make([]*grpc.ClientConn, *concurrency)
	for i := range conns {
		conns[i], err = grpc.NewClient(*target,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		if err != nil {
			return err
		}
		defer conns[i].Close()
		conns[i].Connect()
	}

	var counter atomic.Int64
	counter.Store(*first - 1)
	message := func() []byte {
		if len(marker) == 0 {
			return body
		}
		n := strconv.FormatInt(counter.Add(1), 10)
		if len(n) > len(marker) {
			panic("the -unique counter outgrew its marker")
		}
		fill := strings.Repeat("0", len(marker)-len(n)) + n
		return bytes.ReplaceAll(body, marker, []byte(fill))
	}

	start := time.Now()
	windowStart := start.Add(time.Duration(*warmup * float64(time.Second)))
	windowEnd := windowStart.Add(time.Duration(*duration * float64(time.Second)))
	workers := make([]worker, *concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func(w *worker, conn *grpc.ClientConn) {
			defer wg.Done()
			w.errors = map[string]int{}
			var out []byte
			for {
				req := message()
				begin := time.Now()
				if !begin.Before(windowEnd) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), *timeout)
				if len(pairs) > 0 {
					ctx = metadata.AppendToOutgoingContext(ctx, pairs...)
				}
				err := conn.Invoke(ctx, *method, &req, &out)
				cancel()
				end := time.Now()
				if begin.Before(windowStart) || end.After(windowEnd) {
					continue
				}
				if err != nil {
					// The canonical name, as in grpc-status docs: UNAVAILABLE.
					w.errors[code.Code(status.Code(err)).String()]++
					continue
				}
				w.latencies = append(w.latencies, float64(end.Sub(begin).Nanoseconds())/1e3)
			}
		}(&workers[i], conns[i])
	}
	wg.Wait()

	var all []float64
	errs := map[string]int{}
	failed := 0
	for _, w := range workers {
		all = append(all, w.latencies...)
		for code, n := range w.errors {
			errs[code] += n
			failed += n
		}
	}
	slices.Sort(all)
	calls := len(all) + failed
	out := report{
		Calls:        calls,
		ErrorsByCode: errs,
		DurationS:    *duration,
		CallsPerS:    float64(calls) / *duration,
		LatencyUs: latencyReport{
			P50: percentile(all, 0.5), P90: percentile(all, 0.9), P99: percentile(all, 0.99),
			P999: percentile(all, 0.999), Max: percentile(all, 1),
		},
	}
	if len(marker) > 0 {
		out.UniqueNext = counter.Load() + 1
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// percentile is the nearest-rank q-quantile of sorted values (0 when empty).
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[min(i, len(sorted)-1)]
}
