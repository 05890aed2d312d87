// A log-linear histogram of non-negative integers (latencies in
// nanoseconds), in the manner of HdrHistogram: every power of two is split
// into kSubBuckets equal buckets, so a recorded value is known within
// 1/kSubBuckets (< 0.8%) of itself over the whole 64-bit range, at a fixed
// cost of one array increment per value. Min, max, count and sum are exact.
//
// Usage:
//
//   LatencyHistogram histogram;
//   histogram.Record(latency_ns);
//   uint64_t p99 = histogram.ValueAtPercentile(99);   // within 0.8%, <= max()
//   total.Merge(histogram);                            // per-thread -> run
#ifndef POLYMESH_CLIENTS_CPP_SRC_HISTOGRAM_H_
#define POLYMESH_CLIENTS_CPP_SRC_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace polymesh::cli {

// Counts of values in log-linear buckets. Not thread-safe.
class LatencyHistogram {
 public:
  // Buckets per power of two: the relative precision is 1/kSubBuckets.
  static constexpr int kSubBucketBits = 7;
  // 128 buckets per power of two.
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;

  // Adds one value.
  void Record(uint64_t value);
  // Adds every value recorded in `other`.
  void Merge(const LatencyHistogram& other);
  // Forgets every value.
  void Clear();

  // How many values were recorded.
  uint64_t count() const { return count_; }
  // The smallest value recorded (0 when none).
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  // The largest value recorded (0 when none).
  uint64_t max() const { return max_; }
  // The mean of the values recorded (0 when none).
  double mean() const {
    return count_ == 0 ? 0 : static_cast<double>(sum_) / static_cast<double>(count_);
  }

  // The value below or at which `percentile` percent (0..100) of the
  // recorded values fall: the highest value of the bucket that holds the
  // value of that rank, and never more than max(). 0 when empty.
  uint64_t ValueAtPercentile(double percentile) const;

  // The bucket `value` falls in (exposed for tests).
  static uint64_t BucketIndex(uint64_t value);
  // The lowest value of bucket `index` (exposed for tests).
  static uint64_t BucketLowest(uint64_t index);
  // The highest value of bucket `index` (exposed for tests).
  static uint64_t BucketHighest(uint64_t index);

 private:
  std::vector<uint64_t> counts_;  // grown to the highest bucket used
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  // The sum wraps after 584 years of nanoseconds: good enough for a mean.
  uint64_t sum_ = 0;
};

}  // namespace polymesh::cli

#endif  // POLYMESH_CLIENTS_CPP_SRC_HISTOGRAM_H_
