// Resilient upstreams against real backends on loopback: a killed backend
// is ejected and calls keep succeeding on the other; a NOT_SERVING backend
// gets no calls; least request prefers the idle backend; a backend that
// shuts connections down with GOAWAY fails no call; DNS changes move calls
// to the new addresses while a name that stops resolving keeps its last
// ones.
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "config/config_loader.h"
#include "echo_backend.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/impl/codegen/client_unary_call.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "polymesh/testing/v1/echo.grpc.pb.h"
#include "server/gateway.h"
#include "upstream/goaway_server.h"

namespace polymesh::gateway {
namespace {

using ::polymesh::testing::v1::EchoService;
using ::polymesh::testing::v1::UnaryRequest;
using ::polymesh::testing::v1::UnaryResponse;
using ::testing::HasSubstr;
using testing::EchoBackend;

// Polls `condition` until it holds or 20s have passed.
bool Eventually(const std::function<bool()>& condition) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return condition();
}

class UpstreamResilienceTest : public ::testing::Test {
 protected:
  // Starts a one-worker gateway with one cluster "backends" (`cluster`:
  // its YAML body under "- name: backends") routed for EchoService.
  void Start(absl::string_view cluster, HostResolver resolver = SystemResolver()) {
    const std::string yaml = absl::StrCat(
        "listener: { address: 127.0.0.1, port: 0 }\n"
        "workers: 1\n"
        "tracing: { disabled: true }\n"
        "clusters:\n"
        "  - name: backends\n",
        cluster,
        "routes:\n"
        "  - name: echo\n"
        "    match: { service: polymesh.testing.v1.EchoService }\n"
        "    cluster: backends\n");
    absl::StatusOr<GatewayConfig> config = LoadConfigFromString(yaml, "test.yaml");
    ASSERT_TRUE(config.ok()) << config.status().message();
    absl::StatusOr<std::unique_ptr<Gateway>> gateway =
        Gateway::Start(*config, nullptr, nullptr, std::move(resolver));
    ASSERT_TRUE(gateway.ok()) << gateway.status().message();
    gateway_ = std::move(*gateway);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = EchoService::NewStub(channel_);
  }

  void TearDown() override { StopGateway(); }

  void StopGateway() {
    if (gateway_ != nullptr) gateway_->Stop(absl::Seconds(1));
    gateway_.reset();
  }

  grpc::Status Call(int delay_ms = 0) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    UnaryRequest request;
    request.set_text("hi");
    if (delay_ms > 0) request.mutable_instruction()->set_delay_ms(delay_ms);
    UnaryResponse response;
    return stub_->Unary(&context, request, &response);
  }

  static std::string Endpoints(int a, int b) {
    return absl::StrCat("    endpoints: [{ address: 127.0.0.1, port: ", a,
                        " }, { address: 127.0.0.1, port: ", b, " }]\n");
  }

  EndpointState& State(size_t i) {
    return *gateway_->upstreams()[0]->endpoints()->endpoints[i];
  }

  std::unique_ptr<Gateway> gateway_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<EchoService::Stub> stub_;
};

TEST_F(UpstreamResilienceTest, KilledBackendIsEjectedAndCallsGoToTheOther) {
  auto first = std::make_unique<EchoBackend>();
  EchoBackend second;
  Start(absl::StrCat(Endpoints(first->port(), second.port()),
                     "    outlier_detection: { consecutive_failures: 1, "
                     "base_ejection_time: 60s }\n"));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Call().ok());
  EXPECT_EQ(first->record().calls(), 2);
  EXPECT_EQ(second.record().calls(), 2);

  first.reset();
  // Calls that reach the dead endpoint fail (refused) until it is ejected.
  ASSERT_TRUE(Eventually([&] {
    (void)Call();
    return State(0).outlier().ejected(absl::Now());
  }));
  const int before = second.record().calls();
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(Call().ok()) << i;
  EXPECT_EQ(second.record().calls(), before + 20);
  EXPECT_GE(gateway_->upstreams()[0]->events().ejections.load(), 1u);
  EXPECT_GE(gateway_->upstreams()[0]->events().connections_failed.load(), 1u);
  const std::string json = gateway_->ClustersJson();
  EXPECT_THAT(json, HasSubstr("\"ejected\":true"));
  EXPECT_THAT(json, HasSubstr("\"ejections\":1"));
}

TEST_F(UpstreamResilienceTest, NotServingBackendGetsNoCalls) {
  EchoBackend serving;
  EchoBackend not_serving;
  not_serving.SetServing(false);
  Start(absl::StrCat(Endpoints(serving.port(), not_serving.port()),
                     "    health_check: { interval: 20ms, unhealthy_threshold: 1 }\n"));
  ASSERT_TRUE(Eventually([&] { return State(0).healthy(); }));
  // The other endpoint was checked too, and failed.
  ASSERT_TRUE(Eventually(
      [&] { return gateway_->upstreams()[0]->events().health_checks_failed.load() > 0; }));
  EXPECT_FALSE(State(1).healthy());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Call().ok());
  EXPECT_EQ(serving.record().calls(), 10);
  EXPECT_EQ(not_serving.record().calls(), 0);

  // The two swap roles.
  not_serving.SetServing(true);
  serving.SetServing(false);
  ASSERT_TRUE(Eventually([&] { return State(1).healthy() && !State(0).healthy(); }));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Call().ok());
  EXPECT_EQ(serving.record().calls(), 10);
  EXPECT_EQ(not_serving.record().calls(), 10);
  EXPECT_THAT(gateway_->ClustersJson(), HasSubstr("\"health_checked\":true"));
}

TEST_F(UpstreamResilienceTest, LeastRequestPrefersTheIdleBackend) {
  EchoBackend first;
  EchoBackend second;
  Start(absl::StrCat(Endpoints(first.port(), second.port()),
                     "    load_balancing: LOAD_BALANCING_LEAST_REQUEST\n"));
  // One slow call holds one backend busy.
  grpc::ClientContext slow_context;
  slow_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  UnaryRequest slow_request;
  slow_request.mutable_instruction()->set_delay_ms(20000);
  UnaryResponse slow_response;
  std::thread slow([&] { (void)stub_->Unary(&slow_context, slow_request, &slow_response); });
  ASSERT_TRUE(Eventually([&] { return first.record().calls() + second.record().calls() == 1; }));
  EchoBackend& busy = first.record().calls() == 1 ? first : second;
  EchoBackend& idle = first.record().calls() == 1 ? second : first;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(Call().ok());
  EXPECT_EQ(busy.record().calls(), 1);
  EXPECT_EQ(idle.record().calls(), 20);
  EXPECT_THAT(gateway_->ClustersJson(), HasSubstr("\"outstanding_requests\":1,"));
  slow_context.TryCancel();
  slow.join();
}

TEST_F(UpstreamResilienceTest, BackendSendingGoawayFailsNoCall) {
  // Each connection answers one call, then says GOAWAY and closes.
  testing::GoawayServer server(/*batch=*/1, /*answered=*/1);
  Start(absl::StrCat("    endpoints: [{ address: 127.0.0.1, port: ", server.port(), " }]\n"));
  for (int i = 0; i < 10; ++i) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1);
    grpc::ByteBuffer response;
    grpc::internal::RpcMethod method("/polymesh.testing.v1.EchoService/Unary",
                                     grpc::internal::RpcMethod::NORMAL_RPC);
    grpc::Status status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
        channel_.get(), method, &context, request, &response);
    EXPECT_TRUE(status.ok()) << i << ": " << status.error_message();
  }
  EXPECT_EQ(server.responses(), 10);
  EXPECT_EQ(server.connections(), 10);
}

// A resolver whose records the test changes while the gateway runs.
class FakeDns {
 public:
  void Set(absl::StatusOr<std::vector<std::string>> records) {
    absl::MutexLock lock(&mutex_);
    records_ = std::move(records);
  }
  int lookups() {
    absl::MutexLock lock(&mutex_);
    return lookups_;
  }
  // From now on a lookup does not return until Release() (a DNS server that
  // does not answer).
  void Hang() {
    absl::MutexLock lock(&mutex_);
    hang_ = true;
  }
  void Release() { released_.Notify(); }
  HostResolver resolver() {
    return [this](absl::string_view host) -> absl::StatusOr<std::vector<std::string>> {
      bool hang = false;
      {
        absl::MutexLock lock(&mutex_);
        ++lookups_;
        hang = hang_;
      }
      if (hang) released_.WaitForNotification();
      absl::MutexLock lock(&mutex_);
      if (host != "backends.test") return absl::NotFoundError("unknown host");
      return records_;
    };
  }

 private:
  absl::Notification released_;
  bool hang_ ABSL_GUARDED_BY(mutex_) = false;
  absl::Mutex mutex_;
  absl::StatusOr<std::vector<std::string>> records_ ABSL_GUARDED_BY(mutex_);
  int lookups_ ABSL_GUARDED_BY(mutex_) = 0;
};

// Lookups run on a thread of their own: one that hangs holds up neither
// the health checks nor the calls, nor the gateway's stop for longer than
// it hangs.
TEST_F(UpstreamResilienceTest, AHangingLookupHoldsUpNeitherHealthChecksNorCalls) {
  EchoBackend backend("127.0.0.1", 0);
  FakeDns dns;
  dns.Set(std::vector<std::string>{"127.0.0.1"});
  Start(absl::StrCat("    endpoints: [{ address: backends.test, port: ", backend.port(),
                     " }]\n    dns_refresh_interval: 100ms\n"
                     "    health_check: { interval: 20ms }\n"),
        dns.resolver());
  // The gateway's threads call `dns`: they stop first, after the lookup.
  absl::Cleanup stop = [&] {
    dns.Release();
    StopGateway();
  };
  const auto& events = gateway_->upstreams()[0]->events();
  ASSERT_TRUE(Eventually([&] { return events.health_checks_passed.load() > 0; }));
  dns.Hang();
  const int lookups = dns.lookups();
  ASSERT_TRUE(Eventually([&] { return dns.lookups() > lookups; }));  // one is hanging now
  const uint64_t checks = events.health_checks_passed.load();
  EXPECT_TRUE(Eventually([&] { return events.health_checks_passed.load() >= checks + 5; }));
  EXPECT_TRUE(Call().ok());
}

TEST_F(UpstreamResilienceTest, DnsChangesMoveCallsAndAFailedLookupKeepsTheLastSet) {
  // Two backends on one port, at two loopback addresses.
  EchoBackend old_backend("127.0.0.1", 0);
  EchoBackend new_backend("127.0.0.2", old_backend.port());
  FakeDns dns;
  dns.Set(std::vector<std::string>{"127.0.0.1"});
  Start(absl::StrCat("    endpoints: [{ address: backends.test, port: ", old_backend.port(),
                     " }]\n    dns_refresh_interval: 100ms\n"),
        dns.resolver());
  absl::Cleanup stop = [&] { StopGateway(); };  // its threads call `dns`
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Call().ok());
  EXPECT_EQ(old_backend.record().calls(), 3);

  // A call in progress on the old address finishes after it is gone.
  grpc::Status slow_status;
  std::thread slow([&] { slow_status = Call(/*delay_ms=*/1000); });
  ASSERT_TRUE(old_backend.record().WaitForCalls(4, absl::Seconds(10)));

  dns.Set(std::vector<std::string>{"127.0.0.2"});
  ASSERT_TRUE(Eventually([&] {
    auto set = gateway_->upstreams()[0]->endpoints();
    return set->endpoints.size() == 1 && set->endpoints[0]->endpoint().address == "127.0.0.2";
  }));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(Call().ok());
  EXPECT_EQ(new_backend.record().calls(), 3);
  EXPECT_EQ(old_backend.record().calls(), 4);
  slow.join();
  EXPECT_TRUE(slow_status.ok()) << slow_status.error_message();

  // The name stops resolving: the last addresses stay.
  dns.Set(absl::UnavailableError("resolver timed out"));
  const int lookups = dns.lookups();
  ASSERT_TRUE(Eventually([&] { return dns.lookups() >= lookups + 2; }));
  ASSERT_EQ(gateway_->upstreams()[0]->endpoints()->endpoints.size(), 1u);
  EXPECT_EQ(gateway_->upstreams()[0]->endpoints()->endpoints[0]->endpoint().address, "127.0.0.2");
  EXPECT_TRUE(Call().ok());
  EXPECT_EQ(new_backend.record().calls(), 4);
}

}  // namespace
}  // namespace polymesh::gateway
