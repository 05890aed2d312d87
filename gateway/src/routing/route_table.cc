#include "routing/route_table.h"

#include <algorithm>

namespace polymesh::gateway {

bool SplitGrpcPath(absl::string_view path, absl::string_view& service,
                   absl::string_view& method) {
  if (path.size() < 4 || path[0] != '/') return false;
  path.remove_prefix(1);
  const size_t slash = path.find('/');
  if (slash == absl::string_view::npos || slash == 0 || slash + 1 == path.size() ||
      path.find('/', slash + 1) != absl::string_view::npos) {
    return false;
  }
  service = path.substr(0, slash);
  method = path.substr(slash + 1);
  return true;
}

RouteTable::RouteTable(const v1::GatewayConfig& config) {
  absl::flat_hash_map<absl::string_view, size_t> clusters;
  for (int i = 0; i < config.clusters_size(); ++i) {
    clusters.try_emplace(config.clusters(i).name(), i);
  }
  routes_.reserve(config.routes_size());
  for (const auto& route : config.routes()) {
    const size_t index = routes_.size();
    Route& entry = routes_.emplace_back();
    entry.name = route.name();
    entry.cluster = route.cluster();
    auto cluster = clusters.find(route.cluster());
    entry.cluster_index =
        cluster == clusters.end() ? config.clusters_size() : cluster->second;
    const auto& timeout = route.timeout();
    if (timeout.seconds() > 0 || timeout.nanos() > 0) {
      entry.timeout = absl::Seconds(timeout.seconds()) + absl::Nanoseconds(timeout.nanos());
    }
    if (route.match().has_service()) {
      by_service_.try_emplace(route.match().service(), index);
    } else if (route.match().has_method()) {
      absl::string_view method = route.match().method();
      if (!method.empty() && method[0] == '/') method.remove_prefix(1);
      by_method_.try_emplace(std::string(method), index);
    }
  }
}

const Route* RouteTable::Find(absl::string_view path) const {
  absl::string_view service;
  absl::string_view method;
  if (!SplitGrpcPath(path, service, method)) return nullptr;
  size_t best = routes_.size();
  if (auto it = by_method_.find(path.substr(1)); it != by_method_.end()) {
    best = it->second;
  }
  if (auto it = by_service_.find(service); it != by_service_.end()) {
    best = std::min(best, it->second);
  }
  return best < routes_.size() ? &routes_[best] : nullptr;
}

}  // namespace polymesh::gateway
