#include "transport/tls_context.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/ssl.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace polymesh::gateway {
namespace {

// TLS 1.2 suites: ECDHE key exchange, AEAD ciphers. TLS 1.3 keeps OpenSSL's
// default suites, which are all AEAD.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// The ALPN wire form of the only protocol offered: length, then "h2".
constexpr unsigned char kAlpnWire[] = {2, 'h', '2'};

int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen,
               const unsigned char* in, unsigned int inlen, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kAlpnWire, sizeof(kAlpnWire), in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

int NoPassphrase(char*, int, int, void*) { return -1; }

}  // namespace

std::string TlsErrorText(absl::string_view fallback) {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    absl::StrAppend(&text, text.empty() ? "" : "; ", buffer);
  }
  return text.empty() ? std::string(fallback) : text;
}

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::CreateServer(
    const std::string& certificate_chain_file, const std::string& private_key_file) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return absl::InternalError(TlsErrorText("SSL_CTX_new failed"));
  std::shared_ptr<const TlsContext> context(new TlsContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return absl::InternalError(TlsErrorText("no TLS 1.2 cipher available"));
  }
  SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, nullptr);
  if (SSL_CTX_use_certificate_chain_file(ctx, certificate_chain_file.c_str()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load the certificate chain from ", certificate_chain_file, ": ",
                     TlsErrorText("not a PEM certificate")));
  }
  BIO* key_bio = BIO_new_file(private_key_file.c_str(), "r");
  // An encrypted key is refused rather than asking for a passphrase.
  EVP_PKEY* key = key_bio != nullptr ? PEM_read_bio_PrivateKey(key_bio, nullptr,
                                                               NoPassphrase, nullptr)
                                     : nullptr;
  BIO_free(key_bio);
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load the private key from ", private_key_file, ": ",
                     TlsErrorText("not a PEM private key")));
  }
  const bool matches = X509_check_private_key(SSL_CTX_get0_certificate(ctx), key) == 1;
  ERR_clear_error();
  const bool used = matches && SSL_CTX_use_PrivateKey(ctx, key) == 1;
  EVP_PKEY_free(key);
  if (!matches) {
    return absl::InvalidArgumentError(absl::StrCat("the private key in ", private_key_file,
                                                   " does not match the certificate in ",
                                                   certificate_chain_file));
  }
  if (!used) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot use the private key from ", private_key_file, ": ",
                     TlsErrorText("SSL_CTX_use_PrivateKey failed")));
  }
  return context;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace polymesh::gateway
