#include "histogram.h"

#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace polymesh::cli {
namespace {

// The relative error the histogram promises.
constexpr double kPrecision = 1.0 / LatencyHistogram::kSubBuckets;

TEST(LatencyHistogramTest, EmptyIsAllZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.ValueAtPercentile(50), 0u);
  EXPECT_EQ(h.ValueAtPercentile(100), 0u);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram h;
  for (uint64_t v = 0; v < 256; ++v) h.Record(v);
  EXPECT_EQ(h.count(), 256u);
  EXPECT_EQ(h.ValueAtPercentile(50), 127u);
  EXPECT_EQ(h.ValueAtPercentile(100), 255u);
  EXPECT_EQ(h.ValueAtPercentile(0), 0u);
  EXPECT_DOUBLE_EQ(h.mean(), 127.5);
}

TEST(LatencyHistogramTest, BucketsTileTheRangeWithoutGaps) {
  for (uint64_t index = 1; index < 64 * LatencyHistogram::kSubBuckets - 1; ++index) {
    ASSERT_EQ(LatencyHistogram::BucketLowest(index), LatencyHistogram::BucketHighest(index - 1) + 1)
        << "bucket " << index;
  }
  for (uint64_t v : {uint64_t{0}, uint64_t{255}, uint64_t{256}, uint64_t{1000},
                     uint64_t{123456789}, UINT64_MAX}) {
    const uint64_t index = LatencyHistogram::BucketIndex(v);
    EXPECT_LE(LatencyHistogram::BucketLowest(index), v);
    EXPECT_GE(LatencyHistogram::BucketHighest(index), v);
  }
  EXPECT_EQ(LatencyHistogram::BucketHighest(LatencyHistogram::BucketIndex(UINT64_MAX)), UINT64_MAX);
}

TEST(LatencyHistogramTest, PercentilesOfAUniformRangeAreWithinPrecision) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 1000000; ++v) h.Record(v);
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const double exact = p / 100 * 1000000;
    const auto got = static_cast<double>(h.ValueAtPercentile(p));
    EXPECT_GE(got, exact) << "p" << p;
    EXPECT_LE(got, exact * (1 + kPrecision)) << "p" << p;
  }
  EXPECT_EQ(h.ValueAtPercentile(100), 1000000u);
  EXPECT_EQ(h.max(), 1000000u);
  EXPECT_EQ(h.min(), 1u);
}

TEST(LatencyHistogramTest, PercentilesMatchASortedSampleOfALongTail) {
  std::mt19937_64 random(42);
  std::lognormal_distribution<double> latency(11.0, 1.0);  // ~60 us median, in ns
  std::vector<uint64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 200000; ++i) {
    const auto v = static_cast<uint64_t>(latency(random));
    values.push_back(v);
    h.Record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const auto rank = static_cast<size_t>(std::ceil(p / 100 * values.size())) - 1;
    const auto exact = static_cast<double>(values[rank]);
    const auto got = static_cast<double>(h.ValueAtPercentile(p));
    EXPECT_GE(got, exact) << "p" << p;
    EXPECT_LE(got, exact * (1 + kPrecision)) << "p" << p;
  }
  EXPECT_EQ(h.max(), values.back());
}

TEST(LatencyHistogramTest, NeverReportsMoreThanTheMax) {
  LatencyHistogram h;
  h.Record(1000001);
  EXPECT_EQ(h.ValueAtPercentile(50), 1000001u);
  EXPECT_EQ(h.ValueAtPercentile(99.9), 1000001u);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram a, b, all;
  for (uint64_t v = 0; v < 5000; ++v) {
    (v % 3 == 0 ? a : b).Record(v * 977);
    all.Record(v * 977);
  }
  LatencyHistogram merged;
  merged.Merge(a);
  merged.Merge(b);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(merged.ValueAtPercentile(p), all.ValueAtPercentile(p)) << "p" << p;
  }
  merged.Clear();
  EXPECT_EQ(merged.count(), 0u);
  EXPECT_EQ(merged.ValueAtPercentile(50), 0u);
}

}  // namespace
}  // namespace polymesh::cli
