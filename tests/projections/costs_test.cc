// The costs fold: time buckets, windows read from them, latency percentiles,
// budgets and the indexes.

#include "projections/costs.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "engine/engine.h"
#include "engine/payload_codec.h"
#include "log/event_types.h"
#include "projections/view_store.h"

using namespace logbook;
using nlohmann::json;

namespace {

constexpr int64_t kH = kMicrosPerHour;
constexpr int64_t kD = kMicrosPerDay;

int64_t At(const char* rfc3339) {
  int64_t us = 0;
  REQUIRE(ParseTimestamp(rfc3339, &us));
  return us;
}

struct Folder {
  CostsProjection p;
  MemViewTxn txn;
  uint64_t lsn = 0;

  void Apply(const std::string& type, const json& payload, const std::string& tenant,
             Role role = Role::kOperator, const std::string& stream = "") {
    Event e;
    e.lsn = ++lsn;
    e.stream = stream.empty() ? "tenant/" + tenant + "/costs" : stream;
    e.stream_version = lsn;
    e.tenant = tenant;
    REQUIRE(ParseEventType(type, &e.type));
    e.actor = {"k1", role};
    e.recorded_at_us = 1;
    e.payload = PayloadCodec::Encode(e.type, payload.dump()).value();
    REQUIRE(p.Apply(e, txn).ok());
  }
  void Usage(const std::string& tenant, int64_t at, int64_t usd, uint32_t latency = 100,
             bool success = true, const std::string& model = "gpt-4o") {
    Apply("UsageRecorded",
          {{"provider", "openai"},
           {"model", model},
           {"tokens_in", 10},
           {"tokens_out", 5},
           {"usd_micros", usd},
           {"latency_ms", latency},
           {"success", success},
           {"occurred_at_us", at}},
          tenant);
  }
  UsageStats Total(const std::string& tenant, int64_t from, int64_t to) {
    UsageStats t;
    const std::vector<ModelUsage> usage = CostsProjection::Usage(txn, tenant, from, to).value();
    for (const auto& m : usage) t.Add(m.stats);
    return t;
  }
};

}  // namespace

TEST_SUITE("projections/costs") {
  TEST_CASE("CalendarBuckets") {
    CHECK(HourStart(At("2026-03-01T10:59:59.999999Z")) == At("2026-03-01T10:00:00Z"));
    CHECK(DayStart(At("2026-03-01T10:59:59Z")) == At("2026-03-01T00:00:00Z"));
    CHECK(QuarterStart(At("2026-03-01T10:44:59Z")) == At("2026-03-01T10:30:00Z"));
    CHECK(MonthStart(At("2026-03-31T23:59:59Z")) == At("2026-03-01T00:00:00Z"));
    CHECK(MonthStart(At("2024-02-29T12:00:00Z")) == At("2024-02-01T00:00:00Z"));
    CHECK(NextMonthStart(At("2024-02-29T12:00:00Z")) == At("2024-03-01T00:00:00Z"));
    CHECK(NextMonthStart(At("2025-12-15T00:00:00Z")) == At("2026-01-01T00:00:00Z"));
    CHECK(MonthStart(0) == 0);
  }

  TEST_CASE("LatencyBucketsBoundTheirValues") {
    for (uint32_t ms : {0u, 1u, 15u, 16u, 17u, 100u, 1000u, 4095u, 4096u, 123456u, UINT32_MAX}) {
      const size_t b = LatencyBucket(ms);
      REQUIRE(b < kLatencyBuckets);
      CHECK(LatencyBucketUpper(b) >= ms);
      // Upper bound within 12.5% of the value.
      CHECK(static_cast<double>(LatencyBucketUpper(b)) <= static_cast<double>(ms) * 1.125 + 1);
      if (b > 0) CHECK(LatencyBucketUpper(b - 1) < ms);
    }
  }

  TEST_CASE("P95FromTheHistogram") {
    UsageStats s;
    // 100 calls: 1..100 ms. p95 is the 95th value, 95 ms, read from its bucket.
    for (uint32_t ms = 1; ms <= 100; ++ms) {
      UsageStats one;
      one.events = 1;
      one.latency[LatencyBucket(ms)] = 1;
      one.latency_max_ms = ms;
      s.Add(one);
    }
    const uint32_t p95 = s.LatencyPercentile(0.95);
    CHECK(p95 >= 95);
    CHECK(p95 <= 100);  // never above the largest latency seen
    CHECK(s.LatencyPercentile(0.01) == 1);
    UsageStats back;
    REQUIRE(UsageStats::Decode(s.Encode(), &back));
    CHECK(back.LatencyPercentile(0.95) == p95);
    CHECK_FALSE(UsageStats::Decode(s.Encode().substr(0, 5), &back));
  }

  TEST_CASE("WindowsAreReadFromHourAndDayBuckets") {
    Folder f;
    const int64_t day = At("2026-03-10T00:00:00Z");
    // One usage in each hour of 3 days, 1 dollar each.
    for (int64_t h = 0; h < 72; ++h) f.Usage("acme", day + h * kH + 1, 1000000);
    // A range of whole days, one with partial days at both ends, and hours only.
    CHECK(f.Total("acme", day, day + 3 * kD).usd_micros == 72000000);
    CHECK(f.Total("acme", day + 5 * kH, day + 50 * kH).events == 45);
    CHECK(f.Total("acme", day + 5 * kH, day + 6 * kH).events == 1);
    // Window boundaries: [from, to) on hour starts.
    CHECK(f.Total("acme", day + 24 * kH, day + 48 * kH).events == 24);
    CHECK(f.Total("acme", day + 24 * kH + kH, day + 48 * kH).events == 23);
    CHECK(f.Total("acme", day - 10 * kD, day).events == 0);
    // The all-tenant figures hold every tenant's.
    f.Usage("globex", day + 1, 500000);
    CHECK(f.Total(std::string(kAllTenants), day, day + kD).usd_micros == 24500000);
    CHECK(f.Total("globex", day, day + kD).usd_micros == 500000);
    // Spend per day and month.
    CHECK(CostsProjection::DaySpend(f.txn, "acme", day + kD).value() == 24000000);
    CHECK(CostsProjection::MonthSpend(f.txn, "acme", At("2026-03-01T00:00:00Z")).value() ==
          72000000);
    CHECK(CostsProjection::MonthSpend(f.txn, kAllTenants, At("2026-03-01T00:00:00Z")).value() ==
          72500000);
  }

  TEST_CASE("QuartersCountSuccesses") {
    Folder f;
    const int64_t t = At("2026-03-10T10:00:00Z");
    f.Usage("acme", t + 1, 10, 100, true);
    f.Usage("acme", t + 14 * kMicrosPerMinute, 10, 100, false);
    f.Usage("acme", t + 15 * kMicrosPerMinute, 10, 100, true);
    auto q = CostsProjection::Quarters(f.txn, "acme", t, t + kH).value();
    REQUIRE(q.size() == 2);
    CHECK(q[0].start_us == t);
    CHECK(q[0].events == 2);
    CHECK(q[0].successes == 1);
    CHECK(q[1].start_us == t + kMicrosPerQuarter);
    CHECK(q[1].events == 1);
  }

  TEST_CASE("BudgetsCountOnlyFromAdminsAndGlobalOnlyFromTheGlobalStream") {
    Folder f;
    json b = {{"scope", "tenant"},
              {"daily_usd_micros", 5000000},
              {"monthly_usd_micros", 0},
              {"soft_threshold", 0.8},
              {"hard_threshold", 1.0}};
    f.Apply("BudgetSet", b, "acme", Role::kOperator);
    CHECK_FALSE(CostsProjection::Budget(f.txn, "acme").value().has_value());
    f.Apply("BudgetSet", b, "acme", Role::kAdmin);
    auto got = CostsProjection::Budget(f.txn, "acme").value();
    REQUIRE(got.has_value());
    CHECK(got->daily_usd_micros == 5000000);
    // "global" from a tenant's stream is ignored; from costs/global it counts.
    json g = b;
    g["scope"] = "global";
    f.Apply("BudgetSet", g, "acme", Role::kAdmin);
    CHECK_FALSE(CostsProjection::Budget(f.txn, kAllTenants).value().has_value());
    f.Apply("BudgetSet", g, "", Role::kAdmin, "costs/global");
    CHECK(CostsProjection::Budget(f.txn, kAllTenants).value().has_value());
    CHECK(CostsProjection::Budgets(f.txn).value().size() == 2);
    // Governance events are indexed newest first.
    auto gov = CostsProjection::RecentGovernance(f.txn, "acme", 10).value();
    CHECK(gov.size() == 3);
  }

  TEST_CASE("UsageIndexIsNewestFirst") {
    Folder f;
    const int64_t t = At("2026-03-10T10:00:00Z");
    f.Usage("acme", t + 2, 1);
    f.Usage("acme", t + 1, 1);
    f.Usage("acme", t + 3, 1);
    auto lsns = CostsProjection::RecentUsage(f.txn, "acme", 10).value();
    CHECK(lsns == std::vector<uint64_t>{3, 1, 2});
    CHECK(CostsProjection::RecentUsage(f.txn, "acme", 2).value().size() == 2);
    CHECK(CostsProjection::RecentUsage(f.txn, "globex", 10).value().empty());
  }

  TEST_CASE("ApplyIsDeterministic") {
    Folder a, b;
    std::mt19937_64 rng(7);
    std::vector<std::tuple<std::string, int64_t, int64_t, uint32_t, bool>> usage;
    for (int i = 0; i < 300; ++i) {
      usage.emplace_back("t" + std::to_string(rng() % 3), static_cast<int64_t>(rng() % (10 * kD)),
                         static_cast<int64_t>(rng() % 100000), static_cast<uint32_t>(rng() % 5000),
                         rng() % 10 != 0);
    }
    for (Folder* f : {&a, &b}) {
      for (const auto& [t, at, usd, lat, ok] : usage) f->Usage(t, at, usd, lat, ok);
    }
    CHECK(a.p.Dump(a.txn).value() == b.p.Dump(b.txn).value());
    for (const char* t : {"t0", "t1", "t2", "*"}) {
      const UsageStats x = a.Total(t, 0, 10 * kD), y = b.Total(t, 0, 10 * kD);
      CHECK(x.Encode() == y.Encode());
    }
  }
}
