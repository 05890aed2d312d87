#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "routing/route_table.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

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

constexpr absl::string_view kRulesConfig = R"yaml(
listener: { address: 127.0.0.1, port: 0 }
clusters:
  - name: go
    endpoints: [{ address: 127.0.0.1, port: 50053 }]
  - name: python
    endpoints: [{ address: 127.0.0.1, port: 50054 }]
  - name: canary
    endpoints: [{ address: 127.0.0.1, port: 50055 }]
  - name: fallback
    endpoints: [{ address: 127.0.0.1, port: 50056 }]
routes:
  - name: canary-exact
    match:
      service: polymesh.users.v1.UserService
      headers: [{ name: x-canary, exact: "true" }]
    cluster: canary
  - name: python-team
    match:
      service: polymesh.users.v1.UserService
      headers: [{ name: x-team, prefix: "py-" }, { name: x-debug, present: false }]
    cluster: python
  - name: users
    match: { service: polymesh.users.v1.UserService }
    cluster: go
  - name: traced
    match:
      package: polymesh
      headers: [{ name: traceparent, present: true }]
    cluster: canary
  - name: polymesh
    match: { package: polymesh }
    cluster: go
  - name: everything-else
    match: { any: true }
    cluster: fallback
)yaml";

TEST(RouteTableTest, HeaderConditionsPackagesAndTheCatchAll) {
  RouteTable table(Config(kRulesConfig));
  auto find = [&table](absl::string_view path,
                       std::vector<std::pair<std::string, std::string>> metadata) {
    const Route* route = table.Find(
        path, [&metadata](absl::string_view name) -> std::optional<absl::string_view> {
          for (const auto& [key, value] : metadata) {
            if (key == name) return value;
          }
          return std::nullopt;
        });
    return route == nullptr ? std::string("(none)") : route->name;
  };
  const std::string get = "/polymesh.users.v1.UserService/GetUser";
  EXPECT_EQ(find(get, {}), "users");
  EXPECT_EQ(find(get, {{"x-canary", "true"}}), "canary-exact");
  EXPECT_EQ(find(get, {{"x-canary", "yes"}}), "users");
  EXPECT_EQ(find(get, {{"x-team", "py-ml"}}), "python-team");
  EXPECT_EQ(find(get, {{"x-team", "py-ml"}, {"x-debug", "1"}}), "users");  // present: false
  EXPECT_EQ(find(get, {{"x-team", "go"}}), "users");
  EXPECT_EQ(find("/polymesh.ai.v1.AIService/Predict", {}), "polymesh");
  EXPECT_EQ(find("/polymesh.ai.v1.AIService/Predict", {{"traceparent", "00-..."}}), "traced");
  // Whole components only: "polymesh" is not a prefix of "polymeshx".
  EXPECT_EQ(find("/polymeshx.Service/Call", {}), "everything-else");
  EXPECT_EQ(find("/grpc.health.v1.Health/Check", {}), "everything-else");
  EXPECT_EQ(find("not a grpc path", {}), "(none)");
}

TEST(RouteTableTest, TheRulesAreValidated) {
  for (const auto& [yaml, error] : std::vector<std::pair<std::string, std::string>>{
           {"match: { package: \"polymesh..ai\" }", "routes[0].match.package: \"polymesh..ai\" is not a package name"},
           {"match: { any: false }", "routes[0].match.any: must be true"},
           {"match: { any: true, headers: [{ name: X-Canary, exact: a }] }",
            "routes[0].match.headers[0].name: metadata keys are lowercase: \"x-canary\""},
           {"match: { any: true, headers: [{ name: \":path\", exact: a }] }",
            "routes[0].match.headers[0].name: pseudo-headers cannot be matched"},
           {"match: { any: true, headers: [{ name: x-a }] }",
            "routes[0].match.headers[0]: set one of exact, prefix or present"},
       }) {
    absl::StatusOr<GatewayConfig> config = LoadConfigFromString(
        absl::StrCat("listener: { address: 127.0.0.1, port: 0 }\n"
                     "clusters: [{ name: c, endpoints: [{ address: 127.0.0.1, port: 1 }] }]\n"
                     "routes:\n  - name: r\n    cluster: c\n    ",
                     yaml, "\n"),
        "rules.yaml");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_NE(config.status().message().find(error), std::string::npos)
        << config.status().message();
  }
}

TEST(RouteTableTest, AWeightedSplitCyclesThroughItsShares) {
  RouteTable table(Config(R"yaml(
listener: { address: 127.0.0.1, port: 0 }
clusters:
  - name: go
    endpoints: [{ address: 127.0.0.1, port: 1 }]
  - name: python
    endpoints: [{ address: 127.0.0.1, port: 2 }]
  - name: off
    endpoints: [{ address: 127.0.0.1, port: 3 }]
routes:
  - name: users
    match: { any: true }
    split: [{ cluster: go, weight: 9 }, { cluster: off, weight: 0 }, { cluster: python, weight: 1 }]
)yaml"));
  const Route* route = table.Find("/a.B/C");
  ASSERT_NE(route, nullptr);
  ASSERT_EQ(route->split.size(), 2u);  // weight 0 takes nothing
  EXPECT_EQ(route->split_total, 10u);
  std::map<std::string, int> counts;
  for (uint64_t position = 0; position < 100; ++position) {
    ++counts[route->ShareAt(position).cluster];
  }
  EXPECT_EQ(counts["go"], 90);
  EXPECT_EQ(counts["python"], 10);
  EXPECT_EQ(route->ShareAt(9).cluster_index, 1u);  // python is clusters[1]
}

TEST(RouteTableTest, ASplitIsValidated) {
  for (const auto& [route, error] : std::vector<std::pair<std::string, std::string>>{
           {"cluster: a\n    split: [{ cluster: a, weight: 1 }]", "routes[0].split: give cluster or split, not both"},
           {"split: [{ cluster: a, weight: 0 }]", "routes[0].split: at least one weight must be above 0"},
           {"split: [{ cluster: a, weight: 1 }, { cluster: a, weight: 1 }]", "routes[0].split[1].cluster: \"a\" is in the split twice"},
           {"split: [{ cluster: nope, weight: 1 }]", "routes[0].split[0].cluster: unknown cluster \"nope\""},
           {"match: { any: true }", "routes[0].cluster: required (or a weighted split)"},
       }) {
    std::string yaml = absl::StrCat(
        "listener: { address: 127.0.0.1, port: 0 }\n"
        "clusters: [{ name: a, endpoints: [{ address: 127.0.0.1, port: 1 }] }]\n"
        "routes:\n  - name: r\n    ",
        absl::StartsWith(route, "match") ? "" : "match: { any: true }\n    ", route, "\n");
    absl::StatusOr<GatewayConfig> config = LoadConfigFromString(yaml, "split.yaml");
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_NE(config.status().message().find(error), std::string::npos)
        << config.status().message();
  }
}

TEST(RouteTableTest, RoutesCarryTheirRetryPolicyAndMirrorWithDefaults) {
  // Parsed only: these routes are checked against contracts elsewhere.
  absl::StatusOr<ParsedConfig> parsed = ParseConfigYaml(R"yaml(
listener: { address: 127.0.0.1, port: 0 }
clusters:
  - { name: a, endpoints: [{ address: 127.0.0.1, port: 1 }] }
  - { name: shadow, endpoints: [{ address: 127.0.0.1, port: 2 }] }
routes:
  - { name: defaults, match: { service: a.A }, cluster: a, retry: {}, mirror: { cluster: shadow } }
  - name: tuned
    match: { service: a.B }
    cluster: a
    retry:
      retry_on: [RESOURCE_EXHAUSTED, ABORTED]
      max_attempts: 5
      per_try_timeout: 300ms
      base_backoff: 10ms
      buffer_bytes: 1000
      budget_percent: 50
      min_retry_concurrency: 7
    mirror: { cluster: shadow, percent: 25 }
  - { name: plain, match: { service: a.C }, cluster: a }
)yaml", "test.yaml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const RouteTable table(parsed->config);
  const Route& defaults = table.routes()[0];
  ASSERT_TRUE(defaults.retry.has_value());
  EXPECT_TRUE(defaults.retry->RetriesOn(14));  // UNAVAILABLE
  EXPECT_FALSE(defaults.retry->RetriesOn(8));
  EXPECT_EQ(defaults.retry->max_attempts, 3u);
  EXPECT_EQ(defaults.retry->per_try_timeout, absl::InfiniteDuration());
  EXPECT_EQ(defaults.retry->base_backoff, absl::Milliseconds(25));
  EXPECT_EQ(defaults.retry->max_backoff, absl::Milliseconds(250));
  EXPECT_EQ(defaults.retry->buffer_bytes, 65536u);
  EXPECT_EQ(defaults.retry->budget_percent, 20u);
  EXPECT_EQ(defaults.retry->min_retry_concurrency, 3u);
  ASSERT_TRUE(defaults.mirror.has_value());
  EXPECT_EQ(defaults.mirror->cluster, "shadow");
  EXPECT_EQ(defaults.mirror->cluster_index, 1u);
  EXPECT_EQ(defaults.mirror->percent, 100u);

  const Route& tuned = table.routes()[1];
  ASSERT_TRUE(tuned.retry.has_value());
  EXPECT_FALSE(tuned.retry->RetriesOn(14));
  EXPECT_TRUE(tuned.retry->RetriesOn(8));
  EXPECT_TRUE(tuned.retry->RetriesOn(10));
  EXPECT_EQ(tuned.retry->max_attempts, 5u);
  EXPECT_EQ(tuned.retry->per_try_timeout, absl::Milliseconds(300));
  EXPECT_EQ(tuned.retry->max_backoff, absl::Milliseconds(100));  // 10 x base
  EXPECT_EQ(tuned.retry->buffer_bytes, 1000u);
  EXPECT_EQ(tuned.retry->budget_percent, 50u);
  EXPECT_EQ(tuned.retry->min_retry_concurrency, 7u);
  EXPECT_EQ(tuned.mirror->percent, 25u);

  EXPECT_FALSE(table.routes()[2].retry.has_value());
  EXPECT_FALSE(table.routes()[2].mirror.has_value());
}

}  // namespace
}  // namespace polymesh::gateway
