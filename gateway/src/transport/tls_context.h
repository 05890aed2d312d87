// The server side of TLS for downstream listeners: an OpenSSL SSL_CTX made
// from a certificate chain file and a private key file.
//
// The context accepts TLS 1.2 (ECDHE key exchange with AEAD ciphers only)
// and TLS 1.3, refuses renegotiation, and selects ALPN "h2": a client that
// offers ALPN without "h2" fails the handshake (Http2Connection also drops a
// client that offered no ALPN at all).
//
// With a client CA file (mTLS), the context asks for a client certificate
// and verifies it against that CA: one that does not verify (another CA,
// expired, not yet valid) fails the handshake, and with
// `require_client_certificate` so does a client that sends none. Session
// resumption is off then, so every connection proves its certificate.
//
// A context is immutable once made and may be shared by every worker; each
// SSL made from it holds a reference, so connections keep the context they
// started with when a reload makes a new one.
//
// Usage:
//
//   absl::StatusOr<std::shared_ptr<const TlsContext>> tls =
//       TlsContext::CreateServer({.certificate_chain_file = "/etc/polymesh/server.pem",
//                                 .private_key_file = "/etc/polymesh/server.key",
//                                 .client_ca_file = "/etc/polymesh/ca.pem"});
//   SSL* ssl = SSL_new((*tls)->get());
//   ...  // after the handshake:
//   std::string principal = CertificatePrincipal(SSL_get0_peer_certificate(ssl));
#ifndef POLYMESH_GATEWAY_SRC_TRANSPORT_TLS_CONTEXT_H_
#define POLYMESH_GATEWAY_SRC_TRANSPORT_TLS_CONTEXT_H_

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace polymesh::gateway {

// The ALPN protocol every TLS connection must agree on.
inline constexpr absl::string_view kAlpnH2 = "h2";

// The files of a server context.
struct TlsServerOptions {
  // PEM: the certificate, then any intermediate CA certificates.
  std::string certificate_chain_file;
  // PEM: its unencrypted private key.
  std::string private_key_file;
  // PEM: the CAs client certificates are verified against; empty: no client
  // certificate is asked for.
  std::string client_ca_file;
  // With client_ca_file: a client without a certificate is refused.
  bool require_client_certificate = false;
};

// The files of a client context (TLS to upstreams).
struct TlsClientOptions {
  // PEM: the CAs the server's certificate must chain to. Required.
  std::string ca_file;
  // PEM: the certificate the client presents, then intermediates; empty:
  // none.
  std::string certificate_chain_file;
  // PEM: its unencrypted private key.
  std::string private_key_file;
};

// An SSL_CTX for accepting TLS connections, or for making them.
class TlsContext {
 public:
  // Reads the PEM certificate chain and private key and checks that they
  // belong together, and reads the client CA file if given.
  // INVALID_ARGUMENT naming the file otherwise (missing, unreadable, not
  // PEM, or a key that does not match the certificate).
  static absl::StatusOr<std::shared_ptr<const TlsContext>> CreateServer(
      const TlsServerOptions& options);
  // A client context: verifies servers against the CA file, offers ALPN
  // "h2" only, and presents the certificate if given. INVALID_ARGUMENT
  // naming the file that fails to load.
  static absl::StatusOr<std::shared_ptr<const TlsContext>> CreateClient(
      const TlsClientOptions& options);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // The context, owned.
  SSL_CTX* get() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}

  SSL_CTX* ctx_;
};

// The principal a verified peer certificate names: its first URI SAN (such
// as "spiffe://polymesh.local/aiapi"), else its first DNS SAN; empty when
// `certificate` is nullptr or names neither.
std::string CertificatePrincipal(const X509* certificate);

// The text of OpenSSL's error queue (emptied), or `fallback` when it is
// empty.
std::string TlsErrorText(absl::string_view fallback);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_TRANSPORT_TLS_CONTEXT_H_
