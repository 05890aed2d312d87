// Metrics that outlive the gateway that counted them: the sum of the live
// gateways' metrics and of the final counts of the gateways that a
// configuration reload retired, so that counters and histograms never go
// backwards across a reload (Envoy keeps its stats the same way).
//
// Counters and histograms of a retired collectable are folded into running
// totals, by family name and label set; its gauges (calls in progress...)
// are dropped with it. While two gateways overlap (the old one draining),
// both are live and their gauges add up.
//
// Usage:
//
//   auto metrics = std::make_shared<CumulativeCollector>();
//   metrics->Add(first->stats());
//   ... reload ...
//   metrics->Add(second->stats());
//   first->Retire(grace);
//   metrics->Retire(first->stats());   // after it stopped counting
//   // admin /metrics serves metrics->Collect()
#ifndef POLYMESH_GATEWAY_SRC_STATS_CUMULATIVE_COLLECTOR_H_
#define POLYMESH_GATEWAY_SRC_STATS_CUMULATIVE_COLLECTOR_H_

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace polymesh::gateway {

// The running sum of several collectables over time. Thread-safe.
class CumulativeCollector : public prometheus::Collectable {
 public:
  // Starts collecting `live`.
  void Add(std::shared_ptr<prometheus::Collectable> live);
  // Stops collecting `retired` and keeps its final counters and histograms
  // in the totals. Call once it no longer counts anything.
  void Retire(const std::shared_ptr<prometheus::Collectable>& retired);

  // The live collectables' families merged with the retired totals: the
  // same family and label set add up (counters, gauges, histogram counts,
  // sums and buckets).
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<prometheus::Collectable>> live_ ABSL_GUARDED_BY(mu_);
  std::vector<prometheus::MetricFamily> retired_ ABSL_GUARDED_BY(mu_);
};

// Adds `from` into `into`: families matched by name, metrics by label set
// (in any order); what `into` lacks is appended. Exposed for tests.
void MergeFamilies(std::vector<prometheus::MetricFamily>& into,
                   const std::vector<prometheus::MetricFamily>& from);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_STATS_CUMULATIVE_COLLECTOR_H_
