#include "observability/otlp_options.h"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/string_views.h"
#include "grpc/grpc.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "observability/tracing_config.h"

#ifndef POLYMESH_VERSION
#define POLYMESH_VERSION "0"
#endif

namespace polymesh::observability {
namespace {

constexpr char kDefaultEndpoint[] = "http://localhost:4317";

// One setting: the traces-specific variable, then the generic one.
struct Setting {
  const char* traces;
  const char* generic;
};
constexpr Setting kEndpoint{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"};
constexpr Setting kInsecure{"OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"};
constexpr Setting kCertificate{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                               "OTEL_EXPORTER_OTLP_CERTIFICATE"};
constexpr Setting kClientCertificate{"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                                     "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"};
constexpr Setting kClientKey{"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
                             "OTEL_EXPORTER_OTLP_CLIENT_KEY"};
constexpr Setting kHeaders{"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"};
constexpr Setting kTimeout{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"};
constexpr Setting kCompression{"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                               "OTEL_EXPORTER_OTLP_COMPRESSION"};

// A setting's value (blanks trimmed) and the variable it came from; the
// variable is the traces-specific one when neither is set.
struct Value {
  std::string_view text;
  const char* variable;
};

Value Lookup(const EnvironmentLookup& lookup, const Setting& setting) {
  const std::string_view traces = TrimBlanks(lookup(setting.traces));
  if (!traces.empty()) return {traces, setting.traces};
  const std::string_view generic = TrimBlanks(lookup(setting.generic));
  if (!generic.empty()) return {generic, setting.generic};
  return {{}, setting.traces};
}

// The endpoint's parts: whether it named a scheme and which, and host:port.
struct Endpoint {
  std::optional<bool> https;
  std::string target;
};

absl::StatusOr<Endpoint> ParseEndpoint(const Value& value) {
  std::string_view rest = value.text;
  Endpoint endpoint;
  if (absl::StartsWithIgnoreCase(ToAbsl(rest), "http://")) {
    endpoint.https = false;
    rest.remove_prefix(7);
  } else if (absl::StartsWithIgnoreCase(ToAbsl(rest), "https://")) {
    endpoint.https = true;
    rest.remove_prefix(8);
  } else if (rest.find("://") != std::string_view::npos) {
    return MalformedVariable(value.variable, value.text, "the scheme is not http or https");
  }
  // A path (OTLP/gRPC has none to use) may only be "/".
  const size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") {
      return MalformedVariable(value.variable, value.text, "an OTLP/gRPC endpoint has no path");
    }
    rest = rest.substr(0, slash);
  }
  std::string_view host = rest;
  std::string_view port;
  if (absl::StartsWith(ToAbsl(rest), "[")) {  // [IPv6]:port
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return MalformedVariable(value.variable, value.text, "no ']' after an IPv6 address");
    }
    host = rest.substr(0, close + 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return MalformedVariable(value.variable, value.text, "no host");
      port = after.substr(1);
    }
  } else if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty() || host == "[]") {
    return MalformedVariable(value.variable, value.text, "no host");
  }
  int port_number = 0;
  if (port.empty()) {
    // The scheme's port, as a URL without one means; OTLP/gRPC's without.
    port_number = endpoint.https.has_value() ? (*endpoint.https ? 443 : 80) : 4317;
  } else if (!absl::SimpleAtoi(ToAbsl(port), &port_number) ||
             port_number < 1 || port_number > 65535) {
    return MalformedVariable(value.variable, value.text, "the port does not parse");
  }
  endpoint.target = absl::StrCat(ToAbsl(host), ":", port_number);
  return endpoint;
}

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read the ", what, " ", path));
  }
  if (contents.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the ", what, " ", path, " is missing or empty"));
  }
  return contents;
}

}  // namespace

EnvironmentLookup ProcessEnvironment() {
  return [](const char* name) {
    const char* value = std::getenv(name);
    return value == nullptr ? std::string_view() : std::string_view(value);
  };
}

absl::StatusOr<OtlpOptions> ReadOtlpOptions(const EnvironmentLookup& lookup) {
  OtlpOptions options;
  Value endpoint_value = Lookup(lookup, kEndpoint);
  if (endpoint_value.text.empty()) endpoint_value.text = kDefaultEndpoint;
  absl::StatusOr<Endpoint> endpoint = ParseEndpoint(endpoint_value);
  if (!endpoint.ok()) return endpoint.status();
  options.target = endpoint->target;
  const Value insecure_value = Lookup(lookup, kInsecure);
  absl::StatusOr<bool> insecure =
      ParseBooleanVariable(insecure_value.variable, insecure_value.text);
  if (!insecure.ok()) return insecure.status();
  options.use_tls = endpoint->https.value_or(!*insecure);

  options.certificate_path = std::string(Lookup(lookup, kCertificate).text);
  options.client_certificate_path = std::string(Lookup(lookup, kClientCertificate).text);
  options.client_key_path = std::string(Lookup(lookup, kClientKey).text);

  const Value headers = Lookup(lookup, kHeaders);
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> parsed =
      ParseKeyValueList(headers.variable, headers.text);
  if (!parsed.ok()) return parsed.status();
  for (auto& [key, value] : *parsed) {
    options.headers.emplace_back(absl::AsciiStrToLower(key), std::move(value));
  }

  const Value timeout = Lookup(lookup, kTimeout);
  if (!timeout.text.empty()) {
    int64_t millis = 0;
    if (!absl::SimpleAtoi(ToAbsl(timeout.text), &millis) ||
        millis < 0) {
      return MalformedVariable(timeout.variable, timeout.text,
                               "expected a non-negative integer (milliseconds)");
    }
    options.timeout = std::chrono::milliseconds(millis);
  }

  const Value compression = Lookup(lookup, kCompression);
  if (absl::EqualsIgnoreCase(ToAbsl(compression.text), "gzip")) {
    options.gzip = true;
  } else if (!compression.text.empty() &&
             !absl::EqualsIgnoreCase(ToAbsl(compression.text), "none")) {
    return MalformedVariable(compression.variable, compression.text, "expected gzip or none");
  }
  return options;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeOtlpChannel(const OtlpOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.use_tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.certificate_path.empty()) {
      absl::StatusOr<std::string> roots =
          ReadFile(options.certificate_path, "OTLP collector's certificate");
      if (!roots.ok()) return roots.status();
      ssl.pem_root_certs = *std::move(roots);
    }
    if (!options.client_certificate_path.empty() && !options.client_key_path.empty()) {
      absl::StatusOr<std::string> chain =
          ReadFile(options.client_certificate_path, "OTLP client certificate");
      if (!chain.ok()) return chain.status();
      absl::StatusOr<std::string> key = ReadFile(options.client_key_path, "OTLP client key");
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(chain);
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments arguments;
  arguments.SetUserAgentPrefix(std::string(OtlpUserAgent()));
  return grpc::CreateCustomChannel(options.target, credentials, arguments);
}

void PrepareOtlpContext(const OtlpOptions& options, grpc::ClientContext& context) {
  context.set_deadline(std::chrono::system_clock::now() + options.timeout);
  for (const auto& [key, value] : options.headers) context.AddMetadata(key, value);
  if (options.gzip) context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
}

std::string_view OtlpUserAgent() { return "OTel-OTLP-Exporter-Cpp-polymesh/" POLYMESH_VERSION; }

}  // namespace polymesh::observability
