// The server side of TLS for downstream listeners: an OpenSSL SSL_CTX made
// from a certificate chain file and a private key file.
//
// The context accepts TLS 1.2 (ECDHE key exchange with AEAD ciphers only)
// and TLS 1.3, refuses renegotiation, and selects ALPN "h2": a client that
// offers ALPN without "h2" fails the handshake (Http2Connection also drops a
// client that offered no ALPN at all).
//
// A context is immutable once made and may be shared by every worker; each
// SSL made from it holds a reference, so connections keep the context they
// started with when a reload makes a new one.
//
// Usage:
//
//   absl::StatusOr<std::shared_ptr<const TlsContext>> tls =
//       TlsContext::CreateServer("/etc/polymesh/server.pem",
//                                "/etc/polymesh/server.key");
//   SSL* ssl = SSL_new((*tls)->get());
#ifndef POLYMESH_GATEWAY_SRC_TRANSPORT_TLS_CONTEXT_H_
#define POLYMESH_GATEWAY_SRC_TRANSPORT_TLS_CONTEXT_H_

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace polymesh::gateway {

// The ALPN protocol every TLS connection must agree on.
inline constexpr absl::string_view kAlpnH2 = "h2";

// An SSL_CTX for accepting TLS connections.
class TlsContext {
 public:
  // Reads the PEM certificate chain and private key and checks that they
  // belong together. INVALID_ARGUMENT naming the file otherwise (missing,
  // unreadable, not PEM, or a key that does not match the certificate).
  static absl::StatusOr<std::shared_ptr<const TlsContext>> CreateServer(
      const std::string& certificate_chain_file, const std::string& private_key_file);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // The context, owned.
  SSL_CTX* get() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}

  SSL_CTX* ctx_;
};

// The text of OpenSSL's error queue (emptied), or `fallback` when it is
// empty.
std::string TlsErrorText(absl::string_view fallback);

}  // namespace polymesh::gateway

#endif  // POLYMESH_GATEWAY_SRC_TRANSPORT_TLS_CONTEXT_H_
