// Structured logging: one JSON object per line on stderr, with the fields
// time (RFC 3339, UTC), level, msg and fields (an object of string values).
//
// Usage:
//
//   Log(LogLevel::kInfo, "gateway started",
//       {{"listener", "127.0.0.1:8080"}, {"workers", "2"}});
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
enum class LogLevel { kDebug, kInfo, kWarning, kError };

// One field of a log line: a name and its value.
using LogField = std::pair<absl::string_view, absl::string_view>;

// Formats one log line (without the trailing newline); exposed for tests.
std::string FormatLogLine(LogLevel level, absl::string_view message,
                          std::initializer_list<LogField> fields);

// Writes one log line to stderr.
void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields = {});

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_COMMON_LOG_H_
