#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "config/config_loader.h"

#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/test_certificates.h"

namespace polymesh::gateway {
namespace {

using ::testing::HasSubstr;

constexpr absl::string_view kGood = R"yaml(# the mesh
listener: { address: 127.0.0.1, port: 8080 }
local_services: { address: 127.0.0.1, port: 8081 }
workers: 2
clusters:
  - name: aiapi
    endpoints: [{ address: 127.0.0.1, port: 50051 }]
    connect_timeout: 250ms
  - name: inference
    endpoints:
      - { address: "::1", port: 50052 }
      - { address: localhost, port: 50053 }
routes:
  - name: ai
    match: { service: polymesh.ai.v1.AIService }
    cluster: aiapi
    timeout: 1.5s
  - name: infer
    match: { method: /inference.GRPCInferenceService/ModelInfer }
    cluster: inference
  - name: health
    match: { service: grpc.health.v1.Health }
    cluster: local
tracing: { disabled: true }
)yaml";

absl::Status LoadError(absl::string_view yaml) {
  return LoadConfigFromString(yaml, "mesh.yaml").status();
}

TEST(ConfigLoaderTest, LoadsAGoodConfig) {
  absl::StatusOr<GatewayConfig> config = LoadConfigFromString(kGood, "mesh.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listener().address(), "127.0.0.1");
  EXPECT_EQ(config->listener().port(), 8080u);
  EXPECT_EQ(config->workers(), 2u);
  ASSERT_EQ(config->clusters_size(), 2);
  EXPECT_EQ(config->clusters(0).connect_timeout().nanos(), 250000000);
  EXPECT_EQ(config->clusters(1).endpoints(0).address(), "::1");
  EXPECT_EQ(config->clusters(1).endpoints_size(), 2);
  ASSERT_EQ(config->routes_size(), 3);
  EXPECT_EQ(config->routes(0).timeout().seconds(), 1);
  EXPECT_EQ(config->routes(0).timeout().nanos(), 500000000);
  EXPECT_EQ(config->routes(1).match().method(), "/inference.GRPCInferenceService/ModelInfer");
  EXPECT_TRUE(config->tracing().disabled());
}

TEST(ConfigLoaderTest, LoadsTheShapeOfTheMeshTemplate) {
  constexpr absl::string_view kMesh = R"yaml(
listener: { address: "127.0.0.1", port: 8080 }
local_services: { address: "127.0.0.1", port: 8081 }
clusters:
  - name: aiapi
    endpoints: [{ address: "127.0.0.1", port: 50051 }]
routes:
  - name: health
    match: { service: grpc.health.v1.Health }
    cluster: local
)yaml";
  EXPECT_TRUE(LoadConfigFromString(kMesh, "mesh.yaml").ok());
}

TEST(ConfigLoaderTest, UnknownKeyNamesFieldAndPosition) {
  absl::Status status = LoadError(R"yaml(listener: { address: 127.0.0.1, port: 8080 }
clusters:
  - name: a
    endpoint: [{ address: 127.0.0.1, port: 1 }]
)yaml");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("mesh.yaml:4:5: clusters[0].endpoint: "
                                          "unknown field \"endpoint\" in Cluster"));
  EXPECT_THAT(status.message(), HasSubstr("known: name, endpoints, connect_timeout"));
}

TEST(ConfigLoaderTest, WrongTypeNamesFieldAndPosition) {
  absl::Status status = LoadError("listener: { address: 127.0.0.1, port: http }\n");
  EXPECT_THAT(status.message(),
              HasSubstr("mesh.yaml:1:39: listener.port: want a non-negative integer, got \"http\""));
  status = LoadError("listener: { address: [127.0.0.1], port: 1 }\n");
  EXPECT_THAT(status.message(),
              HasSubstr("mesh.yaml:1:22: listener.address: want a string, got a list"));
  status = LoadError("listener: 8080\n");
  EXPECT_THAT(status.message(), HasSubstr("listener: want a mapping of SocketAddress fields"));
  status = LoadError("listener: { address: 127.0.0.1, port: 1 }\nclusters: { name: a }\n");
  EXPECT_THAT(status.message(), HasSubstr("mesh.yaml:2:11: clusters: want a list, got a mapping"));
  status = LoadError("listener: { address: 127.0.0.1, port: 1 }\nworkers: -1\n");
  EXPECT_THAT(status.message(), HasSubstr("workers: want a non-negative integer"));
  status = LoadError("listener: { address: 127.0.0.1, port: 1 }\ntracing: { disabled: maybe }\n");
  EXPECT_THAT(status.message(), HasSubstr("tracing.disabled: want true or false"));
}

TEST(ConfigLoaderTest, BadDurationNamesFieldAndPosition) {
  absl::Status status = LoadError(R"yaml(listener: { address: 127.0.0.1, port: 1 }
clusters:
  - name: a
    endpoints: [{ address: 127.0.0.1, port: 1 }]
    connect_timeout: fast
)yaml");
  EXPECT_THAT(status.message(),
              HasSubstr("mesh.yaml:5:22: clusters[0].connect_timeout: invalid duration \"fast\""));
  EXPECT_THAT(status.message(), HasSubstr("\"1.5s\", \"250ms\""));
  EXPECT_THAT(LoadError("listener: { address: 127.0.0.1, port: 1 }\n"
                        "clusters: [{ name: a, endpoints: [{ address: 127.0.0.1, port: 1 }], "
                        "connect_timeout: -1s }]\n")
                  .message(),
              HasSubstr("invalid duration \"-1s\""));
  EXPECT_THAT(LoadError("listener: { address: 127.0.0.1, port: 1 }\n"
                        "clusters: [{ name: a, endpoints: [{ address: 127.0.0.1, port: 1 }], "
                        "connect_timeout: 5 }]\n")
                  .message(),
              HasSubstr("invalid duration \"5\""));
}

TEST(ConfigLoaderTest, MalformedYamlNamesPosition) {
  absl::Status status = LoadError("listener: { address: 127.0.0.1\nroutes: [\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("mesh.yaml:"));
  EXPECT_THAT(status.message(), HasSubstr("malformed YAML"));
  EXPECT_THAT(LoadError("").message(), HasSubstr("mesh.yaml: the configuration is empty"));
}

TEST(ConfigValidatorTest, ListenerIsRequired) {
  EXPECT_THAT(LoadError("workers: 1\n").message(), HasSubstr("listener: required"));
}

TEST(ConfigValidatorTest, PortsAndAddressesMustBeValid) {
  EXPECT_THAT(LoadError("listener: { address: 127.0.0.1, port: 70000 }\n").message(),
              HasSubstr("mesh.yaml:1:39: listener.port: want 0 to 65535, got 70000"));
  EXPECT_THAT(LoadError("listener: { address: gateway.local, port: 1 }\n").message(),
              HasSubstr("listener.address: \"gateway.local\" is not a numeric IP address"));
  EXPECT_THAT(LoadError("listener: { address: 127.0.0.1, port: 1 }\n"
                        "clusters: [{ name: a, endpoints: [{ address: 127.0.0.1, port: 0 }] }]\n")
                  .message(),
              HasSubstr("clusters[0].endpoints[0].port: want 1 to 65535, got 0"));
  EXPECT_THAT(LoadError("listener: { address: 127.0.0.1, port: 1 }\nworkers: 1000\n").message(),
              HasSubstr("workers: at most 256"));
}

// A config whose one cluster endpoint has `address`.
std::string WithEndpoint(absl::string_view address) {
  return absl::StrCat("listener: { address: 127.0.0.1, port: 1 }\n"
                      "clusters: [{ name: a, endpoints: [{ address: \"",
                      address, "\", port: 1 }] }]\n");
}

TEST(ConfigValidatorTest, ClusterEndpointsMayBeHostNames) {
  for (absl::string_view name :
       {"inference", "my-svc.ns.svc.cluster.local", "my-svc.ns.svc.cluster.local.",
        "aiapi-0.aiapi", "3com.example", "localhost", "10.0.0.7", "fd00::7"}) {
    EXPECT_TRUE(LoadError(WithEndpoint(name)).ok()) << name;
  }
}

TEST(ConfigValidatorTest, ClusterEndpointsRejectMalformedHostNames) {
  for (const std::string& name : std::vector<std::string>{
           "bad_name!", "-x", "x-", "a..b", ".a", "a b", "10.0.0.256", "1.2.3.4:80",
           "http://inference", "a.-b", "a..", std::string(64, 'a')}) {
    EXPECT_THAT(LoadError(WithEndpoint(name)).message(),
                HasSubstr(absl::StrCat("clusters[0].endpoints[0].address: \"", name,
                                       "\" is not a numeric IP address or a host name")))
        << name;
  }
  EXPECT_TRUE(LoadError(WithEndpoint(std::string(63, 'a'))).ok());
  std::string long_name;  // 4 labels of 63: 255 characters
  for (int i = 0; i < 4; ++i) absl::StrAppend(&long_name, i > 0 ? "." : "", std::string(63, 'a'));
  EXPECT_FALSE(LoadError(WithEndpoint(long_name)).ok());
}

TEST(ConfigValidatorTest, ListenersTakeNoHostNames) {
  EXPECT_THAT(LoadError("listener: { address: gateway, port: 1 }\n").message(),
              HasSubstr("listener.address: \"gateway\" is not a numeric IP address or "
                        "\"localhost\" (host names are for cluster endpoints only)"));
  EXPECT_THAT(LoadError("listener: { address: 127.0.0.1, port: 1 }\n"
                        "local_services: { address: gateway, port: 1 }\n")
                  .message(),
              HasSubstr("local_services.address: \"gateway\" is not a numeric IP address "
                        "or \"localhost\""));
  EXPECT_TRUE(LoadError("listener: { address: localhost, port: 1 }\n").ok());
}

TEST(ConfigValidatorTest, ClusterNamesAreUniqueAndNotLocal) {
  constexpr absl::string_view kDuplicate = R"yaml(listener: { address: 127.0.0.1, port: 1 }
clusters:
  - name: a
    endpoints: [{ address: 127.0.0.1, port: 1 }]
  - name: a
    endpoints: [{ address: 127.0.0.1, port: 2 }]
)yaml";
  EXPECT_THAT(LoadError(kDuplicate).message(),
              HasSubstr("mesh.yaml:5:11: clusters[1].name: duplicate cluster name \"a\""));
  EXPECT_THAT(LoadError("listener: { address: 127.0.0.1, port: 1 }\n"
                        "clusters: [{ name: local, endpoints: [{ address: 127.0.0.1, port: 1 }] }]\n")
                  .message(),
              HasSubstr("\"local\" is reserved"));
  EXPECT_THAT(LoadError("listener: { address: 127.0.0.1, port: 1 }\nclusters: [{ name: a }]\n")
                  .message(),
              HasSubstr("clusters[0].endpoints: at least one endpoint is required"));
}

TEST(ConfigValidatorTest, RoutesNeedUniqueNamesKnownClustersAndAMatch) {
  constexpr absl::string_view kHead = R"yaml(listener: { address: 127.0.0.1, port: 1 }
clusters: [{ name: a, endpoints: [{ address: 127.0.0.1, port: 1 }] }]
routes:
)yaml";
  auto error = [&](absl::string_view routes) {
    return std::string(LoadError(std::string(kHead) + std::string(routes)).message());
  };
  EXPECT_THAT(error("  - { name: r, match: { service: a.B }, cluster: b }\n"),
              HasSubstr("mesh.yaml:4:50: routes[0].cluster: unknown cluster \"b\" (clusters: a)"));
  EXPECT_THAT(error("  - { name: r, match: { service: a.B }, cluster: local }\n"),
              HasSubstr("cluster \"local\" needs local_services to be set"));
  EXPECT_THAT(error("  - { name: r, match: { service: a.B }, cluster: a }\n"
                    "  - { name: r, match: { service: a.C }, cluster: a }\n"),
              HasSubstr("routes[1].name: duplicate route name \"r\""));
  EXPECT_THAT(error("  - { name: r, cluster: a }\n"),
              HasSubstr("routes[0].match: required: set service, method, package or any"));
  EXPECT_THAT(error("  - { name: r, match: { service: a.B, method: a.B/C }, cluster: a }\n"),
              HasSubstr("routes[0].match.method: only one of service, method, package, any may be set"));
  EXPECT_THAT(error("  - { name: r, match: { service: \"a B\" }, cluster: a }\n"),
              HasSubstr("routes[0].match.service: \"a B\" is not a fully-qualified service name"));
  EXPECT_THAT(error("  - { name: r, match: { method: a.B }, cluster: a }\n"),
              HasSubstr("routes[0].match.method: \"a.B\" is not a method"));
  EXPECT_THAT(error("  - { match: { method: a.B/C }, cluster: a }\n"),
              HasSubstr("routes[0].name: required"));
}

TEST(ConfigLoaderTest, LoadConfigFileReadsAFileAndNamesIt) {
  const std::string path = ::testing::TempDir() + "/gateway_config_test.yaml";
  {
    std::ofstream file(path);
    file << "listener: { address: 127.0.0.1, port: 1 }\nworkerz: 2\n";
  }
  absl::StatusOr<GatewayConfig> config = LoadConfigFile(path);
  EXPECT_THAT(config.status().message(), HasSubstr(path + ":2:1: workerz: unknown field"));
  EXPECT_EQ(LoadConfigFile(path + ".missing").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace polymesh::gateway

namespace polymesh::gateway {
namespace {

std::string TlsYaml(const std::string& tls) {
  return absl::StrCat(R"yaml(listener: { address: 127.0.0.1, port: 8080 }
tls_listener:
  address: { address: 127.0.0.1, port: 8443 }
)yaml",
                      tls, R"yaml(
tracing: { disabled: true }
)yaml");
}

std::string TlsFiles(const std::string& certificate, const std::string& key) {
  return absl::StrCat("  tls: { certificate_chain_file: \"", certificate,
                      "\", private_key_file: \"", key, "\" }");
}

TEST(TlsListenerConfigTest, LoadsAValidCertificateAndKey) {
  testing::TestPki pki = testing::MakeTestPki();
  absl::StatusOr<GatewayConfig> config = LoadConfigFromString(
      TlsYaml(TlsFiles(pki.certificate_chain_file, pki.private_key_file)), "mesh.yaml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->tls_listener().address().port(), 8443u);
  EXPECT_EQ(config->tls_listener().tls().private_key_file(), pki.private_key_file);
}

TEST(TlsListenerConfigTest, RequiresAddressAndFiles) {
  testing::TestPki pki = testing::MakeTestPki();
  EXPECT_THAT(LoadError("listener: { address: 127.0.0.1, port: 8080 }\n"
                        "tls_listener: { tls: { certificate_chain_file: a, "
                        "private_key_file: b } }\n")
                  .message(),
              HasSubstr("tls_listener.address: required"));
  EXPECT_THAT(LoadError(TlsYaml("  tls: { private_key_file: k.pem }")).message(),
              HasSubstr("tls_listener.tls.certificate_chain_file: required"));
  EXPECT_THAT(LoadError(TlsYaml(absl::StrCat("  tls: { certificate_chain_file: ",
                                             pki.certificate_chain_file, " }")))
                  .message(),
              HasSubstr("tls_listener.tls.private_key_file: required"));
}

TEST(TlsListenerConfigTest, ATlsListenerMayReplaceThePlaintextOne) {
  testing::TestPki pki = testing::MakeTestPki();
  absl::StatusOr<GatewayConfig> config = LoadConfigFromString(
      absl::StrCat("tls_listener:\n  address: { address: 127.0.0.1, port: 8443 }\n",
                   TlsFiles(pki.certificate_chain_file, pki.private_key_file), "\n"),
      "mesh.yaml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_FALSE(config->has_listener());
  EXPECT_THAT(LoadError("workers: 1\n").message(),
              HasSubstr("listener: required: where clients connect"));
}

TEST(TlsListenerConfigTest, PortMustDifferFromThePlaintextListener) {
  testing::TestPki pki = testing::MakeTestPki();
  EXPECT_THAT(
      LoadError(absl::StrCat("listener: { address: 127.0.0.1, port: 8080 }\n"
                             "tls_listener:\n  address: { address: 127.0.0.1, port: 8080 }\n",
                             TlsFiles(pki.certificate_chain_file, pki.private_key_file), "\n"))
          .message(),
      HasSubstr("tls_listener.address.port: port 8080 is the plaintext listener's"));
}

TEST(TlsListenerConfigTest, MissingFileIsAConfigError) {
  testing::TestPki pki = testing::MakeTestPki();
  const absl::Status status =
      LoadError(TlsYaml(TlsFiles("/nonexistent/server.pem", pki.private_key_file)));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("tls_listener.tls.certificate_chain_file: cannot load the "
                        "certificate chain from /nonexistent/server.pem"));
  EXPECT_THAT(LoadError(TlsYaml(TlsFiles(pki.certificate_chain_file, "/nonexistent/key.pem")))
                  .message(),
              HasSubstr("tls_listener.tls.private_key_file: cannot load the private key "
                        "from /nonexistent/key.pem"));
}

TEST(TlsListenerConfigTest, UnreadablePemIsAConfigError) {
  testing::TestPki pki = testing::MakeTestPki();
  const std::string garbage = testing::WriteTempFile("garbage.pem", "not a certificate\n");
  EXPECT_THAT(LoadError(TlsYaml(TlsFiles(garbage, pki.private_key_file))).message(),
              HasSubstr("tls_listener.tls.certificate_chain_file: cannot load the "
                        "certificate chain from " + garbage));
  EXPECT_THAT(LoadError(TlsYaml(TlsFiles(pki.certificate_chain_file, garbage))).message(),
              HasSubstr("tls_listener.tls.private_key_file: cannot load the private "
                        "key from " + garbage));
}

TEST(TlsListenerConfigTest, KeyNotMatchingTheCertificateIsAConfigError) {
  testing::TestPki pki = testing::MakeTestPki();
  testing::TestPki other = testing::MakeTestPki();
  const absl::Status status =
      LoadError(TlsYaml(TlsFiles(pki.certificate_chain_file, other.private_key_file)));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("tls_listener.tls: the private key in "));
  EXPECT_THAT(status.message(), HasSubstr("does not match the certificate"));
}

}  // namespace
}  // namespace polymesh::gateway
