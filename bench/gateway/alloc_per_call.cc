// polymesh-alloc-per-call: heap allocations per unary call in the gateway,
// with tracing off and on, and the call sites that make them.
//
//   polymesh-alloc-per-call --echo-server build/cmake/bench/gateway/polymesh-echo-server
//                           [--calls 20000] [--sites 12]
//
// The gateway runs in this process (2 workers) in front of the benchmark's
// nghttp2 echo server; h2load (-c4 -m50, unary 100 B) and the echo server are
// other processes, so every allocation counted here is the gateway's: its
// worker threads, and with tracing on its span export thread. malloc,
// calloc, realloc and the aligned allocators are counted where they enter
// glibc (operator new ends there too); nghttp2's own buffers included.
//
// Tracing on records every call (always_on) and exports with the production
// batch processor into OTLP protobuf requests that are serialized and then
// dropped (no collector): the allocations of sending are gRPC's, not the
// gateway's. For each mode it prints calls, allocations and bytes per call,
// and the call sites of a sample of the allocations (every 16th), as
// allocations per call by the first gateway frames of their stacks.
#include <execinfo.h>
#include <malloc.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/debugging/symbolize.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "config/config_loader.h"
#include "google/protobuf/arena.h"
#include "observability/batch_processor.h"
#include "observability/otlp_exporter.h"
#include "observability/sampler.h"
#include "observability/span_pipeline.h"
#include "observability/span_record.h"
#include "observability/tracing.h"
#include "observability/tracing_config.h"
#include "observability/tracing_for_test.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "polymesh/testing/v1/echo.pb.h"
#include "server/gateway.h"

extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* pointer, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void __libc_free(void* pointer);
}

namespace {

std::atomic<bool> g_counting{false};
std::atomic<uint64_t> g_allocations{0};
std::atomic<uint64_t> g_bytes{0};
std::atomic<uint64_t> g_seen{0};
thread_local bool t_inside = false;  // in the sampler: do not count or sample

constexpr int kDepth = 10;
constexpr uint64_t kSampleEvery = 16;
using Stack = std::array<void*, kDepth>;

// Sampled stacks, behind a spinlock (the sampler may not allocate unguarded).
std::atomic_flag g_sites_lock = ATOMIC_FLAG_INIT;
std::map<Stack, uint64_t>* g_sites = nullptr;

void Sample() {
  t_inside = true;
  Stack stack{};
  backtrace(stack.data(), kDepth);
  while (g_sites_lock.test_and_set(std::memory_order_acquire)) {
  }
  if (g_sites == nullptr) g_sites = new std::map<Stack, uint64_t>();
  ++(*g_sites)[stack];
  g_sites_lock.clear(std::memory_order_release);
  t_inside = false;
}

inline void Count(size_t size) {
  if (!g_counting.load(std::memory_order_relaxed) || t_inside) return;
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  g_bytes.fetch_add(size, std::memory_order_relaxed);
  if (g_seen.fetch_add(1, std::memory_order_relaxed) % kSampleEvery == 0) Sample();
}

}  // namespace

extern "C" {
void* malloc(size_t size) {
  Count(size);
  return __libc_malloc(size);
}
void* calloc(size_t count, size_t size) {
  Count(count * size);
  return __libc_calloc(count, size);
}
void* realloc(void* pointer, size_t size) {
  Count(size);
  return __libc_realloc(pointer, size);
}
void free(void* pointer) { __libc_free(pointer); }
void* memalign(size_t alignment, size_t size) {
  Count(size);
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(size_t alignment, size_t size) {
  Count(size);
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, size_t alignment, size_t size) {
  Count(size);
  *out = __libc_memalign(alignment, size);
  return *out == nullptr ? ENOMEM : 0;
}
}

namespace polymesh {
namespace {

// Writes the request the OTLP exporter would send, then drops it.
class SerializingExporter final : public observability::SpanExporter {
 public:
  observability::ExportResult Export(
      absl::Span<const std::unique_ptr<observability::SpanRecord>> spans) override {
    last_size_ = writer_.Write(spans).size();
    return observability::ExportResult::kSuccess;
  }
  bool Shutdown(std::chrono::microseconds /*timeout*/) override { return true; }

 private:
  observability::ExportRequestWriter writer_;
  size_t last_size_ = 0;
};

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "polymesh-alloc-per-call: %s\n", message.c_str());
  std::exit(1);
}

// Runs `argv`; returns its exit status and its stdout.
std::pair<int, std::string> Run(std::vector<std::string> argv) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) Die("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) {
    Die("cannot run " + argv[0]);
  }
  close(pipe_fds[1]);
  std::string out;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = read(pipe_fds[0], buffer, sizeof(buffer))) > 0) out.append(buffer, n);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {status, out};
}

struct EchoServer {
  pid_t pid = 0;
  int port = 0;
};

EchoServer StartEcho(const std::string& binary) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) Die("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  std::vector<std::string> argv = {binary, "--port", "0", "--threads", "1"};
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  EchoServer server;
  if (posix_spawn(&server.pid, args[0], &actions, nullptr, args.data(), environ) != 0) {
    Die("cannot run " + binary);
  }
  close(pipe_fds[1]);
  std::string line;
  char c = 0;
  while (read(pipe_fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
  // {"port": P}
  const size_t digits = line.find_first_of("0123456789");
  if (digits == std::string::npos ||
      !absl::SimpleAtoi(line.substr(digits, line.find_first_not_of("0123456789", digits) - digits),
                        &server.port)) {
    Die("echo server said \"" + line + "\"");
  }
  return server;
}

// h2load's unary load: -c4 -m50, `calls` calls; returns those that got 200.
uint64_t Load(int port, const std::string& body, int calls) {
  auto [status, out] =
      Run({"h2load", "-t1", "-c4", "-m50", "-n", std::to_string(calls), "-d", body, "-H",
           "content-type: application/grpc", "-H", "te: trailers",
           absl::StrCat("http://127.0.0.1:", port, "/polymesh.testing.v1.EchoService/Unary")});
  if (status != 0) Die("h2load failed:\n" + out);
  const size_t at = out.find("status codes: ");
  uint64_t ok = 0;
  if (at == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(out).substr(at + 14, out.find(' ', at + 14) - at - 14),
                        &ok)) {
    Die("no status codes in h2load's output:\n" + out);
  }
  return ok;
}

std::string Symbol(void* pc) {
  char name[512];
  // A return address points after the call: look up the call itself.
  if (absl::Symbolize(static_cast<char*>(pc) - 1, name, sizeof(name))) return name;
  return absl::StrCat(absl::Hex(reinterpret_cast<uintptr_t>(pc)));
}

// Frames that only allocate: skipped to reach the code that asked.
bool IsAllocatorFrame(const std::string& name) {
  return absl::StartsWith(name, "(anonymous namespace)::") || name == "malloc" ||
         name == "calloc" || name == "realloc" || name == "posix_memalign" ||
         name == "aligned_alloc" || absl::StartsWith(name, "operator new") ||
         absl::StrContains(name, "allocator<") || absl::StrContains(name, "_M_create") ||
         absl::StrContains(name, "::allocate(") || absl::StartsWith(name, "std::") ||
         absl::StrContains(name, "nghttp2_mem_");
}

void PrintSites(uint64_t calls, int top) {
  std::map<std::string, uint64_t> by_site;
  {
    while (g_sites_lock.test_and_set(std::memory_order_acquire)) {
    }
    std::map<Stack, uint64_t> sites = g_sites != nullptr ? *g_sites : std::map<Stack, uint64_t>();
    if (g_sites != nullptr) g_sites->clear();
    g_sites_lock.clear(std::memory_order_release);
    for (const auto& [stack, count] : sites) {
      std::string site;
      int kept = 0;
      for (void* pc : stack) {
        if (pc == nullptr || kept == 3) break;
        const std::string name = Symbol(pc);
        if (kept == 0 && IsAllocatorFrame(name)) continue;
        absl::StrAppend(&site, kept == 0 ? "" : "  <  ", name.substr(0, 90));
        ++kept;
      }
      by_site[site] += count;
    }
  }
  std::vector<std::pair<uint64_t, std::string>> sorted;
  for (const auto& [site, count] : by_site) sorted.emplace_back(count, site);
  std::sort(sorted.rbegin(), sorted.rend());
  for (int i = 0; i < top && i < static_cast<int>(sorted.size()); ++i) {
    std::printf("    %6.2f  %s\n",
                static_cast<double>(sorted[i].first * kSampleEvery) / static_cast<double>(calls),
                sorted[i].second.c_str());
  }
}

void Measure(bool tracing, int echo_port, const std::string& body, int calls, int sites) {
  absl::StatusOr<gateway::v1::GatewayConfig> config = gateway::LoadConfigFromString(
      absl::StrCat("listener: { address: 127.0.0.1, port: 0 }\nworkers: 2\n"
                   "clusters:\n  - name: echo\n    endpoints: [{ address: 127.0.0.1, port: ",
                   echo_port,
                   " }]\nroutes:\n  - name: echo\n"
                   "    match: { service: polymesh.testing.v1.EchoService }\n    cluster: echo\n"
                   "admin: { disabled: true }\n",
                   tracing ? "" : "tracing: { disabled: true }\n"),
      "alloc.yaml");
  if (!config.ok()) Die(std::string(config.status().message()));
  std::unique_ptr<observability::Tracer> tracer;
  if (tracing) {
    observability::BatchOptions options;
    options.schedule_delay = std::chrono::milliseconds(50);
    options.max_queue_size = observability::kGatewayBspMaxQueueSize;
    options.max_export_batch_size = observability::kGatewayBspMaxExportBatchSize;
    tracer = observability::TracerForTest(
        std::make_unique<observability::BatchExportProcessor>(
            std::make_unique<SerializingExporter>(), options, nullptr),
        observability::SemconvMode::kOld, observability::Sampler::AlwaysOn());
  } else {
    tracer = *observability::Tracer::FromEnvironment(observability::TracerOptions{.disabled = true});
  }
  absl::StatusOr<std::unique_ptr<gateway::Gateway>> gw =
      gateway::Gateway::Start(*config, std::move(tracer));
  if (!gw.ok()) Die(std::string(gw.status().message()));
  const int port = (*gw)->port();
  Load(port, body, 2000);  // connections, pools and caches warm
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // spans exported

  const struct mallinfo2 before = mallinfo2();
  g_allocations = 0;
  g_bytes = 0;
  g_counting = true;
  const uint64_t ok = Load(port, body, calls);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  g_counting = false;
  const struct mallinfo2 after = mallinfo2();
  std::printf("tracing %s: %llu calls OK; per call %.2f allocations, %.0f bytes; "
              "heap in use %+lld bytes\n",
              tracing ? "on (always_on, OTLP serialized)" : "off",
              static_cast<unsigned long long>(ok),
              static_cast<double>(g_allocations.load()) / static_cast<double>(ok),
              static_cast<double>(g_bytes.load()) / static_cast<double>(ok),
              static_cast<long long>(after.uordblks) - static_cast<long long>(before.uordblks));
  std::printf("  call sites (allocations per call, first frames):\n");
  PrintSites(ok, sites);
  (*gw)->Stop(absl::Seconds(1));
}

}  // namespace
}  // namespace polymesh

int main(int argc, char** argv) {
  absl::InitializeSymbolizer(argv[0]);
  std::string echo;
  int calls = 20000;
  int sites = 12;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--echo-server") {
      echo = argv[i + 1];
    } else if (flag == "--calls") {
      calls = std::atoi(argv[i + 1]);
    } else if (flag == "--sites") {
      sites = std::atoi(argv[i + 1]);
    } else {
      polymesh::Die("unknown flag " + flag);
    }
  }
  if (echo.empty() || calls <= 0) {
    polymesh::Die("usage: polymesh-alloc-per-call --echo-server PATH [--calls N] [--sites N]");
  }
  signal(SIGPIPE, SIG_IGN);
  polymesh::testing::v1::UnaryRequest request;
  request.set_payload(std::string(100, 'x'));
  const std::string message = request.SerializeAsString();
  std::string framed(5, '\0');
  framed[1] = static_cast<char>((message.size() >> 24) & 0xff);
  framed[2] = static_cast<char>((message.size() >> 16) & 0xff);
  framed[3] = static_cast<char>((message.size() >> 8) & 0xff);
  framed[4] = static_cast<char>(message.size() & 0xff);
  framed += message;
  char body_path[] = "/tmp/polymesh-alloc-body-XXXXXX";
  const int fd = mkstemp(body_path);
  if (fd < 0 || write(fd, framed.data(), framed.size()) != static_cast<ssize_t>(framed.size())) {
    polymesh::Die("cannot write the request body");
  }
  close(fd);
  const polymesh::EchoServer server = polymesh::StartEcho(echo);
  polymesh::Measure(false, server.port, body_path, calls, sites);
  polymesh::Measure(true, server.port, body_path, calls, sites);
  kill(server.pid, SIGTERM);
  waitpid(server.pid, nullptr, 0);
  unlink(body_path);
  return 0;
}
