#include "config/config_loader.h"

#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "config/config_validator.h"
#include "config/contract_checks.h"

namespace polymesh::gateway {

namespace {

// Parses, validates and checks against the contracts; relative descriptor
// set paths start from `base_dir`.
absl::StatusOr<LoadedConfig> Load(absl::string_view yaml, absl::string_view source_name,
                                  absl::string_view base_dir) {
  ASSIGN_OR_RETURN(ParsedConfig parsed, ParseConfigYaml(yaml, source_name));
  ResolveContractPaths(base_dir, parsed.config);
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
