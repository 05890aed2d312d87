// The load generator behind `polymesh bench`: gRPC calls over HTTP/2
// (nghttp2 on the gateway's epoll EventLoop and Http2Connection), several
// threads each with its own loop and connections, many streams per
// connection.
//
// Two ways to make load:
//   * closed loop (rate == 0): `concurrency` calls are always in flight; a
//     call that ends starts the next one; latency runs from the send;
//   * open loop (rate > 0): calls are sent on a fixed schedule of `rate`
//     calls per second (schedule.h) however the server keeps up; latency
//     runs from the INTENDED send time, so queueing shows.
// Unary calls send one request; client streams `stream_messages` requests;
// server streams one request and count the responses; bidi streams play
// ping-pong, `stream_messages` round trips per call, each timed.
//
// A run warms up for `warmup` (calls started then are not counted), then
// measures until `duration` has passed or `calls` calls were started; it
// always stops by itself: calls still in flight get the deadline (or 10 s)
// to end, then are cancelled and counted as CANCELLED.
//
// Usage:
//
//   LoadSpec spec;
//   spec.target = *ParseHostPort("127.0.0.1:8080");
//   spec.path = "/polymesh.testing.v1.EchoService/Unary";
//   spec.request = request.SerializeAsString();
//   spec.concurrency = 50;
//   spec.duration = absl::Seconds(5);
//   absl::StatusOr<LoadResult> result = RunLoad(spec, [](const LoadProgress& p) {...});
#ifndef POLYMESH_CLIENTS_CPP_SRC_LOAD_H_
#define POLYMESH_CLIENTS_CPP_SRC_LOAD_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "args.h"
#include "histogram.h"

namespace polymesh::cli {

// The gRPC call kinds.
enum class CallKind { kUnary, kClientStreaming, kServerStreaming, kBidiStreaming };

// The lower-case name of a call kind ("unary", "client_streaming", ...).
const char* CallKindName(CallKind kind);

// What to send, where, and how much.
struct LoadSpec {
  // The server.
  HostPort target;
  // The method, as an HTTP/2 :path ("/package.Service/Method").
  std::string path;
  // Request metadata, sent on every call.
  std::vector<MetadataEntry> metadata;
  // One request message, serialized (the gRPC framing is added here).
  std::string request;
  // When not empty: every occurrence of this text in `request` is replaced,
  // per call, by a zero-padded call counter of the same length, so that
  // each call sends a different request (a new email per CreateUser) and
  // the message stays valid (no field changes length). The counter starts
  // at `unique_first` and is shared by every thread; it wraps at 10^length.
  std::string unique_marker;
  // The first counter value.
  uint64_t unique_first = 0;
  // The method's kind.
  CallKind kind = CallKind::kUnary;
  // Requests per call for client and bidi streams (>= 1).
  int stream_messages = 1;
  // HTTP/2 connections (>= 1), dealt to the threads in turn.
  int connections = 1;
  // Threads, one event loop each (>= 1; at most `connections` are used).
  int threads = 1;
  // Closed loop: calls in flight (>= 1). Ignored in open loop.
  int concurrency = 1;
  // Open loop when > 0: calls per second, on a fixed schedule.
  double rate = 0;
  // Time before the measurement, whose calls are not counted.
  absl::Duration warmup = absl::ZeroDuration();
  // The measured time; zero: bounded by `calls` only.
  absl::Duration duration = absl::ZeroDuration();
  // The measured calls to start; 0: bounded by `duration` only. At least
  // one of duration and calls must bound the run.
  uint64_t calls = 0;
  // The deadline of each call (sent as grpc-timeout); zero: none.
  absl::Duration deadline = absl::ZeroDuration();
  // The value of the user-agent header.
  std::string user_agent = "polymesh-bench";
};

// The outcome of a run (measured calls only).
struct LoadResult {
  // Calls that ended, OK or not.
  uint64_t calls = 0;
  // Calls that ended with OK.
  uint64_t ok = 0;
  // The next unused counter value of `unique_marker` (where the next run
  // against the same data should start); 0 without a marker.
  uint64_t unique_next = 0;
  // Failed calls by gRPC status code (never 0).
  std::map<int, uint64_t> errors_by_code;
  // The first status message seen for each failed status code.
  std::map<int, std::string> error_samples;
  // Request messages sent and response messages received.
  uint64_t messages_sent = 0;
  // Response messages received.
  uint64_t messages_received = 0;
  // Call latency in nanoseconds: from the send (closed loop) or the
  // intended send (open loop) to the end of the call.
  LatencyHistogram latency_ns;
  // Bidi streams: the round trip of each request to its response, in
  // nanoseconds.
  LatencyHistogram message_latency_ns;
  // From the start of the measurement to the end of its last call.
  double duration_s = 0;
  // Connections lost during the run (each one's calls failed UNAVAILABLE).
  uint64_t connections_lost = 0;
};

// A snapshot of a run, once a second.
struct LoadProgress {
  // Seconds since the load started (warmup included).
  double elapsed_s = 0;
  // Whether the warmup is still running.
  bool warmup = false;
  // Measured calls that ended so far.
  uint64_t calls = 0;
  // Of those, the failed ones.
  uint64_t errors = 0;
  // The 99th percentile of their latency so far, in nanoseconds.
  uint64_t p99_ns = 0;
};

// Runs the load. `progress` (may be empty) is called on the calling thread
// about once a second. Returns the result, or UNAVAILABLE when a connection
// cannot be made at the start (nothing is sent then), or INVALID_ARGUMENT
// for a spec that does not bound the run.
// Where `marker` occurs in `message` (non-overlapping, in order).
// INVALID_ARGUMENT when it does not occur or is longer than 19 characters.
absl::StatusOr<std::vector<size_t>> FindUniqueMarker(absl::string_view message,
                                                     absl::string_view marker);
// Writes `counter` (modulo 10^width), zero-padded to `width` digits, at
// each of `offsets` in `message`.
void WriteUniqueCounter(std::string& message, const std::vector<size_t>& offsets, size_t width,
                        uint64_t counter);

absl::StatusOr<LoadResult> RunLoad(const LoadSpec& spec,
                                   const std::function<void(const LoadProgress&)>& progress);

// The status a gRPC client gives a response without grpc-status, from its
// HTTP :status (gRPC's "HTTP to gRPC status code mapping").
int GrpcStatusFromHttpStatus(int http_status);

}  // namespace polymesh::cli

#endif  // POLYMESH_CLIENTS_CPP_SRC_LOAD_H_
