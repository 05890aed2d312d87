// The TLS settings of a configuration as the transport layer takes them:
// the listener's server context, and a cluster's client context with what
// the gRPC C++ channels to it (health checks, contract reflection) need.
//
// Usage:
//
//   absl::StatusOr<std::shared_ptr<const TlsContext>> context =
//       TlsContext::CreateServer(ServerTlsOptions(config.tls_listener().tls()));
//   absl::StatusOr<std::shared_ptr<const UpstreamTlsSpec>> tls =
//       UpstreamTlsSpecFromConfig(cluster.tls());
//   grpc::ChannelArguments args;
//   auto credentials = UpstreamChannelCredentials(tls->get(), "inference", args);
#ifndef POLYMESH_GATEWAY_SRC_CONFIG_TLS_OPTIONS_H_
#define POLYMESH_GATEWAY_SRC_CONFIG_TLS_OPTIONS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "polymesh/gateway/v1/config.pb.h"
#include "transport/tls_context.h"

namespace polymesh::gateway {

// The options of a listener's ServerTls.
inline TlsServerOptions ServerTlsOptions(const v1::ServerTls& tls) {
  return TlsServerOptions{
      .certificate_chain_file = tls.certificate_chain_file(),
      .private_key_file = tls.private_key_file(),
      .client_ca_file = tls.client_ca_file(),
      .require_client_certificate = tls.require_client_certificate(),
  };
}

// TLS to a cluster's endpoints (v1::UpstreamTls, its files read).
struct UpstreamTlsSpec {
  // The client context (CA, client certificate).
  std::shared_ptr<const TlsContext> context;
  // The name endpoints' certificates must carry; empty: each endpoint's
  // configured host.
  std::string server_name;
  // The files' PEM text, for the gRPC C++ channels of health checks.
  std::string ca_pem;
  std::string certificate_chain_pem;
  std::string private_key_pem;

  // The name `endpoint_host`'s certificate must carry.
  const std::string& ServerNameFor(const std::string& endpoint_host) const {
    return server_name.empty() ? endpoint_host : server_name;
  }
};

// A cluster's TLS with its files read: INVALID_ARGUMENT naming the file
// that does not load.
absl::StatusOr<std::shared_ptr<const UpstreamTlsSpec>> UpstreamTlsSpecFromConfig(
    const v1::UpstreamTls& tls);

// The credentials of a gRPC C++ channel to an endpoint whose configured host
// is `host`: TLS as the cluster's calls use it (the certificate must name
// the same server name, set in `args`), or none when `tls` is nullptr.
std::shared_ptr<grpc::ChannelCredentials> UpstreamChannelCredentials(
    const UpstreamTlsSpec* tls, const std::string& host, grpc::ChannelArguments& args);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_CONFIG_TLS_OPTIONS_H_
