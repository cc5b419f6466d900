// Retention and tenant routes over real HTTP: plan, run, export, delete;
// roles, tenants, legal holds and bad input.

#include <doctest/doctest.h>

#include <filesystem>

#include "engine/holds.h"
#include "tests/api/domain_fixture.h"

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;

namespace {

constexpr int64_t kDay = 86400LL * 1000000;
constexpr char kPlan[] = "/api/v1/compliance/retention/plan";
constexpr char kRun[] = "/api/v1/compliance/retention/run";

void Usage(DomainFixture& f, const std::string& tenant, int n) {
  for (int i = 0; i < n; ++i) {
    Result<AppendResult> r = f.engine->AppendJson(
        "usage/" + tenant, tenant, {"svc", Role::kOperator}, ExpectedVersion::Any(),
        {{"UsageRecorded", "",
          R"({"tenant":")" + tenant + R"(","provider":"openai","model":"gpt-4o","kind":"chat"})"}});
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  }
}

}  // namespace

TEST_SUITE("api/compliance") {
  TEST_CASE("RetentionPlanAndRunWithRolesTenantsAndHolds") {
    DomainFixture f(1'767'225'600'000'000, {}, /*fake_log_clock=*/true);
    HttpClient c(f.port());
    Usage(f, "acme", 3);
    Usage(f, "globex", 2);
    *f.now += 200 * kDay;  // past the default 180 days for usage

    HttpResult r = c.Send("GET", kPlan, "", Auth(f.admin));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["dry_run"] == true);
    CHECK(Body(r)["counts"]["usage"] == 5);
    // A tenant key plans its own tenant only.
    r = c.Send("GET", kPlan, "", Auth(f.acme_auditor));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["counts"]["usage"] == 3);
    CHECK(c.Send("GET", std::string(kPlan) + "?tenant_id=globex", "", Auth(f.acme_auditor)).status ==
          403);
    // The query can tighten or loosen the policy.
    r = c.Send("GET", std::string(kPlan) + "?retain=usage=keep", "", Auth(f.admin));
    CHECK(Body(r)["total_purged"] == 0);
    CHECK(c.Send("GET", std::string(kPlan) + "?retain=usage=soon", "", Auth(f.admin)).status == 400);
    CHECK(c.Send("GET", std::string(kPlan) + "?retain=workspace=3", "", Auth(f.admin)).status ==
          400);
    CHECK(c.Send("GET", kPlan, "", Auth(f.acme_op)).status == 403);

    // Running needs compliance (or admin); an auditor may not.
    CHECK(c.Send("POST", kRun, "{}", Auth(f.acme_auditor)).status == 403);
    CHECK(c.Send("POST", kRun, "{\"retain\":3}", Auth(f.all_compliance)).status == 400);
    CHECK(c.Send("POST", kRun, "{\"nope\":1}", Auth(f.all_compliance)).status == 400);
    CHECK(c.Send("POST", kRun, "not json", Auth(f.all_compliance)).status == 400);

    HoldService holds(*f.engine);
    REQUIRE(holds.Apply("acme", "case-5", "litigation 5", {"c", Role::kCompliance}).ok());
    r = c.Send("POST", kRun, "{}", Auth(f.acme_compliance));
    CHECK(r.status == 409);
    CHECK(ErrorCode(r) == "legal_hold");
    CHECK(r.body.find("litigation 5") != std::string::npos);
    r = c.Send("POST", kRun, "{}", Auth(f.all_compliance));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["total_purged"] == 2);
    CHECK(Body(r)["held_tenants"] == json::array({"acme"}));
    REQUIRE(holds.Release("acme", "", "closed", {"c", Role::kCompliance}).ok());
    r = c.Send("POST", kRun, R"({"retain":{"usage":30}})", Auth(f.acme_compliance));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["total_purged"] == 3);
    CHECK(f.engine->log().ReadStream("usage/acme", 1, 10)->empty());
  }

  TEST_CASE("TenantExportAndDeleteWithRolesAndHolds") {
    DomainFixture f(1'767'225'600'000'000);
    HttpClient c(f.port());
    Usage(f, "acme", 4);
    Usage(f, "globex", 2);
    const std::string acme = "/api/v1/compliance/tenants/acme";

    HttpResult r = c.Send("POST", acme + "/export", "", Auth(f.acme_auditor));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    CHECK(Body(r)["events"] == 4);
    CHECK(std::filesystem::exists(Body(r)["dir"].get<std::string>() + "/manifest.json"));
    CHECK(c.Send("POST", acme + "/export", "", Auth(f.acme_op)).status == 403);
    CHECK(c.Send("POST", "/api/v1/compliance/tenants/globex/export", "", Auth(f.acme_auditor))
              .status == 403);

    // Dry run: auditors may look; deleting needs compliance or admin.
    r = c.Send("DELETE", acme + "?dry_run=true", "", Auth(f.acme_auditor));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["events"] == 5);  // + TenantExported
    CHECK(c.Send("DELETE", acme, "", Auth(f.acme_auditor)).status == 403);
    CHECK(c.Send("DELETE", acme, "", Auth(f.acme_op)).status == 403);
    CHECK(c.Send("DELETE", acme + "?dry_run=maybe", "", Auth(f.admin)).status == 400);

    HoldService holds(*f.engine);
    REQUIRE(holds.Apply("acme", "h1", "regulator 12", {"c", Role::kCompliance}).ok());
    r = c.Send("DELETE", acme, "", Auth(f.acme_compliance));
    CHECK(r.status == 409);
    CHECK(ErrorCode(r) == "legal_hold");
    CHECK(r.body.find("regulator 12") != std::string::npos);
    REQUIRE(holds.Release("acme", "h1", "done", {"c", Role::kCompliance}).ok());

    r = c.Send("DELETE", acme + "?reason=erasure%20request%2042", "", Auth(f.acme_compliance));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["events"] == 7);  // + HoldApplied, HoldReleased
    CHECK(f.engine->log().ReadStream("usage/acme", 1, 10)->empty());
    CHECK(f.engine->log().ReadStream("usage/globex", 1, 10)->size() == 2);
    // The rest of the server still answers from refolded views.
    r = c.Send("GET", "/api/v1/compliance/holds?tenant_id=acme", "", Auth(f.admin));
    REQUIRE(r.status == 200);
    CHECK(Body(r)["holds"].empty());
  }
}
