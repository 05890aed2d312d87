// The two implementations of the benchmark's upstream EchoService, behind
// one small interface, and the answer both give.
//
// Usage:
//
//   absl::StatusOr<std::unique_ptr<EchoEngine>> engine =
//       StartNghttp2Echo("127.0.0.1", 0, /*threads=*/2);
//   int port = (*engine)->port();
//   ...
//   (*engine)->Stop();
#ifndef POLYMESH_GATEWAY_BENCH_ECHO_ENGINE_H_
#define POLYMESH_GATEWAY_BENCH_ECHO_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "polymesh/testing/v1/echo.pb.h"

namespace polymesh::bench {

// What an echo server answered, counted since it started.
struct EchoCounts {
  // Calls of Unary and BidiStream that ended with grpc-status 0 (OK).
  uint64_t calls_ok = 0;
  // Calls of Unary and BidiStream that ended with another status.
  uint64_t calls_failed = 0;
  // Response messages sent (one per Unary call answered OK, one per
  // BidiStream request).
  uint64_t messages = 0;
};

// Counters of one thread: written by that thread only, read by any.
struct ThreadCounts {
  std::atomic<uint64_t> calls_ok{0};
  std::atomic<uint64_t> calls_failed{0};
  std::atomic<uint64_t> messages{0};

  // Adds one to `counter` (its owning thread only: a plain load and store).
  static void Bump(std::atomic<uint64_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void AddTo(EchoCounts& total) const {
    total.calls_ok += calls_ok.load(std::memory_order_relaxed);
    total.calls_failed += calls_failed.load(std::memory_order_relaxed);
    total.messages += messages.load(std::memory_order_relaxed);
  }
};

// A running echo server.
class EchoEngine {
 public:
  virtual ~EchoEngine() = default;
  // The port it listens on.
  virtual int port() const = 0;
  // What it answered so far. Thread-safe.
  virtual EchoCounts counts() const = 0;
  // Stops serving and joins its threads. Call once.
  virtual void Stop() = 0;
};

// gRPC C++'s asynchronous completion-queue API: one queue and one thread per
// `threads`.
absl::StatusOr<std::unique_ptr<EchoEngine>> StartGrpcEcho(absl::string_view address,
                                                          uint16_t port, int threads);

// nghttp2 on one epoll loop per thread, each with its own SO_REUSEPORT
// listener: the gRPC wire protocol without the gRPC library, a few
// microseconds of CPU per call, so that the upstream costs little next to the
// proxy under test.
absl::StatusOr<std::unique_ptr<EchoEngine>> StartNghttp2Echo(absl::string_view address,
                                                             uint16_t port, int threads);

// The payload an answer carries: response_size bytes when the instruction
// asks for them, else `echo`, the request's.
inline std::string AnswerPayload(const polymesh::testing::v1::Instruction& instruction,
                                 const std::string& echo) {
  return instruction.response_size() > 0 ? std::string(instruction.response_size(), 'y') : echo;
}

}  // namespace polymesh::bench

#endif  // POLYMESH_GATEWAY_BENCH_ECHO_ENGINE_H_
