#include "absl/strings/string_view.h"
#include "routing/route_table.h"

#include "config/config_loader.h"
#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

GatewayConfig Config(absl::string_view yaml) {
  absl::StatusOr<GatewayConfig> config = LoadConfigFromString(yaml, "test.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : GatewayConfig();
}

constexpr absl::string_view kConfig = R"yaml(
listener: { address: 127.0.0.1, port: 0 }
local_services: { address: 127.0.0.1, port: 0 }
clusters:
  - name: ai
    endpoints: [{ address: 127.0.0.1, port: 50051 }]
  - name: predict
    endpoints: [{ address: 127.0.0.1, port: 50053 }]
routes:
  - name: predict-only
    match: { method: /polymesh.ai.v1.AIService/Predict }
    cluster: predict
    timeout: 2s
  - name: ai
    match: { service: polymesh.ai.v1.AIService }
    cluster: ai
  - name: shadowed
    match: { method: polymesh.ai.v1.AIService/PredictStream }
    cluster: predict
  - name: health
    match: { service: grpc.health.v1.Health }
    cluster: local
)yaml";

TEST(RouteTableTest, MatchesExactMethodsAndWholeServices) {
  RouteTable table(Config(kConfig));
  const Route* predict = table.Find("/polymesh.ai.v1.AIService/Predict");
  ASSERT_NE(predict, nullptr);
  EXPECT_EQ(predict->name, "predict-only");
  EXPECT_EQ(predict->cluster, "predict");
  EXPECT_EQ(predict->cluster_index, 1u);
  EXPECT_EQ(predict->timeout, absl::Seconds(2));

  const Route* other = table.Find("/polymesh.ai.v1.AIService/Other");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->name, "ai");
  EXPECT_EQ(other->cluster_index, 0u);
  EXPECT_EQ(other->timeout, absl::InfiniteDuration());
}

TEST(RouteTableTest, FirstMatchWins) {
  RouteTable table(Config(kConfig));
  const Route* route = table.Find("/polymesh.ai.v1.AIService/PredictStream");
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->name, "ai");
}

TEST(RouteTableTest, LocalClusterComesAfterTheConfiguredOnes) {
  RouteTable table(Config(kConfig));
  const Route* health = table.Find("/grpc.health.v1.Health/Check");
  ASSERT_NE(health, nullptr);
  EXPECT_EQ(health->cluster, "local");
  EXPECT_EQ(health->cluster_index, 2u);
}

TEST(RouteTableTest, UnroutedAndMalformedPathsFindNothing) {
  RouteTable table(Config(kConfig));
  EXPECT_EQ(table.Find("/inference.GRPCInferenceService/ModelInfer"), nullptr);
  EXPECT_EQ(table.Find("polymesh.ai.v1.AIService/Predict"), nullptr);
  EXPECT_EQ(table.Find("/polymesh.ai.v1.AIService"), nullptr);
  EXPECT_EQ(table.Find("/polymesh.ai.v1.AIService/Predict/x"), nullptr);
  EXPECT_EQ(table.Find(""), nullptr);
}

TEST(SplitGrpcPathTest, SplitsServiceAndMethod) {
  absl::string_view service;
  absl::string_view method;
  ASSERT_TRUE(SplitGrpcPath("/pkg.Svc/M", service, method));
  EXPECT_EQ(service, "pkg.Svc");
  EXPECT_EQ(method, "M");
  EXPECT_FALSE(SplitGrpcPath("/pkg.Svc/", service, method));
  EXPECT_FALSE(SplitGrpcPath("//M", service, method));
}

}  // namespace
}  // namespace polymesh::gateway
