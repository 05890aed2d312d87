// Configuration reload with real backends: a reload switches new calls to
// the new configuration while calls in progress finish on the old one; a bad
// or unservable configuration is rejected and the running one keeps
// serving; metrics keep counting across generations.
#include "server/reloading_gateway.h"

#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "config/config_loader.h"
#include "echo_backend.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "transport/test_certificates.h"

namespace polymesh::gateway {
namespace {

using ::polymesh::gateway::testing::EchoBackend;
using ::polymesh::testing::v1::EchoService;
using ::polymesh::testing::v1::UnaryRequest;
using ::polymesh::testing::v1::UnaryResponse;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(10);

// The value of the unlabelled or first sample of `family` (-1 if absent).
double Value(const std::vector<prometheus::MetricFamily>& families, const std::string& family,
             const std::string& label_value = "") {
  for (const prometheus::MetricFamily& f : families) {
    if (f.name != family) continue;
    double total = 0;
    bool found = false;
    for (const prometheus::ClientMetric& m : f.metric) {
      bool match = label_value.empty();
      for (const auto& label : m.label) match |= label.value == label_value;
      if (!match) continue;
      found = true;
      total += f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
    return found ? total : -1;
  }
  return -1;
}

class ReloadingGatewayTest : public ::testing::Test {
 protected:
  // A configuration routing EchoService to the backend `to` ("a" or "b").
  std::string Config(absl::string_view to) {
    return absl::StrCat(R"yaml(
listener: { address: 127.0.0.1, port: 0 }
workers: 2
drain_timeout: 5s
clusters:
  - name: a
    endpoints: [{ address: 127.0.0.1, port: )yaml", a_.port(), R"yaml( }]
  - name: b
    endpoints: [{ address: 127.0.0.1, port: )yaml", b_.port(), R"yaml( }]
routes:
  - name: echo
    match: { service: polymesh.testing.v1.EchoService }
    cluster: )yaml", to, "\n");
  }

  void Write(const std::string& text) { std::ofstream(path_, std::ios::trunc) << text; }

  void SetUp() override {
    Write(Config("a"));
    absl::StatusOr<LoadedConfig> config = LoadConfigFileWithContracts(path_);
    ASSERT_TRUE(config.ok()) << config.status().message();
    absl::StatusOr<std::unique_ptr<ReloadingGateway>> gateway =
        ReloadingGateway::Start(path_, *config, nullptr);
    ASSERT_TRUE(gateway.ok()) << gateway.status().message();
    gateway_ = std::move(*gateway);
    port_ = gateway_->current().port();
    stub_ = EchoService::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_),
                                                     grpc::InsecureChannelCredentials()));
  }

  grpc::Status Call(int delay_ms = 0) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    UnaryRequest request;
    if (delay_ms > 0) request.mutable_instruction()->set_delay_ms(delay_ms);
    UnaryResponse response;
    return stub_->Unary(&context, request, &response);
  }

  EchoBackend a_;
  EchoBackend b_;
  // One file per test and process: ctest runs the tests in parallel.
  const std::string path_ = absl::StrCat(
      ::testing::TempDir(), "/reload-",
      ::testing::UnitTest::GetInstance()->current_test_info()->name(), "-", getpid(), ".yaml");
  std::unique_ptr<ReloadingGateway> gateway_;
  uint16_t port_ = 0;
  std::unique_ptr<EchoService::Stub> stub_;
};

TEST_F(ReloadingGatewayTest, AReloadSendsNewCallsByTheNewConfigurationOnTheSamePort) {
  ASSERT_TRUE(Call().ok());
  EXPECT_TRUE(a_.record().WaitForCalls(1, absl::ZeroDuration()));

  Write(Config("b"));
  ASSERT_TRUE(gateway_->Reload().ok());
  EXPECT_EQ(gateway_->generation(), 2u);
  EXPECT_EQ(gateway_->current().port(), port_);
  for (int i = 0; i < 3; ++i) {
    grpc::Status status = Call();
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_TRUE(b_.record().WaitForCalls(3, absl::ZeroDuration()));
  EXPECT_FALSE(a_.record().WaitForCalls(2, absl::ZeroDuration()));
  EXPECT_THAT(gateway_->ConfigJson(), HasSubstr("\"cluster\": \"b\""));
}

TEST_F(ReloadingGatewayTest, ACallInProgressFinishesOnTheOldGeneration) {
  grpc::Status slow;
  std::thread caller([&] { slow = Call(/*delay_ms=*/800); });
  ASSERT_TRUE(a_.record().WaitForCalls(1, kWait));
  Write(Config("b"));
  ASSERT_TRUE(gateway_->Reload().ok());
  grpc::Status fresh = Call();
  caller.join();
  EXPECT_TRUE(slow.ok()) << slow.error_message();
  EXPECT_TRUE(fresh.ok()) << fresh.error_message();
  EXPECT_TRUE(b_.record().WaitForCalls(1, absl::ZeroDuration()));
}

TEST_F(ReloadingGatewayTest, AnInvalidConfigurationIsRejectedAndTheOldOneKeepsServing) {
  Write(Config("a") + "  - name: broken\n    match: { service: x.Y }\n    cluster: nowhere\n");
  absl::Status reloaded = gateway_->Reload();
  EXPECT_TRUE(absl::IsInvalidArgument(reloaded)) << reloaded;
  EXPECT_THAT(reloaded.message(), HasSubstr(".yaml:"));
  EXPECT_THAT(reloaded.message(), HasSubstr("nowhere"));
  EXPECT_EQ(gateway_->generation(), 1u);
  EXPECT_TRUE(Call().ok());
  EXPECT_TRUE(a_.record().WaitForCalls(1, absl::ZeroDuration()));
  const auto families = gateway_->metrics()->Collect();
  EXPECT_EQ(Value(families, "polymesh_gateway_config_reloads_total", "rejected"), 1);
  EXPECT_EQ(Value(families, "polymesh_gateway_config_reloads_total", "applied"), 0);
}

TEST_F(ReloadingGatewayTest, AConfigurationThatCannotBeServedIsRejected) {
  std::string config = Config("a");
  const std::string b_address = absl::StrCat("address: 127.0.0.1, port: ", b_.port());
  config.replace(config.find(b_address), b_address.size(),
                 absl::StrCat("address: no-such-host.invalid, port: ", b_.port()));
  Write(config);
  absl::Status reloaded = gateway_->Reload();
  EXPECT_FALSE(reloaded.ok());
  EXPECT_THAT(reloaded.message(), HasSubstr("no-such-host.invalid"));
  EXPECT_EQ(gateway_->generation(), 1u);
  EXPECT_TRUE(Call().ok());
}

TEST_F(ReloadingGatewayTest, CountersKeepCountingAcrossReloads) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Call().ok());
  const double before = Value(gateway_->metrics()->Collect(), "polymesh_gateway_requests_total");
  ASSERT_GE(before, 3);
  Write(Config("b"));
  ASSERT_TRUE(gateway_->Reload().ok());
  ASSERT_TRUE(Call().ok());
  // The old generation retires in the background; its counts stay. (A call
  // is counted as its stream closes, which may come just after the client
  // has its answer.)
  double after = 0;
  for (absl::Time end = absl::Now() + kWait; absl::Now() < end;) {
    after = Value(gateway_->metrics()->Collect(), "polymesh_gateway_requests_total");
    if (after >= before + 1) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(after, before + 1);
  const auto families = gateway_->metrics()->Collect();
  EXPECT_EQ(Value(families, "polymesh_gateway_config_reloads_total", "applied"), 1);
  EXPECT_EQ(Value(families, "polymesh_gateway_config_generation"), 2);
}

TEST_F(ReloadingGatewayTest, DrainRefusesNewCallsWithUnavailableAndFinishesThoseInProgress) {
  grpc::Status slow;
  std::thread caller([&] { slow = Call(/*delay_ms=*/1500); });
  ASSERT_TRUE(a_.record().WaitForCalls(1, kWait));
  std::thread stopper([&] { gateway_->Stop(); });
  // Once the drain began, a new call (on the open connection, which got
  // GOAWAY, or on a new one, which finds no listener) is UNAVAILABLE.
  grpc::Status fresh;
  for (absl::Time end = absl::Now() + kWait; absl::Now() < end;) {
    fresh = Call();
    if (!fresh.ok()) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(fresh.error_code(), grpc::StatusCode::UNAVAILABLE) << fresh.error_message();
  caller.join();
  stopper.join();
  EXPECT_TRUE(slow.ok()) << slow.error_message();
}

// A gateway with a TLS listener whose certificate and key files are
// rewritten between reloads.
class TlsReloadTest : public ReloadingGatewayTest {
 protected:
  void SetUp() override {
    pki_ = testing::MakeTestPki();
    certificate_file_ = pki_.certificate_chain_file;
    key_file_ = pki_.private_key_file;
    Write(TlsConfig());
    absl::StatusOr<LoadedConfig> config = LoadConfigFileWithContracts(path_);
    ASSERT_TRUE(config.ok()) << config.status().message();
    absl::StatusOr<std::unique_ptr<ReloadingGateway>> gateway =
        ReloadingGateway::Start(path_, *config, nullptr);
    ASSERT_TRUE(gateway.ok()) << gateway.status().message();
    gateway_ = std::move(*gateway);
    tls_port_ = gateway_->current().tls_port();
    ASSERT_NE(tls_port_, 0);
  }

  std::string TlsConfig() {
    return absl::StrCat(Config("a"), R"yaml(tls_listener:
  address: { address: 127.0.0.1, port: 0 }
  tls: { certificate_chain_file: )yaml",
                        certificate_file_, ", private_key_file: ", key_file_, " }\n");
  }

  // A unary call over a new TLS channel that trusts `root_pem`.
  grpc::Status TlsCall(const std::string& root_pem) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = root_pem;
    std::unique_ptr<EchoService::Stub> stub = EchoService::NewStub(grpc::CreateChannel(
        absl::StrCat("localhost:", tls_port_), grpc::SslCredentials(options)));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    UnaryRequest request;
    UnaryResponse response;
    return stub->Unary(&context, request, &response);
  }

  testing::TestPki pki_;
  std::string certificate_file_;
  std::string key_file_;
  uint16_t tls_port_ = 0;
};

TEST_F(TlsReloadTest, AReloadPicksUpANewCertificateOnTheSamePort) {
  grpc::Status status = TlsCall(pki_.ca.certificate_pem);
  ASSERT_TRUE(status.ok()) << status.error_message();

  const testing::TestPki renewed = testing::MakeTestPki();
  std::ofstream(certificate_file_, std::ios::trunc) << renewed.server.certificate_pem;
  std::ofstream(key_file_, std::ios::trunc) << renewed.server.key_pem;
  ASSERT_TRUE(gateway_->Reload().ok());
  EXPECT_EQ(gateway_->current().tls_port(), tls_port_);
  status = TlsCall(renewed.ca.certificate_pem);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(TlsCall(pki_.ca.certificate_pem).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsReloadTest, AKeyThatDoesNotMatchIsRejectedAndTheOldCertificateKeepsServing) {
  const testing::TestPki other = testing::MakeTestPki();
  std::ofstream(key_file_, std::ios::trunc) << other.server.key_pem;
  absl::Status reloaded = gateway_->Reload();
  EXPECT_EQ(reloaded.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reloaded.message(), HasSubstr("does not match the certificate"));
  EXPECT_EQ(gateway_->generation(), 1u);
  grpc::Status status = TlsCall(pki_.ca.certificate_pem);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

}  // namespace
}  // namespace polymesh::gateway
