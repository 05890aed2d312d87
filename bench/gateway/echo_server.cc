// polymesh-echo-server: the upstream of the gateway benchmark, serving
// polymesh.testing.v1.EchoService's Unary and BidiStream methods.
//
//   polymesh-echo-server [--engine nghttp2|grpc] [--address 127.0.0.1]
//                        [--port 0] [--threads N]
//
// Two implementations of the same contract (echo_engine.h): `nghttp2` (the
// default) speaks gRPC's wire protocol on nghttp2 and epoll for a few
// microseconds of CPU per call, so that the proxies in front of it are what
// a benchmark measures; `grpc` is gRPC C++'s asynchronous completion-queue
// server, the library's cheapest API, for comparison.
//
// Unary answers with the request's text and payload (or response_size bytes
// of Instruction, or the status its fail_code names); BidiStream answers
// every request the same way, then ends OK when the client half-closes; any
// other method is UNIMPLEMENTED. Delays are not followed: a benchmark
// upstream answers as fast as it can.
//
// Once it serves it prints one JSON line on stdout, {"port": P} (the port the
// system chose when --port is 0). On SIGUSR1 it prints what it answered so
// far, {"calls_ok": N, "calls_failed": N, "messages": N}: a benchmark checks
// with it that the calls a load generator counted as HTTP 200 were answered
// with grpc-status 0. SIGTERM or SIGINT stops it, exit 0.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "echo_engine.h"

namespace polymesh::bench {
namespace {

constexpr char kUsage[] =
    "usage: polymesh-echo-server [--engine nghttp2|grpc] [--address 127.0.0.1] [--port 0]\n"
    "                            [--threads N]\n"
    "  --engine E   nghttp2 (default) or grpc (gRPC C++ completion queues)\n"
    "  --address A  the numeric address to listen on (default 127.0.0.1)\n"
    "  --port P     the TCP port; 0 lets the system choose (default 0)\n"
    "  --threads N  event loops or completion queues, one thread each (default: one per core)\n";

int Usage(const char* problem) {
  std::fprintf(stderr, "polymesh-echo-server: %s\n%s", problem, kUsage);
  return 2;
}

int Main(int argc, char** argv) {
  // Blocked before any thread starts, so that only sigwait() below gets them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string engine_name = "nghttp2";
  std::string address = "127.0.0.1";
  int port = 0;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--engine" && has_value) {
      engine_name = argv[++i];
      if (engine_name != "nghttp2" && engine_name != "grpc") {
        return Usage("--engine takes nghttp2 or grpc");
      }
    } else if (arg == "--address" && has_value) {
      address = argv[++i];
    } else if (arg == "--port" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &port) || port < 0 || port > 65535) {
        return Usage("--port takes 0 to 65535");
      }
    } else if (arg == "--threads" && has_value) {
      if (!absl::SimpleAtoi(argv[++i], &threads) || threads < 1 || threads > 256) {
        return Usage("--threads takes 1 to 256");
      }
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      return Usage("bad argument");
    }
  }

  absl::StatusOr<std::unique_ptr<EchoEngine>> engine =
      engine_name == "grpc" ? StartGrpcEcho(address, static_cast<uint16_t>(port), threads)
                            : StartNghttp2Echo(address, static_cast<uint16_t>(port), threads);
  if (!engine.ok()) {
    std::fprintf(stderr, "polymesh-echo-server: cannot start: %s\n",
                 std::string(engine.status().message()).c_str());
    return 1;
  }
  std::printf("{\"port\": %d}\n", (*engine)->port());
  std::fflush(stdout);

  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) == 0 && signal_number == SIGUSR1) {
    const EchoCounts counts = (*engine)->counts();
    std::printf("{\"calls_ok\": %llu, \"calls_failed\": %llu, \"messages\": %llu}\n",
                static_cast<unsigned long long>(counts.calls_ok),
                static_cast<unsigned long long>(counts.calls_failed),
                static_cast<unsigned long long>(counts.messages));
    std::fflush(stdout);
  }
  (*engine)->Stop();
  return 0;
}

}  // namespace
}  // namespace polymesh::bench

int main(int argc, char** argv) { return polymesh::bench::Main(argc, argv); }
