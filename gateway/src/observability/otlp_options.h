// The OTLP/gRPC span exporter's transport: its options from the
// OTEL_EXPORTER_OTLP_* environment variables (as the OpenTelemetry
// specification defines them), and the gRPC channel and per-call context
// they describe.
//
// Each variable has a traces-specific form that wins over the generic one:
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT over OTEL_EXPORTER_OTLP_ENDPOINT, and so
// on for _INSECURE, _CERTIFICATE, _CLIENT_KEY, _CLIENT_CERTIFICATE, _HEADERS,
// _TIMEOUT and _COMPRESSION. An empty value means unset.
//
// Transport security follows the endpoint's scheme: `http://` is plaintext,
// `https://` is TLS; an endpoint without a scheme uses TLS unless _INSECURE is
// true. TLS verifies the collector with _CERTIFICATE (a PEM file; the system
// roots when unset) and presents _CLIENT_CERTIFICATE/_CLIENT_KEY when both
// are set.
//
// Usage:
//
//   absl::StatusOr<OtlpOptions> options = ReadOtlpOptions(EnvironmentLookup());
//   absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = MakeOtlpChannel(*options);
//   grpc::ClientContext context;
//   PrepareOtlpContext(*options, context);  // deadline, headers, compression
#ifndef POLYMESH_GATEWAY_SRC_OBSERVABILITY_OTLP_OPTIONS_H_
#define POLYMESH_GATEWAY_SRC_OBSERVABILITY_OTLP_OPTIONS_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace polymesh::observability {

// Where and how the exporter sends spans.
struct OtlpOptions {
  // The collector as `host:port` (brackets kept around an IPv6 address), the
  // target of the gRPC channel.
  std::string target = "localhost:4317";
  // TLS (true) or plaintext (false).
  bool use_tls = false;
  // PEM files: the roots that verify the collector (empty: the system's),
  // and the client's certificate chain and key for mutual TLS.
  std::string certificate_path;
  std::string client_certificate_path;
  std::string client_key_path;
  // Metadata sent with every export, keys in lower case.
  std::vector<std::pair<std::string, std::string>> headers;
  // How long one export may take.
  std::chrono::milliseconds timeout{10000};
  // Compress requests with gzip.
  bool gzip = false;
};

// Looks an environment variable up: its value, empty when unset.
using EnvironmentLookup = std::function<std::string_view(const char* name)>;

// The process environment.
EnvironmentLookup ProcessEnvironment();

// The options from the OTEL_EXPORTER_OTLP_* variables that `lookup` returns.
// Fails with INVALID_ARGUMENT naming the variable on an endpoint that is not
// `[http[s]://]host[:port][/]` (a port must be 1..65535), a boolean other
// than true/false, a header entry without `=` or with a bad percent escape,
// a timeout that is not a non-negative integer (milliseconds), or a
// compression other than gzip/none.
absl::StatusOr<OtlpOptions> ReadOtlpOptions(const EnvironmentLookup& lookup);

// A channel to the collector; fails with INVALID_ARGUMENT when a PEM file
// cannot be read. The channel connects lazily.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeOtlpChannel(const OtlpOptions& options);

// Sets the deadline (now + timeout), the headers and the compression of one
// export call.
void PrepareOtlpContext(const OtlpOptions& options, grpc::ClientContext& context);

// The User-Agent the exporter announces (before gRPC's own).
std::string_view OtlpUserAgent();

}  // namespace polymesh::observability

#endif  // POLYMESH_GATEWAY_SRC_OBSERVABILITY_OTLP_OPTIONS_H_
