// Upstream clusters as one worker sees them: each cluster's endpoints, a
// round-robin cursor, and one lazily opened HTTP/2 connection per endpoint.
//
// One ClusterManager per worker thread, so picking a connection takes no
// lock. The reserved cluster "local" (the gateway's own services) is just
// another cluster here, with the embedded server's address as its endpoint.
//
// Usage:
//
//   // On the main thread, before workers start (it may block on DNS):
//   absl::StatusOr<std::vector<ClusterSpec>> specs =
//       ClusterSpecsFromConfig(config, local_port);
//   // On each worker:
//   ClusterManager clusters(loop, *specs);
//   UpstreamConnection* conn = clusters.Pick(route.cluster_index);
//   conn->Attach(&call);
#ifndef POLYMESH_GATEWAY_SRC_UPSTREAM_CLUSTER_H_
#define POLYMESH_GATEWAY_SRC_UPSTREAM_CLUSTER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "polymesh/gateway/v1/config.pb.h"
#include "upstream/upstream_connection.h"
#include "worker/event_loop.h"

namespace polymesh::gateway {

// A cluster's name and endpoints, shared read-only by every worker.
struct ClusterSpec {
  // The cluster's name.
  std::string name;
  // Its endpoints (with the cluster's connect timeout): one per address
  // that a configured endpoint's host name resolved to, in config order.
  std::vector<UpstreamEndpoint> endpoints;
};

// The clusters of `config`, in config order, then "local" when
// local_services is set (reached at `local_port`, the port the embedded
// server bound), matching Route::cluster_index.
//
// Every endpoint address is resolved here, once (ResolveHost(): it BLOCKS on
// DNS, so call this on the main thread, never on a worker): each numeric
// address of a host name becomes an endpoint, which keeps the configured
// name as its `host`. INVALID_ARGUMENT, naming the field
// (clusters[i].endpoints[j].address) and the name, when a name does not
// resolve: the configuration cannot be served as written.
absl::StatusOr<std::vector<ClusterSpec>> ClusterSpecsFromConfig(
    const v1::GatewayConfig& config, uint16_t local_port);

// One worker's connections to every cluster.
class ClusterManager {
 public:
  // Makes the manager; no connection is opened until a call needs one.
  ClusterManager(EventLoop& loop, const std::vector<ClusterSpec>& clusters);
  ~ClusterManager();
  ClusterManager(const ClusterManager&) = delete;
  ClusterManager& operator=(const ClusterManager&) = delete;

  // The connection for the next call to cluster `cluster_index`: the next
  // endpoint in round-robin order, its connection opened (or reopened after
  // a failure or GOAWAY) as needed. Never nullptr; a connection that failed
  // at once fails the Attach() made on it. When `avoid` is set (the
  // endpoint of a failed attempt), another endpoint is picked if the
  // cluster has one.
  UpstreamConnection* Pick(size_t cluster_index, const UpstreamEndpoint* avoid = nullptr);

  // The number of clusters.
  size_t size() const { return clusters_.size(); }
  // How many connections are open or opening (for tests).
  size_t connection_count() const { return connections_.size(); }

 private:
  struct ClusterState {
    const ClusterSpec* spec;
    size_t next = 0;
    std::vector<UpstreamConnection*> active;  // per endpoint
  };

  void OnClosed(Http2Connection* connection);

  EventLoop& loop_;
  std::vector<ClusterState> clusters_;
  absl::flat_hash_map<UpstreamConnection*, std::unique_ptr<UpstreamConnection>>
      connections_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_UPSTREAM_CLUSTER_H_
