// Route checks against the contracts (the descriptor set of proto/ that the
// build writes): good configurations load, bad ones are refused with the
// route, the field and its file position.
#include "config/contract_checks.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "config/config_loader.h"
#include "config/config_validator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The head of every test config; @SET@ is the descriptor set.
constexpr absl::string_view kHead = R"yaml(listener: { address: 127.0.0.1, port: 8080 }
local_services: { address: 127.0.0.1, port: 0 }
contracts: { descriptor_sets: ["@SET@"] }
clusters:
  - name: aiapi
    endpoints: [{ address: 127.0.0.1, port: 50051 }]
  - name: users
    endpoints: [{ address: 127.0.0.1, port: 50053 }]
routes:
)yaml";

std::string Config(absl::string_view routes, absl::string_view set = POLYMESH_DESCRIPTOR_SET) {
  return absl::StrCat(absl::StrReplaceAll(kHead, {{"@SET@", set}}), routes);
}

absl::Status LoadError(const std::string& yaml) {
  return LoadConfigFromString(yaml, "mesh.yaml").status();
}

TEST(ContractChecksTest, LoadsRoutesThatTheContractsHave) {
  const std::string yaml = Config(R"yaml(  - name: ai
    match: { service: polymesh.ai.v1.AIService }
    cluster: aiapi
    retry: { max_attempts: 3 }
  - name: get-user
    match: { method: /polymesh.users.v1.UserService/GetUser }
    cluster: users
    retry: {}
  - name: delete-user
    match: { method: polymesh.users.v1.UserService/DeleteUser }
    cluster: users
    retry: {}
  - name: users
    match: { package: polymesh.users }
    cluster: users
  - name: inference
    match: { service: inference.GRPCInferenceService }
    cluster: aiapi
  - name: health
    match: { service: grpc.health.v1.Health }
    cluster: local
    retry: {}
  - name: reflection
    match: { package: grpc.reflection }
    cluster: local
  - name: rest
    match: { any: true }
    cluster: aiapi
)yaml");
  absl::StatusOr<GatewayConfig> config = LoadConfigFromString(yaml, "mesh.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
}

TEST(ContractChecksTest, UnknownServiceNamesTheRouteAndPosition) {
  absl::Status status = LoadError(Config(R"yaml(  - name: ai
    match: { service: polymesh.ai.v1.AIServic }
    cluster: aiapi
)yaml"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("mesh.yaml:11:23: routes[0].match.service: route \"ai\" unknown "
                        "service \"polymesh.ai.v1.AIServic\": the contracts have "));
  EXPECT_THAT(status.message(), HasSubstr("polymesh.ai.v1.AIService"));
}

TEST(ContractChecksTest, UnknownMethodNamesTheServicesMethods) {
  absl::Status status = LoadError(Config(R"yaml(  - name: ai
    match: { method: /polymesh.ai.v1.AIService/Predicts }
    cluster: aiapi
)yaml"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("mesh.yaml:11:22: routes[0].match.method: route \"ai\""));
  EXPECT_THAT(status.message(),
              HasSubstr("unknown method \"/polymesh.ai.v1.AIService/Predicts\": "
                        "polymesh.ai.v1.AIService has ListModels, GetModel, Predict, "
                        "PredictStream"));
}

TEST(ContractChecksTest, MethodOfAnUnknownServiceNamesTheService) {
  absl::Status status = LoadError(Config(R"yaml(  - name: ai
    match: { method: polymesh.ai.v2.AIService/Predict }
    cluster: aiapi
)yaml"));
  EXPECT_THAT(status.message(), HasSubstr("routes[0].match.method: route \"ai\" unknown "
                                          "service \"polymesh.ai.v2.AIService\""));
}

TEST(ContractChecksTest, PackageWithoutServicesIsRefused) {
  absl::Status status = LoadError(Config(R"yaml(  - name: ok
    match: { package: polymesh }
    cluster: aiapi
  - name: ai
    match: { package: polymesh.a }
    cluster: aiapi
)yaml"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("mesh.yaml:14:23: routes[1].match.package: route \"ai\" no service "
                        "of the contracts is in package \"polymesh.a\""));
}

TEST(ContractChecksTest, RetryOfAServiceWithANonIdempotentMethodIsRefused) {
  absl::Status status = LoadError(Config(R"yaml(  - name: users
    match: { service: polymesh.users.v1.UserService }
    cluster: users
    retry: { max_attempts: 2 }
)yaml"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("mesh.yaml:13:12: routes[0].retry: route \"users\" retries "
                        "polymesh.users.v1.UserService/CreateUser, whose idempotency_level "
                        "is IDEMPOTENCY_UNKNOWN (and "
                        "polymesh.users.v1.UserService/UpdateUser, not marked idempotent "
                        "either): only methods marked idempotent"));
}

TEST(ContractChecksTest, RetryOfANonIdempotentMethodIsRefused) {
  absl::Status status = LoadError(Config(R"yaml(  - name: create
    match: { method: polymesh.users.v1.UserService/CreateUser }
    cluster: users
    retry: {}
)yaml"));
  EXPECT_THAT(status.message(),
              HasSubstr("routes[0].retry: route \"create\" retries "
                        "polymesh.users.v1.UserService/CreateUser, whose idempotency_level "
                        "is IDEMPOTENCY_UNKNOWN: only"));
}

TEST(ContractChecksTest, RetryOfACatchAllCoversEveryMethod) {
  // A metadata-only route (any + headers) may take any method.
  absl::Status status = LoadError(Config(R"yaml(  - name: canary
    match: { any: true, headers: [{ name: x-canary, present: true }] }
    cluster: users
    retry: {}
)yaml"));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("routes[0].retry: route \"canary\" retries "
                        "inference.GRPCInferenceService/RepositoryModelLoad, whose "
                        "idempotency_level is IDEMPOTENCY_UNKNOWN (and "
                        "inference.GRPCInferenceService/RepositoryModelUnload, "
                        "polymesh.users.v1.UserService/CreateUser, "
                        "polymesh.users.v1.UserService/UpdateUser, not marked idempotent "
                        "either)"));
}

TEST(ContractChecksTest, RetryOfAPackageCoversItsServices) {
  EXPECT_THAT(LoadError(Config(R"yaml(  - name: inference
    match: { package: inference }
    cluster: aiapi
    retry: {}
)yaml")).message(),
              HasSubstr("retries inference.GRPCInferenceService/RepositoryModelLoad, "));
}

TEST(ContractChecksTest, RetryNeedsContracts) {
  absl::Status status = LoadError(R"yaml(listener: { address: 127.0.0.1, port: 8080 }
clusters:
  - name: users
    endpoints: [{ address: 127.0.0.1, port: 50053 }]
routes:
  - name: get
    match: { method: polymesh.users.v1.UserService/GetUser }
    cluster: users
    retry: { max_attempts: 2 }
)yaml");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("mesh.yaml:9:12: routes[0].retry: route \"get\" retries need "
                        "contracts to check idempotency"));
}

TEST(ContractChecksTest, WithoutContractsRoutesAreNotChecked) {
  EXPECT_TRUE(LoadConfigFromString(R"yaml(listener: { address: 127.0.0.1, port: 8080 }
clusters:
  - name: users
    endpoints: [{ address: 127.0.0.1, port: 50053 }]
routes:
  - name: anything
    match: { service: no.Such }
    cluster: users
)yaml",
                                   "mesh.yaml")
                  .ok());
}

TEST(ContractChecksTest, UnreadableSetNamesItsIndexAndPosition) {
  const std::string yaml = absl::StrReplaceAll(
      Config(R"yaml(  - name: ai
    match: { service: polymesh.ai.v1.AIService }
    cluster: aiapi
)yaml"),
      {{"descriptor_sets: [\"", absl::StrCat("descriptor_sets: [\"", POLYMESH_DESCRIPTOR_SET,
                                             "\", \"/no/such/set.binpb\", \"")}});
  absl::Status status = LoadError(yaml);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("contracts.descriptor_sets[1]: cannot read the "
                                          "descriptor set \"/no/such/set.binpb\""));
  EXPECT_THAT(status.message(), HasSubstr("mesh.yaml:3:"));
}

TEST(ContractChecksTest, ASetThatIsNotADescriptorSetIsNamed) {
  const std::string bad = absl::StrCat(testing::TempDir(), "/not_a_set.yaml");
  std::ofstream(bad) << "listener: { port: 1 }\n";
  absl::Status status = LoadError(Config(R"yaml(  - name: ai
    match: { service: polymesh.ai.v1.AIService }
    cluster: aiapi
)yaml",
                                         bad));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("mesh.yaml:3:32: contracts.descriptor_sets[0]: "));
  EXPECT_THAT(status.message(), HasSubstr("is not a descriptor set"));
}

TEST(ContractChecksTest, ContractsNeedASet) {
  absl::Status status = LoadError(R"yaml(listener: { address: 127.0.0.1, port: 8080 }
contracts: {}
)yaml");
  EXPECT_THAT(status.message(),
              HasSubstr("mesh.yaml:2:12: contracts.descriptor_sets: at least one descriptor "
                        "set is required"));
}

TEST(ContractChecksTest, RelativeSetsStartFromTheConfigFilesFolder) {
  const std::filesystem::path dir =
      std::filesystem::path(testing::TempDir()) / "contract_checks_relative";
  std::filesystem::create_directories(dir / "sets");
  std::filesystem::copy_file(POLYMESH_DESCRIPTOR_SET, dir / "sets" / "mesh.binpb",
                             std::filesystem::copy_options::overwrite_existing);
  const std::filesystem::path file = dir / "gateway.yaml";
  std::ofstream(file) << Config(R"yaml(  - name: ai
    match: { service: polymesh.ai.v1.AIService }
    cluster: aiapi
)yaml",
                                "sets/mesh.binpb");
  absl::StatusOr<LoadedConfig> loaded = LoadConfigFileWithContracts(file.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_NE(loaded->contracts, nullptr);
  EXPECT_NE(loaded->contracts->FindService("polymesh.ai.v1.AIService"), nullptr);
  // The loaded config names the set by the path it was found at.
  EXPECT_EQ(loaded->config.contracts().descriptor_sets(0),
            (dir / "sets" / "mesh.binpb").string());
  // From the working directory, the same relative path names nothing.
  absl::Status status = LoadConfigFromString(
      Config("  - { name: ai, match: { any: true }, cluster: aiapi }\n", "sets/mesh.binpb"),
      "mesh.yaml").status();
  EXPECT_THAT(status.message(), HasSubstr("cannot read the descriptor set \"sets/mesh.binpb\""));
}

TEST(ContractChecksTest, ConfigDirectoryIsTheFilesFolder) {
  EXPECT_EQ(ConfigDirectory("mesh.yaml"), "");
  EXPECT_EQ(ConfigDirectory("config/mesh.yaml"), "config");
  EXPECT_EQ(ConfigDirectory("/etc/polymesh/gateway.yaml"), "/etc/polymesh");
  EXPECT_EQ(ConfigDirectory("/gateway.yaml"), "/");
}

TEST(ContractChecksTest, RoutedServicesAreThoseSomeRouteTakes) {
  absl::StatusOr<ParsedConfig> parsed = ParseConfigYaml(Config(R"yaml(  - name: users-python
    match:
      service: polymesh.users.v1.UserService
      headers: [{ name: x-users-impl, exact: python }]
    cluster: users
  - name: predict
    match: { method: polymesh.ai.v1.AIService/Predict }
    cluster: aiapi
  - name: grpc
    match: { package: grpc }
    cluster: local
)yaml"),
                                                        "mesh.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<std::shared_ptr<const ContractRegistry>> contracts = LoadContracts(*parsed);
  ASSERT_TRUE(contracts.ok()) << contracts.status();
  ASSERT_NE(*contracts, nullptr);
  std::vector<std::string> names;
  for (const auto* service : RoutedServices(parsed->config, **contracts)) {
    names.push_back(service->full_name());
  }
  EXPECT_THAT(names, ElementsAre("grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                                 "grpc.reflection.v1alpha.ServerReflection",
                                 "polymesh.ai.v1.AIService", "polymesh.users.v1.UserService"));
}

}  // namespace
}  // namespace polymesh::gateway
