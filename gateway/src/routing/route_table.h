// The route table: which cluster a gRPC call goes to, by its method path.
//
// Built once from the configuration and read-only afterwards, so every
// worker thread can share it without locks. Routes match one method
// ("pkg.Service/Method"), a whole service ("pkg.Service"), a package and
// what is under it ("pkg"), or every call, each optionally only when request
// metadata matches (exact value, prefix, presence or absence); the first
// matching route in config order wins. A lookup is two hash probes plus the
// package and catch-all routes, and metadata is read only for routes that
// have conditions.
//
// Usage:
//
//   RouteTable table(config);
//   const Route* route = table.Find("/polymesh.ai.v1.AIService/Predict");
//   if (route == nullptr) { /* answer UNIMPLEMENTED */ }
#ifndef POLYMESH_GATEWAY_SRC_ROUTING_ROUTE_TABLE_H_
#define POLYMESH_GATEWAY_SRC_ROUTING_ROUTE_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "auth/authenticator.h"
#include "auth/rate_limiter.h"
#include "polymesh/gateway/v1/config.pb.h"

namespace polymesh::gateway {

// A route's retry policy (v1::RetryPolicy with its defaults filled in).
struct RetrySpec {
  // The retried gRPC status codes, one bit per code (bit 14: UNAVAILABLE).
  uint32_t retry_on = 1u << 14;
  // Attempts in all, the first one included.
  uint32_t max_attempts = 3;
  // The longest one attempt may take; absl::InfiniteDuration() for no cap.
  absl::Duration per_try_timeout = absl::InfiniteDuration();
  // The first backoff's ceiling; each further one doubles, up to max_backoff.
  absl::Duration base_backoff = absl::Milliseconds(25);
  // The largest backoff.
  absl::Duration max_backoff = absl::Milliseconds(250);
  // Request bytes kept for replay; a call sending more is not retried.
  uint32_t buffer_bytes = 65536;
  // Retries in progress may be this percentage of the cluster's calls.
  uint32_t budget_percent = 20;
  // Retries in progress always allowed.
  uint32_t min_retry_concurrency = 3;

  // Whether a failed attempt with gRPC status `code` is retried.
  bool RetriesOn(int code) const {
    return code >= 0 && code < 32 && (retry_on & (1u << code)) != 0;
  }
};

// A route's mirror (v1::Mirror with its defaults filled in).
struct MirrorSpec {
  // The shadow cluster's name and its index in the config's clusters.
  std::string cluster;
  size_t cluster_index = 0;
  // The percentage of calls copied, 1 to 100.
  uint32_t percent = 100;
  // The bytes a shadow may hold that its upstream has not taken yet.
  size_t max_buffered_bytes = 2u << 20;
};

// The retry policy of `policy` with defaults filled in; codes named in
// retry_on that are not gRPC status names are skipped (the validator
// refuses them).
RetrySpec RetrySpecFromConfig(const v1::RetryPolicy& policy);

// One route of the table.
struct Route {
  // The route's name (for logs, spans and errors).
  std::string name;
  // The cluster its calls go to ("local" for the gateway's own services).
  std::string cluster;
  // The cluster's position, found by its name among the clusters in
  // ClusterSpecsFromConfig's order (the configured ones, then "local").
  size_t cluster_index = 0;
  // The longest a call may last; absl::InfiniteDuration() when uncapped.
  absl::Duration timeout = absl::InfiniteDuration();

  // A weighted split (empty: every call goes to `cluster`). Each share
  // takes the calls whose position in a cycle of `split_total` calls is
  // below its `end` (and at or above the previous share's).
  struct Share {
    std::string cluster;
    size_t cluster_index = 0;
    uint32_t end = 0;
  };
  std::vector<Share> split;
  uint32_t split_total = 0;
  // The share of the call at `position` (any number: taken modulo the
  // cycle). Only for a route with a split.
  const Share& ShareAt(uint64_t position) const;

  // A condition on request metadata.
  struct HeaderCondition {
    enum class Kind { kExact, kPrefix, kPresent, kAbsent };
    std::string name;
    Kind kind = Kind::kPresent;
    std::string value;
  };
  // Every one must hold for the route to match.
  std::vector<HeaderCondition> headers;

  // Retries of failed calls; nullopt: none (only transparent retries of
  // refused streams).
  std::optional<RetrySpec> retry;
  // Copies of calls to a shadow cluster; nullopt: none.
  std::optional<MirrorSpec> mirror;

  // Who may call; nullptr: anyone, unchecked.
  std::shared_ptr<const RouteAccess> access;
  // A token bucket per principal (anonymous callers: per client address);
  // nullptr: no limit. Shared by every worker.
  std::shared_ptr<RateLimiter> rate_limit;
  // The limit in words, for the QuotaFailure detail.
  std::string rate_limit_text;
};

// Looks up a request metadata value by its lowercase key; nullopt if absent.
using HeaderLookup = absl::FunctionRef<std::optional<absl::string_view>(absl::string_view)>;

// The routes of a configuration, indexed for lookup by method path.
class RouteTable {
 public:
  // Builds the table from a validated configuration; routes with `auth`
  // check credentials with `auth` (nullptr: no provider, so such a route
  // admits only anonymous callers, and only where it allows them).
  explicit RouteTable(const v1::GatewayConfig& config,
                      std::shared_ptr<const AuthProviders> auth = nullptr);

  // The first route matching `path` ("/pkg.Service/Method") and the request
  // metadata `headers` reads, or nullptr.
  const Route* Find(absl::string_view path, HeaderLookup headers) const;
  // The same, for a call without metadata.
  const Route* Find(absl::string_view path) const;

  // Every route, in config order.
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
  // "pkg.Service/Method" -> the routes naming it, in order.
  absl::flat_hash_map<std::string, std::vector<size_t>> by_method_;
  // "pkg.Service" -> the routes naming it, in order.
  absl::flat_hash_map<std::string, std::vector<size_t>> by_service_;
  // Package routes (package, route index) and catch-all routes, in order.
  std::vector<std::pair<std::string, size_t>> by_package_;
  std::vector<size_t> any_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_ROUTING_ROUTE_TABLE_H_
