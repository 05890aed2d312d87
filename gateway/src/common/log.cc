#include "common/log.h"

#include <unistd.h>

#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/json.h"

namespace polymesh::gateway {
namespace {

absl::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

}  // namespace

std::string FormatLogLine(LogLevel level, absl::string_view message,
                          std::initializer_list<LogField> fields) {
  std::string out = "{\"time\":";
  AppendJsonString(out, absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(),
                                         absl::UTCTimeZone()));
  out += ",\"level\":";
  AppendJsonString(out, LevelName(level));
  out += ",\"msg\":";
  AppendJsonString(out, message);
  out += ",\"fields\":{";
  bool first = true;
  for (const auto& [name, value] : fields) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(out, name);
    out.push_back(':');
    AppendJsonString(out, value);
  }
  out += "}}";
  return out;
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
