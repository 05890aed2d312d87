// Tests of the OTLP exporter's options from OTEL_EXPORTER_OTLP_* and of the
// OTLP attribute mapping.
#include "observability/otlp_options.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "observability/otlp_attributes.h"
#include "observability/resource.h"

namespace polymesh::observability {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;

// An environment of `variables` alone.
EnvironmentLookup Env(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](const char* name) -> std::string_view {
    auto it = variables.find(name);
    return it == variables.end() ? std::string_view() : std::string_view(it->second);
  };
}

TEST(OtlpOptionsTest, DefaultsAreThoseOfTheSpecification) {
  absl::StatusOr<OtlpOptions> options = ReadOtlpOptions(Env({}));
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->target, "localhost:4317");
  EXPECT_FALSE(options->use_tls);  // http://localhost:4317
  EXPECT_TRUE(options->headers.empty());
  EXPECT_EQ(options->timeout, std::chrono::milliseconds(10000));
  EXPECT_FALSE(options->gzip);
}

TEST(OtlpOptionsTest, TheSchemeDecidesTransportSecurity) {
  struct Case {
    std::string endpoint;
    std::string insecure;
    std::string target;
    bool tls;
  };
  for (const Case& c : std::vector<Case>{
           {"http://collector:4317", "", "collector:4317", false},
           {"https://collector:4317", "", "collector:4317", true},
           // A scheme wins over _INSECURE, which is for endpoints without one.
           {"https://collector:4317", "true", "collector:4317", true},
           {"http://collector:4317", "false", "collector:4317", false},
           {"collector:4317", "", "collector:4317", true},
           {"collector:4317", "true", "collector:4317", false},
           {"collector:4317", "FALSE", "collector:4317", true},
           // The scheme's port when none is given; OTLP/gRPC's without a scheme.
           {"https://collector", "", "collector:443", true},
           {"http://collector/", "", "collector:80", false},
           {"collector", "true", "collector:4317", false},
           {"http://[::1]:4317", "", "[::1]:4317", false},
           {"HTTP://127.0.0.1:4317", "", "127.0.0.1:4317", false},
       }) {
    SCOPED_TRACE(c.endpoint + " insecure=" + c.insecure);
    absl::StatusOr<OtlpOptions> options = ReadOtlpOptions(
        Env({{"OTEL_EXPORTER_OTLP_ENDPOINT", c.endpoint},
             {"OTEL_EXPORTER_OTLP_INSECURE", c.insecure}}));
    ASSERT_TRUE(options.ok()) << options.status();
    EXPECT_EQ(options->target, c.target);
    EXPECT_EQ(options->use_tls, c.tls);
  }
}

TEST(OtlpOptionsTest, TracesSpecificVariablesWin) {
  absl::StatusOr<OtlpOptions> options = ReadOtlpOptions(Env({
      {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4317"},
      {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"},
      {"OTEL_EXPORTER_OTLP_HEADERS", "from=generic"},
      {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "from=traces"},
      {"OTEL_EXPORTER_OTLP_TIMEOUT", "1000"},
      {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "250"},
      {"OTEL_EXPORTER_OTLP_COMPRESSION", "none"},
      {"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"},
      {"OTEL_EXPORTER_OTLP_CERTIFICATE", "/generic/ca.pem"},
      {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/traces/ca.pem"},
      {"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/traces/client.pem"},
      {"OTEL_EXPORTER_OTLP_CLIENT_KEY", "/generic/client.key"},
  }));
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->target, "traces:4317");
  EXPECT_THAT(options->headers, ElementsAre(Pair("from", "traces")));
  EXPECT_EQ(options->timeout, std::chrono::milliseconds(250));
  EXPECT_TRUE(options->gzip);
  EXPECT_EQ(options->certificate_path, "/traces/ca.pem");
  EXPECT_EQ(options->client_certificate_path, "/traces/client.pem");
  EXPECT_EQ(options->client_key_path, "/generic/client.key");
}

TEST(OtlpOptionsTest, EmptyValuesMeanUnset) {
  absl::StatusOr<OtlpOptions> options = ReadOtlpOptions(Env({
      {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", " "},
      {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4317"},
      {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", ""},
  }));
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->target, "generic:4317");
  EXPECT_EQ(options->timeout, std::chrono::milliseconds(10000));
}

TEST(OtlpOptionsTest, HeadersArePercentDecodedWithLowerCaseKeys) {
  absl::StatusOr<OtlpOptions> options = ReadOtlpOptions(
      Env({{"OTEL_EXPORTER_OTLP_HEADERS", " Api-Key = s3cr%3Dt , tenant=a%20b,,"}}));
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_THAT(options->headers, ElementsAre(Pair("api-key", "s3cr=t"), Pair("tenant", "a b")));
}

TEST(OtlpOptionsTest, MalformedValuesAreInvalidArgumentsNamingTheVariable) {
  struct Case {
    std::string variable;
    std::string value;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:port", "port"},
           {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:99999", "port"},
           {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:0", "port"},
           {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://:4317", "no host"},
           {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "unix:///tmp/otel.sock", "scheme"},
           {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317/v1/traces", "no path"},
           {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1:4317", "']'"},
           {"OTEL_EXPORTER_OTLP_INSECURE", "yes", "true or false"},
           {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "novalue", "no '='"},
           {"OTEL_EXPORTER_OTLP_HEADERS", "k=%zz", "percent"},
           {"OTEL_EXPORTER_OTLP_TIMEOUT", "10s", "milliseconds"},
           {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-1", "milliseconds"},
           {"OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", "gzip or none"},
       }) {
    SCOPED_TRACE(c.variable + "=" + c.value);
    absl::StatusOr<OtlpOptions> options = ReadOtlpOptions(Env({{c.variable, c.value}}));
    ASSERT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(options.status().message()), StartsWith(c.variable + "="));
    EXPECT_THAT(std::string(options.status().message()), HasSubstr(c.why));
  }
}

TEST(OtlpChannelTest, PlaintextAndTlsChannelsAreMade) {
  OtlpOptions options;
  EXPECT_TRUE(MakeOtlpChannel(options).ok());
  options.use_tls = true;  // the system's roots
  EXPECT_TRUE(MakeOtlpChannel(options).ok());
}

TEST(OtlpChannelTest, AMissingCertificateFileIsAnError) {
  OtlpOptions options;
  options.use_tls = true;
  options.certificate_path =
      (std::filesystem::temp_directory_path() / "polymesh-no-such-ca.pem").string();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeOtlpChannel(options);
  EXPECT_EQ(channel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(channel.status().message()), HasSubstr("polymesh-no-such-ca.pem"));
}

TEST(OtlpAttributesTest, ResourceAndScopeCarryTheirAttributes) {
  opentelemetry::proto::resource::v1::Resource resource;
  SetResource(Resource{{{"service.name", "polymesh-gateway"}, {"pid", "12"}}}, &resource);
  // In key order, each a string value.
  ASSERT_EQ(resource.attributes_size(), 2);
  EXPECT_EQ(resource.attributes(0).key(), "pid");
  EXPECT_EQ(resource.attributes(0).value().string_value(), "12");
  EXPECT_EQ(resource.attributes(1).key(), "service.name");
  EXPECT_EQ(resource.attributes(1).value().string_value(), "polymesh-gateway");

  opentelemetry::proto::common::v1::InstrumentationScope scope;
  SetScope(InstrumentationScope{"polymesh.gateway", "1.0"}, &scope);
  EXPECT_EQ(scope.name(), "polymesh.gateway");
  EXPECT_EQ(scope.version(), "1.0");
  EXPECT_EQ(scope.attributes_size(), 0);
}

}  // namespace
}  // namespace polymesh::observability
