// The TLS settings of a configuration as the transport layer takes them.
//
// Usage:
//
//   absl::StatusOr<std::shared_ptr<const TlsContext>> context =
//       TlsContext::CreateServer(ServerTlsOptions(config.tls_listener().tls()));
#ifndef POLYMESH_GATEWAY_SRC_CONFIG_TLS_OPTIONS_H_
#define POLYMESH_GATEWAY_SRC_CONFIG_TLS_OPTIONS_H_

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

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_CONFIG_TLS_OPTIONS_H_
