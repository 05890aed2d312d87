// Fuzzes the gateway's downstream HTTP/2 server: the bytes a client sends
// on a connection, from the connection preface on, through the gateway's own
// connection (proxy/downstream_connection.h, transport/http2_connection.h),
// its calls (proxy/call.h: header checks, routing, deadlines, retries,
// mirrors, limits) and its upstream connections.
//
// Each input is one client connection (a socketpair) on a fresh event loop,
// with the gateway's routes (below; their deadlines, per-try timeouts and
// backoffs are microseconds or 30 s, so that timers are either due at once
// or never) over two upstreams: one that answers, in this thread (an
// nghttp2 server that echoes each request's body, with a stream window of
// 512 bytes; a request's x-fuzz-upstream header picks another answer:
// "s<code>" a status after the echo, "o<code>" a trailers-only status,
// "r<code>" a stream reset, "g" a GOAWAY, "b" an oversized message, "1" an
// informational response first, "p" no answer and no window given back),
// and one whose port refuses connections.
//
// The input is written in pieces, the loop running a bounded number of
// iterations after each (no sleeping: timers that are due run, later ones
// do not); then the loop runs on a while for the answers to come back (only
// briefly when the input's length is a multiple of 3; when it is a
// multiple of 5, the gateway drains the connection first, with GOAWAY);
// then the client half-closes (when the length is even; else the
// connection is still open at teardown, as at the end of a drain), and
// everything is torn down as a worker does it.
//
// Properties (beyond ASan and UBSan): what the gateway writes is a sequence
// of HTTP/2 frames that starts with SETTINGS, never pushes and sends nothing
// on a stream the client could not have opened; every header block it sends
// decodes; every response starts with :status, and every block that ends a
// stream carries a grpc-status of 0 to 16 and a grpc-message, if any, that
// is a valid percent-encoding; after teardown no stream is counted as open.
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "config/config_parser.h"
#include "fuzz_check.h"
#include "observability/recording_tracer.h"
#include "observability/span_pipeline.h"
#include "observability/tracing.h"
#include "observability/tracing_config.h"
#include "proxy/call.h"
#include "proxy/call_policies.h"
#include "proxy/downstream_connection.h"
#include "routing/route_table.h"
#include "stats/stats.h"
#include "transport/event_loop.h"
#include "transport/socket.h"
#include "upstream/cluster.h"

namespace polymesh::gateway {
namespace {

using ::polymesh::fuzz::Escaped;

// The bytes written to the gateway before each run of the loop.
constexpr size_t kPiece = 1024;
// Loop iterations after each piece; after the last one, before the
// client's half-close (enough for answers to come back from the upstream,
// or hardly any); after the half-close (which closes the connection).
constexpr int kIterationsPerPiece = 4;
constexpr int kIterationsToSettle = 32;
constexpr int kIterationsToSettleBriefly = 1;
constexpr int kIterationsAtEnd = 4;
// The largest input: more says nothing new.
constexpr size_t kMaxInput = 64 * 1024;

// The routes: every kind of match and policy, over the answering upstream
// ("echo", "shadow") and the refusing one ("dead"). The deadline of route
// "instant" is due at once.
constexpr char kConfig[] = R"yaml(
listener: { address: 127.0.0.1, port: 0 }
workers: 1
clusters:
  - name: echo
    endpoints: [{ address: 127.0.0.1, port: ECHO_PORT }]
  - name: shadow
    endpoints: [{ address: 127.0.0.1, port: ECHO_PORT }]
    load_balancing: LOAD_BALANCING_LEAST_REQUEST
  - name: dead
    endpoints: [{ address: 127.0.0.1, port: DEAD_PORT }]
routes:
  - name: tenant
    match:
      service: polymesh.testing.v1.EchoService
      headers: [{ name: x-tenant, exact: blue }]
    split: [{ cluster: echo, weight: 2 }, { cluster: dead, weight: 1 }]
  - name: impatient
    match: { method: polymesh.testing.v1.EchoService/ServerStream }
    cluster: echo
    retry: { max_attempts: 2, per_try_timeout: 0.000001s, base_backoff: 0.000001s }
  - name: echo
    match: { service: polymesh.testing.v1.EchoService }
    cluster: echo
    timeout: 30s
    retry:
      retry_on: [UNAVAILABLE, RESOURCE_EXHAUSTED]
      max_attempts: 3
      buffer_bytes: 2048
      base_backoff: 0.000001s
      max_backoff: 0.000002s
    mirror: { cluster: shadow, percent: 100, max_buffered_bytes: 1024 }
  - name: users
    match: { method: polymesh.users.v1.UserService/GetUser }
    cluster: dead
  - name: instant
    match: { method: polymesh.ai.v1.AIService/Predict }
    cluster: echo
    timeout: 0.000000001s
  - name: ai
    match: { package: polymesh.ai }
    cluster: echo
  - name: flagged
    match: { any: true, headers: [{ name: x-route, present: true }] }
    cluster: shadow
)yaml";

std::string Replace(std::string text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
    text.replace(at, from.size(), to.data(), to.size());
  }
  return text;
}

// --- The answering upstream -------------------------------------------------

// One upstream connection the gateway opened: an nghttp2 server session.
class UpstreamPeer {
 public:
  explicit UpstreamPeer(ScopedFd fd) : fd_(std::move(fd)) {
    nghttp2_session_callbacks* callbacks;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, &OnHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &OnData);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &OnFrame);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &OnStreamClose);
    nghttp2_option* option;
    nghttp2_option_new(&option);
    nghttp2_option_set_no_auto_window_update(option, 1);
    nghttp2_session_server_new2(&session_, callbacks, this, option);
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(callbacks);
    const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 512}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 1);
  }
  ~UpstreamPeer() { nghttp2_session_del(session_); }
  UpstreamPeer(const UpstreamPeer&) = delete;
  UpstreamPeer& operator=(const UpstreamPeer&) = delete;

  // Reads what the gateway sent, answers, writes. False once closed.
  bool Pump() {
    if (!fd_.valid()) return false;
    uint8_t buffer[16384];
    while (true) {
      const ssize_t count = read(fd_.get(), buffer, sizeof(buffer));
      if (count > 0) {
        if (nghttp2_session_mem_recv(session_, buffer, static_cast<size_t>(count)) < 0) {
          fd_.reset();
          return false;
        }
        continue;
      }
      if (count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      fd_.reset();  // closed by the gateway, or an error
      return false;
    }
    while (true) {
      const uint8_t* data;
      const ssize_t count = nghttp2_session_mem_send(session_, &data);
      if (count <= 0) break;
      output_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(count));
    }
    while (!output_.empty()) {
      const ssize_t written = send(fd_.get(), output_.data(), output_.size(), MSG_NOSIGNAL);
      if (written <= 0) break;  // full (the gateway reads later) or closed
      output_.erase(0, static_cast<size_t>(written));
    }
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_) &&
        output_.empty()) {
      fd_.reset();
      return false;
    }
    return true;
  }

 private:
  struct Stream {
    std::string mode;
    std::string body;
    size_t sent = 0;
    bool answered = false;
    std::string status;
  };

  static UpstreamPeer* Self(void* user_data) { return static_cast<UpstreamPeer*>(user_data); }

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      Self(user_data)->streams_[frame->hd.stream_id];
    }
    return 0;
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t name_length, const uint8_t* value, size_t value_length, uint8_t,
                      void* user_data) {
    auto it = Self(user_data)->streams_.find(frame->hd.stream_id);
    if (it == Self(user_data)->streams_.end()) return 0;
    if (std::string_view(reinterpret_cast<const char*>(name), name_length) == "x-fuzz-upstream") {
      it->second.mode.assign(reinterpret_cast<const char*>(value), value_length);
    }
    return 0;
  }

  static int OnData(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data,
                    size_t length, void* user_data) {
    auto it = Self(user_data)->streams_.find(stream_id);
    if (it == Self(user_data)->streams_.end()) {
      nghttp2_session_consume_connection(session, length);
      return 0;
    }
    it->second.body.append(reinterpret_cast<const char*>(data), length);
    // The window comes back as the bytes are read, except in mode "p".
    if (it->second.mode.empty() || it->second.mode[0] != 'p') {
      nghttp2_session_consume(session, stream_id, length);
    }
    return 0;
  }

  static int OnFrame(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    UpstreamPeer* self = Self(user_data);
    auto it = self->streams_.find(frame->hd.stream_id);
    if (it == self->streams_.end()) return 0;
    Stream& stream = it->second;
    const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    const char mode = stream.mode.empty() ? 'e' : stream.mode[0];
    if (stream.answered || mode == 'p') return 0;
    // Some answers come as soon as the request headers do.
    if (frame->hd.type == NGHTTP2_HEADERS && !end_stream && mode != 'o' && mode != 'r' &&
        mode != 'g') {
      return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && !(frame->hd.type == NGHTTP2_DATA && end_stream)) {
      return 0;
    }
    stream.answered = true;
    self->Answer(session, frame->hd.stream_id, stream, mode);
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t, void* user_data) {
    Self(user_data)->streams_.erase(stream_id);
    return 0;
  }

  // The status code named after the mode letter (0 to 16).
  static std::string StatusOf(const std::string& mode) {
    uint32_t code = 0;
    if (mode.size() > 1 && absl::SimpleAtoi(mode.substr(1), &code)) return absl::StrCat(code % 17);
    return "0";
  }

  void Answer(nghttp2_session* session, int32_t stream_id, Stream& stream, char mode) {
    switch (mode) {
      case 'r': {
        uint32_t code = 0;
        if (stream.mode.size() > 1) (void)absl::SimpleAtoi(stream.mode.substr(1), &code);
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, code % 14);
        return;
      }
      case 'g':
        nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
        return;
      case 'o': {
        stream.status = StatusOf(stream.mode);
        const nghttp2_nv headers[] = {
            Nv(":status", "200"), Nv("content-type", "application/grpc"),
            Nv("grpc-status", stream.status), Nv("grpc-message", "trailers%20only"),
        };
        nghttp2_submit_response(session, stream_id, headers, 4, nullptr);
        return;
      }
      case '1': {
        const nghttp2_nv informational[] = {Nv(":status", "100")};
        nghttp2_submit_headers(session, NGHTTP2_FLAG_NONE, stream_id, nullptr, informational, 1,
                               nullptr);
        break;
      }
      case 'b':
        // A message whose prefix declares more than any limit.
        stream.body = std::string("\0\x7f\xff\xff\xff", 5) + stream.body;
        break;
      default:
        break;
    }
    stream.status = mode == 's' ? StatusOf(stream.mode) : "0";
    const nghttp2_nv headers[] = {
        Nv(":status", "200"), Nv("content-type", "application/grpc"),
        Nv("x-echo", "1"),
    };
    nghttp2_data_provider provider{};
    provider.read_callback = &ReadBody;
    nghttp2_submit_response(session, stream_id, headers, 3, &provider);
  }

  static ssize_t ReadBody(nghttp2_session* session, int32_t stream_id, uint8_t* buffer,
                          size_t length, uint32_t* flags, nghttp2_data_source*,
                          void* user_data) {
    auto it = Self(user_data)->streams_.find(stream_id);
    if (it == Self(user_data)->streams_.end()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return 0;
    }
    Stream& stream = it->second;
    const size_t count = std::min(length, stream.body.size() - stream.sent);
    std::memcpy(buffer, stream.body.data() + stream.sent, count);
    stream.sent += count;
    if (stream.sent == stream.body.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      const nghttp2_nv trailers[] = {Nv("grpc-status", stream.status),
                                     Nv("grpc-message", "echo%0Adone")};
      nghttp2_submit_trailer(session, stream_id, trailers, 2);
    }
    return static_cast<ssize_t>(count);
  }

  static nghttp2_nv Nv(std::string_view name, std::string_view value) {
    return nghttp2_nv{const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
                      const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())),
                      name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
  }

  ScopedFd fd_;
  nghttp2_session* session_ = nullptr;
  std::string output_;
  std::map<int32_t, Stream> streams_;
};

// The answering upstream: a listening socket and the connections accepted
// from it, served when Pump() is called.
class Upstream {
 public:
  explicit Upstream(ScopedFd listener) : listener_(std::move(listener)) {}

  void Pump() {
    while (true) {
      const int fd = AcceptNonBlocking(listener_.get());
      if (fd < 0) break;
      peers_.push_back(std::make_unique<UpstreamPeer>(ScopedFd(fd)));
    }
    for (auto& peer : peers_) peer->Pump();
  }

  // Closes every connection (and those still waiting to be accepted).
  void Reset() {
    Pump();
    peers_.clear();
  }

 private:
  ScopedFd listener_;
  std::vector<std::unique_ptr<UpstreamPeer>> peers_;
};

// --- What every input shares -------------------------------------------------

// Writes each ended span's OTLP form (the exporter's path), then drops it.
class WireProcessor final : public observability::SpanProcessor {
 public:
  void OnEnd(std::unique_ptr<observability::SpanRecord> span) override {
    std::string wire;
    span->AppendWire(wire);
  }
  bool Shutdown(std::chrono::microseconds) override { return true; }
};

struct Shared {
  Shared() {
    // A port that refuses: bound, never listening, kept.
    dead = ScopedFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    FUZZ_CHECK(bind(dead.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    absl::StatusOr<ScopedFd> listener = ListenTcp("127.0.0.1", 0);
    FUZZ_CHECK(listener.ok()) << listener.status();
    const uint16_t echo_port = *LocalPort(listener->get());
    upstream = std::make_unique<Upstream>(std::move(*listener));

    const std::string yaml =
        Replace(Replace(kConfig, "ECHO_PORT", absl::StrCat(echo_port)), "DEAD_PORT",
                absl::StrCat(*LocalPort(dead.get())));
    absl::StatusOr<ParsedConfig> parsed = ParseConfigYaml(yaml, "http2_downstream");
    FUZZ_CHECK(parsed.ok()) << parsed.status();
    config = std::move(parsed->config);
    routes = std::make_unique<RouteTable>(config);
    absl::StatusOr<std::vector<ClusterSpec>> made = ClusterSpecsFromConfig(config, 0);
    FUZZ_CHECK(made.ok()) << made.status();
    specs = std::move(*made);
    std::vector<std::string> route_names, cluster_names;
    for (const Route& route : routes->routes()) route_names.push_back(route.name);
    for (const ClusterSpec& spec : specs) cluster_names.push_back(spec.name);
    stats = std::make_unique<StatsStore>(route_names, cluster_names, 1);
    tracer = observability::NewRecordingTracer(
        std::make_unique<WireProcessor>(), *observability::ParseSampler("", ""),
        *observability::MakeResource("", "", "polymesh-gateway"),
        observability::SemconvMode::kDup, nullptr);
    // Small limits, so that inputs reach them.
    limits.max_request_message_bytes = 1024;
    limits.max_response_message_bytes = 1024;
    limits.max_concurrent_streams_per_connection = 8;
    limits.max_active_streams = 12;
  }

  ScopedFd dead;
  std::unique_ptr<Upstream> upstream;
  GatewayConfig config;
  std::unique_ptr<RouteTable> routes;
  std::vector<ClusterSpec> specs;
  std::unique_ptr<StatsStore> stats;
  std::unique_ptr<observability::Tracer> tracer;
  CallLimits limits;
};

// --- What the gateway wrote ----------------------------------------------------

bool IsPercentEncoding(absl::string_view value) {
  for (size_t i = 0; i < value.size(); ++i) {
    const auto byte = static_cast<unsigned char>(value[i]);
    if (byte < 0x20 || byte > 0x7e) return false;
    if (byte == '%' && (i + 2 >= value.size() || !absl::ascii_isxdigit(value[i + 1]) ||
                        !absl::ascii_isxdigit(value[i + 2]))) {
      return false;
    }
  }
  return true;
}

// A header block's fields, for messages.
std::string Printed(const std::map<std::string, std::string>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    absl::StrAppend(&out, Escaped(name), ": ", Escaped(value), "; ");
  }
  return out;
}

// Checks the gateway's output: frames, header blocks, gRPC statuses.
class OutputChecker {
 public:
  OutputChecker() { nghttp2_hd_inflate_new(&inflater_); }
  ~OutputChecker() { nghttp2_hd_inflate_del(inflater_); }
  OutputChecker(const OutputChecker&) = delete;
  OutputChecker& operator=(const OutputChecker&) = delete;

  void Check(absl::string_view output) {
    FUZZ_CHECK(output.size() >= 9 && output[3] == NGHTTP2_SETTINGS)
        << "no SETTINGS first: " << Escaped(output.substr(0, 32));
    size_t at = 0;
    // A last frame cut short (the connection closed with bytes unsent) is
    // not checked.
    while (output.size() - at >= 9) {
      const auto* header = reinterpret_cast<const uint8_t*>(output.data() + at);
      const size_t length = (size_t{header[0]} << 16) | (size_t{header[1]} << 8) | header[2];
      const uint8_t type = header[3];
      const uint8_t flags = header[4];
      const int32_t stream_id = static_cast<int32_t>(
          ((uint32_t{header[5]} & 0x7f) << 24) | (uint32_t{header[6]} << 16) |
          (uint32_t{header[7]} << 8) | header[8]);
      if (output.size() - at - 9 < length) break;
      const absl::string_view payload = output.substr(at + 9, length);
      at += 9 + length;
      FUZZ_CHECK(type != NGHTTP2_PUSH_PROMISE) << "the gateway pushed";
      switch (type) {
        case NGHTTP2_DATA:
        case NGHTTP2_HEADERS:
        case NGHTTP2_CONTINUATION:
        case NGHTTP2_RST_STREAM:
          FUZZ_CHECK(stream_id > 0 && stream_id % 2 == 1)
              << "frame type " << int{type} << " on stream " << stream_id;
          break;
        case NGHTTP2_SETTINGS:
        case NGHTTP2_PING:
        case NGHTTP2_GOAWAY:
          FUZZ_CHECK(stream_id == 0) << "frame type " << int{type} << " on stream " << stream_id;
          break;
        default:
          break;
      }
      if (type == NGHTTP2_HEADERS) {
        block_.assign(payload.data(), payload.size());
        block_stream_ = stream_id;
        block_end_stream_ = (flags & NGHTTP2_FLAG_END_STREAM) != 0;
        if ((flags & NGHTTP2_FLAG_PADDED) != 0 && !block_.empty()) {
          const size_t padding = static_cast<uint8_t>(block_[0]);
          FUZZ_CHECK(padding < block_.size());
          block_ = block_.substr(1, block_.size() - 1 - padding);
        }
        if ((flags & NGHTTP2_FLAG_PRIORITY) != 0) block_.erase(0, 5);
        if ((flags & NGHTTP2_FLAG_END_HEADERS) != 0) EndBlock();
      } else if (type == NGHTTP2_CONTINUATION) {
        FUZZ_CHECK(stream_id == block_stream_);
        block_.append(payload.data(), payload.size());
        if ((flags & NGHTTP2_FLAG_END_HEADERS) != 0) EndBlock();
      }
    }
  }

 private:
  void EndBlock() {
    std::map<std::string, std::string> fields;
    const auto* in = reinterpret_cast<const uint8_t*>(block_.data());
    size_t left = block_.size();
    while (true) {
      nghttp2_nv nv;
      int inflate_flags = 0;
      const ssize_t used = nghttp2_hd_inflate_hd2(inflater_, &nv, &inflate_flags, in, left, 1);
      FUZZ_CHECK(used >= 0) << "a header block that does not decode: "
                            << nghttp2_strerror(static_cast<int>(used));
      in += used;
      left -= static_cast<size_t>(used);
      if ((inflate_flags & NGHTTP2_HD_INFLATE_EMIT) != 0) {
        fields.emplace(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                       std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
      }
      if ((inflate_flags & NGHTTP2_HD_INFLATE_FINAL) != 0) {
        nghttp2_hd_inflate_end_headers(inflater_);
        break;
      }
      if ((inflate_flags & NGHTTP2_HD_INFLATE_EMIT) == 0 && left == 0) break;
    }
    const bool first = blocks_[block_stream_]++ == 0;
    if (first) {
      FUZZ_CHECK(fields.count(":status") == 1) << "a response without :status";
    }
    if (!block_end_stream_) {
      FUZZ_CHECK(first) << "trailers that do not end stream " << block_stream_;
      return;
    }
    auto status = fields.find("grpc-status");
    FUZZ_CHECK(status != fields.end()) << "stream " << block_stream_
                                       << " ends without grpc-status: " << Printed(fields);
    int code = -1;
    FUZZ_CHECK(absl::SimpleAtoi(status->second, &code) && code >= 0 && code <= 16)
        << "grpc-status " << Escaped(status->second);
    auto message = fields.find("grpc-message");
    if (message != fields.end()) {
      FUZZ_CHECK(IsPercentEncoding(message->second))
          << "grpc-message " << Escaped(message->second);
    }
  }

  nghttp2_hd_inflater* inflater_ = nullptr;
  std::string block_;
  int32_t block_stream_ = 0;
  bool block_end_stream_ = false;
  std::map<int32_t, int> blocks_;
};

// Reads what the gateway wrote to the client so far.
void ReadOutput(int fd, std::string& output) {
  char buffer[16384];
  while (true) {
    const ssize_t count = read(fd, buffer, sizeof(buffer));
    if (count <= 0) return;
    output.append(buffer, static_cast<size_t>(count));
  }
}

}  // namespace
}  // namespace polymesh::gateway

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace polymesh::gateway;  // NOLINT(google-build-using-namespace)
  if (size > kMaxInput) return 0;
  static Shared* const shared = new Shared();

  // A worker's parts, for this connection only.
  absl::StatusOr<std::unique_ptr<EventLoop>> made = EventLoop::Create();
  FUZZ_CHECK(made.ok()) << made.status();
  std::unique_ptr<EventLoop> loop = std::move(*made);
  UpstreamClusters clusters = MakeUpstreamClusters(shared->specs, 1);
  auto manager = std::make_unique<ClusterManager>(*loop, clusters, 0);
  auto policies = std::make_unique<CallPolicies>(*loop, shared->routes->routes().size(),
                                                 clusters.size());
  std::vector<uint64_t> split_positions(shared->routes->routes().size());
  std::atomic<int64_t> active_streams{0};
  CallContext context{*loop,
                      *shared->routes,
                      *manager,
                      shared->tracer.get(),
                      &shared->stats->worker(0),
                      // No access log: its writer thread frees what calls
                      // allocate, and libFuzzer then runs a leak check after
                      // every input (ten times slower).
                      nullptr,
                      &split_positions,
                      shared->limits,
                      &active_streams,
                      policies.get()};

  int fds[2];
  FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  ScopedFd client(fds[1]);
  absl::StatusOr<std::unique_ptr<DownstreamConnection>> connection =
      DownstreamConnection::Create(context, ScopedFd(fds[0]));
  FUZZ_CHECK(connection.ok()) << connection.status();
  (*connection)->set_close_callback([](Http2Connection*) {});

  // The input in pieces, the loop running between them; then time for the
  // answers (or hardly any), a drain, the client's half-close, as the
  // input's length says (see the top of this file). Bounded whatever
  // happens.
  std::string output;
  size_t written = 0;
  int iteration = 0;
  int since_written = 0;
  const int settle = size % 3 == 0 ? kIterationsToSettleBriefly : kIterationsToSettle;
  const bool half_close = size % 2 == 0;
  const int most_iterations = static_cast<int>(size / kPiece + 2) * kIterationsPerPiece * 2 +
                              kIterationsToSettle + kIterationsAtEnd;
  std::function<void()> tick = [&] {
    shared->upstream->Pump();
    ReadOutput(client.get(), output);
    ++iteration;
    if (written < size) {
      if (iteration % kIterationsPerPiece == 1) {
        const ssize_t count =
            send(client.get(), data + written, std::min(kPiece, size - written), MSG_NOSIGNAL);
        if (count > 0) written += static_cast<size_t>(count);
      }
    } else {
      if (since_written == 0 && size % 5 == 0) (*connection)->Drain();
      if (++since_written == settle && half_close) shutdown(client.get(), SHUT_WR);
    }
    if (since_written == settle + (half_close ? kIterationsAtEnd : 0) ||
        iteration >= most_iterations) {
      loop->Exit();
      return;
    }
    loop->Post(tick);
  };
  loop->Post(tick);
  loop->Run();

  // Teardown, in a worker's order: the connection (its calls cancel their
  // upstream halves), shadow calls, upstream connections.
  connection->reset();
  loop->RunPendingWork();
  policies->CancelShadows();
  loop->RunPendingWork();
  manager.reset();
  loop->RunPendingWork();
  policies.reset();
  ReadOutput(client.get(), output);
  shared->upstream->Reset();

  FUZZ_CHECK(active_streams.load() == 0) << active_streams.load() << " streams still counted";
  OutputChecker checker;
  checker.Check(output);
  return 0;
}
