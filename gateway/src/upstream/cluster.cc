#include "upstream/cluster.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/socket.h"

namespace polymesh::gateway {

absl::StatusOr<std::vector<ClusterSpec>> ClusterSpecsFromConfig(
    const v1::GatewayConfig& config, uint16_t local_port) {
  std::vector<ClusterSpec> specs;
  for (int i = 0; i < config.clusters_size(); ++i) {
    const v1::Cluster& cluster = config.clusters(i);
    ClusterSpec& spec = specs.emplace_back();
    spec.name = cluster.name();
    absl::Duration connect_timeout = absl::Seconds(1);
    if (cluster.has_connect_timeout()) {
      connect_timeout = absl::Seconds(cluster.connect_timeout().seconds()) +
                        absl::Nanoseconds(cluster.connect_timeout().nanos());
    }
    for (int j = 0; j < cluster.endpoints_size(); ++j) {
      const v1::SocketAddress& endpoint = cluster.endpoints(j);
      // Resolved once, at start. Re-resolving over time (replicas of a
      // headless service coming and going) belongs here too, run off the
      // workers' threads, with each worker's ClusterManager then taking the
      // new endpoint list from its own event loop.
      absl::StatusOr<std::vector<std::string>> addresses = ResolveHost(endpoint.address());
      if (!addresses.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("clusters[", i, "].endpoints[", j, "].address: host name \"",
                         endpoint.address(), "\" does not resolve: ",
                         addresses.status().message()));
      }
      for (std::string& address : *addresses) {
        spec.endpoints.push_back(UpstreamEndpoint{
            cluster.name(), endpoint.address(), std::move(address),
            static_cast<uint16_t>(endpoint.port()), connect_timeout});
      }
    }
  }
  if (config.has_local_services()) {
    ClusterSpec& spec = specs.emplace_back();
    spec.name = "local";
    spec.endpoints.push_back(UpstreamEndpoint{"local", config.local_services().address(),
                                              config.local_services().address(),
                                              local_port, absl::Seconds(1)});
  }
  return specs;
}

ClusterManager::ClusterManager(EventLoop& loop, const std::vector<ClusterSpec>& clusters)
    : loop_(loop) {
  clusters_.reserve(clusters.size());
  for (const ClusterSpec& spec : clusters) {
    clusters_.push_back(ClusterState{&spec, 0, std::vector<UpstreamConnection*>(
                                                   spec.endpoints.size(), nullptr)});
  }
}

ClusterManager::~ClusterManager() {
  for (auto& [raw, connection] : connections_) connection->set_close_callback(nullptr);
}

UpstreamConnection* ClusterManager::Pick(size_t cluster_index,
                                         const UpstreamEndpoint* avoid) {
  ClusterState& cluster = clusters_[cluster_index];
  size_t endpoint = cluster.next;
  cluster.next = (cluster.next + 1) % cluster.active.size();
  if (avoid != nullptr && cluster.active.size() > 1) {
    const UpstreamEndpoint& picked = cluster.spec->endpoints[endpoint];
    if (picked.address == avoid->address && picked.port == avoid->port) {
      endpoint = cluster.next;
      cluster.next = (cluster.next + 1) % cluster.active.size();
    }
  }
  UpstreamConnection*& active = cluster.active[endpoint];
  if (active != nullptr && active->usable()) return active;
  std::unique_ptr<UpstreamConnection> connection =
      UpstreamConnection::Connect(loop_, cluster.spec->endpoints[endpoint]);
  UpstreamConnection* raw = connection.get();
  if (connection->closed()) {
    // Failed at once: it lives until the end of this iteration, long enough
    // to fail the caller's Attach().
    active = nullptr;
    loop_.DeferDelete(std::move(connection));
    return raw;
  }
  connection->set_close_callback([this](Http2Connection* closed) { OnClosed(closed); });
  connections_.emplace(raw, std::move(connection));
  active = raw;
  return raw;
}

void ClusterManager::OnClosed(Http2Connection* connection) {
  auto* upstream = static_cast<UpstreamConnection*>(connection);
  for (ClusterState& cluster : clusters_) {
    for (UpstreamConnection*& active : cluster.active) {
      if (active == upstream) active = nullptr;
    }
  }
  auto it = connections_.find(upstream);
  if (it == connections_.end()) return;
  loop_.DeferDelete(std::move(it->second));
  connections_.erase(it);
}

}  // namespace polymesh::gateway
