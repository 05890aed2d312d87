// Loading the gateway's configuration: parse (config_parser.h), then
// validate (config_validator.h), then check the routes against the contracts
// the configuration names (contract_checks.h).
//
// Usage:
//
//   absl::StatusOr<GatewayConfig> config = LoadConfigFile("mesh.yaml");
//   if (!config.ok()) { /* config.status().message() says what and where */ }
#ifndef POLYMESH_GATEWAY_SRC_CONFIG_CONFIG_LOADER_H_
#define POLYMESH_GATEWAY_SRC_CONFIG_CONFIG_LOADER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "auth/authenticator.h"
#include "config/config_parser.h"
#include "contracts/contract_registry.h"

namespace polymesh::gateway {

// A validated configuration and the contracts it names.
struct LoadedConfig {
  // The configuration, with contracts.descriptor_sets made relative to the
  // configuration file's folder.
  GatewayConfig config;
  // The contracts the routes were checked against; nullptr when the
  // configuration names none.
  std::shared_ptr<const ContractRegistry> contracts;
  // The credential checkers of auth_providers, their files read (never
  // nullptr: without providers, one that knows no credential).
  std::shared_ptr<const AuthProviders> auth;
};

// Reads the files of a validated configuration's auth_providers (API keys,
// JWKS) into its checkers; an error names the field whose file failed.
absl::StatusOr<std::shared_ptr<const AuthProviders>> LoadAuth(const GatewayConfig& config);

// Every file a configuration names (certificates, keys, CA files, key
// files, JWKS, the admin token, descriptor sets), for watching: a change
// to any of them reloads the configuration.
std::vector<std::string> ConfigFiles(const GatewayConfig& config);

// Parses then validates YAML text (see config_validator.h), and checks its
// routes against the contracts it names (see contract_checks.h); relative
// descriptor set paths start from the working directory.
absl::StatusOr<GatewayConfig> LoadConfigFromString(absl::string_view yaml,
                                                   absl::string_view source_name);

// Reads, parses and validates the file at `path`, and checks its routes
// against its contracts, whose relative paths start from the file's folder.
// NOT_FOUND when the file cannot be read, INVALID_ARGUMENT when its content
// is not a valid config.
absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path);

// LoadConfigFile, also returning the contracts it loaded.
absl::StatusOr<LoadedConfig> LoadConfigFileWithContracts(const std::string& path);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_CONFIG_CONFIG_LOADER_H_
