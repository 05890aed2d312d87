#include "upstream/load_balancer.h"

namespace polymesh::gateway {

LoadBalancer::LoadBalancer(LoadBalancerPolicy policy, uint64_t seed)
    // Any non-zero state works for xorshift; mix the seed so that nearby
    // seeds (worker indices) give unrelated sequences.
    : policy_(policy), random_((seed + 1) * 0x9E3779B97F4A7C15ull) {}

uint64_t LoadBalancer::Next() {
  // xorshift64*: fast, good enough to pick among endpoints.
  random_ ^= random_ >> 12;
  random_ ^= random_ << 25;
  random_ ^= random_ >> 27;
  return random_ * 0x2545F4914F6CDD1Dull;
}

uint32_t LoadBalancer::Choose(absl::Span<const uint32_t> candidates,
                              absl::FunctionRef<int64_t(uint32_t)> outstanding) {
  const size_t count = candidates.size();
  if (count == 1) return candidates[0];
  if (policy_ == LoadBalancerPolicy::kRoundRobin) {
    return candidates[next_++ % count];
  }
  // Two distinct candidates at random; the one with fewer outstanding calls
  // wins, the first drawn on a tie.
  const uint64_t draw = Next();
  const size_t first = (draw >> 32) % count;
  size_t second = (draw & 0xffffffffu) % (count - 1);
  if (second >= first) ++second;
  const uint32_t a = candidates[first];
  const uint32_t b = candidates[second];
  return outstanding(b) < outstanding(a) ? b : a;
}

}  // namespace polymesh::gateway
