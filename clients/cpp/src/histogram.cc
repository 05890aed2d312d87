#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace polymesh::cli {

// Values below 2 * kSubBuckets have a bucket each. Above, the value's
// highest bit sets the exponent e (the power of two it lies in) and the next
// kSubBucketBits bits pick one of the kSubBuckets buckets of that power:
// index = e * kSubBuckets + (value >> e), with value >> e in
// [kSubBuckets, 2 * kSubBuckets).
uint64_t LatencyHistogram::BucketIndex(uint64_t value) {
  const int width = std::bit_width(value);
  const int shift = std::max(0, width - (kSubBucketBits + 1));
  return static_cast<uint64_t>(shift) * kSubBuckets + (value >> shift);
}

uint64_t LatencyHistogram::BucketLowest(uint64_t index) {
  if (index < 2 * kSubBuckets) return index;
  const uint64_t shift = index / kSubBuckets - 1;
  return (index - shift * kSubBuckets) << shift;
}

uint64_t LatencyHistogram::BucketHighest(uint64_t index) {
  if (index < 2 * kSubBuckets) return index;
  const uint64_t shift = index / kSubBuckets - 1;
  const uint64_t mantissa = index - shift * kSubBuckets;
  // The last bucket ends at UINT64_MAX: compute without overflowing.
  return (mantissa << shift) + ((uint64_t{1} << shift) - 1);
}

void LatencyHistogram::Record(uint64_t value) {
  const uint64_t index = BucketIndex(value);
  if (index >= counts_.size()) counts_.resize(index + 1, 0);
  ++counts_[index];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  if (other.counts_.size() > counts_.size()) counts_.resize(other.counts_.size(), 0);
  for (size_t i = 0; i < other.counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::Clear() { *this = LatencyHistogram(); }

uint64_t LatencyHistogram::ValueAtPercentile(double percentile) const {
  if (count_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  // The rank of the value asked for, 1-based: the smallest recorded value
  // with at least `percentile` percent of the values at or below it.
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(percentile / 100.0 * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(BucketHighest(i), min_, max_);
  }
  return max_;
}

}  // namespace polymesh::cli
