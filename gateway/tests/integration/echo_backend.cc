#include "echo_backend.h"

#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/host_port.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace polymesh::gateway::testing {
namespace {

using ::polymesh::testing::v1::BidiStreamRequest;
using ::polymesh::testing::v1::BidiStreamResponse;
using ::polymesh::testing::v1::ClientStreamRequest;
using ::polymesh::testing::v1::ClientStreamResponse;
using ::polymesh::testing::v1::EchoService;
using ::polymesh::testing::v1::Instruction;
using ::polymesh::testing::v1::ServerStreamRequest;
using ::polymesh::testing::v1::ServerStreamResponse;
using ::polymesh::testing::v1::UnaryRequest;
using ::polymesh::testing::v1::UnaryResponse;

class EchoServiceImpl final : public EchoService::Service {
 public:
  explicit EchoServiceImpl(BackendRecord& record) : record_(record) {}

  grpc::Status Unary(grpc::ServerContext* context, const UnaryRequest* request,
                     UnaryResponse* response) override {
    Finished finished(record_);
    if (std::optional<grpc::Status> injected = Begin(*context)) return *injected;
    if (!Delay(*context, request->instruction())) return Cancelled();
    response->set_text(request->text());
    response->set_payload(Payload(request->instruction(), request->payload()));
    return Finish(*context, request->instruction());
  }

  grpc::Status ClientStream(grpc::ServerContext* context,
                            grpc::ServerReader<ClientStreamRequest>* reader,
                            ClientStreamResponse* response) override {
    Finished finished(record_);
    if (std::optional<grpc::Status> injected = Begin(*context)) return *injected;
    ClientStreamRequest request;
    Instruction instruction;
    std::vector<std::string> texts;
    int64_t bytes = 0;
    while (reader->Read(&request)) {
      if (texts.empty()) instruction = request.instruction();
      texts.push_back(request.text());
      bytes += static_cast<int64_t>(request.payload().size());
    }
    if (!Delay(*context, instruction)) return Cancelled();
    response->set_text(absl::StrJoin(texts, ","));
    response->set_count(static_cast<int32_t>(texts.size()));
    response->set_payload_bytes(bytes);
    return Finish(*context, instruction);
  }

  grpc::Status ServerStream(grpc::ServerContext* context, const ServerStreamRequest* request,
                            grpc::ServerWriter<ServerStreamResponse>* writer) override {
    Finished finished(record_);
    if (std::optional<grpc::Status> injected = Begin(*context)) return *injected;
    if (!Delay(*context, request->instruction())) return Cancelled();
    const int count = std::max(1, request->instruction().response_count());
    for (int i = 0; i < count; ++i) {
      ServerStreamResponse response;
      response.set_text(request->text());
      response.set_index(i);
      response.set_payload(std::string(request->instruction().response_size(), 'x'));
      if (!writer->Write(response)) return Cancelled();
    }
    return Finish(*context, request->instruction());
  }

  grpc::Status BidiStream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<BidiStreamResponse, BidiStreamRequest>* stream) override {
    Finished finished(record_);
    if (std::optional<grpc::Status> injected = Begin(*context)) return *injected;
    BidiStreamRequest request;
    int index = 0;
    Instruction last;
    while (stream->Read(&request)) {
      last = request.instruction();
      if (!Delay(*context, last)) return Cancelled();
      if (last.fail_code() != 0) return Finish(*context, last);
      BidiStreamResponse response;
      response.set_text(request.text());
      response.set_payload(Payload(last, request.payload()));
      response.set_index(index++);
      if (!stream->Write(response)) return Cancelled();
    }
    return Finish(*context, Instruction());
  }

 private:
  // Counts the call as finished when its handler returns.
  class Finished {
   public:
    explicit Finished(BackendRecord& record) : record_(record) {}
    ~Finished() { record_.CallFinished(); }

   private:
    BackendRecord& record_;
  };

  // Records the call and echoes its "x-*" metadata; returns the status to
  // end it with at once when a fault was injected.
  std::optional<grpc::Status> Begin(grpc::ServerContext& context) {
    for (const auto& [key, value] : context.client_metadata()) {
      const std::string name(key.data(), key.size());
      if (absl::StartsWith(name, "x-")) {
        context.AddInitialMetadata(absl::StrCat("echo-", name),
                                   std::string(value.data(), value.size()));
      }
    }
    record_.CallStarted(context);
    absl::Duration delay;
    grpc::StatusCode code;
    record_.TakeFaults(delay, code);
    if (delay > absl::ZeroDuration()) {
      Instruction wait;
      wait.set_delay_ms(static_cast<int32_t>(absl::ToInt64Milliseconds(delay)));
      if (!Delay(context, wait)) return Cancelled();
    }
    if (code != grpc::StatusCode::OK) return grpc::Status(code, "injected failure");
    return std::nullopt;
  }

  // Waits the instruction's delay; false if the call was cancelled meanwhile.
  bool Delay(grpc::ServerContext& context, const Instruction& instruction) {
    const absl::Time until = absl::Now() + absl::Milliseconds(instruction.delay_ms());
    while (absl::Now() < until) {
      if (context.IsCancelled()) {
        record_.CallCancelled();
        return false;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }

  static std::string Payload(const Instruction& instruction, const std::string& echo) {
    return instruction.response_size() > 0 ? std::string(instruction.response_size(), 'y')
                                           : echo;
  }

  static grpc::Status Cancelled() { return grpc::Status(grpc::StatusCode::CANCELLED, ""); }

  grpc::Status Finish(grpc::ServerContext& context, const Instruction& instruction) {
    context.AddTrailingMetadata("x-trailer", "trailer-value");
    context.AddTrailingMetadata(
        "x-trailer-bin", std::string(kBinaryTrailerValue, sizeof(kBinaryTrailerValue) - 1));
    if (instruction.fail_code() == 0) return grpc::Status::OK;
    return grpc::Status(static_cast<grpc::StatusCode>(instruction.fail_code()),
                        instruction.fail_message(),
                        std::string(kErrorDetails, sizeof(kErrorDetails) - 1));
  }

  BackendRecord& record_;
};

}  // namespace

void BackendRecord::CallStarted(const grpc::ServerContext& context) {
  absl::MutexLock lock(&mutex_);
  ++calls_;
  metadata_.clear();
  for (const auto& [key, value] : context.client_metadata()) {
    metadata_.emplace(std::string(key.data(), key.size()),
                      std::string(value.data(), value.size()));
  }
  const grpc::string_ref authority = context.ExperimentalGetAuthority();
  authority_ = std::string(authority.data(), authority.size());
  const auto deadline = context.deadline();
  time_left_ = deadline == std::chrono::system_clock::time_point::max()
                   ? absl::InfiniteDuration()
                   : absl::FromChrono(deadline) - absl::Now();
}

void BackendRecord::CallCancelled() {
  absl::MutexLock lock(&mutex_);
  ++cancellations_;
}

void BackendRecord::CallFinished() {
  absl::MutexLock lock(&mutex_);
  ++finished_;
}

void BackendRecord::FailNext(int count, grpc::StatusCode code) {
  absl::MutexLock lock(&mutex_);
  failures_left_ = count;
  failure_code_ = code;
}

void BackendRecord::DelayNext(int count, absl::Duration delay) {
  absl::MutexLock lock(&mutex_);
  delays_left_ = count;
  delay_ = delay;
}

void BackendRecord::TakeFaults(absl::Duration& delay, grpc::StatusCode& code) {
  absl::MutexLock lock(&mutex_);
  delay = absl::ZeroDuration();
  code = grpc::StatusCode::OK;
  if (delays_left_ > 0) {
    --delays_left_;
    delay = delay_;
  }
  if (failures_left_ > 0) {
    --failures_left_;
    code = failure_code_;
  }
}

std::string BackendRecord::last_authority() {
  absl::MutexLock lock(&mutex_);
  return authority_;
}

int BackendRecord::calls() {
  absl::MutexLock lock(&mutex_);
  return calls_;
}

int BackendRecord::cancellations() {
  absl::MutexLock lock(&mutex_);
  return cancellations_;
}

int BackendRecord::finished() {
  absl::MutexLock lock(&mutex_);
  return finished_;
}

bool BackendRecord::WaitForFinished(int count, absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto enough = [this, count]() ABSL_SHARED_LOCKS_REQUIRED(mutex_) {
    return finished_ >= count;
  };
  return mutex_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

bool BackendRecord::WaitForCalls(int count, absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto enough = [this, count]() ABSL_SHARED_LOCKS_REQUIRED(mutex_) {
    return calls_ >= count;
  };
  return mutex_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

bool BackendRecord::WaitForCancellation(absl::Duration timeout) {
  absl::MutexLock lock(&mutex_);
  auto cancelled = [this]() ABSL_SHARED_LOCKS_REQUIRED(mutex_) {
    return cancellations_ > 0;
  };
  return mutex_.AwaitWithTimeout(absl::Condition(&cancelled), timeout);
}

std::multimap<std::string, std::string> BackendRecord::last_metadata() {
  absl::MutexLock lock(&mutex_);
  return metadata_;
}

absl::Duration BackendRecord::last_time_left() {
  absl::MutexLock lock(&mutex_);
  return time_left_;
}

EchoBackend::EchoBackend(const std::string& address, int port)
    : EchoBackend(grpc::InsecureServerCredentials(), address, port) {}

EchoBackend::EchoBackend(std::shared_ptr<grpc::ServerCredentials> credentials,
                         const std::string& address, int port)
    : record_(std::make_unique<BackendRecord>()),
      service_(std::make_unique<EchoServiceImpl>(*record_)) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(JoinHostPort(address, port), std::move(credentials), &port_);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
}

void EchoBackend::SetServing(bool serving) {
  server_->GetHealthCheckService()->SetServingStatus(serving);
}

EchoBackend::~EchoBackend() {
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
}

}  // namespace polymesh::gateway::testing
