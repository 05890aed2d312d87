// A shadow call: the copy of a call that a route's mirror sends to its
// shadow cluster, whose answer is read and discarded.
//
// The shadow gets the call's request headers (":authority" with "-shadow"
// appended, as Envoy does, so the shadow can tell copies apart), what is
// left of its deadline and its own CLIENT span, then the same request bytes
// as the client sends them. Nothing flows back: the client's call never
// waits for the shadow (its bytes are copied, its flow-control window is
// not tied to the shadow's) and never sees its status. A shadow that falls
// behind by more than its mirror's max_buffered_bytes is cancelled; so is one whose
// call ends before the client finished sending. The shadow outlives its
// call otherwise: it belongs to the worker's CallPolicies, which deletes it
// when it finishes.
//
// Usage (what a Call does):
//
//   ShadowCall::Start(context, route_index, *route.mirror, request_headers,
//                     deadline, &server_span, &shadow_);  // nulled when it ends
//   if (shadow_ != nullptr) shadow_->OnRequestData(data, length);
//   if (shadow_ != nullptr) shadow_->OnRequestEnd();
//   if (shadow_ != nullptr) shadow_->OnCallEnded(request_complete);
#ifndef POLYMESH_GATEWAY_SRC_PROXY_MIRROR_H_
#define POLYMESH_GATEWAY_SRC_PROXY_MIRROR_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "observability/tracing.h"
#include "routing/route_table.h"
#include "stats/stats.h"
#include "transport/event_loop.h"
#include "transport/headers.h"
#include "upstream/upstream_connection.h"

namespace polymesh::gateway {

struct CallContext;

// One shadow call.
class ShadowCall : public UpstreamStreamCallbacks, public DeferredDeletable {
 public:
  // Starts the shadow of a call on route `route_index` to `mirror`'s
  // cluster, with the call's `headers` (copied) and `deadline`
  // (absl::InfiniteFuture() for none); its CLIENT span is a child of
  // `parent` (nullptr: no span). `*link` points at the shadow while it runs and is set to nullptr
  // when it ends. Returns the shadow, or nullptr when it already ended
  // (such as an upstream that refused at once, counted as a failure).
  // `context.policies` must be set.
  static ShadowCall* Start(CallContext& context, size_t route_index, const MirrorSpec& mirror,
                           const HeaderList& headers, absl::Time deadline,
                           observability::ServerSpan* parent, ShadowCall** link);
  ~ShadowCall() override;

  // Request bytes from the client, copied.
  void OnRequestData(const uint8_t* data, size_t length);
  // The client finished sending.
  void OnRequestEnd();
  // The call ended; the shadow runs on when `request_complete`, else it is
  // cancelled. Unlinks it from the call.
  void OnCallEnded(bool request_complete);
  // Cancels the shadow (counted), with `reason` on its span.
  void Cancel(absl::string_view reason);

  // --- Upstream events (UpstreamStreamCallbacks) ---

  void OnUpstreamReady() override;
  void OnUpstreamFailure(absl::string_view message, bool refused) override;
  void OnUpstreamHeader(absl::string_view name, absl::string_view value) override;
  void OnUpstreamHeadersEnd(bool trailers, bool end_stream) override;
  void OnUpstreamData(const uint8_t* data, size_t length) override;
  void OnUpstreamClose(uint32_t error_code) override;
  ssize_t ReadUpstreamData(uint8_t* buffer, size_t length, uint32_t* flags) override;

 private:
  ShadowCall(CallContext& context, size_t route_index, const MirrorSpec& mirror,
             const HeaderList& headers, absl::Time deadline, ShadowCall** link);
  // How the shadow ended.
  enum class Outcome { kOk, kFailed, kCancelled };
  // Ends the shadow once: stops its upstream stream, ends its span, counts
  // the outcome, unlinks it and hands it back to CallPolicies.
  void Finish(Outcome outcome, int grpc_status, absl::string_view message);

  CallContext& context_;
  const size_t route_index_;
  const MirrorSpec& mirror_;
  HeaderList headers_;
  const absl::Time deadline_;
  Timer deadline_timer_;
  ShadowCall** link_;
  observability::ClientSpan span_;
  bool span_open_ = false;

  UpstreamConnection* upstream_ = nullptr;
  int32_t stream_id_ = 0;
  std::string request_buffer_;
  size_t request_offset_ = 0;
  bool request_ended_ = false;
  int grpc_status_ = -1;  // from the trailers; -1 until seen
  bool finished_ = false;
};

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_PROXY_MIRROR_H_
