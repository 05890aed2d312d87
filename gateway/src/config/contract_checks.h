// The checks of a gateway configuration against its contracts: the
// descriptor sets named by `contracts` (see proto/polymesh/gateway/v1/config.proto).
//
// Checked, with the file position of the offending field:
//   - every descriptor set can be read and loaded (contracts.descriptor_sets[i]);
//   - every route's match names a service, method or package that the
//     contracts have (routes[i].match.service, .method, .package);
//   - a route with `retry` retries only methods marked idempotent
//     (`option idempotency_level = IDEMPOTENT` or NO_SIDE_EFFECTS): every
//     method its match covers (every method of the contracts for a
//     catch-all); and `retry` needs contracts at all.
//
// The checks take a parsed configuration and a registry, so that a reload
// runs them on the new configuration before swapping it in.
//
// Usage:
//
//   ASSIGN_OR_RETURN(ParsedConfig parsed, ParseConfigYaml(text, path));
//   ResolveContractPaths(ConfigDirectory(path), parsed.config);
//   RETURN_IF_ERROR(ValidateConfig(parsed));
//   ASSIGN_OR_RETURN(std::shared_ptr<const ContractRegistry> contracts,
//                    LoadContracts(parsed));           // nullptr: none named
//   RETURN_IF_ERROR(CheckRouteContracts(parsed, contracts.get()));
#ifndef POLYMESH_GATEWAY_SRC_CONFIG_CONTRACT_CHECKS_H_
#define POLYMESH_GATEWAY_SRC_CONFIG_CONTRACT_CHECKS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/config_parser.h"
#include "contracts/contract_registry.h"
#include "google/protobuf/descriptor.h"

namespace polymesh::gateway {

// The folder of the configuration file at `config_path` ("" for a file in
// the working directory), which relative descriptor set paths start from.
std::string ConfigDirectory(absl::string_view config_path);

// Makes each relative path of contracts.descriptor_sets relative to
// `base_dir` (unchanged when `base_dir` is ""); absolute paths stay.
void ResolveContractPaths(absl::string_view base_dir, v1::GatewayConfig& config);

// Loads the descriptor sets the configuration names, and the contracts its
// contracts.reflection clusters answer server reflection with, into one
// registry (this calls those servers); nullptr when it has no `contracts`.
// INVALID_ARGUMENT naming contracts.descriptor_sets[i] and where it was
// written when a set cannot be read or loaded, or when `contracts` names no
// set and no cluster; UNAVAILABLE naming contracts.reflection[i] when no
// endpoint of its cluster answers (each endpoint's error is in the message).
// ValidateConfig checks the reflection entries themselves (a cluster of the
// configuration, a timeout of at least 1ms).
absl::StatusOr<std::shared_ptr<const ContractRegistry>> LoadContracts(
    const ParsedConfig& parsed);

// Checks every route against `contracts` (nullptr when the configuration
// has none: then only that no route retries). INVALID_ARGUMENT naming the
// route, the field and where it was written.
absl::Status CheckRouteContracts(const ParsedConfig& parsed, const ContractRegistry* contracts);

// The services of `contracts` that some route of `config` sends calls to,
// whatever the route's metadata conditions, sorted by full name.
std::vector<const google::protobuf::ServiceDescriptor*> RoutedServices(
    const v1::GatewayConfig& config, const ContractRegistry& contracts);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_CONFIG_CONTRACT_CHECKS_H_
