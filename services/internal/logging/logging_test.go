package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

const (
	testTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	testSpanID  = "00f067aa0ba902b7"
)

func spanContext(t *testing.T, flags trace.TraceFlags) context.Context {
	t.Helper()
	traceID, err := trace.TraceIDFromHex(testTraceID)
	if err != nil {
		t.Fatal(err)
	}
	spanID, err := trace.SpanIDFromHex(testSpanID)
	if err != nil {
		t.Fatal(err)
	}
	return trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: flags,
	}))
}

// keys is the top-level keys of one JSON object, in their order, and the
// object itself.
func keys(t *testing.T, line []byte) ([]string, map[string]any) {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(line, &obj); err != nil {
		t.Fatalf("not a JSON object: %q: %v", line, err)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	var order []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return order, obj
}

func TestShape(t *testing.T) {
	spanCtx := spanContext(t, trace.FlagsSampled)
	unsampled := spanContext(t, 0)
	tests := []struct {
		name     string
		ctx      context.Context
		log      func(*slog.Logger, context.Context)
		wantKeys []string
		wantIDs  bool
		wantAttr map[string]any
	}{
		{"without a span", context.Background(), func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m", "k", "v") },
			[]string{"time", "severity", "body", "service.name", "k"}, false, map[string]any{"k": "v"}},
		{"without a context", nil, func(l *slog.Logger, _ context.Context) { l.Info("m", "k", "v") },
			[]string{"time", "severity", "body", "service.name", "k"}, false, map[string]any{"k": "v"}},
		{"with a span", spanCtx, func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m", "k", "v") },
			[]string{"time", "severity", "body", "service.name", "trace_id", "span_id", "k"}, true, map[string]any{"k": "v"}},
		{"with an unsampled span", unsampled, func(l *slog.Logger, ctx context.Context) { l.InfoContext(ctx, "m") },
			[]string{"time", "severity", "body", "service.name", "trace_id", "span_id"}, true, nil},
		{"after With", spanCtx, func(l *slog.Logger, ctx context.Context) { l.With("w", 1).InfoContext(ctx, "m", "k", "v") },
			[]string{"time", "severity", "body", "service.name", "trace_id", "span_id", "w", "k"}, true,
			map[string]any{"w": 1.0, "k": "v"}},
		{"in a group", spanCtx, func(l *slog.Logger, ctx context.Context) {
			l.With("w", 1).WithGroup("g").With("x", 2).InfoContext(ctx, "m", "k", "v")
		},
			[]string{"time", "severity", "body", "service.name", "trace_id", "span_id", "w", "g"}, true,
			map[string]any{"w": 1.0, "g": map[string]any{"x": 2.0, "k": "v"}}},
		{"in a group without a span", context.Background(), func(l *slog.Logger, ctx context.Context) {
			l.WithGroup("g").InfoContext(ctx, "m", "k", "v")
		},
			[]string{"time", "severity", "body", "service.name", "g"}, false, map[string]any{"g": map[string]any{"k": "v"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			before := time.Now().UTC().Truncate(time.Microsecond)
			tt.log(New(&buf, "polymesh-test"), tt.ctx)
			after := time.Now().UTC()
			if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.HasSuffix(buf.String(), "\n") {
				t.Fatalf("got %d lines, want one: %q", n, buf.String())
			}
			order, got := keys(t, buf.Bytes())
			if !slices.Equal(order, tt.wantKeys) {
				t.Errorf("keys: got %v, want %v", order, tt.wantKeys)
			}
			if got["severity"] != "INFO" || got["body"] != "m" || got["service.name"] != "polymesh-test" {
				t.Errorf("line %v: want severity INFO, body m, service.name polymesh-test", got)
			}
			stamp, _ := got["time"].(string)
			if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`).MatchString(stamp) {
				t.Errorf("time %q: want RFC 3339 in UTC with microseconds", stamp)
			} else if at, err := time.Parse(time.RFC3339Nano, stamp); err != nil || at.Before(before) || at.After(after) {
				t.Errorf("time %q: not between %v and %v (%v)", stamp, before, after, err)
			}
			wantTrace, wantSpan := any(nil), any(nil)
			if tt.wantIDs {
				wantTrace, wantSpan = testTraceID, testSpanID
			}
			if got["trace_id"] != wantTrace || got["span_id"] != wantSpan {
				t.Errorf("trace_id, span_id: got %v, %v, want %v, %v", got["trace_id"], got["span_id"], wantTrace, wantSpan)
			}
			for k, want := range tt.wantAttr {
				if g, w := mustJSON(t, got[k]), mustJSON(t, want); g != w {
					t.Errorf("%s: got %s, want %s", k, g, w)
				}
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug - 4, "DEBUG"},
		{slog.LevelDebug, "DEBUG"},
		{slog.LevelInfo, "INFO"},
		{slog.LevelInfo + 1, "INFO"},
		{slog.LevelWarn, "WARN"},
		{slog.LevelError, "ERROR"},
		{slog.LevelError + 1, "ERROR"},
		{LevelFatal, "FATAL"},
		{LevelFatal + 4, "FATAL"},
	}
	for _, tt := range tests {
		if got := Severity(tt.level); got != tt.want {
			t.Errorf("Severity(%v): got %q, want %q", tt.level, got, tt.want)
		}
	}
}

func TestLevels(t *testing.T) {
	for _, tt := range []struct {
		level slog.Level
		want  string
	}{{slog.LevelDebug, ""}, {slog.LevelWarn, "WARN"}, {slog.LevelError, "ERROR"}, {LevelFatal, "FATAL"}} {
		var buf bytes.Buffer
		New(&buf, "s").Log(context.Background(), tt.level, "m")
		if tt.want == "" {
			if buf.Len() != 0 {
				t.Errorf("level %v: got %q, want nothing (below INFO)", tt.level, buf.String())
			}
			continue
		}
		_, got := keys(t, buf.Bytes())
		if got["severity"] != tt.want {
			t.Errorf("level %v: severity %v, want %s", tt.level, got["severity"], tt.want)
		}
	}
}
