package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

func TestTraceIDs(t *testing.T) {
	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	spanCtx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
	}))
	tests := []struct {
		name      string
		ctx       context.Context
		log       func(*slog.Logger, context.Context)
		wantTrace string
		wantSpan  string
		wantGroup bool
	}{
		{"with a span", spanCtx, func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m") },
			"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", false},
		{"without a span", context.Background(), func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m") },
			"", "", false},
		{"after With", spanCtx, func(l *slog.Logger, ctx context.Context) { l.With("k", "v").InfoContext(ctx, "m") },
			"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", false},
		{"in a group", spanCtx, func(l *slog.Logger, ctx context.Context) { l.WithGroup("g").InfoContext(ctx, "m", "k", "v") },
			"", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(New(&buf, "polymesh-test"), tt.ctx)
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
			}
			if got["service"] != "polymesh-test" || got["msg"] != "m" {
				t.Errorf("line %v: want service polymesh-test and msg m", got)
			}
			if tt.wantGroup {
				g, _ := got["g"].(map[string]any)
				if g["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || g["span_id"] != "00f067aa0ba902b7" {
					t.Errorf("group g: got %v, want the trace and span ids in it", g)
				}
				return
			}
			if id, _ := got["trace_id"].(string); id != tt.wantTrace {
				t.Errorf("trace_id: got %q, want %q", id, tt.wantTrace)
			}
			if id, _ := got["span_id"].(string); id != tt.wantSpan {
				t.Errorf("span_id: got %q, want %q", id, tt.wantSpan)
			}
		})
	}
}
