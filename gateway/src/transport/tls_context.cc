#include "transport/tls_context.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

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

// Loads the certificate chain and its key into `ctx`, checking that they
// belong together.
absl::Status UseCertificate(SSL_CTX* ctx, const std::string& certificate_chain_file,
                            const std::string& private_key_file);

// The session id context: resumed sessions must come from this context kind.
constexpr unsigned char kSessionIdContext[] = "polymesh-mtls";

// Asks for client certificates and verifies them against the CA file.
absl::Status VerifyClients(SSL_CTX* ctx, const TlsServerOptions& options) {
  if (SSL_CTX_load_verify_locations(ctx, options.client_ca_file.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load the client CA certificates from ", options.client_ca_file,
                     ": ", TlsErrorText("not a PEM certificate")));
  }
  // The CAs are also named to clients, so that one with several
  // certificates picks the right one.
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.client_ca_file.c_str());
  if (names == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no CA certificate in ", options.client_ca_file, ": ", TlsErrorText("empty file")));
  }
  SSL_CTX_set_client_CA_list(ctx, names);
  SSL_CTX_set_verify(ctx,
                     SSL_VERIFY_PEER | (options.require_client_certificate
                                            ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                            : 0),
                     nullptr);
  SSL_CTX_set_verify_depth(ctx, 4);
  // No resumption: a resumed session would skip the certificate check
  // against a CA file that may have changed since.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);
  return absl::OkStatus();
}

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
    const TlsServerOptions& options) {
  const std::string& certificate_chain_file = options.certificate_chain_file;
  const std::string& private_key_file = options.private_key_file;
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
  RETURN_IF_ERROR(UseCertificate(ctx, certificate_chain_file, private_key_file));
  if (!options.client_ca_file.empty()) {
    RETURN_IF_ERROR(VerifyClients(ctx, options));
  }
  return context;
}

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::CreateClient(
    const TlsClientOptions& options) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return absl::InternalError(TlsErrorText("SSL_CTX_new failed"));
  std::shared_ptr<const TlsContext> context(new TlsContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return absl::InternalError(TlsErrorText("no TLS 1.2 cipher available"));
  }
  SSL_CTX_set_alpn_protos(ctx, kAlpnWire, sizeof(kAlpnWire));
  if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load the CA certificates from ", options.ca_file, ": ",
                     TlsErrorText("not a PEM certificate")));
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!options.certificate_chain_file.empty()) {
    RETURN_IF_ERROR(
        UseCertificate(ctx, options.certificate_chain_file, options.private_key_file));
  }
  return context;
}

namespace {

absl::Status UseCertificate(SSL_CTX* ctx, const std::string& certificate_chain_file,
                            const std::string& private_key_file) {
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
  return absl::OkStatus();
}

}  // namespace

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::string CertificatePrincipal(const X509* certificate) {
  if (certificate == nullptr) return "";
  GENERAL_NAMES* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return "";
  std::string uri;
  std::string dns;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    std::string* slot = name->type == GEN_URI   ? &uri
                        : name->type == GEN_DNS ? &dns
                                                : nullptr;
    if (slot == nullptr || !slot->empty()) continue;
    const ASN1_IA5STRING* text = name->d.ia5;
    slot->assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
                 static_cast<size_t>(ASN1_STRING_length(text)));
  }
  GENERAL_NAMES_free(names);
  return !uri.empty() ? uri : dns;
}

}  // namespace polymesh::gateway
