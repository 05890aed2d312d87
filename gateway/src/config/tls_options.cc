#include "config/tls_options.h"

#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace polymesh::gateway {
namespace {

// The text of `path` into `text`; nothing for an empty path.
absl::Status ReadText(const std::string& path, std::string& text) {
  if (path.empty()) return absl::OkStatus();
  std::ifstream file(path);
  std::stringstream content;
  content << file.rdbuf();
  if (!file) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  text = content.str();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const UpstreamTlsSpec>> UpstreamTlsSpecFromConfig(
    const v1::UpstreamTls& tls) {
  auto spec = std::make_shared<UpstreamTlsSpec>();
  absl::StatusOr<std::shared_ptr<const TlsContext>> context =
      TlsContext::CreateClient(TlsClientOptions{
          .ca_file = tls.ca_file(),
          .certificate_chain_file = tls.certificate_chain_file(),
          .private_key_file = tls.private_key_file(),
      });
  if (!context.ok()) return context.status();
  spec->context = std::move(*context);
  spec->server_name = tls.server_name();
  RETURN_IF_ERROR(ReadText(tls.ca_file(), spec->ca_pem));
  RETURN_IF_ERROR(ReadText(tls.certificate_chain_file(), spec->certificate_chain_pem));
  RETURN_IF_ERROR(ReadText(tls.private_key_file(), spec->private_key_pem));
  return std::shared_ptr<const UpstreamTlsSpec>(std::move(spec));
}

std::shared_ptr<grpc::ChannelCredentials> UpstreamChannelCredentials(
    const UpstreamTlsSpec* tls, const std::string& host, grpc::ChannelArguments& args) {
  if (tls == nullptr) return grpc::InsecureChannelCredentials();
  args.SetSslTargetNameOverride(tls->ServerNameFor(host));
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls->ca_pem;
  options.pem_cert_chain = tls->certificate_chain_pem;
  options.pem_private_key = tls->private_key_pem;
  return grpc::SslCredentials(options);
}

}  // namespace polymesh::gateway
