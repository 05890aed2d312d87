// A worker: one thread with its own event loop, its own SO_REUSEPORT
// listening socket (and one for TLS when configured), its own downstream
// connections and its own upstream
// connections. A call stays on the worker that accepted its connection, so
// the per-call path takes no lock.
//
// Usage (WorkerPool does this):
//
//   absl::StatusOr<std::unique_ptr<Worker>> worker =
//       Worker::Create(shared, std::move(listener));
//   (*worker)->Start();                        // runs the loop on a thread
//   (*worker)->Drain(absl::Seconds(5));        // stop accepting, finish calls
//   (*worker)->Join();
#ifndef POLYMESH_GATEWAY_SRC_WORKER_WORKER_H_
#define POLYMESH_GATEWAY_SRC_WORKER_WORKER_H_

#include <memory>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "observability/tracing.h"
#include "proxy/call.h"
#include "proxy/call_policies.h"
#include "proxy/downstream_connection.h"
#include "routing/route_table.h"
#include "stats/stats.h"
#include "transport/event_loop.h"
#include "transport/socket.h"
#include "transport/tls_context.h"
#include "upstream/cluster.h"

namespace polymesh::gateway {

// What every worker reads and nobody changes while they run.
struct WorkerShared {
  // The route table.
  const RouteTable* routes = nullptr;
  // The clusters, in Route::cluster_index order (their endpoint sets change
  // while workers run; see UpstreamCluster).
  const UpstreamClusters* clusters = nullptr;
  // The tracer (thread-safe), or nullptr for none.
  observability::Tracer* tracer = nullptr;
  // The statistics of every worker, or nullptr for none; worker i writes
  // stats->worker(i) only.
  StatsStore* stats = nullptr;
  // The access log (thread-safe), or nullptr for none.
  AccessLog* access_log = nullptr;
  // The limits; nullptr for the defaults.
  const CallLimits* limits = nullptr;
  // Streams open in the whole gateway; nullptr: not counted.
  std::atomic<int64_t>* active_streams = nullptr;
  // The TLS listener's context, or nullptr when there is no TLS listener.
  std::shared_ptr<const TlsContext> tls;
};

// One worker thread and everything it owns.
class Worker : public IoHandler {
 public:
  // Makes worker number `index` (its slot in per-worker counts), which
  // will accept on `listener` (a listening socket) when it is valid, and
  // with TLS (shared.tls) on `tls_listener` when that is valid.
  static absl::StatusOr<std::unique_ptr<Worker>> Create(const WorkerShared& shared,
                                                        ScopedFd listener,
                                                        WorkerStats* stats = nullptr,
                                                        size_t index = 0,
                                                        ScopedFd tls_listener = ScopedFd());
  ~Worker() override;

  // Starts the worker's thread.
  void Start();
  // Stops accepting, sends GOAWAY on every connection and lets calls finish;
  // the thread ends when none is left or `timeout` has passed (remaining
  // calls are then cancelled). Thread-safe. `started`, if given, is
  // notified once the worker stopped accepting and sent GOAWAY.
  void Drain(absl::Duration timeout, absl::Notification* started = nullptr);
  // Waits for the thread to end.
  void Join();

  // Accepts plaintext connections (IoHandler).
  void OnIoEvent(uint32_t events) override;

 private:
  // Accepts on the TLS listener.
  class TlsAcceptor : public IoHandler {
   public:
    explicit TlsAcceptor(Worker& worker) : worker_(worker) {}
    void OnIoEvent(uint32_t) override {
      worker_.Accept(worker_.tls_listener_, worker_.tls_.get());
    }

   private:
    Worker& worker_;
  };

  Worker(const WorkerShared& shared, std::unique_ptr<EventLoop> loop, ScopedFd listener,
         WorkerStats* stats, size_t index, ScopedFd tls_listener);
  void Run();
  // Accepts what waits on `listener`, with TLS when `tls` is not nullptr.
  void Accept(const ScopedFd& listener, const TlsContext* tls);
  void StartDrain(absl::Duration timeout);
  void OnConnectionClosed(Http2Connection* connection);

  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<ClusterManager> clusters_;
  std::vector<uint64_t> split_positions_;
  std::unique_ptr<CallPolicies> policies_;
  CallContext context_;
  ScopedFd listener_;
  ScopedFd tls_listener_;
  std::shared_ptr<const TlsContext> tls_;
  TlsAcceptor tls_acceptor_{*this};
  bool draining_ = false;
  Timer drain_timer_;
  absl::flat_hash_map<DownstreamConnection*, std::unique_ptr<DownstreamConnection>>
      connections_;
  std::thread thread_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_WORKER_WORKER_H_
