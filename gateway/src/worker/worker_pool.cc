#include "worker/worker_pool.h"

#include <algorithm>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"

namespace polymesh::gateway {

absl::StatusOr<std::unique_ptr<WorkerPool>> WorkerPool::Start(
    absl::string_view address, uint16_t port, uint32_t workers, const WorkerShared& shared,
    const std::optional<TlsListenerAddress>& tls) {
  workers = EffectiveWorkers(workers);
  std::unique_ptr<WorkerPool> pool(new WorkerPool());
  std::vector<ScopedFd> listeners;
  std::vector<ScopedFd> tls_listeners;
  for (uint32_t i = 0; i < workers; ++i) {
    if (address.empty()) {
      listeners.emplace_back();  // TLS only
    } else {
      absl::StatusOr<ScopedFd> listener = ListenTcp(address, i == 0 ? port : pool->port_);
      if (!listener.ok()) return listener.status();
      if (i == 0) {
        absl::StatusOr<uint16_t> bound = LocalPort(listener->get());
        if (!bound.ok()) return bound.status();
        pool->port_ = *bound;
      }
      listeners.push_back(std::move(*listener));
    }
    if (tls.has_value()) {
      absl::StatusOr<ScopedFd> tls_listener =
          ListenTcp(tls->address, i == 0 ? tls->port : pool->tls_port_);
      if (!tls_listener.ok()) return tls_listener.status();
      if (i == 0) {
        absl::StatusOr<uint16_t> bound = LocalPort(tls_listener->get());
        if (!bound.ok()) return bound.status();
        pool->tls_port_ = *bound;
      }
      tls_listeners.push_back(std::move(*tls_listener));
    }
  }
  for (size_t i = 0; i < listeners.size(); ++i) {
    WorkerStats* stats = nullptr;
    if (shared.stats != nullptr && i < shared.stats->worker_count()) {
      stats = &shared.stats->worker(i);
    }
    absl::StatusOr<std::unique_ptr<Worker>> worker =
        Worker::Create(shared, std::move(listeners[i]), stats, i,
                       i < tls_listeners.size() ? std::move(tls_listeners[i]) : ScopedFd());
    if (!worker.ok()) return worker.status();
    pool->workers_.push_back(std::move(*worker));
  }
  for (auto& worker : pool->workers_) worker->Start();
  return pool;
}

uint32_t WorkerPool::EffectiveWorkers(uint32_t configured) {
  return configured != 0 ? configured : std::max(1u, std::thread::hardware_concurrency());
}

WorkerPool::~WorkerPool() { Stop(absl::ZeroDuration()); }

void WorkerPool::BeginStop(absl::Duration grace) {
  if (draining_) return;
  draining_ = true;
  std::vector<absl::Notification> started(workers_.size());
  for (size_t i = 0; i < workers_.size(); ++i) workers_[i]->Drain(grace, &started[i]);
  for (absl::Notification& notification : started) notification.WaitForNotification();
}

void WorkerPool::Stop(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  if (!draining_) {
    draining_ = true;
    for (auto& worker : workers_) worker->Drain(grace);
  }
  for (auto& worker : workers_) worker->Join();
}

}  // namespace polymesh::gateway
