// Throwaway certificates for TLS tests, made with the OpenSSL C API: a CA,
// a server certificate it signs (DNS:localhost, IP:127.0.0.1, serverAuth),
// all P-256 keys, as PEM text and as files.
#ifndef POLYMESH_GATEWAY_TESTS_TRANSPORT_TEST_CERTIFICATES_H_
#define POLYMESH_GATEWAY_TESTS_TRANSPORT_TEST_CERTIFICATES_H_

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace polymesh::gateway::testing {

// A key and the certificate for it, as PEM.
struct TestIdentity {
  std::string certificate_pem;
  std::string key_pem;
  // Owned OpenSSL objects, for signing further certificates.
  EVP_PKEY* key = nullptr;
  X509* certificate = nullptr;

  TestIdentity() = default;
  TestIdentity(const TestIdentity&) = delete;
  TestIdentity& operator=(const TestIdentity&) = delete;
  TestIdentity(TestIdentity&& other) noexcept { *this = std::move(other); }
  TestIdentity& operator=(TestIdentity&& other) noexcept {
    std::swap(certificate_pem, other.certificate_pem);
    std::swap(key_pem, other.key_pem);
    std::swap(key, other.key);
    std::swap(certificate, other.certificate);
    return *this;
  }
  ~TestIdentity() {
    EVP_PKEY_free(key);
    X509_free(certificate);
  }
};

namespace internal {

inline std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<size_t>(size));
  BIO_free(bio);
  return text;
}

inline void AddExtension(X509* certificate, X509* issuer, int nid, const char* value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
  ASSERT_NE(extension, nullptr) << value;
  X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
}

}  // namespace internal

// What a leaf certificate says, beyond its name.
struct IdentityOptions {
  // The subjectAltName extension, in OpenSSL's configuration syntax.
  std::string subject_alt_name = "DNS:localhost,IP:127.0.0.1";
  // extendedKeyUsage: "serverAuth", "clientAuth" or both.
  std::string extended_key_usage = "serverAuth";
  // Validity, in seconds from now.
  long not_before = -3600;
  long not_after = 24 * 3600;
};

// A certificate for `common_name` with a new key, signed by `issuer` (or
// self-signed, as a CA, when `issuer` is nullptr).
inline TestIdentity MakeIdentity(const std::string& common_name, const TestIdentity* issuer,
                                 const IdentityOptions& options = {}) {
  static std::atomic<long> serial{1};
  TestIdentity identity;
  identity.key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  EXPECT_NE(identity.key, nullptr);
  X509* certificate = X509_new();
  identity.certificate = certificate;
  X509_set_version(certificate, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(certificate), serial++);
  X509_gmtime_adj(X509_getm_notBefore(certificate), options.not_before);
  X509_gmtime_adj(X509_getm_notAfter(certificate), options.not_after);
  X509_set_pubkey(certificate, identity.key);
  X509_NAME* name = X509_get_subject_name(certificate);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                             -1, 0);
  X509* issuer_certificate = issuer != nullptr ? issuer->certificate : certificate;
  X509_set_issuer_name(certificate, X509_get_subject_name(issuer_certificate));
  if (issuer == nullptr) {
    internal::AddExtension(certificate, certificate, NID_basic_constraints,
                           "critical,CA:TRUE");
    internal::AddExtension(certificate, certificate, NID_key_usage,
                           "critical,keyCertSign,cRLSign");
  } else {
    internal::AddExtension(certificate, issuer_certificate, NID_basic_constraints,
                           "critical,CA:FALSE");
    internal::AddExtension(certificate, issuer_certificate, NID_key_usage,
                           "critical,digitalSignature");
    internal::AddExtension(certificate, issuer_certificate, NID_ext_key_usage,
                           options.extended_key_usage.c_str());
    internal::AddExtension(certificate, issuer_certificate, NID_subject_alt_name,
                           options.subject_alt_name.c_str());
  }
  EXPECT_GT(X509_sign(certificate, issuer != nullptr ? issuer->key : identity.key,
                      EVP_sha256()),
            0);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, certificate);
  identity.certificate_pem = internal::BioText(bio);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, identity.key, nullptr, nullptr, 0, nullptr, nullptr);
  identity.key_pem = internal::BioText(bio);
  return identity;
}

// Writes `text` to a new file under the test's temporary folder; its path.
inline std::string WriteTempFile(const std::string& name, const std::string& text) {
  static std::atomic<int> counter{0};
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/polymesh_tls_", getpid(), "_", counter++, "_", name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path;
}

// A CA and a server certificate it signed, written to files.
struct TestPki {
  TestIdentity ca;
  TestIdentity server;
  std::string certificate_chain_file;
  std::string private_key_file;
};

inline TestPki MakeTestPki() {
  TestPki pki;
  pki.ca = MakeIdentity("polymesh test CA", nullptr);
  pki.server = MakeIdentity("localhost", &pki.ca);
  pki.certificate_chain_file = WriteTempFile("server.pem", pki.server.certificate_pem);
  pki.private_key_file = WriteTempFile("server.key", pki.server.key_pem);
  return pki;
}

}  // namespace polymesh::gateway::testing

#endif  // POLYMESH_GATEWAY_TESTS_TRANSPORT_TEST_CERTIFICATES_H_
