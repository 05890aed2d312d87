#include "admin/admin_server.h"

#include <openssl/crypto.h>

#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "civetweb.h"
#include "common/host_port.h"
#include "prometheus/text_serializer.h"

namespace polymesh::gateway {
namespace {

void Reply(mg_connection* connection, int status, const char* content_type,
           const std::string& body) {
  mg_response_header_start(connection, status);
  mg_response_header_add(connection, "Content-Type", content_type, -1);
  mg_response_header_add(connection, "Cache-Control", "no-store", -1);
  const std::string length = absl::StrCat(body.size());
  mg_response_header_add(connection, "Content-Length", length.c_str(), -1);
  mg_response_header_send(connection);
  mg_write(connection, body.data(), body.size());
}

// civetweb's library state is set up once per process.
void InitLibrary() {
  static std::once_flag once;
  std::call_once(once, [] { mg_init_library(0); });
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(Options options) {
  InitLibrary();
  std::unique_ptr<AdminServer> server(new AdminServer(std::move(options)));
  const std::string host =
      server->options_.address == "localhost" ? "127.0.0.1" : server->options_.address;
  const std::string listen = JoinHostPort(host, server->options_.port);
  const char* config[] = {
      "listening_ports", listen.c_str(),
      "num_threads", "2",
      "request_timeout_ms", "10000",
      "enable_keep_alive", "yes",
      nullptr,
  };
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  char error[256] = {0};
  mg_init_data init;
  std::memset(&init, 0, sizeof(init));
  init.callbacks = &callbacks;
  init.configuration_options = config;
  mg_error_data error_data;
  std::memset(&error_data, 0, sizeof(error_data));
  error_data.text = error;
  error_data.text_buffer_size = sizeof(error);
  server->context_ = mg_start2(&init, &error_data);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("admin listener on ", listen, ": ", error[0] ? error : "cannot start"));
  }
  mg_server_port ports[4];
  const int count = mg_get_server_ports(server->context_, 4, ports);
  if (count < 1) return absl::InternalError("admin listener: no bound port");
  server->port_ = static_cast<uint16_t>(ports[0].port);
  mg_set_request_handler(server->context_, "/", &AdminServer::Handle, server.get());
  return server;
}

AdminServer::~AdminServer() {
  if (context_ != nullptr) mg_stop(context_);
}

absl::StatusOr<std::string> AdminServer::ReadToken(const std::string& path) {
  std::ifstream file(path);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read the admin token file ", path));
  std::stringstream text;
  text << file.rdbuf();
  const std::string token(absl::StripAsciiWhitespace(text.str()));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the admin token file ", path, " is empty"));
  }
  return token;
}

bool AdminServer::Authorized(mg_connection* connection) const {
  if (options_.token.empty()) return true;
  const char* header = mg_get_header(connection, "Authorization");
  if (header == nullptr) return false;
  absl::string_view value(header);
  constexpr absl::string_view kBearer = "Bearer ";
  if (value.size() < kBearer.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
    return false;
  }
  value = absl::StripAsciiWhitespace(value.substr(kBearer.size()));
  // Constant time in the token's bytes: no timing tells how much matched.
  return value.size() == options_.token.size() &&
         CRYPTO_memcmp(value.data(), options_.token.data(), value.size()) == 0;
}

int AdminServer::Handle(mg_connection* connection, void* self) {
  return static_cast<AdminServer*>(self)->Serve(connection);
}

int AdminServer::Serve(mg_connection* connection) {
  const mg_request_info* request = mg_get_request_info(connection);
  const std::string method = request->request_method != nullptr ? request->request_method : "";
  const std::string uri = request->local_uri != nullptr ? request->local_uri : "";
  if (method != "GET" && method != "HEAD") {
    Reply(connection, 405, "text/plain", "only GET\n");
    return 405;
  }
  if (uri == "/ready") {
    const bool ready = ready_.load(std::memory_order_relaxed);
    Reply(connection, ready ? 200 : 503, "text/plain", ready ? "ready\n" : "draining\n");
    return ready ? 200 : 503;
  }
  if (uri == "/live") {
    Reply(connection, 200, "text/plain", "live\n");
    return 200;
  }
  if (uri == "/metrics") {
    std::vector<prometheus::MetricFamily> families;
    for (const auto& collectable : options_.collectables) {
      std::vector<prometheus::MetricFamily> more = collectable->Collect();
      families.insert(families.end(), std::make_move_iterator(more.begin()),
                      std::make_move_iterator(more.end()));
    }
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, families);
    Reply(connection, 200, "text/plain; version=0.0.4; charset=utf-8", out.str());
    return 200;
  }
  if (!Authorized(connection)) {
    mg_response_header_start(connection, 401);
    mg_response_header_add(connection, "WWW-Authenticate", "Bearer realm=\"polymesh-admin\"", -1);
    const std::string body = "this page needs the admin token: authorization: Bearer <token>\n";
    mg_response_header_add(connection, "Content-Type", "text/plain", -1);
    const std::string length = absl::StrCat(body.size());
    mg_response_header_add(connection, "Content-Length", length.c_str(), -1);
    mg_response_header_send(connection);
    mg_write(connection, body.data(), body.size());
    return 401;
  }
  if (uri == "/config_dump") {
    Reply(connection, 200, "application/json", options_.config_json());
    return 200;
  }
  if (uri == "/clusters") {
    Reply(connection, 200, "application/json", options_.clusters_json());
    return 200;
  }
  if (uri == "/") {
    Reply(connection, 200, "text/plain",
          "polymesh gateway admin: /ready /live /metrics /config_dump /clusters\n");
    return 200;
  }
  Reply(connection, 404, "text/plain", absl::StrCat("no admin page ", uri, "\n"));
  return 404;
}

}  // namespace polymesh::gateway
