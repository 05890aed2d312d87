#include "upstream/upstream_connection.h"

#include <sys/epoll.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/grpc_status.h"

namespace polymesh::gateway {
namespace {

constexpr GrpcStatus kUnknownStatus = GrpcStatus::kUnknown;

UpstreamConnection* Self(void* user_data) {
  return static_cast<UpstreamConnection*>(user_data);
}

}  // namespace

std::unique_ptr<UpstreamConnection> UpstreamConnection::Connect(
    EventLoop& loop, const UpstreamEndpoint& endpoint, UpstreamConnectionListener* listener) {
  absl::StatusOr<ScopedFd> fd = ConnectTcp(endpoint.address, endpoint.port);
  std::unique_ptr<UpstreamConnection> connection(new UpstreamConnection(
      loop, fd.ok() ? std::move(*fd) : ScopedFd(), endpoint, listener));
  if (!fd.ok()) {
    connection->Close(absl::AsciiStrToLower(fd.status().message()));
    return connection;
  }
  absl::Status started = connection->StartIo(/*want_write=*/true);
  if (!started.ok()) {
    connection->Close(started.message());
    return connection;
  }
  connection->connect_timer_.Enable(endpoint.connect_timeout);
  return connection;
}

std::unique_ptr<UpstreamConnection> UpstreamConnection::Failed(EventLoop& loop,
                                                               const UpstreamEndpoint& endpoint,
                                                               absl::string_view reason) {
  std::unique_ptr<UpstreamConnection> connection(
      new UpstreamConnection(loop, ScopedFd(), endpoint, nullptr));
  connection->Close(reason);
  return connection;
}

UpstreamConnection::UpstreamConnection(EventLoop& loop, ScopedFd fd,
                                       const UpstreamEndpoint& endpoint,
                                       UpstreamConnectionListener* listener)
    : Http2Connection(loop, std::move(fd)),
      endpoint_(endpoint),
      description_(absl::StrCat(
          "cluster \"", endpoint.cluster, "\" endpoint ", endpoint.host, ":", endpoint.port,
          endpoint.host == endpoint.address ? "" : absl::StrCat(" (", endpoint.address, ")"))),
      listener_(listener),
      connect_timer_(loop, [this] {
        Close(absl::StrCat("connect timeout after ",
                           absl::FormatDuration(endpoint_.connect_timeout)));
      }) {}

UpstreamConnection::~UpstreamConnection() = default;

void UpstreamConnection::OnIoEvent(uint32_t events) {
  if (closed()) return;
  if (connecting_ && !tcp_connected_) {
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    absl::Status result = ConnectResult(fd());
    if (!result.ok()) {
      Close(absl::AsciiStrToLower(result.message()));
      return;
    }
    tcp_connected_ = true;
    if (endpoint_.tls == nullptr) {
      OnConnected();
      return;
    }
    // The handshake runs within the connect timeout; HandshakeDone()
    // finishes connecting. A failed one closes the connection, refusing
    // the calls that wait for it.
    absl::Status tls =
        StartTls(*endpoint_.tls->context, &endpoint_.tls->ServerNameFor(endpoint_.host));
    if (!tls.ok() && !closed()) Close(tls.message());
    return;
  }
  Http2Connection::OnIoEvent(events);
}

void UpstreamConnection::HandshakeDone() { OnConnected(); }

uint32_t UpstreamConnection::max_concurrent_streams() const {
  if (session_ == nullptr) return UINT32_MAX;
  return nghttp2_session_get_remote_settings(session_,
                                             NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

void UpstreamConnection::SyncStreams() {
  const size_t now = active_streams();
  if (now == reported_streams_) return;
  const int64_t delta = static_cast<int64_t>(now) - static_cast<int64_t>(reported_streams_);
  reported_streams_ = now;
  if (listener_ != nullptr) listener_->OnStreamsChanged(*this, delta);
}

void UpstreamConnection::OnConnected() {
  connecting_ = false;
  connected_ = true;
  connect_timer_.Disable();
  if (listener_ != nullptr) listener_->OnConnected(*this);
  nghttp2_option* option;
  nghttp2_option_new(&option);
  nghttp2_option_set_no_auto_window_update(option, 1);
  // Stream and frame objects come from the worker's block pool.
  nghttp2_session_client_new3(&session_, Callbacks(), this, option, PoolNghttp2Mem());
  nghttp2_option_del(option);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 2);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  std::vector<UpstreamStreamCallbacks*> ready;
  ready.swap(pending_);
  for (UpstreamStreamCallbacks* callbacks : ready) callbacks->OnUpstreamReady();
  SyncStreams();
  ScheduleFlush();
}

void UpstreamConnection::Attach(UpstreamStreamCallbacks* callbacks) {
  if (closed()) {
    callbacks->OnUpstreamFailure(absl::StrCat(description_, ": ", failure_),
                                 /*refused=*/true);
  } else if (goaway_received_) {
    callbacks->OnUpstreamFailure(absl::StrCat(description_, ": connection is going away"),
                                 /*refused=*/true);
  } else if (connecting_) {
    pending_.push_back(callbacks);
    SyncStreams();
  } else {
    callbacks->OnUpstreamReady();
  }
}

void UpstreamConnection::Detach(UpstreamStreamCallbacks* callbacks) {
  pending_.erase(std::remove(pending_.begin(), pending_.end(), callbacks),
                 pending_.end());
  SyncStreams();
}

absl::StatusOr<int32_t> UpstreamConnection::Submit(
    const NvArray& headers, bool has_body,
    UpstreamStreamCallbacks* callbacks) {
  if (!usable() || connecting_) {
    return absl::UnavailableError(absl::StrCat(description_, ": connection not usable"));
  }
  nghttp2_data_provider provider{};
  provider.read_callback = &UpstreamConnection::ReadData;
  const int32_t stream_id =
      nghttp2_submit_request(session_, nullptr, headers.data(), headers.size(),
                             has_body ? &provider : nullptr, nullptr);
  if (stream_id < 0) {
    return absl::UnavailableError(
        absl::StrCat(description_, ": ", nghttp2_strerror(stream_id)));
  }
  streams_[stream_id] = Stream{callbacks};
  SyncStreams();
  ScheduleFlush();
  return stream_id;
}

void UpstreamConnection::ResumeData(int32_t stream_id) {
  if (closed()) return;
  nghttp2_session_resume_data(session_, stream_id);
  ScheduleFlush();
}

void UpstreamConnection::Consume(int32_t stream_id, size_t length) {
  if (closed() || length == 0) return;
  nghttp2_session_consume(session_, stream_id, length);
  ScheduleFlush();
}

void UpstreamConnection::Cancel(int32_t stream_id, uint32_t error_code) {
  if (closed()) return;
  if (streams_.erase(stream_id) == 0) return;
  SyncStreams();
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, error_code);
  ScheduleFlush();
}

void UpstreamConnection::Closed(absl::string_view reason) {
  connect_timer_.Disable();
  failure_ = std::string(reason);
  const bool never_connected = connecting_;
  connecting_ = false;
  if (never_connected && listener_ != nullptr) listener_->OnConnectFailed(*this, reason);
  const std::string message = absl::StrCat(description_, ": ", reason);
  std::vector<UpstreamStreamCallbacks*> waiting;
  waiting.swap(pending_);
  absl::flat_hash_map<int32_t, Stream> open;
  open.swap(streams_);
  SyncStreams();
  for (UpstreamStreamCallbacks* callbacks : waiting) {
    callbacks->OnUpstreamFailure(message, /*refused=*/true);
  }
  for (auto& [id, stream] : open) {
    // Above a GOAWAY's last stream id the upstream never processed it.
    const bool refused = goaway_received_ && id > goaway_last_stream_id_;
    if (!refused && listener_ != nullptr) listener_->OnStreamOutcome(*this, /*failure=*/true);
    stream.callbacks->OnUpstreamFailure(message, refused);
  }
}

void UpstreamConnection::RefuseStream(int32_t stream_id, absl::string_view why) {
  auto it = streams_.find(stream_id);
  if (it == streams_.end()) return;
  UpstreamStreamCallbacks* callbacks = it->second.callbacks;
  streams_.erase(it);
  SyncStreams();
  callbacks->OnUpstreamFailure(absl::StrCat(description_, ": ", why), /*refused=*/true);
}

UpstreamStreamCallbacks* UpstreamConnection::StreamCallbacks(int32_t stream_id) const {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second.callbacks;
}

int UpstreamConnection::OnBeginHeaders(nghttp2_session*, const nghttp2_frame*, void*) {
  return 0;
}

int UpstreamConnection::OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                                 const uint8_t* name, size_t name_length,
                                 const uint8_t* value, size_t value_length, uint8_t,
                                 void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  UpstreamConnection* self = Self(user_data);
  auto it = self->streams_.find(frame->hd.stream_id);
  if (it == self->streams_.end()) return 0;
  const absl::string_view key(reinterpret_cast<const char*>(name), name_length);
  if (key == ":status") it->second.informational = value_length > 0 && value[0] == '1';
  if (key == "grpc-status") {
    int status = 0;
    it->second.grpc_status =
        absl::SimpleAtoi(absl::string_view(reinterpret_cast<const char*>(value), value_length),
                         &status)
            ? status
            : static_cast<int>(kUnknownStatus);
  }
  it->second.callbacks->OnUpstreamHeader(
      absl::string_view(reinterpret_cast<const char*>(name), name_length),
      absl::string_view(reinterpret_cast<const char*>(value), value_length));
  return 0;
}

int UpstreamConnection::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame,
                                    void* user_data) {
  UpstreamConnection* self = Self(user_data);
  switch (frame->hd.type) {
    case NGHTTP2_GOAWAY:
      // nghttp2 closes the streams above last_stream_id itself, with
      // REFUSED_STREAM (OnStreamClose), and refuses requests not sent yet
      // (OnFrameNotSend).
      self->goaway_received_ = true;
      self->goaway_last_stream_id_ = frame->goaway.last_stream_id;
      return 0;
    case NGHTTP2_HEADERS: {
      auto it = self->streams_.find(frame->hd.stream_id);
      if (it == self->streams_.end()) return 0;
      Stream& stream = it->second;
      // Trailers are what follows the final response headers: after a 1xx
      // response, nghttp2 files the final one under NGHTTP2_HCAT_HEADERS,
      // as it does trailers.
      const bool trailers = stream.response_received;
      if (!stream.informational) stream.response_received = true;
      stream.informational = false;
      stream.callbacks->OnUpstreamHeadersEnd(trailers,
                                             (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0);
      return 0;
    }
    default:
      return 0;
  }
}

int UpstreamConnection::OnDataChunkRecv(nghttp2_session* session, uint8_t,
                                        int32_t stream_id, const uint8_t* data,
                                        size_t length, void* user_data) {
  UpstreamStreamCallbacks* callbacks = Self(user_data)->StreamCallbacks(stream_id);
  if (callbacks == nullptr) {
    // Nobody will pass these bytes on: give the window back now.
    nghttp2_session_consume(session, stream_id, length);
    return 0;
  }
  callbacks->OnUpstreamData(data, length);
  return 0;
}

int UpstreamConnection::OnStreamClose(nghttp2_session*, int32_t stream_id,
                                      uint32_t error_code, void* user_data) {
  UpstreamConnection* self = Self(user_data);
  auto it = self->streams_.find(stream_id);
  if (it == self->streams_.end()) return 0;
  if (error_code == NGHTTP2_REFUSED_STREAM) {
    // Refused by the upstream, or above a GOAWAY's last_stream_id: it was
    // not processed, so the call may go elsewhere. Not an outlier failure
    // after a GOAWAY (an orderly shutdown).
    if (!self->goaway_received_ && self->listener_ != nullptr) {
      self->listener_->OnStreamOutcome(*self, /*failure=*/true);
    }
    self->RefuseStream(stream_id, self->goaway_received_
                                      ? "connection is going away (GOAWAY): stream refused"
                                      : "upstream reset the stream: REFUSED_STREAM");
    return 0;
  }
  const Stream stream = it->second;
  self->streams_.erase(it);
  self->SyncStreams();
  if (self->listener_ != nullptr) {
    const bool failure = error_code != NGHTTP2_NO_ERROR || stream.grpc_status < 0 ||
                         stream.grpc_status == static_cast<int>(GrpcStatus::kUnavailable);
    self->listener_->OnStreamOutcome(*self, failure);
  }
  stream.callbacks->OnUpstreamClose(error_code);
  return 0;
}

int UpstreamConnection::OnFrameNotSend(nghttp2_session*, const nghttp2_frame* frame,
                                       int error, void* user_data) {
  // A request that could not be sent (the upstream said GOAWAY before it
  // left): it was surely not processed.
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Self(user_data)->RefuseStream(
      frame->hd.stream_id, absl::StrCat("request not sent: ", nghttp2_strerror(error)));
  return 0;
}

ssize_t UpstreamConnection::ReadData(nghttp2_session*, int32_t stream_id, uint8_t* buffer,
                                     size_t length, uint32_t* flags,
                                     nghttp2_data_source*, void* user_data) {
  UpstreamStreamCallbacks* callbacks = Self(user_data)->StreamCallbacks(stream_id);
  if (callbacks == nullptr) return NGHTTP2_ERR_DEFERRED;
  return callbacks->ReadUpstreamData(buffer, length, flags);
}

nghttp2_session_callbacks* UpstreamConnection::Callbacks() {
  static nghttp2_session_callbacks* const callbacks = [] {
    nghttp2_session_callbacks* made;
    nghttp2_session_callbacks_new(&made);
    nghttp2_session_callbacks_set_on_begin_headers_callback(made, &OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(made, &OnHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(made, &OnFrameRecv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(made, &OnDataChunkRecv);
    nghttp2_session_callbacks_set_on_stream_close_callback(made, &OnStreamClose);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(made, &OnFrameNotSend);
    return made;
  }();
  return callbacks;
}

}  // namespace polymesh::gateway
