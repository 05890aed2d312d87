// The choices the upstream layer makes without a network: the load
// balancer's, outlier ejection's timing (on an injected clock), the health
// thresholds, and the grpc.health.v1 messages.
#include <cstdint>
#include <map>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "upstream/endpoint_state.h"
#include "upstream/health_checker.h"
#include "upstream/load_balancer.h"

namespace polymesh::gateway {
namespace {

TEST(LoadBalancerTest, RoundRobinTakesEachCandidateInTurn) {
  LoadBalancer balancer(LoadBalancerPolicy::kRoundRobin, 0);
  const std::vector<uint32_t> candidates = {3, 5, 9};
  std::vector<uint32_t> picks;
  for (int i = 0; i < 6; ++i) {
    picks.push_back(balancer.Choose(candidates, [](uint32_t) { return int64_t{0}; }));
  }
  EXPECT_THAT(picks, ::testing::ElementsAre(3, 5, 9, 3, 5, 9));
}

TEST(LoadBalancerTest, LeastRequestOfTwoAlwaysTakesTheIdleOne) {
  LoadBalancer balancer(LoadBalancerPolicy::kLeastRequest, 7);
  const std::vector<uint32_t> candidates = {0, 1};
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(balancer.Choose(candidates, [](uint32_t e) { return e == 0 ? int64_t{5} : 0; }),
              1u);
  }
}

TEST(LoadBalancerTest, LeastRequestNeverPicksTheBusiestOfThree) {
  // Two distinct candidates are compared: the busiest one always loses.
  LoadBalancer balancer(LoadBalancerPolicy::kLeastRequest, 11);
  const std::vector<uint32_t> candidates = {0, 1, 2};
  std::map<uint32_t, int> counts;
  for (int i = 0; i < 3000; ++i) {
    ++counts[balancer.Choose(candidates, [](uint32_t e) { return e == 2 ? int64_t{9} : 0; })];
  }
  EXPECT_EQ(counts[2], 0);
  // The two idle ones share the calls (ties go to the first drawn, which is
  // random).
  EXPECT_GT(counts[0], 1000);
  EXPECT_GT(counts[1], 1000);
}

TEST(LoadBalancerTest, SingleCandidateIsChosen) {
  LoadBalancer balancer(LoadBalancerPolicy::kLeastRequest, 1);
  const std::vector<uint32_t> candidates = {4};
  EXPECT_EQ(balancer.Choose(candidates, [](uint32_t) { return int64_t{0}; }), 4u);
}

OutlierPolicy Policy(uint32_t failures) {
  OutlierPolicy policy;
  policy.enabled = true;
  policy.consecutive_failures = failures;
  policy.base_ejection_time = absl::Seconds(10);
  policy.max_ejection_time = absl::Seconds(25);
  return policy;
}

TEST(OutlierDetectorTest, EjectsAfterConsecutiveFailuresForBaseTimesCountCapped) {
  OutlierDetector detector(Policy(3));
  const absl::Time start = absl::FromUnixSeconds(1000);
  EXPECT_FALSE(detector.RecordFailure(start));
  EXPECT_FALSE(detector.RecordFailure(start));
  EXPECT_FALSE(detector.ejected(start));
  EXPECT_TRUE(detector.RecordFailure(start));  // the third in a row
  EXPECT_TRUE(detector.ejected(start));
  EXPECT_EQ(detector.ejections(), 1u);
  EXPECT_EQ(detector.ejected_until(), start + absl::Seconds(10));
  EXPECT_TRUE(detector.ejected(start + absl::Seconds(9)));
  EXPECT_FALSE(detector.ejected(start + absl::Seconds(10)));

  // Failures while ejected do not count.
  EXPECT_FALSE(detector.RecordFailure(start + absl::Seconds(1)));
  EXPECT_EQ(detector.consecutive_failures(), 0u);

  // The second ejection lasts twice the base, the third is capped at 25s.
  absl::Time now = start + absl::Seconds(10);
  for (int i = 0; i < 3; ++i) detector.RecordFailure(now);
  EXPECT_EQ(detector.ejections(), 2u);
  EXPECT_EQ(detector.ejected_until(), now + absl::Seconds(20));
  now += absl::Seconds(20);
  for (int i = 0; i < 3; ++i) detector.RecordFailure(now);
  EXPECT_EQ(detector.ejections(), 3u);
  EXPECT_EQ(detector.ejected_until(), now + absl::Seconds(25));
}

TEST(OutlierDetectorTest, TheMultiplierComesDownWhileTheEndpointStaysIn) {
  OutlierPolicy policy = Policy(1);
  policy.max_ejection_time = absl::Seconds(300);
  OutlierDetector detector(policy);
  absl::Time now = absl::FromUnixSeconds(1000);
  // Three ejections back to back: 10s, 20s, 30s.
  for (int n = 1; n <= 3; ++n) {
    ASSERT_TRUE(detector.RecordFailure(now));
    EXPECT_EQ(detector.multiplier(), static_cast<uint32_t>(n));
    EXPECT_EQ(detector.ejected_until(), now + absl::Seconds(10) * n);
    now = detector.ejected_until();
  }
  // 25s in (two whole base times) take two off: the next lasts 2 x 10s.
  now += absl::Seconds(25);
  ASSERT_TRUE(detector.RecordFailure(now));
  EXPECT_EQ(detector.multiplier(), 2u);
  EXPECT_EQ(detector.ejected_until(), now + absl::Seconds(20));
  // Long after, it starts again from the base; the count of ejections stays.
  now = detector.ejected_until() + absl::Hours(1);
  ASSERT_TRUE(detector.RecordFailure(now));
  EXPECT_EQ(detector.multiplier(), 1u);
  EXPECT_EQ(detector.ejected_until(), now + absl::Seconds(10));
  EXPECT_EQ(detector.ejections(), 5u);
}

TEST(OutlierDetectorTest, ASuccessResetsTheCount) {
  OutlierDetector detector(Policy(2));
  const absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_FALSE(detector.RecordFailure(now));
  detector.RecordSuccess();
  EXPECT_FALSE(detector.RecordFailure(now));
  EXPECT_FALSE(detector.ejected(now));
  EXPECT_TRUE(detector.RecordFailure(now));
}

TEST(OutlierDetectorTest, DisabledNeverEjects) {
  OutlierDetector detector(OutlierPolicy{});
  const absl::Time now = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(detector.RecordFailure(now));
  EXPECT_FALSE(detector.ejected(now));
  EXPECT_EQ(detector.ejected_until(), absl::InfinitePast());
}

TEST(EndpointStateTest, UsableWhenHealthyAndNotEjected) {
  EndpointState state(UpstreamEndpoint{"c", "h", "127.0.0.1", 1}, 2, Policy(1),
                      /*healthy=*/false);
  const absl::Time now = absl::FromUnixSeconds(1000);
  EXPECT_FALSE(state.Usable(now));
  state.set_healthy(true);
  EXPECT_TRUE(state.Usable(now));
  state.outlier().RecordFailure(now);
  EXPECT_FALSE(state.Usable(now));
  EXPECT_TRUE(state.Usable(now + absl::Seconds(10)));
  state.AddOutstanding(0, 2);
  state.AddOutstanding(1, 3);
  state.AddOutstanding(1, -1);
  EXPECT_EQ(state.outstanding(0), 2);
  EXPECT_EQ(state.outstanding(1), 2);
  EXPECT_EQ(state.TotalOutstanding(), 4);
}

TEST(HealthStateTest, FirstPassIsHealthyThenThresholdsApply) {
  HealthCheckPolicy policy;
  policy.unhealthy_threshold = 2;
  policy.healthy_threshold = 3;
  HealthState state(policy);
  EXPECT_FALSE(state.healthy());
  EXPECT_TRUE(state.Observe(true));    // first check passes: healthy at once
  EXPECT_TRUE(state.Observe(false));   // one failure is not enough
  EXPECT_FALSE(state.Observe(false));  // two in a row
  EXPECT_FALSE(state.Observe(true));
  EXPECT_FALSE(state.Observe(true));
  EXPECT_TRUE(state.Observe(true));    // three passes in a row
}

TEST(HealthStateTest, FailingFirstCheckNeedsTheHealthyThreshold) {
  HealthCheckPolicy policy;
  policy.healthy_threshold = 2;
  HealthState state(policy);
  EXPECT_FALSE(state.Observe(false));
  EXPECT_FALSE(state.Observe(true));
  EXPECT_TRUE(state.Observe(true));
}

TEST(HealthMessagesTest, RequestAndResponseWireFormat) {
  EXPECT_EQ(EncodeHealthCheckRequest(""), "");
  EXPECT_EQ(EncodeHealthCheckRequest("a.B"), std::string("\x0a\x03" "a.B", 5));
  EXPECT_EQ(*DecodeHealthCheckStatus(std::string("\x08\x01", 2)), 1);  // SERVING
  EXPECT_EQ(*DecodeHealthCheckStatus(std::string("\x08\x02", 2)), 2);  // NOT_SERVING
  EXPECT_EQ(*DecodeHealthCheckStatus(""), 0);                          // UNKNOWN
  // Unknown fields are skipped.
  EXPECT_EQ(*DecodeHealthCheckStatus(std::string("\x12\x01x\x08\x01", 5)), 1);
  EXPECT_FALSE(DecodeHealthCheckStatus(std::string("\x12\x09x", 3)).ok());
}

}  // namespace
}  // namespace polymesh::gateway
