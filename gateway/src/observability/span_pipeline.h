// Where ended spans go: a SpanProcessor takes each SpanRecord as its span
// ends, and a SpanExporter sends batches of them. The shapes are those of
// OpenTelemetry's SDK interfaces, cut to what the gateway records.
//
// Implementations: BatchExportProcessor (batch_processor.h), OtlpSpanExporter
// (otlp_exporter.h), and the in-memory ones tests read
// (gateway/tests/observability/in_memory_spans.h).
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_SPAN_PIPELINE_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_SPAN_PIPELINE_H_

#include <chrono>
#include <memory>

#include "absl/types/span.h"
#include "observability/span_record.h"

namespace polymesh::observability {

enum class ExportResult { kSuccess, kFailure };

// Sends spans somewhere. Export() is called from one thread at a time unless
// the implementation says it is thread-safe.
class SpanExporter {
 public:
  virtual ~SpanExporter() = default;
  // Sends `spans` (null entries are skipped); kFailure if they were not
  // delivered.
  virtual ExportResult Export(absl::Span<const std::unique_ptr<SpanRecord>> spans) = 0;
  // Later exports fail. Returns false if `timeout` passed first.
  virtual bool Shutdown(std::chrono::microseconds timeout) = 0;
};

// Takes each span as it ends. Thread-safe.
class SpanProcessor {
 public:
  virtual ~SpanProcessor() = default;
  // Takes an ended span.
  virtual void OnEnd(std::unique_ptr<SpanRecord> span) = 0;
  // Exports what is held and stops; later spans are dropped.
  virtual bool Shutdown(std::chrono::microseconds timeout) = 0;
};

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_SPAN_PIPELINE_H_
