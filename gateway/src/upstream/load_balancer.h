// The choice of one endpoint among candidates, per worker: round robin, or
// least request with the power of two choices (two candidates drawn at
// random, the one with fewer outstanding calls on this worker wins).
//
// The balancer only chooses; which endpoints are candidates (healthy, not
// ejected, else all of them in panic) is the ClusterManager's business. No
// allocation, no lock: one per worker and cluster.
//
// Usage:
//
//   LoadBalancer balancer(LoadBalancerPolicy::kLeastRequest, /*seed=*/worker);
//   uint32_t endpoint = balancer.Choose(candidates, [&](uint32_t i) {
//     return set.endpoints[i]->outstanding(worker);
//   });
#ifndef POLYMESH_GATEWAY_SRC_UPSTREAM_LOAD_BALANCER_H_
#define POLYMESH_GATEWAY_SRC_UPSTREAM_LOAD_BALANCER_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/types/span.h"

namespace polymesh::gateway {

// How a cluster spreads calls (the config's LoadBalancing).
enum class LoadBalancerPolicy {
  // Each candidate in turn.
  kRoundRobin,
  // The less busy of two random candidates.
  kLeastRequest,
};

// One worker's balancer for one cluster.
class LoadBalancer {
 public:
  // A balancer with `policy`, its random draws seeded with `seed`.
  LoadBalancer(LoadBalancerPolicy policy, uint64_t seed);

  // Returns one of `candidates` (endpoint indices; not empty).
  // `outstanding(i)` is endpoint i's outstanding calls on this worker (only
  // asked for least request).
  uint32_t Choose(absl::Span<const uint32_t> candidates,
                  absl::FunctionRef<int64_t(uint32_t)> outstanding);

  // The policy.
  LoadBalancerPolicy policy() const { return policy_; }

 private:
  uint64_t Next();

  const LoadBalancerPolicy policy_;
  uint64_t next_ = 0;
  uint64_t random_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_UPSTREAM_LOAD_BALANCER_H_
