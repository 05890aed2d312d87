// TLS to upstreams: the gateway's connections to a cluster verify the
// endpoints' certificates against the cluster's CA file and server name,
// present a client certificate where the upstream asks for one (mTLS), and
// run health checks over the same TLS. A failed handshake refuses the call
// with a message that says why.
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "config/config_loader.h"
#include "echo_backend.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "gtest/gtest.h"
#include "server/gateway.h"
#include "test_support.h"
#include "transport/test_certificates.h"

namespace polymesh::gateway {
namespace {

using ::polymesh::gateway::testing::EchoBackend;
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

// A TLS server credential with the PKI's server certificate; with
// `require_client`, client certificates signed by the PKI's CA are required.
std::shared_ptr<grpc::ServerCredentials> ServerTls(const TestPki& pki, bool require_client) {
  grpc::SslServerCredentialsOptions options(
      require_client ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                     : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_root_certs = pki.ca.certificate_pem;
  options.pem_key_cert_pairs.push_back({pki.server.key_pem, pki.server.certificate_pem});
  return grpc::SslServerCredentials(options);
}

class UpstreamTlsTest : public ::testing::Test {
 protected:
  // Starts the gateway with `tls` as the echo cluster's `tls:` block (and
  // `more` lines of the cluster).
  void StartGateway(const EchoBackend& backend, const std::string& tls,
                    const std::string& more = "") {
    const std::string yaml = absl::StrCat(R"yaml(
listener: { address: 127.0.0.1, port: 0 }
workers: 1
clusters:
  - name: echo
    endpoints: [{ address: 127.0.0.1, port: )yaml", backend.port(), R"yaml( }]
    connect_timeout: 2s
    tls: )yaml", tls, "\n", more, R"yaml(
routes:
  - name: echo
    match: { service: polymesh.testing.v1.EchoService }
    cluster: echo
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

  grpc::Status Call(const std::string& text, UnaryResponse* response) {
    std::unique_ptr<EchoService::Stub> stub =
        EchoService::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                                                 grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    UnaryRequest request;
    request.set_text(text);
    return stub->Unary(&context, request, response);
  }

  std::string CaFile(const TestIdentity& ca) { return WriteTempFile("ca.pem", ca.certificate_pem); }

  TestPki pki_ = MakeTestPki();
  std::unique_ptr<Gateway> gateway_;
  std::shared_ptr<observability::InMemorySpans> spans_;
};

TEST_F(UpstreamTlsTest, CallsReachATlsUpstream) {
  EchoBackend backend(ServerTls(pki_, /*require_client=*/false));
  StartGateway(backend, absl::StrCat("{ ca_file: ", CaFile(pki_.ca), " }"));
  UnaryResponse response;
  const grpc::Status status = Call("over tls upstream", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "over tls upstream");
  EXPECT_EQ(backend.record().calls(), 1);
}

TEST_F(UpstreamTlsTest, UpstreamThatRequiresAClientCertificateGetsTheGatewaysOne) {
  EchoBackend backend(ServerTls(pki_, /*require_client=*/true));
  const TestIdentity client = MakeIdentity(
      "gateway", &pki_.ca,
      {.subject_alt_name = "URI:spiffe://polymesh.test/gateway", .extended_key_usage = "clientAuth"});
  StartGateway(backend,
               absl::StrCat("{ ca_file: ", CaFile(pki_.ca), ", certificate_chain_file: ",
                            WriteTempFile("client.pem", client.certificate_pem),
                            ", private_key_file: ", WriteTempFile("client.key", client.key_pem),
                            " }"));
  UnaryResponse response;
  const grpc::Status status = Call("mtls", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(backend.record().calls(), 1);
}

TEST_F(UpstreamTlsTest, WithoutTheClientCertificateTheCallFails) {
  EchoBackend backend(ServerTls(pki_, /*require_client=*/true));
  StartGateway(backend, absl::StrCat("{ ca_file: ", CaFile(pki_.ca), " }"));
  UnaryResponse response;
  const grpc::Status status = Call("no certificate", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(backend.record().calls(), 0);
}

TEST_F(UpstreamTlsTest, CertificateFromAnotherCaIsRefusedSayingWhy) {
  EchoBackend backend(ServerTls(pki_, /*require_client=*/false));
  const TestIdentity other_ca = MakeIdentity("another CA", nullptr);
  StartGateway(backend, absl::StrCat("{ ca_file: ", CaFile(other_ca), " }"));
  UnaryResponse response;
  const grpc::Status status = Call("x", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(status.error_message().find("TLS handshake failed"), std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find("certificate"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(backend.record().calls(), 0);
}

TEST_F(UpstreamTlsTest, CertificateForAnotherNameIsRefused) {
  EchoBackend backend(ServerTls(pki_, /*require_client=*/false));
  StartGateway(backend,
               absl::StrCat("{ ca_file: ", CaFile(pki_.ca), ", server_name: inference.internal }"));
  UnaryResponse response;
  const grpc::Status status = Call("x", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(status.error_message().find("hostname mismatch"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(backend.record().calls(), 0);
}

TEST_F(UpstreamTlsTest, HealthChecksRunOverTheSameTls) {
  EchoBackend backend(ServerTls(pki_, /*require_client=*/false));
  StartGateway(backend, absl::StrCat("{ ca_file: ", CaFile(pki_.ca), " }"),
               "    health_check: { interval: 50ms, timeout: 1s }");
  double passed = 0;
  for (absl::Time end = absl::Now() + kWait; absl::Now() < end && passed < 2;) {
    passed = Sample(gateway_->stats()->Collect(), "polymesh_gateway_upstream_health_checks_total",
                    {{"cluster", "echo"}, {"result", "passed"}});
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GE(passed, 2);
  EXPECT_EQ(Sample(gateway_->stats()->Collect(), "polymesh_gateway_upstream_health_checks_total",
                   {{"cluster", "echo"}, {"result", "failed"}}),
            0);
}

}  // namespace
}  // namespace polymesh::gateway
