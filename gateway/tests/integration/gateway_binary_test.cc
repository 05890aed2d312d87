// The polymesh-gateway binary: starts with a config shaped like the mesh's
// (deploy/mesh.yaml), logs JSON lines, stops cleanly on SIGTERM,
// and exits 2 on a bad config or a cluster host name that does not resolve.
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http_get.h"
#include "transport/test_certificates.h"

namespace polymesh::gateway {
namespace {

using ::polymesh::gateway::testing::ConnectLoopback;
using ::polymesh::gateway::testing::HttpGet;
using ::testing::HasSubstr;
using ::testing::Not;

// A child process running the gateway binary, its stderr on a pipe.
class GatewayProcess {
 public:
  explicit GatewayProcess(const std::string& config_path) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDERR_FILENO);
      close(fds[0]);
      close(fds[1]);
      execl(POLYMESH_GATEWAY_BINARY, POLYMESH_GATEWAY_BINARY, "--config",
            config_path.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    stderr_ = fdopen(fds[0], "r");
  }
  ~GatewayProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      Wait();
    }
    if (stderr_ != nullptr) fclose(stderr_);
  }

  // Reads stderr lines until one contains `text` (or EOF); returns it.
  std::string ReadLineWith(const std::string& text) {
    char buffer[4096];
    while (fgets(buffer, sizeof(buffer), stderr_) != nullptr) {
      if (absl::StrContains(buffer, text)) return buffer;
    }
    return "";
  }
  void Signal(int signal) { kill(pid_, signal); }
  // Waits for the process to exit; returns its exit status.
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  FILE* stderr_ = nullptr;
};

// Writes `text` to a file named `name`, prefixed with the process id (ctest
// runs tests in parallel, each in a process of its own).
std::string WriteConfig(const std::string& name, const std::string& text) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/", getpid(), "-", name);
  std::ofstream(path) << text;
  return path;
}

TEST(GatewayBinaryTest, StartsWithTheMeshConfigAndStopsOnSigterm) {
  // The shape of the gateway configuration that deploy/mesh.yaml generates,
  // with ports the system picks.
  const std::string path = WriteConfig("mesh.yaml", R"yaml(
listener: { address: "127.0.0.1", port: 0 }
local_services: { address: "127.0.0.1", port: 0 }
admin: { address: { address: "127.0.0.1", port: 0 } }
clusters:
  - name: aiapi
    endpoints: [{ address: "127.0.0.1", port: 50051 }]
  - name: inference
    endpoints: [{ address: "127.0.0.1", port: 50052 }]
routes:
  - name: ai
    match: { service: polymesh.ai.v1.AIService }
    cluster: aiapi
  - name: inference
    match: { service: inference.GRPCInferenceService }
    cluster: inference
  - name: health
    match: { service: grpc.health.v1.Health }
    cluster: local
)yaml");
  GatewayProcess gateway(path);
  const std::string started = gateway.ReadLineWith(R"("body":"ready")");
  EXPECT_THAT(started, HasSubstr(R"("severity":"INFO","body":"ready",)"));
  EXPECT_THAT(started, HasSubstr(R"("address":"127.0.0.1:)"));
  EXPECT_THAT(started, HasSubstr(R"("routes":"ai->aiapi,inference->inference,health->local")"));
  EXPECT_THAT(started, HasSubstr(R"("clusters":"aiapi=127.0.0.1:50051,)"
                                 R"(inference=127.0.0.1:50052,local=127.0.0.1:)"));

  // The admin listener, at the port the log line names.
  const std::string marker = R"("admin_address":"127.0.0.1:)";
  const size_t at = started.find(marker);
  ASSERT_NE(at, std::string::npos) << started;
  const size_t from = at + marker.size();
  int admin_port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(started.substr(from, started.find('"', from) - from), &admin_port))
      << started;
  const uint16_t port = static_cast<uint16_t>(admin_port);
  EXPECT_EQ(HttpGet(port, "/ready").body, "ready\n");
  EXPECT_EQ(HttpGet(port, "/live").status, 200);
  const std::string metrics = HttpGet(port, "/metrics").body;
  EXPECT_THAT(metrics, HasSubstr(R"(polymesh_gateway_requests_total{route="ai",grpc_code="OK"} 0)"));
  EXPECT_THAT(metrics, HasSubstr("process_cpu_seconds_total "));
  EXPECT_THAT(HttpGet(port, "/config_dump").body, HasSubstr(R"("name": "inference")"));
  const std::string clusters = HttpGet(port, "/clusters").body;
  EXPECT_THAT(clusters, HasSubstr(R"({"name":"aiapi","load_balancing":"ROUND_ROBIN",)"));
  EXPECT_THAT(clusters, HasSubstr(R"({"host":"127.0.0.1","address":"127.0.0.1","port":50051,)"
                                  R"("healthy":true,"ejected":false,)"));
  gateway.Signal(SIGTERM);
  EXPECT_THAT(gateway.ReadLineWith("gateway stopped"), HasSubstr(R"("body":"gateway stopped")"));
  EXPECT_EQ(gateway.Wait(), 0);
}

// The admin port named in the ready line (0 if none).
// The port of the `field` address in a ready line, or 0.
uint16_t PortOf(const std::string& started, const std::string& field) {
  const std::string marker = absl::StrCat("\"", field, "\":\"127.0.0.1:");
  const size_t at = started.find(marker);
  if (at == std::string::npos) return 0;
  const size_t from = at + marker.size();
  int port = 0;
  if (!absl::SimpleAtoi(started.substr(from, started.find('"', from) - from), &port)) return 0;
  return static_cast<uint16_t>(port);
}

uint16_t AdminPort(const std::string& started) { return PortOf(started, "admin_address"); }

// Whether a TLS handshake with the gateway at `port` succeeds for a client
// that trusts only `ca_pem` (and checks the name "localhost").
bool HandshakeTrusting(uint16_t port, const std::string& ca_pem) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
  X509_free(ca);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  static constexpr unsigned char kH2[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx, kH2, sizeof(kH2));
  SSL* ssl = SSL_new(ctx);
  SSL_set1_host(ssl, "localhost");
  const int fd = ConnectLoopback(port);
  SSL_set_fd(ssl, fd);
  const bool ok = fd >= 0 && SSL_connect(ssl) == 1 && SSL_get_verify_result(ssl) == X509_V_OK;
  ERR_clear_error();
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  if (fd >= 0) close(fd);
  return ok;
}

TEST(GatewayBinaryTest, ReloadsOnSighupAndOnFileChangeAndRejectsABadConfig) {
  const std::string config = R"yaml(
listener: { address: "127.0.0.1", port: 0 }
admin: { address: { address: "127.0.0.1", port: 0 } }
clusters:
  - name: aiapi
    endpoints: [{ address: "127.0.0.1", port: 50051 }]
routes:
  - name: ai
    match: { service: polymesh.ai.v1.AIService }
    cluster: aiapi
)yaml";
  const std::string path = WriteConfig("reload.yaml", config);
  GatewayProcess gateway(path);
  const uint16_t admin = AdminPort(gateway.ReadLineWith(R"("body":"ready")"));
  ASSERT_NE(admin, 0);

  // A bad configuration is rejected; the running one stays.
  WriteConfig("reload.yaml", config + "  - name: broken\n");
  EXPECT_THAT(gateway.ReadLineWith("configuration rejected"),
              HasSubstr("reload.yaml:"));
  EXPECT_THAT(HttpGet(admin, "/config_dump").body, Not(HasSubstr("broken")));

  // A good one is applied (the file watcher saw the write).
  WriteConfig("reload.yaml", config + "  - name: ai-v2\n    match: { package: polymesh.ai }\n"
                                      "    cluster: aiapi\n");
  EXPECT_THAT(gateway.ReadLineWith("configuration reloaded"), HasSubstr(R"("generation":"2")"));
  EXPECT_THAT(HttpGet(admin, "/config_dump").body, HasSubstr(R"("name": "ai-v2")"));

  // SIGHUP reloads too, even without a change.
  gateway.Signal(SIGHUP);
  EXPECT_THAT(gateway.ReadLineWith("configuration reloaded"), HasSubstr(R"("generation":"3")"));
  EXPECT_THAT(HttpGet(admin, "/metrics").body,
              HasSubstr(R"(polymesh_gateway_config_reloads_total{result="rejected"} 1)"));
  EXPECT_EQ(HttpGet(admin, "/ready").body, "ready\n");
  gateway.Signal(SIGTERM);
  EXPECT_EQ(gateway.Wait(), 0);
}

// The TLS files named relative to the configuration's folder (the test's
// temporary folder), as "<pid>-server.pem" and "<pid>-server.key".
std::string TlsConfig(const polymesh::gateway::testing::TestPki& pki, bool matching_key) {
  WriteConfig("server.pem", pki.server.certificate_pem);
  WriteConfig("server.key", matching_key ? pki.server.key_pem
                                         : polymesh::gateway::testing::MakeTestPki()
                                               .server.key_pem);
  return WriteConfig("tls.yaml", absl::StrCat(R"yaml(
listener: { address: "127.0.0.1", port: 0 }
admin: { disabled: true }
tracing: { disabled: true }
tls_listener:
  address: { address: "127.0.0.1", port: 0 }
  tls:
    certificate_chain_file: )yaml", getpid(), R"yaml(-server.pem
    private_key_file: )yaml", getpid(), "-server.key\n"));
}

TEST(GatewayBinaryTest, ReadyLineNamesTheTlsListener) {
  const polymesh::gateway::testing::TestPki pki = polymesh::gateway::testing::MakeTestPki();
  GatewayProcess gateway(TlsConfig(pki, /*matching_key=*/true));
  const std::string started = gateway.ReadLineWith(R"("body":"ready")");
  EXPECT_THAT(started, HasSubstr(R"("address":"127.0.0.1:)"));
  EXPECT_THAT(started, HasSubstr(R"("tls_address":"127.0.0.1:)"));
  gateway.Signal(SIGTERM);
  EXPECT_EQ(gateway.Wait(), 0);
}

TEST(GatewayBinaryTest, ARenewedCertificateIsServedWithoutARestart) {
  const polymesh::gateway::testing::TestPki first = polymesh::gateway::testing::MakeTestPki();
  GatewayProcess gateway(TlsConfig(first, /*matching_key=*/true));
  const uint16_t port = PortOf(gateway.ReadLineWith(R"("body":"ready")"), "tls_address");
  ASSERT_NE(port, 0);
  EXPECT_TRUE(HandshakeTrusting(port, first.ca.certificate_pem));

  // The certificate and key files change (as a renewal writes them); the
  // configuration file does not.
  const polymesh::gateway::testing::TestPki renewed = polymesh::gateway::testing::MakeTestPki();
  WriteConfig("server.key.new", renewed.server.key_pem);
  WriteConfig("server.pem.new", renewed.server.certificate_pem);
  // Renamed into place, the key first: each rename is atomic.
  const std::string base = absl::StrCat(::testing::TempDir(), "/", getpid(), "-");
  ASSERT_EQ(rename((base + "server.key.new").c_str(), (base + "server.key").c_str()), 0);
  ASSERT_EQ(rename((base + "server.pem.new").c_str(), (base + "server.pem").c_str()), 0);
  EXPECT_THAT(gateway.ReadLineWith("configuration reloaded"), HasSubstr(R"("generation":")"));
  // New connections get the renewed certificate once the previous
  // generation has stopped accepting (until then the kernel may still hand
  // it one, which it serves with the certificate it started with).
  bool renewed_served = false;
  for (int i = 0; i < 100 && !renewed_served; ++i) {
    renewed_served = HandshakeTrusting(port, renewed.ca.certificate_pem);
    if (!renewed_served) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(renewed_served);
  EXPECT_FALSE(HandshakeTrusting(port, first.ca.certificate_pem));
  gateway.Signal(SIGTERM);
  EXPECT_EQ(gateway.Wait(), 0);
}

TEST(GatewayBinaryTest, TlsKeyThatDoesNotMatchExitsTwoNamingTheField) {
  const polymesh::gateway::testing::TestPki pki = polymesh::gateway::testing::MakeTestPki();
  GatewayProcess gateway(TlsConfig(pki, /*matching_key=*/false));
  const std::string line = gateway.ReadLineWith("invalid configuration");
  EXPECT_THAT(line, HasSubstr("tls_listener.tls: the private key in "));
  EXPECT_THAT(line, HasSubstr("does not match the certificate"));
  EXPECT_EQ(gateway.Wait(), 2);
}

TEST(GatewayBinaryTest, BadConfigExitsTwoNamingTheField) {
  const std::string path = WriteConfig(
      "bad.yaml", "listener: { address: 127.0.0.1, port: 0 }\nroutes: [{ nme: x }]\n");
  GatewayProcess gateway(path);
  const std::string line = gateway.ReadLineWith("invalid configuration");
  EXPECT_THAT(line, HasSubstr(R"("severity":"ERROR")"));
  EXPECT_THAT(line, HasSubstr("bad.yaml:2:12: routes[0].nme: unknown field"));
  EXPECT_EQ(gateway.Wait(), 2);
}

TEST(GatewayBinaryTest, RouteThatTheContractsRefuseExitsTwoNamingTheRoute) {
  // The descriptor set next to the config, named by a relative path.
  const std::string set = absl::StrCat(::testing::TempDir(), "/binary_test_contracts.binpb");
  std::ofstream(set, std::ios::binary | std::ios::trunc)
      << std::ifstream(POLYMESH_DESCRIPTOR_SET, std::ios::binary).rdbuf();
  const std::string path = WriteConfig("retry_create.yaml", R"yaml(
listener: { address: "127.0.0.1", port: 0 }
contracts: { descriptor_sets: [binary_test_contracts.binpb] }
clusters:
  - name: users
    endpoints: [{ address: "127.0.0.1", port: 50053 }]
routes:
  - name: users
    match: { service: polymesh.users.v1.UserService }
    cluster: users
    retry: {}
)yaml");
  GatewayProcess gateway(path);
  const std::string line = gateway.ReadLineWith("invalid configuration");
  EXPECT_THAT(line, HasSubstr(R"(retry_create.yaml:11:12: routes[0].retry: route \"users\" )"
                              R"(retries polymesh.users.v1.UserService/CreateUser)"));
  EXPECT_EQ(gateway.Wait(), 2);
}

TEST(GatewayBinaryTest, HostNameThatDoesNotResolveExitsTwoNamingTheField) {
  // RFC 6761 reserves .invalid: the name never resolves.
  const std::string path = WriteConfig("unresolvable.yaml", R"yaml(
listener: { address: "127.0.0.1", port: 0 }
local_services: { address: "127.0.0.1", port: 0 }
clusters:
  - name: inference
    endpoints:
      - { address: "127.0.0.1", port: 50052 }
      - { address: "nothing.invalid", port: 50052 }
routes:
  - name: inference
    match: { service: inference.GRPCInferenceService }
    cluster: inference
)yaml");
  GatewayProcess gateway(path);
  const std::string line = gateway.ReadLineWith("invalid configuration");
  EXPECT_THAT(line, HasSubstr(R"("severity":"ERROR")"));
  EXPECT_THAT(line, HasSubstr(R"(clusters[0].endpoints[1].address: )"
                              R"(host name \"nothing.invalid\" does not resolve)"));
  EXPECT_EQ(gateway.Wait(), 2);
}

}  // namespace
}  // namespace polymesh::gateway
