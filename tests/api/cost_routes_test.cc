// Usage, cost and budget routes over real HTTP: recording, summaries,
// events, alerts, budgets and checks; their errors, roles and tenants.

#include <doctest/doctest.h>

#include "tests/api/domain_fixture.h"

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;

namespace {

int64_t At(const char* rfc3339) {
  int64_t us = 0;
  REQUIRE(ParseTimestamp(rfc3339, &us));
  return us;
}

constexpr char kUsage[] = "/api/v1/ops/costs/usage";
constexpr char kSummary[] = "/api/v1/ops/costs/summary";
constexpr char kEvents[] = "/api/v1/ops/costs/events";
constexpr char kAlerts[] = "/api/v1/ops/costs/alerts";
constexpr char kCheck[] = "/api/v1/ops/budget/check";
constexpr char kBudgets[] = "/api/v1/ops/budgets";

// Read-your-writes: the LSN of the last append, for ?min_lsn=.
std::string Lsn(const HttpResult& r) { return std::to_string(Body(r)["last_lsn"].get<uint64_t>()); }

}  // namespace

TEST_SUITE("api/costs") {
  TEST_CASE("RecordSummarizeAndListUsage") {
    DomainFixture f(At("2026-03-10T12:00:00Z"));
    HttpClient c(f.port());
    // One record, priced from the built-in table.
    HttpResult r =
        c.Send("POST", kUsage,
               R"({"tenant_id":"acme","provider":"openai","model":"gpt-4o","tokens_in":150,
                              "tokens_out":80,"latency_ms":420,"request_id":"r1"})",
               Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    json j = Body(r);
    CHECK(j["recorded"] == 1);
    CHECK(j["usage"][0]["usd_micros"] == 1175);
    CHECK(j["usage"][0]["cost_source"] == "pricing");
    CHECK(j["stream"] == "tenant/acme/costs");
    // A batch, one with its cost given, one failed.
    r = c.Send(
        "POST", kUsage,
        R"({"usage":[{"provider":"openai","model":"gpt-4o-mini","tokens_in":100,"tokens_out":50,
                              "latency_ms":120,"kind":"chat"},
                             {"provider":"openai","model":"text-embedding-3-small","kind":"embedding",
                              "tokens_in":1000,"cost_usd":0.00002,"latency_ms":30},
                             {"provider":"openai","model":"gpt-4o","tokens_in":0,"latency_ms":5000,
                              "success":false,"error_code":"rate_limit"}]})",
        Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    CHECK(Body(r)["recorded"] == 3);
    CHECK(Body(r)["usage"][0]["usd_micros"] == 45);
    CHECK(Body(r)["usage"][1]["usd_micros"] == 20);
    CHECK(Body(r)["usage"][1]["cost_source"] == "caller");
    const std::string lsn = Lsn(r);

    r = c.Send("GET", std::string(kSummary) + "?tenant_id=acme&window=24h&min_lsn=" + lsn, "",
               Auth(f.acme_viewer));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    j = Body(r);
    CHECK(j["tenant_id"] == "acme");
    CHECK(j["window"] == "24h");
    CHECK(j["totals"]["events"] == 4);
    CHECK(j["totals"]["successes"] == 3);
    CHECK(j["totals"]["usd_micros"] == 1175 + 45 + 20);
    CHECK(j["totals"]["tokens"] == 150 + 80 + 100 + 50 + 1000);
    CHECK(j["totals"]["success_rate"] == 0.75);
    REQUIRE(j["by_model"].size() == 3);
    CHECK(j["by_model"][0]["model"] == "gpt-4o");
    CHECK(j["by_model"][0]["events"] == 2);
    CHECK(j["by_model"][0]["success_rate"] == 0.5);
    CHECK(j["by_model"][0]["p95_latency_ms"] == 5000);
    // 7d and 30d windows hold the same usage.
    r = c.Send("GET", std::string(kSummary) + "?tenant_id=acme&window=30d", "",
               Auth(f.acme_viewer));
    CHECK(Body(r)["totals"]["events"] == 4);

    r = c.Send("GET", std::string(kEvents) + "?tenant_id=acme&limit=2", "", Auth(f.acme_viewer));
    REQUIRE(r.status == 200);
    j = Body(r);
    REQUIRE(j["events"].size() == 2);
    CHECK(j["events"][0]["type"] == "UsageRecorded");
    CHECK(j["events"][0]["tenant"] == "acme");
    r = c.Send("GET", std::string(kEvents) + "?tenant_id=acme", "", Auth(f.acme_viewer));
    CHECK(Body(r)["events"].size() == 4);

    r = c.Send("GET", "/api/v1/ops/costs/pricing", "", Auth(f.acme_viewer));
    REQUIRE(r.status == 200);
    CHECK(Body(r)["pricing"]["openai"]["gpt-4o"]["input_per_1m"] == 2.5);
  }

  TEST_CASE("UsageErrors") {
    DomainFixture f(At("2026-03-10T12:00:00Z"));
    HttpClient c(f.port());
    const std::string ok = R"({"provider":"openai","model":"gpt-4o","tokens_in":1})";
    CHECK(c.Send("POST", kUsage, "[]", Auth(f.acme_op)).status == 400);
    HttpResult r = c.Send("POST", kUsage, R"({"provider":"openai","model":"gpt-4o","colour":1})",
                          Auth(f.acme_op));
    CHECK(r.status == 400);
    CHECK(Body(r)["error"]["message"].get<std::string>().find("colour") != std::string::npos);
    CHECK(c.Send("POST", kUsage, R"({"provider":"openai","model":"gpt-4o","tokens_in":-1})",
                 Auth(f.acme_op))
              .status == 400);
    CHECK(c.Send("POST", kUsage, R"({"provider":"openai","model":"gpt-4o","tokens_in":1.5})",
                 Auth(f.acme_op))
              .status == 400);
    CHECK(c.Send("POST", kUsage, R"({"provider":"openai","model":"gpt-4o","success":"yes"})",
                 Auth(f.acme_op))
              .status == 400);
    CHECK(c.Send("POST", kUsage,
                 R"({"provider":"openai","model":"gpt-4o","usd_micros":1,"cost_usd":1})",
                 Auth(f.acme_op))
              .status == 400);
    CHECK(c.Send("POST", kUsage, R"({"usage":[]})", Auth(f.acme_op)).status == 400);
    // Semantics: no price, bad kind, no provider: 422, nothing written.
    r = c.Send("POST", kUsage, R"({"provider":"acme-ai","model":"m1","tokens_in":10})",
               Auth(f.acme_op));
    CHECK(r.status == 422);
    CHECK(ErrorCode(r) == "invalid_argument");
    CHECK(c.Send("POST", kUsage, R"({"provider":"openai","model":"gpt-4o","kind":"image"})",
                 Auth(f.acme_op))
              .status == 422);
    CHECK(c.Send("POST", kUsage, R"({"model":"gpt-4o"})", Auth(f.acme_op)).status == 422);
    // A batch is one tenant's, and all or nothing.
    r = c.Send(
        "POST", kUsage,
        R"({"usage":[{"provider":"openai","model":"gpt-4o"},{"provider":"x","model":"y","tokens_in":5}]})",
        Auth(f.acme_op));
    CHECK(r.status == 422);
    CHECK(
        c.Send(
             "POST", kUsage,
             R"({"tenant_id":"acme","usage":[{"tenant_id":"globex","provider":"a","model":"b"}]})",
             Auth(f.admin))
            .status == 400);
    CHECK(f.engine->log().LastLsn() == 0);
    // Who may record: operators of the tenant; a tenant must be known.
    CHECK(c.Send("POST", kUsage, ok, Auth(f.acme_viewer)).status == 403);
    r = c.Send("POST", kUsage, ok, Auth(f.admin));
    CHECK(r.status == 400);
    CHECK(ErrorCode(r) == "tenant_required");
    CHECK(c.Send("POST", kUsage, ok, Auth(f.admin, "acme")).status == 201);
    CHECK(c.Send("POST", kUsage, R"({"tenant_id":"globex","provider":"openai","model":"gpt-4o"})",
                 Auth(f.acme_op))
              .status == 403);
    // Query errors.
    CHECK(c.Send("GET", std::string(kSummary) + "?window=1w", "", Auth(f.acme_viewer)).status ==
          400);
    CHECK(c.Send("GET", std::string(kEvents) + "?limit=5000", "", Auth(f.acme_viewer)).status ==
          400);
    r = c.Send("GET", kEvents, "", Auth(f.admin));
    CHECK(r.status == 400);
    CHECK(ErrorCode(r) == "tenant_required");
    CHECK(c.Send("GET", std::string(kSummary) + "?tenant_id=bad/name", "", Auth(f.admin)).status ==
          400);
    CHECK(c.Send("GET", std::string(kSummary) + "?tenant_id=acme", "", Auth(f.admin, "globex"))
              .status == 400);
  }

  TEST_CASE("CostTenantsAreIsolatedBothWays") {
    DomainFixture f(At("2026-03-10T12:00:00Z"));
    HttpClient c(f.port());
    HttpResult a =
        c.Send("POST", kUsage, R"({"provider":"openai","model":"gpt-4o","usd_micros":7})",
               Auth(f.acme_op));
    REQUIRE(a.status == 201);
    HttpResult g =
        c.Send("POST", kUsage, R"({"provider":"openai","model":"gpt-4o","usd_micros":9})",
               Auth(f.globex_op));
    REQUIRE(g.status == 201);
    const std::string wait = "&min_lsn=" + Lsn(g);
    // A tenant key reads its own tenant, with or without tenant_id, never another's.
    HttpResult r = c.Send("GET", std::string(kSummary) + "?window=24h" + wait, "", Auth(f.acme_op));
    CHECK(Body(r)["totals"]["usd_micros"] == 7);
    r = c.Send("GET", std::string(kSummary) + "?tenant_id=globex" + wait, "", Auth(f.acme_op));
    CHECK(r.status == 403);
    r = c.Send("GET", std::string(kSummary) + "?tenant_id=acme" + wait, "", Auth(f.globex_op));
    CHECK(r.status == 403);
    CHECK(c.Send("GET", std::string(kEvents) + "?tenant_id=acme", "", Auth(f.globex_op)).status ==
          403);
    CHECK(c.Send("GET", std::string(kAlerts) + "?tenant_id=acme", "", Auth(f.globex_op)).status ==
          403);
    r = c.Send("GET", std::string(kEvents) + "?x=1" + wait, "", Auth(f.globex_op));
    REQUIRE(Body(r)["events"].size() == 1);
    CHECK(Body(r)["events"][0]["payload"]["usd_micros"] == 9);
    // An all-tenant key: one tenant, or everyone's totals.
    r = c.Send("GET", std::string(kSummary) + "?tenant_id=globex" + wait, "", Auth(f.admin));
    CHECK(Body(r)["totals"]["usd_micros"] == 9);
    r = c.Send("GET", std::string(kSummary) + "?window=24h" + wait, "", Auth(f.admin));
    CHECK(Body(r)["tenant_id"].is_null());
    CHECK(Body(r)["totals"]["usd_micros"] == 16);
  }

  TEST_CASE("BudgetsChecksAndAlerts") {
    const int64_t now = At("2026-03-10T12:00:00Z");
    DomainFixture f(now);
    HttpClient c(f.port());
    // Only admins set budgets; a tenant admin only its own; the global one needs an all-tenant
    // admin.
    const std::string budget = R"({"tenant_id":"acme","daily_usd":"10.00","monthly_usd":100})";
    CHECK(c.Send("POST", kBudgets, budget, Auth(f.acme_op)).status == 403);
    CHECK(c.Send("POST", kBudgets, R"({"scope":"global","daily_usd":1})", Auth(f.acme_admin))
              .status == 403);
    CHECK(c.Send("POST", kBudgets, R"({"tenant_id":"acme","daily_usd":"ten"})", Auth(f.admin))
              .status == 400);
    CHECK(c.Send("POST", kBudgets, R"({"tenant_id":"acme","soft_threshold":2,"hard_threshold":1})",
                 Auth(f.admin))
              .status == 422);
    CHECK(
        c.Send("POST", kBudgets, R"({"scope":"team","tenant_id":"acme"})", Auth(f.admin)).status ==
        422);
    HttpResult r = c.Send("POST", kBudgets, budget, Auth(f.acme_admin));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    CHECK(Body(r)["daily_usd_micros"] == 10000000);
    CHECK(Body(r)["monthly_usd_micros"] == 100000000);
    r = c.Send("GET", kBudgets, "", Auth(f.acme_viewer));
    REQUIRE(r.status == 200);
    CHECK(Body(r)["tenants"]["acme"]["daily_usd_micros"] == 10000000);
    CHECK(Body(r)["status"].size() == 2);

    // Spend $8 today: exactly 80% of the daily budget.
    r = c.Send("POST", kUsage, R"({"provider":"openai","model":"gpt-4o","usd_micros":8000000})",
               Auth(f.acme_op));
    REQUIRE(r.status == 201);
    const std::string lsn = Lsn(r);
    r = c.Send("GET", std::string(kAlerts) + "?min_lsn=" + lsn, "", Auth(f.acme_viewer));
    REQUIRE(r.status == 200);
    json alerts = Body(r)["alerts"];
    REQUIRE(alerts.size() == 1);
    CHECK(alerts[0]["type"] == "budget");
    CHECK(alerts[0]["level"] == "soft");
    CHECK(alerts[0]["window"] == "daily");

    // Checks: projected cost on top of what is spent.
    r = c.Send("POST", kCheck,
               R"({"projected_usd":"1.999999","request_id":"job-1","workflow":"weekly_report"})",
               Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["decision"] == "throttle");
    CHECK(Body(r)["allowed"] == true);
    CHECK(Body(r)["event"]["type"] == "BudgetThrottled");
    r = c.Send("POST", kCheck, R"({"projected_usd_micros":2000000})", Auth(f.acme_op));
    CHECK(Body(r)["decision"] == "deny");
    CHECK(Body(r)["allowed"] == false);
    const uint64_t denied_lsn = Body(r)["event"]["lsn"];
    // Checks need an operator, a tenant and a sane amount.
    CHECK(c.Send("POST", kCheck, R"({"projected_usd":1})", Auth(f.acme_viewer)).status == 403);
    CHECK(c.Send("POST", kCheck, R"({"projected_usd":1})", Auth(f.admin)).status == 400);
    CHECK(c.Send("POST", kCheck, R"({"projected_usd":-1})", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("POST", kCheck, R"({"projected_usd":1,"tenant_id":"globex"})", Auth(f.acme_op))
              .status == 403);
    // Another tenant without a budget is allowed, and nothing is recorded for it.
    r = c.Send("POST", kCheck, R"({"projected_usd":1000})", Auth(f.globex_op));
    CHECK(Body(r)["decision"] == "allow");
    CHECK(Body(r)["event"].is_null());

    // The throttle and the denial are in the alerts' governance events.
    r = c.Send("GET",
               std::string(kAlerts) + "?tenant_id=acme&min_lsn=" + std::to_string(denied_lsn), "",
               Auth(f.admin));
    json gov = Body(r)["governance_events"];
    REQUIRE(gov.size() == 3);
    CHECK(gov[0]["type"] == "BudgetDenied");
    CHECK(gov[1]["type"] == "BudgetThrottled");
    CHECK(gov[1]["payload"]["request_id"] == "job-1");
    CHECK(gov[2]["type"] == "BudgetSet");
    // The global budget, set by an all-tenant admin, applies to every tenant.
    REQUIRE(c.Send("POST", kBudgets, R"({"scope":"global","monthly_usd":"8.5"})", Auth(f.admin))
                .status == 201);
    r = c.Send("POST", kCheck, R"({"projected_usd":0})", Auth(f.globex_op));
    CHECK(Body(r)["decision"] == "throttle");  // $8 of $8.50 across tenants
  }
}
