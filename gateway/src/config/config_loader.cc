#include "config/config_loader.h"

#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "config/config_validator.h"
#include "config/contract_checks.h"

namespace polymesh::gateway {

namespace {

// Makes the TLS listener's relative file paths start from `base_dir`.
void ResolveTlsPaths(absl::string_view base_dir, v1::GatewayConfig& config) {
  if (base_dir.empty() || !config.has_tls_listener()) return;
  v1::ServerTls& tls = *config.mutable_tls_listener()->mutable_tls();
  for (std::string* path :
       {tls.mutable_certificate_chain_file(), tls.mutable_private_key_file()}) {
    if (path->empty() || (*path)[0] == '/') continue;
    *path = absl::StrCat(base_dir, absl::EndsWith(base_dir, "/") ? "" : "/", *path);
  }
}

// Parses, validates and checks against the contracts; relative descriptor
// set paths start from `base_dir`.
absl::StatusOr<LoadedConfig> Load(absl::string_view yaml, absl::string_view source_name,
                                  absl::string_view base_dir) {
  ASSIGN_OR_RETURN(ParsedConfig parsed, ParseConfigYaml(yaml, source_name));
  ResolveContractPaths(base_dir, parsed.config);
  ResolveTlsPaths(base_dir, parsed.config);
  RETURN_IF_ERROR(ValidateConfig(parsed));
  LoadedConfig loaded;
  ASSIGN_OR_RETURN(loaded.contracts, LoadContracts(parsed));
  RETURN_IF_ERROR(CheckRouteContracts(parsed, loaded.contracts.get()));
  loaded.config = std::move(parsed.config);
  return loaded;
}

}  // namespace

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
