// The echo upstream on gRPC C++'s asynchronous completion-queue API.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/host_port.h"
#include "echo_engine.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/server_context.h"
#include "polymesh/testing/v1/echo.grpc.pb.h"

namespace polymesh::bench {
namespace {

using ::polymesh::gateway::JoinHostPort;
using ::polymesh::testing::v1::BidiStreamRequest;
using ::polymesh::testing::v1::BidiStreamResponse;
using ::polymesh::testing::v1::EchoService;
using ::polymesh::testing::v1::Instruction;
using ::polymesh::testing::v1::UnaryRequest;
using ::polymesh::testing::v1::UnaryResponse;

// Unary and BidiStream are served on completion queues; the other two
// methods keep the generated synchronous defaults, which answer
// UNIMPLEMENTED.
using AsyncEcho =
    EchoService::WithAsyncMethod_Unary<EchoService::WithAsyncMethod_BidiStream<EchoService::Service>>;

grpc::Status Outcome(const Instruction& instruction) {
  if (instruction.fail_code() == 0) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(instruction.fail_code()),
                      instruction.fail_message());
}

// One step of a call's state machine; completion-queue tags point to these.
class Tag {
 public:
  virtual ~Tag() = default;
  // Called on the queue's thread when the operation completes.
  virtual void Proceed(bool ok) = 0;
};

// One Unary call: requested, then answered, then deleted.
class UnaryCall final : public Tag {
 public:
  UnaryCall(AsyncEcho& service, grpc::ServerCompletionQueue& cq,
            ThreadCounts& counts)
      : service_(service), cq_(cq), counts_(counts), responder_(&context_) {
    service_.RequestUnary(&context_, &request_, &responder_, &cq_, &cq_, this);
  }

  void Proceed(bool ok) override {
    if (answered_ || !ok) {
      // Answered (or the server is shutting down): this call is over.
      delete this;
      return;
    }
    new UnaryCall(service_, cq_, counts_);  // serve the next one
    answered_ = true;
    const grpc::Status status = Outcome(request_.instruction());
    if (status.ok()) {
      response_.set_text(request_.text());
      response_.set_payload(AnswerPayload(request_.instruction(), request_.payload()));
      ThreadCounts::Bump(counts_.messages);
      ThreadCounts::Bump(counts_.calls_ok);
      responder_.Finish(response_, status, this);
    } else {
      ThreadCounts::Bump(counts_.calls_failed);
      responder_.FinishWithError(status, this);
    }
  }

 private:
  AsyncEcho& service_;
  grpc::ServerCompletionQueue& cq_;
  ThreadCounts& counts_;
  grpc::ServerContext context_;
  UnaryRequest request_;
  UnaryResponse response_;
  grpc::ServerAsyncResponseWriter<UnaryResponse> responder_;
  bool answered_ = false;
};

// One BidiStream call: read, write, read, ... until the client half-closes,
// then finish. One operation is outstanding at a time.
class BidiCall final : public Tag {
 public:
  BidiCall(AsyncEcho& service, grpc::ServerCompletionQueue& cq,
           ThreadCounts& counts)
      : service_(service), cq_(cq), counts_(counts), stream_(&context_) {
    service_.RequestBidiStream(&context_, &stream_, &cq_, &cq_, this);
  }

  void Proceed(bool ok) override {
    switch (state_) {
      case State::kRequested:
        if (!ok) break;
        new BidiCall(service_, cq_, counts_);
        Read();
        return;
      case State::kReading:
        if (!ok) {  // the client half-closed
          state_ = State::kFinishing;
          ThreadCounts::Bump(counts_.calls_ok);
          stream_.Finish(grpc::Status::OK, this);
          return;
        }
        if (const grpc::Status status = Outcome(request_.instruction()); !status.ok()) {
          state_ = State::kFinishing;
          ThreadCounts::Bump(counts_.calls_failed);
          stream_.Finish(status, this);
          return;
        }
        response_.set_text(request_.text());
        response_.set_payload(AnswerPayload(request_.instruction(), request_.payload()));
        response_.set_index(index_++);
        ThreadCounts::Bump(counts_.messages);
        state_ = State::kWriting;
        stream_.Write(response_, this);
        return;
      case State::kWriting:
        if (!ok) break;  // the call was cancelled
        Read();
        return;
      case State::kFinishing:
        break;
    }
    delete this;
  }

 private:
  enum class State { kRequested, kReading, kWriting, kFinishing };

  void Read() {
    state_ = State::kReading;
    stream_.Read(&request_, this);
  }

  AsyncEcho& service_;
  grpc::ServerCompletionQueue& cq_;
  ThreadCounts& counts_;
  grpc::ServerContext context_;
  grpc::ServerAsyncReaderWriter<BidiStreamResponse, BidiStreamRequest> stream_;
  BidiStreamRequest request_;
  BidiStreamResponse response_;
  State state_ = State::kRequested;
  int32_t index_ = 0;
};

// Calls waiting to be accepted on each queue, per method: enough that a
// burst of new calls does not wait for the next request to be posted.
constexpr int kPendingPerQueue = 32;

void Serve(AsyncEcho& service, grpc::ServerCompletionQueue& cq,
           ThreadCounts& counts) {
  for (int i = 0; i < kPendingPerQueue; ++i) {
    new UnaryCall(service, cq, counts);
    new BidiCall(service, cq, counts);
  }
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) static_cast<Tag*>(tag)->Proceed(ok);
}

class GrpcEcho final : public EchoEngine {
 public:
  int port() const override { return port_; }

  EchoCounts counts() const override {
    EchoCounts total;
    for (const auto& counts : counts_) counts->AddTo(total);
    return total;
  }

  void Stop() override {
    server_->Shutdown(std::chrono::system_clock::now());
    for (auto& queue : queues_) queue->Shutdown();
    for (auto& thread : threads_) thread.join();
  }

  static absl::StatusOr<std::unique_ptr<EchoEngine>> Start(absl::string_view address,
                                                           uint16_t port, int threads) {
    auto echo = std::make_unique<GrpcEcho>();
    grpc::ServerBuilder builder;
    builder.AddListeningPort(JoinHostPort(address, port), grpc::InsecureServerCredentials(),
                             &echo->port_);
    builder.RegisterService(&echo->service_);
    for (int i = 0; i < threads; ++i) echo->queues_.push_back(builder.AddCompletionQueue());
    echo->server_ = builder.BuildAndStart();
    if (echo->server_ == nullptr || echo->port_ == 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot listen on ", JoinHostPort(address, port)));
    }
    for (auto& queue : echo->queues_) {
      auto& counts = echo->counts_.emplace_back(std::make_unique<ThreadCounts>());
      echo->threads_.emplace_back([service = &echo->service_, cq = queue.get(),
                                   counts = counts.get()] { Serve(*service, *cq, *counts); });
    }
    return echo;
  }

 private:
  AsyncEcho service_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::unique_ptr<ThreadCounts>> counts_;
  std::vector<std::thread> threads_;
  int port_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<EchoEngine>> StartGrpcEcho(absl::string_view address,
                                                          uint16_t port, int threads) {
  return GrpcEcho::Start(address, port, threads);
}

}  // namespace polymesh::bench
