#include "proxy/call_policies.h"

#include <algorithm>
#include <utility>

#include "absl/random/distributions.h"
#include "proxy/mirror.h"

namespace polymesh::gateway {

CallPolicies::CallPolicies(EventLoop& loop, size_t routes, size_t clusters)
    : loop_(loop), loads_(clusters), mirror_positions_(routes) {}

CallPolicies::~CallPolicies() = default;

bool CallPolicies::TakeRetry(size_t cluster, const RetrySpec& spec) {
  ClusterLoad& load = loads_[cluster];
  const int64_t allowed =
      std::max<int64_t>(spec.min_retry_concurrency, load.calls * spec.budget_percent / 100);
  if (load.retries >= allowed) return false;
  ++load.retries;
  return true;
}

absl::Duration CallPolicies::Backoff(const RetrySpec& spec, uint32_t retry) {
  absl::Duration ceiling = spec.base_backoff;
  for (uint32_t i = 1; i < retry && ceiling < spec.max_backoff; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, spec.max_backoff);
  const int64_t nanos = absl::ToInt64Nanoseconds(ceiling);
  if (nanos <= 0) return absl::ZeroDuration();
  return absl::Nanoseconds(absl::Uniform(absl::IntervalClosedClosed, random_, int64_t{0}, nanos));
}

bool CallPolicies::MirrorNext(size_t route, uint32_t percent) {
  const uint64_t n = mirror_positions_[route]++;
  // Call n is copied when the running count of copies, n * percent / 100
  // rounded down, goes up: `percent` of every 100, spread evenly.
  return (n + 1) * percent / 100 > n * percent / 100;
}

ShadowCall* CallPolicies::Adopt(std::unique_ptr<ShadowCall> shadow) {
  ShadowCall* raw = shadow.get();
  shadows_.emplace(raw, std::move(shadow));
  return raw;
}

void CallPolicies::Release(ShadowCall* shadow) {
  auto it = shadows_.find(shadow);
  if (it == shadows_.end()) return;
  loop_.DeferDelete(std::move(it->second));
  shadows_.erase(it);
}

void CallPolicies::CancelShadows() {
  std::vector<ShadowCall*> running;
  running.reserve(shadows_.size());
  for (const auto& [raw, shadow] : shadows_) running.push_back(raw);
  for (ShadowCall* shadow : running) shadow->Cancel("the gateway is stopping");
}

}  // namespace polymesh::gateway
