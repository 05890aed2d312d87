// The tracer's span counters as Prometheus metrics, for the admin
// listener's /metrics.
//
// Usage:
//
//   if (auto counters = tracer->counters(); counters != nullptr) {
//     options.collectables.push_back(std::make_shared<TracingCollector>(counters));
//   }
//
// Families:
//   polymesh_gateway_spans_exported_total             spans the collector accepted
//   polymesh_gateway_spans_dropped_total{reason=...}  queue_full | export_failed
//   polymesh_gateway_span_exports_total               OTLP export calls (batches)
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_TRACING_METRICS_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_TRACING_METRICS_H_

#include <memory>
#include <vector>

#include "observability/batch_processor.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace polymesh::observability {

// Reads TracingCounters at each scrape. Thread-safe.
class TracingCollector final : public prometheus::Collectable {
 public:
  explicit TracingCollector(std::shared_ptr<const TracingCounters> counters);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::shared_ptr<const TracingCounters> counters_;
};

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_TRACING_METRICS_H_
