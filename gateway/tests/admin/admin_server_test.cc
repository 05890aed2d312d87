// The admin listener and the statistics it serves.
#include "admin/admin_server.h"

#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http_get.h"
#include "stats/stats.h"

namespace polymesh::gateway {
namespace {

using ::polymesh::gateway::testing::HttpGet;
using ::testing::HasSubstr;
using ::testing::Not;

std::unique_ptr<AdminServer> StartAdmin(std::shared_ptr<StatsStore> stats,
                                        const std::string& token = "") {
  AdminServer::Options options;
  options.port = 0;
  options.token = token;
  options.collectables = {std::move(stats), std::make_shared<ProcessCollector>()};
  options.config_json = [] { return std::string("{\"listener\":{}}\n"); };
  options.clusters_json = [] { return std::string("{\"clusters\":[]}\n"); };
  absl::StatusOr<std::unique_ptr<AdminServer>> admin = AdminServer::Start(std::move(options));
  EXPECT_TRUE(admin.ok()) << admin.status().message();
  return admin.ok() ? std::move(*admin) : nullptr;
}

TEST(AdminServerTest, ServesReadinessLivenessConfigAndClusters) {
  std::unique_ptr<AdminServer> admin =
      StartAdmin(std::make_shared<StatsStore>(std::vector<std::string>{"r"},
                                              std::vector<std::string>{"c"}, 1));
  ASSERT_NE(admin, nullptr);
  ASSERT_NE(admin->port(), 0);
  EXPECT_EQ(HttpGet(admin->port(), "/ready").status, 200);
  EXPECT_EQ(HttpGet(admin->port(), "/live").body, "live\n");
  EXPECT_EQ(HttpGet(admin->port(), "/config_dump").body, "{\"listener\":{}}\n");
  EXPECT_EQ(HttpGet(admin->port(), "/clusters").body, "{\"clusters\":[]}\n");
  EXPECT_EQ(HttpGet(admin->port(), "/nope").status, 404);
  admin->SetReady(false);
  const auto draining = HttpGet(admin->port(), "/ready");
  EXPECT_EQ(draining.status, 503);
  EXPECT_EQ(draining.body, "draining\n");
  EXPECT_EQ(HttpGet(admin->port(), "/live").status, 200);  // still alive
}

TEST(AdminServerTest, TokenGuardsEveryPageButReadinessLivenessAndMetrics) {
  std::unique_ptr<AdminServer> admin =
      StartAdmin(std::make_shared<StatsStore>(std::vector<std::string>{"r"},
                                              std::vector<std::string>{"c"}, 1),
                 "s3cret-token");
  ASSERT_NE(admin, nullptr);
  EXPECT_EQ(HttpGet(admin->port(), "/ready").status, 200);
  EXPECT_EQ(HttpGet(admin->port(), "/live").status, 200);
  EXPECT_EQ(HttpGet(admin->port(), "/metrics").status, 200);
  for (const std::string page : {"/config_dump", "/clusters", "/", "/nope"}) {
    EXPECT_EQ(HttpGet(admin->port(), page).status, 401) << page;
    EXPECT_EQ(HttpGet(admin->port(), page, "Bearer wrong-token").status, 401) << page;
    EXPECT_EQ(HttpGet(admin->port(), page, "Bearer s3cret-toke").status, 401) << page;
    EXPECT_EQ(HttpGet(admin->port(), page, "Basic s3cret-token").status, 401) << page;
  }
  EXPECT_EQ(HttpGet(admin->port(), "/config_dump", "Bearer s3cret-token").body,
            "{\"listener\":{}}\n");
  EXPECT_EQ(HttpGet(admin->port(), "/clusters", "bearer s3cret-token").status, 200);
}

TEST(AdminServerTest, ReadTokenTrimsAndRefusesEmptyFiles) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/polymesh_admin_token");
  {
    std::ofstream(path) << "  tok-en\n";
  }
  absl::StatusOr<std::string> token = AdminServer::ReadToken(path);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "tok-en");
  {
    std::ofstream(path) << "\n";
  }
  EXPECT_EQ(AdminServer::ReadToken(path).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AdminServer::ReadToken("/nonexistent/token").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(AdminServerTest, RefusesAnAddressInUse) {
  std::unique_ptr<AdminServer> first =
      StartAdmin(std::make_shared<StatsStore>(std::vector<std::string>{},
                                              std::vector<std::string>{}, 1));
  ASSERT_NE(first, nullptr);
  AdminServer::Options options;
  options.port = first->port();
  absl::StatusOr<std::unique_ptr<AdminServer>> second = AdminServer::Start(std::move(options));
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("admin listener on 127.0.0.1:"));
}

TEST(StatsTest, SumsEveryWorkersCallsByRouteClusterAndStatus) {
  auto stats = std::make_shared<StatsStore>(std::vector<std::string>{"ai", "users"},
                                            std::vector<std::string>{"aiapi", "users"}, 2);
  // Worker 0: two OK calls on ai; worker 1: one NOT_FOUND on users, one
  // unrouted call, one call still in progress on ai.
  for (int i = 0; i < 2; ++i) {
    stats->worker(0).CallStarted();
    stats->worker(0).CallRouted(0, 0);
    stats->worker(0).CallEnded(0, 0, true, 0, absl::Milliseconds(3), 100, 50);
  }
  stats->worker(1).CallStarted();
  stats->worker(1).CallRouted(1, 1);
  stats->worker(1).CallEnded(1, 1, true, 5, absl::Microseconds(200), 10, 0);
  stats->worker(1).CallStarted();
  stats->worker(1).CallEnded(2, 0, false, 12, absl::Microseconds(50), 0, 0);
  stats->worker(1).CallStarted();
  stats->worker(1).CallRouted(0, 0);
  stats->worker(1).ConnectionOpened();

  std::unique_ptr<AdminServer> admin = StartAdmin(stats);
  ASSERT_NE(admin, nullptr);
  const std::string metrics = HttpGet(admin->port(), "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr("polymesh_gateway_requests_total{route=\"ai\",grpc_code=\"OK\"} 2\n"));
  EXPECT_THAT(metrics, HasSubstr(
      "polymesh_gateway_requests_total{route=\"users\",grpc_code=\"NOT_FOUND\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr(
      "polymesh_gateway_requests_total{route=\"none\",grpc_code=\"UNIMPLEMENTED\"} 1\n"));
  EXPECT_THAT(metrics, Not(HasSubstr("route=\"ai\",grpc_code=\"NOT_FOUND\"")));
  EXPECT_THAT(metrics, HasSubstr(
      "polymesh_gateway_request_duration_seconds_bucket{route=\"ai\",le=\"0.0025\"} 0\n"));
  EXPECT_THAT(metrics, HasSubstr(
      "polymesh_gateway_request_duration_seconds_bucket{route=\"ai\",le=\"0.005\"} 2\n"));
  EXPECT_THAT(metrics, HasSubstr("polymesh_gateway_request_duration_seconds_count{route=\"ai\"} 2\n"));
  EXPECT_THAT(metrics, HasSubstr("polymesh_gateway_request_bytes_total{route=\"ai\"} 200\n"));
  EXPECT_THAT(metrics, HasSubstr("polymesh_gateway_response_bytes_total{route=\"ai\"} 100\n"));
  EXPECT_THAT(metrics, HasSubstr(
      "polymesh_gateway_upstream_requests_total{cluster=\"users\",grpc_code=\"NOT_FOUND\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("polymesh_gateway_upstream_active_requests{cluster=\"aiapi\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("polymesh_gateway_route_active_requests{route=\"ai\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("polymesh_gateway_active_streams 1\n"));
  EXPECT_THAT(metrics, HasSubstr("polymesh_gateway_downstream_connections_total 1\n"));
  EXPECT_THAT(metrics, HasSubstr("polymesh_gateway_workers 2\n"));
  EXPECT_THAT(metrics, HasSubstr("process_resident_memory_bytes "));
  EXPECT_THAT(metrics, Not(HasSubstr("process_resident_memory_bytes 0\n")));
  EXPECT_EQ(stats->ActivePerCluster(), (std::vector<int64_t>{1, 0}));
}

TEST(StatsTest, ScrapesWhileWorkersCount) {
  auto stats = std::make_shared<StatsStore>(std::vector<std::string>{"r"},
                                            std::vector<std::string>{"c"}, 2);
  std::vector<std::thread> workers;
  for (size_t w = 0; w < 2; ++w) {
    workers.emplace_back([&stats, w] {
      for (int i = 0; i < 20000; ++i) {
        stats->worker(w).CallStarted();
        stats->worker(w).CallRouted(0, 0);
        stats->worker(w).CallEnded(0, 0, true, 0, absl::Microseconds(i % 700), 1, 1);
      }
    });
  }
  for (int i = 0; i < 50; ++i) (void)stats->Collect();
  for (auto& t : workers) t.join();
  const std::vector<prometheus::MetricFamily> families = stats->Collect();
  EXPECT_EQ(families[0].name, "polymesh_gateway_requests_total");
  EXPECT_EQ(families[0].metric[0].counter.value, 40000);
}

}  // namespace
}  // namespace polymesh::gateway
