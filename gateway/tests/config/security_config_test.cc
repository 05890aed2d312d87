// The security sections of the configuration: auth providers and the files
// they read, route access rules, rate limits, client certificates, the
// admin token, and the files a configuration names for watching.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "auth/sha256.h"
#include "config/config_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "transport/test_certificates.h"

namespace polymesh::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::string KeyFile() {
  return testing::WriteTempFile(
      "keys.yaml", absl::StrCat("keys:\n  - name: demo\n    sha256: ", Sha256Hex("k"), "\n"));
}

std::string Config(const std::string& more) {
  return absl::StrCat(R"yaml(listener: { address: 127.0.0.1, port: 8080 }
clusters:
  - name: echo
    endpoints: [{ address: 127.0.0.1, port: 50051 }]
tracing: { disabled: true }
)yaml",
                      more);
}

std::string Route(const std::string& security) {
  return absl::StrCat(R"yaml(routes:
  - name: echo
    match: { any: true }
    cluster: echo
)yaml",
                      security);
}

absl::Status LoadError(const std::string& yaml) {
  return LoadConfigFromString(yaml, "mesh.yaml").status();
}

TEST(SecurityConfigTest, LoadsProvidersRulesAndLimits) {
  absl::StatusOr<GatewayConfig> config = LoadConfigFromString(
      Config(absl::StrCat("auth_providers: { api_keys: { keys_file: ", KeyFile(), " } }\n",
                          Route("    auth: { groups: [users], principals: [demo] }\n"
                                "    rate_limit: { requests_per_second: 5, burst: 10 }\n"))),
      "mesh.yaml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->routes(0).rate_limit().burst(), 10u);
}

TEST(SecurityConfigTest, ProviderFilesAreRequiredAndRead) {
  EXPECT_THAT(LoadError(Config("auth_providers: { api_keys: {} }\n")).message(),
              HasSubstr("auth_providers.api_keys.keys_file: required"));
  EXPECT_THAT(
      LoadError(Config("auth_providers: { api_keys: { keys_file: /nonexistent/keys.yaml } }\n"))
          .message(),
      HasSubstr("auth_providers.api_keys.keys_file: cannot read the key file "
                "/nonexistent/keys.yaml"));
  const std::string clear =
      testing::WriteTempFile("clear.yaml", "keys:\n  - name: demo\n    key: secret\n");
  EXPECT_THAT(
      LoadError(Config(absl::StrCat("auth_providers: { api_keys: { keys_file: ", clear, " } }\n")))
          .message(),
      HasSubstr("keys in the clear are refused"));
  EXPECT_THAT(LoadError(Config("auth_providers: { jwt: { jwks_file: j.json } }\n")).message(),
              HasSubstr("auth_providers.jwt.issuer: required"));
  EXPECT_THAT(
      LoadError(Config("auth_providers: { jwt: { jwks_file: j.json, issuer: i } }\n")).message(),
      HasSubstr("auth_providers.jwt.audiences: required"));
}

TEST(SecurityConfigTest, ApiKeyHeaderMustBeAnOrdinaryLowercaseName) {
  for (const std::string header : {"X-Api-Key", "authorization", "x-polymesh-principal"}) {
    EXPECT_THAT(LoadError(Config(absl::StrCat("auth_providers: { api_keys: { keys_file: ",
                                              KeyFile(), ", header: ", header, " } }\n")))
                    .message(),
                HasSubstr("auth_providers.api_keys.header"))
        << header;
  }
}

TEST(SecurityConfigTest, MtlsNeedsAClientCa) {
  EXPECT_THAT(LoadError(Config("auth_providers: { mtls: {} }\n")).message(),
              HasSubstr("auth_providers.mtls: needs tls_listener.tls.client_ca_file"));
}

TEST(SecurityConfigTest, RouteRulesNameConfiguredProviders) {
  const std::string keys = absl::StrCat("auth_providers: { api_keys: { keys_file: ", KeyFile(),
                                        " } }\n");
  EXPECT_THAT(LoadError(Config(keys + Route("    auth: { providers: [passwords] }\n"))).message(),
              HasSubstr("routes[0].auth.providers[0]: unknown provider \"passwords\""));
  EXPECT_THAT(LoadError(Config(keys + Route("    auth: { providers: [jwt] }\n"))).message(),
              HasSubstr("provider \"jwt\" is not configured in auth_providers"));
  // Without any provider, only an anonymous rule can admit anyone.
  EXPECT_THAT(LoadError(Config(Route("    auth: { groups: [users] }\n"))).message(),
              HasSubstr("routes[0].auth: no caller could ever be admitted"));
  EXPECT_TRUE(
      LoadConfigFromString(Config(Route("    auth: { allow_anonymous: true }\n")), "mesh.yaml")
          .ok());
}

TEST(SecurityConfigTest, RateLimitsNeedAPositiveRate) {
  EXPECT_THAT(LoadError(Config(Route("    rate_limit: { burst: 5 }\n"))).message(),
              HasSubstr("routes[0].rate_limit.requests_per_second: required"));
  EXPECT_THAT(
      LoadError(Config(Route("    rate_limit: { requests_per_second: -1 }\n"))).message(),
      HasSubstr("routes[0].rate_limit.requests_per_second"));
}

TEST(SecurityConfigTest, AdminBeyondLoopbackNeedsAToken) {
  EXPECT_THAT(LoadError(Config("admin: { address: { address: 0.0.0.0, port: 9901 } }\n")).message(),
              HasSubstr("admin.token_file: required"));
  for (const std::string loopback : {"127.0.0.1", "::1", "localhost", "127.0.0.2"}) {
    EXPECT_TRUE(LoadConfigFromString(Config(absl::StrCat("admin: { address: { address: \"",
                                                         loopback, "\", port: 9901 } }\n")),
                                     "mesh.yaml")
                    .ok())
        << loopback;
  }
  EXPECT_TRUE(LoadConfigFromString(
                  Config("admin: { address: { address: 0.0.0.0, port: 9901 }, token_file: t }\n"),
                  "mesh.yaml")
                  .ok());
}

TEST(SecurityConfigTest, ClientCertificatesNeedACaFileThatLoads) {
  testing::TestPki pki = testing::MakeTestPki();
  const std::string tls = absl::StrCat(
      "tls_listener:\n  address: { address: 127.0.0.1, port: 8443 }\n  tls:\n"
      "    certificate_chain_file: ", pki.certificate_chain_file,
      "\n    private_key_file: ", pki.private_key_file, "\n");
  EXPECT_THAT(LoadError(Config(tls + "    require_client_certificate: true\n")).message(),
              HasSubstr("tls_listener.tls.require_client_certificate: needs client_ca_file"));
  EXPECT_THAT(LoadError(Config(tls + "    client_ca_file: /nonexistent/ca.pem\n")).message(),
              HasSubstr("tls_listener.tls.client_ca_file"));
  const std::string ca = testing::WriteTempFile("ca.pem", pki.ca.certificate_pem);
  EXPECT_TRUE(LoadConfigFromString(Config(absl::StrCat(tls, "    client_ca_file: ", ca,
                                                       "\n    require_client_certificate: true\n")),
                                   "mesh.yaml")
                  .ok());
}

TEST(SecurityConfigTest, ConfigFilesListsEveryNamedFile) {
  GatewayConfig config;
  config.mutable_tls_listener()->mutable_tls()->set_certificate_chain_file("/t/cert.pem");
  config.mutable_tls_listener()->mutable_tls()->set_private_key_file("/t/key.pem");
  config.mutable_tls_listener()->mutable_tls()->set_client_ca_file("/t/ca.pem");
  config.mutable_auth_providers()->mutable_api_keys()->set_keys_file("/t/keys.yaml");
  config.mutable_auth_providers()->mutable_jwt()->set_jwks_file("/t/jwks.json");
  config.mutable_admin()->set_token_file("/t/token");
  config.mutable_contracts()->add_descriptor_sets("/t/contracts.binpb");
  EXPECT_THAT(ConfigFiles(config),
              UnorderedElementsAre("/t/cert.pem", "/t/key.pem", "/t/ca.pem", "/t/keys.yaml",
                                   "/t/jwks.json", "/t/token", "/t/contracts.binpb"));
}

TEST(SecurityConfigTest, RelativeFilesStartFromTheConfigFolder) {
  const std::string folder = ::testing::TempDir();
  const std::string keys = absl::StrCat(folder, "/polymesh_relative_keys.yaml");
  {
    std::ofstream(keys) << "keys:\n  - name: demo\n    sha256: " << Sha256Hex("k") << "\n";
  }
  const std::string path = absl::StrCat(folder, "/polymesh_relative.yaml");
  {
    std::ofstream(path) << Config(
        "auth_providers: { api_keys: { keys_file: polymesh_relative_keys.yaml } }\n");
  }
  absl::StatusOr<LoadedConfig> loaded = LoadConfigFileWithContracts(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  const std::string& resolved = loaded->config.auth_providers().api_keys().keys_file();
  EXPECT_EQ(resolved.front(), '/');
  EXPECT_THAT(resolved, HasSubstr("/polymesh_relative_keys.yaml"));
  ASSERT_NE(loaded->auth, nullptr);
  EXPECT_EQ(loaded->auth->configured(), kApiKeyProvider);
}

}  // namespace
}  // namespace polymesh::gateway

namespace polymesh::gateway {
namespace {

std::string ClusterTls(const std::string& tls) {
  return absl::StrCat(R"yaml(listener: { address: 127.0.0.1, port: 8080 }
clusters:
  - name: echo
    endpoints: [{ address: 127.0.0.1, port: 50051 }]
    tls: )yaml",
                      tls, "\ntracing: { disabled: true }\n");
}

TEST(UpstreamTlsConfigTest, NeedsACaFileThatLoadsAndACompleteClientCertificate) {
  testing::TestPki pki = testing::MakeTestPki();
  const std::string ca = testing::WriteTempFile("ca.pem", pki.ca.certificate_pem);
  EXPECT_THAT(LoadConfigFromString(ClusterTls("{ server_name: x }"), "mesh.yaml").status().message(),
              HasSubstr("clusters[0].tls.ca_file: required"));
  EXPECT_THAT(LoadConfigFromString(ClusterTls("{ ca_file: /nonexistent/ca.pem }"), "mesh.yaml")
                  .status()
                  .message(),
              HasSubstr("clusters[0].tls: cannot load the CA certificates from /nonexistent/ca.pem"));
  EXPECT_THAT(
      LoadConfigFromString(ClusterTls(absl::StrCat("{ ca_file: ", ca, ", certificate_chain_file: ",
                                                   pki.certificate_chain_file, " }")),
                           "mesh.yaml")
          .status()
          .message(),
      HasSubstr("clusters[0].tls.private_key_file: a client certificate needs both"));
  absl::StatusOr<GatewayConfig> config = LoadConfigFromString(
      ClusterTls(absl::StrCat("{ ca_file: ", ca, ", server_name: echo.internal, ",
                              "certificate_chain_file: ", pki.certificate_chain_file,
                              ", private_key_file: ", pki.private_key_file, " }")),
      "mesh.yaml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_THAT(ConfigFiles(*config), ::testing::Contains(ca));
}

}  // namespace
}  // namespace polymesh::gateway
