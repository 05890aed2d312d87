// polymesh-stream-load: a load generator for bidirectional gRPC streams,
// which h2load cannot drive (it sends a whole request body, then reads).
//
//   polymesh-stream-load --target HOST:PORT [--connections 4] [--streams 50]
//                        [--payload 100] [--warmup 1] [--duration 5]
//
// It opens `connections` HTTP/2 connections and `streams` calls of
// polymesh.testing.v1.EchoService/BidiStream on each. Every stream sends one
// BidiStreamRequest carrying `payload` bytes, waits for its response, and
// sends the next: a ping-pong of `connections` x `streams` messages in
// flight. Round trips are counted and timed after `warmup` seconds for
// `duration` seconds; then every stream half-closes and must end with
// grpc-status 0. It prints one JSON object on stdout:
//
//   {"messages": N, "seconds": S, "messages_per_second": R,
//    "latency_us": {"p50": A, "p99": B, "p99.9": C, "max": D},
//    "streams_ok": N, "streams_failed": N, "statuses": {"0": N, ...}}
//
// and exits 0 when every stream ended OK, 1 otherwise. One thread, one epoll
// loop (the gateway's EventLoop); gRPC's wire protocol on nghttp2.
#include <nghttp2/nghttp2.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "polymesh/testing/v1/echo.pb.h"
#include "transport/event_loop.h"
#include "transport/socket.h"

namespace polymesh::bench {
namespace {

using ::polymesh::gateway::ConnectResult;
using ::polymesh::gateway::ConnectTcp;
using ::polymesh::gateway::EventLoop;
using ::polymesh::gateway::Flushable;
using ::polymesh::gateway::IoHandler;
using ::polymesh::gateway::ScopedFd;
using ::polymesh::gateway::Timer;

constexpr char kUsage[] =
    "usage: polymesh-stream-load --target HOST:PORT [--connections 4] [--streams 50]\n"
    "                            [--payload 100] [--warmup 1] [--duration 5]\n";
constexpr char kPath[] = "/polymesh.testing.v1.EchoService/BidiStream";
constexpr size_t kGrpcPrefix = 5;
constexpr int32_t kStreamWindow = 1 << 20;
constexpr int32_t kConnectionWindow = 1 << 26;

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

nghttp2_nv Header(absl::string_view name, absl::string_view value) {
  return nghttp2_nv{
      const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
      const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())), name.size(),
      value.size(), NGHTTP2_NV_FLAG_NONE};
}

enum class Phase { kWarmup, kMeasure, kStopping };

// The run: phases, results, and the streams still open.
struct Run {
  Phase phase = Phase::kWarmup;
  std::string message;  // one gRPC-framed BidiStreamRequest
  std::vector<uint32_t> latencies_us;
  int open_streams = 0;
  std::map<int, int> statuses;  // grpc-status -> streams
  std::vector<std::string> errors;
  EventLoop* loop = nullptr;

  void StreamEnded(int status) {
    ++statuses[status];
    if (--open_streams == 0) loop->Exit();
  }
};

struct Stream {
  int32_t id = 0;
  size_t out_offset = 0;  // into Run::message; == size when nothing to send
  bool deferred = false;
  bool half_closed = false;
  int64_t sent_ns = 0;
  std::string in;
  int status = -1;
};

class Connection final : public IoHandler, public Flushable {
 public:
  Connection(Run& run, EventLoop& loop, std::string authority)
      : run_(run), loop_(loop), authority_(std::move(authority)) {}
  ~Connection() override {
    if (session_ != nullptr) nghttp2_session_del(session_);
  }

  absl::Status Start(const std::string& host, uint16_t port, int streams) {
    absl::StatusOr<ScopedFd> fd = ConnectTcp(host, port);
    if (!fd.ok()) return fd.status();
    fd_ = std::move(*fd);
    streams_to_open_ = streams;
    run_.open_streams += streams;
    return loop_.Add(fd_.get(), EPOLLIN | EPOLLOUT, this);
  }

  // Stops sending: each stream half-closes once its last response is in.
  void Stop() {
    for (auto& [id, stream] : streams_) {
      if (stream->out_offset == run_.message.size() && stream->in.empty() &&
          stream->sent_ns == 0) {
        HalfClose(*stream);
      }
    }
    loop_.ScheduleFlush(this);
  }

  void OnIoEvent(uint32_t events) override {
    if (failed_) return;
    if (!connected_) {
      if (absl::Status result = ConnectResult(fd_.get()); !result.ok()) {
        Fail(absl::StrCat("connect: ", result.message()));
        return;
      }
      connected_ = true;
      (void)loop_.Modify(fd_.get(), EPOLLIN, this);
      OpenSession();
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      uint8_t buffer[64 * 1024];
      for (;;) {
        const ssize_t n = read(fd_.get(), buffer, sizeof(buffer));
        if (n > 0) {
          if (nghttp2_session_mem_recv(session_, buffer, static_cast<size_t>(n)) < 0) {
            Fail("HTTP/2 protocol error");
            return;
          }
          if (static_cast<size_t>(n) < sizeof(buffer)) break;
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        Fail(n == 0 ? "connection closed by the server" : std::strerror(errno));
        return;
      }
    }
    loop_.ScheduleFlush(this);
  }

  void Flush() override {
    if (failed_ || !connected_) return;
    for (;;) {
      if (pending_offset_ == pending_.size()) {
        pending_.clear();
        pending_offset_ = 0;
        while (pending_.size() < 256 * 1024) {
          const uint8_t* data = nullptr;
          const ssize_t n = nghttp2_session_mem_send(session_, &data);
          if (n < 0) {
            Fail("HTTP/2 send error");
            return;
          }
          if (n == 0) break;
          pending_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
        }
        if (pending_.empty()) break;
      }
      const ssize_t n = send(fd_.get(), pending_.data() + pending_offset_,
                             pending_.size() - pending_offset_, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        Fail(std::strerror(errno));
        return;
      }
      pending_offset_ += static_cast<size_t>(n);
    }
    const bool blocked = pending_offset_ < pending_.size();
    if (blocked != want_out_) {
      want_out_ = blocked;
      (void)loop_.Modify(fd_.get(), blocked ? EPOLLIN | EPOLLOUT : EPOLLIN, this);
    }
  }

 private:
  void OpenSession() {
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, OnData);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, OnHeader);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, OnStreamClose);
    nghttp2_session_client_new(&session_, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 2);
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
    const nghttp2_nv headers[] = {
        Header(":method", "POST"),           Header(":scheme", "http"),
        Header(":path", kPath),              Header(":authority", authority_),
        Header("content-type", "application/grpc"), Header("te", "trailers"),
    };
    for (int i = 0; i < streams_to_open_; ++i) {
      auto stream = std::make_unique<Stream>();
      nghttp2_data_provider provider;
      provider.source.ptr = stream.get();
      provider.read_callback = ReadBody;
      stream->sent_ns = NowNs();
      const int32_t id = nghttp2_submit_request(session_, nullptr, headers,
                                                sizeof(headers) / sizeof(headers[0]), &provider,
                                                stream.get());
      if (id < 0) {
        Fail("cannot open a stream");
        return;
      }
      stream->id = id;
      streams_.emplace(id, std::move(stream));
    }
  }

  void Fail(std::string why) {
    if (failed_) return;
    failed_ = true;
    run_.errors.push_back(std::move(why));
    loop_.Remove(fd_.get());
    fd_.reset();
    // Streams never opened (no session yet) end too.
    const size_t ended = session_ == nullptr ? static_cast<size_t>(streams_to_open_)
                                             : streams_.size();
    streams_.clear();
    for (size_t i = 0; i < ended; ++i) run_.StreamEnded(-1);
  }

  void HalfClose(Stream& stream) {
    stream.half_closed = true;
    Resume(stream);
  }

  void Resume(Stream& stream) {
    if (!stream.deferred) return;
    stream.deferred = false;
    nghttp2_session_resume_data(session_, stream.id);
  }

  // A complete response message arrived on `stream`.
  void Answered(Stream& stream) {
    const int64_t now = NowNs();
    if (run_.phase == Phase::kMeasure) {
      run_.latencies_us.push_back(static_cast<uint32_t>((now - stream.sent_ns) / 1000));
    }
    stream.sent_ns = 0;
    if (run_.phase == Phase::kStopping) {
      HalfClose(stream);
      return;
    }
    stream.sent_ns = now;
    stream.out_offset = 0;
    Resume(stream);
  }

  static ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                          uint32_t* data_flags, nghttp2_data_source* source, void* user) {
    auto* stream = static_cast<Stream*>(source->ptr);
    auto* self = static_cast<Connection*>(user);
    const std::string& message = self->run_.message;
    const size_t n = std::min(length, message.size() - stream->out_offset);
    std::memcpy(buf, message.data() + stream->out_offset, n);
    stream->out_offset += n;
    if (stream->out_offset == message.size()) {
      if (stream->half_closed) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      } else if (n == 0) {
        stream->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    return static_cast<ssize_t>(n);
  }

  static int OnData(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data,
                    size_t len, void* user) {
    auto* self = static_cast<Connection*>(user);
    auto* stream = static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, stream_id));
    if (stream == nullptr) return 0;
    stream->in.append(reinterpret_cast<const char*>(data), len);
    while (stream->in.size() >= kGrpcPrefix) {
      const auto* p = reinterpret_cast<const uint8_t*>(stream->in.data());
      const size_t size =
          (size_t{p[1]} << 24) | (size_t{p[2]} << 16) | (size_t{p[3]} << 8) | p[4];
      if (stream->in.size() < kGrpcPrefix + size) break;
      stream->in.erase(0, kGrpcPrefix + size);
      self->Answered(*stream);
    }
    return 0;
  }

  static int OnHeader(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void*) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    auto* stream =
        static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
    if (stream == nullptr) return 0;
    if (absl::string_view(reinterpret_cast<const char*>(name), namelen) == "grpc-status") {
      int status = -1;
      if (absl::SimpleAtoi(absl::string_view(reinterpret_cast<const char*>(value), valuelen),
                           &status)) {
        stream->status = status;
      }
    }
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t, void* user) {
    auto* self = static_cast<Connection*>(user);
    auto found = self->streams_.find(stream_id);
    if (found == self->streams_.end()) return 0;
    const int status = found->second->status;
    self->streams_.erase(found);
    self->run_.StreamEnded(status);
    return 0;
  }

  Run& run_;
  EventLoop& loop_;
  std::string authority_;
  ScopedFd fd_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  int streams_to_open_ = 0;
  std::string pending_;
  size_t pending_offset_ = 0;
  bool connected_ = false;
  bool want_out_ = false;
  bool failed_ = false;
};

uint32_t Percentile(const std::vector<uint32_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

int Usage(const char* problem) {
  std::fprintf(stderr, "polymesh-stream-load: %s\n%s", problem, kUsage);
  return 2;
}

int Main(int argc, char** argv) {
  std::string target;
  int connections = 4, streams = 50, payload = 100;
  double warmup = 1, duration = 5;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) return Usage("a flag without its value");
    const char* value = argv[++i];
    bool ok = true;
    if (arg == "--target") {
      target = value;
    } else if (arg == "--connections") {
      ok = absl::SimpleAtoi(value, &connections) && connections >= 1 && connections <= 1000;
    } else if (arg == "--streams") {
      ok = absl::SimpleAtoi(value, &streams) && streams >= 1 && streams <= 1000;
    } else if (arg == "--payload") {
      ok = absl::SimpleAtoi(value, &payload) && payload >= 0 && payload <= (4 << 20);
    } else if (arg == "--warmup") {
      ok = absl::SimpleAtod(value, &warmup) && warmup >= 0;
    } else if (arg == "--duration") {
      ok = absl::SimpleAtod(value, &duration) && duration > 0;
    } else {
      return Usage("bad argument");
    }
    if (!ok) return Usage(absl::StrCat("bad value for ", arg).c_str());
  }
  const size_t colon = target.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(target.substr(colon + 1), &port) ||
      port < 1 || port > 65535) {
    return Usage("--target takes HOST:PORT");
  }
  const std::string host = target.substr(0, colon);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  if (!loop.ok()) return Usage(std::string(loop.status().message()).c_str());
  Run run;
  run.loop = loop->get();
  {
    polymesh::testing::v1::BidiStreamRequest request;
    request.set_payload(std::string(static_cast<size_t>(payload), 'x'));
    const std::string body = request.SerializeAsString();
    const size_t size = body.size();
    run.message = std::string(1, '\0');
    for (int shift = 24; shift >= 0; shift -= 8) {
      run.message.push_back(static_cast<char>((size >> shift) & 0xff));
    }
    run.message += body;
  }
  std::vector<std::unique_ptr<Connection>> conns;
  for (int i = 0; i < connections; ++i) {
    conns.push_back(std::make_unique<Connection>(run, **loop, target));
    if (absl::Status started = conns.back()->Start(host, static_cast<uint16_t>(port), streams);
        !started.ok()) {
      std::fprintf(stderr, "polymesh-stream-load: %s\n",
                   std::string(started.message()).c_str());
      return 1;
    }
  }
  int64_t measure_start = 0, measure_end = 0;
  Timer stop(**loop, [&] {
    measure_end = NowNs();
    run.phase = Phase::kStopping;
    for (auto& conn : conns) conn->Stop();
  });
  Timer measure(**loop, [&] {
    measure_start = NowNs();
    run.phase = Phase::kMeasure;
    stop.Enable(absl::Seconds(duration));
  });
  measure.Enable(absl::Seconds(warmup));
  // Streams get a few seconds to end after the run; then the run fails.
  Timer give_up(**loop, [&] {
    run.errors.push_back(absl::StrCat(run.open_streams, " streams did not end"));
    (*loop)->Exit();
  });
  give_up.Enable(absl::Seconds(warmup + duration + 10));
  (*loop)->Run();
  conns.clear();

  std::sort(run.latencies_us.begin(), run.latencies_us.end());
  const double seconds =
      measure_end > measure_start ? static_cast<double>(measure_end - measure_start) / 1e9 : 0;
  int ok_streams = 0, failed_streams = 0;
  std::string statuses;
  for (const auto& [status, count] : run.statuses) {
    (status == 0 ? ok_streams : failed_streams) += count;
    absl::StrAppend(&statuses, statuses.empty() ? "" : ", ", "\"", status, "\": ", count);
  }
  std::string errors;
  for (const std::string& error : run.errors) {
    absl::StrAppend(&errors, errors.empty() ? "" : ", ", "\"", error, "\"");
  }
  const auto& l = run.latencies_us;
  std::printf(
      "{\"messages\": %zu, \"seconds\": %.6f, \"messages_per_second\": %.1f, "
      "\"latency_us\": {\"p50\": %u, \"p99\": %u, \"p99.9\": %u, \"max\": %u}, "
      "\"streams_ok\": %d, \"streams_failed\": %d, \"statuses\": {%s}, \"errors\": [%s]}\n",
      l.size(), seconds, seconds > 0 ? static_cast<double>(l.size()) / seconds : 0.0,
      Percentile(l, 0.5), Percentile(l, 0.99), Percentile(l, 0.999), l.empty() ? 0 : l.back(),
      ok_streams, failed_streams, statuses.c_str(), errors.c_str());
  return failed_streams == 0 && ok_streams > 0 && run.errors.empty() ? 0 : 1;
}

}  // namespace
}  // namespace polymesh::bench

int main(int argc, char** argv) { return polymesh::bench::Main(argc, argv); }
