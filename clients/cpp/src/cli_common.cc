#include "cli_common.h"

#include <cstdio>
#include <cstdlib>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/method_path.h"

#ifndef POLYMESH_DEFAULT_DESCRIPTOR_SET
#define POLYMESH_DEFAULT_DESCRIPTOR_SET "descriptors/polymesh.binpb"
#endif

namespace polymesh::cli {

void PrintError(absl::string_view code_name, absl::string_view message) {
  std::fprintf(stderr, "polymesh: %.*s: %.*s\n", static_cast<int>(code_name.size()),
               code_name.data(), static_cast<int>(message.size()), message.data());
}

int UsageError(absl::string_view verb, absl::string_view message) {
  PrintError("USAGE", message);
  std::fprintf(stderr, "Run 'polymesh %.*s --help' for usage.\n", static_cast<int>(verb.size()),
               verb.data());
  return kExitUsage;
}

int BadInput(const absl::Status& status) {
  PrintError(absl::StatusCodeToString(status.code()), status.message());
  return kExitBadInput;
}

std::string DefaultDescriptorSet() {
  const char* from_env = std::getenv("POLYMESH_DESCRIPTOR_SET");
  if (from_env != nullptr && *from_env != '\0') return from_env;
  return POLYMESH_DEFAULT_DESCRIPTOR_SET;
}

absl::StatusOr<std::unique_ptr<gateway::ContractRegistry>> LoadRegistry(
    const std::vector<std::string>& paths) {
  const std::vector<std::string> files =
      paths.empty() ? std::vector<std::string>{DefaultDescriptorSet()} : paths;
  absl::StatusOr<std::unique_ptr<gateway::ContractRegistry>> registry =
      gateway::ContractRegistry::FromDescriptorSetFiles(files);
  if (!registry.ok() && paths.empty()) {
    return absl::Status(
        registry.status().code(),
        absl::StrCat(registry.status().message(),
                     " (name a descriptor set with --descriptor-set FILE or "
                     "$POLYMESH_DESCRIPTOR_SET; `./dev build` writes the project's)"));
  }
  return registry;
}

std::string MethodPath(absl::string_view name) {
  if (absl::StartsWith(name, "/")) return std::string(name);
  if (absl::StrContains(name, '/')) return absl::StrCat("/", name);
  const size_t dot = name.rfind('.');
  if (dot == absl::string_view::npos) return absl::StrCat("/", name);
  return absl::StrCat("/", name.substr(0, dot), "/", name.substr(dot + 1));
}

std::string MethodPath(const google::protobuf::MethodDescriptor& method) {
  return absl::StrCat("/", method.service()->full_name(), "/", method.name());
}

absl::StatusOr<const google::protobuf::MethodDescriptor*> FindMethod(
    const gateway::ContractRegistry& registry, absl::string_view name) {
  if (const auto* method = registry.FindMethod(name); method != nullptr) return method;
  // Say whether the service is known, and what it offers.
  const std::string path = MethodPath(name);
  const std::optional<gateway::MethodPath> parsed = gateway::MethodPath::Parse(path);
  const absl::string_view service_name =
      parsed.has_value() ? parsed->service() : absl::StripPrefix(path, "/");
  if (const auto* service = registry.FindService(service_name); service != nullptr) {
    std::vector<std::string> methods;
    for (int i = 0; i < service->method_count(); ++i) methods.push_back(service->method(i)->name());
    return absl::NotFoundError(absl::StrCat("unknown method \"", name, "\": service ",
                                            service_name, " has ", absl::StrJoin(methods, ", ")));
  }
  return absl::NotFoundError(absl::StrCat("unknown method \"", name,
                                          "\" (no service ", service_name,
                                          " in the contracts; `polymesh call --list` lists them)"));
}

}  // namespace polymesh::cli
