// Package logging makes the loggers of polymesh's Go services: log/slog
// JSON lines carrying the service name and, for records logged with a
// context that holds a span, its trace and span ids, so that a log line
// leads to its trace.
//
//	log := logging.New(os.Stderr, "polymesh-users")
//	slog.SetDefault(log)
//	log.InfoContext(ctx, "created") // {"...","trace_id":"…","span_id":"…"}
package logging

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// New is a JSON logger writing to w, with a "service" attribute.
func New(w io.Writer, service string) *slog.Logger {
	return slog.New(TraceHandler(slog.NewJSONHandler(w, nil))).With("service", service)
}

// TraceHandler wraps h: records whose context carries a valid span context
// get "trace_id" and "span_id" attributes.
func TraceHandler(h slog.Handler) slog.Handler { return traceHandler{h} }

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
