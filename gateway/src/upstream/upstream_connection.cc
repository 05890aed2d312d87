#include "upstream/upstream_connection.h"

#include <sys/epoll.h>

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace polymesh::gateway {
namespace {

UpstreamConnection* Self(void* user_data) {
  return static_cast<UpstreamConnection*>(user_data);
}

}  // namespace

std::unique_ptr<UpstreamConnection> UpstreamConnection::Connect(
    EventLoop& loop, const UpstreamEndpoint& endpoint) {
  absl::StatusOr<ScopedFd> fd = ConnectTcp(endpoint.address, endpoint.port);
  std::unique_ptr<UpstreamConnection> connection(new UpstreamConnection(
      loop, fd.ok() ? std::move(*fd) : ScopedFd(), endpoint));
  if (!fd.ok()) {
    connection->Close(fd.status().message());
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

UpstreamConnection::UpstreamConnection(EventLoop& loop, ScopedFd fd,
                                       const UpstreamEndpoint& endpoint)
    : Http2Connection(loop, std::move(fd)),
      endpoint_(endpoint),
      description_(absl::StrCat(
          "cluster \"", endpoint.cluster, "\" endpoint ", endpoint.host, ":", endpoint.port,
          endpoint.host == endpoint.address ? "" : absl::StrCat(" (", endpoint.address, ")"))),
      connect_timer_(loop, [this] {
        Close(absl::StrCat("connect timeout after ",
                           absl::FormatDuration(endpoint_.connect_timeout)));
      }) {}

UpstreamConnection::~UpstreamConnection() = default;

void UpstreamConnection::OnIoEvent(uint32_t events) {
  if (closed()) return;
  if (connecting_) {
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    absl::Status result = ConnectResult(fd());
    if (!result.ok()) {
      Close(absl::AsciiStrToLower(result.message()));
      return;
    }
    OnConnected();
    return;
  }
  Http2Connection::OnIoEvent(events);
}

void UpstreamConnection::OnConnected() {
  connecting_ = false;
  connect_timer_.Disable();
  nghttp2_option* option;
  nghttp2_option_new(&option);
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_session_client_new2(&session_, Callbacks(), this, option);
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
  } else {
    callbacks->OnUpstreamReady();
  }
}

void UpstreamConnection::Detach(UpstreamStreamCallbacks* callbacks) {
  pending_.erase(std::remove(pending_.begin(), pending_.end(), callbacks),
                 pending_.end());
}

absl::StatusOr<int32_t> UpstreamConnection::Submit(
    const std::vector<nghttp2_nv>& headers, bool has_body,
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
  streams_[stream_id] = callbacks;
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
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, error_code);
  ScheduleFlush();
}

void UpstreamConnection::Closed(absl::string_view reason) {
  connect_timer_.Disable();
  failure_ = std::string(reason);
  const std::string message = absl::StrCat(description_, ": ", reason);
  std::vector<UpstreamStreamCallbacks*> waiting;
  waiting.swap(pending_);
  for (UpstreamStreamCallbacks* callbacks : waiting) {
    callbacks->OnUpstreamFailure(message, /*refused=*/true);
  }
  absl::flat_hash_map<int32_t, UpstreamStreamCallbacks*> open;
  open.swap(streams_);
  for (auto& [id, callbacks] : open) callbacks->OnUpstreamFailure(message, /*refused=*/false);
}

UpstreamStreamCallbacks* UpstreamConnection::StreamCallbacks(int32_t stream_id) const {
  auto it = streams_.find(stream_id);
  return it == streams_.end() ? nullptr : it->second;
}

int UpstreamConnection::OnBeginHeaders(nghttp2_session*, const nghttp2_frame*, void*) {
  return 0;
}

int UpstreamConnection::OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                                 const uint8_t* name, size_t name_length,
                                 const uint8_t* value, size_t value_length, uint8_t,
                                 void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  UpstreamStreamCallbacks* callbacks = Self(user_data)->StreamCallbacks(frame->hd.stream_id);
  if (callbacks == nullptr) return 0;
  callbacks->OnUpstreamHeader(
      absl::string_view(reinterpret_cast<const char*>(name), name_length),
      absl::string_view(reinterpret_cast<const char*>(value), value_length));
  return 0;
}

int UpstreamConnection::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame,
                                    void* user_data) {
  UpstreamConnection* self = Self(user_data);
  switch (frame->hd.type) {
    case NGHTTP2_GOAWAY:
      self->goaway_received_ = true;
      return 0;
    case NGHTTP2_HEADERS: {
      UpstreamStreamCallbacks* callbacks = self->StreamCallbacks(frame->hd.stream_id);
      if (callbacks == nullptr) return 0;
      callbacks->OnUpstreamHeadersEnd(frame->headers.cat == NGHTTP2_HCAT_HEADERS,
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
  UpstreamStreamCallbacks* callbacks = it->second;
  self->streams_.erase(it);
  callbacks->OnUpstreamClose(error_code);
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
    return made;
  }();
  return callbacks;
}

}  // namespace polymesh::gateway
