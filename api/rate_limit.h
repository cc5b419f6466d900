#pragma once
// RateLimiter: token buckets keyed by a string (an API key id, a client IP).
//
// Each key has a bucket holding up to `burst` tokens that refills at
// `rate_per_sec` tokens per second; a request takes one token. A new key's
// bucket starts full. Time is passed in by the caller (steady_clock), so tests
// control it exactly.
//
// Memory is bounded: the buckets live in kShards shards, each holding at most
// max(1, max_keys / kShards) buckets. A new key arriving at a full shard makes
// it forget the buckets that have refilled completely (an idle bucket behaves
// exactly like a new one, so forgetting it changes nothing). If fewer than
// 1/8 of the shard was idle (a flood of distinct active keys), it also
// forgets the least recently used buckets until it is 7/8 full, so each O(n)
// sweep is paid for by at least n/8 inserts. A forgotten active key starts
// again with a full bucket: under such a flood limiting degrades for the
// quietest keys, never for the busy ones.
//
// Thread-safety: all public methods may be called from any thread; requests
// whose keys fall into different shards do not contend.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace logbook::api {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    double rate_per_sec = 0;   // tokens added per second; 0 disables limiting
    double burst = 0;          // bucket capacity; values below 1 are treated as 1
    size_t max_keys = 100000;  // bound on remembered keys (see above)
  };

  static constexpr size_t kShards = 16;

  explicit RateLimiter(Options o);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes one token for `key` at `now`. nullopt: allowed. Otherwise the whole
  // seconds (>= 1) until a token is available, for Retry-After. Calls for one
  // key with a `now` earlier than a previous call's are treated as that
  // previous time (time never runs backwards for a bucket).
  std::optional<int> Take(std::string_view key, Clock::time_point now);

  // False when rate_per_sec <= 0: Take allows everything and stores nothing.
  bool enabled() const { return rate_ > 0; }

  // Buckets currently remembered, over all shards (for tests and metrics).
  size_t key_count() const;

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point last;  // time `tokens` was computed for
    uint64_t last_use = 0;   // shard-local use counter, for LRU eviction
  };
  // Transparent hash so lookups by string_view do not allocate.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct alignas(64) Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket, KeyHash, std::equal_to<>> buckets;  // guarded by mu
    uint64_t uses = 0;                                                          // guarded by mu
  };

  // Brings b's tokens up to date at `now` (never above burst_).
  void Refill(Bucket& b, Clock::time_point now) const;
  // Makes room for one more bucket in `s` (s.mu held).
  void Evict(Shard& s, Clock::time_point now);

  const double rate_;
  const double burst_;
  const size_t shard_capacity_;
  std::array<Shard, kShards> shards_;
};

}  // namespace logbook::api
