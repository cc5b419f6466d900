// Artifact lifecycle routes over real HTTP: store, status, runs, restore;
// their roles, tenants and the legal-hold answer.

#include <doctest/doctest.h>

#include "engine/holds.h"
#include "projections/costs.h"
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

constexpr char kArtifacts[] = "/api/v1/compliance/artifacts";
constexpr char kStatus[] = "/api/v1/compliance/lifecycle";
constexpr char kRun[] = "/api/v1/compliance/lifecycle/run";
const std::string kHash(64, 'b');

std::string Artifact(const std::string& id, uint64_t bytes = 2048, const std::string& extra = "") {
  return R"({"artifact_id":")" + id + R"(","workflow":"weekly_report","bytes":)" +
         std::to_string(bytes) + R"(,"content_hash":")" + kHash + R"(","label":"Internal")" +
         extra + "}";
}

}  // namespace

TEST_SUITE("api/lifecycle") {
  TEST_CASE("StoreStatusRunAndRestore") {
    const int64_t t0 = At("2026-03-01T02:00:00Z");
    DomainFixture f(t0);
    HttpClient c(f.port());
    HttpResult r = c.Send("POST", kArtifacts, Artifact("report.md"), Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    CHECK(Body(r)["tier"] == "hot");
    CHECK(Body(r)["tenant"] == "acme");
    CHECK(Body(r)["stream"] == "artifact/acme/report.md");
    CHECK(Body(r)["created"] == true);
    // The same again: 200, nothing new. Other content under the id: 409.
    r = c.Send("POST", kArtifacts, Artifact("report.md"), Auth(f.acme_op));
    CHECK(r.status == 200);
    CHECK(Body(r)["created"] == false);
    r = c.Send("POST", kArtifacts, Artifact("report.md", 1), Auth(f.acme_op));
    CHECK(r.status == 409);
    CHECK(ErrorCode(r) == "idempotency_conflict");
    r = c.Send("POST", kArtifacts, Artifact("bad", 1, R"(,"tier":"frozen")"), Auth(f.acme_op));
    CHECK(r.status == 422);
    r = c.Send("POST", kArtifacts, Artifact("x", 1, R"(,"color":"red")"), Auth(f.acme_op));
    CHECK(r.status == 400);

    *f.now = t0 + 8 * kMicrosPerDay;
    r = c.Send("GET", kStatus, "", Auth(f.acme_auditor));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    json j = Body(r);
    CHECK(j["tenant_id"] == "acme");
    CHECK(j["policy"]["hot_days"] == 7);
    CHECK(j["tiers"][0]["hot"]["count"] == 1);
    CHECK(j["tiers"][0]["hot"]["bytes"] == 2048);
    CHECK(j["plan"]["mode"] == "dry_run");
    CHECK(j["plan"]["counts"]["hot_to_warm"] == 1);
    CHECK(j["plan"]["actions"][0]["artifact_id"] == "report.md");
    // Days from the query.
    r = c.Send("GET", std::string(kStatus) + "?hot_days=9", "", Auth(f.acme_auditor));
    CHECK(Body(r)["plan"]["counts"]["hot_to_warm"] == 0);

    // A dry run changes nothing; a live one needs compliance (or admin).
    r = c.Send("POST", kRun, R"({"dry_run":true})", Auth(f.acme_auditor));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["counts"]["hot_to_warm"] == 1);
    r = c.Send("POST", kRun, R"({"dry_run":false})", Auth(f.acme_auditor));
    CHECK(r.status == 403);
    r = c.Send("POST", kRun, R"({"dry_run":false})", Auth(f.acme_compliance));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["mode"] == "live");
    CHECK(Body(r)["counts"]["done"] == 1);
    r = c.Send("POST", kRun, R"({"dry_run":false})", Auth(f.acme_compliance));
    CHECK(Body(r)["counts"]["total"] == 0);  // a rerun finds nothing due

    r = c.Send("GET", std::string(kArtifacts) + "/report.md", "", Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["tier"] == "warm");
    r = c.Send("POST", std::string(kArtifacts) + "/report.md/restore", "", Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["restored"] == true);
    CHECK(Body(r)["from_tier"] == "warm");
    CHECK(Body(r)["tier"] == "hot");
    r = c.Send("POST", std::string(kArtifacts) + "/nope/restore", "", Auth(f.acme_op));
    CHECK(r.status == 404);
  }

  TEST_CASE("RolesAndTenantIsolation") {
    DomainFixture f(At("2026-03-01T00:00:00Z"));
    HttpClient c(f.port());
    REQUIRE(c.Send("POST", kArtifacts, Artifact("a1"), Auth(f.acme_op)).status == 201);
    REQUIRE(c.Send("POST", kArtifacts, Artifact("g1"), Auth(f.globex_op)).status == 201);
    // Viewers and auditors do not store; viewers and operators do not read the status.
    CHECK(c.Send("POST", kArtifacts, Artifact("v"), Auth(f.acme_viewer)).status == 403);
    CHECK(c.Send("POST", kArtifacts, Artifact("v"), Auth(f.acme_auditor)).status == 403);
    CHECK(c.Send("GET", kStatus, "", Auth(f.acme_viewer)).status == 403);
    CHECK(c.Send("GET", kStatus, "", Auth(f.acme_op)).status == 403);
    CHECK(c.Send("POST", kRun, "", Auth(f.acme_op)).status == 403);
    CHECK(
        c.Send("POST", std::string(kArtifacts) + "/a1/restore", "", Auth(f.acme_auditor)).status ==
        403);
    CHECK(c.Send("GET", std::string(kArtifacts) + "/a1", "", Auth(f.acme_viewer)).status == 403);
    // A tenant key sees its tenant only.
    HttpResult r =
        c.Send("GET", std::string(kStatus) + "?tenant_id=globex", "", Auth(f.acme_auditor));
    CHECK(r.status == 403);
    r = c.Send("GET", kStatus, "", Auth(f.acme_auditor));
    REQUIRE(r.status == 200);
    CHECK(Body(r)["tiers"].size() == 1);
    CHECK(c.Send("GET", std::string(kArtifacts) + "/g1", "", Auth(f.acme_op)).status == 404);
    CHECK(c.Send("POST", std::string(kArtifacts) + "/g1/restore", "", Auth(f.acme_op)).status ==
          404);
    CHECK(c.Send("POST", kArtifacts,
                 R"({"tenant_id":"globex","artifact_id":"x","bytes":1,
                                        "content_hash":")" +
                     kHash + "\"}",
                 Auth(f.acme_op))
              .status == 403);
    // An all-tenant key sees every tenant, or the one it names.
    r = c.Send("GET", kStatus, "", Auth(f.all_compliance));
    REQUIRE(r.status == 200);
    CHECK(Body(r)["tenant_id"].is_null());
    CHECK(Body(r)["tiers"].size() == 2);
    r = c.Send("GET", std::string(kStatus) + "?tenant_id=globex", "", Auth(f.all_compliance));
    CHECK(Body(r)["tiers"].size() == 1);
    CHECK(Body(r)["tiers"][0]["tenant"] == "globex");
    // Writes by an all-tenant key must name the tenant.
    r = c.Send("POST", kArtifacts, Artifact("z"), Auth(f.admin));
    CHECK(r.status == 400);
    CHECK(ErrorCode(r) == "tenant_required");
  }

  TEST_CASE("LiveRunUnderHoldAnswers409WithTheReportAndPurgesOtherTenants") {
    const int64_t t0 = At("2026-03-01T00:00:00Z");
    DomainFixture f(t0);
    HttpClient c(f.port());
    for (const std::string* key : {&f.acme_op, &f.globex_op}) {
      REQUIRE(
          c.Send("POST", kArtifacts, Artifact("old", 10, R"(,"tier":"cold")"), Auth(*key)).status ==
          201);
    }
    REQUIRE(HoldService(*f.engine)
                .Apply("acme", "case-4", "SEC inquiry 4", {"counsel", Role::kCompliance})
                .ok());
    *f.now = t0 + 90 * kMicrosPerDay;
    HttpResult r = c.Send("POST", kRun, R"({"dry_run":false})", Auth(f.all_compliance));
    CHECK(r.status == 409);
    CHECK(ErrorCode(r) == "legal_hold");
    json j = Body(r);
    CHECK(j["error"]["message"].get<std::string>().find("SEC inquiry 4") != std::string::npos);
    CHECK(j["report"]["counts"]["purged_from_cold"] == 1);
    CHECK(j["report"]["held"][0]["tenant"] == "acme");
    r = c.Send("GET", std::string(kArtifacts) + "/old", "", Auth(f.globex_op));
    CHECK(Body(r)["purged"] == true);
    r = c.Send("GET", std::string(kArtifacts) + "/old", "", Auth(f.acme_op));
    CHECK(Body(r)["purged"] == false);
    // The tenant's own run: 409 as well; a dry run reports the hold with 200.
    r = c.Send("POST", kRun, R"({"dry_run":false})", Auth(f.acme_compliance));
    CHECK(r.status == 409);
    r = c.Send("POST", kRun, "", Auth(f.acme_compliance));
    CHECK(r.status == 200);
    CHECK(Body(r)["counts"]["purge_withheld_by_hold"] == 1);
  }
}
