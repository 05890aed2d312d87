// What the per-call policies of one worker share: the retry budget's counts
// per cluster, the random source of backoff jitter, each route's place in
// its mirror cycle, and the shadow calls (mirrored copies) still running.
//
// One CallPolicies per worker, used from its thread only, so nothing here
// takes a lock. The retry budget is per worker too: retries in progress on
// a cluster may be at most budget_percent of the worker's calls in progress
// on it, with min_retry_concurrency always allowed (Envoy's retry budget).
//
// Usage (what a Call does):
//
//   policies.CallStarted(cluster);
//   if (policies.TakeRetry(cluster, spec)) {
//     timer.Enable(policies.Backoff(spec, retry_number));
//     ...                                // the retry attempt ends:
//     policies.ReleaseRetry(cluster);
//   }
//   policies.CallEnded(cluster);
#ifndef POLYMESH_GATEWAY_SRC_PROXY_CALL_POLICIES_H_
#define POLYMESH_GATEWAY_SRC_PROXY_CALL_POLICIES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/time/time.h"
#include "routing/route_table.h"
#include "transport/event_loop.h"

namespace polymesh::gateway {

class ShadowCall;

// Transparent retries of refused streams per call, beyond its attempts.
inline constexpr uint32_t kMaxTransparentRetries = 3;

// One worker's shared policy state.
class CallPolicies {
 public:
  // For `routes` routes and `clusters` clusters, on `loop`.
  CallPolicies(EventLoop& loop, size_t routes, size_t clusters);
  // Shadows still running are destroyed without ending cleanly: call
  // CancelShadows() first, while the upstream connections exist.
  ~CallPolicies();
  CallPolicies(const CallPolicies&) = delete;
  CallPolicies& operator=(const CallPolicies&) = delete;

  // A call to `cluster` started or ended (the budget's denominator).
  void CallStarted(size_t cluster) { ++loads_[cluster].calls; }
  void CallEnded(size_t cluster) { --loads_[cluster].calls; }

  // Takes a slot for one retry on `cluster` when the budget allows it;
  // false when over budget.
  bool TakeRetry(size_t cluster, const RetrySpec& spec);
  // Gives back a slot TakeRetry() took (the retry attempt ended).
  void ReleaseRetry(size_t cluster) { --loads_[cluster].retries; }
  // Retries in progress on `cluster` (for tests).
  int64_t retries_in_progress(size_t cluster) const { return loads_[cluster].retries; }

  // The wait before retry number `retry` (1 for the first): uniform in
  // [0, min(max_backoff, base_backoff * 2^(retry-1))] (full jitter).
  absl::Duration Backoff(const RetrySpec& spec, uint32_t retry);

  // Whether the next call of route `route` is copied to its mirror: exactly
  // `percent` of every 100 calls, evenly spread (deterministic, like a
  // weighted split).
  bool MirrorNext(size_t route, uint32_t percent);

  // Keeps `shadow` alive until it calls Release(); returns it.
  ShadowCall* Adopt(std::unique_ptr<ShadowCall> shadow);
  // A shadow finished: it is deleted at the end of the loop iteration.
  void Release(ShadowCall* shadow);
  // Cancels every shadow still running (the worker is stopping).
  void CancelShadows();
  // How many shadows are running.
  size_t shadow_count() const { return shadows_.size(); }

 private:
  struct ClusterLoad {
    int64_t calls = 0;
    int64_t retries = 0;
  };

  EventLoop& loop_;
  std::vector<ClusterLoad> loads_;
  std::vector<uint64_t> mirror_positions_;
  absl::InsecureBitGen random_;
  absl::flat_hash_map<ShadowCall*, std::unique_ptr<ShadowCall>> shadows_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_PROXY_CALL_POLICIES_H_
