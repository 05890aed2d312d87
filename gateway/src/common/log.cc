#include "common/log.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/json.h"

namespace polymesh::gateway {
namespace {

// OpenTelemetry's SeverityText of each level.
absl::string_view SeverityText(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
    case LogLevel::kFatal:
      return "FATAL";
  }
  return "INFO";
}

// The keys of the line itself, which an attribute must not repeat.
bool IsLineKey(absl::string_view name) {
  return name == "time" || name == "severity" || name == "body" || name == "service.name" ||
         name == "trace_id" || name == "span_id";
}

}  // namespace

absl::string_view LogServiceName() {
  static const std::string* const name = [] {
    const char* value = std::getenv("OTEL_SERVICE_NAME");
    return new std::string(value != nullptr && *value != '\0' ? value : "polymesh-gateway");
  }();
  return *name;
}

std::string FormatLogLine(LogLevel level, absl::string_view message,
                          std::initializer_list<LogField> fields,
                          absl::string_view service_name) {
  std::string out = "{\"time\":";
  AppendJsonString(out, absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(),
                                         absl::UTCTimeZone()));
  out += ",\"severity\":";
  AppendJsonString(out, SeverityText(level));
  out += ",\"body\":";
  AppendJsonString(out, message);
  out += ",\"service.name\":";
  AppendJsonString(out, service_name);
  for (const auto& [name, value] : fields) {
    out.push_back(',');
    if (IsLineKey(name)) {
      AppendJsonString(out, absl::StrFormat("attributes.%s", name));
    } else {
      AppendJsonString(out, name);
    }
    out.push_back(':');
    AppendJsonString(out, value);
  }
  out.push_back('}');
  return out;
}

std::string FormatLogLine(LogLevel level, absl::string_view message,
                          std::initializer_list<LogField> fields) {
  return FormatLogLine(level, message, fields, LogServiceName());
}

void Log(LogLevel level, absl::string_view message,
         std::initializer_list<LogField> fields) {
  std::string line = FormatLogLine(level, message, fields);
  line.push_back('\n');
  // One write per line, so lines from different threads do not interleave.
  ssize_t unused = ::write(STDERR_FILENO, line.data(), line.size());
  (void)unused;
}

}  // namespace polymesh::gateway
