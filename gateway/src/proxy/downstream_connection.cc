#include "proxy/downstream_connection.h"

#include <utility>

namespace polymesh::gateway {
namespace {

DownstreamConnection* Self(void* user_data) {
  return static_cast<DownstreamConnection*>(user_data);
}

}  // namespace

absl::StatusOr<std::unique_ptr<DownstreamConnection>> DownstreamConnection::Create(
    CallContext& context, ScopedFd fd, const TlsContext* tls) {
  std::unique_ptr<DownstreamConnection> connection(
      new DownstreamConnection(context, std::move(fd)));
  nghttp2_option* option;
  nghttp2_option_new(&option);
  nghttp2_option_set_no_auto_window_update(option, 1);
  // Stream and frame objects come from the worker's block pool.
  nghttp2_session_server_new3(&connection->session_, Callbacks(), connection.get(), option,
                              PoolNghttp2Mem());
  nghttp2_option_del(option);
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, context.limits.max_concurrent_streams_per_connection},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
  };
  nghttp2_submit_settings(connection->session_, NGHTTP2_FLAG_NONE, settings, 2);
  nghttp2_session_set_local_window_size(connection->session_, NGHTTP2_FLAG_NONE, 0,
                                        kConnectionWindow);
  if (tls != nullptr) {
    absl::Status tls_started = connection->StartTls(*tls);
    if (!tls_started.ok()) return tls_started;
  }
  absl::Status started = connection->StartIo(/*want_write=*/false);
  if (!started.ok()) return started;
  connection->ScheduleFlush();
  return connection;
}

DownstreamConnection::DownstreamConnection(CallContext& context, ScopedFd fd)
    : Http2Connection(context.loop, std::move(fd)), context_(context) {}

DownstreamConnection::~DownstreamConnection() {
  // Calls still here (the loop is going away) cancel their upstream halves.
  for (auto& [id, call] : calls_) call->OnDownstreamClose(NGHTTP2_CANCEL);
  calls_.clear();
}

void DownstreamConnection::SubmitResponse(int32_t stream_id,
                                          const NvArray& headers,
                                          bool with_body) {
  if (closed()) return;
  nghttp2_data_provider provider{};
  provider.read_callback = &DownstreamConnection::ReadData;
  nghttp2_submit_response(session_, stream_id, headers.data(), headers.size(),
                          with_body ? &provider : nullptr);
  ScheduleFlush();
}

void DownstreamConnection::SubmitTrailers(int32_t stream_id,
                                          const NvArray& trailers) {
  if (closed()) return;
  nghttp2_submit_trailer(session_, stream_id, trailers.data(), trailers.size());
}

void DownstreamConnection::ResumeData(int32_t stream_id) {
  if (closed()) return;
  nghttp2_session_resume_data(session_, stream_id);
  ScheduleFlush();
}

void DownstreamConnection::Consume(int32_t stream_id, size_t length) {
  if (closed() || length == 0) return;
  nghttp2_session_consume(session_, stream_id, length);
  ScheduleFlush();
}

void DownstreamConnection::ResetStream(int32_t stream_id, uint32_t error_code) {
  if (closed()) return;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, error_code);
  ScheduleFlush();
}

void DownstreamConnection::Drain() {
  if (closed()) return;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_),
                        NGHTTP2_NO_ERROR, nullptr, 0);
  ScheduleFlush();
}

void DownstreamConnection::Closed(absl::string_view) {
  absl::flat_hash_map<int32_t, std::unique_ptr<Call>> calls;
  calls.swap(calls_);
  for (auto& [id, call] : calls) call->OnDownstreamClose(NGHTTP2_CANCEL);
}

Call* DownstreamConnection::FindCall(int32_t stream_id) const {
  auto it = calls_.find(stream_id);
  return it == calls_.end() ? nullptr : it->second.get();
}

int DownstreamConnection::OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame,
                                         void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  DownstreamConnection* self = Self(user_data);
  self->calls_.emplace(frame->hd.stream_id, std::make_unique<Call>(
                                                self->context_, *self, frame->hd.stream_id));
  return 0;
}

int DownstreamConnection::OnHeader(nghttp2_session*, const nghttp2_frame* frame,
                                   const uint8_t* name, size_t name_length,
                                   const uint8_t* value, size_t value_length, uint8_t,
                                   void* user_data) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Call* call = Self(user_data)->FindCall(frame->hd.stream_id);
  if (call == nullptr) return 0;
  call->OnRequestHeader(
      absl::string_view(reinterpret_cast<const char*>(name), name_length),
      absl::string_view(reinterpret_cast<const char*>(value), value_length));
  return 0;
}

int DownstreamConnection::OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame,
                                      void* user_data) {
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      Call* call = Self(user_data)->FindCall(frame->hd.stream_id);
      if (call != nullptr) call->OnRequestHeadersEnd(end_stream);
      return 0;
    }
    case NGHTTP2_DATA: {
      if (!end_stream) return 0;
      Call* call = Self(user_data)->FindCall(frame->hd.stream_id);
      if (call != nullptr) call->OnRequestEnd();
      return 0;
    }
    default:
      return 0;
  }
}

int DownstreamConnection::OnFrameSend(nghttp2_session*, const nghttp2_frame* frame,
                                      void* user_data) {
  if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
    return 0;
  }
  DownstreamConnection* self = Self(user_data);
  Call* call = self->FindCall(frame->hd.stream_id);
  // The response is complete but the client is still sending: tell it to
  // stop (RFC 9113 section 8.1).
  if (call != nullptr && !call->request_ended()) {
    self->ResetStream(frame->hd.stream_id, NGHTTP2_NO_ERROR);
  }
  return 0;
}

int DownstreamConnection::OnDataChunkRecv(nghttp2_session* session, uint8_t,
                                          int32_t stream_id, const uint8_t* data,
                                          size_t length, void* user_data) {
  Call* call = Self(user_data)->FindCall(stream_id);
  if (call == nullptr) {
    nghttp2_session_consume(session, stream_id, length);
    return 0;
  }
  call->OnRequestData(data, length);
  return 0;
}

int DownstreamConnection::OnStreamClose(nghttp2_session*, int32_t stream_id,
                                        uint32_t error_code, void* user_data) {
  DownstreamConnection* self = Self(user_data);
  auto it = self->calls_.find(stream_id);
  if (it == self->calls_.end()) return 0;
  std::unique_ptr<Call> call = std::move(it->second);
  self->calls_.erase(it);
  call->OnDownstreamClose(error_code);
  return 0;
}

ssize_t DownstreamConnection::ReadData(nghttp2_session*, int32_t stream_id,
                                       uint8_t* buffer, size_t length, uint32_t* flags,
                                       nghttp2_data_source*, void* user_data) {
  Call* call = Self(user_data)->FindCall(stream_id);
  if (call == nullptr) return NGHTTP2_ERR_DEFERRED;
  return call->ReadResponseData(buffer, length, flags);
}

nghttp2_session_callbacks* DownstreamConnection::Callbacks() {
  static nghttp2_session_callbacks* const callbacks = [] {
    nghttp2_session_callbacks* made;
    nghttp2_session_callbacks_new(&made);
    nghttp2_session_callbacks_set_on_begin_headers_callback(made, &OnBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(made, &OnHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(made, &OnFrameRecv);
    nghttp2_session_callbacks_set_on_frame_send_callback(made, &OnFrameSend);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(made, &OnDataChunkRecv);
    nghttp2_session_callbacks_set_on_stream_close_callback(made, &OnStreamClose);
    return made;
  }();
  return callbacks;
}

}  // namespace polymesh::gateway
