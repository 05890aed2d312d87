// Building the cluster specs from a config: host names resolved once, every
// address an endpoint that keeps the configured name; a name that does not
// resolve is an error naming the field.
#include "upstream/cluster.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "config/config_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/socket.h"

namespace polymesh::gateway {
namespace {

using ::testing::AnyOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::IsSubsetOf;
using ::testing::Not;

GatewayConfig Config(absl::string_view yaml) {
  absl::StatusOr<GatewayConfig> config = LoadConfigFromString(yaml, "test.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : GatewayConfig();
}

TEST(ResolveHostTest, LocalhostIsLoopback) {
  absl::StatusOr<std::vector<std::string>> addresses = ResolveHost("localhost");
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  EXPECT_THAT(*addresses, Not(IsEmpty()));
  EXPECT_THAT(*addresses, IsSubsetOf({"127.0.0.1", "::1"}));
}

TEST(ResolveHostTest, NumericAddressesComeBackAsTheyAre) {
  EXPECT_THAT(*ResolveHost("127.0.0.1"), ElementsAre("127.0.0.1"));
  EXPECT_THAT(*ResolveHost("::1"), ElementsAre("::1"));
  EXPECT_THAT(*ResolveHost("10.1.2.3"), ElementsAre("10.1.2.3"));
}

TEST(ResolveHostTest, ReservedInvalidNameDoesNotResolve) {
  // RFC 6761: names under .invalid never resolve.
  absl::StatusOr<std::vector<std::string>> addresses = ResolveHost("nothing.invalid");
  EXPECT_FALSE(addresses.ok());
}

TEST(ClusterSpecsTest, EveryAddressOfAHostNameIsAnEndpointKeepingTheName) {
  const GatewayConfig config = Config(R"yaml(
listener: { address: 127.0.0.1, port: 0 }
local_services: { address: 127.0.0.1, port: 0 }
clusters:
  - name: backend
    endpoints: [{ address: localhost, port: 7001 }, { address: "::1", port: 7002 }]
    connect_timeout: 250ms
)yaml");
  absl::StatusOr<std::vector<ClusterSpec>> specs = ClusterSpecsFromConfig(config, 9000);
  ASSERT_TRUE(specs.ok()) << specs.status();
  ASSERT_EQ(specs->size(), 2u);
  const ClusterSpec& backend = (*specs)[0];
  EXPECT_EQ(backend.name, "backend");
  ASSERT_GE(backend.endpoints.size(), 2u);
  const UpstreamEndpoint& last = backend.endpoints.back();
  EXPECT_EQ(last.host, "::1");
  EXPECT_EQ(last.address, "::1");
  EXPECT_EQ(last.port, 7002);
  for (size_t i = 0; i + 1 < backend.endpoints.size(); ++i) {
    const UpstreamEndpoint& endpoint = backend.endpoints[i];
    EXPECT_EQ(endpoint.cluster, "backend");
    EXPECT_EQ(endpoint.host, "localhost");
    EXPECT_THAT(endpoint.address, AnyOf("127.0.0.1", "::1"));
    EXPECT_EQ(endpoint.port, 7001);
    EXPECT_EQ(endpoint.connect_timeout, absl::Milliseconds(250));
  }
  const ClusterSpec& local = (*specs)[1];
  EXPECT_EQ(local.name, "local");
  ASSERT_EQ(local.endpoints.size(), 1u);
  EXPECT_EQ(local.endpoints[0].address, "127.0.0.1");
  EXPECT_EQ(local.endpoints[0].port, 9000);
}

TEST(ClusterSpecsTest, NameThatDoesNotResolveNamesTheField) {
  const GatewayConfig config = Config(R"yaml(
listener: { address: 127.0.0.1, port: 0 }
clusters:
  - name: a
    endpoints: [{ address: 127.0.0.1, port: 1 }]
  - name: b
    endpoints: [{ address: 127.0.0.1, port: 1 }, { address: nothing.invalid, port: 1 }]
)yaml");
  absl::StatusOr<std::vector<ClusterSpec>> specs = ClusterSpecsFromConfig(config, 0);
  ASSERT_FALSE(specs.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(specs.status())) << specs.status();
  EXPECT_THAT(specs.status().message(),
              HasSubstr("clusters[1].endpoints[1].address: host name \"nothing.invalid\" "
                        "does not resolve"));
}

}  // namespace
}  // namespace polymesh::gateway
