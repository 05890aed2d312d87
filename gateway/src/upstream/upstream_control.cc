#include "upstream/upstream_control.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/host_port.h"
#include "common/log.h"

namespace polymesh::gateway {

// What the control thread does for one cluster.
struct UpstreamControl::ClusterControl {
  ClusterControl(UpstreamControl& owner, EventLoop& loop, UpstreamCluster& upstream)
      : cluster(upstream), refresh_timer(loop, [&owner, this] { owner.Refresh(*this); }) {
    if (upstream.spec().health_check.has_value()) {
      checker = std::make_unique<HealthChecker>(loop, upstream);
    }
  }

  UpstreamCluster& cluster;
  Timer refresh_timer;
  std::unique_ptr<HealthChecker> checker;
};

absl::StatusOr<std::unique_ptr<UpstreamControl>> UpstreamControl::Start(
    UpstreamClusters& clusters, HostResolver resolver) {
  absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create();
  if (!loop.ok()) return loop.status();
  std::unique_ptr<UpstreamControl> control(
      new UpstreamControl(clusters, std::move(resolver), std::move(*loop)));
  control->thread_ = std::thread([raw = control.get()] { raw->Run(); });
  // The resolver thread only where some endpoint is a host name.
  const bool has_names = std::any_of(clusters.begin(), clusters.end(), [](const auto& cluster) {
    const auto& configured = cluster->spec().configured;
    return std::any_of(configured.begin(), configured.end(),
                       [](const ConfiguredEndpoint& e) { return e.refreshed; });
  });
  if (has_names) {
    control->resolver_thread_ = std::thread([raw = control.get()] { raw->Resolve(); });
  }
  return control;
}

UpstreamControl::UpstreamControl(UpstreamClusters& clusters, HostResolver resolver,
                                 std::unique_ptr<EventLoop> loop)
    : clusters_(clusters), resolver_(std::move(resolver)), loop_(std::move(loop)) {}

UpstreamControl::~UpstreamControl() { Stop(); }

void UpstreamControl::Run() {
  for (auto& cluster : clusters_) {
    controls_.push_back(std::make_unique<ClusterControl>(*this, *loop_, *cluster));
    ClusterControl* raw = controls_.back().get();
    const ClusterSpec& spec = cluster->spec();
    const bool has_names = std::any_of(spec.configured.begin(), spec.configured.end(),
                                       [](const ConfiguredEndpoint& e) { return e.refreshed; });
    if (has_names) raw->refresh_timer.Enable(spec.dns_refresh_interval);
    if (raw->checker != nullptr) raw->checker->Sync();
  }
  loop_->Run();
  for (auto& control : controls_) {
    control->refresh_timer.Disable();
    if (control->checker != nullptr) control->checker->Cancel();
  }
}

void UpstreamControl::Refresh(ClusterControl& control) {
  absl::MutexLock lock(&mutex_);
  lookups_.push_back(&control);
}

void UpstreamControl::Resolve() {
  while (true) {
    ClusterControl* control = nullptr;
    {
      absl::MutexLock lock(&mutex_);
      const auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return stopping_ || !lookups_.empty();
      };
      mutex_.Await(absl::Condition(&ready));
      if (stopping_) return;
      control = lookups_.front();
      lookups_.pop_front();
    }
    // Only this thread computes a cluster's next set, and only the control
    // thread publishes it (one lookup per cluster at a time: the next is
    // armed when this one is applied).
    std::vector<std::string> errors;
    std::shared_ptr<const EndpointSet> next =
        RefreshEndpoints(control->cluster, resolver_, &errors);
    loop_->Post([this, control, next = std::move(next), errors = std::move(errors)] {
      Apply(*control, next, errors);
    });
  }
}

void UpstreamControl::Apply(ClusterControl& control, std::shared_ptr<const EndpointSet> next,
                            const std::vector<std::string>& errors) {
  for (const std::string& error : errors) {
    Log(LogLevel::kWarning, "DNS refresh failed", {{"error", error}});
  }
  std::shared_ptr<const EndpointSet> before = control.cluster.endpoints();
  if (next != nullptr) {
    std::vector<std::string> was, now;
    for (const auto& state : before->endpoints) {
      was.push_back(JoinHostPort(state->endpoint().address, state->endpoint().port));
    }
    for (const auto& state : next->endpoints) {
      now.push_back(JoinHostPort(state->endpoint().address, state->endpoint().port));
    }
    control.cluster.Publish(std::move(next));
    Log(LogLevel::kInfo, "cluster endpoints changed",
        {{"cluster", control.cluster.spec().name},
         {"before", absl::StrJoin(was, " ")},
         {"after", absl::StrJoin(now, " ")}});
    if (control.checker != nullptr) control.checker->Sync();
  }
  control.refresh_timer.Enable(control.cluster.spec().dns_refresh_interval);
}

void UpstreamControl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  loop_->Exit();
  if (thread_.joinable()) thread_.join();
  // Its results, posted to a loop that no longer runs, are dropped.
  if (resolver_thread_.joinable()) resolver_thread_.join();
  for (auto& control : controls_) {
    if (control->checker != nullptr) control->checker->WaitForChecks();
  }
  controls_.clear();
  loop_->RunPendingWork();
}

}  // namespace polymesh::gateway
