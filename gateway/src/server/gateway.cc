#include "server/gateway.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "config/config_loader.h"
#include "config/contract_checks.h"
#include "config/tls_options.h"

namespace polymesh::gateway {

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(
    const v1::GatewayConfig& config, std::unique_ptr<observability::Tracer> tracer,
    std::shared_ptr<const ContractRegistry> contracts, HostResolver resolver) {
  GatewayOptions options;
  options.contracts = std::move(contracts);
  options.resolver = std::move(resolver);
  absl::StatusOr<std::unique_ptr<Gateway>> gateway = Start(
      config, std::shared_ptr<observability::Tracer>(std::move(tracer)), std::move(options));
  if (gateway.ok()) (*gateway)->owns_tracer_ = true;
  return gateway;
}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(
    const v1::GatewayConfig& config, std::shared_ptr<observability::Tracer> tracer,
    GatewayOptions options) {
  std::unique_ptr<Gateway> gateway(new Gateway());
  gateway->tracer_ = std::move(tracer);
  gateway->owns_tracer_ = false;
  std::shared_ptr<const ContractRegistry> contracts = std::move(options.contracts);
  if (contracts == nullptr && !config.contracts().descriptor_sets().empty()) {
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
        options.local_services_port != 0
            ? options.local_services_port
            : static_cast<uint16_t>(config.local_services().port()),
        std::move(local_options));
    if (!local.ok()) return local.status();
    gateway->local_services_ = std::move(*local);
    local_port = gateway->local_services_->port();
  }
  std::shared_ptr<const AuthProviders> auth = std::move(options.auth);
  if (auth == nullptr) {
    absl::StatusOr<std::shared_ptr<const AuthProviders>> loaded = LoadAuth(config);
    if (!loaded.ok()) return loaded.status();
    auth = std::move(*loaded);
  }
  gateway->routes_ = std::make_unique<RouteTable>(config, std::move(auth));
  // Host names are resolved here before any worker runs; later on the
  // upstream control thread.
  absl::StatusOr<std::vector<ClusterSpec>> clusters =
      ClusterSpecsFromConfig(config, local_port, options.resolver);
  if (!clusters.ok()) return clusters.status();
  gateway->clusters_ = std::move(*clusters);
  std::vector<std::string> route_names, cluster_names;
  for (const Route& route : gateway->routes_->routes()) route_names.push_back(route.name);
  for (const ClusterSpec& cluster : gateway->clusters_) cluster_names.push_back(cluster.name);
  const uint32_t workers = WorkerPool::EffectiveWorkers(config.workers());
  gateway->stats_ = std::make_shared<StatsStore>(std::move(route_names),
                                                 std::move(cluster_names), workers);
  gateway->upstreams_ = MakeUpstreamClusters(gateway->clusters_, workers);
  for (size_t i = 0; i < gateway->upstreams_.size(); ++i) {
    gateway->upstreams_[i]->set_events(&gateway->stats_->cluster_events(i));
  }
  if (options.access_log != nullptr) {
    gateway->access_log_ = options.access_log;
  } else if (config.has_access_log()) {
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
  shared.clusters = &gateway->upstreams_;
  shared.tracer = gateway->tracer_.get();
  std::optional<TlsListenerAddress> tls_address;
  if (config.has_tls_listener()) {
    // Each generation reads the files again: a reload picks up a new
    // certificate.
    const v1::ServerTls& tls = config.tls_listener().tls();
    absl::StatusOr<std::shared_ptr<const TlsContext>> context =
        TlsContext::CreateServer(ServerTlsOptions(tls));
    if (!context.ok()) return context.status();
    shared.tls = std::move(*context);
    tls_address = TlsListenerAddress{
        config.tls_listener().address().address(),
        options.tls_listener_port != 0
            ? options.tls_listener_port
            : static_cast<uint16_t>(config.tls_listener().address().port())};
  }
  absl::StatusOr<std::unique_ptr<WorkerPool>> worker_pool =
      WorkerPool::Start(config.has_listener() ? config.listener().address() : "",
                        options.listener_port != 0
                            ? options.listener_port
                            : static_cast<uint16_t>(config.listener().port()),
                        config.workers(), shared, tls_address);
  if (!worker_pool.ok()) return worker_pool.status();
  gateway->workers_ = std::move(*worker_pool);
  absl::StatusOr<std::unique_ptr<UpstreamControl>> control =
      UpstreamControl::Start(gateway->upstreams_, std::move(options.resolver));
  if (!control.ok()) return control.status();
  gateway->upstream_control_ = std::move(*control);
  if (gateway->local_services_ != nullptr) gateway->local_services_->SetServing(true);
  return gateway;
}

Gateway::~Gateway() { Stop(absl::ZeroDuration()); }

std::string Gateway::ClustersJson() const {
  // Names and addresses come from a validated configuration (cluster names,
  // IP addresses, RFC 1123 host names): nothing to escape.
  const std::vector<int64_t> active = stats_->ActivePerCluster();
  const absl::Time now = absl::Now();
  std::string out = "{\"clusters\":[";
  for (size_t i = 0; i < upstreams_.size(); ++i) {
    const UpstreamCluster& cluster = *upstreams_[i];
    const ClusterSpec& spec = cluster.spec();
    const std::shared_ptr<const EndpointSet> set = cluster.endpoints();
    bool panic = true;
    for (const auto& state : set->endpoints) panic = panic && !state->Usable(now);
    absl::StrAppend(
        &out, i > 0 ? "," : "", "{\"name\":\"", spec.name, "\",\"load_balancing\":\"",
        spec.load_balancing == LoadBalancerPolicy::kLeastRequest ? "LEAST_REQUEST"
                                                                 : "ROUND_ROBIN",
        "\",\"health_checked\":", spec.health_check.has_value() ? "true" : "false",
        ",\"outlier_detection\":", spec.outlier.enabled ? "true" : "false",
        ",\"panic\":", panic && !set->endpoints.empty() ? "true" : "false",
        ",\"outstanding_requests\":", active[i], ",\"endpoints\":[");
    for (size_t j = 0; j < set->endpoints.size(); ++j) {
      const EndpointState& state = *set->endpoints[j];
      const UpstreamEndpoint& endpoint = state.endpoint();
      const bool ejected = state.outlier().ejected(now);
      absl::StrAppend(&out, j > 0 ? "," : "", "{\"host\":\"", endpoint.host,
                      "\",\"address\":\"", endpoint.address, "\",\"port\":", endpoint.port,
                      ",\"healthy\":", state.healthy() ? "true" : "false",
                      ",\"ejected\":", ejected ? "true" : "false", ",\"ejected_until\":",
                      ejected ? absl::StrCat("\"", absl::FormatTime(absl::RFC3339_full,
                                                                     state.outlier().ejected_until(),
                                                                     absl::UTCTimeZone()),
                                             "\"")
                              : std::string("null"),
                      ",\"ejections\":", state.outlier().ejections(),
                      ",\"consecutive_failures\":", state.outlier().consecutive_failures(),
                      ",\"outstanding_requests\":", state.TotalOutstanding(),
                      ",\"connections\":", state.TotalConnections(), "}");
    }
    absl::StrAppend(&out, "]}");
  }
  absl::StrAppend(&out, "]}\n");
  return out;
}

void Gateway::Stop(absl::Duration grace) { Shutdown(grace, /*retiring=*/false); }

void Gateway::Retire(absl::Duration grace) { Shutdown(grace, /*retiring=*/true); }

void Gateway::BeginRetire(absl::Duration grace) {
  if (workers_ != nullptr && !stopped_) workers_->BeginStop(grace);
}

void Gateway::Shutdown(absl::Duration grace, bool retiring) {
  if (stopped_) return;
  stopped_ = true;
  if (local_services_ != nullptr && !retiring) local_services_->SetServing(false);
  if (workers_ != nullptr) workers_->Stop(grace);
  if (upstream_control_ != nullptr) upstream_control_->Stop();
  if (local_services_ != nullptr) local_services_->Shutdown();
  if (tracer_ != nullptr && owns_tracer_ && !retiring) tracer_->Shutdown();
  access_log_.reset();  // the last owner writes what the workers queued
}

}  // namespace polymesh::gateway
