#include "config/contract_checks.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/host_port.h"
#include "common/method_path.h"
#include "config/tls_options.h"
#include "contracts/reflection_client.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace polymesh::gateway {
namespace {

using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;

// The most names an error message lists before "and N more".
constexpr size_t kMaxListed = 8;

std::string ListNames(const std::vector<std::string>& names) {
  if (names.size() <= kMaxListed) return absl::StrJoin(names, ", ");
  std::vector<std::string> shown(names.begin(), names.begin() + kMaxListed);
  return absl::StrCat(absl::StrJoin(shown, ", "), " and ", names.size() - kMaxListed, " more");
}

std::string ServiceNames(const std::vector<const ServiceDescriptor*>& services) {
  std::vector<std::string> names;
  for (const ServiceDescriptor* service : services) names.push_back(service->full_name());
  return ListNames(names);
}

// "pkg.Service/Method" for messages, as routes write methods.
std::string MethodName(const MethodDescriptor& method) {
  return absl::StrCat(method.service()->full_name(), "/", method.name());
}

// Asks the servers of the cluster that contracts.reflection[index] names for
// their contracts, endpoint by endpoint until one answers. ValidateConfig
// has checked the entry: its cluster exists, its timeout is unset or valid.
absl::StatusOr<ContractRegistry::NamedSet> AskCluster(const ParsedConfig& parsed, int index) {
  const v1::ContractReflection& entry = parsed.config.contracts().reflection(index);
  const std::string where = absl::StrCat("contracts.reflection[", index, "]");
  const auto& clusters = parsed.config.clusters();
  const auto cluster = std::find_if(clusters.begin(), clusters.end(), [&](const v1::Cluster& c) {
    return c.name() == entry.cluster();
  });
  if (cluster == clusters.end()) {
    return absl::InvalidArgumentError(absl::StrCat(parsed.Where(where + ".cluster"),
                                                   "unknown cluster \"", entry.cluster(), "\""));
  }
  const absl::Duration timeout =
      entry.has_timeout() ? ToAbslDuration(entry.timeout()) : absl::Seconds(5);
  std::shared_ptr<const UpstreamTlsSpec> tls;
  if (cluster->has_tls()) {
    absl::StatusOr<std::shared_ptr<const UpstreamTlsSpec>> loaded =
        UpstreamTlsSpecFromConfig(cluster->tls());
    if (!loaded.ok()) return loaded.status();  // the validator names the field
    tls = std::move(*loaded);
  }
  std::vector<std::string> failures;
  for (const v1::SocketAddress& endpoint : cluster->endpoints()) {
    const std::string target = JoinHostPort(endpoint.address(), endpoint.port());
    grpc::ChannelArguments args;
    std::shared_ptr<grpc::ChannelCredentials> credentials =
        UpstreamChannelCredentials(tls.get(), endpoint.address(), args);
    std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(target, credentials, args);
    absl::StatusOr<google::protobuf::FileDescriptorSet> files =
        FilesFromReflection(*channel, {}, timeout);
    if (files.ok()) {
      return ContractRegistry::NamedSet{
          absl::StrCat("the reflection of cluster \"", entry.cluster(), "\" (", target, ")"),
          *std::move(files)};
    }
    failures.push_back(absl::StrCat(target, ": ", absl::StatusCodeToString(files.status().code()),
                                    ": ", files.status().message()));
  }
  return absl::UnavailableError(absl::StrCat(parsed.Where(where), "no endpoint of cluster \"",
                                             entry.cluster(), "\" answered server reflection (",
                                             absl::StrJoin(failures, "; "), ")"));
}

void AddMethods(const ServiceDescriptor& service, std::vector<const MethodDescriptor*>& out) {
  for (int i = 0; i < service.method_count(); ++i) out.push_back(service.method(i));
}

// The services a route's match covers (none when the match names nothing
// the contracts have).
std::vector<const ServiceDescriptor*> CoveredServices(const v1::RouteMatch& match,
                                                      const ContractRegistry& contracts) {
  switch (match.rule_case()) {
    case v1::RouteMatch::kService:
      if (const ServiceDescriptor* service = contracts.FindService(match.service())) {
        return {service};
      }
      return {};
    case v1::RouteMatch::kMethod:
      if (const MethodDescriptor* method = contracts.FindMethod(match.method())) {
        return {method->service()};
      }
      return {};
    case v1::RouteMatch::kPackage:
      return contracts.ServicesInPackage(match.package());
    case v1::RouteMatch::kAny:
      return contracts.services();
    case v1::RouteMatch::RULE_NOT_SET:
      break;
  }
  return {};
}

// The methods a route's match covers.
std::vector<const MethodDescriptor*> CoveredMethods(const v1::RouteMatch& match,
                                                    const ContractRegistry& contracts) {
  std::vector<const MethodDescriptor*> methods;
  if (match.rule_case() == v1::RouteMatch::kMethod) {
    if (const MethodDescriptor* method = contracts.FindMethod(match.method())) {
      methods.push_back(method);
    }
    return methods;
  }
  for (const ServiceDescriptor* service : CoveredServices(match, contracts)) {
    AddMethods(*service, methods);
  }
  return methods;
}

class RouteChecker {
 public:
  RouteChecker(const ParsedConfig& parsed, const ContractRegistry* contracts)
      : parsed_(parsed), contracts_(contracts) {}

  absl::Status Run() {
    const v1::GatewayConfig& config = parsed_.config;
    for (int i = 0; i < config.routes_size(); ++i) {
      const v1::Route& route = config.routes(i);
      const std::string path = absl::StrCat("routes[", i, "]");
      if (contracts_ == nullptr) {
        if (route.has_retry()) {
          return Error(path + ".retry", route,
                       "retries need contracts to check idempotency: add "
                       "contracts: { descriptor_sets: [...] } with the descriptor set "
                       "of the routed services");
        }
        continue;
      }
      absl::Status match = CheckMatch(path, route);
      if (!match.ok()) return match;
      if (route.has_retry()) {
        absl::Status retry = CheckRetry(path, route);
        if (!retry.ok()) return retry;
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status CheckMatch(const std::string& path, const v1::Route& route) {
    const v1::RouteMatch& match = route.match();
    switch (match.rule_case()) {
      case v1::RouteMatch::kService:
        if (contracts_->FindService(match.service()) == nullptr) {
          return Error(path + ".match.service", route,
                       absl::StrCat("unknown service \"", match.service(),
                                    "\": the contracts have ", KnownServices()));
        }
        break;
      case v1::RouteMatch::kMethod: {
        if (contracts_->FindMethod(match.method()) != nullptr) break;
        // Validated: "pkg.Service/Method", the leading "/" optional.
        const std::optional<MethodPath> named = MethodPath::ParseName(match.method());
        const absl::string_view service_name =
            named.has_value() ? named->service() : absl::string_view(match.method());
        const ServiceDescriptor* service = contracts_->FindService(service_name);
        if (service == nullptr) {
          return Error(path + ".match.method", route,
                       absl::StrCat("unknown service \"", service_name, "\" in method \"",
                                    match.method(), "\": the contracts have ",
                                    KnownServices()));
        }
        std::vector<std::string> methods;
        for (int m = 0; m < service->method_count(); ++m) {
          methods.push_back(service->method(m)->name());
        }
        return Error(path + ".match.method", route,
                     absl::StrCat("unknown method \"", match.method(), "\": ",
                                  service->full_name(), " has ", ListNames(methods)));
      }
      case v1::RouteMatch::kPackage:
        if (contracts_->ServicesInPackage(match.package()).empty()) {
          return Error(path + ".match.package", route,
                       absl::StrCat("no service of the contracts is in package \"",
                                    match.package(), "\": the contracts have ",
                                    KnownServices()));
        }
        break;
      case v1::RouteMatch::kAny:
      case v1::RouteMatch::RULE_NOT_SET:
        break;
    }
    return absl::OkStatus();
  }

  absl::Status CheckRetry(const std::string& path, const v1::Route& route) {
    std::vector<std::string> not_idempotent;
    const MethodDescriptor* first = nullptr;
    for (const MethodDescriptor* method : CoveredMethods(route.match(), *contracts_)) {
      if (ContractRegistry::IsIdempotent(*method)) continue;
      if (first == nullptr) first = method;
      not_idempotent.push_back(MethodName(*method));
    }
    if (first == nullptr) return absl::OkStatus();
    std::string what = absl::StrCat(
        "retries ", MethodName(*first), ", whose idempotency_level is ",
        ContractRegistry::IdempotencyLevelName(*first));
    if (not_idempotent.size() > 1) {
      std::vector<std::string> others(not_idempotent.begin() + 1, not_idempotent.end());
      absl::StrAppend(&what, " (and ", ListNames(others), ", not marked idempotent either)");
    }
    absl::StrAppend(&what,
                    ": only methods marked idempotent (option idempotency_level = "
                    "IDEMPOTENT or NO_SIDE_EFFECTS) may be retried; narrow the route's "
                    "match to them, or remove retry");
    return Error(path + ".retry", route, what);
  }

  std::string KnownServices() const {
    const std::vector<const ServiceDescriptor*> services = contracts_->services();
    if (services.empty()) return "no services";
    return ServiceNames(services);
  }

  absl::Status Error(const std::string& path, const v1::Route& route,
                     absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(parsed_.Where(path), "route \"", route.name(), "\" ", what));
  }

  const ParsedConfig& parsed_;
  const ContractRegistry* contracts_;
};

}  // namespace

std::string ConfigDirectory(absl::string_view config_path) {
  const size_t slash = config_path.rfind('/');
  if (slash == absl::string_view::npos) return "";
  if (slash == 0) return "/";
  return std::string(config_path.substr(0, slash));
}

void ResolveContractPaths(absl::string_view base_dir, v1::GatewayConfig& config) {
  if (base_dir.empty() || !config.has_contracts()) return;
  for (std::string& path : *config.mutable_contracts()->mutable_descriptor_sets()) {
    if (path.empty() || path[0] == '/') continue;
    path = absl::StrCat(base_dir, absl::EndsWith(base_dir, "/") ? "" : "/", path);
  }
}

absl::StatusOr<std::shared_ptr<const ContractRegistry>> LoadContracts(
    const ParsedConfig& parsed) {
  const v1::GatewayConfig& config = parsed.config;
  if (!config.has_contracts()) return std::shared_ptr<const ContractRegistry>();
  const auto& paths = config.contracts().descriptor_sets();
  if (paths.empty() && config.contracts().reflection().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        parsed.Where("contracts.descriptor_sets"),
        "at least one descriptor set or reflection entry is required, such as the build's "
        "descriptors/polymesh.binpb (protoc --include_imports --descriptor_set_out)"));
  }
  for (int i = 0; i < paths.size(); ++i) {
    const std::string where = absl::StrCat("contracts.descriptor_sets[", i, "]");
    if (paths[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(parsed.Where(where), "required: a descriptor set file"));
    }
    if (!std::ifstream(paths[i], std::ios::binary)) {
      return absl::InvalidArgumentError(absl::StrCat(
          parsed.Where(where), "cannot read the descriptor set \"", paths[i],
          "\" (relative paths start from the configuration file's folder)"));
    }
  }
  std::vector<ContractRegistry::NamedSet> reflected;
  for (int i = 0; i < config.contracts().reflection_size(); ++i) {
    absl::StatusOr<ContractRegistry::NamedSet> set = AskCluster(parsed, i);
    if (!set.ok()) return set.status();
    reflected.push_back(*std::move(set));
  }
  absl::StatusOr<std::unique_ptr<ContractRegistry>> registry =
      ContractRegistry::FromSources({paths.begin(), paths.end()}, reflected);
  if (!registry.ok()) {
    // The field of the set the error names, else the whole list.
    std::string where = "contracts.descriptor_sets";
    for (int i = 0; i < paths.size(); ++i) {
      if (absl::StrContains(registry.status().message(), absl::StrCat("\"", paths[i], "\""))) {
        where = absl::StrCat("contracts.descriptor_sets[", i, "]");
        break;
      }
    }
    return absl::InvalidArgumentError(
        absl::StrCat(parsed.Where(where), registry.status().message()));
  }
  return std::shared_ptr<const ContractRegistry>(std::move(*registry));
}

absl::Status CheckRouteContracts(const ParsedConfig& parsed, const ContractRegistry* contracts) {
  return RouteChecker(parsed, contracts).Run();
}

std::vector<const ServiceDescriptor*> RoutedServices(const v1::GatewayConfig& config,
                                                     const ContractRegistry& contracts) {
  absl::flat_hash_set<const ServiceDescriptor*> seen;
  std::vector<const ServiceDescriptor*> routed;
  for (const v1::Route& route : config.routes()) {
    for (const ServiceDescriptor* service : CoveredServices(route.match(), contracts)) {
      if (seen.insert(service).second) routed.push_back(service);
    }
  }
  std::sort(routed.begin(), routed.end(),
            [](const ServiceDescriptor* a, const ServiceDescriptor* b) {
              return a->full_name() < b->full_name();
            });
  return routed;
}

}  // namespace polymesh::gateway
