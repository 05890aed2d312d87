#include "routing/route_table.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/method_path.h"
#include "config/config_parser.h"

namespace polymesh::gateway {
namespace {

bool IsSet(const google::protobuf::Duration& duration) {
  return duration.seconds() > 0 || duration.nanos() > 0;
}

}  // namespace

RetrySpec RetrySpecFromConfig(const v1::RetryPolicy& policy) {
  RetrySpec spec;
  if (policy.retry_on_size() > 0) {
    spec.retry_on = 0;
    for (const std::string& name : policy.retry_on()) {
      for (int code = 0; code <= static_cast<int>(GrpcStatus::kUnauthenticated); ++code) {
        if (GrpcStatusName(code) == name) spec.retry_on |= 1u << code;
      }
    }
  }
  if (policy.max_attempts() > 0) spec.max_attempts = policy.max_attempts();
  if (IsSet(policy.per_try_timeout())) {
    spec.per_try_timeout = ToAbslDuration(policy.per_try_timeout());
  }
  if (IsSet(policy.base_backoff())) spec.base_backoff = ToAbslDuration(policy.base_backoff());
  spec.max_backoff =
      IsSet(policy.max_backoff()) ? ToAbslDuration(policy.max_backoff()) : 10 * spec.base_backoff;
  if (policy.buffer_bytes() > 0) spec.buffer_bytes = policy.buffer_bytes();
  if (policy.budget_percent() > 0) spec.budget_percent = policy.budget_percent();
  if (policy.min_retry_concurrency() > 0) {
    spec.min_retry_concurrency = policy.min_retry_concurrency();
  }
  return spec;
}

RouteTable::RouteTable(const v1::GatewayConfig& config,
                       std::shared_ptr<const AuthProviders> auth) {
  if (auth == nullptr) auth = std::make_shared<const AuthProviders>(AuthProviders::Options{});
  // Each cluster's position by its name, in ClusterSpecsFromConfig's order:
  // the configured clusters, then the gateway's own services.
  absl::flat_hash_map<absl::string_view, size_t> clusters;
  for (int i = 0; i < config.clusters_size(); ++i) {
    clusters.try_emplace(config.clusters(i).name(), i);
  }
  if (config.has_local_services()) {
    clusters.try_emplace(kLocalClusterName, config.clusters_size());
  }
  // A name no cluster has (validation rejects it): past every cluster.
  const auto position = [&clusters](absl::string_view name) {
    auto found = clusters.find(name);
    return found == clusters.end() ? clusters.size() : found->second;
  };
  routes_.reserve(config.routes_size());
  for (const auto& route : config.routes()) {
    const size_t index = routes_.size();
    Route& entry = routes_.emplace_back();
    entry.name = route.name();
    entry.cluster = route.cluster();
    entry.cluster_index = position(route.cluster());
    for (const auto& share : route.split()) {
      if (share.weight() == 0) continue;
      Route::Share& entry_share = entry.split.emplace_back();
      entry_share.cluster = share.cluster();
      entry_share.cluster_index = position(share.cluster());
      entry.split_total += share.weight();
      entry_share.end = entry.split_total;
    }
    if (!entry.split.empty()) {
      entry.cluster = entry.split.front().cluster;
      entry.cluster_index = entry.split.front().cluster_index;
    }
    if (IsSet(route.timeout())) entry.timeout = ToAbslDuration(route.timeout());
    if (route.has_retry()) entry.retry = RetrySpecFromConfig(route.retry());
    if (route.has_mirror()) {
      MirrorSpec& mirror = entry.mirror.emplace();
      mirror.cluster = route.mirror().cluster();
      mirror.cluster_index = position(mirror.cluster);
      if (route.mirror().percent() > 0) mirror.percent = route.mirror().percent();
      if (route.mirror().max_buffered_bytes() > 0) {
        mirror.max_buffered_bytes = route.mirror().max_buffered_bytes();
      }
    }
    if (route.has_auth()) {
      const v1::RouteAuth& rule = route.auth();
      RouteAccess::Rule access{
          .providers = 0,
          .principals = {rule.principals().begin(), rule.principals().end()},
          .groups = {rule.groups().begin(), rule.groups().end()},
          .allow_anonymous = rule.allow_anonymous(),
      };
      for (const std::string& name : rule.providers()) {
        if (std::optional<AuthProvider> provider = AuthProviderNamed(name)) {
          access.providers |= *provider;
        }
      }
      entry.access = std::make_shared<const RouteAccess>(auth, std::move(access));
    }
    if (route.has_rate_limit()) {
      const double rate = route.rate_limit().requests_per_second();
      const uint32_t burst = route.rate_limit().burst() > 0
                                 ? route.rate_limit().burst()
                                 : static_cast<uint32_t>(std::max(1.0, std::ceil(rate)));
      entry.rate_limit = std::make_shared<RateLimiter>(rate, burst);
      entry.rate_limit_text = absl::StrCat(route.name(), ": ", rate, " calls/s per caller, burst ",
                                           burst);
    }
    for (const auto& header : route.match().headers()) {
      Route::HeaderCondition& condition = entry.headers.emplace_back();
      condition.name = header.name();
      switch (header.value_case()) {
        case v1::HeaderMatch::kExact:
          condition.kind = Route::HeaderCondition::Kind::kExact;
          condition.value = header.exact();
          break;
        case v1::HeaderMatch::kPrefix:
          condition.kind = Route::HeaderCondition::Kind::kPrefix;
          condition.value = header.prefix();
          break;
        case v1::HeaderMatch::kPresent:
        case v1::HeaderMatch::VALUE_NOT_SET:
          condition.kind = header.present() ? Route::HeaderCondition::Kind::kPresent
                                            : Route::HeaderCondition::Kind::kAbsent;
          break;
      }
    }
    switch (route.match().rule_case()) {
      case v1::RouteMatch::kService:
        by_service_[route.match().service()].push_back(index);
        break;
      case v1::RouteMatch::kMethod: {
        // Validated: "pkg.Service/Method", the leading "/" optional.
        const std::optional<MethodPath> method = MethodPath::ParseName(route.match().method());
        by_method_[std::string(method ? method->name() : route.match().method())].push_back(
            index);
        break;
      }
      case v1::RouteMatch::kPackage:
        by_package_.emplace_back(route.match().package(), index);
        break;
      case v1::RouteMatch::kAny:
        any_.push_back(index);
        break;
      case v1::RouteMatch::RULE_NOT_SET:
        break;  // refused by the validator
    }
  }
}

namespace {

bool HeadersMatch(const Route& route, HeaderLookup headers) {
  for (const Route::HeaderCondition& condition : route.headers) {
    const std::optional<absl::string_view> value = headers(condition.name);
    switch (condition.kind) {
      case Route::HeaderCondition::Kind::kExact:
        if (!value.has_value() || *value != condition.value) return false;
        break;
      case Route::HeaderCondition::Kind::kPrefix:
        if (!value.has_value() || !absl::StartsWith(*value, condition.value)) return false;
        break;
      case Route::HeaderCondition::Kind::kPresent:
        if (!value.has_value()) return false;
        break;
      case Route::HeaderCondition::Kind::kAbsent:
        if (value.has_value()) return false;
        break;
    }
  }
  return true;
}

// Whether `service` ("a.b.v1.Svc") is in `package` ("a.b") or under it.
bool InPackage(absl::string_view service, absl::string_view package) {
  return service.size() > package.size() && absl::StartsWith(service, package) &&
         service[package.size()] == '.';
}

}  // namespace

const Route::Share& Route::ShareAt(uint64_t position) const {
  const uint32_t at = static_cast<uint32_t>(position % split_total);
  for (const Share& share : split) {
    if (at < share.end) return share;
  }
  return split.back();
}

const Route* RouteTable::Find(absl::string_view path) const {
  return Find(path, [](absl::string_view) -> std::optional<absl::string_view> { return std::nullopt; });
}

const Route* RouteTable::Find(absl::string_view path, HeaderLookup headers) const {
  const std::optional<MethodPath> method = MethodPath::Parse(path);
  if (!method.has_value()) return nullptr;
  const absl::string_view service = method->service();
  size_t best = routes_.size();
  // The first of `candidates` (in config order) that beats `best` and whose
  // metadata conditions hold.
  auto consider = [&](size_t index) {
    if (index < best && HeadersMatch(routes_[index], headers)) best = index;
  };
  if (auto it = by_method_.find(method->name()); it != by_method_.end()) {
    for (size_t index : it->second) consider(index);
  }
  if (auto it = by_service_.find(service); it != by_service_.end()) {
    for (size_t index : it->second) consider(index);
  }
  for (const auto& [package, index] : by_package_) {
    if (index < best && InPackage(service, package)) consider(index);
  }
  for (size_t index : any_) consider(index);
  return best < routes_.size() ? &routes_[best] : nullptr;
}

}  // namespace polymesh::gateway
