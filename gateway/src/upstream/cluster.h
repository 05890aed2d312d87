// Upstream clusters: what every worker shares (UpstreamCluster: the
// cluster's settings and its current endpoint set, swapped whole by the
// control thread) and what each worker owns (ClusterManager: a connection
// pool per endpoint, the load balancer, the backoff after failed connects).
//
// The per-call path (ClusterManager::Pick) takes no lock and allocates
// nothing in the steady state: it compares the cluster's version with the
// one it last saw (one atomic load), reads each endpoint's health and
// ejection (atomics), and picks among the endpoints that are healthy and not
// ejected (in panic, when none is, among all of them).
//
// The reserved cluster "local" (the gateway's own services) is just another
// cluster here, with the embedded server's address as its endpoint.
//
// Usage:
//
//   // On the main thread, before workers start (it may block on DNS):
//   absl::StatusOr<std::vector<ClusterSpec>> specs =
//       ClusterSpecsFromConfig(config, local_port);
//   UpstreamClusters clusters = MakeUpstreamClusters(*specs, workers);
//   // On worker i:
//   ClusterManager manager(loop, clusters, i);
//   UpstreamConnection* conn = manager.Pick(route.cluster_index);
//   conn->Attach(&call);
#ifndef POLYMESH_GATEWAY_SRC_UPSTREAM_CLUSTER_H_
#define POLYMESH_GATEWAY_SRC_UPSTREAM_CLUSTER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "polymesh/gateway/v1/config.pb.h"
#include "stats/stats.h"
#include "transport/event_loop.h"
#include "upstream/endpoint_state.h"
#include "upstream/load_balancer.h"
#include "upstream/upstream_connection.h"

namespace polymesh::gateway {

// Resolves a host name to its numeric addresses (every A and AAAA record),
// like ResolveHost(), which is the default. Tests substitute records. May
// block: called on the main thread at start and on the control thread
// later, never on a worker.
using HostResolver =
    std::function<absl::StatusOr<std::vector<std::string>>(absl::string_view host)>;

// The system resolver (getaddrinfo, through ResolveHost()).
HostResolver SystemResolver();

// Active health checking of a cluster (the config's HealthCheck, defaults
// filled in).
struct HealthCheckPolicy {
  // Time between checks of one endpoint.
  absl::Duration interval = absl::Seconds(5);
  // How long one check may take.
  absl::Duration timeout = absl::Seconds(1);
  // Failed checks in a row that make a healthy endpoint unhealthy.
  uint32_t unhealthy_threshold = 3;
  // Passed checks in a row that make an unhealthy endpoint healthy (the
  // first check of a new endpoint makes it healthy at once when it passes).
  uint32_t healthy_threshold = 1;
  // The service name asked about ("" for the whole server).
  std::string service;
};

// An endpoint as configured: a host name or numeric address, and a port.
struct ConfiguredEndpoint {
  // As written in the config.
  std::string host;
  // The TCP port.
  uint16_t port = 0;
  // Whether `host` is a name that DNS may map to other addresses later
  // (false for a numeric address).
  bool refreshed = false;
};

// A cluster's settings and its endpoints as resolved at start; read-only.
struct ClusterSpec {
  // The cluster's name.
  std::string name;
  // Its endpoints as resolved at start (with the cluster's connect
  // timeout): one per address that a configured endpoint's host name
  // resolved to, in config order.
  std::vector<UpstreamEndpoint> endpoints;
  // The endpoints as configured, in config order.
  std::vector<ConfiguredEndpoint> configured;
  // How calls are spread.
  LoadBalancerPolicy load_balancing = LoadBalancerPolicy::kRoundRobin;
  // How long a connect may take.
  absl::Duration connect_timeout = absl::Seconds(1);
  // How often host names are resolved again.
  absl::Duration dns_refresh_interval = absl::Seconds(5);
  // The most connections each worker opens to one endpoint.
  uint32_t max_connections_per_endpoint = 4;
  // Active health checking; none when unset.
  std::optional<HealthCheckPolicy> health_check;
  // Outlier ejection.
  OutlierPolicy outlier;
  // TLS to the endpoints; nullptr: plaintext.
  std::shared_ptr<const UpstreamTlsSpec> tls;
};


// The clusters of `config`, in config order, then "local" when
// local_services is set (reached at `local_port`, the port the embedded
// server bound), matching Route::cluster_index.
//
// Every endpoint address is resolved here, once, with `resolver` (the
// system's BLOCKS on DNS, so call this on the main thread, never on a
// worker): each numeric address of a host name becomes an endpoint, which
// keeps the configured name as its `host`. INVALID_ARGUMENT, naming the
// field (clusters[i].endpoints[j].address) and the name, when a name does
// not resolve: the configuration cannot be served as written.
absl::StatusOr<std::vector<ClusterSpec>> ClusterSpecsFromConfig(
    const v1::GatewayConfig& config, uint16_t local_port,
    const HostResolver& resolver = SystemResolver());

// What changed between two endpoint lists, comparing (host, address, port).
struct EndpointDiff {
  // Indices into the new list of endpoints the old one lacks.
  std::vector<size_t> added;
  // Indices into the old list of endpoints the new one lacks.
  std::vector<size_t> removed;
  // Whether anything changed (added, removed or reordered).
  bool changed = false;
};

// Compares `before` with `after`.
EndpointDiff DiffEndpoints(const std::vector<UpstreamEndpoint>& before,
                           const std::vector<UpstreamEndpoint>& after);

// A cluster as every worker sees it. The endpoint set is replaced whole by
// the control thread (Publish()); workers pick the new one up at their next
// call (version() changed).
class UpstreamCluster {
 public:
  // The cluster of `spec`, its endpoints those resolved at start, counted
  // for `workers` workers. Endpoints start healthy, unless the cluster has
  // health checks: then they start unhealthy until their first check
  // passes (until then calls go to every endpoint, as in panic).
  UpstreamCluster(ClusterSpec spec, size_t workers);
  UpstreamCluster(const UpstreamCluster&) = delete;
  UpstreamCluster& operator=(const UpstreamCluster&) = delete;

  // The settings.
  const ClusterSpec& spec() const { return spec_; }
  // The current endpoint set (never nullptr).
  std::shared_ptr<const EndpointSet> endpoints() const {
    return endpoints_.load(std::memory_order_acquire);
  }
  // Bumped by every Publish(): a worker whose copy is older reloads.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  // Replaces the endpoint set (the control thread).
  void Publish(std::shared_ptr<const EndpointSet> endpoints);
  // How many workers the per-worker counts cover.
  size_t workers() const { return workers_; }
  // A new endpoint's state for this cluster (health and outlier policy).
  std::shared_ptr<EndpointState> MakeEndpoint(UpstreamEndpoint endpoint) const;

  // The cluster's event counters (connections, ejections, panics, health
  // checks); thread-safe.
  ClusterEventCounters& events() const { return *events_; }
  // Counts events into `events` (owned by the caller, which outlives the
  // cluster) instead of the cluster's own; before workers start.
  void set_events(ClusterEventCounters* events) { events_ = events; }

 private:
  const ClusterSpec spec_;
  const size_t workers_;
  std::atomic<std::shared_ptr<const EndpointSet>> endpoints_;
  std::atomic<uint64_t> version_{1};
  std::unique_ptr<ClusterEventCounters> own_events_;
  ClusterEventCounters* events_;
};

// Every cluster, in Route::cluster_index order.
using UpstreamClusters = std::vector<std::unique_ptr<UpstreamCluster>>;

// The clusters of `specs`, counted for `workers` workers.
UpstreamClusters MakeUpstreamClusters(const std::vector<ClusterSpec>& specs, size_t workers);

// Resolves the host names of `cluster` again with `resolver` and returns
// the next endpoint set: endpoints that stayed keep their state (health,
// ejection), new addresses get a fresh one. A name that fails to resolve
// keeps the addresses it had (its error is appended to `errors`). Returns
// nullptr when nothing changed.
std::shared_ptr<const EndpointSet> RefreshEndpoints(const UpstreamCluster& cluster,
                                                    const HostResolver& resolver,
                                                    std::vector<std::string>* errors);

// One worker's connections to every cluster.
class ClusterManager {
 public:
  // Makes the manager of worker `worker` (its index in the per-worker
  // counts); no connection is opened until a call needs one.
  ClusterManager(EventLoop& loop, const UpstreamClusters& clusters, size_t worker = 0);
  ~ClusterManager();
  ClusterManager(const ClusterManager&) = delete;
  ClusterManager& operator=(const ClusterManager&) = delete;

  // The connection for the next call to cluster `cluster_index`: an
  // endpoint chosen by the cluster's load balancing among those that are
  // healthy, not ejected and not in connect backoff on this worker (else
  // among all, a panic), then a connection of its pool (opened as needed).
  // Never nullptr; a connection that cannot be had fails the Attach() made
  // on it with refused=true. When `avoid` is set (the endpoint of a failed
  // attempt), another endpoint is picked if the cluster has one.
  UpstreamConnection* Pick(size_t cluster_index, const UpstreamEndpoint* avoid = nullptr);

  // The number of clusters.
  size_t size() const { return clusters_.size(); }
  // How many connections are open or opening (for tests).
  size_t connection_count() const { return connections_.size(); }

 private:
  class EndpointPool;
  struct WorkerCluster;

  void Refresh(WorkerCluster& cluster);
  void OnClosed(Http2Connection* connection);
  uint64_t NextRandom();

  EventLoop& loop_;
  const size_t worker_;
  uint64_t random_;
  std::vector<std::unique_ptr<WorkerCluster>> clusters_;
  // Every open or opening connection, and the pool it belongs to.
  absl::flat_hash_map<UpstreamConnection*, std::unique_ptr<UpstreamConnection>> connections_;
  absl::flat_hash_map<UpstreamConnection*, EndpointPool*> pool_of_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_UPSTREAM_CLUSTER_H_
