// HITL checkpoint routes over real HTTP: the seed's flows, every error, roles
// and tenants.

#include <doctest/doctest.h>

#include "tests/api/domain_fixture.h"

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;

namespace {

constexpr int64_t kStart = 1790000000000000;
constexpr char kId[] = "5d0c5a1e-8d4f-4d3a-9b1e-2f6a7c8d9e0f";
constexpr char kCreate[] = "/api/v1/copilot/hitl/checkpoints";
constexpr char kValidate[] = "/api/v1/copilot/validation-response";

std::string Checkpoint(const std::string& id, const std::string& role = "Operator",
                       const std::string& extra = "") {
  return R"({"checkpoint_id":")" + id + R"(","prompt":"Approve sources?","required_role":")" +
         role + R"(","source_ids":["source-1","source-2"],"dag_run_id":"run-1")" + extra + "}";
}

std::string Approval(const std::string& id, const std::string& sources) {
  return R"({"checkpoint_id":")" + id + R"(","approved_source_ids":)" + sources + "}";
}

}  // namespace

TEST_SUITE("api/hitl") {
  TEST_CASE("SeedCurlExampleApprovesACheckpoint") {
    DomainFixture f(kStart);
    HttpClient c(f.port());
    HttpResult r = c.Send("POST", kCreate, Checkpoint(kId), Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    json j = Body(r);
    CHECK(j["status"] == "pending");
    CHECK(j["tenant_id"] == "acme");
    CHECK(j["expires_in_seconds"] == 72 * 3600);

    // As in seed 000: Content-Type, X-Tenant-ID and the body, plus a bearer key.
    r = c.Send(
        "POST", kValidate,
        R"({"checkpoint_id":")" + std::string(kId) + R"(","approved_source_ids":["source-1"]})",
        {{"Authorization", "Bearer " + f.acme_op},
         {"Content-Type", "application/json"},
         {"X-Tenant-ID", "acme"}});
    REQUIRE_MESSAGE(r.status == 200, r.body);
    j = Body(r);
    CHECK(j["status"] == "approved");
    CHECK(j["approved_source_ids"] == json::array({"source-1"}));
    CHECK(j["decided_role"] == "operator");
    CHECK(j["deduplicated"] == false);

    // The same approval again: 200, the original, nothing new.
    r = c.Send("POST", kValidate, Approval(kId, R"(["source-1"])"), Auth(f.acme_op, "acme"));
    REQUIRE(r.status == 200);
    CHECK(Body(r)["deduplicated"] == true);
    CHECK(Body(r)["decided_at"] == j["decided_at"]);
    // A different approval of the approved checkpoint: 409.
    r = c.Send("POST", kValidate, Approval(kId, R"(["source-2"])"), Auth(f.acme_op, "acme"));
    CHECK(r.status == 409);
    CHECK(ErrorCode(r) == "checkpoint_approved");

    r = c.Send("GET", std::string(kCreate) + "/" + kId, "", Auth(f.acme_viewer, "acme"));
    REQUIRE(r.status == 200);
    CHECK(Body(r)["status"] == "approved");
    CHECK(Body(r)["decided_by"] == j["decided_by"]);
  }

  TEST_CASE("CreateErrors") {
    DomainFixture f(kStart);
    HttpClient c(f.port());
    CHECK(c.Send("POST", kCreate, "{nope", Auth(f.acme_op)).status == 400);
    HttpResult r =
        c.Send("POST", kCreate, Checkpoint("a", "Operator", R"(,"color":"red")"), Auth(f.acme_op));
    CHECK(r.status == 400);
    CHECK(ErrorCode(r) == "bad_request");
    CHECK(c.Send("POST", kCreate, R"({"source_ids":"s1"})", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("POST", kCreate, R"({"expires_at":"tomorrow"})", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("POST", kCreate, R"({"ttl_seconds":60,"expires_at_us":1})", Auth(f.acme_op))
              .status == 400);
    r = c.Send("POST", kCreate, Checkpoint("a", "Boss"), Auth(f.acme_op));
    CHECK(r.status == 422);
    CHECK(ErrorCode(r) == "invalid_argument");
    r = c.Send("POST", kCreate, R"({"expires_at":"2020-01-01T00:00:00Z"})", Auth(f.acme_op));
    CHECK(r.status == 422);
    // Roles and keys: a viewer cannot create; no key is 401.
    CHECK(c.Send("POST", kCreate, Checkpoint("a"), Auth(f.acme_viewer)).status == 403);
    CHECK(c.Send("POST", kCreate, Checkpoint("a"), {}).status == 401);
    // A tenant key cannot create for another tenant.
    r = c.Send("POST", kCreate, R"({"tenant_id":"globex"})", Auth(f.acme_op));
    CHECK(r.status == 403);
    // The same create twice is idempotent; a different one with the same id is 409.
    REQUIRE(c.Send("POST", kCreate, Checkpoint("a"), Auth(f.acme_op)).status == 201);
    r = c.Send("POST", kCreate, Checkpoint("a"), Auth(f.acme_op));
    CHECK(r.status == 200);
    CHECK(Body(r)["deduplicated"] == true);
    r = c.Send("POST", kCreate, Checkpoint("a", "Admin"), Auth(f.acme_op));
    CHECK(r.status == 409);
    CHECK(ErrorCode(r) == "checkpoint_exists");
    // Without an id one is generated; ttl_seconds sets the deadline.
    r = c.Send("POST", kCreate, R"({"prompt":"x","ttl_seconds":60})", Auth(f.acme_op));
    REQUIRE(r.status == 201);
    CHECK(Body(r)["checkpoint_id"].get<std::string>().size() == 36);
    CHECK(Body(r)["expires_in_seconds"] == 60);
  }

  TEST_CASE("ApprovalAndRejectionErrors") {
    DomainFixture f(kStart);
    HttpClient c(f.port());
    REQUIRE(c.Send("POST", kCreate, Checkpoint("cp"), Auth(f.acme_op)).status == 201);
    // Approved ids must be a subset of the candidates.
    HttpResult r =
        c.Send("POST", kValidate, Approval("cp", R"(["source-1","source-3"])"), Auth(f.acme_op));
    CHECK(r.status == 422);
    CHECK(ErrorCode(r) == "invalid_argument");
    // Malformed bodies.
    CHECK(c.Send("POST", kValidate, R"({"checkpoint_id":"cp"})", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("POST", kValidate, R"({"approved_source_ids":[]})", Auth(f.acme_op)).status ==
          400);
    CHECK(c.Send("POST", kValidate, Approval("cp", R"([1])"), Auth(f.acme_op)).status == 400);
    CHECK(c.Send("POST", kValidate, R"({"checkpoint_id":"cp","approved_source_ids":[],"data":[1]})",
                 Auth(f.acme_op))
              .status == 400);
    // Unknown id.
    r = c.Send("POST", kValidate, Approval("nope", "[]"), Auth(f.acme_op));
    CHECK(r.status == 404);
    CHECK(ErrorCode(r) == "not_found");
    // The role must reach the checkpoint's required role.
    r = c.Send("POST", kValidate, Approval("cp", "[]"), Auth(f.acme_viewer));
    CHECK(r.status == 403);
    CHECK(ErrorCode(r) == "forbidden");
    CHECK(c.Send("POST", kValidate, Approval("cp", "[]"), Auth(f.acme_auditor)).status == 403);
    REQUIRE(c.Send("POST", kCreate, Checkpoint("adm", "Admin"), Auth(f.acme_op)).status == 201);
    CHECK(c.Send("POST", kValidate, Approval("adm", "[]"), Auth(f.acme_op)).status == 403);
    CHECK(
        c.Send("POST", kValidate, Approval("adm", R"(["source-2"])"), Auth(f.acme_admin)).status ==
        200);

    // Rejection needs a reason; then approval is 409 checkpoint_rejected.
    CHECK(c.Send("POST", std::string(kCreate) + "/cp/reject", "{}", Auth(f.acme_op)).status == 400);
    r = c.Send("POST", std::string(kCreate) + "/cp/reject",
               R"({"reason":"Budget concerns","by":"manager"})", Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(Body(r)["status"] == "rejected");
    CHECK(Body(r)["reason"] == "Budget concerns");
    CHECK(Body(r)["decided_by"] == "manager");
    r = c.Send("POST", kValidate, Approval("cp", R"(["source-1"])"), Auth(f.acme_op));
    CHECK(r.status == 409);
    CHECK(ErrorCode(r) == "checkpoint_rejected");
    CHECK(Body(r)["error"]["status"] == "rejected");
    // The same rejection again is idempotent.
    r = c.Send("POST", std::string(kCreate) + "/cp/reject",
               R"({"reason":"Budget concerns","by":"manager"})", Auth(f.acme_op));
    CHECK(r.status == 200);
    CHECK(Body(r)["deduplicated"] == true);
    // The approve route with the id in the path.
    REQUIRE(c.Send("POST", kCreate, Checkpoint("p2"), Auth(f.acme_op)).status == 201);
    CHECK(c.Send("POST", std::string(kCreate) + "/p2/approve", R"({"checkpoint_id":"other"})",
                 Auth(f.acme_op))
              .status == 400);
    r = c.Send("POST", std::string(kCreate) + "/p2/approve", R"({"data":{"signoff_text":"ok"}})",
               Auth(f.acme_op));
    REQUIRE(r.status == 200);
    CHECK(Body(r)["data"]["signoff_text"] == "ok");
    CHECK(Body(r)["approved_source_ids"] == json::array());
  }

  TEST_CASE("ExpiredCheckpointsAnswer409AndShowNoTimeLeft") {
    DomainFixture f(kStart);
    HttpClient c(f.port());
    REQUIRE(c.Send("POST", kCreate, Checkpoint("cp", "Operator", R"(,"ttl_seconds":3600)"),
                   Auth(f.acme_op))
                .status == 201);
    f.now->store(kStart + 1800LL * 1000000);
    HttpResult r = c.Send("GET", std::string(kCreate) + "/cp", "", Auth(f.acme_op));
    CHECK(Body(r)["expires_in_seconds"] == 1800);
    f.now->store(kStart + 3600LL * 1000000);
    r = c.Send("POST", kValidate, Approval("cp", R"(["source-1"])"), Auth(f.acme_op));
    CHECK(r.status == 409);
    CHECK(ErrorCode(r) == "checkpoint_expired");
    r = c.Send("GET", std::string(kCreate) + "/cp", "", Auth(f.acme_op));
    CHECK(Body(r)["status"] == "expired");
    CHECK(Body(r)["expires_in_seconds"].is_null());
  }

  TEST_CASE("TenantEnforcementBothWays") {
    DomainFixture f(kStart);
    HttpClient c(f.port());
    REQUIRE(c.Send("POST", kCreate, Checkpoint("a1"), Auth(f.acme_op)).status == 201);
    REQUIRE(c.Send("POST", kCreate, Checkpoint("g1"), Auth(f.globex_op)).status == 201);
    // Each tenant's checkpoints are 404 to the other, exactly like missing ones.
    for (const auto& [key, other] :
         {std::pair{f.acme_op, std::string("g1")}, std::pair{f.globex_op, std::string("a1")}}) {
      HttpResult get = c.Send("GET", std::string(kCreate) + "/" + other, "", Auth(key));
      HttpResult missing = c.Send("GET", std::string(kCreate) + "/zzz", "", Auth(key));
      CHECK(get.status == 404);
      CHECK(missing.status == 404);
      CHECK(c.Send("POST", kValidate, Approval(other, "[]"), Auth(key)).status == 404);
      CHECK(c.Send("POST", std::string(kCreate) + "/" + other + "/reject", R"({"reason":"x"})",
                   Auth(key))
                .status == 404);
    }
    // X-Tenant-ID must match a tenant key (403, as everywhere).
    CHECK(c.Send("GET", std::string(kCreate) + "/a1", "", Auth(f.acme_op, "globex")).status == 403);
    // An all-tenant key must name the checkpoint's tenant, and the right one.
    HttpResult r = c.Send("POST", kValidate, Approval("a1", "[]"), Auth(f.admin));
    CHECK(r.status == 400);
    CHECK(ErrorCode(r) == "tenant_required");
    CHECK(c.Send("GET", std::string(kCreate) + "/a1", "", Auth(f.admin, "globex")).status == 404);
    CHECK(c.Send("POST", kValidate, Approval("a1", "[]"), Auth(f.admin, "acme")).status == 200);
    // A checkpoint without a tenant: X-Tenant-ID is optional for all-tenant keys;
    // tenant keys do not see it.
    REQUIRE(c.Send("POST", kCreate, Checkpoint("sys"), Auth(f.admin)).status == 201);
    CHECK(c.Send("GET", std::string(kCreate) + "/sys", "", Auth(f.admin)).status == 200);
    CHECK(c.Send("GET", std::string(kCreate) + "/sys", "", Auth(f.admin, "acme")).status == 200);
    CHECK(c.Send("GET", std::string(kCreate) + "/sys", "", Auth(f.acme_op)).status == 404);
    // Lists need a tenant and show only that tenant's.
    r = c.Send("GET", kCreate, "", Auth(f.admin));
    CHECK(r.status == 400);
    CHECK(ErrorCode(r) == "tenant_required");
    r = c.Send("GET", std::string(kCreate) + "?limit=20", "", Auth(f.acme_viewer, "acme"));
    REQUIRE(r.status == 200);
    REQUIRE(Body(r)["checkpoints"].size() == 1);
    CHECK(Body(r)["checkpoints"][0]["checkpoint_id"] == "a1");
    r = c.Send("GET", kCreate, "", Auth(f.admin, "globex"));
    REQUIRE(Body(r)["checkpoints"].size() == 1);
    CHECK(Body(r)["checkpoints"][0]["checkpoint_id"] == "g1");
  }

  TEST_CASE("ListFiltersByStatusNewestFirst") {
    DomainFixture f(kStart);
    HttpClient c(f.port());
    for (int i = 0; i < 5; ++i) {
      f.now->store(kStart + i);
      REQUIRE(
          c.Send("POST", kCreate, Checkpoint("c" + std::to_string(i)), Auth(f.acme_op)).status ==
          201);
    }
    REQUIRE(c.Send("POST", kValidate, Approval("c1", "[]"), Auth(f.acme_op)).status == 200);
    HttpResult r =
        c.Send("GET", std::string(kCreate) + "?status=pending&limit=3", "", Auth(f.acme_viewer));
    REQUIRE(r.status == 200);
    json j = Body(r);
    REQUIRE(j["checkpoints"].size() == 3);
    CHECK(j["checkpoints"][0]["checkpoint_id"] == "c4");
    CHECK(j["checkpoints"][2]["checkpoint_id"] == "c2");
    r = c.Send("GET", std::string(kCreate) + "?status=approved", "", Auth(f.acme_viewer));
    REQUIRE(Body(r)["checkpoints"].size() == 1);
    CHECK(Body(r)["checkpoints"][0]["checkpoint_id"] == "c1");
    CHECK(Body(r)["checkpoints"][0]["decided_at"].is_string());
    CHECK(c.Send("GET", std::string(kCreate) + "?status=open", "", Auth(f.acme_viewer)).status ==
          400);
    CHECK(c.Send("GET", std::string(kCreate) + "?limit=0", "", Auth(f.acme_viewer)).status == 400);
    CHECK(c.Send("GET", std::string(kCreate) + "?limit=x", "", Auth(f.acme_viewer)).status == 400);
    CHECK(c.Send("GET", std::string(kCreate) + "?min_lsn=999999", "", Auth(f.acme_viewer)).status ==
          400);
    // Unknown methods on known paths: 405.
    CHECK(c.Send("DELETE", std::string(kCreate) + "/c1", "", Auth(f.acme_op)).status == 405);
  }

  TEST_CASE("AuditTrailIsAQuery") {
    DomainFixture f(kStart);
    HttpClient c(f.port());
    REQUIRE(c.Send("POST", kCreate, Checkpoint("a"), Auth(f.acme_op)).status == 201);
    REQUIRE(c.Send("POST", kCreate, Checkpoint("b"), Auth(f.acme_op)).status == 201);
    REQUIRE(c.Send("POST", kCreate, Checkpoint("g"), Auth(f.globex_op)).status == 201);
    REQUIRE(c.Send("POST", kValidate, Approval("a", R"(["source-2"])"), Auth(f.acme_op)).status ==
            200);
    REQUIRE(
        c.Send("POST", std::string(kCreate) + "/b/reject", R"({"reason":"no"})", Auth(f.acme_admin))
            .status == 200);
    HttpResult r = c.Send("GET", "/api/v1/copilot/hitl/audit", "", Auth(f.acme_auditor));
    REQUIRE(r.status == 200);
    json e = Body(r)["entries"];
    REQUIRE(e.size() == 4);  // acme's only
    CHECK(e[2]["action"] == "approved");
    CHECK(e[2]["checkpoint_id"] == "a");
    CHECK(e[2]["approved_source_ids"] == json::array({"source-2"}));
    CHECK(e[3]["action"] == "rejected");
    CHECK(e[3]["role"] == "admin");
    CHECK(e[3]["reason"] == "no");
    r = c.Send("GET", "/api/v1/copilot/hitl/audit?limit=2", "", Auth(f.admin));
    CHECK(Body(r)["entries"].size() == 2);
    CHECK(c.Send("GET", "/api/v1/copilot/hitl/audit?since=yesterday", "", Auth(f.admin)).status ==
          400);
    r = c.Send("GET", "/api/v1/copilot/hitl/audit?until=1", "", Auth(f.admin));
    CHECK(Body(r)["entries"].empty());
  }
}
