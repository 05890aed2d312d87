#include "codec/call.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "codec/downstream_connection.h"
#include "common/grpc_timeout.h"

namespace polymesh::gateway {
namespace {

// The tracing API speaks std::string_view; abseil here has its own type.
std::string_view Std(absl::string_view value) { return {value.data(), value.size()}; }

constexpr absl::string_view kHealthServicePrefix = "/grpc.health.v1.Health/";

// Copies up to `length` bytes from `buffer` at `offset` into `out`; returns
// how many, and resets the buffer once it is drained.
size_t Drain(std::string& buffer, size_t& offset, uint8_t* out, size_t length) {
  const size_t count = std::min(length, buffer.size() - offset);
  std::memcpy(out, buffer.data() + offset, count);
  offset += count;
  if (offset == buffer.size()) {
    buffer.clear();
    offset = 0;
  }
  return count;
}

// Headers forwarded downstream: everything but hop-by-hop fields.
std::vector<nghttp2_nv> ForwardableNv(const HeaderList& headers) {
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.fields().size());
  for (const Header& header : headers.fields()) {
    if (IsHopByHopHeader(header.name)) continue;
    if (header.name == "te" && header.value != "trailers") continue;
    nva.push_back(MakeNv(header.name, header.value));
  }
  return nva;
}

}  // namespace

Call::Call(CallContext& context, DownstreamConnection& downstream, int32_t stream_id)
    : context_(context),
      downstream_(downstream),
      stream_id_(stream_id),
      deadline_timer_(context.loop, [this] { OnDeadline(); }) {}

Call::~Call() = default;

// --- Downstream side ---------------------------------------------------------

void Call::OnRequestHeader(absl::string_view name, absl::string_view value) {
  if (request_headers_ended_) return;  // request trailers: not forwarded
  request_headers_.Add(name, value);
}

void Call::OnRequestHeadersEnd(bool end_stream) {
  if (request_headers_ended_) {
    if (end_stream) OnRequestEnd();
    return;
  }
  request_headers_ended_ = true;
  request_ended_ = end_stream;
  Start();
}

void Call::Start() {
  const std::string* method = request_headers_.Find(":method");
  const std::string* path = request_headers_.Find(":path");
  if (context_.stats != nullptr) {
    context_.stats->CallStarted();
    counted_ = true;
  }
  start_ = context_.loop.now();
  if (context_.access_log != nullptr) start_wall_ = absl::Now();
  const absl::string_view path_view = path != nullptr ? *path : absl::string_view();

  if (context_.tracer != nullptr && !absl::StartsWith(path_view, kHealthServicePrefix)) {
    const std::string* traceparent = request_headers_.Find("traceparent");
    const std::string* tracestate = request_headers_.Find("tracestate");
    server_span_ = context_.tracer->StartServer(
        Std(path_view), traceparent != nullptr ? *traceparent : std::string_view(),
        tracestate != nullptr ? *tracestate : std::string_view());
    traced_ = true;
  }

  if (method == nullptr || *method != "POST") {
    RespondTrailersOnly(405, GrpcStatus::kUnimplemented,
                        absl::StrCat("method ", method != nullptr ? *method : "(none)",
                                     " not allowed: gRPC calls are POST requests"));
    return;
  }
  const std::string* content_type = request_headers_.Find("content-type");
  if (content_type == nullptr || !absl::StartsWith(*content_type, "application/grpc")) {
    RespondTrailersOnly(415, GrpcStatus::kInternal,
                        absl::StrCat("unsupported content-type \"",
                                     content_type != nullptr ? *content_type : "",
                                     "\": want application/grpc"));
    return;
  }
  const CallLimits& limits = context_.limits;
  if (downstream_.active_calls() > limits.max_concurrent_streams_per_connection) {
    RespondTrailersOnly(200, GrpcStatus::kResourceExhausted,
                        absl::StrCat("max_concurrent_streams_per_connection (",
                                     limits.max_concurrent_streams_per_connection,
                                     ") reached on this connection"));
    return;
  }
  if (context_.active_streams != nullptr) {
    holds_active_stream_ = true;
    if (context_.active_streams->fetch_add(1, std::memory_order_relaxed) >=
        limits.max_active_streams) {
      RespondTrailersOnly(200, GrpcStatus::kResourceExhausted,
                          absl::StrCat("max_active_streams (", limits.max_active_streams,
                                       ") reached: the gateway is at capacity"));
      return;
    }
  }
  route_ = context_.routes.Find(path_view, [this](absl::string_view name) {
    return request_headers_.Find(name);
  });
  if (route_ == nullptr) {
    RespondTrailersOnly(200, GrpcStatus::kUnimplemented,
                        absl::StrCat("no route for method \"", path_view, "\""));
    return;
  }
  cluster_index_ = route_->cluster_index;
  cluster_name_ = &route_->cluster;
  if (!route_->split.empty()) {
    const uint64_t position =
        context_.split_positions != nullptr ? (*context_.split_positions)[RouteIndex()]++ : 0;
    const Route::Share& share = route_->ShareAt(position);
    cluster_index_ = share.cluster_index;
    cluster_name_ = &share.cluster;
  }
  if (traced_) server_span_.SetRoute(route_->name, *cluster_name_);
  if (counted_) {
    context_.stats->CallRouted(RouteIndex(), cluster_index_);
    routed_ = true;
  }

  absl::Duration timeout = route_->timeout;
  if (const std::string* header = request_headers_.Find("grpc-timeout")) {
    absl::StatusOr<absl::Duration> client_timeout = ParseGrpcTimeout(*header);
    if (!client_timeout.ok()) {
      RespondTrailersOnly(200, GrpcStatus::kInternal, client_timeout.status().message());
      return;
    }
    timeout = std::min(timeout, *client_timeout);
  }
  if (timeout != absl::InfiniteDuration()) {
    deadline_ = context_.loop.now() + timeout;
    deadline_timer_.EnableAt(deadline_);
  }

  upstream_ = context_.clusters.Pick(cluster_index_);
  if (context_.access_log != nullptr) {
    endpoint_ = absl::StrCat(upstream_->endpoint().host, ":", upstream_->endpoint().port);
  }
  if (traced_) {
    client_span_ = server_span_.StartClient(upstream_->endpoint().host,
                                            upstream_->endpoint().port);
    client_span_open_ = true;
  }
  upstream_->Attach(this);
}

void Call::OnRequestData(const uint8_t* data, size_t length) {
  if (upstream_ == nullptr || response_complete_) {
    // Nowhere to send the bytes: drop them and give the window back.
    downstream_.Consume(stream_id_, length);
    return;
  }
  request_bytes_ += length;
  const uint32_t limit = context_.limits.max_request_message_bytes;
  if (const uint32_t size = request_messages_.Feed(data, length, limit); size > 0) {
    downstream_.Consume(stream_id_, length);
    Fail(GrpcStatus::kResourceExhausted,
         absl::StrCat("request message of ", size, " bytes exceeds max_request_message_bytes (",
                      limit, ")"));
    return;
  }
  request_buffer_.append(reinterpret_cast<const char*>(data), length);
  if (upstream_stream_id_ != 0) upstream_->ResumeData(upstream_stream_id_);
}

void Call::OnRequestEnd() {
  request_ended_ = true;
  if (upstream_ != nullptr && upstream_stream_id_ != 0) {
    upstream_->ResumeData(upstream_stream_id_);
  }
}

void Call::OnDownstreamClose(uint32_t /*error_code*/) {
  deadline_timer_.Disable();
  if (holds_active_stream_) {
    context_.active_streams->fetch_sub(1, std::memory_order_relaxed);
    holds_active_stream_ = false;
  }
  if (upstream_ != nullptr) {
    // The client went away (or reset the stream) before the upstream half
    // finished: cancel it.
    ReleaseUpstream(NGHTTP2_CANCEL, GrpcStatus::kCancelled, "cancelled by the client");
  }
  // Request bytes never forwarded still count against the connection window.
  downstream_.Consume(stream_id_, request_buffer_.size() - request_offset_);
  request_buffer_.clear();
  request_offset_ = 0;
  if (context_.access_log != nullptr && request_headers_ended_) LogAccess();
  if (counted_) {
    const int status =
        response_complete_ ? final_status_ : static_cast<int>(GrpcStatus::kCancelled);
    context_.stats->CallEnded(routed_ ? RouteIndex() : context_.routes.routes().size(),
                              routed_ ? cluster_index_ : 0, routed_, status,
                              context_.loop.now() - start_, request_bytes_, response_bytes_);
    counted_ = false;
  }
  if (traced_) {
    if (response_complete_) {
      server_span_.End(final_status_, final_message_);
    } else {
      server_span_.End(static_cast<int>(GrpcStatus::kCancelled),
                       "cancelled by the client");
    }
    traced_ = false;
  }
}

ssize_t Call::ReadResponseData(uint8_t* buffer, size_t length, uint32_t* flags) {
  const size_t count = Drain(response_buffer_, response_offset_, buffer, length);
  if (count > 0 && upstream_ != nullptr && upstream_stream_id_ != 0) {
    // Handed to the downstream session: the upstream may send more.
    upstream_->Consume(upstream_stream_id_, count);
  }
  if (response_offset_ == response_buffer_.size() && trailers_pending_) {
    trailers_pending_ = false;
    std::vector<nghttp2_nv> nva = ForwardableNv(trailers_);
    downstream_.SubmitTrailers(stream_id_, nva);
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    return static_cast<ssize_t>(count);
  }
  if (count == 0) return NGHTTP2_ERR_DEFERRED;
  return static_cast<ssize_t>(count);
}

// --- Upstream side -------------------------------------------------------------

void Call::OnUpstreamReady() {
  const std::string* path = request_headers_.Find(":path");
  const std::string* authority = request_headers_.Find(":authority");
  if (authority == nullptr) authority = request_headers_.Find("host");
  const std::string* scheme = request_headers_.Find(":scheme");

  std::string timeout_value;
  std::vector<nghttp2_nv> nva;
  nva.reserve(request_headers_.fields().size() + 4);
  nva.push_back(MakeNv(":method", "POST"));
  nva.push_back(MakeNv(":scheme", scheme != nullptr ? absl::string_view(*scheme)
                                                   : absl::string_view("http")));
  nva.push_back(MakeNv(":path", *path));
  if (authority != nullptr) nva.push_back(MakeNv(":authority", *authority));
  for (const Header& header : request_headers_.fields()) {
    const std::string& name = header.name;
    if (name.empty() || name[0] == ':' || IsHopByHopHeader(name) ||
        name == "grpc-timeout") {
      continue;
    }
    if (name == "te" && header.value != "trailers") continue;
    if (client_span_open_ && (name == "traceparent" || name == "tracestate")) continue;
    nva.push_back(MakeNv(name, header.value));
  }
  if (deadline_ != absl::InfiniteFuture()) {
    // Forward what is left of the deadline, not the original timeout.
    timeout_value = FormatGrpcTimeout(deadline_ - absl::Now());
    nva.push_back(MakeNv("grpc-timeout", timeout_value));
  }
  if (client_span_open_) {
    if (!client_span_.traceparent().empty()) {
      nva.push_back(MakeNv("traceparent", client_span_.traceparent()));
    }
    if (!client_span_.tracestate().empty()) {
      nva.push_back(MakeNv("tracestate", client_span_.tracestate()));
    }
  }
  const bool has_body = !request_ended_ || request_offset_ < request_buffer_.size();
  absl::StatusOr<int32_t> stream_id = upstream_->Submit(nva, has_body, this);
  if (!stream_id.ok()) {
    OnUpstreamFailure(stream_id.status().message(), /*refused=*/true);
    return;
  }
  upstream_stream_id_ = *stream_id;
}

void Call::OnUpstreamFailure(absl::string_view message, bool /*refused*/) {
  // The connection has already forgotten this stream.
  upstream_ = nullptr;
  upstream_stream_id_ = 0;
  if (client_span_open_) {
    client_span_.End(static_cast<int>(GrpcStatus::kUnavailable), Std(message));
    client_span_open_ = false;
  }
  Fail(GrpcStatus::kUnavailable, message);
}

void Call::OnUpstreamHeader(absl::string_view name, absl::string_view value) {
  (response_headers_received_ ? trailers_ : response_headers_).Add(name, value);
}

void Call::OnUpstreamHeadersEnd(bool trailers, bool end_stream) {
  if (response_complete_) return;
  if (!trailers && !response_headers_received_) {
    const std::string* status = response_headers_.Find(":status");
    if (status != nullptr && !status->empty() && (*status)[0] == '1') {
      response_headers_.Clear();  // informational: wait for the real headers
      return;
    }
    response_headers_received_ = true;
    std::vector<nghttp2_nv> nva = ForwardableNv(response_headers_);
    if (end_stream) {
      // Trailers-only response.
      NoteStatus(response_headers_);
      response_complete_ = true;
      deadline_timer_.Disable();
      downstream_.SubmitResponse(stream_id_, nva, /*with_body=*/false);
    } else {
      response_headers_sent_ = true;
      downstream_.SubmitResponse(stream_id_, nva, /*with_body=*/true);
    }
    return;
  }
  // Trailers.
  NoteStatus(trailers_);
  trailers_pending_ = true;
  response_complete_ = true;
  deadline_timer_.Disable();
  downstream_.ResumeData(stream_id_);
}

void Call::OnUpstreamData(const uint8_t* data, size_t length) {
  if (response_complete_ && !trailers_pending_) {
    upstream_->Consume(upstream_stream_id_, length);
    return;
  }
  response_bytes_ += length;
  const uint32_t limit = context_.limits.max_response_message_bytes;
  if (const uint32_t size = response_messages_.Feed(data, length, limit); size > 0) {
    upstream_->Consume(upstream_stream_id_, length);
    Fail(GrpcStatus::kResourceExhausted,
         absl::StrCat("response message of ", size,
                      " bytes exceeds max_response_message_bytes (", limit, ")"));
    return;
  }
  response_buffer_.append(reinterpret_cast<const char*>(data), length);
  downstream_.ResumeData(stream_id_);
}

void Call::OnUpstreamClose(uint32_t error_code) {
  // Bytes still buffered will never be consumed through this stream: give
  // the connection window back now, while the connection surely exists.
  UpstreamConnection* upstream = upstream_;
  upstream->Consume(upstream_stream_id_, response_buffer_.size() - response_offset_);
  upstream_ = nullptr;
  upstream_stream_id_ = 0;
  if (response_complete_) {
    if (client_span_open_) {
      client_span_.End(final_status_, final_message_);
      client_span_open_ = false;
    }
    return;
  }
  const GrpcStatus status = GrpcStatusFromHttp2Error(error_code);
  const std::string message =
      error_code == NGHTTP2_NO_ERROR
          ? absl::StrCat("upstream ", upstream->description(),
                         " closed the stream without a status")
          : absl::StrCat("upstream ", upstream->description(),
                         " reset the stream: ", nghttp2_http2_strerror(error_code));
  if (client_span_open_) {
    client_span_.End(static_cast<int>(status), message);
    client_span_open_ = false;
  }
  Fail(status, message);
}

ssize_t Call::ReadUpstreamData(uint8_t* buffer, size_t length, uint32_t* flags) {
  const size_t count = Drain(request_buffer_, request_offset_, buffer, length);
  // Handed to the upstream session: the client may send more.
  if (count > 0) downstream_.Consume(stream_id_, count);
  if (request_ended_ && request_offset_ == request_buffer_.size()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(count);
  }
  if (count == 0) return NGHTTP2_ERR_DEFERRED;
  return static_cast<ssize_t>(count);
}

// --- Ending the call -----------------------------------------------------------

void Call::ReleaseUpstream(uint32_t error_code, GrpcStatus span_status,
                           absl::string_view span_message) {
  if (upstream_ == nullptr) return;
  if (upstream_stream_id_ != 0) {
    upstream_->Cancel(upstream_stream_id_, error_code);
    upstream_->Consume(upstream_stream_id_, response_buffer_.size() - response_offset_);
  } else {
    upstream_->Detach(this);
  }
  upstream_ = nullptr;
  upstream_stream_id_ = 0;
  response_buffer_.clear();
  response_offset_ = 0;
  if (client_span_open_) {
    client_span_.End(static_cast<int>(span_status), Std(span_message));
    client_span_open_ = false;
  }
}

void Call::Fail(GrpcStatus status, absl::string_view message) {
  if (response_complete_) return;
  deadline_timer_.Disable();
  ReleaseUpstream(NGHTTP2_CANCEL, status, message);
  if (!response_headers_sent_) {
    RespondTrailersOnly(200, status, message);
    return;
  }
  // Headers went out already: end with trailers, dropping response bytes
  // not yet sent.
  final_status_ = static_cast<int>(status);
  final_message_ = std::string(message);
  trailers_.Clear();
  trailers_.Add("grpc-status", absl::StrCat(static_cast<int>(status)));
  trailers_.Add("grpc-message", PercentEncodeGrpcMessage(message));
  trailers_pending_ = true;
  response_complete_ = true;
  downstream_.ResumeData(stream_id_);
}

void Call::RespondTrailersOnly(int http_status, GrpcStatus status,
                               absl::string_view message) {
  final_status_ = static_cast<int>(status);
  final_message_ = std::string(message);
  response_complete_ = true;
  deadline_timer_.Disable();
  const std::string status_text = absl::StrCat(http_status);
  const std::string code_text = absl::StrCat(static_cast<int>(status));
  const std::string encoded = PercentEncodeGrpcMessage(message);
  const std::vector<nghttp2_nv> nva = {
      MakeNv(":status", status_text),
      MakeNv("content-type", "application/grpc"),
      MakeNv("grpc-status", code_text),
      MakeNv("grpc-message", encoded),
  };
  downstream_.SubmitResponse(stream_id_, nva, /*with_body=*/false);
}

void Call::NoteStatus(const HeaderList& headers) {
  final_status_ = static_cast<int>(GrpcStatus::kUnknown);
  if (const std::string* status = headers.Find("grpc-status")) {
    int code;
    if (absl::SimpleAtoi(*status, &code)) final_status_ = code;
  }
  const std::string* message = headers.Find("grpc-message");
  final_message_ = message != nullptr ? *message : std::string();
}

void Call::LogAccess() {
  AccessRecord record;
  record.start = start_wall_;
  if (const std::string* path = request_headers_.Find(":path")) {
    record.method = absl::StartsWith(*path, "/") ? path->substr(1) : *path;
  }
  if (route_ != nullptr) {
    record.route = route_->name;
    record.cluster = cluster_name_ != nullptr ? *cluster_name_ : route_->cluster;
  }
  record.endpoint = std::move(endpoint_);
  record.grpc_status =
      response_complete_ ? final_status_ : static_cast<int>(GrpcStatus::kCancelled);
  record.duration = context_.loop.now() - start_;
  record.request_bytes = request_bytes_;
  record.response_bytes = response_bytes_;
  std::string traceparent = client_span_.traceparent();
  if (traceparent.empty()) {
    if (const std::string* header = request_headers_.Find("traceparent")) traceparent = *header;
  }
  record.trace_id = TraceIdOf(traceparent);
  context_.access_log->Append(std::move(record));
}

size_t Call::RouteIndex() const {
  return static_cast<size_t>(route_ - context_.routes.routes().data());
}

void Call::OnDeadline() {
  Fail(GrpcStatus::kDeadlineExceeded,
       absl::StrCat("deadline exceeded (route \"", route_->name, "\")"));
}

}  // namespace polymesh::gateway
