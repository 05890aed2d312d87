// The gateway's worker threads: N workers listening on one address with
// SO_REUSEPORT, so the kernel spreads connections across them.
//
// Port 0 works: the first worker's socket is bound, the port the system
// chose is read back, and the other workers bind that same port. The same
// holds for the TLS listener, when there is one.
//
// Usage:
//
//   absl::StatusOr<std::unique_ptr<WorkerPool>> pool =
//       WorkerPool::Start("127.0.0.1", 0, /*workers=*/2, shared);
//   uint16_t port = (*pool)->port();
//   (*pool)->Stop(absl::Seconds(5));   // graceful: finish calls, then join
#ifndef POLYMESH_GATEWAY_SRC_WORKER_WORKER_POOL_H_
#define POLYMESH_GATEWAY_SRC_WORKER_WORKER_POOL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "worker/worker.h"

namespace polymesh::gateway {

// A second listening address, served with TLS.
struct TlsListenerAddress {
  std::string address;
  // 0: any free port.
  uint16_t port = 0;
};

// A running set of workers.
class WorkerPool {
 public:
  // How many workers a configured count means (0: one per core).
  static uint32_t EffectiveWorkers(uint32_t configured);
  // Binds `workers` listening sockets (0: one per core) on `address`:`port`
  // and starts a thread for each. UNAVAILABLE when the address cannot be
  // bound. With `tls` (and shared.tls set), every worker also listens there
  // and serves those connections with TLS; an empty `address` then means
  // TLS only.
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Start(
      absl::string_view address, uint16_t port, uint32_t workers, const WorkerShared& shared,
      const std::optional<TlsListenerAddress>& tls = std::nullopt);
  // Stops (with no grace period) if Stop() was not called.
  ~WorkerPool();

  // The port the workers listen on (the chosen one when 0 was asked for;
  // 0 when there is no plaintext listener).
  uint16_t port() const { return port_; }
  // The port of the TLS listener (0 when there is none).
  uint16_t tls_port() const { return tls_port_; }
  // How many workers run.
  size_t size() const { return workers_.size(); }

  // Stops accepting, lets calls in progress finish for up to `grace`, then
  // cancels the rest and joins every thread.
  void Stop(absl::Duration grace);
  // The first half of Stop(): returns once every worker has stopped
  // accepting and sent GOAWAY on its connections, so that from then on
  // clients open their new calls elsewhere. Stop() then waits for the rest.
  void BeginStop(absl::Duration grace);

 private:
  WorkerPool() = default;

  uint16_t port_ = 0;
  uint16_t tls_port_ = 0;
  bool draining_ = false;
  bool stopped_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_WORKER_WORKER_POOL_H_
