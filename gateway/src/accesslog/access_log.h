// The access log: one JSON line per call, written off the call path.
//
// A worker hands each finished call's record to Append(), which only moves
// it into a queue under a mutex; a writer thread formats the queued records
// as JSON lines and writes them to the file every 100 ms (or sooner when
// many are waiting). When the writer falls behind by more than the queue's
// bound, records are dropped and counted, never blocking a worker.
//
//   {"time":"2026-11-23T07:00:00.123456Z","method":"polymesh.ai.v1.AIService/Predict",
//    "route":"ai","cluster":"aiapi","endpoint":"127.0.0.1:50051","status":"OK",
//    "grpc_status":0,"duration_ms":1.234,"request_bytes":52,"response_bytes":120,
//    "attempts":1,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}
//
// Usage:
//
//   absl::StatusOr<std::unique_ptr<AccessLog>> log = AccessLog::Open("/var/log/access.log");
//   (*log)->Append(std::move(record));   // from any thread
//   log->reset();                         // flushes what is queued
#ifndef POLYMESH_GATEWAY_SRC_ACCESSLOG_ACCESS_LOG_H_
#define POLYMESH_GATEWAY_SRC_ACCESSLOG_ACCESS_LOG_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace polymesh::gateway {

// What the access log says of one call.
struct AccessRecord {
  absl::Time start;
  // "package.Service/Method" (the :path without its leading "/").
  std::string method;
  // Empty when no route matched.
  std::string route;
  std::string cluster;
  // "host:port" of the upstream endpoint; empty when none was picked.
  std::string endpoint;
  int grpc_status = 0;
  absl::Duration duration;
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
  // Upstream attempts made: 1 for a call tried once, more after retries
  // (transparent ones included), 0 when the call never went upstream.
  uint32_t attempts = 0;
  // 32 hex digits; empty when the call carried no trace context.
  std::string trace_id;
};

// Formats one record as a JSON line (with its newline).
std::string FormatAccessRecord(const AccessRecord& record);

class AccessLog {
 public:
  // Opens `path` for appending ("/dev/stdout" and "/dev/stderr" work too)
  // and starts the writer. `max_queued` bounds the records waiting.
  static absl::StatusOr<std::unique_ptr<AccessLog>> Open(const std::string& path,
                                                         size_t max_queued = 65536);
  // Writes what is queued, then closes the file.
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Queues a record. Thread-safe; never blocks on the file.
  void Append(AccessRecord record);
  // Records dropped because the queue was full.
  uint64_t dropped() const;

 private:
  AccessLog(FILE* file, bool owned, size_t max_queued);
  void Run();

  FILE* const file_;
  const bool owned_;
  const size_t max_queued_;
  mutable absl::Mutex mutex_;
  std::vector<AccessRecord> queue_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  uint64_t dropped_ ABSL_GUARDED_BY(mutex_) = 0;
  std::thread writer_;
};

// The trace id of a W3C traceparent value ("00-<trace id>-<span id>-<flags>"),
// or "" when it is not one.
std::string TraceIdOf(const std::string& traceparent);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_ACCESSLOG_ACCESS_LOG_H_
