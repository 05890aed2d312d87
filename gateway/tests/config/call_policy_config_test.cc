// The range checks of routes' retry policies and mirrors: bad values are
// refused with the field path and where it was written.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "config/config_loader.h"
#include "config/config_validator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

using ::testing::HasSubstr;

constexpr absl::string_view kHead = R"yaml(listener: { address: 127.0.0.1, port: 1 }
local_services: { address: 127.0.0.1, port: 0 }
clusters:
  - { name: a, endpoints: [{ address: 127.0.0.1, port: 1 }] }
  - { name: shadow, endpoints: [{ address: 127.0.0.1, port: 2 }] }
routes:
  - name: r
    match: { service: a.B }
    cluster: a
)yaml";

// The validator's verdict on the route above with `extra` (YAML lines).
absl::Status Validate(absl::string_view extra) {
  absl::StatusOr<ParsedConfig> parsed =
      ParseConfigYaml(absl::StrCat(kHead, extra), "mesh.yaml");
  if (!parsed.ok()) return parsed.status();
  return ValidateConfig(*parsed);
}

std::string Error(absl::string_view extra) {
  return std::string(Validate(extra).message());
}

TEST(CallPolicyConfigTest, GoodPoliciesAreAccepted) {
  EXPECT_TRUE(Validate("    retry: {}\n").ok());
  EXPECT_TRUE(Validate("    retry:\n"
                       "      retry_on: [UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED]\n"
                       "      max_attempts: 10\n"
                       "      per_try_timeout: 250ms\n"
                       "      base_backoff: 10ms\n"
                       "      max_backoff: 1s\n"
                       "      buffer_bytes: 1048576\n"
                       "      budget_percent: 100\n"
                       "      min_retry_concurrency: 0\n"
                       "    mirror: { cluster: shadow, percent: 1 }\n")
                  .ok());
  EXPECT_TRUE(Validate("    mirror: { cluster: shadow }\n").ok());
}

TEST(CallPolicyConfigTest, RetryOnNamesStatusCodesOnce) {
  EXPECT_THAT(Error("    retry: { retry_on: [UNAVAILABLE, unavailable] }\n"),
              HasSubstr("mesh.yaml:10:38: routes[0].retry.retry_on[1]: \"unavailable\" is not a "
                        "gRPC status code other than OK"));
  EXPECT_THAT(Error("    retry: { retry_on: [OK] }\n"),
              HasSubstr("routes[0].retry.retry_on[0]: \"OK\" is not a gRPC status code"));
  EXPECT_THAT(Error("    retry: { retry_on: [UNAVAILABLE, UNAVAILABLE] }\n"),
              HasSubstr("routes[0].retry.retry_on[1]: \"UNAVAILABLE\" is listed twice"));
}

TEST(CallPolicyConfigTest, AttemptsAreTwoToTen) {
  EXPECT_THAT(Error("    retry: { max_attempts: 1 }\n"),
              HasSubstr("mesh.yaml:10:28: routes[0].retry.max_attempts: want 2 to 10 (the first "
                        "attempt included), got 1"));
  EXPECT_THAT(Error("    retry: { max_attempts: 11 }\n"),
              HasSubstr("routes[0].retry.max_attempts: want 2 to 10"));
}

TEST(CallPolicyConfigTest, DurationsAreAtLeastAMillisecondAndBackoffsOrdered) {
  EXPECT_THAT(Error("    retry: { per_try_timeout: 100us }\n"),
              HasSubstr("routes[0].retry.per_try_timeout: at least 1ms"));
  EXPECT_THAT(Error("    retry: { base_backoff: 0.5ms }\n"),
              HasSubstr("routes[0].retry.base_backoff: at least 1ms"));
  EXPECT_THAT(Error("    retry: { base_backoff: 100ms, max_backoff: 50ms }\n"),
              HasSubstr("routes[0].retry.max_backoff: must not be below base_backoff"));
}

TEST(CallPolicyConfigTest, BufferAndBudgetHaveLimits) {
  EXPECT_THAT(Error("    retry: { buffer_bytes: 67108865 }\n"),
              HasSubstr("routes[0].retry.buffer_bytes: at most 67108864 (64 MiB), got 67108865"));
  EXPECT_THAT(Error("    retry: { budget_percent: 101 }\n"),
              HasSubstr("routes[0].retry.budget_percent: a percentage: at most 100, got 101"));
}

TEST(CallPolicyConfigTest, MirrorsNeedAClusterAndAPercentage) {
  EXPECT_THAT(Error("    mirror: { percent: 10 }\n"),
              HasSubstr("routes[0].mirror.cluster: required"));
  EXPECT_THAT(Error("    mirror: { cluster: nowhere }\n"),
              HasSubstr("mesh.yaml:10:24: routes[0].mirror.cluster: unknown cluster \"nowhere\" "
                        "(clusters: a, shadow)"));
  EXPECT_THAT(Error("    mirror: { cluster: local }\n"),
              HasSubstr("routes[0].mirror.cluster: the gateway's own services cannot be a mirror"));
  EXPECT_THAT(Error("    mirror: { cluster: shadow, percent: 101 }\n"),
              HasSubstr("routes[0].mirror.percent: want 1 to 100, got 101"));
}

}  // namespace
}  // namespace polymesh::gateway
