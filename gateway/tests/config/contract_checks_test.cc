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
#include "google/protobuf/descriptor.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "polymesh/testing/v1/echo.grpc.pb.h"

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
  const std::string bad = absl::StrCat(::testing::TempDir(), "/not_a_set.yaml");
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
                        "set or reflection entry is required"));
}

TEST(ContractChecksTest, RelativeSetsStartFromTheConfigFilesFolder) {
  const std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / "contract_checks_relative";
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

// contracts.reflection: a server with gRPC C++'s own reflection plugin,
// which in gRPC 1.51 answers the older v1alpha protocol only, serving the
// echo contract (no call is made to it).
class ReflectedContractsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&echo_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    server_->Shutdown();
    std::filesystem::remove(path_);
  }

  // Loads `contracts` and `routes` with a cluster `echo` whose first
  // endpoint is a closed port and whose second is the server.
  absl::StatusOr<LoadedConfig> Load(absl::string_view contracts, absl::string_view routes) {
    std::ofstream(path_) << absl::StrCat(
        "listener: { address: 127.0.0.1, port: 8080 }\n", contracts, "\n",
        "clusters:\n  - name: echo\n    endpoints: [{ address: 127.0.0.1, port: 1 }, "
        "{ address: 127.0.0.1, port: ", port_, " }]\nroutes:\n", routes);
    return LoadConfigFileWithContracts(path_);
  }

  static constexpr absl::string_view kEchoRoute =
      "  - name: echo\n    match: { service: polymesh.testing.v1.EchoService }\n"
      "    cluster: echo\n";

  polymesh::testing::v1::EchoService::Service echo_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  const std::string path_ = (std::filesystem::temp_directory_path() /
                             absl::StrCat("polymesh-reflected-contracts-", getpid(), "-",
                                          ::testing::UnitTest::GetInstance()
                                              ->current_test_info()
                                              ->name(),
                                          ".yaml"))
                                .string();
};

TEST_F(ReflectedContractsTest, RoutesAreCheckedAgainstWhatTheClusterServes) {
  absl::StatusOr<LoadedConfig> loaded =
      Load("contracts: { reflection: [{ cluster: echo, timeout: 5s }] }", kEchoRoute);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_NE(loaded->contracts, nullptr);
  const auto* unary = loaded->contracts->FindMethod("/polymesh.testing.v1.EchoService/Unary");
  ASSERT_NE(unary, nullptr);
  EXPECT_EQ(unary->input_type()->full_name(), "polymesh.testing.v1.UnaryRequest");
  // Every service it lists, its reflection service too.
  EXPECT_NE(loaded->contracts->FindService("grpc.reflection.v1alpha.ServerReflection"), nullptr);

  absl::Status unknown = Load("contracts: { reflection: [{ cluster: echo }] }",
                              "  - name: ai\n    match: { service: polymesh.ai.v1.AIService }\n"
                              "    cluster: echo\n")
                             .status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("polymesh.ai.v1.AIService"));
}

TEST_F(ReflectedContractsTest, FilesOfADescriptorSetComeFromTheSet) {
  absl::StatusOr<LoadedConfig> loaded =
      Load(absl::StrCat("contracts: { descriptor_sets: [\"", POLYMESH_DESCRIPTOR_SET,
                        "\"], reflection: [{ cluster: echo }] }"),
           kEchoRoute);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::string* echo = loaded->contracts->SerializedFile("polymesh/testing/v1/echo.proto");
  ASSERT_NE(echo, nullptr);
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(*echo));
  // The set's copy has its comments; a server's reflection has none.
  EXPECT_TRUE(file.has_source_code_info());
  // And the reflected-only files are there too.
  EXPECT_NE(loaded->contracts->FindService("grpc.reflection.v1alpha.ServerReflection"), nullptr);
}

TEST_F(ReflectedContractsTest, AClusterThatDoesNotAnswerStopsTheLoad) {
  server_->Shutdown();
  absl::Status status =
      Load("contracts: { reflection: [{ cluster: echo, timeout: 2s }] }", kEchoRoute).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(status.message()), HasSubstr("contracts.reflection[0]"));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("no endpoint of cluster \"echo\" answered server reflection"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("127.0.0.1:1: UNAVAILABLE"));
}

TEST_F(ReflectedContractsTest, MistakesNameTheField) {
  absl::Status unknown =
      Load("contracts: { reflection: [{ cluster: nope }] }", kEchoRoute).status();
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("contracts.reflection[0].cluster"));
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("unknown cluster \"nope\" (clusters: echo)"));

  absl::Status short_timeout =
      Load("contracts: { reflection: [{ cluster: echo, timeout: 0.0001s }] }", kEchoRoute)
          .status();
  EXPECT_EQ(short_timeout.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(short_timeout.message()), HasSubstr("contracts.reflection[0].timeout"));
}

}  // namespace
}  // namespace polymesh::gateway
