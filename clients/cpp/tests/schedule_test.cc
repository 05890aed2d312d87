#include "schedule.h"

#include <cstdint>
#include <set>

#include "gtest/gtest.h"

namespace polymesh::cli {
namespace {

constexpr int64_t kStart = 1'000'000'000;

TEST(OpenLoopScheduleTest, CallsAreEvenlySpacedFromTheStart) {
  const OpenLoopSchedule schedule(/*rate=*/1000, kStart);
  EXPECT_EQ(schedule.IntendedNs(0), kStart);
  EXPECT_EQ(schedule.IntendedNs(1), kStart + 1'000'000);
  EXPECT_EQ(schedule.IntendedNs(1000), kStart + 1'000'000'000);
}

TEST(OpenLoopScheduleTest, DueByCountsTheCallsWhoseTimeHasCome) {
  const OpenLoopSchedule schedule(/*rate=*/1000, kStart);
  EXPECT_EQ(schedule.DueBy(kStart - 1), 0u);
  EXPECT_EQ(schedule.DueBy(kStart), 1u);
  EXPECT_EQ(schedule.DueBy(kStart + 999'999), 1u);
  EXPECT_EQ(schedule.DueBy(kStart + 1'000'000), 2u);
  // A late sender catches up on every call it missed: none is skipped.
  EXPECT_EQ(schedule.DueBy(kStart + 5'000'000'000), 5001u);
}

TEST(OpenLoopScheduleTest, DueByAgreesWithIntendedAtAwkwardRates) {
  for (double rate : {3.0, 7.0, 333.3, 12345.678, 1e6}) {
    const OpenLoopSchedule schedule(rate, kStart, /*stride=*/3, /*offset=*/2);
    for (uint64_t i = 0; i < 2000; i += 7) {
      const int64_t at = schedule.IntendedNs(i);
      EXPECT_EQ(schedule.DueBy(at), i + 1) << "rate " << rate << " call " << i;
      EXPECT_EQ(schedule.DueBy(at - 1), i) << "rate " << rate << " call " << i;
    }
  }
}

TEST(OpenLoopScheduleTest, ThreadsInterleaveIntoTheRunsSchedule) {
  const OpenLoopSchedule run(/*rate=*/900, kStart);
  std::set<int64_t> times;
  for (uint64_t thread = 0; thread < 4; ++thread) {
    const OpenLoopSchedule schedule(900, kStart, /*stride=*/4, thread);
    for (uint64_t i = 0; i < 250; ++i) {
      EXPECT_EQ(schedule.IntendedNs(i), run.IntendedNs(schedule.Global(i)));
      times.insert(schedule.IntendedNs(i));
    }
  }
  // Together: calls 0..999 of the run, each exactly once.
  ASSERT_EQ(times.size(), 1000u);
  uint64_t j = 0;
  for (const int64_t t : times) EXPECT_EQ(t, run.IntendedNs(j++));
}

TEST(OpenLoopScheduleTest, FirstAtOrAfterSplitsARunBoundaryAmongThreads) {
  // Calls 10..19 of the run are measured: each thread's share of them.
  uint64_t measured = 0;
  for (uint64_t thread = 0; thread < 3; ++thread) {
    const OpenLoopSchedule schedule(100, kStart, /*stride=*/3, thread);
    const uint64_t first = schedule.FirstAtOrAfter(10);
    const uint64_t end = schedule.FirstAtOrAfter(20);
    EXPECT_GE(schedule.Global(first), 10u);
    if (first > 0) {
      EXPECT_LT(schedule.Global(first - 1), 10u);
    }
    measured += end - first;
  }
  EXPECT_EQ(measured, 10u);
}

}  // namespace
}  // namespace polymesh::cli
