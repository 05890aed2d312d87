// One gRPC call through the gateway: a downstream HTTP/2 stream bridged to
// an upstream stream, or to several one after the other when it is retried.
//
// The call routes on :path, enforces the deadline (the client's grpc-timeout
// capped by the route's timeout), forwards request metadata and DATA bytes
// upstream and response headers, DATA and trailers downstream, without
// parsing messages. Bytes received on one side are returned to that side's
// flow-control window (nghttp2_session_consume) only once the other side's
// session has taken them to send, so each direction buffers at most one
// stream window and a slow reader slows its writer.
//
// Errors the gateway raises itself (no route, unreachable upstream,
// deadline, upstream reset) reach the client as a gRPC status: trailers-only
// when no response headers were sent yet, else as trailers.
//
// Retries (Envoy's and gRPC's semantics): a stream the upstream refused
// (the connection failed before the stream was submitted, GOAWAY,
// REFUSED_STREAM) moves at once to another connection, on any route, while
// its request bytes are still held (a transparent retry, at most
// kMaxTransparentRetries). On a route with a retry policy, an attempt that
// ends with a status in retry_on, a reset or lost connection, or its
// per-try timeout is tried again after a backoff with full jitter, on
// another endpoint when the cluster has one, while: attempts are left, the
// request is within buffer_bytes (it is kept for replay until then), no
// response message reached the client (the response headers are held
// until the first message or the trailers), the deadline has not passed and
// the cluster's retry budget allows it. Such a route costs a request copy;
// a route without one keeps the plain bridge: no extra allocation or copy.
//
// Mirroring: on a route with a mirror, a share of the calls gets a
// ShadowCall (proxy/mirror.h) that is fed a copy of the request bytes.
//
// A Call is made and owned by its DownstreamConnection, which feeds it the
// downstream events; the UpstreamConnection feeds it the upstream ones.
#ifndef POLYMESH_GATEWAY_SRC_PROXY_CALL_H_
#define POLYMESH_GATEWAY_SRC_PROXY_CALL_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "accesslog/access_log.h"
#include "common/block_pool.h"
#include "common/grpc_status.h"
#include "observability/tracing.h"
#include "routing/route_table.h"
#include "stats/stats.h"
#include "transport/event_loop.h"
#include "transport/grpc_frames.h"
#include "transport/headers.h"
#include "upstream/cluster.h"
#include "upstream/upstream_connection.h"

namespace polymesh::gateway {

class CallPolicies;
class DownstreamConnection;
class ShadowCall;

// The effective limits (the configuration's, defaults filled in).
struct CallLimits {
  uint32_t max_request_message_bytes = 4u << 20;
  uint32_t max_response_message_bytes = 4u << 20;
  uint32_t max_concurrent_streams_per_connection = 1000;
  uint32_t max_active_streams = 100000;
};

// What every call of a worker shares: its loop, the routes, its upstream
// connections and the tracer.
struct CallContext {
  // The worker's loop.
  EventLoop& loop;
  // The route table (shared by all workers, read-only).
  const RouteTable& routes;
  // The worker's clusters.
  ClusterManager& clusters;
  // Makes the spans; nullptr for no tracing at all.
  observability::Tracer* tracer = nullptr;
  // The worker's statistics; nullptr for none.
  WorkerStats* stats = nullptr;
  // The access log (thread-safe); nullptr for none.
  AccessLog* access_log = nullptr;
  // The worker's position in each route's weighted split, by route index
  // (one entry per route); nullptr: every split call takes its first share.
  std::vector<uint64_t>* split_positions = nullptr;
  // The limits.
  CallLimits limits;
  // Streams open in the whole gateway, shared by every worker; nullptr: not
  // limited.
  std::atomic<int64_t>* active_streams = nullptr;
  // The worker's retry budget, backoff jitter, mirror positions and shadow
  // calls; nullptr: no policy retries and no mirroring (transparent retries
  // still happen).
  CallPolicies* policies = nullptr;
};

// The bridge of one downstream stream to one upstream stream.
class Call : public UpstreamStreamCallbacks {
 public:
  // A call on `stream_id` of `downstream`.
  Call(CallContext& context, DownstreamConnection& downstream, int32_t stream_id);
  ~Call() override;
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  // Calls live in the worker's block pool: no malloc per call once warm.
  static void* operator new(size_t size) { return PoolAllocate(size); }
  static void operator delete(void* block) { PoolFree(block); }

  // --- Downstream events (from DownstreamConnection) ---

  // One field of the request headers.
  void OnRequestHeader(absl::string_view name, absl::string_view value);
  // The end of a request header block; `end_stream` when the request has
  // no body.
  void OnRequestHeadersEnd(bool end_stream);
  // Request DATA bytes.
  void OnRequestData(const uint8_t* data, size_t length);
  // The client finished sending (END_STREAM).
  void OnRequestEnd();
  // The downstream stream closed: `error_code` is the client's RST_STREAM
  // code, or NO_ERROR. The call is destroyed right after.
  void OnDownstreamClose(uint32_t error_code);
  // Fills `buffer` with response DATA for the downstream session (nghttp2
  // data provider semantics); submits the trailers when they are due.
  ssize_t ReadResponseData(uint8_t* buffer, size_t length, uint32_t* flags);
  // Whether the client has finished sending.
  bool request_ended() const { return request_ended_; }

  // --- Upstream events (UpstreamStreamCallbacks) ---

  void OnUpstreamReady() override;
  void OnUpstreamFailure(absl::string_view message, bool refused) override;
  void OnUpstreamHeader(absl::string_view name, absl::string_view value) override;
  void OnUpstreamHeadersEnd(bool trailers, bool end_stream) override;
  void OnUpstreamData(const uint8_t* data, size_t length) override;
  void OnUpstreamClose(uint32_t error_code) override;
  ssize_t ReadUpstreamData(uint8_t* buffer, size_t length, uint32_t* flags) override;

 private:
  // Why an upstream attempt failed.
  enum class AttemptFailure {
    kStatus,         // a grpc-status in the trailers (or trailers-only)
    kReset,          // the stream was reset or the connection lost
    kRefused,        // the upstream surely did not process the stream
    kPerTryTimeout,  // the retry policy's per_try_timeout ran out
  };
  struct RetryState;

  // Validates the request, routes it and starts the first upstream attempt.
  void Start();
  // Checks the caller against the route's access rule; on success sets the
  // principal header and removes the credential, else answers the call.
  bool Authenticate();
  // Takes a token of the route's rate limit, or answers the call
  // RESOURCE_EXHAUSTED with RetryInfo and QuotaFailure details.
  bool AdmitRate();
  // Answers trailers-only with a refusal, counted as `counter`.
  void Refuse(GrpcStatus status, absl::string_view message, PolicyCounter counter,
              absl::string_view details = "");
  // Picks a connection (avoiding the last failed endpoint) and asks it for
  // a stream.
  void StartAttempt();
  // Tries the call again after an attempt failed with `status`, when the
  // failure and the route allow it: abandons the attempt and starts the
  // next one (transparent retries) or its backoff. False when the failure
  // stands (nothing changed then, apart from counters).
  bool MaybeRetry(AttemptFailure failure, GrpcStatus status, absl::string_view message);
  // The retry timer: the backoff ended, or the attempt's per-try timeout.
  void OnRetryTimer();
  // The client sent more than buffer_bytes: the request is no longer kept
  // for replay.
  void DropReplayBuffer();
  // Gives back the retry budget slot this call holds, if any.
  void ReleaseRetrySlot();
  // Submits the response headers held while a retry was still possible.
  void SendHeldHeaders();
  // Stops the retry timer.
  void StopRetryTimer();
  // Counts a policy outcome for the call's route.
  void Count(PolicyCounter counter);
  // Starts the shadow call of a mirrored route.
  void StartShadow();
  // Ends the call with a status the gateway raises itself; cancels the
  // upstream stream if one is open.
  void Fail(GrpcStatus status, absl::string_view message);
  // Answers a request that is not a gRPC call (not a POST, or not
  // application/grpc) with HTTP `http_status` and `message` as text (and
  // `status` in grpc-status), once the request has ended.
  void RespondNotGrpc(int http_status, GrpcStatus status, absl::string_view message);
  void SendNotGrpcResponse();
  // Answers with a trailers-only response (HTTP `http_status`).
  void RespondTrailersOnly(int http_status, GrpcStatus status, absl::string_view message,
                           absl::string_view details = "");
  // Stops the upstream attempt: resets its stream with `error_code` (if
  // open), returns buffered bytes to its window, ends the CLIENT span, stops
  // the retry timer.
  void ReleaseUpstream(uint32_t error_code, GrpcStatus span_status,
                       absl::string_view span_message);
  // Records the final status seen in a header block (for spans).
  void NoteStatus(const HeaderList& headers);
  void OnDeadline();
  // Hands this call's record to the access log.
  void LogAccess();
  // route_'s position in the route table.
  size_t RouteIndex() const;

  CallContext& context_;
  DownstreamConnection& downstream_;
  const int32_t stream_id_;

  // Request side.
  HeaderList request_headers_;
  bool request_headers_ended_ = false;
  bool request_ended_ = false;
  // Request bytes not yet sent upstream, or (kept for replay) every byte.
  PoolString request_buffer_;
  // Where the current attempt is in request_buffer_.
  size_t request_offset_ = 0;
  // How much of request_buffer_ was returned to the downstream window.
  size_t request_consumed_ = 0;
  // Bytes were dropped once sent: the request cannot be replayed.
  bool request_trimmed_ = false;
  const Route* route_ = nullptr;
  // Who the caller is, on a route with an access rule.
  Identity identity_;
  // The cluster the call goes to: the route's, or its split's pick.
  size_t cluster_index_ = 0;
  const std::string* cluster_name_ = nullptr;
  absl::Time deadline_ = absl::InfiniteFuture();
  Timer deadline_timer_;

  // Upstream attempt.
  UpstreamConnection* upstream_ = nullptr;
  int32_t upstream_stream_id_ = 0;  // 0 until submitted
  // Attempts made (transparent retries included).
  uint32_t attempts_ = 0;
  uint32_t transparent_retries_ = 0;
  // Made for routes with a retry policy, or at a call's first transparent
  // retry.
  std::unique_ptr<RetryState> retry_;
  // The call counts in its cluster's retry budget (CallPolicies).
  bool in_cluster_load_ = false;
  // The running shadow call, if mirrored (set to nullptr when it ends).
  ShadowCall* shadow_ = nullptr;

  // Response side.
  HeaderList response_headers_;
  bool response_headers_received_ = false;
  bool response_headers_sent_ = false;
  HeaderList trailers_;
  bool trailers_pending_ = false;
  bool response_complete_ = false;  // final status submitted downstream
  PoolString response_buffer_;
  size_t response_offset_ = 0;

  // Limits.
  GrpcMessageScanner request_messages_;
  GrpcMessageScanner response_messages_;
  bool holds_active_stream_ = false;

  // Statistics.
  bool counted_ = false;  // CallStarted() was recorded
  bool routed_ = false;   // CallRouted() was recorded
  absl::Time start_;
  uint64_t request_bytes_ = 0;
  uint64_t response_bytes_ = 0;
  // For the access log (set only when there is one).
  absl::Time start_wall_;
  std::string endpoint_;

  // Outcome and spans.
  int final_status_ = static_cast<int>(GrpcStatus::kUnknown);
  // The HTTP status of the answer to a request that is not a gRPC call; 0
  // for a gRPC call.
  int not_grpc_http_status_ = 0;
  std::string final_message_;
  bool traced_ = false;
  bool client_span_open_ = false;
  observability::ServerSpan server_span_;
  observability::ClientSpan client_span_;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_PROXY_CALL_H_
