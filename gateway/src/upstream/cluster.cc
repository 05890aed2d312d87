#include "upstream/cluster.h"

#include <arpa/inet.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "config/config_parser.h"
#include "transport/socket.h"

namespace polymesh::gateway {
namespace {

bool IsNumericAddress(const std::string& host) {
  in6_addr scratch;
  return inet_pton(AF_INET, host.c_str(), &scratch) == 1 ||
         inet_pton(AF_INET6, host.c_str(), &scratch) == 1;
}

bool SameEndpoint(const UpstreamEndpoint& a, const UpstreamEndpoint& b) {
  return a.port == b.port && a.address == b.address && a.host == b.host;
}

// Connect backoff on one worker: doubles from the base up to the cap, with
// jitter (a delay drawn in [d/2, d]) so that workers do not retry together.
constexpr absl::Duration kBackoffBase = absl::Milliseconds(100);
constexpr absl::Duration kBackoffMax = absl::Seconds(10);

}  // namespace

HostResolver SystemResolver() {
  return [](absl::string_view host) { return ResolveHost(host); };
}

absl::StatusOr<std::vector<ClusterSpec>> ClusterSpecsFromConfig(
    const v1::GatewayConfig& config, uint16_t local_port, const HostResolver& resolver) {
  std::vector<ClusterSpec> specs;
  for (int i = 0; i < config.clusters_size(); ++i) {
    const v1::Cluster& cluster = config.clusters(i);
    ClusterSpec& spec = specs.emplace_back();
    spec.name = cluster.name();
    if (cluster.has_connect_timeout()) {
      spec.connect_timeout = ToAbslDuration(cluster.connect_timeout());
    }
    if (cluster.load_balancing() == v1::LOAD_BALANCING_LEAST_REQUEST) {
      spec.load_balancing = LoadBalancerPolicy::kLeastRequest;
    }
    if (cluster.has_dns_refresh_interval()) {
      spec.dns_refresh_interval = ToAbslDuration(cluster.dns_refresh_interval());
    }
    if (cluster.max_connections_per_endpoint() > 0) {
      spec.max_connections_per_endpoint = cluster.max_connections_per_endpoint();
    }
    if (cluster.has_health_check()) {
      const v1::HealthCheck& check = cluster.health_check();
      HealthCheckPolicy& policy = spec.health_check.emplace();
      if (check.has_interval()) policy.interval = ToAbslDuration(check.interval());
      if (check.has_timeout()) policy.timeout = ToAbslDuration(check.timeout());
      if (check.unhealthy_threshold() > 0) policy.unhealthy_threshold = check.unhealthy_threshold();
      if (check.healthy_threshold() > 0) policy.healthy_threshold = check.healthy_threshold();
      policy.service = check.service();
    }
    if (cluster.has_tls()) {
      absl::StatusOr<std::shared_ptr<const UpstreamTlsSpec>> tls =
          UpstreamTlsSpecFromConfig(cluster.tls());
      if (!tls.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("clusters[", i, "].tls: ", tls.status().message()));
      }
      spec.tls = std::move(*tls);
    }
    if (cluster.has_outlier_detection()) {
      const v1::OutlierDetection& outlier = cluster.outlier_detection();
      spec.outlier.enabled = true;
      if (outlier.consecutive_failures() > 0) {
        spec.outlier.consecutive_failures = outlier.consecutive_failures();
      }
      if (outlier.has_base_ejection_time()) {
        spec.outlier.base_ejection_time = ToAbslDuration(outlier.base_ejection_time());
      }
      if (outlier.has_max_ejection_time()) {
        spec.outlier.max_ejection_time = ToAbslDuration(outlier.max_ejection_time());
      }
    }
    for (int j = 0; j < cluster.endpoints_size(); ++j) {
      const v1::SocketAddress& endpoint = cluster.endpoints(j);
      spec.configured.push_back(ConfiguredEndpoint{endpoint.address(),
                                                   static_cast<uint16_t>(endpoint.port()),
                                                   !IsNumericAddress(endpoint.address())});
      // Resolved here at start; the control thread resolves names again
      // every dns_refresh_interval (RefreshEndpoints()).
      absl::StatusOr<std::vector<std::string>> addresses = resolver(endpoint.address());
      if (!addresses.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("clusters[", i, "].endpoints[", j, "].address: host name \"",
                         endpoint.address(), "\" does not resolve: ",
                         addresses.status().message()));
      }
      for (std::string& address : *addresses) {
        spec.endpoints.push_back(UpstreamEndpoint{
            cluster.name(), endpoint.address(), std::move(address),
            static_cast<uint16_t>(endpoint.port()), spec.connect_timeout, spec.tls});
      }
    }
  }
  if (config.has_local_services()) {
    ClusterSpec& spec = specs.emplace_back();
    spec.name = std::string(kLocalClusterName);
    spec.endpoints.push_back(UpstreamEndpoint{spec.name, config.local_services().address(),
                                              config.local_services().address(),
                                              local_port, absl::Seconds(1)});
    spec.configured.push_back(
        ConfiguredEndpoint{config.local_services().address(), local_port, false});
  }
  return specs;
}

EndpointDiff DiffEndpoints(const std::vector<UpstreamEndpoint>& before,
                           const std::vector<UpstreamEndpoint>& after) {
  EndpointDiff diff;
  auto contains = [](const std::vector<UpstreamEndpoint>& list, const UpstreamEndpoint& e) {
    return std::any_of(list.begin(), list.end(),
                       [&e](const UpstreamEndpoint& x) { return SameEndpoint(x, e); });
  };
  for (size_t i = 0; i < after.size(); ++i) {
    if (!contains(before, after[i])) diff.added.push_back(i);
  }
  for (size_t i = 0; i < before.size(); ++i) {
    if (!contains(after, before[i])) diff.removed.push_back(i);
  }
  diff.changed = before.size() != after.size() || !diff.added.empty() || !diff.removed.empty();
  for (size_t i = 0; !diff.changed && i < before.size(); ++i) {
    diff.changed = !SameEndpoint(before[i], after[i]);
  }
  return diff;
}

// --- UpstreamCluster -------------------------------------------------------

UpstreamCluster::UpstreamCluster(ClusterSpec spec, size_t workers)
    : spec_(std::move(spec)),
      workers_(std::max<size_t>(workers, 1)),
      own_events_(std::make_unique<ClusterEventCounters>()),
      events_(own_events_.get()) {
  auto set = std::make_shared<EndpointSet>();
  for (const UpstreamEndpoint& endpoint : spec_.endpoints) {
    set->endpoints.push_back(MakeEndpoint(endpoint));
  }
  endpoints_.store(std::move(set), std::memory_order_release);
}

std::shared_ptr<EndpointState> UpstreamCluster::MakeEndpoint(UpstreamEndpoint endpoint) const {
  // Like Envoy: with active checks, an endpoint is unhealthy until its
  // first check passes.
  return std::make_shared<EndpointState>(std::move(endpoint), workers_, spec_.outlier,
                                         /*healthy=*/!spec_.health_check.has_value());
}

void UpstreamCluster::Publish(std::shared_ptr<const EndpointSet> endpoints) {
  endpoints_.store(std::move(endpoints), std::memory_order_release);
  version_.fetch_add(1, std::memory_order_acq_rel);
}

UpstreamClusters MakeUpstreamClusters(const std::vector<ClusterSpec>& specs, size_t workers) {
  UpstreamClusters clusters;
  clusters.reserve(specs.size());
  for (const ClusterSpec& spec : specs) {
    clusters.push_back(std::make_unique<UpstreamCluster>(spec, workers));
  }
  return clusters;
}

std::shared_ptr<const EndpointSet> RefreshEndpoints(const UpstreamCluster& cluster,
                                                    const HostResolver& resolver,
                                                    std::vector<std::string>* errors) {
  const ClusterSpec& spec = cluster.spec();
  const std::shared_ptr<const EndpointSet> current = cluster.endpoints();
  std::vector<UpstreamEndpoint> before;
  before.reserve(current->endpoints.size());
  for (const auto& state : current->endpoints) before.push_back(state->endpoint());

  std::vector<UpstreamEndpoint> after;
  for (const ConfiguredEndpoint& configured : spec.configured) {
    auto keep_current = [&] {
      for (const UpstreamEndpoint& endpoint : before) {
        if (endpoint.host == configured.host && endpoint.port == configured.port) {
          after.push_back(endpoint);
        }
      }
    };
    if (!configured.refreshed) {
      keep_current();
      continue;
    }
    absl::StatusOr<std::vector<std::string>> addresses = resolver(configured.host);
    if (!addresses.ok() || addresses->empty()) {
      if (errors != nullptr) {
        errors->push_back(absl::StrCat(
            "host name \"", configured.host, "\" of cluster \"", spec.name,
            "\" did not resolve, keeping its last addresses: ",
            addresses.ok() ? "no address" : addresses.status().message()));
      }
      keep_current();
      continue;
    }
    for (std::string& address : *addresses) {
      after.push_back(UpstreamEndpoint{spec.name, configured.host, std::move(address),
                                       configured.port, spec.connect_timeout, spec.tls});
    }
  }
  if (!DiffEndpoints(before, after).changed) return nullptr;
  auto next = std::make_shared<EndpointSet>();
  for (UpstreamEndpoint& endpoint : after) {
    std::shared_ptr<EndpointState> state;
    for (const auto& existing : current->endpoints) {
      if (SameEndpoint(existing->endpoint(), endpoint)) {
        state = existing;
        break;
      }
    }
    if (state == nullptr) state = cluster.MakeEndpoint(std::move(endpoint));
    next->endpoints.push_back(std::move(state));
  }
  return next;
}

// --- ClusterManager --------------------------------------------------------

// One worker's connections to one endpoint, with its connect backoff.
class ClusterManager::EndpointPool : public UpstreamConnectionListener,
                                     public DeferredDeletable {
 public:
  EndpointPool(ClusterManager& manager, const UpstreamCluster& cluster,
               std::shared_ptr<EndpointState> state)
      : manager_(manager),
        worker_(manager.worker_),
        cluster_(cluster),
        state_(std::move(state)),
        sweep_timer_(manager.loop_, [this] { CloseIdle(); }) {}
  ~EndpointPool() override {
    // May run after the manager is gone (a deferred delete): only the
    // pool's own fields here.
    for (UpstreamConnection* connection : connections_) connection->set_listener(nullptr);
    state_->AddConnections(worker_, -static_cast<int64_t>(open_));
  }

  EndpointState& state() const { return *state_; }
  bool InBackoff(absl::Time now) const { return now < retry_at_; }
  bool removed() const { return removed_; }
  bool empty() const { return connections_.empty(); }

  // A connection for one more stream.
  UpstreamConnection* Get() {
    const absl::Time now = manager_.loop_.now();
    if (InBackoff(now)) {
      std::unique_ptr<UpstreamConnection> failed = UpstreamConnection::Failed(
          manager_.loop_, state_->endpoint(),
          absl::StrCat("not connecting for ", absl::FormatDuration(retry_at_ - now), " after ",
                       connect_failures_, " failed connection attempt",
                       connect_failures_ == 1 ? "" : "s", " (last: ", last_failure_, ")"));
      UpstreamConnection* raw = failed.get();
      manager_.loop_.DeferDelete(std::move(failed));
      return raw;
    }
    // The first connection with room; a connecting one takes every stream
    // (they wait for it together).
    UpstreamConnection* least = nullptr;
    size_t usable = 0;
    for (UpstreamConnection* connection : connections_) {
      if (!connection->usable()) continue;
      ++usable;
      if (connection->connecting()) return connection;
      const size_t limit = connection->max_concurrent_streams();
      // "Near" the limit: within an eighth of it.
      const size_t full = std::max<size_t>(1, limit - limit / 8);
      if (connection->active_streams() < full) return connection;
      if (least == nullptr || connection->active_streams() < least->active_streams()) {
        least = connection;
      }
    }
    if (least != nullptr && usable >= cluster_.spec().max_connections_per_endpoint) {
      return least;  // nghttp2 queues what the peer cannot take yet
    }
    return Open();
  }

  // The endpoint left the cluster: no new streams; connections close once
  // their last stream has ended.
  void Remove() {
    removed_ = true;
    sweep_timer_.Enable(absl::ZeroDuration());
  }

  void Forget(UpstreamConnection* connection) {
    connections_.erase(std::remove(connections_.begin(), connections_.end(), connection),
                       connections_.end());
  }

  // UpstreamConnectionListener.
  void OnConnected(UpstreamConnection&) override {
    connect_failures_ = 0;
    retry_at_ = absl::InfinitePast();
    ++open_;
    state_->AddConnections(worker_, 1);
    ClusterEventCounters::Add(cluster_.events().connections_opened);
  }
  void OnConnectFailed(UpstreamConnection& connection, absl::string_view reason) override {
    ClusterEventCounters::Add(cluster_.events().connections_failed);
    ++connect_failures_;
    last_failure_ = std::string(reason);
    absl::Duration delay = kBackoffBase;
    for (int i = 1; i < connect_failures_ && delay < kBackoffMax; ++i) delay *= 2;
    delay = std::min(delay, kBackoffMax);
    const double jitter = 0.5 + 0.5 * static_cast<double>(manager_.NextRandom() % 1024) / 1023;
    retry_at_ = manager_.loop_.now() + delay * jitter;
    if (connect_failures_ == 1 || connect_failures_ % 10 == 0) {
      Log(LogLevel::kWarning, "upstream connect failed",
          {{"endpoint", connection.description()},
           {"error", reason},
           {"attempts", absl::StrCat(connect_failures_)},
           {"retry_in", absl::FormatDuration(retry_at_ - manager_.loop_.now())}});
    }
    RecordFailure(connection);
  }
  void OnStreamsChanged(UpstreamConnection& connection, int64_t delta) override {
    state_->AddOutstanding(worker_, delta);
    if (removed_ && connection.active_streams() == 0) sweep_timer_.Enable(absl::ZeroDuration());
  }
  void OnStreamOutcome(UpstreamConnection& connection, bool failure) override {
    if (!failure) {
      state_->outlier().RecordSuccess();
      return;
    }
    RecordFailure(connection);
  }
  // A connection that was open has closed.
  void OnClosedConnection(UpstreamConnection* connection, bool was_open) {
    Forget(connection);
    if (was_open && open_ > 0) {
      --open_;
      state_->AddConnections(worker_, -1);
    }
  }

 private:
  void RecordFailure(UpstreamConnection& connection) {
    if (!state_->outlier().RecordFailure(manager_.loop_.now())) return;
    ClusterEventCounters::Add(cluster_.events().ejections);
    Log(LogLevel::kWarning, "upstream endpoint ejected",
        {{"endpoint", connection.description()},
         {"ejections", absl::StrCat(state_->outlier().ejections())},
         {"until", absl::FormatTime(state_->outlier().ejected_until())}});
  }

  UpstreamConnection* Open() {
    std::unique_ptr<UpstreamConnection> connection =
        UpstreamConnection::Connect(manager_.loop_, state_->endpoint(), this);
    UpstreamConnection* raw = connection.get();
    if (connection->closed()) {
      // Failed at once: it lives until the end of this iteration, long
      // enough to fail the caller's Attach().
      connection->set_listener(nullptr);
      manager_.loop_.DeferDelete(std::move(connection));
      return raw;
    }
    connection->set_close_callback(
        [manager = &manager_](Http2Connection* closed) { manager->OnClosed(closed); });
    connections_.push_back(raw);
    manager_.connections_.emplace(raw, std::move(connection));
    manager_.pool_of_.emplace(raw, this);
    return raw;
  }

  void CloseIdle() {
    if (!removed_) return;
    std::vector<UpstreamConnection*> idle;
    for (UpstreamConnection* connection : connections_) {
      if (connection->active_streams() == 0) idle.push_back(connection);
    }
    for (UpstreamConnection* connection : idle) connection->Close("endpoint left the cluster");
  }

  ClusterManager& manager_;
  const size_t worker_;
  const UpstreamCluster& cluster_;
  const std::shared_ptr<EndpointState> state_;
  std::vector<UpstreamConnection*> connections_;
  size_t open_ = 0;
  int connect_failures_ = 0;
  absl::Time retry_at_ = absl::InfinitePast();
  std::string last_failure_;
  bool removed_ = false;
  Timer sweep_timer_;
};

// One worker's view of one cluster.
struct ClusterManager::WorkerCluster {
  WorkerCluster(const UpstreamCluster& cluster, uint64_t seed)
      : shared(cluster), balancer(cluster.spec().load_balancing, seed) {}

  const UpstreamCluster& shared;
  uint64_t version = 0;
  std::shared_ptr<const EndpointSet> set;
  // The pool of each endpoint of `set`, in its order.
  std::vector<EndpointPool*> pools;
  // Every pool, those of removed endpoints included until their
  // connections have closed.
  absl::flat_hash_map<const EndpointState*, std::unique_ptr<EndpointPool>> all_pools;
  LoadBalancer balancer;
  // Scratch for Pick(), reserved to the set's size (no allocation per call).
  std::vector<uint32_t> candidates;
};

ClusterManager::ClusterManager(EventLoop& loop, const UpstreamClusters& clusters,
                               size_t worker)
    : loop_(loop), worker_(worker), random_((worker + 1) * 0x9E3779B97F4A7C15ull) {
  clusters_.reserve(clusters.size());
  for (const auto& cluster : clusters) {
    clusters_.push_back(std::make_unique<WorkerCluster>(*cluster, worker * 7919 + clusters_.size()));
    Refresh(*clusters_.back());
  }
}

ClusterManager::~ClusterManager() {
  for (auto& [raw, connection] : connections_) {
    connection->set_close_callback(nullptr);
    connection->set_listener(nullptr);
  }
  // The pools first: they still point at their connections.
  clusters_.clear();
  connections_.clear();
}

uint64_t ClusterManager::NextRandom() {
  random_ ^= random_ >> 12;
  random_ ^= random_ << 25;
  random_ ^= random_ >> 27;
  return random_ * 0x2545F4914F6CDD1Dull;
}

void ClusterManager::Refresh(WorkerCluster& cluster) {
  cluster.version = cluster.shared.version();
  cluster.set = cluster.shared.endpoints();
  cluster.pools.clear();
  absl::flat_hash_set<const EndpointState*> present;
  for (const auto& state : cluster.set->endpoints) {
    present.insert(state.get());
    std::unique_ptr<EndpointPool>& pool = cluster.all_pools[state.get()];
    if (pool == nullptr) pool = std::make_unique<EndpointPool>(*this, cluster.shared, state);
    cluster.pools.push_back(pool.get());
  }
  for (auto it = cluster.all_pools.begin(); it != cluster.all_pools.end();) {
    auto current = it++;
    if (present.contains(current->first)) continue;
    if (current->second->empty()) {
      // After this iteration: one of its callbacks may be on the stack.
      loop_.DeferDelete(std::move(current->second));
      cluster.all_pools.erase(current);
    } else {
      current->second->Remove();
    }
  }
  cluster.candidates.reserve(cluster.set->endpoints.size());
}

UpstreamConnection* ClusterManager::Pick(size_t cluster_index,
                                         const UpstreamEndpoint* avoid) {
  WorkerCluster& cluster = *clusters_[cluster_index];
  if (cluster.shared.version() != cluster.version) Refresh(cluster);
  const absl::Time now = loop_.now();
  const std::vector<EndpointPool*>& pools = cluster.pools;
  std::vector<uint32_t>& candidates = cluster.candidates;
  const uint32_t count = static_cast<uint32_t>(pools.size());
  auto avoided = [avoid](const EndpointState& state) {
    return avoid != nullptr && state.endpoint().port == avoid->port &&
           state.endpoint().address == avoid->address;
  };
  // Tiers, best first: usable (healthy, not ejected) and connectable on
  // this worker; usable; then, in panic, connectable; then anything. The
  // avoided endpoint is left out of a tier when the tier has another.
  auto fill = [&](bool need_usable, bool need_connectable) {
    candidates.clear();
    bool skipped = false;
    for (uint32_t i = 0; i < count; ++i) {
      const EndpointPool& pool = *pools[i];
      if (need_usable && !pool.state().Usable(now)) continue;
      if (need_connectable && pool.InBackoff(now)) continue;
      if (avoided(pool.state())) {
        skipped = true;
        continue;
      }
      candidates.push_back(i);
    }
    if (candidates.empty() && skipped) {
      for (uint32_t i = 0; i < count; ++i) {
        if (avoided(pools[i]->state())) candidates.push_back(i);
      }
    }
    return !candidates.empty();
  };
  if (!fill(true, true) && !fill(true, false)) {
    ClusterEventCounters::Add(cluster.shared.events().panic_picks);
    if (!fill(false, true)) fill(false, false);
  }
  const uint32_t chosen = cluster.balancer.Choose(
      candidates, [&pools, this](uint32_t i) { return pools[i]->state().outstanding(worker_); });
  return pools[chosen]->Get();
}

void ClusterManager::OnClosed(Http2Connection* connection) {
  auto* upstream = static_cast<UpstreamConnection*>(connection);
  auto pool_it = pool_of_.find(upstream);
  if (pool_it != pool_of_.end()) {
    EndpointPool* pool = pool_it->second;
    pool_of_.erase(pool_it);
    pool->OnClosedConnection(upstream, upstream->was_connected());
    upstream->set_listener(nullptr);
    if (pool->removed() && pool->empty()) {
      // Its endpoint left every cluster's set: drop the pool after this
      // iteration (we may be inside one of its callbacks).
      for (auto& cluster : clusters_) {
        auto it = cluster->all_pools.find(&pool->state());
        if (it != cluster->all_pools.end() && it->second.get() == pool) {
          loop_.DeferDelete(std::move(it->second));
          cluster->all_pools.erase(it);
          break;
        }
      }
    }
  }
  auto it = connections_.find(upstream);
  if (it == connections_.end()) return;
  loop_.DeferDelete(std::move(it->second));
  connections_.erase(it);
}

}  // namespace polymesh::gateway
