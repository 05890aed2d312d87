#include "load.h"

#include <nghttp2/nghttp2.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/grpc_status.h"
#include "common/grpc_timeout.h"
#include "schedule.h"
#include "transport/event_loop.h"
#include "transport/headers.h"
#include "transport/http2_connection.h"
#include "transport/socket.h"

namespace polymesh::cli {
namespace {

using ::polymesh::gateway::ConnectResult;
using ::polymesh::gateway::ConnectTcp;
using ::polymesh::gateway::EventLoop;
using ::polymesh::gateway::GrpcStatus;
using ::polymesh::gateway::GrpcStatusFromHttp2Error;
using ::polymesh::gateway::Http2Connection;
using ::polymesh::gateway::IoHandler;
using ::polymesh::gateway::MakeNv;
using ::polymesh::gateway::ScopedFd;
using ::polymesh::gateway::Timer;

constexpr int kOk = 0;
constexpr int kCancelled = static_cast<int>(GrpcStatus::kCancelled);
constexpr int kUnknown = static_cast<int>(GrpcStatus::kUnknown);
constexpr int kUnavailable = static_cast<int>(GrpcStatus::kUnavailable);
// Windows large enough that a benchmark never waits for WINDOW_UPDATE.
constexpr int32_t kLoadStreamWindow = 1 << 20;
constexpr int32_t kLoadConnectionWindow = 1 << 26;
constexpr size_t kGrpcPrefix = 5;
constexpr absl::Duration kConnectTimeout = absl::Seconds(5);
constexpr absl::Duration kReconnectDelay = absl::Milliseconds(100);
// How long calls in flight at the end of a run without deadlines may take.
constexpr absl::Duration kDrainWithoutDeadline = absl::Seconds(10);
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::string FrameMessage(const std::string& message) {
  std::string framed(kGrpcPrefix, '\0');
  const size_t size = message.size();
  for (int i = 0; i < 4; ++i) framed[1 + i] = static_cast<char>((size >> (24 - 8 * i)) & 0xff);
  return framed + message;
}

// A timer with nanosecond resolution (the event loop's own timers wake to
// the millisecond): a timerfd on the loop, armed to an absolute time of the
// monotonic clock.
class PreciseTimer final : public IoHandler {
 public:
  PreciseTimer(EventLoop& loop, std::function<void()> callback)
      : loop_(loop), callback_(std::move(callback)) {}
  ~PreciseTimer() override {
    if (fd_.valid()) loop_.Remove(fd_.get());
  }

  absl::Status Init() {
    fd_ = ScopedFd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!fd_.valid()) return absl::InternalError(absl::StrCat("timerfd: ", strerror(errno)));
    return loop_.Add(fd_.get(), EPOLLIN, this);
  }

  void ArmAt(int64_t when_ns) {
    itimerspec spec{};
    // 0 would disarm the timer: a time in the past fires at once.
    when_ns = std::max<int64_t>(when_ns, 1);
    spec.it_value.tv_sec = when_ns / 1000000000;
    spec.it_value.tv_nsec = when_ns % 1000000000;
    timerfd_settime(fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
  }

  void Disarm() {
    itimerspec spec{};
    timerfd_settime(fd_.get(), 0, &spec, nullptr);
  }

  void OnIoEvent(uint32_t) override {
    uint64_t expirations = 0;
    if (read(fd_.get(), &expirations, sizeof(expirations)) != sizeof(expirations)) return;
    callback_();
  }

 private:
  EventLoop& loop_;
  std::function<void()> callback_;
  ScopedFd fd_;
};

// One call waiting to be sent, and when it was meant to be.
struct QueuedCall {
  // Open loop: the intended send time; closed loop: 0 (timed from the send).
  int64_t intended_ns = 0;
  // Whether it counts (open loop: decided by its intended time).
  bool measured = false;
};

// What one thread counted; read by the progress reporter under `mutex`.
struct WorkerStats {
  std::mutex mutex;
  LoadResult result;
  int64_t last_end_ns = 0;  // end of the last measured call
};

class LoadWorker;

// One call on a connection.
struct LoadCall {
  int32_t stream_id = 0;
  int64_t timed_from_ns = 0;   // intended or actual send time
  int64_t message_sent_ns = 0;  // bidi: when the request now awaited went out
  bool measured = false;
  int messages_total = 1;       // requests to send
  int messages_sent = 0;
  int messages_received = 0;
  size_t out_offset = 0;        // into the framed request
  std::string request;          // this call's framed request (--unique only)
  bool deferred = false;        // the data provider waits for a response
  // Response framing: bytes of the current prefix seen, and body bytes left.
  int prefix_seen = 0;
  uint32_t body_left = 0;
  uint8_t prefix[kGrpcPrefix] = {0, 0, 0, 0, 0};
  int grpc_status = -1;
  int http_status = 0;
  std::string grpc_message;
};

// One HTTP/2 client connection of a worker.
class LoadConnection final : public Http2Connection {
 public:
  LoadConnection(LoadWorker& worker, EventLoop& loop, ScopedFd fd);
  ~LoadConnection() override = default;

  // Registers the socket; the connection reports to the worker when it is
  // ready or has failed.
  void Start();
  // Whether it can take a new call.
  bool ready() const { return connected_ && !closed() && !going_away_; }
  // Calls in flight.
  size_t in_flight() const { return calls_.size(); }
  // Whether the TCP connection was made.
  bool connected() const { return connected_; }
  // Sends a call; false when the session refused a new stream.
  bool StartCall(const QueuedCall& queued, int64_t now_ns);
  // Ends every call in flight as CANCELLED (end of the run's grace time).
  void AbandonCalls();

  void OnIoEvent(uint32_t events) override;

 protected:
  void Closed(absl::string_view reason) override;

 private:
  void OnConnected();
  void EndCall(LoadCall& call, int status, absl::string_view message);
  void OnResponseMessage(LoadCall& call);

  static ssize_t ReadBody(nghttp2_session* session, int32_t stream_id, uint8_t* buf,
                          size_t length, uint32_t* data_flags, nghttp2_data_source* source,
                          void* user);
  static int OnHeader(nghttp2_session* session, const nghttp2_frame* frame,
                      const uint8_t* name, size_t namelen, const uint8_t* value,
                      size_t valuelen, uint8_t flags, void* user);
  static int OnData(nghttp2_session* session, uint8_t flags, int32_t stream_id,
                    const uint8_t* data, size_t len, void* user);
  static int OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* user);
  static int OnStreamClose(nghttp2_session* session, int32_t stream_id, uint32_t error_code,
                           void* user);

  LoadWorker& worker_;
  Timer connect_timer_;
  bool connected_ = false;
  bool going_away_ = false;
  std::unordered_map<int32_t, std::unique_ptr<LoadCall>> calls_;
};

// The run's settings every thread shares, read-only once threads start.
struct SharedRun {
  const LoadSpec* spec = nullptr;
  std::string framed_request;
  // Where the unique marker is in framed_request (empty: no marker).
  std::vector<size_t> unique_offsets;
  std::atomic<uint64_t> unique_next{0};
  std::vector<std::string> header_storage;  // names and values the nv array points to
  std::vector<nghttp2_nv> headers;
  bool open_loop = false;
  // Closed loop bounded by calls: measured calls still to start.
  std::atomic<int64_t> calls_left{0};
  // Set by the main thread before Begin().
  int64_t start_ns = 0;
  int64_t measure_start_ns = 0;
  int64_t measure_end_ns = kNever;
  // Open loop: the run index of the first measured call.
  uint64_t first_measured = 0;
};

// One thread: an event loop, its connections, its share of the load.
class LoadWorker {
 public:
  LoadWorker(SharedRun& run, int index, int threads, std::unique_ptr<EventLoop> loop)
      : run_(run),
        index_(index),
        threads_(threads),
        loop_(std::move(loop)),
        tick_(*loop_, [this] { OnTick(); }),
        end_timer_(*loop_, [this] { StopSending(); }),
        grace_timer_(*loop_, [this] { GiveUp(); }),
        reconnect_timer_(*loop_, [this] { Reconnect(); }) {}

  EventLoop& loop() { return *loop_; }
  WorkerStats& stats() { return stats_; }
  const SharedRun& run() const { return run_; }
  // The next value of the unique-marker counter (shared by every thread).
  uint64_t NextUniqueCounter() {
    return run_.unique_next.fetch_add(1, std::memory_order_relaxed);
  }

  // Connects `count` connections (on the loop thread); reports to `report`
  // when each is made or failed.
  void Connect(int count, std::function<void(absl::Status)> report) {
    connect_report_ = std::move(report);
    if (absl::Status status = tick_.Init(); !status.ok()) {
      for (int i = 0; i < count; ++i) connect_report_(status);
      return;
    }
    for (int i = 0; i < count; ++i) connections_.push_back(NewConnection());
  }

  // Starts the load (on the loop thread), with this thread's share of the
  // closed loop's concurrency.
  void Begin(int concurrency) {
    // Timers wake as close to their time as the kernel can.
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    began_ = true;
    if (run_.open_loop) {
      // The schedule itself ends the open loop: no end timer, so that no
      // call due before the end is dropped by a late tick.
      const LoadSpec& spec = *run_.spec;
      schedule_.emplace(spec.rate, run_.start_ns, static_cast<uint64_t>(threads_),
                        static_cast<uint64_t>(index_));
      end_index_ = std::numeric_limits<uint64_t>::max();
      if (spec.calls > 0) {
        end_index_ = schedule_->FirstAtOrAfter(run_.first_measured + spec.calls);
      }
      if (run_.measure_end_ns != kNever) {
        end_index_ = std::min(end_index_, schedule_->DueBy(run_.measure_end_ns - 1));
      }
      OnTick();
      return;
    }
    if (run_.measure_end_ns != kNever) {
      end_timer_.Enable(absl::Nanoseconds(run_.measure_end_ns - NowNs()));
    }
    for (int i = 0; i < concurrency; ++i) queue_.push_back(QueuedCall{});
    Dispatch();
  }

  // A connection made its TCP connection (or failed to).
  void ConnectionReady(LoadConnection* connection) {
    if (connect_report_) connect_report_(absl::OkStatus());
    (void)connection;
    Dispatch();
  }

  void ConnectionClosed(LoadConnection* connection, absl::string_view reason) {
    if (!connection->connected() && !began_) {
      if (connect_report_) connect_report_(absl::UnavailableError(reason));
      return;
    }
    if (finished_) return;
    if (began_) {
      std::lock_guard<std::mutex> lock(stats_.mutex);
      ++stats_.result.connections_lost;
    }
    reconnect_timer_.Enable(connection->connected() ? absl::ZeroDuration() : kReconnectDelay);
  }

  // A call ended (already counted); the closed loop sends the next.
  void CallEnded() {
    if (!run_.open_loop && !stopping_) queue_.push_back(QueuedCall{});
    Dispatch();
  }

  // Counts an ended call.
  void Count(const LoadCall& call, int status, absl::string_view message, int64_t now_ns) {
    if (!call.measured) return;
    std::lock_guard<std::mutex> lock(stats_.mutex);
    LoadResult& result = stats_.result;
    ++result.calls;
    if (status == kOk) {
      ++result.ok;
    } else {
      ++result.errors_by_code[status];
      if (!result.error_samples.contains(status)) {
        result.error_samples[status] = std::string(message);
      }
    }
    result.messages_sent += static_cast<uint64_t>(call.messages_sent);
    result.messages_received += static_cast<uint64_t>(call.messages_received);
    result.latency_ns.Record(static_cast<uint64_t>(std::max<int64_t>(0, now_ns - call.timed_from_ns)));
    stats_.last_end_ns = std::max(stats_.last_end_ns, now_ns);
  }

  // Counts the round trip of one bidi message.
  void CountMessage(const LoadCall& call, int64_t now_ns) {
    if (!call.measured) return;
    std::lock_guard<std::mutex> lock(stats_.mutex);
    stats_.result.message_latency_ns.Record(
        static_cast<uint64_t>(std::max<int64_t>(0, now_ns - call.message_sent_ns)));
  }

 private:
  std::unique_ptr<LoadConnection> NewConnection() {
    const LoadSpec& spec = *run_.spec;
    absl::StatusOr<ScopedFd> fd = ConnectTcp(spec.target.host, spec.target.port);
    auto connection =
        std::make_unique<LoadConnection>(*this, *loop_, fd.ok() ? *std::move(fd) : ScopedFd());
    if (!fd.ok()) {
      connection->Close(fd.status().message());
    } else {
      connection->Start();
    }
    return connection;
  }

  void Reconnect() {
    if (finished_) return;
    for (auto& connection : connections_) {
      if (!connection->closed()) continue;
      // Closed connections have no calls left; the loop deletes them once
      // no callback of theirs is on the stack.
      loop_->DeferDelete(std::move(connection));
      connection = NewConnection();
    }
  }

  // Open loop: queues the calls that are due, then sleeps until the next.
  void OnTick() {
    if (stopping_ || !schedule_) return;
    const int64_t now = NowNs();
    const uint64_t due = std::min(schedule_->DueBy(now), end_index_);
    for (; next_index_ < due; ++next_index_) {
      QueuedCall call;
      call.intended_ns = schedule_->IntendedNs(next_index_);
      call.measured = schedule_->Global(next_index_) >= run_.first_measured;
      queue_.push_back(call);
    }
    Dispatch();
    if (next_index_ >= end_index_) {
      StopSending();
      return;
    }
    tick_.ArmAt(schedule_->IntendedNs(next_index_));
  }

  // Sends queued calls on the least busy ready connections.
  void Dispatch() {
    while (!queue_.empty()) {
      LoadConnection* best = nullptr;
      for (auto& connection : connections_) {
        if (connection->ready() && (best == nullptr || connection->in_flight() < best->in_flight())) {
          best = connection.get();
        }
      }
      if (best == nullptr) break;
      QueuedCall call = queue_.front();
      const int64_t now = NowNs();
      if (!run_.open_loop) {
        call.measured = now >= run_.measure_start_ns;
        if (call.measured && run_.spec->calls > 0 && run_.calls_left.fetch_sub(1) <= 0) {
          StopSending();
          return;
        }
      }
      if (!best->StartCall(call, now)) {
        // That connection is going away now: the call goes on another.
        if (!run_.open_loop && call.measured && run_.spec->calls > 0) ++run_.calls_left;
        continue;
      }
      queue_.pop_front();
    }
    MaybeFinish();
  }

  // No more calls are started; those in flight get the grace time.
  void StopSending() {
    if (stopping_) return;
    stopping_ = true;
    tick_.Disarm();
    if (!run_.open_loop) queue_.clear();
    const absl::Duration deadline = run_.spec->deadline;
    grace_timer_.Enable(deadline > absl::ZeroDuration() ? deadline + absl::Seconds(1)
                                                        : kDrainWithoutDeadline);
    MaybeFinish();
  }

  // The grace time is over: what is left is cancelled.
  void GiveUp() {
    const int64_t now = NowNs();
    for (const QueuedCall& queued : queue_) {
      LoadCall call;
      call.measured = queued.measured;
      call.timed_from_ns = queued.intended_ns;
      Count(call, kCancelled, "not sent before the end of the run", now);
    }
    queue_.clear();
    for (auto& connection : connections_) connection->AbandonCalls();
    Finish();
  }

  void MaybeFinish() {
    if (!stopping_ || finished_ || !queue_.empty()) return;
    for (auto& connection : connections_) {
      if (connection->in_flight() > 0) return;
    }
    Finish();
  }

  void Finish() {
    if (finished_) return;
    finished_ = true;
    grace_timer_.Disable();
    end_timer_.Disable();
    reconnect_timer_.Disable();
    for (auto& connection : connections_) connection->Close("the run is over");
    loop_->Exit();
  }

  SharedRun& run_;
  const int index_;
  const int threads_;
  std::unique_ptr<EventLoop> loop_;
  PreciseTimer tick_;
  Timer end_timer_;
  Timer grace_timer_;
  Timer reconnect_timer_;
  std::function<void(absl::Status)> connect_report_;
  std::vector<std::unique_ptr<LoadConnection>> connections_;
  std::deque<QueuedCall> queue_;
  std::optional<OpenLoopSchedule> schedule_;
  uint64_t next_index_ = 0;
  uint64_t end_index_ = 0;
  bool began_ = false;
  bool stopping_ = false;
  bool finished_ = false;
  WorkerStats stats_;
};

LoadConnection::LoadConnection(LoadWorker& worker, EventLoop& loop, ScopedFd fd)
    : Http2Connection(loop, std::move(fd)),
      worker_(worker),
      connect_timer_(loop, [this] {
        Close(absl::StrCat("connect timeout after ", absl::FormatDuration(kConnectTimeout)));
      }) {}

void LoadConnection::Start() {
  if (absl::Status started = StartIo(/*want_write=*/true); !started.ok()) {
    Close(started.message());
    return;
  }
  connect_timer_.Enable(kConnectTimeout);
}

void LoadConnection::OnIoEvent(uint32_t events) {
  if (closed()) return;
  if (!connected_) {
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    if (absl::Status result = ConnectResult(fd()); !result.ok()) {
      const std::string spec_target = worker_.run().spec->target.authority;
      Close(absl::StrCat("cannot connect to ", spec_target, ": ",
                         absl::AsciiStrToLower(result.message())));
      return;
    }
    OnConnected();
    return;
  }
  Http2Connection::OnIoEvent(events);
}

void LoadConnection::OnConnected() {
  connected_ = true;
  connect_timer_.Disable();
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, OnData);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, OnFrameRecv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, OnStreamClose);
  nghttp2_session_client_new(&session_, callbacks, this);
  nghttp2_session_callbacks_del(callbacks);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kLoadStreamWindow},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 2);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kLoadConnectionWindow);
  ScheduleFlush();
  worker_.ConnectionReady(this);
}

bool LoadConnection::StartCall(const QueuedCall& queued, int64_t now_ns) {
  const SharedRun& run = worker_.run();
  auto call = std::make_unique<LoadCall>();
  call->measured = queued.measured;
  call->timed_from_ns = queued.intended_ns != 0 ? queued.intended_ns : now_ns;
  call->message_sent_ns = now_ns;
  const CallKind kind = run.spec->kind;
  call->messages_total = kind == CallKind::kClientStreaming || kind == CallKind::kBidiStreaming
                             ? run.spec->stream_messages
                             : 1;
  if (!run.unique_offsets.empty()) {
    call->request = run.framed_request;
    WriteUniqueCounter(call->request, run.unique_offsets, run.spec->unique_marker.size(),
                       worker_.NextUniqueCounter());
  }
  nghttp2_data_provider provider{};
  provider.source.ptr = call.get();
  provider.read_callback = ReadBody;
  const int32_t id = nghttp2_submit_request(session_, nullptr, run.headers.data(),
                                            run.headers.size(), &provider, call.get());
  if (id < 0) {
    going_away_ = true;  // stream ids used up: this connection takes no more
    return false;
  }
  call->stream_id = id;
  calls_.emplace(id, std::move(call));
  ScheduleFlush();
  return true;
}

void LoadConnection::AbandonCalls() {
  const int64_t now = NowNs();
  for (auto& [id, call] : calls_) {
    worker_.Count(*call, kCancelled, "still in flight at the end of the run", now);
    if (!closed()) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  }
  calls_.clear();
}

void LoadConnection::Closed(absl::string_view reason) {
  const int64_t now = NowNs();
  auto calls = std::move(calls_);
  calls_.clear();
  for (auto& [id, call] : calls) worker_.Count(*call, kUnavailable, reason, now);
  worker_.ConnectionClosed(this, reason);
  for (size_t i = 0; i < calls.size(); ++i) worker_.CallEnded();
}

void LoadConnection::EndCall(LoadCall& call, int status, absl::string_view message) {
  worker_.Count(call, status, message, NowNs());
  calls_.erase(call.stream_id);  // deletes `call`
  worker_.CallEnded();
}

void LoadConnection::OnResponseMessage(LoadCall& call) {
  ++call.messages_received;
  if (worker_.run().spec->kind != CallKind::kBidiStreaming) return;
  const int64_t now = NowNs();
  worker_.CountMessage(call, now);
  // Ping-pong: the next request goes out now.
  call.message_sent_ns = now;
  if (call.deferred && call.messages_sent < call.messages_total) {
    call.deferred = false;
    nghttp2_session_resume_data(session_, call.stream_id);
  }
}

ssize_t LoadConnection::ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                                 uint32_t* data_flags, nghttp2_data_source* source,
                                 void* user) {
  auto* self = static_cast<LoadConnection*>(user);
  auto* call = static_cast<LoadCall*>(source->ptr);
  const std::string& request =
      call->request.empty() ? self->worker_.run().framed_request : call->request;
  const bool bidi = self->worker_.run().spec->kind == CallKind::kBidiStreaming;
  // Bidi streams send a request only once the previous one was answered.
  const int may_send = bidi ? std::min(call->messages_total, call->messages_received + 1)
                            : call->messages_total;
  if (call->messages_sent >= may_send) {
    call->deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  const size_t n = std::min(length, request.size() - call->out_offset);
  std::memcpy(buf, request.data() + call->out_offset, n);
  call->out_offset += n;
  if (call->out_offset == request.size()) {
    call->out_offset = 0;
    ++call->messages_sent;
    // The last request half-closes the stream.
    if (call->messages_sent == call->messages_total) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return static_cast<ssize_t>(n);
}

int LoadConnection::OnHeader(nghttp2_session* session, const nghttp2_frame* frame,
                             const uint8_t* name, size_t namelen, const uint8_t* value,
                             size_t valuelen, uint8_t, void*) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  auto* call =
      static_cast<LoadCall*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (call == nullptr) return 0;
  const absl::string_view key(reinterpret_cast<const char*>(name), namelen);
  const absl::string_view text(reinterpret_cast<const char*>(value), valuelen);
  if (key == "grpc-status") {
    if (!absl::SimpleAtoi(text, &call->grpc_status)) call->grpc_status = kUnknown;
  } else if (key == ":status") {
    (void)absl::SimpleAtoi(text, &call->http_status);
  } else if (key == "grpc-message") {
    call->grpc_message = std::string(text);
  }
  return 0;
}

int LoadConnection::OnData(nghttp2_session* session, uint8_t, int32_t stream_id,
                           const uint8_t* data, size_t len, void* user) {
  auto* self = static_cast<LoadConnection*>(user);
  auto* call = static_cast<LoadCall*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (call == nullptr) return 0;
  // Counts whole messages: a 5-byte prefix, then its body, skipped.
  while (len > 0) {
    if (call->body_left > 0) {
      const size_t skip = std::min<size_t>(len, call->body_left);
      call->body_left -= static_cast<uint32_t>(skip);
      data += skip;
      len -= skip;
      if (call->body_left == 0) self->OnResponseMessage(*call);
      continue;
    }
    call->prefix[call->prefix_seen++] = *data++;
    --len;
    if (call->prefix_seen < static_cast<int>(kGrpcPrefix)) continue;
    call->prefix_seen = 0;
    call->body_left = (uint32_t{call->prefix[1]} << 24) | (uint32_t{call->prefix[2]} << 16) |
                      (uint32_t{call->prefix[3]} << 8) | uint32_t{call->prefix[4]};
    if (call->body_left == 0) self->OnResponseMessage(*call);
  }
  return 0;
}

int LoadConnection::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  if (frame->hd.type == NGHTTP2_GOAWAY) static_cast<LoadConnection*>(user)->going_away_ = true;
  return 0;
}

int LoadConnection::OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                                  void* user) {
  auto* self = static_cast<LoadConnection*>(user);
  auto found = self->calls_.find(stream_id);
  if (found == self->calls_.end()) return 0;
  LoadCall& call = *found->second;
  if (call.grpc_status >= 0) {
    self->EndCall(call, call.grpc_status, call.grpc_message);
  } else if (error_code != NGHTTP2_NO_ERROR) {
    self->EndCall(call, static_cast<int>(GrpcStatusFromHttp2Error(error_code)),
                  absl::StrCat("stream reset: ", nghttp2_http2_strerror(error_code)));
  } else if (call.http_status != 200) {
    self->EndCall(call, GrpcStatusFromHttpStatus(call.http_status),
                  absl::StrCat("HTTP status ", call.http_status));
  } else {
    self->EndCall(call, kUnknown, "the response has no grpc-status");
  }
  return 0;
}

void BuildHeaders(const LoadSpec& spec, SharedRun& run) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {":method", "POST"},
      {":scheme", "http"},
      {":path", spec.path},
      {":authority", spec.target.authority},
      {"content-type", "application/grpc"},
      {"te", "trailers"},
      {"user-agent", spec.user_agent},
  };
  if (spec.deadline > absl::ZeroDuration()) {
    fields.emplace_back("grpc-timeout", gateway::FormatGrpcTimeout(spec.deadline));
  }
  for (const MetadataEntry& entry : spec.metadata) fields.emplace_back(entry.key, entry.value);
  run.header_storage.reserve(fields.size() * 2);
  for (auto& [name, value] : fields) {
    run.header_storage.push_back(std::move(name));
    run.header_storage.push_back(std::move(value));
  }
  for (size_t i = 0; i < run.header_storage.size(); i += 2) {
    run.headers.push_back(MakeNv(run.header_storage[i], run.header_storage[i + 1]));
  }
}

}  // namespace

const char* CallKindName(CallKind kind) {
  switch (kind) {
    case CallKind::kUnary:
      return "unary";
    case CallKind::kClientStreaming:
      return "client_streaming";
    case CallKind::kServerStreaming:
      return "server_streaming";
    case CallKind::kBidiStreaming:
      return "bidi_streaming";
  }
  return "unary";
}

int GrpcStatusFromHttpStatus(int http_status) {
  switch (http_status) {
    case 400:
      return static_cast<int>(GrpcStatus::kInternal);
    case 401:
      return static_cast<int>(GrpcStatus::kUnauthenticated);
    case 403:
      return static_cast<int>(GrpcStatus::kPermissionDenied);
    case 404:
      return static_cast<int>(GrpcStatus::kUnimplemented);
    case 429:
    case 502:
    case 503:
    case 504:
      return kUnavailable;
    default:
      return kUnknown;
  }
}

absl::StatusOr<std::vector<size_t>> FindUniqueMarker(absl::string_view message,
                                                     absl::string_view marker) {
  constexpr size_t kMaxDigits = 19;  // what a uint64_t always holds
  if (marker.empty() || marker.size() > kMaxDigits) {
    return absl::InvalidArgumentError(
        absl::StrCat("--unique: the marker must have 1 to ", kMaxDigits, " characters"));
  }
  std::vector<size_t> offsets;
  for (size_t at = message.find(marker); at != absl::string_view::npos;
       at = message.find(marker, at + marker.size())) {
    offsets.push_back(at);
  }
  if (offsets.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--unique: \"", marker, "\" does not occur in the request"));
  }
  return offsets;
}

void WriteUniqueCounter(std::string& message, const std::vector<size_t>& offsets, size_t width,
                        uint64_t counter) {
  char digits[20];
  for (size_t i = width; i > 0; --i) {
    digits[i - 1] = static_cast<char>('0' + counter % 10);
    counter /= 10;
  }
  for (size_t offset : offsets) message.replace(offset, width, digits, width);
}

absl::StatusOr<LoadResult> RunLoad(const LoadSpec& spec,
                                   const std::function<void(const LoadProgress&)>& progress) {
  if (spec.duration <= absl::ZeroDuration() && spec.calls == 0) {
    return absl::InvalidArgumentError("a run needs a duration or a number of calls");
  }
  if (spec.connections < 1 || spec.threads < 1 || spec.stream_messages < 1 ||
      (spec.rate <= 0 && spec.concurrency < 1)) {
    return absl::InvalidArgumentError(
        "connections, threads, stream messages and concurrency must be at least 1");
  }
  SharedRun run;
  run.spec = &spec;
  run.framed_request = FrameMessage(spec.request);
  if (!spec.unique_marker.empty()) {
    absl::StatusOr<std::vector<size_t>> offsets =
        FindUniqueMarker(spec.request, spec.unique_marker);
    if (!offsets.ok()) return offsets.status();
    const size_t prefix = run.framed_request.size() - spec.request.size();
    for (size_t& offset : *offsets) offset += prefix;
    run.unique_offsets = *std::move(offsets);
    run.unique_next = spec.unique_first;
  }
  run.open_loop = spec.rate > 0;
  BuildHeaders(spec, run);
  run.calls_left = static_cast<int64_t>(spec.calls);
  const int threads = std::min(spec.threads, spec.connections);

  // Threads and their connections; every connection made before any load.
  std::vector<std::unique_ptr<LoadWorker>> workers;
  for (int i = 0; i < threads; ++i) {
    absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
    if (!loop.ok()) return loop.status();
    workers.push_back(std::make_unique<LoadWorker>(run, i, threads, *std::move(loop)));
  }
  absl::Mutex connect_mutex;
  int connect_reports = 0;
  absl::Status connect_status;
  std::vector<std::thread> loop_threads;
  for (int i = 0; i < threads; ++i) {
    const int count = spec.connections / threads + (i < spec.connections % threads ? 1 : 0);
    LoadWorker* worker = workers[static_cast<size_t>(i)].get();
    worker->loop().Post([worker, count, &connect_mutex, &connect_reports, &connect_status] {
      worker->Connect(count, [&](absl::Status status) {
        absl::MutexLock lock(&connect_mutex);
        ++connect_reports;
        if (!status.ok() && connect_status.ok()) connect_status = status;
      });
    });
    loop_threads.emplace_back([worker] { worker->loop().Run(); });
  }
  auto stop_all = [&] {
    for (auto& worker : workers) worker->loop().Exit();
    for (std::thread& thread : loop_threads) thread.join();
  };
  absl::Status connected;
  {
    absl::MutexLock lock(&connect_mutex);
    const auto all_reported = [&] { return connect_reports >= spec.connections; };
    connect_mutex.AwaitWithTimeout(absl::Condition(&all_reported),
                                   kConnectTimeout + absl::Seconds(1));
    if (!connect_status.ok()) {
      connected = connect_status;
    } else if (connect_reports < spec.connections) {
      connected = absl::UnavailableError(
          absl::StrCat("cannot connect to ", spec.target.authority, " in time"));
    }
  }
  if (!connected.ok()) {
    stop_all();
    return connected;
  }

  // The clock starts once every connection is up.
  run.start_ns = NowNs();
  run.measure_start_ns = run.start_ns + absl::ToInt64Nanoseconds(spec.warmup);
  if (spec.duration > absl::ZeroDuration()) {
    run.measure_end_ns = run.measure_start_ns + absl::ToInt64Nanoseconds(spec.duration);
  }
  if (run.open_loop) {
    // The first call of the run intended at or after the end of the warmup.
    const OpenLoopSchedule whole(spec.rate, run.start_ns);
    run.first_measured = whole.DueBy(run.measure_start_ns - 1);
  }
  absl::Notification done;
  for (int i = 0; i < threads; ++i) {
    const int concurrency = spec.concurrency / threads + (i < spec.concurrency % threads ? 1 : 0);
    LoadWorker* worker = workers[static_cast<size_t>(i)].get();
    worker->loop().Post([worker, concurrency] { worker->Begin(concurrency); });
  }
  // Each loop thread ends once its load has ended; join them as they do.
  std::thread joiner([&] {
    for (std::thread& thread : loop_threads) thread.join();
    done.Notify();
  });

  const auto snapshot = [&](LoadProgress& p) {
    LatencyHistogram latency;
    for (auto& worker : workers) {
      std::lock_guard<std::mutex> lock(worker->stats().mutex);
      const LoadResult& r = worker->stats().result;
      p.calls += r.calls;
      p.errors += r.calls - r.ok;
      latency.Merge(r.latency_ns);
    }
    p.p99_ns = latency.ValueAtPercentile(99);
  };
  for (int second = 1; !done.WaitForNotificationWithTimeout(absl::Nanoseconds(
           run.start_ns + int64_t{second} * 1000000000 - NowNs()));
       ++second) {
    if (!progress) continue;
    LoadProgress p;
    const int64_t now = NowNs();
    p.elapsed_s = static_cast<double>(now - run.start_ns) / 1e9;
    p.warmup = now < run.measure_start_ns;
    snapshot(p);
    progress(p);
  }
  joiner.join();

  LoadResult total;
  int64_t last_end_ns = run.measure_start_ns;
  for (auto& worker : workers) {
    std::lock_guard<std::mutex> lock(worker->stats().mutex);
    const LoadResult& r = worker->stats().result;
    total.calls += r.calls;
    total.ok += r.ok;
    for (const auto& [code, count] : r.errors_by_code) total.errors_by_code[code] += count;
    for (const auto& [code, message] : r.error_samples) total.error_samples.emplace(code, message);
    total.messages_sent += r.messages_sent;
    total.messages_received += r.messages_received;
    total.latency_ns.Merge(r.latency_ns);
    total.message_latency_ns.Merge(r.message_latency_ns);
    total.connections_lost += r.connections_lost;
    last_end_ns = std::max(last_end_ns, worker->stats().last_end_ns);
  }
  total.duration_s = static_cast<double>(last_end_ns - run.measure_start_ns) / 1e9;
  if (!run.unique_offsets.empty()) total.unique_next = run.unique_next.load();
  // Connections and their loops go before the shared run they point to.
  for (auto& worker : workers) worker->loop().RunPendingWork();
  workers.clear();
  return total;
}

}  // namespace polymesh::cli
