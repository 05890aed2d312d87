// The admin listener: a small HTTP server, off the data path, for
// operators and orchestrators (Envoy's convention: 127.0.0.1:9901).
//
//   GET /ready        200 "ready" while serving, 503 "draining" once a
//                     graceful stop began (for load balancers)
//   GET /live         200 "live" while the process runs (for restarts)
//   GET /metrics      Prometheus text exposition of every collectable
//   GET /config_dump  the running configuration as JSON (after reloads too)
//   GET /clusters     the clusters: endpoints and outstanding calls, JSON
//
// With a token, every page but /ready, /live and /metrics (what load
// balancers, orchestrators and Prometheus read) answers 401 unless the
// request carries `authorization: Bearer <token>`.
//
// It runs its own threads (civetweb), reads what the workers publish
// without stopping them, and never blocks a worker.
//
// Usage:
//
//   AdminServer::Options options;
//   options.address = "127.0.0.1"; options.port = 9901;
//   options.collectables = {stats, process};
//   options.config_json = [&] { ... }; options.clusters_json = [&] { ... };
//   absl::StatusOr<std::unique_ptr<AdminServer>> admin = AdminServer::Start(options);
//   (*admin)->SetReady(false);  // on SIGTERM
#ifndef POLYMESH_GATEWAY_SRC_ADMIN_ADMIN_SERVER_H_
#define POLYMESH_GATEWAY_SRC_ADMIN_ADMIN_SERVER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"

struct mg_context;
struct mg_connection;

namespace polymesh::gateway {

class AdminServer {
 public:
  struct Options {
    // A numeric IP address or "localhost".
    std::string address = "127.0.0.1";
    // 0 picks a free port.
    uint16_t port = 9901;
    // What /metrics serves, in order.
    std::vector<std::shared_ptr<prometheus::Collectable>> collectables;
    // What /config_dump serves (the running configuration, which a reload
    // changes), made at each request.
    std::function<std::string()> config_json = [] { return std::string("{}"); };
    // What /clusters serves, made at each request.
    std::function<std::string()> clusters_json = [] { return std::string("{}"); };
    // The bearer token the other pages ask for; empty: none.
    std::string token;
  };

  // The token in `path`: its text without surrounding whitespace.
  // NOT_FOUND when it cannot be read, INVALID_ARGUMENT when it is empty.
  static absl::StatusOr<std::string> ReadToken(const std::string& path);

  // Starts serving. UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(Options options);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // The bound port.
  uint16_t port() const { return port_; }
  // Readiness as /ready reports it. Thread-safe.
  void SetReady(bool ready) { ready_.store(ready, std::memory_order_relaxed); }

 private:
  explicit AdminServer(Options options) : options_(std::move(options)) {}
  static int Handle(mg_connection* connection, void* self);
  int Serve(mg_connection* connection);
  // Whether the request carries the token (always, without one).
  bool Authorized(mg_connection* connection) const;

  Options options_;
  mg_context* context_ = nullptr;
  uint16_t port_ = 0;
  std::atomic<bool> ready_{true};
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_ADMIN_ADMIN_SERVER_H_
