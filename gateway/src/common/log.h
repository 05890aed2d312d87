// The gateway's process log (not the access log): one JSON object per line on
// stderr, in the shape every polymesh process writes:
//
//   {"time":"2026-12-07T16:55:00.123456Z","severity":"INFO","body":"ready",
//    "service.name":"polymesh-gateway","address":"127.0.0.1:8080",...}
//
// `time` is RFC 3339 in UTC with microseconds; `severity` is OpenTelemetry's
// SeverityText (DEBUG, INFO, WARN, ERROR, FATAL); `body` is the message;
// `service.name` comes from OTEL_SERVICE_NAME (default "polymesh-gateway");
// then the event's attributes as further top-level keys. `trace_id` and
// `span_id` belong to lines written inside a span; the process log has no
// current span, so its lines carry neither.
//
// Usage:
//
//   Log(LogLevel::kInfo, "ready",
//       {{"address", "127.0.0.1:8080"}, {"workers", "2"}});
//
// Thread-safe: each line is written with one write(2).
#ifndef POLYMESH_GATEWAY_SRC_COMMON_LOG_H_
#define POLYMESH_GATEWAY_SRC_COMMON_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"

namespace polymesh::gateway {

// The severity of a log line.
enum class LogLevel { kDebug, kInfo, kWarning, kError, kFatal };

// One attribute of a log line: a name and its value. Names are top-level
// keys of the line: one of the line's own keys (time, severity, body,
// service.name, trace_id, span_id) is written prefixed with "attributes.".
using LogField = std::pair<absl::string_view, absl::string_view>;

// The service name log lines carry: $OTEL_SERVICE_NAME when set and not
// empty, else "polymesh-gateway" (read once).
absl::string_view LogServiceName();

// Formats one log line (without the trailing newline) for `service_name`;
// exposed for tests.
std::string FormatLogLine(LogLevel level, absl::string_view message,
                          std::initializer_list<LogField> fields,
                          absl::string_view service_name);

// Formats one log line (without the trailing newline) for LogServiceName().
std::string FormatLogLine(LogLevel level, absl::string_view message,
                          std::initializer_list<LogField> fields);

// Writes one log line to stderr.
void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields = {});

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_COMMON_LOG_H_
