// A batch span processor that exports full batches, and counts what it
// exports and drops.
//
// opentelemetry-cpp 1.19's BatchSpanProcessor exports again as soon as one
// export returns and any span is queued, so under steady load its batches
// are as small as the spans that arrive during one export, and each is one
// OTLP/gRPC call: the per-call overhead is paid every few spans, the queue
// overflows and spans are dropped. This processor waits for a full batch
// (`max_export_batch_size`) or for `schedule_delay` since the oldest queued
// span, whichever comes first; shutdown exports what is queued at once.
//
// Up to `max_concurrent_exports` batches are exported at once, each from its
// own thread: a collector that takes a while to answer one request (Jaeger
// beside a busy gateway takes ~20 ms per 1000 spans) would otherwise cap the
// spans exported per second at one batch per round trip, and the queue
// would overflow under load.
//
// Ending a span takes a mutex for a push onto a vector whose capacity is
// kept between batches: no allocation. The export threads start with the
// first span, so an idle gateway has none.
//
// Usage:
//
//   auto counters = std::make_shared<TracingCounters>();
//   auto processor = std::make_unique<BatchExportProcessor>(
//       std::make_unique<OtlpSpanExporter>(options), batch_options, counters);
//   // give it to the tracer; counters->spans_exported is what reached the
//   // collector, counters->spans_dropped what did not.
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_BATCH_PROCESSOR_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_BATCH_PROCESSOR_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "observability/span_pipeline.h"
#include "observability/span_record.h"

namespace polymesh::observability {

// What happened to the spans that the tracer recorded. Relaxed atomics,
// read by a metrics scrape.
struct TracingCounters {
  // Spans the collector accepted (an export that succeeded).
  std::atomic<uint64_t> spans_exported{0};
  // Spans dropped because the queue was full.
  std::atomic<uint64_t> spans_dropped_queue_full{0};
  // Spans lost with an export that failed (collector down, timeout...).
  std::atomic<uint64_t> spans_dropped_export_failed{0};
  // Export calls made (each carries one batch).
  std::atomic<uint64_t> exports{0};
};

// The batch span processor's settings (OTEL_BSP_*). The defaults are the
// specification's; the gateway's own are in tracing_config.h.
struct BatchOptions {
  // The longest a span waits for its batch to fill.
  std::chrono::milliseconds schedule_delay{5000};
  // Spans that may wait; more are dropped (and counted).
  size_t max_queue_size = 2048;
  // Spans per export.
  size_t max_export_batch_size = 512;
};

// Batches ended spans and hands them to an exporter on its own thread.
// Thread-safe.
class BatchExportProcessor final : public SpanProcessor {
 public:
  // `options`: max_queue_size spans may wait (more are dropped and counted),
  // exported max_export_batch_size at a time, at the latest schedule_delay
  // after the oldest waiting span ended.
  // `counters` may be null. With `max_concurrent_exports` above 1 the
  // exporter's Export() is called from that many threads at once: it must be
  // thread-safe (OtlpSpanExporter is).
  BatchExportProcessor(std::unique_ptr<SpanExporter> exporter, const BatchOptions& options,
                       std::shared_ptr<TracingCounters> counters,
                       int max_concurrent_exports = 1);
  ~BatchExportProcessor() override;

  // SpanProcessor.
  void OnEnd(std::unique_ptr<SpanRecord> span) override;
  // Exports every queued span, stops the thread and shuts the exporter
  // down. Later spans are dropped (not counted).
  bool Shutdown(std::chrono::microseconds timeout) override;

 private:
  using Batch = std::vector<std::unique_ptr<SpanRecord>>;

  // One export thread.
  void Run();
  // Whether an export thread has work: a full batch, a span older than the
  // schedule delay, or a stop with spans queued.
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Exports `batch` (at most max_export_batch_size spans), then clears it.
  void Export(Batch& batch);

  const std::unique_ptr<SpanExporter> exporter_;
  const size_t max_queue_size_;
  const size_t max_export_batch_size_;
  const std::chrono::milliseconds schedule_delay_;
  const std::shared_ptr<TracingCounters> counters_;
  const int max_concurrent_exports_;

  absl::Mutex mu_;
  absl::CondVar wake_;  // the export threads wait on it
  Batch queue_ ABSL_GUARDED_BY(mu_);
  // When queue_'s first span was queued.
  absl::Time oldest_ ABSL_GUARDED_BY(mu_);
  bool threads_started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> shut_down_{false};
  std::vector<std::thread> threads_;
};

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_BATCH_PROCESSOR_H_
