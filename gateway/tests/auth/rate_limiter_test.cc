#include "auth/rate_limiter.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace polymesh::gateway {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST(RateLimiterTest, AdmitsTheBurstThenWaitsForTheRate) {
  RateLimiter limiter(/*requests_per_second=*/10, /*burst=*/3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Acquire("demo", kStart), absl::ZeroDuration());
  // Empty: the next token comes in 1/10 s.
  EXPECT_EQ(limiter.Acquire("demo", kStart), absl::Milliseconds(100));
  EXPECT_EQ(limiter.Acquire("demo", kStart + absl::Milliseconds(40)), absl::Milliseconds(60));
  EXPECT_EQ(limiter.Acquire("demo", kStart + absl::Milliseconds(100)), absl::ZeroDuration());
  EXPECT_GT(limiter.Acquire("demo", kStart + absl::Milliseconds(100)), absl::ZeroDuration());
  // Refilling stops at the burst.
  const absl::Time later = kStart + absl::Hours(1);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Acquire("demo", later), absl::ZeroDuration());
  EXPECT_GT(limiter.Acquire("demo", later), absl::ZeroDuration());
}

TEST(RateLimiterTest, KeysHaveBucketsOfTheirOwn) {
  RateLimiter limiter(1, 1);
  EXPECT_EQ(limiter.Acquire("a", kStart), absl::ZeroDuration());
  EXPECT_EQ(limiter.Acquire("b", kStart), absl::ZeroDuration());
  EXPECT_EQ(limiter.Acquire("a", kStart), absl::Seconds(1));
  EXPECT_EQ(limiter.Acquire("b", kStart), absl::Seconds(1));
}

TEST(RateLimiterTest, KeepsAtMostMaxKeysBuckets) {
  RateLimiter limiter(1, 2, /*max_keys=*/64);
  for (int i = 0; i < 10000; ++i) {
    limiter.Acquire(absl::StrCat("caller-", i), kStart + absl::Milliseconds(i));
  }
  EXPECT_LE(limiter.bucket_count(), 64u);
  EXPECT_GT(limiter.bucket_count(), 0u);
}

TEST(RateLimiterTest, CountsExactlyUnderConcurrency) {
  RateLimiter limiter(0.001, 1000);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (limiter.Acquire("shared", kStart) == absl::ZeroDuration()) ++admitted;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(admitted.load(), 1000);
}

}  // namespace
}  // namespace polymesh::gateway
