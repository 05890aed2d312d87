#include "stats/stats.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"

namespace polymesh::gateway {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr size_t kBuckets = kLatencyBucketBounds.size() + 1;

// The metric name and help of each PolicyCounter, in enum order.
struct PolicyCounterInfo {
  const char* name;
  const char* help;
};
constexpr std::array<PolicyCounterInfo, kPolicyCounterCount> kPolicyCounters = {{
    {"polymesh_gateway_retries_total",
     "Failed attempts tried again under the route's retry policy, by route."},
    {"polymesh_gateway_retries_over_budget_total",
     "Retries not made because the cluster's retry budget was spent, by route."},
    {"polymesh_gateway_retries_exhausted_total",
     "Calls that failed with a retryable status on their last allowed attempt, by route."},
    {"polymesh_gateway_retry_buffer_overflows_total",
     "Calls not retryable because their request exceeded the retry buffer, by route."},
    {"polymesh_gateway_transparent_retries_total",
     "Refused streams moved to another connection, by route."},
    {"polymesh_gateway_mirror_requests_total",
     "Copies of calls sent to the route's mirror cluster, by route."},
    {"polymesh_gateway_mirror_failures_total",
     "Shadow calls that failed (a status other than OK, a reset, no connection), by route."},
    {"polymesh_gateway_mirror_cancelled_total",
     "Shadow calls cancelled because they fell behind or their request was cut short, "
     "by route."},
    {"polymesh_gateway_unauthenticated_total",
     "Calls refused UNAUTHENTICATED (no credential, or one that failed), by route."},
    {"polymesh_gateway_permission_denied_total",
     "Calls refused PERMISSION_DENIED (a principal the route does not admit), by route."},
    {"polymesh_gateway_rate_limited_total",
     "Calls refused RESOURCE_EXHAUSTED by the route's rate limit, by route."},
}};

uint64_t Load(const std::atomic<uint64_t>& value) {
  return value.load(std::memory_order_relaxed);
}
int64_t Load(const std::atomic<int64_t>& value) { return value.load(std::memory_order_relaxed); }

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

ClientMetric Labelled(std::vector<ClientMetric::Label> labels) {
  ClientMetric metric;
  metric.label = std::move(labels);
  return metric;
}

// The sums over workers of one route's or cluster's counters.
struct Totals {
  std::array<uint64_t, kGrpcStatusCount> by_status{};
  std::array<uint64_t, kBuckets> buckets{};
  uint64_t count = 0;
  double sum_seconds = 0;
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
  int64_t active = 0;

  void Add(const CallCounters& c) {
    for (int i = 0; i < kGrpcStatusCount; ++i) by_status[i] += Load(c.by_status[i]);
    c.latency.AddTo(buckets, count, sum_seconds);
    request_bytes += Load(c.request_bytes);
    response_bytes += Load(c.response_bytes);
    active += Load(c.active);
  }
};

// Adds one labelled family member per status code seen (OK always).
void AddStatusCounts(MetricFamily& family, const std::string& label, const std::string& value,
                     const Totals& totals) {
  for (int code = 0; code < kGrpcStatusCount; ++code) {
    if (code != 0 && totals.by_status[code] == 0) continue;
    ClientMetric metric = Labelled(
        {{label, value}, {"grpc_code", std::string(GrpcStatusName(code))}});
    metric.counter.value = static_cast<double>(totals.by_status[code]);
    family.metric.push_back(std::move(metric));
  }
}

void AddHistogram(MetricFamily& family, const std::string& label, const std::string& value,
                  const Totals& totals) {
  ClientMetric metric = Labelled({{label, value}});
  metric.histogram.sample_count = totals.count;
  metric.histogram.sample_sum = totals.sum_seconds;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    cumulative += totals.buckets[i];
    ClientMetric::Bucket bucket;
    bucket.cumulative_count = cumulative;
    bucket.upper_bound = i < kLatencyBucketBounds.size()
                             ? kLatencyBucketBounds[i]
                             : std::numeric_limits<double>::infinity();
    metric.histogram.bucket.push_back(bucket);
  }
  family.metric.push_back(std::move(metric));
}

void AddValue(MetricFamily& family, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric metric = Labelled(std::move(labels));
  if (family.type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
}

}  // namespace

void LatencyHistogram::Observe(absl::Duration latency) {
  const double seconds = absl::ToDoubleSeconds(latency);
  const size_t bucket =
      std::lower_bound(kLatencyBucketBounds.begin(), kLatencyBucketBounds.end(), seconds) -
      kLatencyBucketBounds.begin();
  auto bump = [](std::atomic<uint64_t>& value, uint64_t delta) {
    value.store(value.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  };
  bump(buckets_[bucket], 1);
  bump(count_, 1);
  bump(sum_ns_, static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Nanoseconds(latency))));
}

void LatencyHistogram::AddTo(std::array<uint64_t, kBuckets>& buckets, uint64_t& count,
                             double& sum_seconds) const {
  for (size_t i = 0; i < kBuckets; ++i) buckets[i] += Load(buckets_[i]);
  count += Load(count_);
  sum_seconds += static_cast<double>(Load(sum_ns_)) / 1e9;
}

WorkerStats::WorkerStats(size_t routes, size_t clusters)
    : routes_(new CallCounters[routes + 1]),
      clusters_(new CallCounters[clusters]),
      route_policies_(new std::array<std::atomic<uint64_t>, kPolicyCounterCount>[routes]()) {}

void WorkerStats::CallRouted(size_t route, size_t cluster) {
  Bump(routes_[route].active, int64_t{1});
  Bump(clusters_[cluster].active, int64_t{1});
}

void WorkerStats::CallEnded(size_t route, size_t cluster, bool routed, int grpc_status,
                            absl::Duration duration, uint64_t request_bytes,
                            uint64_t response_bytes) {
  const int code = grpc_status >= 0 && grpc_status < kGrpcStatusCount
                       ? grpc_status
                       : static_cast<int>(GrpcStatus::kUnknown);
  Bump(active_calls_, int64_t{-1});
  auto record = [&](CallCounters& c) {
    Bump(c.by_status[code], uint64_t{1});
    c.latency.Observe(duration);
    Bump(c.request_bytes, request_bytes);
    Bump(c.response_bytes, response_bytes);
  };
  record(routes_[route]);
  if (routed) {
    Bump(routes_[route].active, int64_t{-1});
    Bump(clusters_[cluster].active, int64_t{-1});
    record(clusters_[cluster]);
  }
}

void WorkerStats::ConnectionOpened() {
  Bump(active_connections_, int64_t{1});
  Bump(connections_total_, uint64_t{1});
}

StatsStore::StatsStore(std::vector<std::string> routes, std::vector<std::string> clusters,
                       size_t workers)
    : routes_(std::move(routes)),
      clusters_(std::move(clusters)),
      cluster_events_(new ClusterEventCounters[clusters_.size()]) {
  for (size_t i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<WorkerStats>(routes_.size(), clusters_.size()));
  }
}

std::vector<int64_t> StatsStore::ActivePerCluster() const {
  std::vector<int64_t> active(clusters_.size());
  for (const auto& worker : workers_) {
    for (size_t i = 0; i < clusters_.size(); ++i) active[i] += Load(worker->clusters_[i].active);
  }
  return active;
}

std::vector<MetricFamily> StatsStore::Collect() const {
  MetricFamily requests = Family("polymesh_gateway_requests_total",
                                 "Calls handled, by route and gRPC status code (route "
                                 "\"none\": calls that matched no route).",
                                 MetricType::Counter);
  MetricFamily duration = Family("polymesh_gateway_request_duration_seconds",
                                 "Call duration seen by the gateway, by route.",
                                 MetricType::Histogram);
  MetricFamily request_bytes = Family("polymesh_gateway_request_bytes_total",
                                      "Request DATA bytes from clients, by route.",
                                      MetricType::Counter);
  MetricFamily response_bytes = Family("polymesh_gateway_response_bytes_total",
                                       "Response DATA bytes to clients, by route.",
                                       MetricType::Counter);
  MetricFamily route_active = Family("polymesh_gateway_route_active_requests",
                                     "Calls in progress, by route.", MetricType::Gauge);
  MetricFamily upstream_requests = Family(
      "polymesh_gateway_upstream_requests_total",
      "Calls sent to a cluster, by cluster and gRPC status code.", MetricType::Counter);
  MetricFamily upstream_duration = Family("polymesh_gateway_upstream_request_duration_seconds",
                                          "Duration of calls sent to a cluster.",
                                          MetricType::Histogram);
  MetricFamily upstream_active = Family("polymesh_gateway_upstream_active_requests",
                                        "Calls outstanding on a cluster.", MetricType::Gauge);

  for (size_t r = 0; r <= routes_.size(); ++r) {
    Totals totals;
    for (const auto& worker : workers_) totals.Add(worker->routes_[r]);
    const std::string& name = r < routes_.size() ? routes_[r] : std::string("none");
    if (r == routes_.size() && totals.count == 0) continue;  // no unrouted calls yet
    AddStatusCounts(requests, "route", name, totals);
    AddHistogram(duration, "route", name, totals);
    AddValue(request_bytes, {{"route", name}}, static_cast<double>(totals.request_bytes));
    AddValue(response_bytes, {{"route", name}}, static_cast<double>(totals.response_bytes));
    if (r < routes_.size()) AddValue(route_active, {{"route", name}}, static_cast<double>(totals.active));
  }
  for (size_t c = 0; c < clusters_.size(); ++c) {
    Totals totals;
    for (const auto& worker : workers_) totals.Add(worker->clusters_[c]);
    AddStatusCounts(upstream_requests, "cluster", clusters_[c], totals);
    AddHistogram(upstream_duration, "cluster", clusters_[c], totals);
    AddValue(upstream_active, {{"cluster", clusters_[c]}}, static_cast<double>(totals.active));
  }

  int64_t active_calls = 0, active_connections = 0;
  uint64_t connections_total = 0;
  for (const auto& worker : workers_) {
    active_calls += Load(worker->active_calls_);
    active_connections += Load(worker->active_connections_);
    connections_total += Load(worker->connections_total_);
  }
  MetricFamily streams = Family("polymesh_gateway_active_streams",
                                "Downstream streams (calls) in progress.", MetricType::Gauge);
  AddValue(streams, {}, static_cast<double>(active_calls));
  MetricFamily connections = Family("polymesh_gateway_downstream_connections",
                                    "Open client connections.", MetricType::Gauge);
  AddValue(connections, {}, static_cast<double>(active_connections));
  MetricFamily accepted = Family("polymesh_gateway_downstream_connections_total",
                                 "Client connections accepted.", MetricType::Counter);
  AddValue(accepted, {}, static_cast<double>(connections_total));
  MetricFamily workers = Family("polymesh_gateway_workers", "Worker threads.", MetricType::Gauge);
  AddValue(workers, {}, static_cast<double>(workers_.size()));

  MetricFamily upstream_connections =
      Family("polymesh_gateway_upstream_connections_total",
             "Upstream connections by cluster and result (opened, failed).",
             MetricType::Counter);
  MetricFamily ejections = Family("polymesh_gateway_upstream_ejections_total",
                                  "Endpoints ejected by outlier detection, by cluster.",
                                  MetricType::Counter);
  MetricFamily panics = Family(
      "polymesh_gateway_upstream_panic_picks_total",
      "Calls sent to any endpoint because none was healthy and not ejected, by cluster.",
      MetricType::Counter);
  MetricFamily health_checks =
      Family("polymesh_gateway_upstream_health_checks_total",
             "Active health checks by cluster and result (passed, failed).",
             MetricType::Counter);
  for (size_t c = 0; c < clusters_.size(); ++c) {
    const ClusterEventCounters& events = cluster_events_[c];
    const std::string& name = clusters_[c];
    AddValue(upstream_connections, {{"cluster", name}, {"result", "opened"}},
             static_cast<double>(Load(events.connections_opened)));
    AddValue(upstream_connections, {{"cluster", name}, {"result", "failed"}},
             static_cast<double>(Load(events.connections_failed)));
    AddValue(ejections, {{"cluster", name}}, static_cast<double>(Load(events.ejections)));
    AddValue(panics, {{"cluster", name}}, static_cast<double>(Load(events.panic_picks)));
    AddValue(health_checks, {{"cluster", name}, {"result", "passed"}},
             static_cast<double>(Load(events.health_checks_passed)));
    AddValue(health_checks, {{"cluster", name}, {"result", "failed"}},
             static_cast<double>(Load(events.health_checks_failed)));
  }

  std::vector<MetricFamily> out;
  for (MetricFamily* family :
       {&requests, &duration, &request_bytes, &response_bytes, &route_active,
        &upstream_requests, &upstream_duration, &upstream_active, &upstream_connections,
        &ejections, &panics, &health_checks, &streams, &connections, &accepted,
        &workers}) {
    out.push_back(std::move(*family));
  }
  for (size_t p = 0; p < kPolicyCounterCount; ++p) {
    MetricFamily family =
        Family(kPolicyCounters[p].name, kPolicyCounters[p].help, MetricType::Counter);
    for (size_t r = 0; r < routes_.size(); ++r) {
      uint64_t total = 0;
      for (const auto& worker : workers_) total += Load(worker->route_policies_[r][p]);
      AddValue(family, {{"route", routes_[r]}}, static_cast<double>(total));
    }
    out.push_back(std::move(family));
  }
  return out;
}

ProcessCollector::ProcessCollector() {
  // Field 22 of /proc/self/stat: start time in clock ticks after boot.
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  std::ifstream uptime_file("/proc/uptime");
  double uptime = 0;
  uptime_file >> uptime;
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(paren + 2), ' ');
  // After "pid (comm) ", field 3 (state) is index 0; field 22 is index 19.
  double start_ticks = 0;
  if (fields.size() > 19 && absl::SimpleAtod(fields[19], &start_ticks)) {
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double boot = absl::ToUnixSeconds(absl::Now()) - uptime;
    start_time_seconds_ = boot + start_ticks / ticks;
  }
}

std::vector<MetricFamily> ProcessCollector::Collect() const {
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  double cpu_seconds = 0, virtual_bytes = 0, resident_bytes = 0, threads = 0;
  const size_t paren = stat.rfind(')');
  if (paren != std::string::npos && paren + 2 < stat.size()) {
    std::vector<std::string> fields = absl::StrSplit(stat.substr(paren + 2), ' ');
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    double utime = 0, stime = 0, vsize = 0, rss_pages = 0;
    // utime 14, stime 15, num_threads 20, vsize 23, rss 24 (1-based).
    if (fields.size() > 21 && absl::SimpleAtod(fields[11], &utime) &&
        absl::SimpleAtod(fields[12], &stime) && absl::SimpleAtod(fields[17], &threads) &&
        absl::SimpleAtod(fields[20], &vsize) && absl::SimpleAtod(fields[21], &rss_pages)) {
      cpu_seconds = (utime + stime) / ticks;
      virtual_bytes = vsize;
      resident_bytes = rss_pages * static_cast<double>(sysconf(_SC_PAGESIZE));
    }
  }
  std::vector<MetricFamily> out;
  auto add = [&out](std::string name, std::string help, MetricType type, double value) {
    MetricFamily family = Family(std::move(name), std::move(help), type);
    AddValue(family, {}, value);
    out.push_back(std::move(family));
  };
  add("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
      MetricType::Counter, cpu_seconds);
  add("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
      resident_bytes);
  add("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
      virtual_bytes);
  add("process_threads", "Number of OS threads in the process.", MetricType::Gauge, threads);
  add("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
      MetricType::Gauge, start_time_seconds_);
  return out;
}

}  // namespace polymesh::gateway
