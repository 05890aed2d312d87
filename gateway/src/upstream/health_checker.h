// Active health checks of one cluster's endpoints with
// grpc.health.v1.Health/Check, run off the data path on the control
// thread's event loop (see UpstreamControl).
//
// Each endpoint has its own grpc::Channel (the gRPC C++ client); a check is
// an asynchronous unary call whose completion is posted back to the control
// loop, which applies the thresholds and stores the endpoint's health in
// its EndpointState (an atomic the workers read). Checks of one endpoint
// never overlap: the next starts `interval` after the previous ended.
//
// Usage (on the control loop's thread):
//
//   HealthChecker checker(loop, cluster);   // cluster.spec().health_check set
//   checker.Sync();                         // after every new endpoint set
//   ...
//   checker.Cancel();                       // stopping: cancel checks in flight
//   // after the loop's thread has ended:
//   checker.WaitForChecks();
#ifndef POLYMESH_GATEWAY_SRC_UPSTREAM_HEALTH_CHECKER_H_
#define POLYMESH_GATEWAY_SRC_UPSTREAM_HEALTH_CHECKER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "transport/event_loop.h"
#include "upstream/cluster.h"

namespace polymesh::gateway {

// The threshold logic of one endpoint's health, fed one check result at a
// time. Starts unhealthy; the first check that passes makes it healthy at
// once (as Envoy does), afterwards healthy_threshold passes in a row do;
// unhealthy_threshold failures in a row make it unhealthy.
class HealthState {
 public:
  // Thresholds from `policy`.
  explicit HealthState(const HealthCheckPolicy& policy)
      : healthy_threshold_(policy.healthy_threshold),
        unhealthy_threshold_(policy.unhealthy_threshold) {}

  // Records one check; returns the health after it.
  bool Observe(bool passed);
  // The current health.
  bool healthy() const { return healthy_; }

 private:
  const uint32_t healthy_threshold_;
  const uint32_t unhealthy_threshold_;
  bool healthy_ = false;
  bool checked_ = false;
  uint32_t passes_ = 0;
  uint32_t failures_ = 0;
};

// The HealthCheckRequest message for `service`, serialized.
std::string EncodeHealthCheckRequest(absl::string_view service);
// The `status` field of a serialized HealthCheckResponse (1 is SERVING);
// INVALID_ARGUMENT when the bytes do not parse.
absl::StatusOr<int> DecodeHealthCheckStatus(absl::string_view response);

// The checks of one cluster's endpoints.
class HealthChecker {
 public:
  // Checks the endpoints of `cluster` (which has a health check policy) on
  // `loop`; both outlive the checker. Call Sync() to start.
  HealthChecker(EventLoop& loop, UpstreamCluster& cluster);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Starts checking endpoints new in the cluster's current set and stops
  // checking those that left it. On the loop's thread.
  void Sync();
  // Cancels the checks in flight and starts no more. On the loop's thread.
  void Cancel();
  // Blocks until no check is in flight (after the loop stopped). Any thread.
  void WaitForChecks();

 private:
  struct Target;
  struct InFlight;

  void StartCheck(Target& target);
  void OnCheckDone(uint64_t id, bool passed, const std::string& detail);

  EventLoop& loop_;
  UpstreamCluster& cluster_;
  const HealthCheckPolicy policy_;
  const std::string request_;
  uint64_t next_id_ = 1;
  bool cancelled_ = false;
  absl::flat_hash_map<const EndpointState*, uint64_t> ids_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Target>> targets_;

  // Shared with the gRPC completion callbacks.
  struct Completions {
    absl::Mutex mutex;
    int in_flight ABSL_GUARDED_BY(mutex) = 0;
    bool closed ABSL_GUARDED_BY(mutex) = false;
  };
  std::shared_ptr<Completions> completions_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_UPSTREAM_HEALTH_CHECKER_H_
