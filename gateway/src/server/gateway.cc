#include "server/gateway.h"

#include <utility>

namespace polymesh::gateway {

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(
    const v1::GatewayConfig& config, std::unique_ptr<observability::Tracer> tracer) {
  std::unique_ptr<Gateway> gateway(new Gateway());
  gateway->tracer_ = std::move(tracer);
  uint16_t local_port = 0;
  if (config.has_local_services()) {
    absl::StatusOr<std::unique_ptr<LocalServices>> local = LocalServices::Start(
        config.local_services().address(),
        static_cast<uint16_t>(config.local_services().port()));
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
  WorkerShared shared;
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

void Gateway::Stop(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  if (local_services_ != nullptr) local_services_->SetServing(false);
  if (workers_ != nullptr) workers_->Stop(grace);
  if (local_services_ != nullptr) local_services_->Shutdown();
  if (tracer_ != nullptr) tracer_->Shutdown();
}

}  // namespace polymesh::gateway
