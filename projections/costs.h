#pragma once
// View "costs": LLM usage and spend in time buckets, budgets, and indexes of
// usage and governance events — everything the cost summary, alerts and the
// budget check read, so that none of them scans the log.
//
// Buckets are keyed by the usage's time: occurred_at_us, or recorded_at_us
// when the caller sent none. Bucket starts are UTC: hour, day, quarter-hour
// (15 min) and calendar month. Every usage is counted twice: under its tenant
// (the envelope's) and under kAllTenants, so global figures cost the same as
// a tenant's. Windows are evaluated at query time by the caller, from these
// buckets; the fold never reads a clock.
//
// Keys (inside the view); T = tenant or kAllTenants, ts = u64 BE, inv(ts) = UINT64_MAX - ts:
//   "h" T 0x00 hour provider 0x00 model   -> UsageStats (per hour, provider, model)
//   "d" T 0x00 day provider 0x00 model    -> UsageStats (per day, provider, model)
//   "q" T 0x00 quarter                    -> QuarterCount (per 15 minutes)
//   "D" T 0x00 day                        -> spend (zigzag varint, micro-dollars)
//   "M" T 0x00 month                      -> spend
//   "b" T                                 -> BudgetRecord JSON (kAllTenants: the global budget)
//   "e" T 0x00 inv(time) lsn              -> ""  UsageRecorded events, newest first
//   "g" T 0x00 inv(recorded_at) lsn       -> ""  BudgetSet/Throttled/Denied, CostAnomaly
// Values are varints (LevelDB style); UsageStats carries a sparse latency
// histogram (LatencyBucket) from which percentiles are read.
//
// A BudgetSet counts only when its actor is an admin, and a "global" one only
// on a stream without tenant (costs/global): a tenant cannot raise its own or
// the global budget through the generic append route.

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "projections/projection.h"

namespace logbook {

constexpr std::string_view kAllTenants = "*";  // never a tenant name (log/record.h)

constexpr int64_t kMicrosPerMinute = 60LL * 1000000;
constexpr int64_t kMicrosPerQuarter = 15 * kMicrosPerMinute;
constexpr int64_t kMicrosPerHour = 60 * kMicrosPerMinute;
constexpr int64_t kMicrosPerDay = 24 * kMicrosPerHour;

// UTC bucket starts (times before the epoch count as the epoch).
int64_t QuarterStart(int64_t us);
int64_t HourStart(int64_t us);
int64_t DayStart(int64_t us);
int64_t MonthStart(int64_t us);
int64_t NextMonthStart(int64_t us);

// Latency histogram: exact below 16 ms, then 8 buckets per power of two, so a
// percentile read from it is at most 12.5% above the true value.
constexpr size_t kLatencyBuckets = 240;
size_t LatencyBucket(uint32_t ms);
uint32_t LatencyBucketUpper(size_t bucket);  // the largest value in the bucket

struct UsageStats {
  uint64_t events = 0;
  uint64_t successes = 0;
  uint64_t tokens_in = 0;
  uint64_t tokens_out = 0;
  int64_t usd_micros = 0;
  uint64_t latency_sum_ms = 0;
  uint32_t latency_max_ms = 0;
  std::array<uint64_t, kLatencyBuckets> latency{};

  void Add(const UsageStats& o);
  // The smallest bucket bound with at least q of the events at or below it
  // (q in (0, 1]), but never above the largest latency seen; 0 without events.
  uint32_t LatencyPercentile(double q) const;
  std::string Encode() const;
  static bool Decode(std::string_view v, UsageStats* out);
};

struct ModelUsage {
  std::string provider;
  std::string model;
  UsageStats stats;
};

struct QuarterCount {
  int64_t start_us = 0;
  uint64_t events = 0;
  uint64_t successes = 0;
  int64_t usd_micros = 0;
};

struct BudgetRecord {
  int64_t daily_usd_micros = 0;    // 0 = no daily limit
  int64_t monthly_usd_micros = 0;  // 0 = no monthly limit
  double soft_threshold = 0.8;
  double hard_threshold = 1.0;
  std::string by;
  int64_t set_at_us = 0;
  uint64_t lsn = 0;
};

class CostsProjection : public Projection {
 public:
  static constexpr std::string_view kName = "costs";
  std::string_view name() const override { return kName; }
  uint32_t version() const override { return 1; }
  Status Apply(const Event& e, ViewTxn& txn) override;
  Result<nlohmann::json> Dump(ViewReader& reader) override;

  // Queries. `tenant` may be kAllTenants.
  // Usage per provider/model in [from_us, to_us); both hour-aligned. Reads
  // day buckets for the whole days inside the range and hour buckets for
  // the rest. Sorted by provider, then model.
  static Result<std::vector<ModelUsage>> Usage(ViewReader& r, std::string_view tenant,
                                               int64_t from_us, int64_t to_us);
  // Quarter-hours with usage in [from_us, to_us), oldest first.
  static Result<std::vector<QuarterCount>> Quarters(ViewReader& r, std::string_view tenant,
                                                    int64_t from_us, int64_t to_us);
  static Result<int64_t> DaySpend(ViewReader& r, std::string_view tenant, int64_t day_start);
  static Result<int64_t> MonthSpend(ViewReader& r, std::string_view tenant, int64_t month_start);
  static Result<std::optional<BudgetRecord>> Budget(ViewReader& r, std::string_view tenant);
  // Every budget set: tenant (or kAllTenants) -> budget.
  static Result<std::map<std::string, BudgetRecord>> Budgets(ViewReader& r);
  // LSNs of the newest UsageRecorded events of `tenant` (a tenant, not kAllTenants).
  static Result<std::vector<uint64_t>> RecentUsage(ViewReader& r, std::string_view tenant,
                                                   size_t limit);
  // LSNs of the newest governance events (kAllTenants: those on costs/global).
  static Result<std::vector<uint64_t>> RecentGovernance(ViewReader& r, std::string_view tenant,
                                                        size_t limit);
};

}  // namespace logbook
