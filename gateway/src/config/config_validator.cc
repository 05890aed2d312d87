#include "config/config_validator.h"

#include <arpa/inet.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "auth/authenticator.h"
#include "common/grpc_status.h"
#include "common/method_path.h"
#include "common/status_macros.h"
#include "config/tls_options.h"
#include "transport/tls_context.h"

namespace polymesh::gateway {
namespace {

using ::polymesh::gateway::v1::SocketAddress;

constexpr uint32_t kMaxConnectionsPerEndpoint = 64;
constexpr uint32_t kMaxHealthThreshold = 1000;
constexpr uint32_t kMaxConsecutiveFailures = 1000;
constexpr int kLastGrpcStatus = static_cast<int>(GrpcStatus::kUnauthenticated);

// A metadata key: lowercase letters, digits, '-', '_' and '.'.
bool IsHeaderName(absl::string_view name) {
  if (name.empty()) return false;
  for (const char c : name) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  return true;
}

// "localhost", 127.0.0.0/8 or ::1.
bool IsLoopbackAddress(absl::string_view address) {
  if (address == "localhost") return true;
  const std::string text(address);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, text.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

class Validator {
 public:
  explicit Validator(const ParsedConfig& parsed)
      : parsed_(parsed), config_(parsed.config) {}

  absl::Status Run() {
    if (!config_.has_listener() && !config_.has_tls_listener()) {
      return Error("listener", "required: where clients connect, such as "
                               "{ address: 127.0.0.1, port: 8080 } (or a tls_listener)");
    }
    if (config_.has_listener()) {
      RETURN_IF_ERROR(CheckAddress(config_.listener(), "listener", /*port_zero_ok=*/true,
                                   /*host_name_ok=*/false));
    }
    if (config_.has_tls_listener()) RETURN_IF_ERROR(CheckTlsListener());
    if (config_.workers() > kMaxWorkers) {
      return Error("workers", absl::StrCat("at most ", kMaxWorkers, ", got ",
                                           config_.workers()));
    }
    if (config_.has_admin() && config_.admin().has_address()) {
      RETURN_IF_ERROR(CheckAddress(config_.admin().address(), "admin.address",
                                   /*port_zero_ok=*/true, /*host_name_ok=*/false));
    }
    if (config_.has_admin() && !config_.admin().disabled() &&
        config_.admin().has_address() &&
        !IsLoopbackAddress(config_.admin().address().address()) &&
        config_.admin().token_file().empty()) {
      return Error("admin.token_file",
                   absl::StrCat("required: the admin listener is bound to ",
                                config_.admin().address().address(),
                                ", beyond loopback, so its pages need a token"));
    }
    if (config_.has_auth_providers()) RETURN_IF_ERROR(CheckAuthProviders());
    if (config_.has_access_log() && config_.access_log().path().empty()) {
      return Error("access_log.path",
                   "required: the file to append to, or /dev/stdout or /dev/stderr");
    }
    if (config_.drain_timeout().seconds() < 0 || config_.drain_timeout().nanos() < 0) {
      return Error("drain_timeout", "must not be negative");
    }
    if (config_.has_local_services()) {
      RETURN_IF_ERROR(CheckAddress(config_.local_services(), "local_services",
                                   /*port_zero_ok=*/true, /*host_name_ok=*/false));
    }
    absl::flat_hash_set<std::string> clusters;
    for (int i = 0; i < config_.clusters_size(); ++i) {
      RETURN_IF_ERROR(CheckCluster(i, clusters));
    }
    absl::flat_hash_set<std::string> routes;
    for (int i = 0; i < config_.routes_size(); ++i) {
      RETURN_IF_ERROR(CheckRoute(i, clusters, routes));
    }
    return CheckContracts(clusters);
  }

 private:
  absl::Status CheckAuthProviders() {
    const v1::AuthProviders& auth = config_.auth_providers();
    if (auth.has_api_keys()) {
      if (auth.api_keys().keys_file().empty()) {
        return Error("auth_providers.api_keys.keys_file",
                     "required: the file of key hashes (keys: [{name, sha256, groups}])");
      }
      const std::string& header = auth.api_keys().header();
      if (!header.empty() && (!IsHeaderName(header) || header == "authorization" ||
                              header == kPrincipalHeader)) {
        return Error("auth_providers.api_keys.header",
                     absl::StrCat("\"", header,
                                  "\" cannot carry API keys: want a lowercase header name "
                                  "other than authorization and ",
                                  kPrincipalHeader));
      }
    }
    if (auth.has_jwt()) {
      const v1::Jwt& jwt = auth.jwt();
      if (jwt.jwks_file().empty()) {
        return Error("auth_providers.jwt.jwks_file", "required: the issuer's public keys");
      }
      if (jwt.issuer().empty()) {
        return Error("auth_providers.jwt.issuer", "required: the iss tokens must carry");
      }
      if (jwt.audiences().empty()) {
        return Error("auth_providers.jwt.audiences",
                     "required: the audiences (aud) accepted, at least one");
      }
      const absl::Duration skew = ToAbslDuration(jwt.clock_skew());
      if (skew < absl::ZeroDuration() || skew > absl::Minutes(5)) {
        return Error("auth_providers.jwt.clock_skew", "from 0 to 5m");
      }
    }
    if (auth.has_mtls() &&
        (!config_.has_tls_listener() || config_.tls_listener().tls().client_ca_file().empty())) {
      return Error("auth_providers.mtls",
                   "needs tls_listener.tls.client_ca_file: client certificates are only "
                   "verified against it");
    }
    return absl::OkStatus();
  }

  // The providers configured, as AuthProvider bits.
  uint8_t ConfiguredProviders() const {
    const v1::AuthProviders& auth = config_.auth_providers();
    return (auth.has_api_keys() ? kApiKeyProvider : 0) | (auth.has_jwt() ? kJwtProvider : 0) |
           (auth.has_mtls() ? kMtlsProvider : 0);
  }

  absl::Status CheckRouteSecurity(const v1::Route& route, const std::string& path) {
    if (route.has_auth()) {
      const v1::RouteAuth& rule = route.auth();
      uint8_t providers = 0;
      for (int i = 0; i < rule.providers_size(); ++i) {
        const std::optional<AuthProvider> provider = AuthProviderNamed(rule.providers(i));
        const std::string field = absl::StrCat(path, ".auth.providers[", i, "]");
        if (!provider.has_value()) {
          return Error(field, absl::StrCat("unknown provider \"", rule.providers(i),
                                           "\": want api_keys, jwt or mtls"));
        }
        if ((ConfiguredProviders() & *provider) == 0) {
          return Error(field, absl::StrCat("provider \"", rule.providers(i),
                                           "\" is not configured in auth_providers"));
        }
        providers |= *provider;
      }
      if (rule.providers().empty()) providers = ConfiguredProviders();
      if (providers == 0 && !rule.allow_anonymous()) {
        return Error(path + ".auth",
                     "no caller could ever be admitted: configure auth_providers, or "
                     "allow_anonymous");
      }
      for (int i = 0; i < rule.principals_size(); ++i) {
        if (rule.principals(i).empty()) {
          return Error(absl::StrCat(path, ".auth.principals[", i, "]"), "an empty name");
        }
      }
      for (int i = 0; i < rule.groups_size(); ++i) {
        if (rule.groups(i).empty()) {
          return Error(absl::StrCat(path, ".auth.groups[", i, "]"), "an empty name");
        }
      }
    }
    if (route.has_rate_limit()) {
      const double rate = route.rate_limit().requests_per_second();
      if (!(rate > 0) || !std::isfinite(rate) || rate > 1e9) {
        return Error(path + ".rate_limit.requests_per_second",
                     "required: calls per second, above 0");
      }
      if (route.rate_limit().burst() > 1000000000) {
        return Error(path + ".rate_limit.burst", "at most 1000000000");
      }
    }
    return absl::OkStatus();
  }

  absl::Status CheckTlsListener() {
    const auto& listener = config_.tls_listener();
    if (!listener.has_address()) {
      return Error("tls_listener.address",
                   "required: where TLS clients connect, such as "
                   "{ address: 127.0.0.1, port: 8443 }");
    }
    RETURN_IF_ERROR(CheckAddress(listener.address(), "tls_listener.address",
                                 /*port_zero_ok=*/true, /*host_name_ok=*/false));
    if (config_.has_listener() && listener.address().port() != 0 &&
        listener.address().port() == config_.listener().port()) {
      return Error("tls_listener.address.port",
                   absl::StrCat("port ", listener.address().port(),
                                " is the plaintext listener's; give TLS its own"));
    }
    const auto& tls = listener.tls();
    if (tls.certificate_chain_file().empty()) {
      return Error("tls_listener.tls.certificate_chain_file",
                   "required: the server's PEM certificate chain");
    }
    if (tls.private_key_file().empty()) {
      return Error("tls_listener.tls.private_key_file",
                   "required: the PEM private key of the certificate");
    }
    // Loads both files as the listener will, so that a bad certificate or
    // key stops the load (and a reload keeps the running generation).
    if (tls.require_client_certificate() && tls.client_ca_file().empty()) {
      return Error("tls_listener.tls.require_client_certificate",
                   "needs client_ca_file: the CAs that client certificates are verified "
                   "against");
    }
    absl::StatusOr<std::shared_ptr<const TlsContext>> context =
        TlsContext::CreateServer(ServerTlsOptions(tls));
    if (!context.ok()) {
      // The message says which file failed; the error names its field.
      const absl::string_view message = context.status().message();
      std::string field = "tls_listener.tls";
      if (absl::StartsWith(message, "cannot load the certificate")) {
        field = "tls_listener.tls.certificate_chain_file";
      } else if (absl::StartsWith(message, "cannot load the private key") ||
                 absl::StartsWith(message, "cannot use the private key")) {
        field = "tls_listener.tls.private_key_file";
      } else if (absl::StrContains(message, "client CA")) {
        field = "tls_listener.tls.client_ca_file";
      }
      return Error(field, message);
    }
    return absl::OkStatus();
  }

  absl::Status CheckUpstreamTls(const v1::UpstreamTls& tls, const std::string& path) {
    if (tls.ca_file().empty()) {
      return Error(path + ".ca_file", "required: the CAs the endpoints' certificates chain to");
    }
    if (tls.certificate_chain_file().empty() != tls.private_key_file().empty()) {
      return Error(path + (tls.private_key_file().empty() ? ".private_key_file"
                                                          : ".certificate_chain_file"),
                   "a client certificate needs both certificate_chain_file and "
                   "private_key_file");
    }
    // Loads the files as the connections will, so that a bad one stops the
    // load (and a reload keeps the running generation).
    absl::StatusOr<std::shared_ptr<const UpstreamTlsSpec>> loaded = UpstreamTlsSpecFromConfig(tls);
    if (!loaded.ok()) return Error(path, loaded.status().message());
    return absl::OkStatus();
  }

  absl::Status CheckCluster(int index, absl::flat_hash_set<std::string>& names) {
    const auto& cluster = config_.clusters(index);
    const std::string path = absl::StrCat("clusters[", index, "]");
    if (cluster.name().empty()) return Error(path + ".name", "required");
    if (cluster.has_tls()) RETURN_IF_ERROR(CheckUpstreamTls(cluster.tls(), path + ".tls"));
    if (cluster.name() == kLocalClusterName) {
      return Error(path + ".name",
                   "\"local\" is reserved for the gateway's own services");
    }
    if (!names.insert(cluster.name()).second) {
      return Error(path + ".name",
                   absl::StrCat("duplicate cluster name \"", cluster.name(), "\""));
    }
    if (cluster.endpoints_size() == 0) {
      return Error(path + ".endpoints", "at least one endpoint is required");
    }
    for (int i = 0; i < cluster.endpoints_size(); ++i) {
      RETURN_IF_ERROR(CheckAddress(cluster.endpoints(i),
                                   absl::StrCat(path, ".endpoints[", i, "]"),
                                   /*port_zero_ok=*/false, /*host_name_ok=*/true));
    }
    if (cluster.has_connect_timeout()) {
      const auto& timeout = cluster.connect_timeout();
      if (timeout.seconds() == 0 && timeout.nanos() < 1000000) {
        return Error(path + ".connect_timeout", "at least 1ms");
      }
    }
    RETURN_IF_ERROR(CheckUpstreamPolicies(cluster, path));
    return absl::OkStatus();
  }

  // The ranges of a cluster's load balancing, pool, DNS, health check and
  // outlier detection fields.
  absl::Status CheckUpstreamPolicies(const v1::Cluster& cluster, const std::string& path) {
    if (!v1::LoadBalancing_IsValid(cluster.load_balancing())) {
      return Error(path + ".load_balancing",
                   "want LOAD_BALANCING_ROUND_ROBIN or LOAD_BALANCING_LEAST_REQUEST");
    }
    if (cluster.has_dns_refresh_interval()) {
      RETURN_IF_ERROR(AtLeast(cluster.dns_refresh_interval(), absl::Milliseconds(100),
                              path + ".dns_refresh_interval"));
    }
    if (cluster.max_connections_per_endpoint() > kMaxConnectionsPerEndpoint) {
      return Error(path + ".max_connections_per_endpoint",
                   absl::StrCat("at most ", kMaxConnectionsPerEndpoint, ", got ",
                                cluster.max_connections_per_endpoint()));
    }
    if (cluster.has_health_check()) {
      const auto& check = cluster.health_check();
      const std::string where = path + ".health_check";
      if (check.has_interval()) {
        RETURN_IF_ERROR(AtLeast(check.interval(), absl::Milliseconds(10), where + ".interval"));
      }
      if (check.has_timeout()) {
        RETURN_IF_ERROR(AtLeast(check.timeout(), absl::Milliseconds(1), where + ".timeout"));
      }
      if (check.unhealthy_threshold() > kMaxHealthThreshold) {
        return Error(where + ".unhealthy_threshold",
                     absl::StrCat("at most ", kMaxHealthThreshold, ", got ",
                                  check.unhealthy_threshold()));
      }
      if (check.healthy_threshold() > kMaxHealthThreshold) {
        return Error(where + ".healthy_threshold",
                     absl::StrCat("at most ", kMaxHealthThreshold, ", got ",
                                  check.healthy_threshold()));
      }
    }
    if (cluster.has_outlier_detection()) {
      const auto& outlier = cluster.outlier_detection();
      const std::string where = path + ".outlier_detection";
      if (outlier.consecutive_failures() > kMaxConsecutiveFailures) {
        return Error(where + ".consecutive_failures",
                     absl::StrCat("at most ", kMaxConsecutiveFailures, ", got ",
                                  outlier.consecutive_failures()));
      }
      absl::Duration base = absl::Seconds(30);
      absl::Duration max = absl::Seconds(300);
      if (outlier.has_base_ejection_time()) {
        RETURN_IF_ERROR(AtLeast(outlier.base_ejection_time(), absl::Milliseconds(1),
                                where + ".base_ejection_time"));
        base = ToAbslDuration(outlier.base_ejection_time());
      }
      if (outlier.has_max_ejection_time()) {
        max = ToAbslDuration(outlier.max_ejection_time());
      }
      if (max < base) {
        return Error(where + ".max_ejection_time",
                     absl::StrCat("at least base_ejection_time (", absl::FormatDuration(base),
                                  "), got ", absl::FormatDuration(max)));
      }
    }
    return absl::OkStatus();
  }

  absl::Status AtLeast(const google::protobuf::Duration& duration, absl::Duration least,
                       const std::string& path) const {
    const absl::Duration value = ToAbslDuration(duration);
    if (value >= least) return absl::OkStatus();
    return Error(path, absl::StrCat("at least ", absl::FormatDuration(least), ", got ",
                                    absl::FormatDuration(value)));
  }

  absl::Status CheckRoute(int index, const absl::flat_hash_set<std::string>& clusters,
                          absl::flat_hash_set<std::string>& names) {
    const auto& route = config_.routes(index);
    const std::string path = absl::StrCat("routes[", index, "]");
    if (route.name().empty()) return Error(path + ".name", "required");
    if (!names.insert(route.name()).second) {
      return Error(path + ".name",
                   absl::StrCat("duplicate route name \"", route.name(), "\""));
    }
    RETURN_IF_ERROR(CheckRouteSecurity(route, path));
    switch (route.match().rule_case()) {
      case v1::RouteMatch::kService:
        if (!IsQualifiedName(route.match().service())) {
          return Error(path + ".match.service",
                       absl::StrCat("\"", route.match().service(),
                                    "\" is not a fully-qualified service name "
                                    "such as \"polymesh.ai.v1.AIService\""));
        }
        break;
      case v1::RouteMatch::kMethod:
        if (!IsMethodName(route.match().method())) {
          return Error(path + ".match.method",
                       absl::StrCat("\"", route.match().method(),
                                    "\" is not a method such as "
                                    "\"polymesh.ai.v1.AIService/Predict\""));
        }
        break;
      case v1::RouteMatch::kPackage:
        if (!IsQualifiedName(route.match().package())) {
          return Error(path + ".match.package",
                       absl::StrCat("\"", route.match().package(),
                                    "\" is not a package name such as \"polymesh.ai\""));
        }
        break;
      case v1::RouteMatch::kAny:
        if (!route.match().any()) {
          return Error(path + ".match.any", "must be true (it makes the route a catch-all)");
        }
        break;
      case v1::RouteMatch::RULE_NOT_SET:
        return Error(path + ".match", "required: set service, method, package or any");
    }
    for (int h = 0; h < route.match().headers_size(); ++h) {
      const auto& header = route.match().headers(h);
      const std::string where = absl::StrCat(path, ".match.headers[", h, "]");
      if (header.name().empty()) return Error(where + ".name", "required");
      if (header.name()[0] == ':') {
        return Error(where + ".name", "pseudo-headers cannot be matched; match the path instead");
      }
      if (absl::AsciiStrToLower(header.name()) != header.name()) {
        return Error(where + ".name",
                     absl::StrCat("metadata keys are lowercase: \"",
                                  absl::AsciiStrToLower(header.name()), "\""));
      }
      if (header.value_case() == v1::HeaderMatch::VALUE_NOT_SET) {
        return Error(where, "set one of exact, prefix or present");
      }
    }
    if (!route.cluster().empty() && route.split_size() > 0) {
      return Error(path + ".split", "give cluster or split, not both");
    }
    if (route.split_size() > 0) {
      RETURN_IF_ERROR(CheckSplit(path, route, clusters));
    } else if (route.cluster().empty()) {
      return Error(path + ".cluster", "required (or a weighted split)");
    } else if (route.cluster() == kLocalClusterName) {
      if (!config_.has_local_services()) {
        return Error(path + ".cluster",
                     "cluster \"local\" needs local_services to be set");
      }
    } else if (!clusters.contains(route.cluster())) {
      return UnknownCluster(path + ".cluster", route.cluster(), clusters,
                            config_.has_local_services() ? ", local" : "");
    }
    if (route.timeout().seconds() < 0 || route.timeout().nanos() < 0) {
      return Error(path + ".timeout", "must not be negative");
    }
    if (route.has_retry()) RETURN_IF_ERROR(CheckRetryPolicy(path + ".retry", route.retry()));
    if (route.has_mirror()) {
      RETURN_IF_ERROR(CheckMirror(path + ".mirror", route.mirror(), clusters));
    }
    return absl::OkStatus();
  }

  // The ranges of a RetryPolicy's fields (config.proto states them).
  absl::Status CheckRetryPolicy(const std::string& path, const v1::RetryPolicy& retry) {
    absl::flat_hash_set<std::string> codes;
    for (int i = 0; i < retry.retry_on_size(); ++i) {
      const std::string& name = retry.retry_on(i);
      const std::string where = absl::StrCat(path, ".retry_on[", i, "]");
      bool known = false;
      for (int code = 1; code <= kLastGrpcStatus; ++code) known |= GrpcStatusName(code) == name;
      if (!known) {
        return Error(where, absl::StrCat("\"", name,
                                         "\" is not a gRPC status code other than OK, such "
                                         "as \"UNAVAILABLE\" or \"RESOURCE_EXHAUSTED\""));
      }
      if (!codes.insert(name).second) {
        return Error(where, absl::StrCat("\"", name, "\" is listed twice"));
      }
    }
    if (retry.max_attempts() != 0 &&
        (retry.max_attempts() < 2 || retry.max_attempts() > kMaxRetryAttempts)) {
      return Error(path + ".max_attempts",
                   absl::StrCat("want 2 to ", kMaxRetryAttempts,
                                " (the first attempt included), got ", retry.max_attempts()));
    }
    RETURN_IF_ERROR(CheckOptionalDuration(path + ".per_try_timeout", retry.per_try_timeout()));
    RETURN_IF_ERROR(CheckOptionalDuration(path + ".base_backoff", retry.base_backoff()));
    RETURN_IF_ERROR(CheckOptionalDuration(path + ".max_backoff", retry.max_backoff()));
    if (retry.has_max_backoff() && retry.has_base_backoff()) {
      const auto& base = retry.base_backoff();
      const auto& max = retry.max_backoff();
      if (max.seconds() < base.seconds() ||
          (max.seconds() == base.seconds() && max.nanos() < base.nanos())) {
        return Error(path + ".max_backoff", "must not be below base_backoff");
      }
    }
    if (retry.buffer_bytes() > kMaxRetryBufferBytes) {
      return Error(path + ".buffer_bytes",
                   absl::StrCat("at most ", kMaxRetryBufferBytes, " (64 MiB), got ",
                                retry.buffer_bytes()));
    }
    if (retry.budget_percent() > 100) {
      return Error(path + ".budget_percent",
                   absl::StrCat("a percentage: at most 100, got ", retry.budget_percent()));
    }
    return absl::OkStatus();
  }

  // A duration that is either unset (the default) or at least 1ms.
  absl::Status CheckOptionalDuration(const std::string& path,
                                     const google::protobuf::Duration& duration) {
    if (duration.seconds() < 0 || duration.nanos() < 0) {
      return Error(path, "must not be negative");
    }
    if (duration.seconds() == 0 && duration.nanos() > 0 && duration.nanos() < 1000000) {
      return Error(path, "at least 1ms (or unset for the default)");
    }
    return absl::OkStatus();
  }

  // INVALID_ARGUMENT at `path`: `name` is none of `clusters` (listed, sorted,
  // then `more`).
  absl::Status UnknownCluster(const std::string& path, const std::string& name,
                              const absl::flat_hash_set<std::string>& clusters,
                              absl::string_view more = "") const {
    std::vector<std::string> known(clusters.begin(), clusters.end());
    std::sort(known.begin(), known.end());
    return Error(path, absl::StrCat("unknown cluster \"", name, "\" (clusters: ",
                                    absl::StrJoin(known, ", "), more, ")"));
  }

  // contracts.reflection: each entry names a cluster of the configuration,
  // and its timeout, when set, is at least 1ms.
  absl::Status CheckContracts(const absl::flat_hash_set<std::string>& clusters) {
    for (int i = 0; i < config_.contracts().reflection_size(); ++i) {
      const v1::ContractReflection& entry = config_.contracts().reflection(i);
      const std::string path = absl::StrCat("contracts.reflection[", i, "]");
      if (entry.cluster().empty()) {
        return Error(path + ".cluster", "required: a cluster name");
      }
      if (!clusters.contains(entry.cluster())) {
        return UnknownCluster(path + ".cluster", entry.cluster(), clusters);
      }
      RETURN_IF_ERROR(CheckOptionalDuration(path + ".timeout", entry.timeout()));
    }
    return absl::OkStatus();
  }

  absl::Status CheckMirror(const std::string& path, const v1::Mirror& mirror,
                           const absl::flat_hash_set<std::string>& clusters) {
    if (mirror.cluster().empty()) return Error(path + ".cluster", "required");
    if (mirror.cluster() == kLocalClusterName) {
      return Error(path + ".cluster", "the gateway's own services cannot be a mirror");
    }
    if (!clusters.contains(mirror.cluster())) {
      return UnknownCluster(path + ".cluster", mirror.cluster(), clusters);
    }
    if (mirror.percent() > 100) {
      return Error(path + ".percent",
                   absl::StrCat("want 1 to 100, got ", mirror.percent()));
    }
    if (mirror.max_buffered_bytes() != 0 && mirror.max_buffered_bytes() < 1024) {
      return Error(path + ".max_buffered_bytes",
                   absl::StrCat("at least 1024, got ", mirror.max_buffered_bytes()));
    }
    return absl::OkStatus();
  }

  absl::Status CheckSplit(const std::string& path, const v1::Route& route,
                          const absl::flat_hash_set<std::string>& clusters) {
    absl::flat_hash_set<std::string> seen;
    uint64_t total = 0;
    for (int i = 0; i < route.split_size(); ++i) {
      const auto& share = route.split(i);
      const std::string where = absl::StrCat(path, ".split[", i, "].cluster");
      if (share.cluster().empty()) return Error(where, "required");
      if (!clusters.contains(share.cluster())) {
        return UnknownCluster(where, share.cluster(), clusters);
      }
      if (!seen.insert(share.cluster()).second) {
        return Error(where, absl::StrCat("\"", share.cluster(), "\" is in the split twice"));
      }
      total += share.weight();
    }
    if (total == 0) return Error(path + ".split", "at least one weight must be above 0");
    if (total > 1000000) return Error(path + ".split", "the weights add up to more than 1000000");
    return absl::OkStatus();
  }

  // `host_name_ok`: cluster endpoints may be DNS host names (resolved at
  // start); where the gateway listens must be numeric or "localhost".
  absl::Status CheckAddress(const SocketAddress& address, const std::string& path,
                            bool port_zero_ok, bool host_name_ok) {
    if (address.address().empty()) return Error(path + ".address", "required");
    in_addr v4;
    in6_addr v6;
    if (address.address() != "localhost" &&
        inet_pton(AF_INET, address.address().c_str(), &v4) != 1 &&
        inet_pton(AF_INET6, address.address().c_str(), &v6) != 1 &&
        !(host_name_ok && IsHostName(address.address()))) {
      return Error(path + ".address",
                   absl::StrCat("\"", address.address(),
                                host_name_ok
                                    ? "\" is not a numeric IP address or a host name "
                                      "such as \"inference\" or \"my-svc.ns.svc.cluster.local\""
                                    : "\" is not a numeric IP address or \"localhost\" "
                                      "(host names are for cluster endpoints only)"));
    }
    if (address.port() > 65535 || (address.port() == 0 && !port_zero_ok)) {
      return Error(path + ".port",
                   absl::StrCat(port_zero_ok ? "want 0 to 65535" : "want 1 to 65535",
                                ", got ", address.port()));
    }
    return absl::OkStatus();
  }

  // A DNS host name (RFC 1123): dot-separated labels of 1 to 63 letters,
  // digits and hyphens, not starting or ending with a hyphen; at most 253
  // characters, one trailing dot allowed (a fully-qualified name). The last
  // label is not all digits, so a malformed numeric IP is not taken for a name.
  static bool IsHostName(absl::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > 253) return false;
    bool all_digits = false;
    for (absl::string_view label : absl::StrSplit(name, '.')) {
      if (label.empty() || label.size() > 63) return false;
      if (label.front() == '-' || label.back() == '-') return false;
      all_digits = true;
      for (char c : label) {
        if (!absl::ascii_isalnum(c) && c != '-') return false;
        if (!absl::ascii_isdigit(c)) all_digits = false;
      }
    }
    return !all_digits;
  }

  static bool IsIdentifier(absl::string_view name) {
    if (name.empty() || absl::ascii_isdigit(name[0])) return false;
    for (char c : name) {
      if (!absl::ascii_isalnum(c) && c != '_') return false;
    }
    return true;
  }

  static bool IsQualifiedName(absl::string_view name) {
    for (absl::string_view part : absl::StrSplit(name, '.')) {
      if (!IsIdentifier(part)) return false;
    }
    return true;
  }

  static bool IsMethodName(absl::string_view name) {
    const std::optional<MethodPath> named = MethodPath::ParseName(name);
    return named.has_value() && IsQualifiedName(named->service()) &&
           IsIdentifier(named->method());
  }

  absl::Status Error(const std::string& path, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(parsed_.Where(path), what));
  }

  const ParsedConfig& parsed_;
  const GatewayConfig& config_;
};

}  // namespace

absl::Status ValidateConfig(const ParsedConfig& parsed) {
  return Validator(parsed).Run();
}

}  // namespace polymesh::gateway
