#include "accesslog/access_log.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/grpc_status.h"
#include "common/json.h"

namespace polymesh::gateway {
namespace {

constexpr absl::Duration kFlushEvery = absl::Milliseconds(100);
constexpr size_t kWakeAt = 1024;

}  // namespace

std::string FormatAccessRecord(const AccessRecord& r) {
  std::string out;
  out.reserve(256);
  out += "{\"time\":\"";
  out += absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", r.start, absl::UTCTimeZone());
  out += "\",\"method\":";
  AppendJsonString(out, r.method);
  out += ",\"route\":";
  AppendJsonString(out, r.route);
  out += ",\"cluster\":";
  AppendJsonString(out, r.cluster);
  out += ",\"endpoint\":";
  AppendJsonString(out, r.endpoint);
  out += ",\"status\":";
  AppendJsonString(out, std::string(GrpcStatusName(r.grpc_status)));
  absl::StrAppend(&out, ",\"grpc_status\":", r.grpc_status);
  absl::StrAppendFormat(&out, ",\"duration_ms\":%.3f",
                        absl::ToDoubleMilliseconds(r.duration));
  absl::StrAppend(&out, ",\"request_bytes\":", r.request_bytes,
                  ",\"response_bytes\":", r.response_bytes, ",\"attempts\":", r.attempts,
                  ",\"trace_id\":");
  AppendJsonString(out, r.trace_id);
  out += "}\n";
  return out;
}

std::string TraceIdOf(const std::string& traceparent) {
  // version "-" 32 hex "-" 16 hex "-" 2 hex
  if (traceparent.size() < 55 || traceparent[2] != '-' || traceparent[35] != '-') return "";
  const std::string id = traceparent.substr(3, 32);
  for (const char c : id) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return "";
  }
  return absl::AsciiStrToLower(id);
}

absl::StatusOr<std::unique_ptr<AccessLog>> AccessLog::Open(const std::string& path,
                                                           size_t max_queued) {
  FILE* file = nullptr;
  bool owned = true;
  if (path == "/dev/stdout") {
    file = stdout;
    owned = false;
  } else if (path == "/dev/stderr") {
    file = stderr;
    owned = false;
  } else {
    file = std::fopen(path.c_str(), "a");
    if (file == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("access_log.path: cannot open \"", path, "\": ", std::strerror(errno)));
    }
  }
  return std::unique_ptr<AccessLog>(new AccessLog(file, owned, max_queued));
}

AccessLog::AccessLog(FILE* file, bool owned, size_t max_queued)
    : file_(file), owned_(owned), max_queued_(max_queued) {
  writer_ = std::thread([this] { Run(); });
}

AccessLog::~AccessLog() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  writer_.join();
  if (owned_) std::fclose(file_);
}

void AccessLog::Append(AccessRecord record) {
  absl::MutexLock lock(&mutex_);
  if (queue_.size() >= max_queued_) {
    ++dropped_;
    return;
  }
  queue_.push_back(std::move(record));
}

uint64_t AccessLog::dropped() const {
  absl::MutexLock lock(&mutex_);
  return dropped_;
}

void AccessLog::Run() {
  std::vector<AccessRecord> batch;
  std::string text;
  bool stopping = false;
  while (!stopping) {
    {
      absl::MutexLock lock(&mutex_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return stopping_ || queue_.size() >= kWakeAt;
      };
      mutex_.AwaitWithTimeout(absl::Condition(&ready), kFlushEvery);
      batch.swap(queue_);
      stopping = stopping_;
    }
    if (batch.empty()) continue;
    text.clear();
    for (const AccessRecord& record : batch) text += FormatAccessRecord(record);
    std::fwrite(text.data(), 1, text.size(), file_);
    std::fflush(file_);
    batch.clear();
  }
}

}  // namespace polymesh::gateway
