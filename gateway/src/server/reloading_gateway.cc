#include "server/reloading_gateway.h"

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "config/config_loader.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"

namespace polymesh::gateway {
namespace {

constexpr absl::Duration kDefaultDrainTimeout = absl::Seconds(5);

bool SameAddress(const v1::SocketAddress& a, const v1::SocketAddress& b) {
  return a.address() == b.address() && a.port() == b.port();
}

}  // namespace

absl::Duration DrainTimeout(const v1::GatewayConfig& config) {
  if (!config.has_drain_timeout()) return kDefaultDrainTimeout;
  return absl::Seconds(config.drain_timeout().seconds()) +
         absl::Nanoseconds(config.drain_timeout().nanos());
}

// polymesh_gateway_config_reloads_total{result} and
// polymesh_gateway_config_generation.
class ReloadingGateway::ReloadCounters : public prometheus::Collectable {
 public:
  void Applied() {
    applied_.fetch_add(1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_relaxed);
  }
  void Rejected() { rejected_.fetch_add(1, std::memory_order_relaxed); }

  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily reloads;
    reloads.name = "polymesh_gateway_config_reloads_total";
    reloads.help = "Configuration reloads, by result (applied or rejected).";
    reloads.type = prometheus::MetricType::Counter;
    for (const auto& [result, count] :
         {std::pair<const char*, const std::atomic<uint64_t>*>{"applied", &applied_},
          {"rejected", &rejected_}}) {
      prometheus::ClientMetric metric;
      metric.label = {{"result", result}};
      metric.counter.value = static_cast<double>(count->load(std::memory_order_relaxed));
      reloads.metric.push_back(std::move(metric));
    }
    prometheus::MetricFamily generation;
    generation.name = "polymesh_gateway_config_generation";
    generation.help = "The running configuration's generation: 1 at start, +1 per applied reload.";
    generation.type = prometheus::MetricType::Gauge;
    prometheus::ClientMetric value;
    value.gauge.value = static_cast<double>(generation_.load(std::memory_order_relaxed));
    generation.metric.push_back(std::move(value));
    return {std::move(reloads), std::move(generation)};
  }

 private:
  std::atomic<uint64_t> applied_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> generation_{1};
};

ReloadingGateway::ReloadingGateway(std::string config_path,
                                   std::shared_ptr<observability::Tracer> tracer)
    : config_path_(std::move(config_path)),
      tracer_(std::move(tracer)),
      counters_(std::make_shared<ReloadCounters>()),
      metrics_(std::make_shared<CumulativeCollector>()) {
  metrics_->Add(counters_);
}

absl::StatusOr<std::unique_ptr<ReloadingGateway>> ReloadingGateway::Start(
    std::string config_path, const LoadedConfig& loaded,
    std::shared_ptr<observability::Tracer> tracer) {
  const v1::GatewayConfig& config = loaded.config;
  std::unique_ptr<ReloadingGateway> reloading(
      new ReloadingGateway(std::move(config_path), std::move(tracer)));
  GatewayOptions options;
  options.contracts = loaded.contracts;
  options.auth = loaded.auth;
  absl::StatusOr<std::unique_ptr<Gateway>> first =
      Gateway::Start(config, reloading->tracer_, std::move(options));
  if (!first.ok()) return first.status();
  reloading->metrics_->Add((*first)->stats());
  absl::MutexLock lock(&reloading->mu_);
  reloading->current_ = std::move(*first);
  reloading->config_ = config;
  reloading->generation_ = 1;
  return reloading;
}

ReloadingGateway::~ReloadingGateway() { Stop(); }

absl::Status ReloadingGateway::Reload() {
  if (stopped_) return absl::FailedPreconditionError("the gateway is stopping");
  absl::StatusOr<LoadedConfig> loaded = LoadConfigFileWithContracts(config_path_);
  if (!loaded.ok()) {
    counters_->Rejected();
    return loaded.status();
  }
  std::shared_ptr<Gateway> old;
  v1::GatewayConfig old_config;
  {
    absl::MutexLock lock(&mu_);
    old = current_;
    old_config = config_;
  }
  const v1::GatewayConfig& config = loaded->config;
  GatewayOptions options;
  options.contracts = loaded->contracts;
  options.auth = loaded->auth;
  if (SameAddress(config.listener(), old_config.listener())) {
    options.listener_port = old->port();
  }
  if (config.has_tls_listener() && old_config.has_tls_listener() &&
      SameAddress(config.tls_listener().address(), old_config.tls_listener().address())) {
    options.tls_listener_port = old->tls_port();
  }
  if (config.has_local_services() && old_config.has_local_services() &&
      SameAddress(config.local_services(), old_config.local_services())) {
    options.local_services_port = old->local_services_port();
  }
  if (config.has_access_log() && old_config.has_access_log() &&
      config.access_log().path() == old_config.access_log().path()) {
    options.access_log = old->access_log();
  }
  using google::protobuf::util::MessageDifferencer;
  if (!MessageDifferencer::Equals(config.admin(), old_config.admin()) ||
      !MessageDifferencer::Equals(config.tracing(), old_config.tracing())) {
    Log(LogLevel::kWarning, "configuration reload: admin and tracing changes take effect at the next start",
        {{"config", config_path_}});
  }
  absl::StatusOr<std::unique_ptr<Gateway>> started =
      Gateway::Start(config, tracer_, std::move(options));
  if (!started.ok()) {
    counters_->Rejected();
    return started.status();
  }
  std::shared_ptr<Gateway> next = std::move(*started);
  metrics_->Add(next->stats());
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    current_ = next;
    config_ = config;
    generation = ++generation_;
  }
  counters_->Applied();
  const absl::Duration grace = DrainTimeout(old_config);
  Log(LogLevel::kInfo, "configuration reloaded",
      {{"config", config_path_},
       {"generation", absl::StrCat(generation)},
       {"previous_drain", absl::FormatDuration(grace)}});
  RetireInBackground(std::move(old), grace);
  return absl::OkStatus();
}

void ReloadingGateway::RetireInBackground(std::shared_ptr<Gateway> old, absl::Duration grace) {
  // Once this returns, the old generation takes no new call.
  old->BeginRetire(grace);
  retiring_.emplace_back([this, old = std::move(old), grace]() mutable {
    old->Retire(grace);
    metrics_->Retire(old->stats());
    old.reset();
  });
}

void ReloadingGateway::Stop() {
  absl::Duration grace;
  {
    absl::MutexLock lock(&mu_);
    grace = DrainTimeout(config_);
  }
  Stop(grace);
}

void ReloadingGateway::Stop(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  std::shared_ptr<Gateway> current;
  {
    absl::MutexLock lock(&mu_);
    current = current_;
  }
  if (current != nullptr) current->Stop(grace);
  for (std::thread& thread : retiring_) thread.join();
  retiring_.clear();
  if (tracer_ != nullptr) tracer_->Shutdown();
}

v1::GatewayConfig ReloadingGateway::config() const {
  absl::MutexLock lock(&mu_);
  return config_;
}

const Gateway& ReloadingGateway::current() const {
  absl::MutexLock lock(&mu_);
  return *current_;
}

uint64_t ReloadingGateway::generation() const {
  absl::MutexLock lock(&mu_);
  return generation_;
}

std::string ReloadingGateway::ConfigJson() const {
  google::protobuf::util::JsonPrintOptions json;
  json.add_whitespace = true;
  json.preserve_proto_field_names = true;
  std::string out;
  const v1::GatewayConfig config = this->config();
  if (!google::protobuf::util::MessageToJsonString(config, &out, json).ok()) return "{}";
  return out;
}

std::string ReloadingGateway::ClustersJson() const {
  std::shared_ptr<Gateway> current;
  {
    absl::MutexLock lock(&mu_);
    current = current_;
  }
  return current->ClustersJson();
}

}  // namespace polymesh::gateway
