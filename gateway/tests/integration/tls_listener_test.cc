// The TLS listener beside the plaintext one: a gRPC C++ client with TLS
// credentials calls through it to the echo backend; clients that trust
// another CA, offer no ALPN "h2", or never finish their handshake are
// refused without disturbing the others.
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "config/config_loader.h"
#include "echo_backend.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "server/gateway.h"
#include "test_support.h"
#include "transport/socket.h"
#include "transport/test_certificates.h"

namespace polymesh::gateway {
namespace {

using ::polymesh::gateway::testing::EchoBackend;
using ::polymesh::gateway::testing::kWait;
using ::polymesh::gateway::testing::MakeIdentity;
using ::polymesh::gateway::testing::MakeTestPki;
using ::polymesh::gateway::testing::StartRecordingSpans;
using ::polymesh::gateway::testing::TestIdentity;
using ::polymesh::gateway::testing::TestPki;
using ::polymesh::testing::v1::EchoService;
using ::polymesh::testing::v1::UnaryRequest;
using ::polymesh::testing::v1::UnaryResponse;

class TlsListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = MakeTestPki();
    const std::string yaml = absl::StrCat(R"yaml(
listener: { address: 127.0.0.1, port: 0 }
tls_listener:
  address: { address: 127.0.0.1, port: 0 }
  tls:
    certificate_chain_file: )yaml", pki_.certificate_chain_file, R"yaml(
    private_key_file: )yaml", pki_.private_key_file, R"yaml(
workers: 1
clusters:
  - name: echo
    endpoints: [{ address: 127.0.0.1, port: )yaml", backend_.port(), R"yaml( }]
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
    ASSERT_NE(gateway_->tls_port(), 0);
    ASSERT_NE(gateway_->tls_port(), gateway_->port());
  }

  void TearDown() override {
    if (gateway_ != nullptr) gateway_->Stop(absl::Seconds(1));
  }

  // A unary call through `channel`.
  static grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel,
                           const std::string& text, UnaryResponse* response) {
    std::unique_ptr<EchoService::Stub> stub = EchoService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    UnaryRequest request;
    request.set_text(text);
    return stub->Unary(&context, request, response);
  }

  // A TLS channel to the TLS listener that trusts `root_pem`.
  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& root_pem) const {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = root_pem;
    return grpc::CreateChannel(absl::StrCat("localhost:", gateway_->tls_port()),
                               grpc::SslCredentials(options));
  }

  // A blocking TCP connection to the TLS listener, with a receive timeout so
  // that a test fails rather than hangs.
  ScopedFd ConnectToTlsPort() const {
    ScopedFd fd(socket(AF_INET, SOCK_STREAM, 0));
    EXPECT_TRUE(fd.valid());
    timeval timeout{static_cast<time_t>(absl::ToInt64Seconds(kWait)), 0};
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(gateway_->tls_port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    return fd;
  }

  EchoBackend backend_;
  TestPki pki_;
  std::unique_ptr<Gateway> gateway_;
  std::shared_ptr<observability::InMemorySpans> spans_;
};

TEST_F(TlsListenerTest, TlsClientReachesTheUpstream) {
  UnaryResponse response;
  grpc::Status status = Call(TlsChannel(pki_.ca.certificate_pem), "over tls", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "over tls");
}

TEST_F(TlsListenerTest, LargeMessagesCrossInBothDirections) {
  // Megabytes each way: many TLS records, flow control, and writes that
  // fill the socket and resume.
  std::shared_ptr<grpc::Channel> channel = TlsChannel(pki_.ca.certificate_pem);
  std::unique_ptr<EchoService::Stub> stub = EchoService::NewStub(channel);
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    UnaryRequest request;
    request.set_payload(std::string(3 * 1024 * 1024 + i, static_cast<char>('a' + i)));
    UnaryResponse response;
    grpc::Status status = stub->Unary(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.payload(), request.payload());
  }
}

TEST_F(TlsListenerTest, PlaintextListenerStillServesBesideIt) {
  UnaryResponse response;
  grpc::Status status =
      Call(grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                               grpc::InsecureChannelCredentials()),
           "plain", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "plain");
  status = Call(TlsChannel(pki_.ca.certificate_pem), "tls", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "tls");
}

TEST_F(TlsListenerTest, ClientTrustingAnotherCaFailsUnavailable) {
  const TestIdentity other_ca = MakeIdentity("another CA", nullptr);
  UnaryResponse response;
  grpc::Status status = Call(TlsChannel(other_ca.certificate_pem), "x", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(backend_.record().calls(), 0);
}

TEST_F(TlsListenerTest, ClientOfferingOnlyHttp11IsRefused) {
  ScopedFd fd = ConnectToTlsPort();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ASSERT_NE(ctx, nullptr);
  SSL* ssl = SSL_new(ctx);
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  ASSERT_EQ(SSL_set_alpn_protos(ssl, kHttp11, sizeof(kHttp11)), 0);
  SSL_set_fd(ssl, fd.get());
  ERR_clear_error();
  EXPECT_NE(SSL_connect(ssl), 1);
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
}

TEST_F(TlsListenerTest, ClientOfferingNoAlpnIsDropped) {
  ScopedFd fd = ConnectToTlsPort();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  ASSERT_NE(ctx, nullptr);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd.get());
  ERR_clear_error();
  // The handshake may finish before the gateway sees there is no ALPN; the
  // connection ends there either way, with no HTTP/2 frame read from it.
  if (SSL_connect(ssl) == 1) {
    char byte;
    EXPECT_LE(SSL_read(ssl, &byte, 1), 0);
  }
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
}

TEST_F(TlsListenerTest, StalledHandshakeDoesNotBlockOtherConnections) {
  // One worker: the stalled connections share its loop with the calls.
  ScopedFd silent = ConnectToTlsPort();
  ScopedFd partial = ConnectToTlsPort();
  // The first bytes of a ClientHello record, and then nothing more.
  static constexpr char kRecordStart[] = {0x16, 0x03, 0x01};
  ASSERT_EQ(send(partial.get(), kRecordStart, sizeof(kRecordStart), 0),
            static_cast<ssize_t>(sizeof(kRecordStart)));
  UnaryResponse response;
  grpc::Status status = Call(TlsChannel(pki_.ca.certificate_pem), "still served", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "still served");
  status = Call(grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                                    grpc::InsecureChannelCredentials()),
                "plain", &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
}

TEST(TlsOnlyListenerTest, ServesWithoutAPlaintextListener) {
  EchoBackend backend;
  const TestPki pki = MakeTestPki();
  const std::string yaml = absl::StrCat(R"yaml(
tls_listener:
  address: { address: 127.0.0.1, port: 0 }
  tls:
    certificate_chain_file: )yaml", pki.certificate_chain_file, R"yaml(
    private_key_file: )yaml", pki.private_key_file, R"yaml(
workers: 2
clusters:
  - name: echo
    endpoints: [{ address: 127.0.0.1, port: )yaml", backend.port(), R"yaml( }]
routes:
  - name: echo
    match: { service: polymesh.testing.v1.EchoService }
    cluster: echo
)yaml");
  absl::StatusOr<GatewayConfig> config = LoadConfigFromString(yaml, "test.yaml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  std::shared_ptr<observability::InMemorySpans> spans;
  absl::StatusOr<std::unique_ptr<Gateway>> gateway = StartRecordingSpans(*config, &spans);
  ASSERT_TRUE(gateway.ok()) << gateway.status().message();
  EXPECT_EQ((*gateway)->port(), 0);
  ASSERT_NE((*gateway)->tls_port(), 0);
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = pki.ca.certificate_pem;
  std::unique_ptr<EchoService::Stub> stub = EchoService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", (*gateway)->tls_port()), grpc::SslCredentials(options)));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  UnaryRequest request;
  request.set_text("tls only");
  UnaryResponse response;
  grpc::Status status = stub->Unary(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "tls only");
  (*gateway)->Stop(absl::Seconds(1));
}

}  // namespace
}  // namespace polymesh::gateway
