// Legal-hold routes over real HTTP: apply, list, check, release; their
// roles, tenants, conflicts and bad input.

#include <doctest/doctest.h>

#include "engine/holds.h"
#include "tests/api/domain_fixture.h"

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;

namespace {

constexpr char kHolds[] = "/api/v1/compliance/holds";
constexpr char kRelease[] = "/api/v1/compliance/holds/release";
constexpr char kCheck[] = "/api/v1/compliance/holds/check";

std::string Q(const char* path, const std::string& tenant) {
  return std::string(path) + "?tenant_id=" + tenant;
}

}  // namespace

TEST_SUITE("api/holds") {
  TEST_CASE("ApplyListCheckReleaseFlow") {
    DomainFixture f(1'700'000'000'000'000);
    HttpClient c(f.port());
    HttpResult r = c.Send("GET", Q(kCheck, "acme"), "", Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r) == json{{"tenant_id", "acme"}, {"held", false}});

    r = c.Send("POST", kHolds, R"({"reason":"case 2026-117, counsel J. Doe","hold_id":"case-117"})",
               Auth(f.acme_compliance));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    json h = Body(r);
    CHECK(h["tenant"] == "acme");
    CHECK(h["hold_id"] == "case-117");
    CHECK(h["reason"] == "case 2026-117, counsel J. Doe");
    CHECK(h["applied_at_us"].get<int64_t>() > 0);
    CHECK(h["applied_at"] == FormatTimestamp(h["applied_at_us"].get<int64_t>()));
    CHECK(h["stream"] == "tenant/acme/compliance");
    CHECK(h["lsn"].get<uint64_t>() > 0);

    // The event's actor is the calling key, and so is the hold's "by".
    Result<std::vector<Event>> events = f.engine->log().ReadStream("tenant/acme/compliance", 1, 10);
    REQUIRE(events.ok());
    REQUIRE(events->size() == 1);
    CHECK(events->at(0).actor.role == Role::kCompliance);
    CHECK(h["by"] == events->at(0).actor.id);
    CHECK_FALSE(events->at(0).actor.id.empty());

    // Without an id: a generated one.
    r = c.Send("POST", kHolds, R"({"tenant_id":"acme","reason":"SEC inquiry 4"})", Auth(f.admin));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    const std::string generated = Body(r)["hold_id"];
    CHECK_FALSE(generated.empty());

    r = c.Send("GET", kHolds, "", Auth(f.acme_auditor));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["tenant_id"] == "acme");
    CHECK(Body(r)["holds"].size() == 2);

    // While held, the check is 409 legal_hold naming the holds and reasons.
    for (const std::string& key : {f.acme_op, f.acme_auditor, f.acme_compliance, f.admin}) {
      r = c.Send("GET", Q(kCheck, "acme"), "", Auth(key));
      CHECK(r.status == 409);
      CHECK(ErrorCode(r) == "legal_hold");
      const std::string msg = Body(r)["error"]["message"];
      CHECK(msg.find("case-117") != std::string::npos);
      CHECK(msg.find("counsel J. Doe") != std::string::npos);
      CHECK(msg.find("SEC inquiry 4") != std::string::npos);
    }

    // Several holds and no id: the engine's invalid_argument (422).
    r = c.Send("POST", kRelease, R"({"reason":"closed"})", Auth(f.acme_compliance));
    CHECK(r.status == 422);
    CHECK(ErrorCode(r) == "invalid_argument");
    r = c.Send("POST", kRelease, R"({"hold_id":"case-117","reason":"case closed"})",
               Auth(f.acme_compliance));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["hold_id"] == "case-117");
    CHECK(Body(r)["released"] == true);
    // Released already: 404. The only one left goes without an id.
    r = c.Send("POST", kRelease, R"({"hold_id":"case-117"})", Auth(f.acme_compliance));
    CHECK(r.status == 404);
    CHECK(ErrorCode(r) == "not_found");
    r = c.Send("POST", kRelease, "", Auth(f.acme_compliance));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["hold_id"] == generated);
    r = c.Send("POST", kRelease, "{}", Auth(f.acme_compliance));
    CHECK(r.status == 404);

    r = c.Send("GET", Q(kCheck, "acme"), "", Auth(f.acme_op));
    CHECK(r.status == 200);
    CHECK(Body(r)["held"] == false);
    r = c.Send("GET", kHolds, "", Auth(f.acme_auditor));
    CHECK(Body(r)["holds"].empty());
    // Both releases are in the log, by the caller.
    events = f.engine->log().ReadStream("tenant/acme/compliance", 1, 10);
    REQUIRE(events.ok());
    CHECK(events->size() == 4);
  }

  TEST_CASE("ApplyingAnIdInForceIs409AndAReleasedIdMayBeReused") {
    DomainFixture f(1'700'000'000'000'000);
    HttpClient c(f.port());
    const std::string body = R"({"reason":"case 9","hold_id":"case-9"})";
    HttpResult r = c.Send("POST", kHolds, body, Auth(f.acme_compliance));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    const uint64_t lsn = f.engine->log().LastLsn();
    r = c.Send("POST", kHolds, R"({"reason":"again","hold_id":"case-9"})", Auth(f.acme_compliance));
    CHECK(r.status == 409);
    CHECK(ErrorCode(r) == "hold_exists");
    CHECK(Body(r)["hold"]["reason"] == "case 9");
    CHECK(f.engine->log().LastLsn() == lsn);  // nothing written
    // The same id on another tenant is another hold.
    r = c.Send("POST", kHolds, R"({"tenant_id":"globex","reason":"case 9","hold_id":"case-9"})",
               Auth(f.all_compliance));
    CHECK(r.status == 201);
    r = c.Send("POST", kRelease, R"({"hold_id":"case-9","reason":"closed"})",
               Auth(f.acme_compliance));
    REQUIRE(r.status == 200);
    r = c.Send("POST", kHolds, body, Auth(f.acme_compliance));
    CHECK(r.status == 201);
  }

  TEST_CASE("RolesThatMayNotActAre403") {
    DomainFixture f(1'700'000'000'000'000);
    HttpClient c(f.port());
    const std::string apply = R"({"reason":"case 1","hold_id":"case-1"})";
    const uint64_t lsn = f.engine->log().LastLsn();
    for (const std::string& key : {f.acme_viewer, f.acme_op, f.acme_auditor}) {
      HttpResult r = c.Send("POST", kHolds, apply, Auth(key));
      CHECK(r.status == 403);
      CHECK(ErrorCode(r) == "forbidden");
      r = c.Send("POST", kRelease, R"({"hold_id":"case-1"})", Auth(key));
      CHECK(r.status == 403);
    }
    CHECK(f.engine->log().LastLsn() == lsn);  // nothing written
    REQUIRE(c.Send("POST", kHolds, apply, Auth(f.acme_admin)).status == 201);

    // Listing: auditor, compliance, admin; not viewer or operator.
    for (const std::string& key : {f.acme_viewer, f.acme_op}) {
      HttpResult r = c.Send("GET", kHolds, "", Auth(key));
      CHECK(r.status == 403);
      CHECK(ErrorCode(r) == "forbidden");
    }
    for (const std::string& key : {f.acme_auditor, f.acme_compliance, f.acme_admin}) {
      HttpResult r = c.Send("GET", kHolds, "", Auth(key));
      CHECK(r.status == 200);
      CHECK(Body(r)["holds"].size() == 1);
    }
    // Checking: a viewer may not.
    HttpResult r = c.Send("GET", Q(kCheck, "acme"), "", Auth(f.acme_viewer));
    CHECK(r.status == 403);
    CHECK(ErrorCode(r) == "forbidden");
    // No key at all.
    r = c.Send("GET", Q(kCheck, "acme"), "", {});
    CHECK(r.status == 401);
  }

  TEST_CASE("ATenantKeySeesAndActsForItsOwnTenantOnly") {
    DomainFixture f(1'700'000'000'000'000);
    HttpClient c(f.port());
    REQUIRE(c.Send("POST", kHolds, R"({"tenant_id":"globex","reason":"globex case"})",
                   Auth(f.all_compliance))
                .status == 201);
    REQUIRE(c.Send("POST", kHolds, R"({"reason":"acme case"})", Auth(f.acme_compliance)).status ==
            201);

    // Naming another tenant is 403, for every route.
    HttpResult r = c.Send("GET", Q(kHolds, "globex"), "", Auth(f.acme_auditor));
    CHECK(r.status == 403);
    r = c.Send("GET", Q(kCheck, "globex"), "", Auth(f.acme_op));
    CHECK(r.status == 403);
    r = c.Send("POST", kHolds, R"({"tenant_id":"globex","reason":"x"})", Auth(f.acme_compliance));
    CHECK(r.status == 403);
    r = c.Send("POST", kRelease, R"({"tenant_id":"globex"})", Auth(f.acme_compliance));
    CHECK(r.status == 403);
    // Its own list holds its own hold only.
    r = c.Send("GET", kHolds, "", Auth(f.acme_auditor));
    REQUIRE(r.status == 200);
    REQUIRE(Body(r)["holds"].size() == 1);
    CHECK(Body(r)["holds"][0]["tenant"] == "acme");
    // An all-tenant key lists every tenant's without a tenant, one with.
    r = c.Send("GET", kHolds, "", Auth(f.all_compliance));
    REQUIRE(r.status == 200);
    CHECK(Body(r)["tenant_id"].is_null());
    CHECK(Body(r)["holds"].size() == 2);
    r = c.Send("GET", Q(kHolds, "globex"), "", Auth(f.all_compliance));
    REQUIRE(Body(r)["holds"].size() == 1);
    CHECK(Body(r)["holds"][0]["reason"] == "globex case");
    r = c.Send("GET", kHolds, "", Auth(f.all_compliance, "acme"));
    REQUIRE(Body(r)["holds"].size() == 1);
    CHECK(Body(r)["holds"][0]["tenant"] == "acme");
    // ...but checking, applying and releasing need one tenant.
    r = c.Send("GET", kCheck, "", Auth(f.all_compliance));
    CHECK(r.status == 400);
    CHECK(ErrorCode(r) == "tenant_required");
    r = c.Send("POST", kHolds, R"({"reason":"x"})", Auth(f.all_compliance));
    CHECK(r.status == 400);
    CHECK(ErrorCode(r) == "tenant_required");
    r = c.Send("POST", kRelease, "{}", Auth(f.admin));
    CHECK(r.status == 400);
    CHECK(ErrorCode(r) == "tenant_required");
    // globex's hold does not hold acme, and releasing acme's leaves globex's.
    REQUIRE(c.Send("POST", kRelease, "{}", Auth(f.acme_compliance)).status == 200);
    CHECK(c.Send("GET", Q(kCheck, "acme"), "", Auth(f.admin)).status == 200);
    CHECK(c.Send("GET", Q(kCheck, "globex"), "", Auth(f.admin)).status == 409);
  }

  TEST_CASE("BadInputIsRefusedAndWritesNothing") {
    DomainFixture f(1'700'000'000'000'000);
    HttpClient c(f.port());
    const auto key = Auth(f.acme_compliance);
    const uint64_t lsn = f.engine->log().LastLsn();
    struct Case {
      const char* path;
      const char* body;
      int status;
    };
    for (const Case& k : {
             Case{kHolds, "{not json", 400},
             Case{kHolds, "", 400},
             Case{kHolds, "[1,2]", 400},
             Case{kHolds, R"({"reason":7})", 400},
             Case{kHolds, R"({"reason":"x","hold_id":["a"]})", 400},
             Case{kHolds, R"({"reason":"x","tenant_id":1})", 400},
             Case{kHolds, R"({"reason":"x","color":"red"})", 400},
             Case{kHolds, R"({"reason":""})", 422},
             Case{kHolds, R"({})", 422},
             Case{kRelease, "{not json", 400},
             Case{kRelease, R"({"hold_id":5})", 400},
             Case{kRelease, R"({"reason":false})", 400},
             Case{kRelease, R"({"by":"carol"})", 400},
         }) {
      HttpResult r = c.Send("POST", k.path, k.body, key);
      CHECK_MESSAGE(r.status == k.status, k.path << " " << k.body << " -> " << r.body);
      CHECK(!ErrorCode(r).empty());
    }
    // Too long a reason or id: the engine's 422.
    HttpResult r = c.Send("POST", kHolds, json{{"reason", std::string(1001, 'r')}}.dump(), key);
    CHECK(r.status == 422);
    r = c.Send("POST", kHolds, json{{"reason", "x"}, {"hold_id", std::string(129, 'i')}}.dump(),
               key);
    CHECK(r.status == 422);
    // A bad tenant name in the query or body.
    r = c.Send("GET", Q(kCheck, "bad%20tenant"), "", Auth(f.admin));
    CHECK(r.status == 400);
    r = c.Send("POST", kHolds, R"({"tenant_id":"bad tenant","reason":"x"})", Auth(f.admin));
    CHECK(r.status == 400);
    CHECK(f.engine->log().LastLsn() == lsn);
  }
}
