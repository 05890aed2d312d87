// Tracing of gateway calls with OpenTelemetry: one SERVER span per downstream
// call, one CLIENT span per upstream attempt, W3C trace context in and out.
//
// The per-call API is small and allocation-light: spans are recorded straight
// into a span processor's recordables (no SDK Span objects), and exported
// off the per-call path by a batch processor (batch_processor.h) with an
// OTLP/gRPC exporter that writes a whole batch into one request
// (otlp_exporter.h), configured from the standard OTEL_* environment
// variables.
//
// Usage (one Tracer per process, shared by every worker thread):
//
//   absl::StatusOr<std::unique_ptr<Tracer>> tracer =
//       Tracer::FromEnvironment(TracerOptions{});
//   ServerSpan server = (*tracer)->StartServer(
//       "/polymesh.ai.v1.AIService/Predict", traceparent, tracestate);
//   server.SetRoute("ai");
//   ClientSpan client = server.StartClient("127.0.0.1", 50051);
//   client.SetAttempt(1, /*transparent=*/false);  // on routes that retry
//   // send client.traceparent() / client.tracestate() upstream
//   client.End(grpc_status);
//   server.End(grpc_status);
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_TRACING_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_TRACING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace polymesh::observability {

// Options of a Tracer; the OTEL_* environment fills in the rest.
struct TracerOptions {
  // When true, no span is made: trace context passes through unchanged.
  bool disabled = false;
  // The service name used when OTEL_SERVICE_NAME is not set.
  std::string default_service_name = "polymesh-gateway";
};

class ClientSpan;
class ServerSpan;
class Tracer;
struct TracingCounters;  // batch_processor.h

// The CLIENT span of one upstream attempt. Movable, not copyable; a span not
// ended explicitly is ended as CANCELLED when destroyed (or assigned over).
// Use a span from one thread at a time; it may outlive its Tracer.
class ClientSpan {
 public:
  ClientSpan();
  ClientSpan(ClientSpan&&) noexcept;
  ClientSpan& operator=(ClientSpan&&) noexcept;
  ~ClientSpan();

  // The `traceparent` value to send upstream: this span as parent (or the
  // downstream value unchanged when tracing is disabled; empty if none).
  const std::string& traceparent() const;
  // The `tracestate` value to send upstream (empty if none).
  const std::string& tracestate() const;
  // Numbers the attempt: `attempt` is 1 for a call's first try
  // (polymesh.attempt); `transparent` marks the retry of a stream the
  // upstream refused (polymesh.transparent_retry).
  void SetAttempt(uint32_t attempt, bool transparent);
  // Marks the span as a shadow call's, a copy sent to `cluster` whose answer
  // is discarded (polymesh.mirror = true, polymesh.cluster).
  void SetMirror(std::string_view cluster);
  // Ends the span with a gRPC status code (0..16) and optional message.
  void End(int grpc_status, std::string_view message = {});

 private:
  friend class ServerSpan;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The SERVER span of one downstream call. Movable, not copyable; a span not
// ended explicitly is ended as CANCELLED when destroyed (or assigned over).
// Use a span from one thread at a time; it may outlive its Tracer.
class ServerSpan {
 public:
  ServerSpan();
  ServerSpan(ServerSpan&&) noexcept;
  ServerSpan& operator=(ServerSpan&&) noexcept;
  ~ServerSpan();

  // Records the route and cluster the call was matched to.
  void SetRoute(std::string_view route, std::string_view cluster);
  // Records how many upstream attempts the call made (polymesh.attempts).
  void SetAttempts(uint32_t attempts);
  // Starts the CLIENT span of one upstream attempt, a child of this span,
  // towards `address`:`port` (server.address / server.port).
  ClientSpan StartClient(std::string_view address, uint16_t port);
  // Ends the span with a gRPC status code (0..16) and optional message.
  void End(int grpc_status, std::string_view message = {});

 private:
  friend class Tracer;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Makes spans. Thread-safe.
class Tracer {
 public:
  // Builds a tracer from OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME,
  // OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG) and
  // OTEL_SEMCONV_STABILITY_OPT_IN. Fails with INVALID_ARGUMENT on a malformed
  // variable, naming it.
  //
  // Also honoured: OTEL_SDK_DISABLED=true (as `disabled`), OTEL_BSP_* (batch
  // span processor), and the exporter's OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
  // (before OTEL_EXPORTER_OTLP_ENDPOINT), _INSECURE, _CERTIFICATE,
  // _CLIENT_CERTIFICATE, _CLIENT_KEY, _HEADERS, _TIMEOUT, _COMPRESSION (see
  // otlp_options.h). When
  // `options.disabled`, the environment is not read at all. Otherwise this
  // starts the exporter's threads: call it after blocking the signals that
  // a dedicated thread waits for, so that they inherit the mask.
  static absl::StatusOr<std::unique_ptr<Tracer>> FromEnvironment(
      const TracerOptions& options);
  virtual ~Tracer();

  // Starts the SERVER span of a downstream call to `path`
  // ("/package.Service/Method"), continuing the trace of `traceparent` and
  // `tracestate` (either may be empty or malformed: then a new trace starts).
  virtual ServerSpan StartServer(std::string_view path,
                                 std::string_view traceparent,
                                 std::string_view tracestate) = 0;
  // Exports what is buffered and stops exporting. Call once, at exit.
  virtual void Shutdown() = 0;
  // The counts of spans exported and dropped (see TracingCounters in
  // batch_processor.h), or null when nothing is exported. They stay valid
  // after the Tracer is gone.
  virtual std::shared_ptr<const TracingCounters> counters() const;

 protected:
  // For implementations of Tracer (in tracing.cc): the per-call state of a
  // ServerSpan, and the way to hand it to a ServerSpan.
  using ServerSpanImpl = ServerSpan::Impl;
  static ServerSpan MakeServerSpan(std::unique_ptr<ServerSpanImpl> impl);
};

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_TRACING_H_
