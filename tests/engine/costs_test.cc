// Cost commands and queries on a real engine with a fake clock: money
// arithmetic, pricing, budget transitions, windows, success-rate and anomaly
// alerts.

#include <doctest/doctest.h>

#include <atomic>
#include <cmath>

#include "engine/engine.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;

namespace {

constexpr int64_t kH = kMicrosPerHour;
constexpr int64_t kD = kMicrosPerDay;
const Actor kOp{"op-key", Role::kOperator};
const Actor kAdmin{"admin-key", Role::kAdmin};

int64_t At(const char* rfc3339) {
  int64_t us = 0;
  REQUIRE(ParseTimestamp(rfc3339, &us));
  return us;
}

struct Env {
  TempDir dir;
  std::shared_ptr<std::atomic<int64_t>> now;
  std::unique_ptr<Engine> engine;

  explicit Env(int64_t start, CostOptions costs = {})
      : now(std::make_shared<std::atomic<int64_t>>(start)) {
    EngineOptions o;
    o.data_dir = dir.Sub("data");
    o.clock = [n = now] { return n->load(); };
    o.costs = costs;
    o.hitl.sweep_interval = std::chrono::milliseconds(0);
    engine = std::move(Engine::Open(o).value());
  }
  Costs& costs() { return engine->costs(); }
  void Sync() {
    REQUIRE(engine->WaitForViews(engine->log().LastLsn(), std::chrono::seconds(30)).ok());
  }
  // Records one call costing `usd` micro-dollars at `at`.
  void Spend(const std::string& tenant, int64_t usd, int64_t at = 0, bool success = true,
             const std::string& model = "gpt-4o") {
    UsageInput u;
    u.provider = "openai";
    u.model = model;
    u.tokens_in = 10;
    u.usd_micros = usd;
    u.occurred_at_us = at;
    u.success = success;
    REQUIRE(costs().RecordUsage(tenant, {u}, kOp).ok());
  }
  json Alerts(const std::string& tenant, const std::string& type) {
    Sync();
    json a = costs().Alerts(tenant, 24).value();
    json out = json::array();
    for (const auto& x : a["alerts"]) {
      if (x["type"] == type) out.push_back(x);
    }
    return out;
  }
};

BudgetRecord Daily(int64_t usd_micros) {
  BudgetRecord b;
  b.daily_usd_micros = usd_micros;
  return b;
}

}  // namespace

TEST_SUITE("engine/costs") {
  TEST_CASE("DollarsAreParsedAndPrintedExactly") {
    int64_t m = 0;
    CHECK(ParseUsd("0.15", &m));
    CHECK(m == 150000);
    CHECK(ParseUsd("12", &m));
    CHECK(m == 12000000);
    CHECK(ParseUsd("1.234567", &m));
    CHECK(m == 1234567);
    for (const char* bad : {"", "-1", "1.", ".5", "1.2345678", "1e3", "0x10", " 1", "1,5"}) {
      CHECK_MESSAGE(!ParseUsd(bad, &m), bad);
    }
    CHECK(UsdFromJson(json::parse("0.15"), &m));
    CHECK(m == 150000);
    CHECK(UsdFromJson(json::parse("2.5"), &m));
    CHECK(m == 2500000);
    CHECK(UsdFromJson(json::parse("10"), &m));
    CHECK(m == 10000000);
    CHECK(UsdFromJson(json::parse("0.00002"), &m));  // printed by JSON libraries as 2e-05
    CHECK(m == 20);
    CHECK(UsdFromJson(json::parse("1.5e2"), &m));
    CHECK(m == 150000000);
    CHECK(UsdFromJson(json("0.000001"), &m));
    CHECK(m == 1);
    CHECK_FALSE(UsdFromJson(json::parse("-0.5"), &m));
    CHECK_FALSE(UsdFromJson(json::parse("0.0000001"), &m));
    CHECK(FormatUsd(2100, 4) == "0.0021");
    CHECK(FormatUsd(2150, 4) == "0.0022");  // half away from zero
    CHECK(FormatUsd(49, 4) == "0.0000");
    CHECK(FormatUsd(12345678, 2) == "12.35");
    CHECK(FormatUsd(-2150, 4) == "-0.0022");
    CHECK(FormatUsd(7, 6) == "0.000007");
  }

  TEST_CASE("PricingArithmeticHasNoFloatingPointDrift") {
    PricingTable t =
        PricingTable::Parse(R"({"openai":{"gpt-4o-mini":{"input_per_1m":0.15,"output_per_1m":0.60},
                                               "*":{"input_per_1m":"0.1","output_per_1m":"0.2"}}})")
            .value();
    const Price* p = t.Find("openai", "gpt-4o-mini");
    REQUIRE(p != nullptr);
    CHECK(p->in_per_1m_usd_micros == 150000);
    CHECK(p->out_per_1m_usd_micros == 600000);
    // 1000 in + 1000 out = 0.00015 + 0.0006 dollars = 750 micro-dollars, exactly.
    CHECK(PricingTable::Cost(*p, 1000, 1000) == 750);
    // A million calls sum to exactly a million times one call.
    int64_t sum = 0;
    for (int i = 0; i < 1000000; ++i) sum += PricingTable::Cost(*p, 1000, 1000);
    CHECK(sum == 750000000);
    CHECK(FormatUsd(sum, 2) == "750.00");
    // Where doubles drift (0.1 + 0.2 != 0.3), integers do not.
    const Price* wild = t.Find("openai", "some-new-model");
    REQUIRE(wild != nullptr);
    CHECK(PricingTable::Cost(*wild, 1000000, 1000000) == 300000);
    // Rounding half up at the micro-dollar: 1 token at $0.15/1M is 0.15 µ$ -> 0; 4 tokens 0.6 -> 1.
    CHECK(PricingTable::Cost(*p, 1, 0) == 0);
    CHECK(PricingTable::Cost(*p, 4, 0) == 1);
    // Huge counts do not overflow.
    CHECK(PricingTable::Cost(*p, 1000000000000ULL, 1000000000000ULL) == 750000000000LL);
    CHECK(t.Find("anthropic", "x") == nullptr);
    CHECK_FALSE(PricingTable::Parse(R"({"openai":{"m":{"input_per_1m":-1}}})").ok());
    CHECK_FALSE(PricingTable::Parse(R"({"openai":{"m":{"inputs":1}}})").ok());
    CHECK_FALSE(PricingTable::Parse("[]").ok());
  }

  TEST_CASE("UsageIsPricedFromTheTableOrTakenFromTheCaller") {
    Env env(At("2026-03-10T12:00:00Z"));
    UsageInput priced;
    priced.provider = "openai";
    priced.model = "gpt-4o";
    priced.tokens_in = 150;
    priced.tokens_out = 80;
    UsageInput given = priced;
    given.usd_micros = 2100;
    std::vector<std::pair<int64_t, std::string>> out;
    REQUIRE(env.costs().PrepareUsage("acme", {priced, given}, &out).ok());
    CHECK(out[0] == std::pair<int64_t, std::string>{1175, "pricing"});  // 150*2.5 + 80*10 µ$
    CHECK(out[1] == std::pair<int64_t, std::string>{2100, "caller"});
    UsageInput unknown = priced;
    unknown.model = "unknown-model";
    Status s = env.costs().PrepareUsage("acme", {unknown}).status();
    CHECK(s.IsInvalidArgument());
    CHECK(s.message().find("usd_micros") != std::string::npos);
    unknown.tokens_in = unknown.tokens_out = 0;
    CHECK(env.costs().PrepareUsage("acme", {unknown}).ok());
    UsageInput bad = priced;
    bad.kind = "image";
    CHECK(env.costs().PrepareUsage("acme", {bad}).status().IsInvalidArgument());
    CHECK(env.costs().PrepareUsage("", {priced}).status().IsInvalidArgument());
  }

  TEST_CASE("BudgetTransitionsAtExactly80And100Percent") {
    const int64_t now = At("2026-03-10T12:00:00Z");
    Env env(now);
    REQUIRE(env.costs().SetBudget("tenant", "acme", Daily(10000000), kAdmin).ok());  // $10/day
    env.Spend("acme", 7999999, now);
    env.Sync();
    // Spent $7.999999: projecting 0 allows; projecting 1 µ$ reaches exactly 80%: throttle.
    BudgetCheckResult r = env.costs().Check("acme", 0, "", "", kOp).value();
    CHECK(r.decision == BudgetDecision::kAllow);
    CHECK(r.event_lsn == 0);
    r = env.costs().Check("acme", 1, "req-1", "weekly_report", kOp).value();
    CHECK(r.decision == BudgetDecision::kThrottle);
    CHECK(r.event_type == "BudgetThrottled");
    REQUIRE(r.event_lsn != 0);
    Event e = env.engine->log().ReadEvent(r.event_lsn).value();
    json p = Engine::EventToJson(e)["payload"];
    CHECK(p["request_id"] == "req-1");
    CHECK(p["spent_usd_micros"] == 7999999);
    CHECK(p["projected_usd_micros"] == 1);
    CHECK(e.stream == "tenant/acme/costs");
    // Just under 100%: throttle; exactly 100%: deny.
    CHECK(env.costs().Check("acme", 2000000, "", "", kOp).value().decision ==
          BudgetDecision::kThrottle);
    r = env.costs().Check("acme", 2000001, "", "", kOp).value();
    CHECK(r.decision == BudgetDecision::kDeny);
    CHECK(r.event_type == "BudgetDenied");
    CHECK(Engine::EventToJson(
              env.engine->log().ReadEvent(r.event_lsn).value())["payload"]["reason"] ==
          "budget_exceeded");
    // Alerts: exactly 80% spent is a soft crossing, exactly 100% a hard one.
    env.Spend("acme", 1, now);
    json a = env.Alerts("acme", "budget");
    REQUIRE(a.size() == 1);
    CHECK(a[0]["level"] == "soft");
    CHECK(a[0]["spent_usd_micros"] == 8000000);
    env.Spend("acme", 1999999, now);
    CHECK(env.Alerts("acme", "budget").empty() == false);
    CHECK(env.Alerts("acme", "budget")[0]["level"] == "soft");
    env.Spend("acme", 1, now);
    CHECK(env.Alerts("acme", "budget")[0]["level"] == "hard");
    // Throttles and denials show among the governance events, newest first.
    json all = env.costs().Alerts("acme", 24).value();
    // BudgetSet, two throttles, one denial.
    REQUIRE(all["governance_events"].size() == 4);
    CHECK(all["governance_events"][0]["type"] == "BudgetDenied");
    // A new day starts from zero.
    env.now->store(now + kD);
    CHECK(env.costs().Check("acme", 7999999, "", "", kOp).value().decision ==
          BudgetDecision::kAllow);
  }

  TEST_CASE("DefaultAndGlobalBudgets") {
    CostOptions o;
    o.tenant_daily_usd_micros = 5000000;     // $5 for every tenant without a budget
    o.global_monthly_usd_micros = 20000000;  // $20 for everyone together
    const int64_t now = At("2026-03-10T12:00:00Z");
    Env env(now, o);
    env.Spend("acme", 4000000, now);
    env.Spend("globex", 15000000, At("2026-03-02T00:00:00Z"));
    env.Sync();
    BudgetCheckResult r = env.costs().Check("acme", 0, "", "", kOp).value();
    CHECK(r.decision == BudgetDecision::kThrottle);  // $4 of $5 = 80%; global $19 of $20 = 95%
    REQUIRE(r.lines.size() == 2);
    CHECK(r.lines[0].scope == "tenant");
    CHECK(r.lines[1].scope == "global");
    CHECK(r.lines[1].spent_usd_micros == 19000000);
    CHECK(env.costs().Check("acme", 1000000, "", "", kOp).value().decision ==
          BudgetDecision::kDeny);
    // A set budget replaces the default; 0 means no limit.
    REQUIRE(env.costs().SetBudget("tenant", "acme", Daily(0), kAdmin).ok());
    BudgetRecord g;
    g.monthly_usd_micros = 100000000;
    REQUIRE(env.costs().SetBudget("global", "", g, kAdmin).ok());
    CHECK(env.costs().Check("acme", 1000000, "", "", kOp).value().decision ==
          BudgetDecision::kAllow);
    // Only admins set budgets; thresholds must make sense.
    CHECK(env.costs().SetBudget("tenant", "acme", Daily(1), kOp).status().IsInvalidArgument());
    BudgetRecord bad = Daily(1);
    bad.soft_threshold = 1.5;
    CHECK(env.costs().SetBudget("tenant", "acme", bad, kAdmin).status().IsInvalidArgument());
    json budgets = env.costs().Budgets().value();
    CHECK(budgets["global"]["monthly_usd_micros"] == 100000000);
    CHECK(budgets["tenants"]["acme"]["daily_usd_micros"] == 0);
  }

  TEST_CASE("SummaryWindowBoundaries") {
    const int64_t now = At("2026-03-10T12:30:00Z");
    Env env(now);
    // 24h = the current hour and the 23 before it: from 2026-03-09T13:00:00Z.
    env.Spend("acme", 1, At("2026-03-09T13:00:00Z"));           // first µs of the window
    env.Spend("acme", 10, At("2026-03-09T13:00:00Z") - 1);      // one µs before: out
    env.Spend("acme", 100, At("2026-03-10T12:59:59.999999Z"));  // last µs of the current hour
    env.Spend("acme", 1000, At("2026-03-10T13:00:00Z"));        // next hour: out
    env.Spend("acme", 10000, At("2026-03-03T13:00:00Z"), true, "gpt-4o-mini");  // first µs of 7d
    env.Spend("acme", 100000, At("2026-03-03T13:00:00Z") - 1);                  // out of 7d, in 30d
    env.Sync();
    json s = env.costs().Summary("acme", 24).value();
    CHECK(s["from"] == "2026-03-09T13:00:00.000000Z");
    CHECK(s["totals"]["usd_micros"] == 101);
    CHECK(s["totals"]["events"] == 2);
    s = env.costs().Summary("acme", 7 * 24).value();
    CHECK(s["totals"]["usd_micros"] == 10111);
    REQUIRE(s["by_model"].size() == 2);
    CHECK(s["by_model"][0]["model"] == "gpt-4o");
    CHECK(s["by_model"][1]["model"] == "gpt-4o-mini");
    CHECK(s["by_model"][1]["usd_micros"] == 10000);
    s = env.costs().Summary("acme", 30 * 24).value();
    CHECK(s["totals"]["usd_micros"] == 110111);
    // The all-tenant summary counts the same usage.
    CHECK(env.costs().Summary(kAllTenants, 30 * 24).value()["totals"]["usd_micros"] == 110111);
    CHECK(env.costs().Summary("globex", 24).value()["totals"]["events"] == 0);
    int64_t h = 0;
    CHECK(Costs::ParseWindow("24h", &h));
    CHECK(h == 24);
    CHECK(Costs::ParseWindow("30d", &h));
    CHECK(h == 720);
    CHECK_FALSE(Costs::ParseWindow("0h", &h));
    CHECK_FALSE(Costs::ParseWindow("1w", &h));
    CHECK_FALSE(Costs::ParseWindow("367d", &h));
  }

  TEST_CASE("SuccessRateUnder98PercentInA15MinuteWindow") {
    const int64_t now = At("2026-03-10T12:50:00Z");
    Env env(now);
    const int64_t q1 = At("2026-03-10T12:00:00Z");
    const int64_t q2 = At("2026-03-10T12:15:00Z");
    for (int i = 0; i < 50; ++i) env.Spend("acme", 1, q1 + i, i != 0);  // 49/50 = 98%: fine
    CHECK(env.Alerts("acme", "success_rate").empty());
    for (int i = 0; i < 50; ++i) env.Spend("acme", 1, q2 + i, i > 1);  // 48/50 = 96%
    json a = env.Alerts("acme", "success_rate");
    REQUIRE(a.size() == 1);
    CHECK(a[0]["window_start"] == "2026-03-10T12:15:00.000000Z");
    CHECK(a[0]["window_end"] == "2026-03-10T12:30:00.000000Z");
    CHECK(a[0]["events"] == 50);
    CHECK(a[0]["successes"] == 48);
    // Other tenants are not affected.
    CHECK(env.Alerts("globex", "success_rate").empty());
  }

  TEST_CASE("AnomalyAgainstASyntheticBaseline") {
    CostOptions o;  // sigma 3, $3 minimum, 10 baseline events, 168 baseline hours
    const int64_t now = At("2026-03-10T12:10:00Z");
    Env env(now, o);
    const int64_t window_from = At("2026-03-09T13:00:00Z");
    // Baseline: one call per hour for 7 days, alternating $1.00 and $1.20.
    for (int64_t h = 1; h <= 168; ++h) {
      env.Spend("acme", h % 2 ? 1000000 : 1200000, window_from - h * kH + 5);
    }
    // A normal hour in the window, and a $4 hour (mean 1.1, stddev 0.1: 29 sigma).
    env.Spend("acme", 1100000, At("2026-03-10T01:00:00Z"));
    env.Spend("acme", 4000000, At("2026-03-10T11:00:00Z"));
    json a = env.Alerts("acme", "anomaly");
    REQUIRE(a.size() == 1);
    CHECK(a[0]["hour_start"] == "2026-03-10T11:00:00.000000Z");
    CHECK(a[0]["observed_usd_micros"] == 4000000);
    CHECK(a[0]["baseline_mean_usd_micros"] == 1100000);
    CHECK(a[0]["baseline_stddev_usd_micros"] == 100000);
    CHECK(a[0]["baseline_events"] == 168);
    CHECK(std::abs(a[0]["sigma"].get<double>() - 29.0) < 1e-6);
    // Below the minimum dollars nothing is flagged, however many sigmas.
    CostOptions strict = o;
    strict.anomaly_min_usd_micros = 5000000;
    Env env2(now, strict);
    for (int64_t h = 1; h <= 168; ++h)
      env2.Spend("acme", h % 2 ? 1000000 : 1200000, window_from - h * kH + 5);
    env2.Spend("acme", 4000000, At("2026-03-10T11:00:00Z"));
    CHECK(env2.Alerts("acme", "anomaly").empty());
    json all = env2.costs().Alerts("acme", 24).value();
    CHECK(all["anomaly_baseline"]["evaluated"] == true);
    // Too few baseline events: not evaluated.
    Env env3(now, o);
    for (int64_t h = 1; h <= 9; ++h) env3.Spend("acme", 1000000, window_from - h * kH);
    env3.Spend("acme", 40000000, At("2026-03-10T11:00:00Z"));
    CHECK(env3.Alerts("acme", "anomaly").empty());
    CHECK(env3.costs().Alerts("acme", 24).value()["anomaly_baseline"]["evaluated"] == false);
  }

  TEST_CASE("EventsNewestFirst") {
    const int64_t now = At("2026-03-10T12:00:00Z");
    Env env(now);
    env.Spend("acme", 1, now - 3);
    env.Spend("acme", 2, now - 1);
    env.Spend("acme", 3, now - 2);
    env.Spend("globex", 4, now);
    env.Sync();
    json ev = env.costs().Events("acme", 2).value();
    REQUIRE(ev.size() == 2);
    CHECK(ev[0]["payload"]["usd_micros"] == 2);
    CHECK(ev[1]["payload"]["usd_micros"] == 3);
    CHECK(ev[0]["type"] == "UsageRecorded");
  }
}
