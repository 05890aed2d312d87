#include "auth/rate_limiter.h"

#include <algorithm>
#include <string>

#include "absl/hash/hash.h"

namespace polymesh::gateway {

RateLimiter::RateLimiter(double requests_per_second, uint32_t burst, size_t max_keys)
    : rate_(requests_per_second),
      burst_(std::max<uint32_t>(burst, 1)),
      max_per_shard_(std::max<size_t>(max_keys / kShards, 1)) {}

absl::Duration RateLimiter::Acquire(absl::string_view key, absl::Time now) {
  Shard& shard = shards_[absl::HashOf(key) % kShards];
  absl::MutexLock lock(&shard.mutex);
  auto it = shard.buckets.find(key);
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= max_per_shard_) Evict(shard, now);
    // A new bucket starts full, less the token this call takes.
    shard.buckets.emplace(std::string(key), Bucket{static_cast<double>(burst_) - 1, now});
    return absl::ZeroDuration();
  }
  Bucket& bucket = it->second;
  if (now > bucket.updated) {
    bucket.tokens = std::min<double>(
        burst_, bucket.tokens + absl::ToDoubleSeconds(now - bucket.updated) * rate_);
    bucket.updated = now;
  }
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return absl::ZeroDuration();
  }
  // Rounded up to the millisecond, so that a retry after it finds a token.
  return absl::Ceil(absl::Seconds((1 - bucket.tokens) / rate_), absl::Milliseconds(1));
}

void RateLimiter::Evict(Shard& shard, absl::Time now) {
  const size_t before = shard.buckets.size();
  absl::erase_if(shard.buckets, [&](const auto& entry) {
    const Bucket& bucket = entry.second;
    return bucket.tokens + absl::ToDoubleSeconds(now - bucket.updated) * rate_ >= burst_;
  });
  if (shard.buckets.size() == before) shard.buckets.clear();
}

size_t RateLimiter::bucket_count() const {
  size_t count = 0;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mutex);
    count += shard.buckets.size();
  }
  return count;
}

}  // namespace polymesh::gateway
