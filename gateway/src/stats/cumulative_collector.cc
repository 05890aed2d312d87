#include "stats/cumulative_collector.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace polymesh::gateway {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// A label set as one key, independent of the labels' order.
std::string LabelKey(const ClientMetric& metric) {
  std::vector<std::pair<std::string, std::string>> labels;
  labels.reserve(metric.label.size());
  for (const ClientMetric::Label& label : metric.label) labels.emplace_back(label.name, label.value);
  std::sort(labels.begin(), labels.end());
  std::string key;
  for (const auto& [name, value] : labels) absl::StrAppend(&key, name, "=", value, "\x1f");
  return key;
}

void AddMetric(MetricType type, ClientMetric& into, const ClientMetric& from) {
  switch (type) {
    case MetricType::Counter:
      into.counter.value += from.counter.value;
      break;
    case MetricType::Gauge:
      into.gauge.value += from.gauge.value;
      break;
    case MetricType::Histogram: {
      into.histogram.sample_count += from.histogram.sample_count;
      into.histogram.sample_sum += from.histogram.sample_sum;
      std::vector<ClientMetric::Bucket>& buckets = into.histogram.bucket;
      for (const ClientMetric::Bucket& bucket : from.histogram.bucket) {
        auto it = std::find_if(buckets.begin(), buckets.end(), [&](const ClientMetric::Bucket& b) {
          return b.upper_bound == bucket.upper_bound;
        });
        if (it != buckets.end()) {
          it->cumulative_count += bucket.cumulative_count;
        } else {
          buckets.push_back(bucket);
        }
      }
      break;
    }
    default:
      // Summaries and untyped values do not add up: the newest one stays.
      break;
  }
}

void MergeFamily(MetricFamily& into, const MetricFamily& from) {
  absl::flat_hash_map<std::string, size_t> index;
  for (size_t i = 0; i < into.metric.size(); ++i) index.emplace(LabelKey(into.metric[i]), i);
  for (const ClientMetric& metric : from.metric) {
    auto [it, added] = index.emplace(LabelKey(metric), into.metric.size());
    if (added) {
      into.metric.push_back(metric);
    } else {
      AddMetric(into.type, into.metric[it->second], metric);
    }
  }
}

}  // namespace

void MergeFamilies(std::vector<MetricFamily>& into, const std::vector<MetricFamily>& from) {
  for (const MetricFamily& family : from) {
    auto it = std::find_if(into.begin(), into.end(), [&](const MetricFamily& f) {
      return f.name == family.name && f.type == family.type;
    });
    if (it == into.end()) {
      into.push_back(family);
    } else {
      MergeFamily(*it, family);
    }
  }
}

void CumulativeCollector::Add(std::shared_ptr<prometheus::Collectable> live) {
  absl::MutexLock lock(&mu_);
  live_.push_back(std::move(live));
}

void CumulativeCollector::Retire(const std::shared_ptr<prometheus::Collectable>& retired) {
  std::vector<MetricFamily> final_counts = retired->Collect();
  // Gauges describe the present; a retired gateway has none.
  final_counts.erase(std::remove_if(final_counts.begin(), final_counts.end(),
                                    [](const MetricFamily& family) {
                                      return family.type != MetricType::Counter &&
                                             family.type != MetricType::Histogram;
                                    }),
                     final_counts.end());
  absl::MutexLock lock(&mu_);
  live_.erase(std::remove(live_.begin(), live_.end(), retired), live_.end());
  MergeFamilies(retired_, final_counts);
}

std::vector<MetricFamily> CumulativeCollector::Collect() const {
  std::vector<std::shared_ptr<prometheus::Collectable>> live;
  std::vector<MetricFamily> merged;
  {
    absl::MutexLock lock(&mu_);
    live = live_;
    merged = retired_;
  }
  for (const auto& collectable : live) MergeFamilies(merged, collectable->Collect());
  return merged;
}

}  // namespace polymesh::gateway
