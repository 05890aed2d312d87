#include "config/config_loader.h"

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "auth/api_keys.h"
#include "auth/jwks.h"
#include "auth/jwt.h"
#include "common/status_macros.h"
#include "config/config_validator.h"
#include "config/contract_checks.h"

namespace polymesh::gateway {

namespace {

// The file paths a configuration names (besides its descriptor sets).
std::vector<std::string*> MutableFilePaths(v1::GatewayConfig& config) {
  std::vector<std::string*> paths;
  if (config.has_tls_listener()) {
    v1::ServerTls& tls = *config.mutable_tls_listener()->mutable_tls();
    paths.push_back(tls.mutable_certificate_chain_file());
    paths.push_back(tls.mutable_private_key_file());
    paths.push_back(tls.mutable_client_ca_file());
  }
  if (config.has_auth_providers()) {
    v1::AuthProviders& auth = *config.mutable_auth_providers();
    if (auth.has_api_keys()) paths.push_back(auth.mutable_api_keys()->mutable_keys_file());
    if (auth.has_jwt()) paths.push_back(auth.mutable_jwt()->mutable_jwks_file());
  }
  if (config.has_admin()) paths.push_back(config.mutable_admin()->mutable_token_file());
  for (v1::Cluster& cluster : *config.mutable_clusters()) {
    if (!cluster.has_tls()) continue;
    v1::UpstreamTls& tls = *cluster.mutable_tls();
    paths.push_back(tls.mutable_ca_file());
    paths.push_back(tls.mutable_certificate_chain_file());
    paths.push_back(tls.mutable_private_key_file());
  }
  return paths;
}

// Makes the relative file paths start from `base_dir`.
void ResolveFilePaths(absl::string_view base_dir, v1::GatewayConfig& config) {
  if (base_dir.empty()) return;
  for (std::string* path : MutableFilePaths(config)) {
    if (path->empty() || (*path)[0] == '/') continue;
    *path = absl::StrCat(base_dir, absl::EndsWith(base_dir, "/") ? "" : "/", *path);
  }
}

// Names the field of a provider whose file failed to load.
absl::Status AuthFileError(absl::string_view field, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(field, ": ", status.message()));
}

// Parses, validates and checks against the contracts; relative descriptor
// set paths start from `base_dir`.
absl::StatusOr<LoadedConfig> Load(absl::string_view yaml, absl::string_view source_name,
                                  absl::string_view base_dir) {
  ASSIGN_OR_RETURN(ParsedConfig parsed, ParseConfigYaml(yaml, source_name));
  ResolveContractPaths(base_dir, parsed.config);
  ResolveFilePaths(base_dir, parsed.config);
  RETURN_IF_ERROR(ValidateConfig(parsed));
  LoadedConfig loaded;
  ASSIGN_OR_RETURN(loaded.auth, LoadAuth(parsed.config));
  ASSIGN_OR_RETURN(loaded.contracts, LoadContracts(parsed));
  RETURN_IF_ERROR(CheckRouteContracts(parsed, loaded.contracts.get()));
  loaded.config = std::move(parsed.config);
  return loaded;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const AuthProviders>> LoadAuth(const GatewayConfig& config) {
  AuthProviders::Options options;
  if (config.has_auth_providers()) {
    const v1::AuthProviders& auth = config.auth_providers();
    if (auth.has_api_keys()) {
      absl::StatusOr<std::shared_ptr<const ApiKeys>> keys =
          ApiKeys::ReadFile(auth.api_keys().keys_file());
      if (!keys.ok()) return AuthFileError("auth_providers.api_keys.keys_file", keys.status());
      options.api_keys = std::move(*keys);
      if (!auth.api_keys().header().empty()) options.api_key_header = auth.api_keys().header();
    }
    if (auth.has_jwt()) {
      const v1::Jwt& jwt = auth.jwt();
      absl::StatusOr<std::shared_ptr<const Jwks>> keys = Jwks::ReadFile(jwt.jwks_file());
      if (!keys.ok()) return AuthFileError("auth_providers.jwt.jwks_file", keys.status());
      JwtRules rules;
      rules.issuer = jwt.issuer();
      rules.audiences.assign(jwt.audiences().begin(), jwt.audiences().end());
      if (!jwt.principal_claim().empty()) rules.principal_claim = jwt.principal_claim();
      rules.groups_claim = jwt.groups_claim();
      if (jwt.has_clock_skew()) rules.clock_skew = ToAbslDuration(jwt.clock_skew());
      options.jwt = std::make_shared<const JwtVerifier>(std::move(*keys), std::move(rules));
    }
    options.mtls = auth.has_mtls();
  }
  return std::make_shared<const AuthProviders>(std::move(options));
}

std::vector<std::string> ConfigFiles(const GatewayConfig& config) {
  GatewayConfig copy = config;
  std::vector<std::string> files;
  for (std::string* path : MutableFilePaths(copy)) {
    if (!path->empty()) files.push_back(std::move(*path));
  }
  for (const std::string& path : config.contracts().descriptor_sets()) files.push_back(path);
  return files;
}

absl::StatusOr<GatewayConfig> LoadConfigFromString(absl::string_view yaml,
                                                   absl::string_view source_name) {
  ASSIGN_OR_RETURN(LoadedConfig loaded, Load(yaml, source_name, ""));
  return std::move(loaded.config);
}

absl::StatusOr<LoadedConfig> LoadConfigFileWithContracts(const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the configuration file \"", path, "\""));
  }
  std::stringstream text;
  text << file.rdbuf();
  return Load(text.str(), path, ConfigDirectory(path));
}

absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path) {
  ASSIGN_OR_RETURN(LoadedConfig loaded, LoadConfigFileWithContracts(path));
  return std::move(loaded.config);
}

}  // namespace polymesh::gateway
