// Security at the front door, end to end with gRPC C++ clients and real
// certificates: client certificates verified against the configured CA
// (expired, wrong-CA and wrong-SAN ones refused), API keys and groups, route
// access, rate limits with RetryInfo, and the principal header that only the
// gateway sets. The backend's own call count proves that no refused call
// reached it.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "auth/sha256.h"
#include "config/config_loader.h"
#include "echo_backend.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/gateway.h"
#include "test_keys.h"
#include "test_support.h"
#include "transport/test_certificates.h"

namespace polymesh::gateway {
namespace {

using ::polymesh::gateway::testing::EchoBackend;
using ::polymesh::gateway::testing::IdentityOptions;
using ::polymesh::gateway::testing::kWait;
using ::polymesh::gateway::testing::MakeIdentity;
using ::polymesh::gateway::testing::MakeTestPki;
using ::polymesh::gateway::testing::Sample;
using ::polymesh::gateway::testing::StartRecordingSpans;
using ::polymesh::gateway::testing::TestIdentity;
using ::polymesh::gateway::testing::TestPki;
using ::polymesh::gateway::testing::WriteTempFile;
using ::polymesh::testing::v1::EchoService;
using ::polymesh::testing::v1::UnaryRequest;
using ::polymesh::testing::v1::UnaryResponse;

constexpr char kServiceClient[] = "spiffe://polymesh.test/client";

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = MakeTestPki();
    client_ = MakeIdentity("client", &pki_.ca,
                           {.subject_alt_name = absl::StrCat("URI:", kServiceClient),
                            .extended_key_usage = "clientAuth"});
    const std::string keys = WriteTempFile(
        "keys.yaml", absl::StrCat("keys:\n"
                                  "  - name: alice\n    sha256: ", Sha256Hex("alice-key"), "\n"
                                  "    groups: [echo-users]\n"
                                  "  - name: mallory\n    sha256: ", Sha256Hex("mallory-key"),
                                  "\n"));
    const std::string jwks = WriteTempFile(
        "jwks.json", JwksJson({TestKey::Shared(JwksKey::Type::kRsa).PublicJwk("rsa-1")}));
    const std::string yaml = absl::StrCat(R"yaml(
listener: { address: 127.0.0.1, port: 0 }
tls_listener:
  address: { address: 127.0.0.1, port: 0 }
  tls:
    certificate_chain_file: )yaml", pki_.certificate_chain_file, R"yaml(
    private_key_file: )yaml", pki_.private_key_file, R"yaml(
    client_ca_file: )yaml", WriteTempFile("ca.pem", pki_.ca.certificate_pem), R"yaml(
auth_providers:
  api_keys: { keys_file: )yaml", keys, R"yaml( }
  jwt:
    jwks_file: )yaml", jwks, R"yaml(
    issuer: https://issuer.test
    audiences: [polymesh]
    groups_claim: groups
  mtls: {}
workers: 1
clusters:
  - name: echo
    endpoints: [{ address: 127.0.0.1, port: )yaml", backend_.port(), R"yaml( }]
routes:
  - name: limited
    match:
      method: polymesh.testing.v1.EchoService/Unary
      headers: [{ name: x-route, exact: limited }]
    cluster: echo
    auth: { groups: [echo-users] }
    rate_limit: { requests_per_second: 0.01, burst: 2 }
  - name: open
    match:
      method: polymesh.testing.v1.EchoService/Unary
      headers: [{ name: x-route, exact: open }]
    cluster: echo
  - name: anonymous
    match:
      method: polymesh.testing.v1.EchoService/Unary
      headers: [{ name: x-route, exact: anonymous }]
    cluster: echo
    auth: { allow_anonymous: true, principals: [nobody] }
    rate_limit: { requests_per_second: 0.01, burst: 1 }
  - name: echo
    match: { service: polymesh.testing.v1.EchoService }
    cluster: echo
    auth:
      groups: [echo-users]
      principals: [")yaml", kServiceClient, R"yaml("]
)yaml");
    absl::StatusOr<GatewayConfig> config = LoadConfigFromString(yaml, "test.yaml");
    ASSERT_TRUE(config.ok()) << config.status().message();
    absl::StatusOr<std::unique_ptr<Gateway>> gateway = StartRecordingSpans(*config, &spans_);
    ASSERT_TRUE(gateway.ok()) << gateway.status().message();
    gateway_ = std::move(*gateway);
  }

  void TearDown() override {
    if (gateway_ != nullptr) gateway_->Stop(absl::Seconds(1));
  }

  std::shared_ptr<grpc::Channel> Plaintext() const {
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                               grpc::InsecureChannelCredentials());
  }

  // A TLS channel, presenting `client` when given.
  std::shared_ptr<grpc::Channel> Tls(const TestIdentity* client,
                                     const std::string* root = nullptr) const {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = root != nullptr ? *root : pki_.ca.certificate_pem;
    if (client != nullptr) {
      options.pem_cert_chain = client->certificate_pem;
      options.pem_private_key = client->key_pem;
    }
    grpc::ChannelArguments arguments;
    // A new connection per channel: each test's certificate is its own.
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(absl::StrCat("localhost:", gateway_->tls_port()),
                                     grpc::SslCredentials(options), arguments);
  }

  // A unary call with `metadata`.
  static grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel,
                           const std::vector<std::pair<std::string, std::string>>& metadata,
                           grpc::ClientContext* context = nullptr) {
    grpc::ClientContext own;
    if (context == nullptr) context = &own;
    context->set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    for (const auto& [key, value] : metadata) context->AddMetadata(key, value);
    UnaryRequest request;
    request.set_text("hello");
    UnaryResponse response;
    return EchoService::NewStub(channel)->Unary(context, request, &response);
  }

  // A bearer token signed by the JWKS's key, with `claims` merged over good
  // ones.
  static std::string Bearer(const std::string& claims,
                            const std::string& header = R"({"alg":"RS256","kid":"rsa-1"})") {
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    const std::string payload = absl::StrCat(
        R"({"iss":"https://issuer.test","aud":"polymesh","sub":"carol","groups":["echo-users"],)",
        R"("exp":)", now + 300, claims, "}");
    return absl::StrCat("Bearer ",
                        SignJwt(header, payload, TestKey::Shared(JwksKey::Type::kRsa)));
  }

  double Counter(const std::string& family, const std::string& route) {
    return Sample(gateway_->stats()->Collect(), family, {{"route", route}});
  }

  EchoBackend backend_;
  TestPki pki_;
  TestIdentity client_;
  std::unique_ptr<Gateway> gateway_;
  std::shared_ptr<observability::InMemorySpans> spans_;
};

TEST_F(SecurityTest, CallWithoutCredentialIsUnauthenticated) {
  const grpc::Status status = Call(Plaintext(), {});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("route \"echo\" needs a credential"), std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find("x-api-key"), std::string::npos);
  EXPECT_EQ(backend_.record().calls(), 0);
  EXPECT_EQ(Counter("polymesh_gateway_unauthenticated_total", "echo"), 1);
}

TEST_F(SecurityTest, UnknownKeyIsUnauthenticated) {
  const grpc::Status status = Call(Plaintext(), {{"x-api-key", "guessed"}});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(backend_.record().calls(), 0);
}

TEST_F(SecurityTest, KeyOfAGroupTheRouteAdmitsReachesTheBackendAsItsPrincipal) {
  const grpc::Status status = Call(Plaintext(), {{"x-api-key", "alice-key"}});
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(backend_.record().calls(), 1);
  const std::multimap<std::string, std::string> metadata = backend_.record().last_metadata();
  auto principal = metadata.equal_range("x-polymesh-principal");
  ASSERT_EQ(std::distance(principal.first, principal.second), 1);
  EXPECT_EQ(principal.first->second, "alice");
  // The key stays at the front door.
  EXPECT_EQ(metadata.count("x-api-key"), 0u);
}

TEST_F(SecurityTest, KeyOutsideTheRoutesGroupsIsPermissionDenied) {
  const grpc::Status status = Call(Plaintext(), {{"x-api-key", "mallory-key"}});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("principal \"mallory\" may not call route \"echo\""),
            std::string::npos)
      << status.error_message();
  EXPECT_EQ(backend_.record().calls(), 0);
  EXPECT_EQ(Counter("polymesh_gateway_permission_denied_total", "echo"), 1);
}

TEST_F(SecurityTest, ForgedPrincipalHeaderNeverReachesTheBackend) {
  // On a route with a rule: replaced by the real principal.
  ASSERT_TRUE(Call(Plaintext(), {{"x-api-key", "alice-key"},
                                 {"x-polymesh-principal", "admin"}})
                  .ok());
  std::multimap<std::string, std::string> metadata = backend_.record().last_metadata();
  auto principal = metadata.equal_range("x-polymesh-principal");
  ASSERT_EQ(std::distance(principal.first, principal.second), 1);
  EXPECT_EQ(principal.first->second, "alice");
  // Alone it proves nothing.
  EXPECT_EQ(Call(Plaintext(), {{"x-polymesh-principal", "alice"}}).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // On an open route: dropped.
  ASSERT_TRUE(
      Call(Plaintext(), {{"x-route", "open"}, {"x-polymesh-principal", "admin"}}).ok());
  metadata = backend_.record().last_metadata();
  EXPECT_EQ(metadata.count("x-polymesh-principal"), 0u);
  EXPECT_EQ(backend_.record().calls(), 2);
}

TEST_F(SecurityTest, ClientCertificateNamesItsUriSanAsPrincipal) {
  const grpc::Status status = Call(Tls(&client_), {});
  ASSERT_TRUE(status.ok()) << status.error_message();
  const std::multimap<std::string, std::string> metadata = backend_.record().last_metadata();
  auto principal = metadata.find("x-polymesh-principal");
  ASSERT_NE(principal, metadata.end());
  EXPECT_EQ(principal->second, kServiceClient);
}

TEST_F(SecurityTest, TlsWithoutClientCertificateStillNeedsACredential) {
  EXPECT_EQ(Call(Tls(nullptr), {}).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(Call(Tls(nullptr), {{"x-api-key", "alice-key"}}).ok());
  EXPECT_EQ(backend_.record().calls(), 1);
}

TEST_F(SecurityTest, CertificateWithAnotherSanIsPermissionDenied) {
  const TestIdentity stranger =
      MakeIdentity("stranger", &pki_.ca,
                   {.subject_alt_name = "URI:spiffe://polymesh.test/stranger",
                    .extended_key_usage = "clientAuth"});
  const grpc::Status status = Call(Tls(&stranger), {});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_EQ(backend_.record().calls(), 0);
}

TEST_F(SecurityTest, ExpiredOrForeignCertificatesFailTheHandshake) {
  const TestIdentity expired =
      MakeIdentity("expired", &pki_.ca,
                   {.subject_alt_name = absl::StrCat("URI:", kServiceClient),
                    .extended_key_usage = "clientAuth",
                    .not_before = -7200,
                    .not_after = -3600});
  const TestIdentity not_yet =
      MakeIdentity("not yet", &pki_.ca,
                   {.subject_alt_name = absl::StrCat("URI:", kServiceClient),
                    .extended_key_usage = "clientAuth",
                    .not_before = 3600,
                    .not_after = 7200});
  const TestIdentity other_ca = MakeIdentity("another CA", nullptr);
  const TestIdentity foreign =
      MakeIdentity("foreign", &other_ca,
                   {.subject_alt_name = absl::StrCat("URI:", kServiceClient),
                    .extended_key_usage = "clientAuth"});
  for (const TestIdentity* identity : {&expired, &not_yet, &foreign}) {
    const grpc::Status status = Call(Tls(identity), {{"x-api-key", "alice-key"}});
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  }
  EXPECT_EQ(backend_.record().calls(), 0);
}

TEST_F(SecurityTest, KeyOverItsRateLimitGetsResourceExhaustedWithRetryInfo) {
  const std::vector<std::pair<std::string, std::string>> alice = {{"x-api-key", "alice-key"},
                                                                   {"x-route", "limited"}};
  ASSERT_TRUE(Call(Plaintext(), alice).ok());
  ASSERT_TRUE(Call(Plaintext(), alice).ok());
  grpc::ClientContext context;
  const grpc::Status status = Call(Plaintext(), alice, &context);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("rate limit of route \"limited\" exceeded for principal "
                                        "alice"),
            std::string::npos)
      << status.error_message();
  // google.rpc.Status with RetryInfo and QuotaFailure (their wire format is
  // checked in status_details_test).
  const std::string details = status.error_details();
  EXPECT_NE(details.find("type.googleapis.com/google.rpc.RetryInfo"), std::string::npos);
  EXPECT_NE(details.find("type.googleapis.com/google.rpc.QuotaFailure"), std::string::npos);
  EXPECT_NE(details.find("limited: 0.01 calls/s per caller, burst 2"), std::string::npos);
  EXPECT_EQ(backend_.record().calls(), 2);
  EXPECT_EQ(Counter("polymesh_gateway_rate_limited_total", "limited"), 1);
}

TEST_F(SecurityTest, ValidTokenReachesTheBackendWithoutTheToken) {
  const grpc::Status status = Call(Plaintext(), {{"authorization", Bearer("")}});
  ASSERT_TRUE(status.ok()) << status.error_message();
  const std::multimap<std::string, std::string> metadata = backend_.record().last_metadata();
  auto principal = metadata.find("x-polymesh-principal");
  ASSERT_NE(principal, metadata.end());
  EXPECT_EQ(principal->second, "carol");
  EXPECT_EQ(metadata.count("authorization"), 0u);
}

TEST_F(SecurityTest, BadTokensAreUnauthenticated) {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  std::string tampered = Bearer("");
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  const std::string other_key = absl::StrCat(
      "Bearer ", SignJwt(R"({"alg":"RS256","kid":"rsa-1"})",
                         absl::StrCat(R"({"iss":"https://issuer.test","aud":"polymesh",)",
                                      R"("sub":"carol","exp":)", now + 300, "}"),
                         TestKey::Generate(JwksKey::Type::kRsa)));
  const std::string unsigned_token =
      absl::StrCat("Bearer ", JwtWithSignature(R"({"alg":"none"})",
                                               absl::StrCat(R"({"iss":"https://issuer.test",)",
                                                            R"("aud":"polymesh","sub":"carol",)",
                                                            R"("exp":)", now + 300, "}"),
                                               ""));
  for (const auto& [what, bearer] : std::vector<std::pair<std::string, std::string>>{
           {"bad signature", tampered},
           {"another key", other_key},
           {"expired", Bearer(absl::StrCat(R"(,"exp":)", now - 3600))},
           {"wrong audience", Bearer(R"(,"aud":"someone-else")")},
           {"wrong issuer", Bearer(R"(,"iss":"https://evil.test")")},
           {"alg none", unsigned_token},
       }) {
    const grpc::Status status = Call(Plaintext(), {{"authorization", bearer}});
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << what;
    EXPECT_NE(status.error_message().find("bearer token refused"), std::string::npos)
        << what << ": " << status.error_message();
  }
  EXPECT_EQ(backend_.record().calls(), 0);
  EXPECT_EQ(Counter("polymesh_gateway_unauthenticated_total", "echo"), 6);
}

TEST_F(SecurityTest, AnonymousCallersShareABucketPerAddress) {
  ASSERT_TRUE(Call(Plaintext(), {{"x-route", "anonymous"}}).ok());
  const grpc::Status status = Call(Plaintext(), {{"x-route", "anonymous"}});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("anonymous callers from 127.0.0.1"), std::string::npos)
      << status.error_message();
  // A credential that is present must still verify, anonymous route or not.
  EXPECT_EQ(Call(Plaintext(), {{"x-route", "anonymous"}, {"x-api-key", "nope"}}).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(backend_.record().calls(), 1);
}

}  // namespace
}  // namespace polymesh::gateway
