// The whole gateway in one object: local services, route table, clusters,
// tracer and worker threads, started from a validated configuration and
// stopped gracefully.
//
// Usage:
//
//   absl::StatusOr<std::unique_ptr<Gateway>> gateway = Gateway::Start(config, tracer);
//   uint16_t port = (*gateway)->port();   // the bound listener port
//   ...
//   (*gateway)->Stop(absl::Seconds(5));   // NOT_SERVING, drain, join
#ifndef POLYMESH_GATEWAY_SRC_SERVER_GATEWAY_H_
#define POLYMESH_GATEWAY_SRC_SERVER_GATEWAY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "contracts/contract_registry.h"
#include "local/local_services.h"
#include "observability/tracing.h"
#include "polymesh/gateway/v1/config.pb.h"
#include "routing/route_table.h"
#include "stats/stats.h"
#include "upstream/cluster.h"
#include "upstream/upstream_control.h"
#include "worker/worker_pool.h"

namespace polymesh::gateway {

// How a gateway starts next to the one it replaces (configuration reload;
// see server/reloading_gateway.h). The defaults start a gateway on its own.
struct GatewayOptions {
  // When nonzero, the listener binds this port instead of the configured
  // one: the port the replaced gateway bound, which both then share
  // (SO_REUSEPORT) until the old one has drained.
  uint16_t listener_port = 0;
  // The same for the TLS listener's port.
  uint16_t tls_listener_port = 0;
  // The same for the local services' port.
  uint16_t local_services_port = 0;
  // The access log to write to instead of opening the configured path (the
  // replaced gateway's, when the path did not change), so that lines of the
  // two never interleave.
  std::shared_ptr<AccessLog> access_log;
  // The contracts the configuration names, as LoadConfigFileWithContracts
  // loaded them; when nullptr and the configuration names descriptor sets,
  // Start() loads those itself (not the contracts.reflection clusters':
  // asking them is the loader's). Server reflection answers from them.
  std::shared_ptr<const ContractRegistry> contracts;
  // The credential checkers, as LoadConfigFileWithContracts loaded them;
  // when nullptr, Start() reads the files of auth_providers itself.
  std::shared_ptr<const AuthProviders> auth;
  // Resolves endpoint host names (a test seam).
  HostResolver resolver = SystemResolver();
};

// A running gateway.
class Gateway {
 public:
  // Starts the local services (if configured), resolves the clusters'
  // endpoint host names with `resolver` (blocking, on the calling thread),
  // starts the upstream control thread (DNS refresh, health checks), then
  // the workers; reports SERVING once they run. `tracer` may be nullptr (no
  // spans); the gateway owns it and shuts it down in Stop(). INVALID_ARGUMENT
  // when the configuration cannot be served as written (an endpoint host
  // name that does not resolve, an access log that cannot be opened); other
  // codes when a socket or server cannot start. `contracts` are those the
  // configuration names, as LoadConfigFileWithContracts loaded them; when
  // nullptr and the configuration names some, Start loads them itself.
  // Server reflection answers from them.
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(
      const v1::GatewayConfig& config, std::unique_ptr<observability::Tracer> tracer,
      std::shared_ptr<const ContractRegistry> contracts = nullptr,
      HostResolver resolver = SystemResolver());
  // The same with `options`, and a tracer shared with other gateways: it is
  // not shut down by Stop() or Retire() (its owner does that).
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(
      const v1::GatewayConfig& config, std::shared_ptr<observability::Tracer> tracer,
      GatewayOptions options);
  // Stops with no grace period if Stop() was not called.
  ~Gateway();

  // The port the listener is bound to (0 when there is only a TLS one).
  uint16_t port() const { return workers_->port(); }
  // The port the TLS listener is bound to (0 when there is none).
  uint16_t tls_port() const { return workers_->tls_port(); }
  // The port of the local services (0 when there are none).
  uint16_t local_services_port() const {
    return local_services_ != nullptr ? local_services_->port() : 0;
  }
  // How many worker threads run.
  size_t worker_count() const { return workers_->size(); }
  // The route table.
  const RouteTable& routes() const { return *routes_; }
  // The contracts (nullptr when the configuration names none).
  const std::shared_ptr<const ContractRegistry>& contracts() const { return contracts_; }
  // The clusters with the endpoints resolved at start (see
  // ClusterSpecsFromConfig).
  const std::vector<ClusterSpec>& clusters() const { return clusters_; }
  // The clusters as the workers see them now (endpoint sets, health,
  // ejections).
  const UpstreamClusters& upstreams() const { return upstreams_; }
  // The call statistics of every worker (a prometheus::Collectable).
  std::shared_ptr<StatsStore> stats() const { return stats_; }
  // The clusters and their current endpoints, as JSON (for the admin
  // listener): per endpoint its address, health, ejection (until when, how
  // many times), outstanding calls and open connections. Thread-safe.
  std::string ClustersJson() const;

  // Graceful stop: health NOT_SERVING, no new connections, calls in
  // progress get up to `grace` to finish; then the local services stop and
  // the tracer exports what it holds. Idempotent.
  void Stop(absl::Duration grace);
  // Stop for a gateway that a newer one replaced: the same, except that
  // health stays SERVING (the newer gateway answers from now on) and the
  // tracer is left running. Idempotent.
  void Retire(absl::Duration grace);
  // The first half of Retire(): returns once no worker accepts connections
  // or new calls (GOAWAY sent), so new calls go to the newer gateway.
  void BeginRetire(absl::Duration grace);

  // The access log, shared (nullptr when none).
  std::shared_ptr<AccessLog> access_log() const { return access_log_; }

 private:
  Gateway() = default;
  void Shutdown(absl::Duration grace, bool retiring);

  std::shared_ptr<observability::Tracer> tracer_;
  bool owns_tracer_ = true;
  std::shared_ptr<const ContractRegistry> contracts_;
  std::unique_ptr<LocalServices> local_services_;
  std::unique_ptr<RouteTable> routes_;
  std::vector<ClusterSpec> clusters_;
  UpstreamClusters upstreams_;
  std::unique_ptr<UpstreamControl> upstream_control_;
  std::shared_ptr<StatsStore> stats_;
  std::shared_ptr<AccessLog> access_log_;
  CallLimits limits_;
  std::atomic<int64_t> active_streams_{0};
  std::unique_ptr<WorkerPool> workers_;
  bool stopped_ = false;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_SERVER_GATEWAY_H_
