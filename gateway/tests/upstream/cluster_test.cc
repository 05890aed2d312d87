// Building the cluster specs from a config: host names resolved at start,
// every address an endpoint that keeps the configured name; a name that does
// not resolve is an error naming the field. DNS refresh (diffing, keeping the
// last good set), and the worker's ClusterManager choosing endpoints.
#include "upstream/cluster.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/host_port.h"
#include "config/config_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "routing/route_table.h"
#include "transport/socket.h"

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

// Routes find each cluster by its name, "local" included: the position a
// route holds names the same cluster in the specs the workers build.
TEST(ClusterSpecsTest, RoutesFindEveryClusterByItsNameLocalIncluded) {
  const GatewayConfig config = Config(R"yaml(
listener: { address: 127.0.0.1, port: 0 }
local_services: { address: 127.0.0.1, port: 0 }
clusters:
  - name: a
    endpoints: [{ address: 127.0.0.1, port: 7001 }]
  - name: b
    endpoints: [{ address: 127.0.0.1, port: 7002 }]
routes:
  - name: health
    match: { service: grpc.health.v1.Health }
    cluster: local
  - name: b
    match: { any: true }
    cluster: b
)yaml");
  absl::StatusOr<std::vector<ClusterSpec>> specs = ClusterSpecsFromConfig(config, 9000);
  ASSERT_TRUE(specs.ok()) << specs.status();
  const RouteTable routes(config);
  for (absl::string_view path : {"/grpc.health.v1.Health/Check", "/pkg.Svc/M"}) {
    const Route* route = routes.Find(path);
    ASSERT_NE(route, nullptr) << path;
    ASSERT_LT(route->cluster_index, specs->size()) << path;
    EXPECT_EQ((*specs)[route->cluster_index].name, route->cluster) << path;
  }
  EXPECT_EQ(specs->back().name, kLocalClusterName);
  EXPECT_EQ(specs->back().endpoints.at(0).cluster, kLocalClusterName);
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

TEST(ClusterSpecsTest, PoliciesFromConfigWithDefaultsFilledIn) {
  const GatewayConfig config = Config(R"yaml(
listener: { address: 127.0.0.1, port: 0 }
clusters:
  - name: plain
    endpoints: [{ address: 127.0.0.1, port: 1 }]
  - name: tuned
    endpoints: [{ address: 127.0.0.1, port: 1 }]
    load_balancing: LOAD_BALANCING_LEAST_REQUEST
    dns_refresh_interval: 250ms
    max_connections_per_endpoint: 2
    health_check: { interval: 50ms, service: a.B }
    outlier_detection: { consecutive_failures: 2, base_ejection_time: 1s }
)yaml");
  absl::StatusOr<std::vector<ClusterSpec>> specs = ClusterSpecsFromConfig(config, 0);
  ASSERT_TRUE(specs.ok()) << specs.status();
  const ClusterSpec& plain = (*specs)[0];
  EXPECT_EQ(plain.load_balancing, LoadBalancerPolicy::kRoundRobin);
  EXPECT_EQ(plain.dns_refresh_interval, absl::Seconds(5));
  EXPECT_EQ(plain.max_connections_per_endpoint, 4u);
  EXPECT_FALSE(plain.health_check.has_value());
  EXPECT_FALSE(plain.outlier.enabled);
  ASSERT_EQ(plain.configured.size(), 1u);
  EXPECT_FALSE(plain.configured[0].refreshed);
  const ClusterSpec& tuned = (*specs)[1];
  EXPECT_EQ(tuned.load_balancing, LoadBalancerPolicy::kLeastRequest);
  EXPECT_EQ(tuned.dns_refresh_interval, absl::Milliseconds(250));
  EXPECT_EQ(tuned.max_connections_per_endpoint, 2u);
  ASSERT_TRUE(tuned.health_check.has_value());
  EXPECT_EQ(tuned.health_check->interval, absl::Milliseconds(50));
  EXPECT_EQ(tuned.health_check->timeout, absl::Seconds(1));
  EXPECT_EQ(tuned.health_check->unhealthy_threshold, 3u);
  EXPECT_EQ(tuned.health_check->service, "a.B");
  EXPECT_TRUE(tuned.outlier.enabled);
  EXPECT_EQ(tuned.outlier.consecutive_failures, 2u);
  EXPECT_EQ(tuned.outlier.base_ejection_time, absl::Seconds(1));
  EXPECT_EQ(tuned.outlier.max_ejection_time, absl::Seconds(300));
}

UpstreamEndpoint Endpoint(const std::string& host, const std::string& address,
                          uint16_t port = 80) {
  return UpstreamEndpoint{"c", host, address, port};
}

TEST(DiffEndpointsTest, AddedRemovedAndUnchanged) {
  const std::vector<UpstreamEndpoint> before = {Endpoint("svc", "10.0.0.1"),
                                                Endpoint("svc", "10.0.0.2")};
  EndpointDiff same = DiffEndpoints(before, before);
  EXPECT_FALSE(same.changed);
  EXPECT_THAT(same.added, IsEmpty());
  EXPECT_THAT(same.removed, IsEmpty());

  const std::vector<UpstreamEndpoint> after = {Endpoint("svc", "10.0.0.2"),
                                               Endpoint("svc", "10.0.0.3")};
  EndpointDiff diff = DiffEndpoints(before, after);
  EXPECT_TRUE(diff.changed);
  EXPECT_THAT(diff.added, ElementsAre(1));    // 10.0.0.3
  EXPECT_THAT(diff.removed, ElementsAre(0));  // 10.0.0.1

  // Same address under another port or name is another endpoint.
  EXPECT_THAT(DiffEndpoints(before, {Endpoint("svc", "10.0.0.1", 81)}).added, ElementsAre(0));
  EXPECT_THAT(DiffEndpoints(before, {Endpoint("other", "10.0.0.1")}).added, ElementsAre(0));
}

// A resolver whose records the test sets.
struct FakeDns {
  std::map<std::string, absl::StatusOr<std::vector<std::string>>> records;
  HostResolver resolver() {
    return [this](absl::string_view host) -> absl::StatusOr<std::vector<std::string>> {
      auto it = records.find(std::string(host));
      if (it == records.end()) return ResolveHost(host);  // numeric addresses
      return it->second;
    };
  }
};

const char kDnsConfig[] = R"yaml(
listener: { address: 127.0.0.1, port: 0 }
clusters:
  - name: svc
    endpoints: [{ address: svc.test, port: 7000 }, { address: 127.0.0.9, port: 7001 }]
    health_check: { interval: 1s }
)yaml";

std::vector<std::string> Addresses(const EndpointSet& set) {
  std::vector<std::string> out;
  for (const auto& state : set.endpoints) {
    out.push_back(JoinHostPort(state->endpoint().address, state->endpoint().port));
  }
  return out;
}

TEST(RefreshEndpointsTest, NewRecordsAddAndGoneRecordsRemoveEndpointsKeepingState) {
  FakeDns dns;
  dns.records["svc.test"] = std::vector<std::string>{"10.0.0.1", "10.0.0.2"};
  absl::StatusOr<std::vector<ClusterSpec>> specs =
      ClusterSpecsFromConfig(Config(kDnsConfig), 0, dns.resolver());
  ASSERT_TRUE(specs.ok()) << specs.status();
  UpstreamCluster cluster((*specs)[0], 1);
  EXPECT_THAT(Addresses(*cluster.endpoints()),
              ElementsAre("10.0.0.1:7000", "10.0.0.2:7000", "127.0.0.9:7001"));
  // Health checked: endpoints start unhealthy until a check passes.
  EXPECT_FALSE(cluster.endpoints()->endpoints[0]->healthy());
  cluster.endpoints()->endpoints[1]->set_healthy(true);
  const EndpointState* kept = cluster.endpoints()->endpoints[1].get();

  // Nothing changed: nothing to publish.
  EXPECT_EQ(RefreshEndpoints(cluster, dns.resolver(), nullptr), nullptr);

  dns.records["svc.test"] = std::vector<std::string>{"10.0.0.2", "10.0.0.3"};
  const uint64_t version = cluster.version();
  std::shared_ptr<const EndpointSet> next = RefreshEndpoints(cluster, dns.resolver(), nullptr);
  ASSERT_NE(next, nullptr);
  cluster.Publish(next);
  EXPECT_GT(cluster.version(), version);
  EXPECT_THAT(Addresses(*cluster.endpoints()),
              ElementsAre("10.0.0.2:7000", "10.0.0.3:7000", "127.0.0.9:7001"));
  // The endpoint that stayed is the same state, still healthy.
  EXPECT_EQ(cluster.endpoints()->endpoints[0].get(), kept);
  EXPECT_TRUE(cluster.endpoints()->endpoints[0]->healthy());
  EXPECT_FALSE(cluster.endpoints()->endpoints[1]->healthy());
}

TEST(RefreshEndpointsTest, NameThatStopsResolvingKeepsItsLastAddresses) {
  FakeDns dns;
  dns.records["svc.test"] = std::vector<std::string>{"10.0.0.1"};
  absl::StatusOr<std::vector<ClusterSpec>> specs =
      ClusterSpecsFromConfig(Config(kDnsConfig), 0, dns.resolver());
  ASSERT_TRUE(specs.ok()) << specs.status();
  UpstreamCluster cluster((*specs)[0], 1);
  dns.records["svc.test"] = absl::UnavailableError("resolver timed out");
  std::vector<std::string> errors;
  EXPECT_EQ(RefreshEndpoints(cluster, dns.resolver(), &errors), nullptr);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("\"svc.test\" of cluster \"svc\" did not resolve, "
                                   "keeping its last addresses: resolver timed out"));
  EXPECT_THAT(Addresses(*cluster.endpoints()), ElementsAre("10.0.0.1:7000", "127.0.0.9:7001"));
}

TEST(RefreshEndpointsTest, LocalhostResolvesToLoopback) {
  const GatewayConfig config = Config(R"yaml(
listener: { address: 127.0.0.1, port: 0 }
clusters: [{ name: svc, endpoints: [{ address: localhost, port: 7000 }] }]
)yaml");
  absl::StatusOr<std::vector<ClusterSpec>> specs = ClusterSpecsFromConfig(config, 0);
  ASSERT_TRUE(specs.ok()) << specs.status();
  UpstreamCluster cluster((*specs)[0], 1);
  EXPECT_THAT(Addresses(*cluster.endpoints()),
              IsSubsetOf({"127.0.0.1:7000", "::1:7000"}));
  EXPECT_THAT(Addresses(*cluster.endpoints()), Not(IsEmpty()));
  // The system resolver gives the same records again: nothing changes.
  EXPECT_EQ(RefreshEndpoints(cluster, SystemResolver(), nullptr), nullptr);
}

// ClusterManager picks without running the loop: connections to listening
// sockets that never accept stay "connecting", which is enough to see which
// endpoint was chosen.
class ClusterManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    loop_ = std::move(*EventLoop::Create());
    for (int i = 0; i < 3; ++i) {
      listeners_.push_back(std::move(*ListenTcp("127.0.0.1", 0)));
      ports_.push_back(*LocalPort(listeners_.back().get()));
    }
  }
  void TearDown() override {
    manager_.reset();
    loop_->RunPendingWork();
  }

  // A cluster of the three listeners, with outlier detection.
  void Make(size_t workers = 1) {
    const std::string yaml = absl::StrCat(
        "listener: { address: 127.0.0.1, port: 0 }\n"
        "clusters:\n"
        "  - name: c\n"
        "    endpoints: [{ address: 127.0.0.1, port: ", ports_[0],
        " }, { address: 127.0.0.1, port: ", ports_[1], " }, { address: 127.0.0.1, port: ",
        ports_[2],
        " }]\n"
        "    outlier_detection: { consecutive_failures: 1 }\n");
    absl::StatusOr<std::vector<ClusterSpec>> specs = ClusterSpecsFromConfig(Config(yaml), 0);
    ASSERT_TRUE(specs.ok()) << specs.status();
    clusters_ = MakeUpstreamClusters(*specs, workers);
    manager_ = std::make_unique<ClusterManager>(*loop_, clusters_, 0);
  }
  // The index (0..2) of the endpoint picked.
  int Pick(const UpstreamEndpoint* avoid = nullptr) {
    const uint16_t port = manager_->Pick(0, avoid)->endpoint().port;
    for (int i = 0; i < 3; ++i) {
      if (ports_[i] == port) return i;
    }
    return -1;
  }
  EndpointState& State(size_t i) { return *clusters_[0]->endpoints()->endpoints[i]; }

  std::vector<ScopedFd> listeners_;
  std::vector<uint16_t> ports_;
  std::unique_ptr<EventLoop> loop_;
  UpstreamClusters clusters_;
  std::unique_ptr<ClusterManager> manager_;
};

TEST_F(ClusterManagerTest, RoundRobinSkipsUnhealthyAndEjectedEndpoints) {
  Make();
  EXPECT_EQ(Pick(), 0);
  EXPECT_EQ(Pick(), 1);
  EXPECT_EQ(Pick(), 2);
  State(1).set_healthy(false);
  State(2).outlier().RecordFailure(loop_->now());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Pick(), 0);
  EXPECT_EQ(clusters_[0]->events().panic_picks.load(), 0u);
}

TEST_F(ClusterManagerTest, PanicUsesEveryEndpointWhenNoneIsUsable) {
  Make();
  for (size_t i = 0; i < 3; ++i) State(i).set_healthy(false);
  std::set<int> picked;
  for (int i = 0; i < 6; ++i) picked.insert(Pick());
  EXPECT_THAT(picked, ElementsAre(0, 1, 2));
  EXPECT_EQ(clusters_[0]->events().panic_picks.load(), 6u);
}

TEST_F(ClusterManagerTest, AvoidPicksAnotherEndpointWhenThereIsOne) {
  Make();
  const UpstreamEndpoint avoid = State(0).endpoint();
  for (int i = 0; i < 6; ++i) EXPECT_NE(Pick(&avoid), 0);
  State(1).set_healthy(false);
  State(2).set_healthy(false);
  // Only the avoided one is usable: it is still picked.
  EXPECT_EQ(Pick(&avoid), 0);
}

TEST_F(ClusterManagerTest, ConnectionsAreReusedPerEndpoint) {
  Make();
  for (int i = 0; i < 9; ++i) Pick();
  EXPECT_EQ(manager_->connection_count(), 3u);
}

TEST_F(ClusterManagerTest, NewEndpointSetIsPickedUpAtTheNextCall) {
  Make();
  EXPECT_EQ(Pick(), 0);
  auto next = std::make_shared<EndpointSet>();
  next->endpoints.push_back(clusters_[0]->endpoints()->endpoints[2]);
  clusters_[0]->Publish(next);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Pick(), 2);
}

}  // namespace
}  // namespace polymesh::gateway
