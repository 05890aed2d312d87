#include "server/gateway.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "config/contract_checks.h"

namespace polymesh::gateway {

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(
    const v1::GatewayConfig& config, std::unique_ptr<observability::Tracer> tracer,
    std::shared_ptr<const ContractRegistry> contracts) {
  std::unique_ptr<Gateway> gateway(new Gateway());
  gateway->tracer_ = std::move(tracer);
  if (contracts == nullptr && config.has_contracts()) {
    const auto& paths = config.contracts().descriptor_sets();
    absl::StatusOr<std::unique_ptr<ContractRegistry>> loaded =
        ContractRegistry::FromDescriptorSetFiles({paths.begin(), paths.end()});
    if (!loaded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("contracts: ", loaded.status().message()));
    }
    contracts = std::move(*loaded);
  }
  gateway->contracts_ = std::move(contracts);
  uint16_t local_port = 0;
  if (config.has_local_services()) {
    LocalServicesOptions local_options;
    if (gateway->contracts_ != nullptr) {
      local_options.contracts = gateway->contracts_;
      for (const auto* service : RoutedServices(config, *gateway->contracts_)) {
        local_options.reflected_services.push_back(service->full_name());
      }
    }
    absl::StatusOr<std::unique_ptr<LocalServices>> local = LocalServices::Start(
        config.local_services().address(),
        static_cast<uint16_t>(config.local_services().port()), std::move(local_options));
    if (!local.ok()) return local.status();
    gateway->local_services_ = std::move(*local);
    local_port = gateway->local_services_->port();
  }
  gateway->routes_ = std::make_unique<RouteTable>(config);
  // Host names are resolved here, once, before any worker runs.
  absl::StatusOr<std::vector<ClusterSpec>> clusters =
      ClusterSpecsFromConfig(config, local_port);
  if (!clusters.ok()) return clusters.status();
  gateway->clusters_ = std::move(*clusters);
  std::vector<std::string> route_names, cluster_names;
  for (const Route& route : gateway->routes_->routes()) route_names.push_back(route.name);
  for (const ClusterSpec& cluster : gateway->clusters_) cluster_names.push_back(cluster.name);
  gateway->stats_ = std::make_shared<StatsStore>(
      std::move(route_names), std::move(cluster_names),
      WorkerPool::EffectiveWorkers(config.workers()));
  if (config.has_access_log()) {
    absl::StatusOr<std::unique_ptr<AccessLog>> access_log =
        AccessLog::Open(config.access_log().path());
    if (!access_log.ok()) return access_log.status();
    gateway->access_log_ = std::move(*access_log);
  }
  const v1::Limits& limits = config.limits();
  if (limits.max_request_message_bytes() > 0) {
    gateway->limits_.max_request_message_bytes = limits.max_request_message_bytes();
  }
  if (limits.max_response_message_bytes() > 0) {
    gateway->limits_.max_response_message_bytes = limits.max_response_message_bytes();
  }
  if (limits.max_concurrent_streams_per_connection() > 0) {
    gateway->limits_.max_concurrent_streams_per_connection =
        limits.max_concurrent_streams_per_connection();
  }
  if (limits.max_active_streams() > 0) {
    gateway->limits_.max_active_streams = limits.max_active_streams();
  }
  WorkerShared shared;
  shared.limits = &gateway->limits_;
  shared.active_streams = &gateway->active_streams_;
  shared.stats = gateway->stats_.get();
  shared.access_log = gateway->access_log_.get();
  shared.routes = gateway->routes_.get();
  shared.clusters = &gateway->clusters_;
  shared.tracer = gateway->tracer_.get();
  absl::StatusOr<std::unique_ptr<WorkerPool>> workers =
      WorkerPool::Start(config.listener().address(),
                        static_cast<uint16_t>(config.listener().port()), config.workers(),
                        shared);
  if (!workers.ok()) return workers.status();
  gateway->workers_ = std::move(*workers);
  if (gateway->local_services_ != nullptr) gateway->local_services_->SetServing(true);
  return gateway;
}

Gateway::~Gateway() { Stop(absl::ZeroDuration()); }

std::string Gateway::ClustersJson() const {
  // Names and addresses come from a validated configuration (cluster names,
  // IP addresses, RFC 1123 host names): nothing to escape.
  const std::vector<int64_t> active = stats_->ActivePerCluster();
  std::string out = "{\"clusters\":[";
  for (size_t i = 0; i < clusters_.size(); ++i) {
    const ClusterSpec& cluster = clusters_[i];
    absl::StrAppend(&out, i > 0 ? "," : "", "{\"name\":\"", cluster.name,
                    "\",\"outstanding_requests\":", active[i], ",\"endpoints\":[");
    for (size_t j = 0; j < cluster.endpoints.size(); ++j) {
      const UpstreamEndpoint& endpoint = cluster.endpoints[j];
      absl::StrAppend(&out, j > 0 ? "," : "", "{\"host\":\"", endpoint.host,
                      "\",\"address\":\"", endpoint.address, "\",\"port\":", endpoint.port,
                      "}");
    }
    absl::StrAppend(&out, "]}");
  }
  absl::StrAppend(&out, "]}\n");
  return out;
}

void Gateway::Stop(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  if (local_services_ != nullptr) local_services_->SetServing(false);
  if (workers_ != nullptr) workers_->Stop(grace);
  if (local_services_ != nullptr) local_services_->Shutdown();
  if (tracer_ != nullptr) tracer_->Shutdown();
  access_log_.reset();  // writes what the workers queued
}

}  // namespace polymesh::gateway
