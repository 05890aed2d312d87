#include "observability/sampler.h"

#include <array>
#include <cstdint>

#include "gtest/gtest.h"
#include "opentelemetry/nostd/span.h"
#include "opentelemetry/trace/span_context.h"
#include "opentelemetry/trace/span_id.h"
#include "opentelemetry/trace/trace_flags.h"
#include "opentelemetry/trace/trace_id.h"

namespace polymesh::observability {
namespace {

namespace trace_api = ::opentelemetry::trace;

// A trace id whose first 8 bytes are 0x11 and whose last 8 bytes are `low`
// (big-endian).
trace_api::TraceId TraceIdWithLow(uint64_t low) {
  std::array<uint8_t, 16> bytes;
  bytes.fill(0x11);
  for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<uint8_t>(low >> (56 - 8 * i));
  return trace_api::TraceId(
      opentelemetry::nostd::span<const uint8_t, 16>(bytes.data(), bytes.size()));
}

trace_api::SpanContext Parent(bool sampled) {
  const uint8_t span_bytes[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  return trace_api::SpanContext(
      TraceIdWithLow(0xffffffffffffffff),
      trace_api::SpanId(opentelemetry::nostd::span<const uint8_t, 8>(span_bytes, 8)),
      trace_api::TraceFlags(sampled ? trace_api::TraceFlags::kIsSampled : 0),
      /*is_remote=*/true);
}

const trace_api::SpanContext kRoot = trace_api::SpanContext::GetInvalid();

TEST(SamplerTest, AlwaysOnAndOffIgnoreTheParent) {
  for (bool parent_sampled : {false, true}) {
    EXPECT_TRUE(Sampler::AlwaysOn().ShouldSample(Parent(parent_sampled), TraceIdWithLow(1)));
    EXPECT_FALSE(Sampler::AlwaysOff().ShouldSample(Parent(parent_sampled), TraceIdWithLow(1)));
  }
  EXPECT_TRUE(Sampler::AlwaysOn().ShouldSample(kRoot, TraceIdWithLow(1)));
  EXPECT_FALSE(Sampler::AlwaysOff().ShouldSample(kRoot, TraceIdWithLow(1)));
}

TEST(SamplerTest, ParentBasedFollowsTheParentAndAsksTheRootSamplerOtherwise) {
  for (const Sampler& root : {Sampler::AlwaysOn(), Sampler::AlwaysOff()}) {
    const Sampler sampler = Sampler::ParentBased(root);
    EXPECT_TRUE(sampler.ShouldSample(Parent(true), TraceIdWithLow(1)));
    EXPECT_FALSE(sampler.ShouldSample(Parent(false), TraceIdWithLow(1)));
    EXPECT_EQ(sampler.ShouldSample(kRoot, TraceIdWithLow(1)),
              root.ShouldSample(kRoot, TraceIdWithLow(1)));
  }
}

TEST(SamplerTest, TraceIdRatioComparesTheLastEightBytesAsGoAndPythonDo) {
  // Sampled when (low >> 1) < ratio * 2^63: at 0.25 the bound is 2^61.
  const Sampler quarter = Sampler::TraceIdRatio(0.25);
  EXPECT_TRUE(quarter.ShouldSample(kRoot, TraceIdWithLow(0)));
  EXPECT_TRUE(quarter.ShouldSample(kRoot, TraceIdWithLow(0x3fffffffffffffff)));
  EXPECT_FALSE(quarter.ShouldSample(kRoot, TraceIdWithLow(0x4000000000000000)));
  EXPECT_FALSE(quarter.ShouldSample(kRoot, TraceIdWithLow(0xffffffffffffffff)));
  // The first 8 bytes do not matter; the parent does not either.
  EXPECT_FALSE(quarter.ShouldSample(Parent(true), TraceIdWithLow(0x4000000000000000)));

  EXPECT_TRUE(Sampler::TraceIdRatio(1).ShouldSample(kRoot, TraceIdWithLow(0xffffffffffffffff)));
  EXPECT_FALSE(Sampler::TraceIdRatio(0).ShouldSample(kRoot, TraceIdWithLow(0)));
  // Out of range: clamped.
  EXPECT_TRUE(Sampler::TraceIdRatio(7).ShouldSample(kRoot, TraceIdWithLow(0xffffffffffffffff)));
  EXPECT_FALSE(Sampler::TraceIdRatio(-1).ShouldSample(kRoot, TraceIdWithLow(0)));
}

TEST(SamplerTest, TraceIdRatioKeepsAboutItsShareOfTraces) {
  const Sampler half = Sampler::TraceIdRatio(0.5);
  int sampled = 0;
  constexpr int kTraces = 4096;
  // Ids spread evenly over the 64-bit range (a multiplicative sequence).
  uint64_t low = 0;
  for (int i = 0; i < kTraces; ++i) {
    low += 0x9e3779b97f4a7c15;
    if (half.ShouldSample(kRoot, TraceIdWithLow(low))) ++sampled;
  }
  EXPECT_NEAR(sampled, kTraces / 2, kTraces / 20);
}

TEST(SamplerTest, DescriptionsAreOpenTelemetryCppsOwn) {
  EXPECT_EQ(Sampler::AlwaysOn().Description(), "AlwaysOnSampler");
  EXPECT_EQ(Sampler::AlwaysOff().Description(), "AlwaysOffSampler");
  EXPECT_EQ(Sampler::TraceIdRatio(0.25).Description(), "TraceIdRatioBasedSampler{0.250000}");
  EXPECT_EQ(Sampler::ParentBased(Sampler::AlwaysOff()).Description(),
            "ParentBased{AlwaysOffSampler}");
}

}  // namespace
}  // namespace polymesh::observability
