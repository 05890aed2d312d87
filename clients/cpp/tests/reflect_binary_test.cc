// `polymesh call --reflect`, the real binary, against a gRPC C++ server on
// loopback that serves gRPC's health service and server reflection (the
// gateway's ReflectionService, from the build's descriptor set): the
// contracts come from the server, so no descriptor set is read.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli_common.h"
#include "gmock/gmock.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "local/reflection_service.h"
#include "polymesh_process.h"

namespace polymesh::cli {
namespace {

using ::polymesh::cli::testing::ProcessResult;
using ::polymesh::cli::testing::RunProcess;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Param: whether the server has only the older v1alpha reflection service
// (as gRPC C++ 1.51's own reflection plugin).
class ReflectBinaryTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<gateway::ContractRegistry>> registry = LoadRegistry({});
    ASSERT_TRUE(registry.ok()) << registry.status();
    reflection_ = std::make_unique<gateway::ReflectionService>(
        std::shared_ptr<const gateway::ContractRegistry>(*std::move(registry)),
        std::vector<std::string>{});
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    if (!GetParam()) builder.RegisterService(reflection_->v1());
    builder.RegisterService(reflection_->v1alpha());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  ProcessResult Call(std::vector<std::string> args) {
    std::vector<std::string> argv = {POLYMESH_BINARY, "call", "--reflect", "--target",
                                     absl::StrCat("127.0.0.1:", port_)};
    argv.insert(argv.end(), args.begin(), args.end());
    // No descriptor set could be found: everything comes from the server.
    argv.insert(argv.begin(), {"/usr/bin/env", "POLYMESH_DESCRIPTOR_SET=/nonexistent.binpb"});
    return RunProcess(argv, "");
  }

  std::unique_ptr<gateway::ReflectionService> reflection_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_P(ReflectBinaryTest, CallsAMethodDescribedByTheServer) {
  const ProcessResult r = Call({"grpc.health.v1.Health/Check", "{}"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"status\":\"SERVING\"}\n");
}

TEST_P(ReflectBinaryTest, ListsTheServicesTheServerLists) {
  const ProcessResult r = Call({"--list", "grpc."});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("grpc.health.v1.Health\n  rpc Check("));
  EXPECT_THAT(r.out, HasSubstr("grpc.reflection.v1alpha.ServerReflection\n"));
}

TEST_P(ReflectBinaryTest, AServiceTheServerDoesNotKnowIsBadInput) {
  const ProcessResult r = Call({"nope.v1.Missing/Call", "{}"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("polymesh: NOT_FOUND: server reflection does not know "
                                "nope.v1.Missing"));
}

INSTANTIATE_TEST_SUITE_P(V1AndV1Alpha, ReflectBinaryTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "V1AlphaOnly" : "V1";
                         });

TEST(ReflectErrorsTest, NoServerIsUnavailable) {
  const ProcessResult r = RunProcess(
      {POLYMESH_BINARY, "call", "--reflect", "--target", "127.0.0.1:1", "--list"}, "");
  EXPECT_EQ(r.exit_code, 10 + 14) << r.err;
  EXPECT_THAT(r.err, StartsWith("polymesh: UNAVAILABLE: server reflection: "));
}

}  // namespace
}  // namespace polymesh::cli
