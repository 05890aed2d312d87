// Package logging makes the loggers of polymesh's Go services: log/slog
// JSON lines of the one shape every polymesh process writes (the C++
// gateway and the Python services too):
//
//	{"time":"2026-12-07T16:55:00.123456Z","severity":"INFO","body":"ready",
//	 "service.name":"polymesh-users","trace_id":"…","span_id":"…","address":"127.0.0.1:50053"}
//
// time is RFC 3339 in UTC with microseconds; severity is OpenTelemetry's
// SeverityText (DEBUG, INFO, WARN, ERROR, FATAL); body is the message;
// trace_id and span_id (32 and 16 lowercase hex digits) are there only when
// the record is logged with a context holding a valid span (slog's
// *Context methods); the record's attributes follow as further keys (in a
// group, under the group's key). Attributes named time, level or msg at the
// top level are taken for slog's own and renamed; do not use them.
//
//	log := logging.New(os.Stderr, "polymesh-users")
//	slog.SetDefault(log)
//	log.InfoContext(ctx, "created", "id", id)
package logging

import (
	"context"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// The keys every line has, in order, then those of a line logged inside a span.
const (
	TimeKey     = "time"
	SeverityKey = "severity"
	BodyKey     = "body"
	ServiceKey  = "service.name"
	TraceIDKey  = "trace_id"
	SpanIDKey   = "span_id"
)

// LevelFatal is the level whose lines have severity FATAL (slog has no
// level of its own for it).
const LevelFatal = slog.LevelError + 4

// TimeFormat is the layout of the time key's value (always in UTC).
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// New is a JSON logger writing to w for the service named service, at
// level INFO and above.
func New(w io.Writer, service string) *slog.Logger {
	json := slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: replace})
	base := json.WithAttrs([]slog.Attr{slog.String(ServiceKey, service)})
	return slog.New(&handler{base: base, cur: base})
}

// Severity is OpenTelemetry's SeverityText of a slog level: DEBUG below
// INFO, INFO, WARN, ERROR, and FATAL from LevelFatal on.
func Severity(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARN"
	case l < LevelFatal:
		return "ERROR"
	default:
		return "FATAL"
	}
}

// replace renames and formats slog's built-in keys.
func replace(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		if a.Value.Kind() == slog.KindTime {
			return slog.String(TimeKey, a.Value.Time().UTC().Format(TimeFormat))
		}
	case slog.LevelKey:
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String(SeverityKey, Severity(l))
		}
	case slog.MessageKey:
		a.Key = BodyKey
	}
	return a
}

// handler puts trace_id and span_id at the top level, right after
// service.name, even below groups: it keeps the WithAttrs and WithGroup
// steps that made it and, for a record logged inside a span, replays them
// on base with the ids added first.
type handler struct {
	base  slog.Handler                      // the JSON handler with service.name
	cur   slog.Handler                      // base after steps
	steps []func(slog.Handler) slog.Handler // WithAttrs and WithGroup, in order
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.cur.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return h.cur.Handle(ctx, r)
	}
	out := h.base.WithAttrs([]slog.Attr{
		slog.String(TraceIDKey, sc.TraceID().String()), slog.String(SpanIDKey, sc.SpanID().String()),
	})
	for _, step := range h.steps {
		out = step(out)
	}
	return out.Handle(ctx, r)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.with(func(next slog.Handler) slog.Handler { return next.WithAttrs(attrs) })
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(func(next slog.Handler) slog.Handler { return next.WithGroup(name) })
}

func (h *handler) with(step func(slog.Handler) slog.Handler) *handler {
	steps := append(h.steps[:len(h.steps):len(h.steps)], step)
	return &handler{base: h.base, cur: step(h.cur), steps: steps}
}
