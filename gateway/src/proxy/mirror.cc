#include "proxy/mirror.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/string_views.h"
#include "proxy/call.h"
#include "proxy/call_policies.h"
#include "proxy/upstream_request.h"

namespace polymesh::gateway {

ShadowCall* ShadowCall::Start(CallContext& context, size_t route_index,
                              const MirrorSpec& mirror, const HeaderList& headers,
                              absl::Time deadline, observability::ServerSpan* parent,
                              ShadowCall** link) {
  ShadowCall* shadow = context.policies->Adopt(std::unique_ptr<ShadowCall>(
      new ShadowCall(context, route_index, mirror, headers, deadline, link)));
  *link = shadow;
  if (context.stats != nullptr) context.stats->CountPolicy(route_index, PolicyCounter::kMirrored);
  if (deadline != absl::InfiniteFuture()) shadow->deadline_timer_.EnableAt(deadline);
  shadow->upstream_ = context.clusters.Pick(mirror.cluster_index);
  if (parent != nullptr) {
    const UpstreamEndpoint& endpoint = shadow->upstream_->endpoint();
    shadow->span_ = parent->StartClient(endpoint.host, endpoint.port);
    shadow->span_.SetMirror(ToStd(mirror.cluster));
    shadow->span_open_ = true;
  }
  shadow->upstream_->Attach(shadow);  // may end it at once
  return *link;
}

ShadowCall::ShadowCall(CallContext& context, size_t route_index, const MirrorSpec& mirror,
                       const HeaderList& headers, absl::Time deadline, ShadowCall** link)
    : context_(context),
      route_index_(route_index),
      mirror_(mirror),
      headers_(headers),
      deadline_(deadline),
      deadline_timer_(context.loop,
                      [this] {
                        Finish(Outcome::kFailed, static_cast<int>(GrpcStatus::kDeadlineExceeded),
                               "deadline exceeded");
                      }),
      link_(link) {}

ShadowCall::~ShadowCall() = default;

void ShadowCall::OnRequestData(const uint8_t* data, size_t length) {
  if (finished_) return;
  request_buffer_.append(reinterpret_cast<const char*>(data), length);
  if (request_buffer_.size() - request_offset_ > mirror_.max_buffered_bytes) {
    Cancel(absl::StrCat("the shadow fell behind by more than ", mirror_.max_buffered_bytes,
                        " bytes"));
    return;
  }
  if (stream_id_ != 0) upstream_->ResumeData(stream_id_);
}

void ShadowCall::OnRequestEnd() {
  if (finished_) return;
  request_ended_ = true;
  if (stream_id_ != 0) upstream_->ResumeData(stream_id_);
}

void ShadowCall::OnCallEnded(bool request_complete) {
  *link_ = nullptr;
  link_ = nullptr;
  if (!request_complete) Cancel("the call ended before its request was complete");
}

void ShadowCall::Cancel(absl::string_view reason) {
  Finish(Outcome::kCancelled, static_cast<int>(GrpcStatus::kCancelled), reason);
}

void ShadowCall::OnUpstreamReady() {
  if (finished_) return;
  const UpstreamRequest request(headers_, deadline_, span_open_ ? &span_ : nullptr, "-shadow");
  const bool has_body = !request_ended_ || request_offset_ < request_buffer_.size();
  absl::StatusOr<int32_t> stream_id = upstream_->Submit(request.nva(), has_body, this);
  if (!stream_id.ok()) {
    upstream_ = nullptr;
    Finish(Outcome::kFailed, static_cast<int>(GrpcStatus::kUnavailable),
           stream_id.status().message());
    return;
  }
  stream_id_ = *stream_id;
}

void ShadowCall::OnUpstreamFailure(absl::string_view message, bool /*refused*/) {
  upstream_ = nullptr;
  stream_id_ = 0;
  Finish(Outcome::kFailed, static_cast<int>(GrpcStatus::kUnavailable), message);
}

void ShadowCall::OnUpstreamHeader(absl::string_view name, absl::string_view value) {
  if (name == "grpc-status") {
    int code;
    grpc_status_ = absl::SimpleAtoi(value, &code) ? code : static_cast<int>(GrpcStatus::kUnknown);
  }
}

void ShadowCall::OnUpstreamHeadersEnd(bool /*trailers*/, bool /*end_stream*/) {}

void ShadowCall::OnUpstreamData(const uint8_t* /*data*/, size_t length) {
  // Discarded: the window goes back at once.
  upstream_->Consume(stream_id_, length);
}

void ShadowCall::OnUpstreamClose(uint32_t error_code) {
  upstream_ = nullptr;
  stream_id_ = 0;
  if (error_code == NGHTTP2_NO_ERROR && grpc_status_ == 0) {
    Finish(Outcome::kOk, 0, {});
    return;
  }
  const int status = error_code != NGHTTP2_NO_ERROR
                         ? static_cast<int>(GrpcStatusFromHttp2Error(error_code))
                         : (grpc_status_ < 0 ? static_cast<int>(GrpcStatus::kUnknown)
                                             : grpc_status_);
  Finish(Outcome::kFailed, status,
         error_code != NGHTTP2_NO_ERROR ? "the shadow upstream reset the stream" : "");
}

ssize_t ShadowCall::ReadUpstreamData(uint8_t* buffer, size_t length, uint32_t* flags) {
  const size_t count = std::min(length, request_buffer_.size() - request_offset_);
  std::memcpy(buffer, request_buffer_.data() + request_offset_, count);
  request_offset_ += count;
  if (request_offset_ == request_buffer_.size()) {
    request_buffer_.clear();
    request_offset_ = 0;
    if (request_ended_) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(count);
    }
  }
  if (count == 0) return NGHTTP2_ERR_DEFERRED;
  return static_cast<ssize_t>(count);
}

void ShadowCall::Finish(Outcome outcome, int grpc_status, absl::string_view message) {
  if (finished_) return;
  finished_ = true;
  deadline_timer_.Disable();
  if (upstream_ != nullptr) {
    if (stream_id_ != 0) {
      upstream_->Cancel(stream_id_, NGHTTP2_CANCEL);
    } else {
      upstream_->Detach(this);
    }
    upstream_ = nullptr;
    stream_id_ = 0;
  }
  request_buffer_.clear();
  request_buffer_.shrink_to_fit();
  span_.End(grpc_status, ToStd(message));
  if (context_.stats != nullptr && outcome != Outcome::kOk) {
    context_.stats->CountPolicy(route_index_, outcome == Outcome::kFailed
                                                  ? PolicyCounter::kMirrorFailed
                                                  : PolicyCounter::kMirrorCancelled);
  }
  if (link_ != nullptr) {
    *link_ = nullptr;
    link_ = nullptr;
  }
  context_.policies->Release(this);
}

}  // namespace polymesh::gateway
