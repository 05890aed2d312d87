#include "worker/worker.h"

#include <sys/epoll.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "common/log.h"

namespace polymesh::gateway {

absl::StatusOr<std::unique_ptr<Worker>> Worker::Create(const WorkerShared& shared,
                                                       ScopedFd listener,
                                                       WorkerStats* stats, size_t index,
                                                       ScopedFd tls_listener) {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  if (!loop.ok()) return loop.status();
  std::unique_ptr<Worker> worker(new Worker(shared, std::move(*loop), std::move(listener),
                                            stats, index, std::move(tls_listener)));
  absl::Status added;
  if (worker->listener_.valid()) {
    added = worker->loop_->Add(worker->listener_.get(), EPOLLIN, worker.get());
    if (!added.ok()) return added;
  }
  if (worker->tls_listener_.valid()) {
    if (worker->tls_ == nullptr) {
      return absl::InvalidArgumentError("a TLS listener needs a TLS context");
    }
    added = worker->loop_->Add(worker->tls_listener_.get(), EPOLLIN, &worker->tls_acceptor_);
    if (!added.ok()) return added;
  }
  return worker;
}

Worker::Worker(const WorkerShared& shared, std::unique_ptr<EventLoop> loop,
               ScopedFd listener, WorkerStats* stats, size_t index,
               ScopedFd tls_listener)
    : loop_(std::move(loop)),
      clusters_(std::make_unique<ClusterManager>(*loop_, *shared.clusters, index)),
      split_positions_(shared.routes->routes().size()),
      policies_(std::make_unique<CallPolicies>(*loop_, shared.routes->routes().size(),
                                               shared.clusters->size())),
      context_{*loop_,       *shared.routes,    *clusters_,
               shared.tracer, stats,             shared.access_log,
               &split_positions_,
               shared.limits != nullptr ? *shared.limits : CallLimits{},
               shared.active_streams, policies_.get()},
      listener_(std::move(listener)),
      tls_listener_(std::move(tls_listener)),
      tls_(shared.tls),
      drain_timer_(*loop_, [this] { loop_->Exit(); }) {}

Worker::~Worker() {
  Join();
  drain_timer_.Disable();
}

void Worker::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Worker::Run() {
  loop_->Run();
  // Teardown on the worker's own thread: connections first (their calls
  // cancel upstream streams), then shadow calls still running, then the
  // upstream connections.
  drain_timer_.Disable();
  for (auto& [raw, connection] : connections_) connection->set_close_callback(nullptr);
  connections_.clear();
  loop_->RunPendingWork();
  policies_->CancelShadows();
  loop_->RunPendingWork();
  clusters_.reset();
  loop_->RunPendingWork();
}

void Worker::Drain(absl::Duration timeout, absl::Notification* started) {
  loop_->Post([this, timeout, started] {
    StartDrain(timeout);
    if (started != nullptr) started->Notify();
  });
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::StartDrain(absl::Duration timeout) {
  if (draining_) return;
  draining_ = true;
  if (listener_.valid()) {
    loop_->Remove(listener_.get());
    listener_.reset();
  }
  if (tls_listener_.valid()) {
    loop_->Remove(tls_listener_.get());
    tls_listener_.reset();
  }
  if (connections_.empty()) {
    loop_->Exit();
    return;
  }
  drain_timer_.Enable(timeout);
  // A TLS client still in its handshake has no call to finish: it is closed
  // (after the loop, since closing removes it from connections_).
  std::vector<DownstreamConnection*> handshaking;
  for (auto& [raw, connection] : connections_) {
    if (connection->tls_handshaking()) {
      handshaking.push_back(raw);
    } else {
      connection->Drain();
    }
  }
  for (DownstreamConnection* connection : handshaking) {
    connection->Close("gateway draining before the TLS handshake finished");
  }
}

void Worker::OnIoEvent(uint32_t) { Accept(listener_, nullptr); }

void Worker::Accept(const ScopedFd& listener, const TlsContext* tls) {
  if (!listener.valid()) return;
  // Accept what is waiting; another worker may win some of them.
  for (int i = 0; i < 64; ++i) {
    const int fd = AcceptNonBlocking(listener.get());
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        Log(LogLevel::kWarning, "accept failed", {{"error", std::strerror(errno)}});
      }
      return;
    }
    absl::StatusOr<std::unique_ptr<DownstreamConnection>> connection =
        DownstreamConnection::Create(context_, ScopedFd(fd), tls);
    if (!connection.ok()) {
      Log(LogLevel::kWarning, "cannot serve connection",
          {{"error", connection.status().message()}});
      continue;
    }
    DownstreamConnection* raw = connection->get();
    if (context_.stats != nullptr) context_.stats->ConnectionOpened();
    raw->set_close_callback([this](Http2Connection* closed) { OnConnectionClosed(closed); });
    connections_.emplace(raw, std::move(*connection));
  }
}

void Worker::OnConnectionClosed(Http2Connection* connection) {
  auto it = connections_.find(static_cast<DownstreamConnection*>(connection));
  if (it == connections_.end()) return;
  if (context_.stats != nullptr) context_.stats->ConnectionClosed();
  loop_->DeferDelete(std::move(it->second));
  connections_.erase(it);
  if (draining_ && connections_.empty()) loop_->Exit();
}

}  // namespace polymesh::gateway
