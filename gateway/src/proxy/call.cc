#include "proxy/call.h"

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "common/grpc_timeout.h"
#include "common/host_port.h"
#include "common/status_details.h"
#include "common/string_views.h"
#include "proxy/call_policies.h"
#include "proxy/downstream_connection.h"
#include "proxy/mirror.h"
#include "proxy/upstream_request.h"

namespace polymesh::gateway {
namespace {

constexpr absl::string_view kHealthServicePrefix = "/grpc.health.v1.Health/";

// Copies up to `length` bytes from `buffer` at `offset` into `out`; returns
// how many, and resets the buffer once it is drained.
size_t Drain(PoolString& buffer, size_t& offset, uint8_t* out, size_t length) {
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
NvArray ForwardableNv(const HeaderList& headers) {
  NvArray nva;
  nva.reserve(headers.fields().size());
  for (const Header& header : headers.fields()) {
    if (IsHopByHopHeader(header.name)) continue;
    if (header.name == "te" && header.value != "trailers") continue;
    nva.push_back(MakeNv(header.name, header.value));
  }
  return nva;
}

}  // namespace

// The retry state of a call: made for routes with a retry policy, or at a
// call's first transparent retry.
struct Call::RetryState {
  RetryState(Call& call, const RetrySpec* retry_spec)
      : spec(retry_spec), retain(retry_spec != nullptr), timer(call.context_.loop, [&call] {
          call.OnRetryTimer();
        }) {}

  // The route's policy; nullptr: transparent retries only.
  const RetrySpec* spec;
  // The request is kept for replay (within buffer_bytes).
  bool retain;
  // Backoff, then the attempt's per-try timeout.
  Timer timer;
  bool backing_off = false;
  // Attempts counted against max_attempts (transparent ones are not).
  uint32_t policy_attempts = 0;
  // The next attempt retries a refused stream.
  bool next_transparent = false;
  // This call holds a slot of its cluster's retry budget.
  bool holds_budget = false;
  // The endpoint of the last failed attempt, avoided by the next one.
  UpstreamEndpoint avoid;
  bool has_avoid = false;
  // When the current attempt's per-try timeout runs out.
  absl::Time attempt_deadline = absl::InfiniteFuture();
};

Call::Call(CallContext& context, DownstreamConnection& downstream, int32_t stream_id)
    : context_(context),
      downstream_(downstream),
      stream_id_(stream_id),
      deadline_timer_(context.loop, [this] { OnDeadline(); }) {}

Call::~Call() = default;

// --- Downstream side ---------------------------------------------------------

void Call::OnRequestHeader(absl::string_view name, absl::string_view value) {
  if (request_headers_ended_) return;  // request trailers: not forwarded
  // Only the gateway says who the caller is: a client's own claim is
  // dropped on every route.
  if (name == kPrincipalHeader) return;
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
  const HeaderString* method = request_headers_.Find(":method");
  const HeaderString* path = request_headers_.Find(":path");
  if (context_.stats != nullptr) {
    context_.stats->CallStarted();
    counted_ = true;
  }
  start_ = context_.loop.now();
  if (context_.access_log != nullptr) start_wall_ = absl::Now();
  const absl::string_view path_view = path != nullptr ? *path : absl::string_view();

  if (context_.tracer != nullptr && !absl::StartsWith(path_view, kHealthServicePrefix)) {
    const HeaderString* traceparent = request_headers_.Find("traceparent");
    const HeaderString* tracestate = request_headers_.Find("tracestate");
    server_span_ = context_.tracer->StartServer(
        ToStd(path_view), traceparent != nullptr ? *traceparent : std::string_view(),
        tracestate != nullptr ? *tracestate : std::string_view());
    traced_ = true;
  }

  if (method == nullptr || *method != "POST") {
    RespondNotGrpc(405, GrpcStatus::kUnimplemented,
                   absl::StrCat("method ", method != nullptr ? *method : "(none)",
                                " not allowed: gRPC calls are POST requests"));
    return;
  }
  const HeaderString* content_type = request_headers_.Find("content-type");
  if (content_type == nullptr || !absl::StartsWith(*content_type, "application/grpc")) {
    RespondNotGrpc(415, GrpcStatus::kInternal,
                   absl::StrCat("unsupported content-type \"",
                                content_type != nullptr ? *content_type : "",
                                "\": want application/grpc"));
    return;
  }
  const CallLimits& limits = context_.limits;
  if (downstream_.active_calls() > limits.max_concurrent_streams_per_connection) {
    // HTTP/2's answer to a stream over the advertised limit (RFC 9113
    // §5.1.2): refused, which tells the client that nothing of it was
    // processed, so that it may send it again.
    final_status_ = static_cast<int>(GrpcStatus::kUnavailable);
    final_message_ = absl::StrCat("max_concurrent_streams_per_connection (",
                                  limits.max_concurrent_streams_per_connection,
                                  ") reached on this connection");
    response_complete_ = true;
    downstream_.ResetStream(stream_id_, NGHTTP2_REFUSED_STREAM);
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
  route_ = context_.routes.Find(
      path_view, [this](absl::string_view name) -> std::optional<absl::string_view> {
        const HeaderString* value = request_headers_.Find(name);
        if (value == nullptr) return std::nullopt;
        return absl::string_view(*value);
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
  if (route_->access != nullptr && !Authenticate()) return;
  if (route_->rate_limit != nullptr && !AdmitRate()) return;

  absl::Duration timeout = route_->timeout;
  if (const HeaderString* header = request_headers_.Find("grpc-timeout")) {
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

  if (context_.policies != nullptr) {
    context_.policies->CallStarted(cluster_index_);
    in_cluster_load_ = true;
    if (route_->retry.has_value()) retry_ = std::make_unique<RetryState>(*this, &*route_->retry);
    if (route_->mirror.has_value() &&
        context_.policies->MirrorNext(RouteIndex(), route_->mirror->percent)) {
      StartShadow();
    }
  }
  StartAttempt();
}

bool Call::Authenticate() {
  const RouteAccess& access = *route_->access;
  Credentials credentials;
  const std::string& key_header = access.auth_providers().api_key_header();
  const HeaderString* key = (access.providers() & kApiKeyProvider) != 0
                                ? request_headers_.Find(key_header)
                                : nullptr;
  if (key != nullptr) credentials.api_key = *key;
  const HeaderString* authorization = (access.providers() & kJwtProvider) != 0
                                          ? request_headers_.Find("authorization")
                                          : nullptr;
  if (authorization != nullptr) credentials.authorization = *authorization;
  credentials.peer_principal = downstream_.peer_principal();
  absl::StatusOr<Identity> identity =
      access.Check(credentials, context_.loop.now(), route_->name);
  if (!identity.ok()) {
    const bool denied = identity.status().code() == absl::StatusCode::kPermissionDenied;
    Refuse(denied ? GrpcStatus::kPermissionDenied : GrpcStatus::kUnauthenticated,
           identity.status().message(),
           denied ? PolicyCounter::kPermissionDenied : PolicyCounter::kUnauthenticated);
    return false;
  }
  identity_ = std::move(*identity);
  // The credential stays at the front door: backends learn who called from
  // the principal header alone.
  if (identity_.provider == kApiKeyProvider) request_headers_.Remove(key_header);
  if (identity_.provider == kJwtProvider) request_headers_.Remove("authorization");
  if (!identity_.principal.empty()) {
    request_headers_.Add(kPrincipalHeader, identity_.principal);
  }
  return true;
}

bool Call::AdmitRate() {
  // Anonymous callers share a bucket per client address; a principal's
  // bucket is looked up by its name as it is (no copy per call).
  std::string anonymous;
  absl::string_view key = identity_.principal;
  if (key.empty()) {
    anonymous = absl::StrCat("anonymous@", downstream_.peer_ip());
    key = anonymous;
  }
  const absl::Duration wait = route_->rate_limit->Acquire(key, context_.loop.now());
  if (wait <= absl::ZeroDuration()) return true;
  const std::string message =
      absl::StrCat("rate limit of route \"", route_->name, "\" exceeded for ",
                   identity_.principal.empty() ? "anonymous callers from " : "principal ",
                   identity_.principal.empty() ? downstream_.peer_ip() : key,
                   ": retry in ", absl::FormatDuration(wait));
  Refuse(GrpcStatus::kResourceExhausted, message, PolicyCounter::kRateLimited,
         absl::Base64Escape(RateLimitedStatus(GrpcStatus::kResourceExhausted, message, wait,
                                              key, route_->rate_limit_text)));
  return false;
}

void Call::Refuse(GrpcStatus status, absl::string_view message, PolicyCounter counter,
                  absl::string_view details) {
  Count(counter);
  RespondTrailersOnly(200, status, message, details);
}

void Call::StartAttempt() {
  ++attempts_;
  const UpstreamEndpoint* avoid =
      retry_ != nullptr && retry_->has_avoid ? &retry_->avoid : nullptr;
  upstream_ = context_.clusters.Pick(cluster_index_, avoid);
  const UpstreamEndpoint& endpoint = upstream_->endpoint();
  if (context_.access_log != nullptr) {
    endpoint_ = JoinHostPort(endpoint.host, endpoint.port);
  }
  bool transparent = false;
  if (retry_ != nullptr) {
    transparent = retry_->next_transparent;
    retry_->next_transparent = false;
    if (!transparent) ++retry_->policy_attempts;
    if (retry_->spec != nullptr && retry_->spec->per_try_timeout != absl::InfiniteDuration()) {
      retry_->attempt_deadline = context_.loop.now() + retry_->spec->per_try_timeout;
      retry_->timer.EnableAt(retry_->attempt_deadline);
    }
  }
  if (traced_) {
    client_span_ = server_span_.StartClient(endpoint.host, endpoint.port);
    client_span_open_ = true;
    if (retry_ != nullptr) client_span_.SetAttempt(attempts_, transparent);
  }
  upstream_->Attach(this);  // may fail, and retry, at once: nothing after this
}

void Call::StartShadow() {
  ShadowCall::Start(context_, RouteIndex(), *route_->mirror, request_headers_, deadline_,
                    traced_ ? &server_span_ : nullptr, &shadow_);
}

void Call::OnRequestData(const uint8_t* data, size_t length) {
  if (route_ == nullptr || response_complete_) {
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
  if (shadow_ != nullptr) shadow_->OnRequestData(data, length);
  if (retry_ != nullptr && retry_->retain && request_bytes_ > retry_->spec->buffer_bytes) {
    DropReplayBuffer();
  }
  if (upstream_ != nullptr && upstream_stream_id_ != 0) upstream_->ResumeData(upstream_stream_id_);
}

void Call::DropReplayBuffer() {
  retry_->retain = false;
  Count(PolicyCounter::kRetryBufferOverflow);
  if (request_offset_ == 0) return;
  // Bytes the current attempt has sent are not needed any more.
  request_buffer_.erase(0, request_offset_);
  request_consumed_ -= request_offset_;
  request_offset_ = 0;
  request_trimmed_ = true;
}

void Call::OnRequestEnd() {
  request_ended_ = true;
  if (not_grpc_http_status_ != 0) {
    SendNotGrpcResponse();
    return;
  }
  if (shadow_ != nullptr) shadow_->OnRequestEnd();
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
  // The client went away (or reset the stream) before the upstream half
  // finished: cancel it (and a pending retry).
  ReleaseUpstream(NGHTTP2_CANCEL, GrpcStatus::kCancelled, "cancelled by the client");
  ReleaseRetrySlot();
  if (in_cluster_load_) {
    context_.policies->CallEnded(cluster_index_);
    in_cluster_load_ = false;
  }
  if (shadow_ != nullptr) shadow_->OnCallEnded(request_ended_);
  // Request bytes never forwarded still count against the connection window.
  downstream_.Consume(stream_id_, request_buffer_.size() - request_consumed_);
  request_buffer_.clear();
  request_offset_ = 0;
  request_consumed_ = 0;
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
    if (retry_ != nullptr) server_span_.SetAttempts(attempts_);
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
  if (not_grpc_http_status_ != 0) {
    // The text of an answer to a request that is not a gRPC call.
    if (response_buffer_.empty()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(count);
  }
  if (count > 0 && upstream_ != nullptr && upstream_stream_id_ != 0) {
    // Handed to the downstream session: the upstream may send more.
    upstream_->Consume(upstream_stream_id_, count);
  }
  if (response_offset_ == response_buffer_.size() && trailers_pending_) {
    trailers_pending_ = false;
    NvArray nva = ForwardableNv(trailers_);
    downstream_.SubmitTrailers(stream_id_, nva);
    *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    return static_cast<ssize_t>(count);
  }
  if (count == 0) return NGHTTP2_ERR_DEFERRED;
  return static_cast<ssize_t>(count);
}

// --- Upstream side -------------------------------------------------------------

void Call::OnUpstreamReady() {
  absl::Time deadline = deadline_;
  if (retry_ != nullptr) deadline = std::min(deadline, retry_->attempt_deadline);
  const UpstreamRequest request(request_headers_, deadline,
                                client_span_open_ ? &client_span_ : nullptr, "");
  const bool has_body = !request_ended_ || request_offset_ < request_buffer_.size();
  absl::StatusOr<int32_t> stream_id = upstream_->Submit(request.nva(), has_body, this);
  if (!stream_id.ok()) {
    OnUpstreamFailure(stream_id.status().message(), /*refused=*/true);
    return;
  }
  upstream_stream_id_ = *stream_id;
}

void Call::OnUpstreamFailure(absl::string_view message, bool refused) {
  // The connection has already forgotten this stream (it stays alive while
  // this runs: MaybeRetry() reads its endpoint).
  upstream_stream_id_ = 0;
  if (MaybeRetry(refused ? AttemptFailure::kRefused : AttemptFailure::kReset,
                 GrpcStatus::kUnavailable, message)) {
    return;
  }
  upstream_ = nullptr;
  if (client_span_open_) {
    client_span_.End(static_cast<int>(GrpcStatus::kUnavailable), ToStd(message));
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
    const HeaderString* status = response_headers_.Find(":status");
    if (status != nullptr && !status->empty() && (*status)[0] == '1') {
      response_headers_.Clear();  // informational: wait for the real headers
      return;
    }
    response_headers_received_ = true;
    if (end_stream) {
      // Trailers-only response.
      NoteStatus(response_headers_);
      if (final_status_ != 0 &&
          MaybeRetry(AttemptFailure::kStatus, static_cast<GrpcStatus>(final_status_),
                     final_message_)) {
        return;
      }
      response_complete_ = true;
      deadline_timer_.Disable();
      StopRetryTimer();
      NvArray nva = ForwardableNv(response_headers_);
      downstream_.SubmitResponse(stream_id_, nva, /*with_body=*/false);
    } else if (retry_ == nullptr || retry_->spec == nullptr) {
      SendHeldHeaders();
    }
    // Else held until the first message or the trailers: a retry is still
    // possible until then.
    return;
  }
  // Trailers.
  NoteStatus(trailers_);
  if (!response_headers_sent_) {
    if (final_status_ != 0 &&
        MaybeRetry(AttemptFailure::kStatus, static_cast<GrpcStatus>(final_status_),
                   final_message_)) {
      return;
    }
    SendHeldHeaders();
  }
  trailers_pending_ = true;
  response_complete_ = true;
  deadline_timer_.Disable();
  StopRetryTimer();
  downstream_.ResumeData(stream_id_);
}

void Call::SendHeldHeaders() {
  response_headers_sent_ = true;
  NvArray nva = ForwardableNv(response_headers_);
  downstream_.SubmitResponse(stream_id_, nva, /*with_body=*/true);
}

void Call::OnUpstreamData(const uint8_t* data, size_t length) {
  if (response_complete_ && !trailers_pending_) {
    upstream_->Consume(upstream_stream_id_, length);
    return;
  }
  // The first response message commits the call to this attempt.
  if (!response_headers_sent_ && response_headers_received_) SendHeldHeaders();
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
  upstream_stream_id_ = 0;
  if (response_complete_) {
    upstream_ = nullptr;
    ReleaseRetrySlot();
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
  if (MaybeRetry(error_code == NGHTTP2_REFUSED_STREAM ? AttemptFailure::kRefused
                                                      : AttemptFailure::kReset,
                 status, message)) {
    return;
  }
  upstream_ = nullptr;
  if (client_span_open_) {
    client_span_.End(static_cast<int>(status), message);
    client_span_open_ = false;
  }
  Fail(status, message);
}

ssize_t Call::ReadUpstreamData(uint8_t* buffer, size_t length, uint32_t* flags) {
  const size_t count = std::min(length, request_buffer_.size() - request_offset_);
  std::memcpy(buffer, request_buffer_.data() + request_offset_, count);
  request_offset_ += count;
  if (request_offset_ > request_consumed_) {
    // Handed to the upstream session for the first time: the client may
    // send more.
    downstream_.Consume(stream_id_, request_offset_ - request_consumed_);
    request_consumed_ = request_offset_;
  }
  if (request_offset_ == request_buffer_.size() && request_offset_ > 0 &&
      (retry_ == nullptr || !retry_->retain)) {
    // Not kept for replay: drop what was sent.
    request_buffer_.clear();
    request_offset_ = 0;
    request_consumed_ = 0;
    request_trimmed_ = true;
  }
  if (request_ended_ && request_offset_ == request_buffer_.size()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(count);
  }
  if (count == 0) return NGHTTP2_ERR_DEFERRED;
  return static_cast<ssize_t>(count);
}

// --- Retries -------------------------------------------------------------------

bool Call::MaybeRetry(AttemptFailure failure, GrpcStatus status, absl::string_view message) {
  // The attempt that failed gives back its budget slot, whatever comes next.
  ReleaseRetrySlot();
  if (response_headers_sent_ || response_complete_) return false;  // committed
  if (deadline_ <= context_.loop.now()) return false;
  const bool transparent = failure == AttemptFailure::kRefused && !request_trimmed_ &&
                           transparent_retries_ < kMaxTransparentRetries;
  if (transparent) {
    ++transparent_retries_;
    Count(PolicyCounter::kTransparentRetry);
    if (retry_ == nullptr) retry_ = std::make_unique<RetryState>(*this, nullptr);
  } else {
    if (retry_ == nullptr || retry_->spec == nullptr || !retry_->retain) return false;
    const RetrySpec& spec = *retry_->spec;
    // An upstream that was sent the per-try deadline (not the call's) and
    // answers DEADLINE_EXCEEDED ran out of it, often a moment before the
    // gateway's own timer: that is the per-try timeout too.
    const bool per_try_expired = failure == AttemptFailure::kPerTryTimeout ||
                                 (status == GrpcStatus::kDeadlineExceeded &&
                                  retry_->attempt_deadline < deadline_);
    if (failure == AttemptFailure::kStatus && !per_try_expired &&
        !spec.RetriesOn(static_cast<int>(status))) {
      return false;
    }
    if (retry_->policy_attempts >= spec.max_attempts) {
      Count(PolicyCounter::kRetryExhausted);
      return false;
    }
    if (context_.policies == nullptr || !context_.policies->TakeRetry(cluster_index_, spec)) {
      Count(PolicyCounter::kRetryOverBudget);
      return false;
    }
    retry_->holds_budget = true;
    Count(PolicyCounter::kRetry);
  }

  // Abandon the failed attempt; the next one avoids its endpoint.
  if (upstream_ != nullptr) {
    retry_->avoid = upstream_->endpoint();
    retry_->has_avoid = true;
  }
  ReleaseUpstream(NGHTTP2_CANCEL, status, message);
  response_headers_.Clear();
  response_headers_received_ = false;
  trailers_.Clear();
  response_messages_ = GrpcMessageScanner();
  final_status_ = static_cast<int>(GrpcStatus::kUnknown);
  final_message_.clear();
  request_offset_ = 0;  // replay from the first byte
  retry_->attempt_deadline = absl::InfiniteFuture();

  if (transparent) {
    // At once: the upstream never saw the stream.
    retry_->next_transparent = true;
    StartAttempt();
  } else {
    retry_->backing_off = true;
    retry_->timer.Enable(context_.policies->Backoff(*retry_->spec, retry_->policy_attempts));
  }
  return true;
}

void Call::OnRetryTimer() {
  if (retry_->backing_off) {
    retry_->backing_off = false;
    StartAttempt();
    return;
  }
  const std::string message =
      absl::StrCat("per-try timeout (", absl::FormatDuration(retry_->spec->per_try_timeout),
                   ") of route \"", route_->name, "\"");
  if (MaybeRetry(AttemptFailure::kPerTryTimeout, GrpcStatus::kDeadlineExceeded, message)) {
    return;
  }
  Fail(GrpcStatus::kDeadlineExceeded, message);
}

void Call::ReleaseRetrySlot() {
  if (retry_ == nullptr || !retry_->holds_budget) return;
  retry_->holds_budget = false;
  context_.policies->ReleaseRetry(cluster_index_);
}

void Call::StopRetryTimer() {
  if (retry_ == nullptr) return;
  retry_->timer.Disable();
  retry_->backing_off = false;
}

void Call::Count(PolicyCounter counter) {
  if (context_.stats != nullptr) context_.stats->CountPolicy(RouteIndex(), counter);
}

// --- Ending the call -----------------------------------------------------------

void Call::ReleaseUpstream(uint32_t error_code, GrpcStatus span_status,
                           absl::string_view span_message) {
  StopRetryTimer();
  if (upstream_ != nullptr) {
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
  }
  if (client_span_open_) {
    client_span_.End(static_cast<int>(span_status), ToStd(span_message));
    client_span_open_ = false;
  }
}

void Call::Fail(GrpcStatus status, absl::string_view message) {
  if (response_complete_) return;
  deadline_timer_.Disable();
  ReleaseUpstream(NGHTTP2_CANCEL, status, message);
  ReleaseRetrySlot();
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

void Call::RespondNotGrpc(int http_status, GrpcStatus status, absl::string_view message) {
  not_grpc_http_status_ = http_status;
  final_status_ = static_cast<int>(status);
  final_message_ = std::string(message);
  // Answered once the request has ended, as an HTTP server answers: the
  // request's frames are still checked by the session meanwhile, and its
  // bytes dropped.
  if (request_ended_) SendNotGrpcResponse();
}

void Call::SendNotGrpcResponse() {
  if (response_complete_) return;
  response_complete_ = true;
  response_buffer_.assign(final_message_.data(), final_message_.size());
  response_buffer_.push_back('\n');
  response_offset_ = 0;
  const std::string status_text = absl::StrCat(not_grpc_http_status_);
  const std::string code_text = absl::StrCat(final_status_);
  const std::string encoded = PercentEncodeGrpcMessage(final_message_);
  const NvArray nva = {
      MakeNv(":status", status_text),
      MakeNv("content-type", "text/plain; charset=utf-8"),
      MakeNv("grpc-status", code_text),
      MakeNv("grpc-message", encoded),
  };
  downstream_.SubmitResponse(stream_id_, nva, /*with_body=*/true);
}

void Call::RespondTrailersOnly(int http_status, GrpcStatus status, absl::string_view message,
                               absl::string_view details) {
  final_status_ = static_cast<int>(status);
  final_message_ = std::string(message);
  response_complete_ = true;
  deadline_timer_.Disable();
  const std::string status_text = absl::StrCat(http_status);
  const std::string code_text = absl::StrCat(static_cast<int>(status));
  const std::string encoded = PercentEncodeGrpcMessage(message);
  NvArray nva = {
      MakeNv(":status", status_text),
      MakeNv("content-type", "application/grpc"),
      MakeNv("grpc-status", code_text),
      MakeNv("grpc-message", encoded),
  };
  if (!details.empty()) nva.push_back(MakeNv("grpc-status-details-bin", details));
  downstream_.SubmitResponse(stream_id_, nva, /*with_body=*/false);
}

void Call::NoteStatus(const HeaderList& headers) {
  final_status_ = static_cast<int>(GrpcStatus::kUnknown);
  if (const HeaderString* status = headers.Find("grpc-status")) {
    int code;
    if (absl::SimpleAtoi(*status, &code)) final_status_ = code;
  }
  // Percent-encoded on the wire; spans record the text.
  const HeaderString* message = headers.Find("grpc-message");
  final_message_ = message != nullptr ? PercentDecodeGrpcMessage(*message) : std::string();
}

void Call::LogAccess() {
  AccessRecord record;
  record.start = start_wall_;
  if (const HeaderString* path = request_headers_.Find(":path")) {
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
  record.attempts = attempts_;
  std::string traceparent = client_span_.traceparent();
  if (traceparent.empty()) {
    if (const HeaderString* header = request_headers_.Find("traceparent")) traceparent = *header;
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
