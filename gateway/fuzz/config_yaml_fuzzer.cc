// Fuzzes the loading of the gateway's configuration file: YAML text parsed
// against the schema (config/config_parser.h), validated
// (config/config_validator.h), its routes checked (config/contract_checks.h,
// for a configuration without contracts: contracts would be read from files
// or asked of servers), then what the gateway builds from a valid one: the
// cluster specs (upstream/cluster.h, with a resolver that answers every
// name) and the route table (routing/route_table.h).
//
// Properties: a configuration is refused with INVALID_ARGUMENT and a message
// that names the file; every recorded position is a real line and column; a
// valid configuration yields its clusters, and routes whose clusters (split
// shares and mirrors included) all exist; a route that matches one method
// without conditions is found for that method, unless an earlier route takes
// it.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/method_path.h"
#include "config/config_parser.h"
#include "config/config_validator.h"
#include "config/contract_checks.h"
#include "fuzz_check.h"
#include "routing/route_table.h"
#include "upstream/cluster.h"

namespace polymesh::gateway {
namespace {

constexpr absl::string_view kSource = "fuzz.yaml";

void CheckRefusal(const absl::Status& status, absl::string_view stage) {
  FUZZ_CHECK(absl::IsInvalidArgument(status)) << stage << ": " << status;
  FUZZ_CHECK(absl::StartsWith(status.message(), kSource)) << stage << ": " << status;
}

}  // namespace
}  // namespace polymesh::gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace polymesh::gateway;  // NOLINT(google-build-using-namespace)
  const absl::string_view yaml(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<ParsedConfig> parsed = ParseConfigYaml(yaml, kSource);
  if (!parsed.ok()) {
    CheckRefusal(parsed.status(), "parse");
    return 0;
  }
  for (const auto& [path, position] : parsed->positions) {
    FUZZ_CHECK(position.line >= 1 && position.column >= 1)
        << path << " at " << position.line << ":" << position.column;
  }
  if (absl::Status valid = ValidateConfig(*parsed); !valid.ok()) {
    CheckRefusal(valid, "validate");
    return 0;
  }
  const GatewayConfig& config = parsed->config;
  if (!config.has_contracts()) {
    if (absl::Status checked = CheckRouteContracts(*parsed, nullptr); !checked.ok()) {
      CheckRefusal(checked, "route checks");
      return 0;
    }
  }

  // What the gateway builds from it: the clusters (every host name
  // resolves), then the routes.
  constexpr uint16_t kLocalPort = 50099;
  const HostResolver resolver =
      [](absl::string_view) -> absl::StatusOr<std::vector<std::string>> {
    return std::vector<std::string>{"127.0.0.1"};
  };
  const absl::StatusOr<std::vector<ClusterSpec>> clusters =
      ClusterSpecsFromConfig(config, kLocalPort, resolver);
  FUZZ_CHECK(clusters.ok()) << "a valid configuration's clusters: " << clusters.status();
  const RouteTable routes(config);
  FUZZ_CHECK(routes.routes().size() == static_cast<size_t>(config.routes_size()));
  for (size_t i = 0; i < routes.routes().size(); ++i) {
    const Route& route = routes.routes()[i];
    FUZZ_CHECK(route.cluster_index < clusters->size())
        << "route " << route.name << ": cluster " << route.cluster << " is not there";
    FUZZ_CHECK((*clusters)[route.cluster_index].name == route.cluster) << route.name;
    for (const Route::Share& share : route.split) {
      FUZZ_CHECK(share.cluster_index < clusters->size()) << route.name << ": " << share.cluster;
      FUZZ_CHECK((*clusters)[share.cluster_index].name == share.cluster) << route.name;
    }
    if (!route.split.empty()) {
      FUZZ_CHECK(route.split_total > 0 && route.split.back().end == route.split_total);
      for (uint64_t position = 0; position < 4; ++position) {
        const Route::Share& share = route.ShareAt(position * 7919);
        FUZZ_CHECK(&share >= &route.split.front() && &share <= &route.split.back());
      }
    }
    if (route.mirror.has_value()) {
      FUZZ_CHECK(route.mirror->cluster_index < clusters->size()) << route.name;
      FUZZ_CHECK(route.mirror->percent >= 1 && route.mirror->percent <= 100) << route.name;
    }
    const v1::RouteMatch& match = config.routes(static_cast<int>(i)).match();
    if (match.rule_case() == v1::RouteMatch::kMethod && route.headers.empty()) {
      const std::optional<MethodPath> method = MethodPath::ParseName(match.method());
      FUZZ_CHECK(method.has_value()) << "a valid route's method: " << match.method();
      const Route* found = routes.Find(method->Path());
      FUZZ_CHECK(found != nullptr && found <= &route)
          << "route " << route.name << " is not found for " << method->Path();
    }
  }
  return 0;
}
