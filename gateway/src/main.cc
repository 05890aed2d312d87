// polymesh-gateway: the gRPC front door of the mesh.
//
//   polymesh-gateway [--config FILE]
//
// The configuration file (YAML, schema polymesh.gateway.v1.GatewayConfig)
// comes from --config or else from POLYMESH_GATEWAY_CONFIG. Logs are JSON
// lines on stderr (common/log.h); the line whose body is "ready" says the
// gateway serves, at its "address". SIGTERM or SIGINT stops gracefully:
// health NOT_SERVING, no new connections, calls in progress get a few
// seconds, spans are flushed, exit 0. A bad configuration exits 2, as does a
// cluster endpoint host name that does not resolve at start. SIGHUP, or a
// change of the configuration file, reloads it without dropping calls; a bad
// new configuration is rejected (logged and counted) and the running one
// keeps serving. The admin listener (HTTP, default 127.0.0.1:9901) serves
// /ready, /live, /metrics, /config_dump and /clusters; /ready turns 503 as
// soon as a stop begins.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "admin/admin_server.h"
#include "common/host_port.h"
#include "common/log.h"
#include "config/config_loader.h"
#include "observability/tracing.h"
#include "observability/tracing_metrics.h"
#include "server/config_watcher.h"
#include "server/reloading_gateway.h"

namespace polymesh::gateway {
namespace {

constexpr int kExitConfigError = 2;
constexpr int kExitStartError = 1;

constexpr char kUsage[] =
    "usage: polymesh-gateway [--config FILE]\n"
    "  --config FILE  the YAML configuration (default: $POLYMESH_GATEWAY_CONFIG)\n";

int Main(int argc, char** argv) {
  // Block the stop and reload signals before any thread starts (the tracer
  // starts some), so that every thread inherits the mask and only sigwait()
  // below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string config_path;
  if (const char* env = std::getenv("POLYMESH_GATEWAY_CONFIG")) config_path = env;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = std::string(arg.substr(9));
    } else if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      Log(LogLevel::kError, "bad command line",
          {{"argument", arg}, {"usage", "polymesh-gateway [--config FILE]"}});
      return kExitConfigError;
    }
  }
  if (config_path.empty()) {
    Log(LogLevel::kError, "no configuration: pass --config FILE or set POLYMESH_GATEWAY_CONFIG");
    return kExitConfigError;
  }
  absl::StatusOr<LoadedConfig> loaded = LoadConfigFileWithContracts(config_path);
  if (!loaded.ok()) {
    Log(LogLevel::kError, "invalid configuration",
        {{"config", config_path}, {"error", loaded.status().message()}});
    return kExitConfigError;
  }
  const GatewayConfig* config = &loaded->config;

  observability::TracerOptions tracer_options;
  tracer_options.disabled = config->tracing().disabled();
  absl::StatusOr<std::unique_ptr<observability::Tracer>> tracer =
      observability::Tracer::FromEnvironment(tracer_options);
  if (!tracer.ok()) {
    Log(LogLevel::kError, "invalid tracing environment",
        {{"error", tracer.status().message()}});
    return kExitConfigError;
  }
  // Read before the Gateway takes the tracer; they outlive it.
  const std::shared_ptr<const observability::TracingCounters> tracing_counters =
      (*tracer)->counters();

  absl::StatusOr<std::unique_ptr<ReloadingGateway>> gateway = ReloadingGateway::Start(
      config_path, *loaded, std::shared_ptr<observability::Tracer>(std::move(*tracer)));
  if (!gateway.ok()) {
    if (absl::IsInvalidArgument(gateway.status())) {
      // Such as a cluster endpoint's host name that does not resolve.
      Log(LogLevel::kError, "invalid configuration",
          {{"config", config_path}, {"error", gateway.status().message()}});
      return kExitConfigError;
    }
    Log(LogLevel::kError, "cannot start", {{"error", gateway.status().message()}});
    return kExitStartError;
  }
  std::unique_ptr<AdminServer> admin;
  if (!config->admin().disabled()) {
    AdminServer::Options options;
    if (config->admin().has_address()) {
      options.address = config->admin().address().address();
      options.port = static_cast<uint16_t>(config->admin().address().port());
    }
    options.collectables = {(*gateway)->metrics(), std::make_shared<ProcessCollector>()};
    if (tracing_counters != nullptr) {
      options.collectables.push_back(
          std::make_shared<observability::TracingCollector>(tracing_counters));
    }
    if (!config->admin().token_file().empty()) {
      absl::StatusOr<std::string> token = AdminServer::ReadToken(config->admin().token_file());
      if (!token.ok()) {
        Log(LogLevel::kError, "invalid configuration",
            {{"config", config_path}, {"error", token.status().message()}});
        return kExitConfigError;
      }
      options.token = std::move(*token);
    }
    ReloadingGateway* running = gateway->get();
    options.config_json = [running] { return running->ConfigJson(); };
    options.clusters_json = [running] { return running->ClustersJson(); };
    absl::StatusOr<std::unique_ptr<AdminServer>> started = AdminServer::Start(std::move(options));
    if (!started.ok()) {
      Log(LogLevel::kError, "cannot start", {{"error", started.status().message()}});
      return kExitStartError;
    }
    admin = std::move(*started);
  }
  const std::string admin_address =
      admin != nullptr
          ? JoinHostPort(config->admin().has_address() ? config->admin().address().address()
                                                       : std::string("127.0.0.1"),
                         admin->port())
          : std::string("none");

  const Gateway& first = (*gateway)->current();
  std::vector<std::string> routes;
  for (const Route& route : first.routes().routes()) {
    routes.push_back(absl::StrCat(route.name, "->", route.cluster));
  }
  const std::string listener =
      config->has_listener() ? JoinHostPort(config->listener().address(), first.port())
                             : std::string("none");
  const std::string local =
      config->has_local_services()
          ? JoinHostPort(config->local_services().address(), first.local_services_port())
          : std::string("none");
  const std::string tls_listener =
      config->has_tls_listener()
          ? JoinHostPort(config->tls_listener().address().address(), first.tls_port())
          : std::string("none");
  // Each cluster as "name=host:port[address] ...": every endpoint as
  // configured, with the address its host name resolved to at start.
  std::vector<std::string> clusters;
  for (const ClusterSpec& cluster : first.clusters()) {
    std::vector<std::string> endpoints;
    for (const UpstreamEndpoint& endpoint : cluster.endpoints) {
      std::string entry = JoinHostPort(endpoint.host, endpoint.port);
      if (endpoint.address != endpoint.host) absl::StrAppend(&entry, "[", endpoint.address, "]");
      endpoints.push_back(std::move(entry));
    }
    clusters.push_back(absl::StrCat(cluster.name, "=", absl::StrJoin(endpoints, " ")));
  }
  const std::string cluster_list = absl::StrJoin(clusters, ",");
  const std::string workers = absl::StrCat(first.worker_count());
  const std::string route_list = absl::StrJoin(routes, ",");
  // A change of the configuration file, or of a file it names (a renewed
  // certificate, a new key file or JWKS), reloads it like SIGHUP does.
  // Watched before "ready" is logged, so that a change made as soon as that
  // line appears is seen.
  const auto files_of = [&config_path](const GatewayConfig& watched_config) {
    std::vector<std::string> files = ConfigFiles(watched_config);
    files.insert(files.begin(), config_path);
    return files;
  };
  std::vector<std::string> watched = files_of(*config);
  const auto watch = [&watched, &config_path] {
    absl::StatusOr<std::unique_ptr<ConfigWatcher>> started =
        ConfigWatcher::Start(watched, [] { kill(getpid(), SIGHUP); });
    if (!started.ok()) {
      Log(LogLevel::kWarning, "configuration files not watched: reload with SIGHUP",
          {{"config", config_path}, {"error", started.status().message()}});
    }
    return started;
  };
  absl::StatusOr<std::unique_ptr<ConfigWatcher>> watcher = watch();
  // The one line that says the gateway serves: "address" is the gRPC
  // listener's host:port, as in every polymesh process's ready line ("none"
  // when the gateway listens with TLS only, at "tls_address").
  Log(LogLevel::kInfo, "ready",
      {{"address", listener},
       {"tls_address", tls_listener},
       {"local_address", local},
       {"admin_address", admin_address},
       {"workers", workers},
       {"routes", route_list},
       {"clusters", cluster_list},
       {"config", config_path},
       {"tracing", config->tracing().disabled() ? "disabled" : "enabled"}});

  int signal_number = 0;
  for (;;) {
    sigwait(&signals, &signal_number);
    if (signal_number != SIGHUP) break;
    absl::Status reloaded = (*gateway)->Reload();
    if (!reloaded.ok()) {
      Log(LogLevel::kError, "configuration rejected; the running one keeps serving",
          {{"config", config_path}, {"error", reloaded.message()}});
      continue;
    }
    // The new configuration may name other files.
    std::vector<std::string> files = files_of((*gateway)->config());
    if (files != watched) {
      if (watcher.ok()) watcher->reset();
      watched = std::move(files);
      watcher = watch();
    }
  }
  if (watcher.ok()) watcher->reset();
  const absl::Duration grace = DrainTimeout((*gateway)->config());
  Log(LogLevel::kInfo, "gateway stopping",
      {{"signal", strsignal(signal_number)}, {"grace", absl::FormatDuration(grace)}});
  if (admin != nullptr) admin->SetReady(false);
  (*gateway)->Stop(grace);
  gateway->reset();
  admin.reset();
  Log(LogLevel::kInfo, "gateway stopped");
  return 0;
}

}  // namespace
}  // namespace polymesh::gateway

int main(int argc, char** argv) { return polymesh::gateway::Main(argc, argv); }
