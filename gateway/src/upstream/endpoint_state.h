// The state of one upstream endpoint that every worker shares: its health
// (active checks), its outlier ejection, and per-worker counts of calls and
// connections. Workers read it on the per-call path without locks: every
// field is an atomic, written by the control thread (health) or by the
// worker that observed a stream's outcome (outlier detection).
//
// A cluster's endpoints are published as an immutable EndpointSet; when DNS
// changes the set, the control thread publishes a new one in which the
// endpoints that stayed are the same EndpointState objects (their health
// and ejection carry over).
//
// Usage:
//
//   OutlierPolicy policy{.enabled = true, .consecutive_failures = 5};
//   auto state = std::make_shared<EndpointState>(endpoint, /*workers=*/4, policy,
//                                                /*healthy=*/true);
//   if (state->Usable(now)) ...                    // healthy and not ejected
//   state->outlier().RecordFailure(now);           // true when it ejected
//   state->AddOutstanding(worker, +1);             // worker-local count
#ifndef POLYMESH_GATEWAY_SRC_UPSTREAM_ENDPOINT_STATE_H_
#define POLYMESH_GATEWAY_SRC_UPSTREAM_ENDPOINT_STATE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "upstream/upstream_connection.h"

namespace polymesh::gateway {

// When an endpoint is ejected (the config's OutlierDetection, defaults
// filled in).
struct OutlierPolicy {
  // Whether outlier detection is on; when off, nothing is ever ejected.
  bool enabled = false;
  // Failures in a row that eject the endpoint.
  uint32_t consecutive_failures = 5;
  // The first ejection's length; an ejection lasts this times the
  // multiplier (see OutlierDetector).
  absl::Duration base_ejection_time = absl::Seconds(30);
  // The longest an ejection lasts.
  absl::Duration max_ejection_time = absl::Seconds(300);
};

// Consecutive-failure outlier detection of one endpoint. Lock-free and
// thread-safe: any worker may record outcomes. Time is passed in (the
// caller's clock), so tests drive it.
//
// An ejection lasts base_ejection_time times a multiplier, at most
// max_ejection_time. The multiplier goes up by one with each ejection and
// down by one for each base_ejection_time the endpoint then spends without
// being ejected (as Envoy's does): an endpoint that keeps failing stays out
// longer and longer, one that failed once long ago starts again from the
// base.
class OutlierDetector {
 public:
  // Detection under `policy` (copied).
  explicit OutlierDetector(const OutlierPolicy& policy) : policy_(policy) {}

  // A call succeeded: the failure count starts again from zero.
  void RecordSuccess() {
    // Read first so that the common case writes nothing to a shared line.
    if (failures_.load(std::memory_order_relaxed) != 0) {
      failures_.store(0, std::memory_order_relaxed);
    }
  }
  // A call failed (UNAVAILABLE, a reset, a refused connection) at `now`.
  // Returns true when this failure ejected the endpoint (exactly one caller
  // sees true per ejection). Failures while ejected are not counted.
  bool RecordFailure(absl::Time now);
  // Whether the endpoint is ejected at `now`.
  bool ejected(absl::Time now) const {
    return absl::ToUnixNanos(now) < ejected_until_ns_.load(std::memory_order_acquire);
  }
  // When the last ejection ends (absl::InfinitePast() when never ejected).
  absl::Time ejected_until() const;
  // How many times the endpoint was ejected.
  uint32_t ejections() const { return ejections_.load(std::memory_order_relaxed); }
  // The multiplier of the last ejection's length.
  uint32_t multiplier() const { return multiplier_.load(std::memory_order_relaxed); }
  // Failures in a row so far.
  uint32_t consecutive_failures() const { return failures_.load(std::memory_order_relaxed); }
  // The policy.
  const OutlierPolicy& policy() const { return policy_; }

 private:
  const OutlierPolicy policy_;
  std::atomic<uint32_t> failures_{0};
  std::atomic<uint32_t> ejections_{0};
  // Written only by the caller that ejects (one at a time: the endpoint is
  // ejected until the next can).
  std::atomic<uint32_t> multiplier_{0};
  std::atomic<int64_t> ejected_until_ns_{INT64_MIN};
};

// One endpoint's shared state.
class EndpointState {
 public:
  // The state of `endpoint` for `workers` workers; `healthy` is the health
  // it starts with (false when active checks must pass first).
  EndpointState(UpstreamEndpoint endpoint, size_t workers, const OutlierPolicy& outlier,
                bool healthy);
  EndpointState(const EndpointState&) = delete;
  EndpointState& operator=(const EndpointState&) = delete;

  // Where the endpoint is.
  const UpstreamEndpoint& endpoint() const { return endpoint_; }

  // Whether the active health check takes the endpoint as healthy.
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  // Sets the health (the health checker, on the control thread).
  void set_healthy(bool healthy) { healthy_.store(healthy, std::memory_order_relaxed); }
  // The outlier detection.
  OutlierDetector& outlier() { return outlier_; }
  const OutlierDetector& outlier() const { return outlier_; }
  // Whether the endpoint may get calls at `now`: healthy and not ejected.
  bool Usable(absl::Time now) const { return healthy() && !outlier_.ejected(now); }

  // Calls outstanding on the endpoint from worker `worker` (written by
  // that worker only; what least-request compares).
  int64_t outstanding(size_t worker) const {
    return per_worker_[worker].outstanding.load(std::memory_order_relaxed);
  }
  // Adds `delta` to worker `worker`'s outstanding calls (that worker only).
  void AddOutstanding(size_t worker, int64_t delta) {
    auto& value = per_worker_[worker].outstanding;
    value.store(value.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }
  // Adds `delta` to worker `worker`'s open connections (that worker only).
  void AddConnections(size_t worker, int64_t delta) {
    auto& value = per_worker_[worker].connections;
    value.store(value.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }
  // Outstanding calls summed over workers (for the admin listener).
  int64_t TotalOutstanding() const;
  // Open connections summed over workers (for the admin listener).
  int64_t TotalConnections() const;
  // How many workers the counts cover.
  size_t workers() const { return workers_; }

 private:
  struct alignas(64) PerWorker {
    std::atomic<int64_t> outstanding{0};
    std::atomic<int64_t> connections{0};
  };

  const UpstreamEndpoint endpoint_;
  const size_t workers_;
  std::atomic<bool> healthy_;
  OutlierDetector outlier_;
  std::unique_ptr<PerWorker[]> per_worker_;
};

// A cluster's endpoints at one moment: immutable once published.
struct EndpointSet {
  // The endpoints, in config order (each host name's addresses in the
  // order DNS gave them).
  std::vector<std::shared_ptr<EndpointState>> endpoints;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_UPSTREAM_ENDPOINT_STATE_H_
