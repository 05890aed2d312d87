// The ranges of the cluster fields for load balancing, pools, DNS refresh,
// health checks and outlier detection: good values load, bad ones are
// rejected naming the field path and the file position.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "config/config_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

using ::testing::HasSubstr;

// A config whose one cluster has the extra fields `fields` (YAML, indented
// under the cluster).
std::string WithCluster(absl::string_view fields) {
  return absl::StrCat(
      "listener: { address: 127.0.0.1, port: 1 }\n"
      "clusters:\n"
      "  - name: a\n"
      "    endpoints: [{ address: 127.0.0.1, port: 1 }]\n",
      fields);
}

absl::Status Load(absl::string_view yaml) {
  return LoadConfigFromString(yaml, "mesh.yaml").status();
}

TEST(ClusterConfigTest, EveryFieldWithinItsRangeLoads) {
  const absl::Status status = Load(WithCluster(
      "    load_balancing: LOAD_BALANCING_LEAST_REQUEST\n"
      "    dns_refresh_interval: 100ms\n"
      "    max_connections_per_endpoint: 64\n"
      "    health_check: { interval: 10ms, timeout: 1ms, unhealthy_threshold: 1000,\n"
      "                    healthy_threshold: 1, service: polymesh.ai.v1.AIService }\n"
      "    outlier_detection: { consecutive_failures: 1000, base_ejection_time: 1ms,\n"
      "                         max_ejection_time: 1ms }\n"));
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_TRUE(Load(WithCluster("    health_check: {}\n    outlier_detection: {}\n")).ok());
}

TEST(ClusterConfigTest, DnsRefreshIntervalIsAtLeast100ms) {
  EXPECT_THAT(Load(WithCluster("    dns_refresh_interval: 99ms\n")).message(),
              HasSubstr("mesh.yaml:5:27: clusters[0].dns_refresh_interval: at least 100ms, "
                        "got 99ms"));
}

TEST(ClusterConfigTest, MaxConnectionsPerEndpointIsAtMost64) {
  EXPECT_THAT(Load(WithCluster("    max_connections_per_endpoint: 65\n")).message(),
              HasSubstr("clusters[0].max_connections_per_endpoint: at most 64, got 65"));
}

TEST(ClusterConfigTest, HealthCheckRanges) {
  EXPECT_THAT(Load(WithCluster("    health_check: { interval: 9ms }\n")).message(),
              HasSubstr("clusters[0].health_check.interval: at least 10ms, got 9ms"));
  EXPECT_THAT(Load(WithCluster("    health_check: { timeout: 0s }\n")).message(),
              HasSubstr("clusters[0].health_check.timeout: at least 1ms, got 0"));
  EXPECT_THAT(Load(WithCluster("    health_check: { unhealthy_threshold: 1001 }\n")).message(),
              HasSubstr("clusters[0].health_check.unhealthy_threshold: at most 1000, got 1001"));
  EXPECT_THAT(Load(WithCluster("    health_check: { healthy_threshold: 5000 }\n")).message(),
              HasSubstr("clusters[0].health_check.healthy_threshold: at most 1000, got 5000"));
}

TEST(ClusterConfigTest, OutlierDetectionRanges) {
  EXPECT_THAT(
      Load(WithCluster("    outlier_detection: { consecutive_failures: 1001 }\n")).message(),
      HasSubstr("clusters[0].outlier_detection.consecutive_failures: at most 1000, got 1001"));
  EXPECT_THAT(
      Load(WithCluster("    outlier_detection: { base_ejection_time: 0s }\n")).message(),
      HasSubstr("clusters[0].outlier_detection.base_ejection_time: at least 1ms, got 0"));
  EXPECT_THAT(
      Load(WithCluster("    outlier_detection: { base_ejection_time: 10s, max_ejection_time: 5s }\n"))
          .message(),
      HasSubstr("clusters[0].outlier_detection.max_ejection_time: at least "
                "base_ejection_time (10s), got 5s"));
  // The default base (30s) counts when only the maximum is given.
  EXPECT_THAT(Load(WithCluster("    outlier_detection: { max_ejection_time: 10s }\n")).message(),
              HasSubstr("at least base_ejection_time (30s), got 10s"));
}

TEST(ClusterConfigTest, LoadBalancingTakesKnownNames) {
  EXPECT_THAT(Load(WithCluster("    load_balancing: RANDOM\n")).message(),
              HasSubstr("clusters[0].load_balancing"));
}

}  // namespace
}  // namespace polymesh::gateway
