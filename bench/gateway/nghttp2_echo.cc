// The echo upstream on nghttp2: one epoll loop (the gateway's EventLoop) per
// thread, each with its own SO_REUSEPORT listener; gRPC's wire protocol
// (length-prefixed messages, grpc-status in trailers) spoken directly.
#include <nghttp2/nghttp2.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "echo_engine.h"
#include "transport/event_loop.h"
#include "transport/socket.h"

namespace polymesh::bench {
namespace {

using ::polymesh::gateway::AcceptNonBlocking;
using ::polymesh::gateway::DeferredDeletable;
using ::polymesh::gateway::EventLoop;
using ::polymesh::gateway::Flushable;
using ::polymesh::gateway::IoHandler;
using ::polymesh::gateway::ListenTcp;
using ::polymesh::gateway::LocalPort;
using ::polymesh::gateway::ScopedFd;
using ::polymesh::testing::v1::BidiStreamRequest;
using ::polymesh::testing::v1::BidiStreamResponse;
using ::polymesh::testing::v1::Instruction;
using ::polymesh::testing::v1::UnaryRequest;
using ::polymesh::testing::v1::UnaryResponse;

constexpr char kUnaryPath[] = "/polymesh.testing.v1.EchoService/Unary";
constexpr char kBidiPath[] = "/polymesh.testing.v1.EchoService/BidiStream";
// Windows large enough that 50 streams of 16 KiB messages never wait for a
// WINDOW_UPDATE.
constexpr int32_t kStreamWindow = 1 << 20;
constexpr int32_t kConnectionWindow = 1 << 26;
constexpr size_t kGrpcPrefix = 5;
// gRPC status codes used here.
constexpr int kInternal = 13;
constexpr int kUnimplemented = 12;

nghttp2_nv Header(absl::string_view name, absl::string_view value) {
  return nghttp2_nv{
      const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(name.data())),
      const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(value.data())), name.size(),
      value.size(), NGHTTP2_NV_FLAG_NONE};
}

// grpc-message is percent-encoded: everything outside printable ASCII, and %.
std::string PercentEncode(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Appends one gRPC message (uncompressed) to `out`.
void AppendMessage(const google::protobuf::MessageLite& message, std::string& out) {
  const size_t size = message.ByteSizeLong();
  const size_t at = out.size();
  out.resize(at + kGrpcPrefix + size);
  auto* p = reinterpret_cast<uint8_t*>(out.data() + at);
  p[0] = 0;
  p[1] = static_cast<uint8_t>(size >> 24);
  p[2] = static_cast<uint8_t>(size >> 16);
  p[3] = static_cast<uint8_t>(size >> 8);
  p[4] = static_cast<uint8_t>(size);
  message.SerializeWithCachedSizesToArray(p + kGrpcPrefix);
}

// One request stream.
struct Stream {
  enum class Method { kUnknown, kUnary, kBidi };
  int32_t id = 0;
  Method method = Method::kUnknown;
  std::string in;      // request bytes not yet parsed into messages
  std::string out;     // response bytes not yet given to nghttp2
  size_t out_offset = 0;
  bool responded = false;  // response headers submitted
  bool deferred = false;   // the data provider waits for more output
  bool done = false;       // status decided: trailers follow `out`
  int status = 0;
  std::string message;
  int32_t index = 0;
};

class Worker;

// One downstream HTTP/2 connection.
class Connection final : public IoHandler, public Flushable, public DeferredDeletable {
 public:
  Connection(Worker& worker, EventLoop& loop, ScopedFd fd);
  ~Connection() override;

  // Registers with the loop and sends the server preface.
  bool Start();
  void OnIoEvent(uint32_t events) override;
  void Flush() override;

 private:
  static ssize_t ReadBody(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                          uint32_t* data_flags, nghttp2_data_source* source, void* user);
  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                      void* user);
  static int OnDataChunk(nghttp2_session*, uint8_t flags, int32_t stream_id,
                         const uint8_t* data, size_t len, void* user);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                           void* user);

  Stream* Find(int32_t stream_id);
  // Parses every complete message of `stream.in`; answers each (BidiStream)
  // or the one (Unary, at end of stream).
  void Process(Stream& stream, bool end_of_stream);
  // Submits the response headers with a body that `out` and `done` feed.
  void Respond(Stream& stream);
  // Sets the final status and lets the body end.
  void Finish(Stream& stream, int status, std::string message = {});
  void Resume(Stream& stream);
  void Close();

  Worker& worker_;
  EventLoop& loop_;
  ScopedFd fd_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
  std::string pending_;  // serialized frames not yet written
  size_t pending_offset_ = 0;
  bool want_out_ = false;
  bool closed_ = false;
};

// One thread: its loop, its listener, its connections.
class Worker final : public IoHandler {
 public:
  Worker(std::unique_ptr<EventLoop> loop, ScopedFd listener)
      : loop_(std::move(loop)), listener_(std::move(listener)) {}

  ~Worker() override {
    connections_.clear();
    loop_->RunPendingWork();
  }

  absl::Status Start() {
    if (absl::Status added = loop_->Add(listener_.get(), EPOLLIN, this); !added.ok()) {
      return added;
    }
    thread_ = std::thread([this] { loop_->Run(); });
    return absl::OkStatus();
  }

  // What this thread answered.
  const ThreadCounts& counts() const { return counts_; }
  ThreadCounts& mutable_counts() { return counts_; }

  void Stop() {
    loop_->Exit();
    if (thread_.joinable()) thread_.join();
  }

  void OnIoEvent(uint32_t) override {
    for (;;) {
      const int fd = AcceptNonBlocking(listener_.get());
      if (fd < 0) return;
      auto connection = std::make_unique<Connection>(*this, *loop_, ScopedFd(fd));
      Connection* raw = connection.get();
      connections_.emplace(raw, std::move(connection));
      if (!raw->Start()) Release(raw);
    }
  }

  // Hands a closed connection to the loop, to be deleted after this event.
  void Release(Connection* connection) {
    auto found = connections_.find(connection);
    if (found == connections_.end()) return;
    loop_->DeferDelete(std::move(found->second));
    connections_.erase(found);
  }

 private:
  std::unique_ptr<EventLoop> loop_;
  ScopedFd listener_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  ThreadCounts counts_;
  std::thread thread_;
};

Connection::Connection(Worker& worker, EventLoop& loop, ScopedFd fd)
    : worker_(worker), loop_(loop), fd_(std::move(fd)) {}

Connection::~Connection() {
  if (!closed_ && fd_.valid()) loop_.Remove(fd_.get());
  if (session_ != nullptr) nghttp2_session_del(session_);
}

bool Connection::Start() {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, OnDataChunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, OnFrameRecv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, OnStreamClose);
  const int rv = nghttp2_session_server_new(&session_, callbacks, this);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) return false;
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 2);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  if (!loop_.Add(fd_.get(), EPOLLIN, this).ok()) return false;
  loop_.ScheduleFlush(this);
  return true;
}

void Connection::OnIoEvent(uint32_t events) {
  if (closed_) return;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    uint8_t buffer[64 * 1024];
    for (;;) {
      const ssize_t n = read(fd_.get(), buffer, sizeof(buffer));
      if (n > 0) {
        if (nghttp2_session_mem_recv(session_, buffer, static_cast<size_t>(n)) < 0) {
          Close();
          return;
        }
        if (static_cast<size_t>(n) < sizeof(buffer)) break;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      Close();  // EOF or error
      return;
    }
  }
  loop_.ScheduleFlush(this);
}

void Connection::Flush() {
  if (closed_) return;
  for (;;) {
    if (pending_offset_ == pending_.size()) {
      pending_.clear();
      pending_offset_ = 0;
      // Gather frames up to a comfortable write size.
      while (pending_.size() < 256 * 1024) {
        const uint8_t* data = nullptr;
        const ssize_t n = nghttp2_session_mem_send(session_, &data);
        if (n < 0) {
          Close();
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
      Close();
      return;
    }
    pending_offset_ += static_cast<size_t>(n);
  }
  const bool blocked = pending_offset_ < pending_.size();
  if (blocked != want_out_) {
    want_out_ = blocked;
    (void)loop_.Modify(fd_.get(), blocked ? EPOLLIN | EPOLLOUT : EPOLLIN, this);
  }
  if (!blocked && nghttp2_session_want_read(session_) == 0 &&
      nghttp2_session_want_write(session_) == 0) {
    Close();
  }
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  loop_.Remove(fd_.get());
  fd_.reset();
  worker_.Release(this);
}

Stream* Connection::Find(int32_t stream_id) {
  auto found = streams_.find(stream_id);
  return found == streams_.end() ? nullptr : found->second.get();
}

int Connection::OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<Connection*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto stream = std::make_unique<Stream>();
  stream->id = frame->hd.stream_id;
  self->streams_.emplace(stream->id, std::move(stream));
  return 0;
}

int Connection::OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                         size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                         void* user) {
  auto* self = static_cast<Connection*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  Stream* stream = self->Find(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  const absl::string_view key(reinterpret_cast<const char*>(name), namelen);
  if (key != ":path") return 0;
  const absl::string_view path(reinterpret_cast<const char*>(value), valuelen);
  if (path == kUnaryPath) {
    stream->method = Stream::Method::kUnary;
  } else if (path == kBidiPath) {
    stream->method = Stream::Method::kBidi;
  }
  return 0;
}

int Connection::OnDataChunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                            size_t len, void* user) {
  auto* self = static_cast<Connection*>(user);
  Stream* stream = self->Find(stream_id);
  if (stream == nullptr || stream->done) return 0;
  stream->in.append(reinterpret_cast<const char*>(data), len);
  if (stream->method == Stream::Method::kBidi) self->Process(*stream, false);
  return 0;
}

int Connection::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<Connection*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  Stream* stream = self->Find(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  const bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (stream->method == Stream::Method::kUnknown) {
      self->Finish(*stream, kUnimplemented, "polymesh-echo-server serves Unary and BidiStream");
      return 0;
    }
    // A stream answers as it goes: headers now, a message per request.
    if (stream->method == Stream::Method::kBidi) self->Respond(*stream);
  }
  if (end && !stream->done) self->Process(*stream, true);
  return 0;
}

int Connection::OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t, void* user) {
  static_cast<Connection*>(user)->streams_.erase(stream_id);
  return 0;
}

void Connection::Process(Stream& stream, bool end_of_stream) {
  size_t at = 0;
  int messages = 0;
  while (!stream.done && stream.in.size() - at >= kGrpcPrefix) {
    const auto* p = reinterpret_cast<const uint8_t*>(stream.in.data() + at);
    const size_t size = (size_t{p[1]} << 24) | (size_t{p[2]} << 16) | (size_t{p[3]} << 8) | p[4];
    if (stream.in.size() - at - kGrpcPrefix < size) break;
    if (p[0] != 0) {
      Finish(stream, kUnimplemented, "compressed messages are not supported");
      break;
    }
    const char* body = stream.in.data() + at + kGrpcPrefix;
    at += kGrpcPrefix + size;
    ++messages;
    if (stream.method == Stream::Method::kUnary) {
      UnaryRequest request;
      if (messages > 1 || !request.ParseFromArray(body, static_cast<int>(size))) {
        Finish(stream, kInternal, "expected one UnaryRequest");
        break;
      }
      const Instruction& instruction = request.instruction();
      if (instruction.fail_code() != 0) {
        Finish(stream, instruction.fail_code(), instruction.fail_message());
        break;
      }
      UnaryResponse response;
      response.set_text(request.text());
      response.set_payload(AnswerPayload(instruction, request.payload()));
      AppendMessage(response, stream.out);
      ThreadCounts::Bump(worker_.mutable_counts().messages);
    } else {
      BidiStreamRequest request;
      if (!request.ParseFromArray(body, static_cast<int>(size))) {
        Finish(stream, kInternal, "cannot parse BidiStreamRequest");
        break;
      }
      const Instruction& instruction = request.instruction();
      if (instruction.fail_code() != 0) {
        Finish(stream, instruction.fail_code(), instruction.fail_message());
        break;
      }
      BidiStreamResponse response;
      response.set_text(request.text());
      response.set_payload(AnswerPayload(instruction, request.payload()));
      response.set_index(stream.index++);
      AppendMessage(response, stream.out);
      ThreadCounts::Bump(worker_.mutable_counts().messages);
      Resume(stream);
    }
  }
  stream.in.erase(0, at);
  if (stream.done || !end_of_stream) return;
  if (!stream.in.empty()) {
    Finish(stream, kInternal, "the request ends inside a message");
  } else if (stream.method == Stream::Method::kUnary && messages == 0) {
    Finish(stream, kInternal, "expected one UnaryRequest");
  } else {
    if (stream.method == Stream::Method::kUnary) Respond(stream);
    Finish(stream, 0);
  }
}

void Connection::Respond(Stream& stream) {
  if (stream.responded) return;
  stream.responded = true;
  const nghttp2_nv headers[] = {Header(":status", "200"),
                                Header("content-type", "application/grpc")};
  nghttp2_data_provider provider;
  provider.source.ptr = &stream;
  provider.read_callback = ReadBody;
  nghttp2_submit_response(session_, stream.id, headers, 2, &provider);
}

void Connection::Finish(Stream& stream, int status, std::string message) {
  if (stream.done) return;
  stream.done = true;
  if (stream.method != Stream::Method::kUnknown) {  // as gRPC C++ counts: served methods
    ThreadCounts::Bump(status == 0 ? worker_.mutable_counts().calls_ok
                                   : worker_.mutable_counts().calls_failed);
  }
  stream.status = status;
  stream.message = std::move(message);
  if (!stream.responded) {
    // Trailers-only: the status in the one HEADERS frame.
    stream.responded = true;
    const std::string code = absl::StrCat(status);
    const std::string text = PercentEncode(stream.message);
    const nghttp2_nv headers[] = {Header(":status", "200"),
                                  Header("content-type", "application/grpc"),
                                  Header("grpc-status", code), Header("grpc-message", text)};
    nghttp2_submit_response(session_, stream.id, headers, text.empty() ? 3 : 4, nullptr);
    return;
  }
  Resume(stream);
}

void Connection::Resume(Stream& stream) {
  if (!stream.deferred) return;
  stream.deferred = false;
  nghttp2_session_resume_data(session_, stream.id);
}

ssize_t Connection::ReadBody(nghttp2_session* session, int32_t stream_id, uint8_t* buf,
                             size_t length, uint32_t* data_flags, nghttp2_data_source* source,
                             void*) {
  auto* stream = static_cast<Stream*>(source->ptr);
  const size_t n = std::min(length, stream->out.size() - stream->out_offset);
  std::memcpy(buf, stream->out.data() + stream->out_offset, n);
  stream->out_offset += n;
  if (stream->out_offset == stream->out.size()) {
    stream->out.clear();
    stream->out_offset = 0;
    if (stream->done) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      const std::string code = absl::StrCat(stream->status);
      const std::string text = PercentEncode(stream->message);
      const nghttp2_nv trailers[] = {Header("grpc-status", code), Header("grpc-message", text)};
      nghttp2_submit_trailer(session, stream_id, trailers, text.empty() ? 1 : 2);
    } else if (n == 0) {
      stream->deferred = true;
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  return static_cast<ssize_t>(n);
}

class Nghttp2Echo final : public EchoEngine {
 public:
  int port() const override { return port_; }

  EchoCounts counts() const override {
    EchoCounts total;
    for (const auto& worker : workers_) worker->counts().AddTo(total);
    return total;
  }

  void Stop() override {
    for (auto& worker : workers_) worker->Stop();
    workers_.clear();
  }

  static absl::StatusOr<std::unique_ptr<EchoEngine>> Start(absl::string_view address,
                                                           uint16_t port, int threads) {
    auto echo = std::make_unique<Nghttp2Echo>();
    for (int i = 0; i < threads; ++i) {
      absl::StatusOr<ScopedFd> listener =
          ListenTcp(address, i == 0 ? port : static_cast<uint16_t>(echo->port_));
      if (!listener.ok()) return listener.status();
      if (i == 0) {
        absl::StatusOr<uint16_t> bound = LocalPort(listener->get());
        if (!bound.ok()) return bound.status();
        echo->port_ = *bound;
      }
      absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
      if (!loop.ok()) return loop.status();
      echo->workers_.push_back(std::make_unique<Worker>(std::move(*loop), std::move(*listener)));
    }
    for (auto& worker : echo->workers_) {
      if (absl::Status started = worker->Start(); !started.ok()) {
        echo->Stop();
        return started;
      }
    }
    return echo;
  }

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
  int port_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<EchoEngine>> StartNghttp2Echo(absl::string_view address,
                                                             uint16_t port, int threads) {
  return Nghttp2Echo::Start(address, port, threads);
}

}  // namespace polymesh::bench
