// The upstream control thread: one per gateway, off the workers. It
// resolves the clusters' host names again every dns_refresh_interval and
// publishes each changed endpoint set (UpstreamCluster::Publish), and runs
// the active health checks (HealthChecker). Workers never wait for it: they
// read what it writes through atomics. The lookups themselves (blocking
// getaddrinfo calls) run on a resolver thread of their own, started when
// some endpoint is a host name, so a slow DNS server never holds up the
// health checks; the control thread applies their results.
//
// Usage:
//
//   absl::StatusOr<std::unique_ptr<UpstreamControl>> control =
//       UpstreamControl::Start(clusters, SystemResolver());
//   ...
//   (*control)->Stop();   // cancels checks in flight, joins the thread
#ifndef POLYMESH_GATEWAY_SRC_UPSTREAM_UPSTREAM_CONTROL_H_
#define POLYMESH_GATEWAY_SRC_UPSTREAM_UPSTREAM_CONTROL_H_

#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "transport/event_loop.h"
#include "upstream/cluster.h"
#include "upstream/health_checker.h"

namespace polymesh::gateway {

// The running control thread.
class UpstreamControl {
 public:
  // Starts the thread for `clusters` (which outlive it), resolving host
  // names with `resolver`.
  static absl::StatusOr<std::unique_ptr<UpstreamControl>> Start(UpstreamClusters& clusters,
                                                                 HostResolver resolver);
  // Stops if Stop() was not called.
  ~UpstreamControl();
  UpstreamControl(const UpstreamControl&) = delete;
  UpstreamControl& operator=(const UpstreamControl&) = delete;

  // Cancels the health checks in flight and ends the threads (after the
  // lookup in progress, if any, returns). Idempotent.
  void Stop();

 private:
  struct ClusterControl;

  UpstreamControl(UpstreamClusters& clusters, HostResolver resolver,
                  std::unique_ptr<EventLoop> loop);
  void Run();
  // On the control thread: hands `control`'s lookup to the resolver thread.
  void Refresh(ClusterControl& control);
  // On the control thread: publishes what a lookup found, arms the next.
  void Apply(ClusterControl& control, std::shared_ptr<const EndpointSet> next,
             const std::vector<std::string>& errors);
  // The resolver thread: runs the lookups handed to it, one at a time.
  void Resolve();

  UpstreamClusters& clusters_;
  const HostResolver resolver_;
  std::unique_ptr<EventLoop> loop_;
  std::vector<std::unique_ptr<ClusterControl>> controls_;
  std::thread thread_;
  std::thread resolver_thread_;
  absl::Mutex mutex_;
  std::deque<ClusterControl*> lookups_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopped_ = false;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_UPSTREAM_UPSTREAM_CONTROL_H_
