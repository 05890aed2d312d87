// Ended spans kept in memory, for tests to read: a processor that hands each
// span over as it ends (test support: polymesh_observability_testing).
//
// Usage:
//
//   auto spans = std::make_shared<InMemorySpans>();
//   std::unique_ptr<Tracer> tracer = TracerForTest(InMemoryProcessor(spans));
//   ... calls ...
//   std::vector<std::unique_ptr<SpanRecord>> ended = spans->Take();
#ifndef POLYMESH_GATEWAY_TESTS_OBSERVABILITY_IN_MEMORY_SPANS_H_
#define POLYMESH_GATEWAY_TESTS_OBSERVABILITY_IN_MEMORY_SPANS_H_

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "observability/span_pipeline.h"
#include "observability/span_record.h"

namespace polymesh::observability {

// Spans in the order they were handed over. Thread-safe.
class InMemorySpans {
 public:
  void Add(std::unique_ptr<SpanRecord> span);
  // The spans handed over since the last Take(), oldest first.
  std::vector<std::unique_ptr<SpanRecord>> Take();

 private:
  absl::Mutex mu_;
  std::vector<std::unique_ptr<SpanRecord>> spans_ ABSL_GUARDED_BY(mu_);
};

// A processor that adds each span to `spans` as it ends.
std::unique_ptr<SpanProcessor> InMemoryProcessor(std::shared_ptr<InMemorySpans> spans);

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_TESTS_OBSERVABILITY_IN_MEMORY_SPANS_H_
