#include "upstream/endpoint_state.h"

#include <algorithm>
#include <utility>

namespace polymesh::gateway {

bool OutlierDetector::RecordFailure(absl::Time now) {
  if (!policy_.enabled || ejected(now)) return false;
  const uint32_t failures = failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (failures < policy_.consecutive_failures) return false;
  // Only the caller that resets the count ejects.
  uint32_t expected = failures;
  if (!failures_.compare_exchange_strong(expected, 0, std::memory_order_relaxed)) {
    return false;
  }
  ejections_.fetch_add(1, std::memory_order_relaxed);
  // The multiplier, less one per base_ejection_time since the last
  // ejection ended, plus this one.
  int64_t multiplier = multiplier_.load(std::memory_order_relaxed);
  const int64_t until = ejected_until_ns_.load(std::memory_order_acquire);
  if (multiplier > 0 && until != INT64_MIN) {
    const absl::Duration quiet = now - absl::FromUnixNanos(until);
    if (quiet > absl::ZeroDuration()) {
      absl::Duration unused;
      multiplier -= std::min(multiplier,
                             absl::IDivDuration(quiet, policy_.base_ejection_time, &unused));
    }
  }
  ++multiplier;
  multiplier_.store(static_cast<uint32_t>(multiplier), std::memory_order_relaxed);
  const absl::Duration length =
      std::min(policy_.base_ejection_time * multiplier, policy_.max_ejection_time);
  ejected_until_ns_.store(absl::ToUnixNanos(now + length), std::memory_order_release);
  return true;
}

absl::Time OutlierDetector::ejected_until() const {
  const int64_t until = ejected_until_ns_.load(std::memory_order_acquire);
  return until == INT64_MIN ? absl::InfinitePast() : absl::FromUnixNanos(until);
}

EndpointState::EndpointState(UpstreamEndpoint endpoint, size_t workers,
                             const OutlierPolicy& outlier, bool healthy)
    : endpoint_(std::move(endpoint)),
      workers_(std::max<size_t>(workers, 1)),
      healthy_(healthy),
      outlier_(outlier),
      per_worker_(new PerWorker[workers_]) {}

int64_t EndpointState::TotalOutstanding() const {
  int64_t total = 0;
  for (size_t i = 0; i < workers_; ++i) {
    total += per_worker_[i].outstanding.load(std::memory_order_relaxed);
  }
  return total;
}

int64_t EndpointState::TotalConnections() const {
  int64_t total = 0;
  for (size_t i = 0; i < workers_; ++i) {
    total += per_worker_[i].connections.load(std::memory_order_relaxed);
  }
  return total;
}

}  // namespace polymesh::gateway
