// A gateway whose configuration can be reloaded while it serves.
//
// A reload reads the configuration file again and, when it is valid and can
// be served, starts a new generation of the gateway (workers, routes,
// clusters) next to the running one: the new workers bind the same
// listener port (SO_REUSEPORT), so new connections reach them at once,
// while the old generation sends GOAWAY on its connections, lets its calls
// in progress finish (up to the drain timeout) and then stops. No call in
// progress is dropped. A configuration that does not load, does not pass
// the checks or cannot be served (an endpoint host name that does not
// resolve, a port that cannot be bound) is rejected: the running generation
// keeps serving, untouched. nginx reloads the same way, with processes.
//
// Metrics continue across generations (CumulativeCollector). The tracer
// and the admin listener belong to the process: changes to `tracing` and
// `admin` take effect at the next start, and a reload says so in its log.
//
// Usage:
//
//   absl::StatusOr<std::unique_ptr<ReloadingGateway>> gateway =
//       ReloadingGateway::Start(config_path, *config, tracer);
//   absl::Status reloaded = (*gateway)->Reload();   // on SIGHUP
//   (*gateway)->Stop();                              // on SIGTERM
#ifndef POLYMESH_GATEWAY_SRC_SERVER_RELOADING_GATEWAY_H_
#define POLYMESH_GATEWAY_SRC_SERVER_RELOADING_GATEWAY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "config/config_loader.h"
#include "observability/tracing.h"
#include "polymesh/gateway/v1/config.pb.h"
#include "prometheus/collectable.h"
#include "server/gateway.h"
#include "stats/cumulative_collector.h"

namespace polymesh::gateway {

// The gateway of one configuration file, reloadable. Reload() and Stop()
// are called from one thread; the accessors are thread-safe.
class ReloadingGateway {
 public:
  // Starts the first generation from `loaded`, loaded from `config_path`
  // by LoadConfigFileWithContracts (which Reload() calls again). `tracer`
  // may be nullptr (no spans); it is shut down by Stop().
  static absl::StatusOr<std::unique_ptr<ReloadingGateway>> Start(
      std::string config_path, const LoadedConfig& loaded,
      std::shared_ptr<observability::Tracer> tracer);
  ~ReloadingGateway();

  // Loads the configuration file again and, if it is valid and can be
  // served, switches to it; the previous generation drains in the
  // background. INVALID_ARGUMENT (the file's problem, with its position)
  // or another code (cannot start) when rejected: nothing changed then.
  absl::Status Reload();

  // Graceful stop of everything: health NOT_SERVING, no new connections,
  // calls in progress get the configuration's drain timeout; then the
  // tracer exports what it holds. Idempotent.
  void Stop();
  // The same with another drain timeout.
  void Stop(absl::Duration grace);

  // The running generation's configuration.
  v1::GatewayConfig config() const;
  // The running generation (valid until the next Reload()); for logs.
  const Gateway& current() const;
  // How many generations were started (1 before any reload).
  uint64_t generation() const;
  // The metrics of every generation, plus reload counters.
  std::shared_ptr<prometheus::Collectable> metrics() const { return metrics_; }
  // The running configuration as JSON (admin /config_dump).
  std::string ConfigJson() const;
  // The running generation's clusters as JSON (admin /clusters).
  std::string ClustersJson() const;

 private:
  class ReloadCounters;

  ReloadingGateway(std::string config_path, std::shared_ptr<observability::Tracer> tracer);
  void RetireInBackground(std::shared_ptr<Gateway> old, absl::Duration grace);

  const std::string config_path_;
  const std::shared_ptr<observability::Tracer> tracer_;
  // Reloads applied and rejected, and the generation number.
  const std::shared_ptr<ReloadCounters> counters_;
  // The generations' statistics and counters_.
  const std::shared_ptr<CumulativeCollector> metrics_;

  mutable absl::Mutex mu_;
  std::shared_ptr<Gateway> current_ ABSL_GUARDED_BY(mu_);
  v1::GatewayConfig config_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> retiring_;
  bool stopped_ = false;
};

// The drain timeout of `config` (drain_timeout, default 5s).
absl::Duration DrainTimeout(const v1::GatewayConfig& config);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_SERVER_RELOADING_GATEWAY_H_
