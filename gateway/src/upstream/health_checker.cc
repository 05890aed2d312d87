#include "upstream/health_checker.h"

#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/byte_buffer.h"
#include "common/host_port.h"
#include "common/log.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/channel_arguments.h"

namespace polymesh::gateway {
namespace {

using ::google::protobuf::internal::WireFormatLite;

constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";
constexpr int kServing = 1;

// The gRPC target of one endpoint address.
std::string ChannelTarget(const UpstreamEndpoint& endpoint) {
  const std::string address = JoinHostPort(endpoint.address, endpoint.port);
  if (endpoint.address == "localhost") return address;
  return absl::StrCat(absl::StrContains(endpoint.address, ':') ? "ipv6:" : "ipv4:", address);
}

}  // namespace

bool HealthState::Observe(bool passed) {
  if (passed) {
    failures_ = 0;
    ++passes_;
    if (!healthy_ && (!checked_ || passes_ >= healthy_threshold_)) healthy_ = true;
  } else {
    passes_ = 0;
    ++failures_;
    if (healthy_ && failures_ >= unhealthy_threshold_) healthy_ = false;
  }
  checked_ = true;
  return healthy_;
}

std::string EncodeHealthCheckRequest(absl::string_view service) {
  std::string out;
  if (service.empty()) return out;  // proto3: the default is not written
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    WireFormatLite::WriteString(1, std::string(service), &coded);
  }
  return out;
}

absl::StatusOr<int> DecodeHealthCheckStatus(absl::string_view response) {
  google::protobuf::io::CodedInputStream input(
      reinterpret_cast<const uint8_t*>(response.data()), static_cast<int>(response.size()));
  int status = 0;  // UNKNOWN when absent
  while (true) {
    const uint32_t tag = input.ReadTag();
    if (tag == 0) break;
    if (tag == WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_VARINT)) {
      uint32_t value;
      if (!input.ReadVarint32(&value)) break;
      status = static_cast<int>(value);
      continue;
    }
    if (!WireFormatLite::SkipField(&input, tag)) {
      return absl::InvalidArgumentError("malformed HealthCheckResponse");
    }
  }
  if (!input.ConsumedEntireMessage() && input.BytesUntilLimit() != 0) {
    return absl::InvalidArgumentError("malformed HealthCheckResponse");
  }
  return status;
}

struct HealthChecker::InFlight {
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
};

struct HealthChecker::Target {
  Target(EventLoop& loop, std::shared_ptr<EndpointState> endpoint,
         const HealthCheckPolicy& policy, std::function<void()> on_timer)
      : state(std::move(endpoint)), health(policy), timer(loop, std::move(on_timer)) {
    grpc::ChannelArguments args;
    // Notice a restarted endpoint within about one interval.
    const int backoff_ms = static_cast<int>(
        std::max<int64_t>(100, absl::ToInt64Milliseconds(policy.interval)));
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, backoff_ms);
    // Each endpoint's own connection, not shared with other channels.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channel = grpc::CreateCustomChannel(ChannelTarget(state->endpoint()),
                                        UpstreamChannelCredentials(state->endpoint().tls.get(),
                                                                   state->endpoint().host, args),
                                        args);
    stub = std::make_unique<grpc::GenericStub>(channel);
  }

  uint64_t id = 0;
  std::shared_ptr<EndpointState> state;
  HealthState health;
  Timer timer;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<grpc::GenericStub> stub;
  std::shared_ptr<InFlight> in_flight;
  std::string last_detail;
};

HealthChecker::HealthChecker(EventLoop& loop, UpstreamCluster& cluster)
    : loop_(loop),
      cluster_(cluster),
      policy_(*cluster.spec().health_check),
      request_(EncodeHealthCheckRequest(policy_.service)),
      completions_(std::make_shared<Completions>()) {}

HealthChecker::~HealthChecker() { WaitForChecks(); }

void HealthChecker::Sync() {
  if (cancelled_) return;
  const std::shared_ptr<const EndpointSet> set = cluster_.endpoints();
  absl::flat_hash_map<const EndpointState*, uint64_t> present;
  for (const auto& state : set->endpoints) {
    auto it = ids_.find(state.get());
    if (it != ids_.end()) {
      present.emplace(state.get(), it->second);
      continue;
    }
    const uint64_t id = next_id_++;
    auto target = std::make_unique<Target>(loop_, state, policy_, [this, id] {
      auto found = targets_.find(id);
      if (found != targets_.end()) StartCheck(*found->second);
    });
    target->id = id;
    target->timer.Enable(absl::ZeroDuration());  // the first check at once
    targets_.emplace(id, std::move(target));
    present.emplace(state.get(), id);
  }
  for (const auto& [state, id] : ids_) {
    if (present.contains(state)) continue;
    auto found = targets_.find(id);
    if (found == targets_.end()) continue;
    if (found->second->in_flight != nullptr) found->second->in_flight->context.TryCancel();
    targets_.erase(found);  // its completion finds no target and is dropped
  }
  ids_ = std::move(present);
}

void HealthChecker::StartCheck(Target& target) {
  if (cancelled_) return;
  auto in_flight = std::make_shared<InFlight>();
  grpc::Slice slice(request_);
  in_flight->request = grpc::ByteBuffer(&slice, 1);
  in_flight->context.set_deadline(std::chrono::system_clock::now() +
                                  absl::ToChronoMilliseconds(policy_.timeout));
  target.in_flight = in_flight;
  {
    absl::MutexLock lock(&completions_->mutex);
    ++completions_->in_flight;
  }
  const uint64_t id = target.id;
  target.stub->UnaryCall(
      &in_flight->context, kCheckMethod, grpc::StubOptions(), &in_flight->request,
      &in_flight->response,
      [this, id, in_flight, completions = completions_](grpc::Status status) {
        bool passed = false;
        std::string detail;
        if (!status.ok()) {
          detail = absl::StrCat("status ", status.error_code(), ": ", status.error_message());
        } else {
          absl::StatusOr<int> serving =
              DecodeHealthCheckStatus(ByteBufferToString(in_flight->response));
          if (!serving.ok()) {
            detail = std::string(serving.status().message());
          } else {
            passed = *serving == kServing;
            if (!passed) detail = absl::StrCat("serving status ", *serving);
          }
        }
        absl::MutexLock lock(&completions->mutex);
        if (!completions->closed) {
          loop_.Post([this, id, passed, detail] { OnCheckDone(id, passed, detail); });
        }
        --completions->in_flight;
      });
}

void HealthChecker::OnCheckDone(uint64_t id, bool passed, const std::string& detail) {
  auto found = targets_.find(id);
  if (found == targets_.end() || cancelled_) return;
  Target& target = *found->second;
  target.in_flight.reset();
  ClusterEventCounters& events = cluster_.events();
  ClusterEventCounters::Add(passed ? events.health_checks_passed : events.health_checks_failed);
  const bool was_healthy = target.state->healthy();
  const bool healthy = target.health.Observe(passed);
  if (healthy != was_healthy) {
    target.state->set_healthy(healthy);
    const UpstreamEndpoint& endpoint = target.state->endpoint();
    Log(healthy ? LogLevel::kInfo : LogLevel::kWarning,
        healthy ? "upstream endpoint healthy" : "upstream endpoint unhealthy",
        {{"cluster", endpoint.cluster},
         {"endpoint", JoinHostPort(endpoint.address, endpoint.port)},
         {"detail", passed ? std::string("check passed") : detail}});
  }
  target.timer.Enable(policy_.interval);
}

void HealthChecker::Cancel() {
  cancelled_ = true;
  for (auto& [id, target] : targets_) {
    target->timer.Disable();
    if (target->in_flight != nullptr) target->in_flight->context.TryCancel();
  }
}

void HealthChecker::WaitForChecks() {
  absl::MutexLock lock(&completions_->mutex);
  completions_->mutex.Await(absl::Condition(
      +[](int* in_flight) { return *in_flight == 0; }, &completions_->in_flight));
  completions_->closed = true;
}

}  // namespace polymesh::gateway
