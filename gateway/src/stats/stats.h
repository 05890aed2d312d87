// Call statistics, kept per worker without locks and summed when scraped.
//
// Each worker owns one WorkerStats and is the only writer of it: counters
// are relaxed atomics bumped by one thread, so the call path takes no lock
// and shares no cache line with another worker. A scrape (the admin
// listener's /metrics, on its own thread) reads every worker's counters and
// sums them into Prometheus metric families, the way Envoy merges its
// thread-local stats.
//
// Usage:
//
//   StatsStore store(route_names, cluster_names, workers);
//   WorkerStats& mine = store.worker(i);         // given to worker i
//   mine.CallStarted();
//   mine.CallEnded(route_index, cluster_index, grpc_status, duration, in, out);
//   std::vector<prometheus::MetricFamily> families = store.Collect();
#ifndef POLYMESH_GATEWAY_SRC_STATS_STATS_H_
#define POLYMESH_GATEWAY_SRC_STATS_STATS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/time/time.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace polymesh::gateway {

// Upper bounds, in seconds, of the latency histogram buckets (+Inf is
// implied).
inline constexpr std::array<double, 16> kLatencyBucketBounds = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1,     2.5,   5,     10};

// The gRPC status codes 0..16; anything else is counted as UNKNOWN (2).
inline constexpr int kGrpcStatusCount = 17;

// The outcomes of a route's per-call policies (retries, mirroring, and the
// refusals of its access rule and rate limit), one
// counter each, exported as polymesh_gateway_<name>_total{route}.
enum class PolicyCounter {
  // A failed attempt was tried again under the route's retry policy.
  kRetry,
  // A retry was not made because the cluster's retry budget was spent.
  kRetryOverBudget,
  // A call failed with a retryable status on its last allowed attempt.
  kRetryExhausted,
  // A call sent more than buffer_bytes: its request was not kept for replay.
  kRetryBufferOverflow,
  // A refused stream was moved to another connection (any route).
  kTransparentRetry,
  // A copy of a call went to the mirror cluster.
  kMirrored,
  // A shadow call failed (a status other than OK, a reset, no connection).
  kMirrorFailed,
  // A shadow call was cancelled: it fell behind by more than its buffer, or
  // its call ended before the request was complete.
  kMirrorCancelled,
  // A call without a valid credential was refused (UNAUTHENTICATED).
  kUnauthenticated,
  // A caller the route does not admit was refused (PERMISSION_DENIED).
  kPermissionDenied,
  // A call over the route's rate limit was refused (RESOURCE_EXHAUSTED).
  kRateLimited,
};

// How many PolicyCounter values there are.
inline constexpr size_t kPolicyCounterCount = 11;

// A latency histogram written by one thread and read by others.
class LatencyHistogram {
 public:
  void Observe(absl::Duration latency);
  // Adds this histogram's counts to `out` (cumulative buckets).
  void AddTo(std::array<uint64_t, kLatencyBucketBounds.size() + 1>& buckets, uint64_t& count,
             double& sum_seconds) const;

 private:
  std::array<std::atomic<uint64_t>, kLatencyBucketBounds.size() + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

// The counters of calls that share a route or a cluster.
struct CallCounters {
  std::array<std::atomic<uint64_t>, kGrpcStatusCount> by_status{};
  LatencyHistogram latency;
  std::atomic<uint64_t> request_bytes{0};
  std::atomic<uint64_t> response_bytes{0};
  std::atomic<int64_t> active{0};
};

// Upstream events of one cluster. Any thread may count (relaxed atomic
// adds): these events are rare (connections, ejections, health checks),
// except panic picks, which happen per call only while a cluster has no
// usable endpoint.
struct ClusterEventCounters {
  // Upstream connections established / that failed to connect.
  std::atomic<uint64_t> connections_opened{0};
  std::atomic<uint64_t> connections_failed{0};
  // Endpoints ejected by outlier detection.
  std::atomic<uint64_t> ejections{0};
  // Calls routed to any endpoint because none was healthy and not ejected.
  std::atomic<uint64_t> panic_picks{0};
  // Active health checks that passed / failed.
  std::atomic<uint64_t> health_checks_passed{0};
  std::atomic<uint64_t> health_checks_failed{0};
  // Adds one to `counter`.
  static void Add(std::atomic<uint64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
  }
};

// One worker's statistics. Written by that worker only.
class WorkerStats {
 public:
  WorkerStats(size_t routes, size_t clusters);

  // A call arrived on a downstream stream.
  void CallStarted() { Bump(active_calls_, 1); }
  // The call was routed: it now counts as outstanding on its route and
  // cluster.
  void CallRouted(size_t route, size_t cluster);
  // The call ended. `route`/`cluster` are npos when it matched no route
  // (counted under route "none").
  void CallEnded(size_t route, size_t cluster, bool routed, int grpc_status,
                 absl::Duration duration, uint64_t request_bytes, uint64_t response_bytes);
  // One more of `counter` on route `route`.
  void CountPolicy(size_t route, PolicyCounter counter) {
    Bump(route_policies_[route][static_cast<size_t>(counter)], uint64_t{1});
  }
  // A downstream connection opened or closed.
  void ConnectionOpened();
  void ConnectionClosed() { Bump(active_connections_, -1); }

 private:
  friend class StatsStore;
  template <typename T>
  static void Bump(std::atomic<T>& value, std::type_identity_t<T> delta) {
    value.store(value.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }

  // Routes, then one extra entry for calls that matched no route.
  std::unique_ptr<CallCounters[]> routes_;
  std::unique_ptr<CallCounters[]> clusters_;
  // Per route: the PolicyCounter counts.
  std::unique_ptr<std::array<std::atomic<uint64_t>, kPolicyCounterCount>[]> route_policies_;
  std::atomic<int64_t> active_calls_{0};
  std::atomic<int64_t> active_connections_{0};
  std::atomic<uint64_t> connections_total_{0};
};

// Every worker's statistics, and their sum as Prometheus metrics.
class StatsStore : public prometheus::Collectable {
 public:
  // `routes` and `clusters` name the entries, in route and cluster index
  // order (the cluster list includes "local" if the gateway has one).
  StatsStore(std::vector<std::string> routes, std::vector<std::string> clusters,
             size_t workers);

  // Worker `index`'s statistics; the pointer is stable.
  WorkerStats& worker(size_t index) { return *workers_[index]; }
  size_t worker_count() const { return workers_.size(); }

  // The upstream event counters of cluster `index` (thread-safe; the
  // reference is stable).
  ClusterEventCounters& cluster_events(size_t index) { return cluster_events_[index]; }

  // Outstanding calls per cluster, summed over workers, in cluster order.
  std::vector<int64_t> ActivePerCluster() const;

  // The metric families, summed over workers (prometheus::Collectable).
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::vector<std::string> routes_;
  std::vector<std::string> clusters_;
  std::vector<std::unique_ptr<WorkerStats>> workers_;
  std::unique_ptr<ClusterEventCounters[]> cluster_events_;
};

// The process's own metrics (CPU seconds, resident and virtual memory, open
// files, start time), read from /proc/self, with the names Prometheus
// client libraries use.
class ProcessCollector : public prometheus::Collectable {
 public:
  ProcessCollector();
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double start_time_seconds_ = 0;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_STATS_STATS_H_
