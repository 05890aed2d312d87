// The route table: which cluster a gRPC call goes to, by its method path.
//
// Built once from the configuration and read-only afterwards, so every
// worker thread can share it without locks. Routes match a whole service
// ("pkg.Service") or one method ("pkg.Service/Method"); the first matching
// route in config order wins. A lookup is two hash probes.
//
// Usage:
//
//   RouteTable table(config);
//   const Route* route = table.Find("/polymesh.ai.v1.AIService/Predict");
//   if (route == nullptr) { /* answer UNIMPLEMENTED */ }
#ifndef POLYMESH_GATEWAY_SRC_ROUTING_ROUTE_TABLE_H_
#define POLYMESH_GATEWAY_SRC_ROUTING_ROUTE_TABLE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "polymesh/gateway/v1/config.pb.h"

namespace polymesh::gateway {

// One route of the table.
struct Route {
  // The route's name (for logs, spans and errors).
  std::string name;
  // The cluster its calls go to ("local" for the gateway's own services).
  std::string cluster;
  // The cluster's position: its index in the config's clusters, or the
  // number of clusters for "local" (see ClusterSpecsFromConfig).
  size_t cluster_index = 0;
  // The longest a call may last; absl::InfiniteDuration() when uncapped.
  absl::Duration timeout = absl::InfiniteDuration();
};

// Splits a gRPC path "/pkg.Service/Method" into service and method; false
// when `path` is not of that shape.
bool SplitGrpcPath(absl::string_view path, absl::string_view& service,
                   absl::string_view& method);

// The routes of a configuration, indexed for lookup by method path.
class RouteTable {
 public:
  // Builds the table from a validated configuration.
  explicit RouteTable(const v1::GatewayConfig& config);

  // The first route matching `path` ("/pkg.Service/Method"), or nullptr.
  const Route* Find(absl::string_view path) const;

  // Every route, in config order.
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
  // "pkg.Service/Method" -> index of the first route naming it.
  absl::flat_hash_map<std::string, size_t> by_method_;
  // "pkg.Service" -> index of the first route naming it.
  absl::flat_hash_map<std::string, size_t> by_service_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_ROUTING_ROUTE_TABLE_H_
