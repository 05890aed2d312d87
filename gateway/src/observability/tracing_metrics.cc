#include "observability/tracing_metrics.h"

#include <string>
#include <utility>

#include "prometheus/client_metric.h"
#include "prometheus/metric_type.h"

namespace polymesh::observability {
namespace {

prometheus::ClientMetric Counter(const std::atomic<uint64_t>& value,
                                 std::vector<prometheus::ClientMetric::Label> labels = {}) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  metric.counter.value = static_cast<double>(value.load(std::memory_order_relaxed));
  return metric;
}

prometheus::MetricFamily Family(std::string name, std::string help) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Counter;
  return family;
}

}  // namespace

TracingCollector::TracingCollector(std::shared_ptr<const TracingCounters> counters)
    : counters_(std::move(counters)) {}

std::vector<prometheus::MetricFamily> TracingCollector::Collect() const {
  prometheus::MetricFamily exported = Family("polymesh_gateway_spans_exported_total",
                                             "Spans exported to the OTLP collector.");
  exported.metric.push_back(Counter(counters_->spans_exported));
  prometheus::MetricFamily dropped =
      Family("polymesh_gateway_spans_dropped_total",
             "Spans not exported: the span queue was full, or their export failed.");
  dropped.metric.push_back(Counter(counters_->spans_dropped_queue_full, {{"reason", "queue_full"}}));
  dropped.metric.push_back(
      Counter(counters_->spans_dropped_export_failed, {{"reason", "export_failed"}}));
  prometheus::MetricFamily exports = Family("polymesh_gateway_span_exports_total",
                                            "OTLP export calls, one batch of spans each.");
  exports.metric.push_back(Counter(counters_->exports));
  return {std::move(exported), std::move(dropped), std::move(exports)};
}

}  // namespace polymesh::observability
