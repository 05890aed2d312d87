#include "observability/tracing_config.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace polymesh::observability {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

std::string Str(const std::map<std::string, std::string>& attributes, const std::string& key) {
  auto it = attributes.find(key);
  return it == attributes.end() ? "<absent>" : it->second;
}

TEST(SemconvStabilityOptInTest, PicksTheRpcEntry) {
  struct Case {
    const char* value;
    SemconvMode want;
  };
  const Case kCases[] = {
      {"", SemconvMode::kOld},
      {"rpc", SemconvMode::kNew},
      {"rpc/dup", SemconvMode::kDup},
      {" rpc/dup ", SemconvMode::kDup},
      {"http/dup,rpc", SemconvMode::kNew},
      {"rpc,rpc/dup", SemconvMode::kDup},
      {"rpc/dup,rpc", SemconvMode::kDup},
      {"http/dup", SemconvMode::kOld},
      {"rpcx,database", SemconvMode::kOld},
  };
  for (const Case& c : kCases) {
    EXPECT_EQ(ParseSemconvStabilityOptIn(c.value), c.want) << "value: \"" << c.value << "\"";
  }
}

TEST(SdkDisabledTest, ParsesBooleans) {
  for (const char* value : {"", "false", "FALSE"}) {
    absl::StatusOr<bool> disabled = ParseSdkDisabled(value);
    ASSERT_TRUE(disabled.ok()) << value;
    EXPECT_FALSE(*disabled) << value;
  }
  for (const char* value : {"true", " True "}) {
    absl::StatusOr<bool> disabled = ParseSdkDisabled(value);
    ASSERT_TRUE(disabled.ok()) << value;
    EXPECT_TRUE(*disabled) << value;
  }
  absl::StatusOr<bool> bad = ParseSdkDisabled("yes");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), StartsWith("OTEL_SDK_DISABLED="));
}

TEST(SamplerTest, BuildsEveryStandardSampler) {
  struct Case {
    const char* sampler;
    const char* arg;
    const char* want_description;
  };
  const Case kCases[] = {
      {"", "", "ParentBased{AlwaysOnSampler}"},
      {"parentbased_always_on", "", "ParentBased{AlwaysOnSampler}"},
      {"parentbased_always_off", "", "ParentBased{AlwaysOffSampler}"},
      {"always_on", "", "AlwaysOnSampler"},
      {" Always_On ", "", "AlwaysOnSampler"},
      {"always_off", "", "AlwaysOffSampler"},
      {"always_off", "not a ratio: ignored", "AlwaysOffSampler"},
      {"traceidratio", "", "TraceIdRatioBasedSampler{1.000000}"},
      {"traceidratio", "0.25", "TraceIdRatioBasedSampler{0.250000}"},
      {"traceidratio", "0", "TraceIdRatioBasedSampler{0.000000}"},
      {"traceidratio", "1", "TraceIdRatioBasedSampler{1.000000}"},
      {"parentbased_traceidratio", " 0.5 ", "ParentBased{TraceIdRatioBasedSampler{0.500000}}"},
      {"parentbased_traceidratio", "", "ParentBased{TraceIdRatioBasedSampler{1.000000}}"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(std::string(c.sampler) + " / " + c.arg);
    auto sampler = ParseSampler(c.sampler, c.arg);
    ASSERT_TRUE(sampler.ok()) << sampler.status();
    EXPECT_EQ(sampler->Description(), c.want_description);
  }
}

TEST(SamplerTest, RejectsUnknownSamplerNamingTheVariable) {
  for (const char* name : {"sometimes", "jaeger_remote", "parentbased", "always-on"}) {
    SCOPED_TRACE(name);
    auto sampler = ParseSampler(name, "");
    EXPECT_EQ(sampler.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(sampler.status().message()), StartsWith("OTEL_TRACES_SAMPLER=\""));
    EXPECT_THAT(std::string(sampler.status().message()), HasSubstr(name));
  }
}

TEST(SamplerTest, RejectsBadRatioNamingTheArgVariable) {
  for (const char* arg : {"1.5", "-0.1", "half", "0.5x", "nan", "inf"}) {
    for (const char* name : {"traceidratio", "parentbased_traceidratio"}) {
      SCOPED_TRACE(std::string(name) + " / " + arg);
      auto sampler = ParseSampler(name, arg);
      EXPECT_EQ(sampler.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(sampler.status().message()),
                  StartsWith("OTEL_TRACES_SAMPLER_ARG=\""));
    }
  }
}

TEST(ResourceAttributesTest, ParsesTrimsAndDecodes) {
  auto attributes =
      ParseResourceAttributes(" deployment.environment = local ,team=ml%20serving,,"
                              "note=a%2Cb%3Dc,eq=x=y,empty=");
  ASSERT_TRUE(attributes.ok()) << attributes.status();
  EXPECT_EQ(attributes->size(), 5u);
  EXPECT_EQ(Str(*attributes, "deployment.environment"), "local");
  EXPECT_EQ(Str(*attributes, "team"), "ml serving");
  EXPECT_EQ(Str(*attributes, "note"), "a,b=c");
  EXPECT_EQ(Str(*attributes, "eq"), "x=y");
  EXPECT_EQ(Str(*attributes, "empty"), "");
  EXPECT_TRUE(ParseResourceAttributes("")->empty());
}

TEST(ResourceAttributesTest, RejectsMalformedEntriesNamingTheVariable) {
  for (const char* value : {"novalue", "a=b,=c", " = c", "a=%zz", "a=%2", "a=b%"}) {
    SCOPED_TRACE(value);
    auto attributes = ParseResourceAttributes(value);
    EXPECT_EQ(attributes.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(attributes.status().message()),
                StartsWith("OTEL_RESOURCE_ATTRIBUTES=\""));
  }
}

TEST(ResourceTest, ServiceNameComesFromEnvThenAttributesThenDefault) {
  auto from_env = MakeResource("service.name=attr,k=v", "env-name", "default-name");
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  EXPECT_EQ(Str(from_env->attributes, "service.name"), "env-name");
  EXPECT_EQ(Str(from_env->attributes, "k"), "v");
  EXPECT_EQ(Str(from_env->attributes, "telemetry.sdk.language"), "cpp");
  EXPECT_EQ(Str(from_env->attributes, "telemetry.sdk.name"), kTelemetrySdkName);
  EXPECT_THAT(Str(from_env->attributes, "telemetry.sdk.version"),
              MatchesRegex("[0-9]+\\.[0-9.]+"));

  auto from_attributes = MakeResource("service.name=attr", "", "default-name");
  ASSERT_TRUE(from_attributes.ok());
  EXPECT_EQ(Str(from_attributes->attributes, "service.name"), "attr");

  auto from_default = MakeResource("", "", "polymesh-gateway");
  ASSERT_TRUE(from_default.ok());
  EXPECT_EQ(Str(from_default->attributes, "service.name"), "polymesh-gateway");

  EXPECT_EQ(MakeResource("broken", "x", "y").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(BatchSpanProcessorOptionsTest, DefaultsAndOverrides) {
  auto defaults = ParseBatchSpanProcessorOptions("", "", "");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->schedule_delay.count(), 1000);
  EXPECT_EQ(defaults->max_queue_size, 8192u);
  EXPECT_EQ(defaults->max_export_batch_size, 512u);

  auto set = ParseBatchSpanProcessorOptions("200", "8192", "1024");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->schedule_delay.count(), 200);
  EXPECT_EQ(set->max_queue_size, 8192u);
  EXPECT_EQ(set->max_export_batch_size, 1024u);
}

TEST(BatchSpanProcessorOptionsTest, RejectsBadValuesNamingTheVariable) {
  struct Case {
    const char* delay;
    const char* queue;
    const char* batch;
    const char* variable;
  };
  const Case kCases[] = {
      {"0", "", "", "OTEL_BSP_SCHEDULE_DELAY="},
      {"soon", "", "", "OTEL_BSP_SCHEDULE_DELAY="},
      {"", "-1", "", "OTEL_BSP_MAX_QUEUE_SIZE="},
      {"", "", "1.5", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE="},
      {"", "100", "", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE="},  // default 512 > 100
      {"", "100", "101", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE="},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.variable);
    auto options = ParseBatchSpanProcessorOptions(c.delay, c.queue, c.batch);
    EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(options.status().message()), StartsWith(c.variable));
  }
}

}  // namespace
}  // namespace polymesh::observability
