#include "stats/cumulative_collector.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// A collectable with fixed families.
class Fixed : public prometheus::Collectable {
 public:
  explicit Fixed(std::vector<MetricFamily> families) : families_(std::move(families)) {}
  std::vector<MetricFamily> Collect() const override { return families_; }

 private:
  std::vector<MetricFamily> families_;
};

MetricFamily Counter(const std::string& name, const std::string& route, double value) {
  MetricFamily family;
  family.name = name;
  family.type = MetricType::Counter;
  ClientMetric metric;
  metric.label = {{"route", route}, {"code", "OK"}};
  metric.counter.value = value;
  family.metric.push_back(metric);
  return family;
}

MetricFamily Gauge(const std::string& name, double value) {
  MetricFamily family;
  family.name = name;
  family.type = MetricType::Gauge;
  ClientMetric metric;
  metric.gauge.value = value;
  family.metric.push_back(metric);
  return family;
}

MetricFamily Histogram(uint64_t below_one, uint64_t total, double sum) {
  MetricFamily family;
  family.name = "latency";
  family.type = MetricType::Histogram;
  ClientMetric metric;
  metric.histogram.sample_count = total;
  metric.histogram.sample_sum = sum;
  metric.histogram.bucket = {{below_one, 1.0}, {total, std::numeric_limits<double>::infinity()}};
  family.metric.push_back(metric);
  return family;
}

const MetricFamily* Find(const std::vector<MetricFamily>& families, const std::string& name) {
  for (const MetricFamily& family : families) {
    if (family.name == name) return &family;
  }
  return nullptr;
}

TEST(MergeFamiliesTest, SameLabelsInAnyOrderAddUpAndOthersAreAppended) {
  std::vector<MetricFamily> into = {Counter("calls", "ai", 2)};
  MetricFamily reordered = Counter("calls", "ai", 5);
  std::swap(reordered.metric[0].label[0], reordered.metric[0].label[1]);
  reordered.metric.push_back(Counter("calls", "users", 7).metric[0]);
  MergeFamilies(into, {reordered, Gauge("active", 3)});
  ASSERT_EQ(into.size(), 2u);
  ASSERT_EQ(into[0].metric.size(), 2u);
  EXPECT_EQ(into[0].metric[0].counter.value, 7);
  EXPECT_EQ(into[0].metric[1].counter.value, 7);
  EXPECT_EQ(into[0].metric[1].label[0].value, "users");
  EXPECT_EQ(into[1].metric[0].gauge.value, 3);
}

TEST(MergeFamiliesTest, HistogramsAddCountsSumsAndBuckets) {
  std::vector<MetricFamily> into = {Histogram(1, 2, 1.5)};
  MergeFamilies(into, {Histogram(3, 4, 2.0)});
  const ClientMetric::Histogram& merged = into[0].metric[0].histogram;
  EXPECT_EQ(merged.sample_count, 6u);
  EXPECT_DOUBLE_EQ(merged.sample_sum, 3.5);
  ASSERT_EQ(merged.bucket.size(), 2u);
  EXPECT_EQ(merged.bucket[0].cumulative_count, 4u);
  EXPECT_EQ(merged.bucket[1].cumulative_count, 6u);
}

TEST(CumulativeCollectorTest, RetiredCountersStayAndRetiredGaugesGo) {
  auto old_generation = std::make_shared<Fixed>(
      std::vector<MetricFamily>{Counter("calls", "ai", 10), Gauge("active", 4)});
  auto new_generation = std::make_shared<Fixed>(
      std::vector<MetricFamily>{Counter("calls", "ai", 1), Gauge("active", 1)});
  CumulativeCollector collector;
  collector.Add(old_generation);
  collector.Add(new_generation);
  // Both live: everything adds up.
  std::vector<MetricFamily> both = collector.Collect();
  EXPECT_EQ(Find(both, "calls")->metric[0].counter.value, 11);
  EXPECT_EQ(Find(both, "active")->metric[0].gauge.value, 5);

  collector.Retire(old_generation);
  std::vector<MetricFamily> after = collector.Collect();
  EXPECT_EQ(Find(after, "calls")->metric[0].counter.value, 11);
  EXPECT_EQ(Find(after, "active")->metric[0].gauge.value, 1);
}

}  // namespace
}  // namespace polymesh::gateway
