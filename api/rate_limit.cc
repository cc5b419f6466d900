#include "api/rate_limit.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <iterator>
#include <vector>

namespace logbook::api {

namespace {

// Token counts within this of a whole token count as that token. Refills
// add elapsed * rate in double seconds, so a bucket that should hold exactly
// one token may hold 0.9999999999999999; the tolerance keeps it from being
// refused (and from reporting a Retry-After for a token that is already due).
constexpr double kEpsilon = 1e-9;

static_assert(RateLimiter::kShards == 16, "ShardOf takes the top 4 bits");

size_t ShardOf(size_t hash) {
  // Fibonacci hashing: the top bits of the product mix every bit of the hash,
  // so the shard does not correlate with the map's bucket (hash % prime).
  return static_cast<size_t>((static_cast<uint64_t>(hash) * 0x9E3779B97F4A7C15ull) >> 60);
}

}  // namespace

RateLimiter::RateLimiter(Options o)
    : rate_(o.rate_per_sec > 0 ? o.rate_per_sec : 0),
      burst_(std::max(1.0, o.burst)),
      shard_capacity_(std::max<size_t>(1, o.max_keys / kShards)) {}

void RateLimiter::Refill(Bucket& b, Clock::time_point now) const {
  if (now <= b.last) return;
  const double elapsed = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
  b.last = now;
}

void RateLimiter::Evict(Shard& s, Clock::time_point now) {
  // Idle buckets first: they are indistinguishable from new ones.
  for (auto it = s.buckets.begin(); it != s.buckets.end();) {
    Refill(it->second, now);
    it = it->second.tokens >= burst_ - kEpsilon ? s.buckets.erase(it) : std::next(it);
  }
  const size_t target = std::min(shard_capacity_ - 1, shard_capacity_ - shard_capacity_ / 8);
  if (s.buckets.size() <= target) return;
  // Then the least recently used. last_use values are distinct within a
  // shard, so exactly `excess` buckets have last_use <= cutoff.
  const size_t excess = s.buckets.size() - target;
  std::vector<uint64_t> uses;
  uses.reserve(s.buckets.size());
  for (const auto& [key, b] : s.buckets) uses.push_back(b.last_use);
  std::nth_element(uses.begin(), uses.begin() + (excess - 1), uses.end());
  const uint64_t cutoff = uses[excess - 1];
  std::erase_if(s.buckets, [&](const auto& kv) { return kv.second.last_use <= cutoff; });
}

std::optional<int> RateLimiter::Take(std::string_view key, Clock::time_point now) {
  if (!enabled()) return std::nullopt;
  Shard& s = shards_[ShardOf(KeyHash{}(key))];
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.buckets.find(key);
  if (it == s.buckets.end()) {
    if (s.buckets.size() >= shard_capacity_) Evict(s, now);
    it = s.buckets.emplace(std::string(key), Bucket{burst_, now, 0}).first;
  } else {
    Refill(it->second, now);
  }
  Bucket& b = it->second;
  b.last_use = ++s.uses;
  if (b.tokens >= 1 - kEpsilon) {
    b.tokens = std::max(0.0, b.tokens - 1);
    return std::nullopt;
  }
  // Refused; the bucket is unchanged. Round up: Retry-After is whole seconds
  // and a client retrying after it must find a token.
  const double wait = std::ceil((1 - b.tokens) / rate_);
  if (!(wait < INT_MAX)) return INT_MAX;
  return std::max(1, static_cast<int>(wait));
}

size_t RateLimiter::key_count() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace logbook::api
