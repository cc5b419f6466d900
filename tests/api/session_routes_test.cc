// The session routes over real HTTP: turns, snapshots, restore, recap,
// export/import, WAL list and repair; roles and tenant isolation.

#include "api/session_routes.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "api/keys.h"
#include "api/server.h"
#include "tests/api/http_client.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;

namespace {

struct Fixture {
  TempDir dir;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<api::KeyStore> keys;
  std::unique_ptr<api::Server> server;
  std::string admin, acme_admin, globex_admin, acme_op, globex_op, acme_viewer;

  Fixture() {
    EngineOptions eo;
    eo.data_dir = dir.Sub("data");
    eo.sessions.bundle_max_bytes = 256 << 10;
    engine = std::move(Engine::Open(eo).value());
    keys = api::KeyStore::CreateEmpty(dir.Sub("keys.json"));
    admin = keys->Create("*", Role::kAdmin, "admin").value();
    acme_admin = keys->Create("acme", Role::kAdmin, "acme admin").value();
    globex_admin = keys->Create("globex", Role::kAdmin, "globex admin").value();
    acme_op = keys->Create("acme", Role::kOperator, "acme op").value();
    globex_op = keys->Create("globex", Role::kOperator, "globex op").value();
    acme_viewer = keys->Create("acme", Role::kViewer, "acme viewer").value();
    api::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    server = std::make_unique<api::Server>(*engine, *keys, o);
    api::AddSessionRoutes(server->router(), *engine);
    REQUIRE(server->Start().ok());
  }
  ~Fixture() {
    server->Shutdown();
    server->Wait();
  }
};

std::map<std::string, std::string> Auth(const std::string& key, const std::string& tenant = "") {
  std::map<std::string, std::string> h = {{"Authorization", "Bearer " + key}};
  if (!tenant.empty()) h["X-Tenant-ID"] = tenant;
  return h;
}

std::string Code(const HttpResult& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("error")) return "<no error: " + r.body + ">";
  return j["error"]["code"];
}

const std::string kAdminBase = "/api/admin/awf/sessions/";

}  // namespace

TEST_SUITE("api/sessions") {
  TEST_CASE("TurnsSnapshotsRestoreAndRecapOverHttp") {
    Fixture f;
    HttpClient c(f.server->port());
    HttpResult r = c.Send("POST", "/v1/sessions",
                          R"({"session_id":"s1","user":"u-1","kind":"awf","metadata":{"a":1}})",
                          Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    CHECK(json::parse(r.body)["tenant"] == "acme");
    r = c.Send("POST", "/v1/sessions", R"({"session_id":"s1"})", Auth(f.acme_op));
    CHECK(r.status == 409);

    r = c.Send(
        "POST", "/v1/sessions/s1/turns",
        R"({"turn_id":"t1","awf_raw":{"txt":"The door opens."},"acts":[{"op":"add","path":"/door","value":"open"}]})",
        Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    CHECK(json::parse(r.body)["status"] == "applied");
    r = c.Send("POST", "/v1/sessions/s1/turns", R"({"turn_id":"t1","acts":[]})", Auth(f.acme_op));
    CHECK(r.status == 409);
    CHECK(Code(r) == "conflict");
    r = c.Send("POST", "/v1/sessions/s1/turns",
               R"({"turn_id":"t2","acts":[{"op":"remove","path":"/window"}]})", Auth(f.acme_op));
    REQUIRE(r.status == 201);
    CHECK(json::parse(r.body)["status"] == "rolled_back");

    r = c.Send("GET", "/v1/sessions/s1", "", Auth(f.acme_viewer));
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["state"] == json{{"door", "open"}});

    // Snapshots: admins only; the same state twice is the same snapshot.
    r = c.Send("POST", kAdminBase + "s1/snapshots", R"({"label":"door open"})", Auth(f.acme_op));
    CHECK(r.status == 403);
    r = c.Send("POST", kAdminBase + "s1/snapshots", R"({"label":"door open"})", Auth(f.acme_admin));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    const std::string snap = json::parse(r.body)["snapshot"]["snapshot_id"];
    r = c.Send("POST", kAdminBase + "s1/snapshots", "", Auth(f.admin));
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["created"] == false);
    CHECK(json::parse(r.body)["snapshot"]["snapshot_id"] == snap);

    r = c.Send("POST", "/v1/sessions/s1/turns",
               R"({"turn_id":"t3","acts":[{"op":"replace","path":"/door","value":"shut"}]})",
               Auth(f.acme_op));
    REQUIRE(r.status == 201);
    r = c.Send("GET", kAdminBase + "s1/snapshots", "", Auth(f.admin));
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["snapshots"].size() == 1);

    r = c.Send("POST", kAdminBase + "s1/restore/" + snap, "", Auth(f.admin));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(json::parse(r.body)["view"]["state"] == json{{"door", "open"}});
    r = c.Send("GET", "/v1/sessions/s1", "", Auth(f.acme_viewer));
    CHECK(json::parse(r.body)["state"] == json{{"door", "open"}});
    r = c.Send("POST", kAdminBase + "s1/restore/nope", "", Auth(f.admin));
    CHECK(r.status == 404);

    r = c.Send("GET", kAdminBase + "s1/recap?lastTurns=1", "", Auth(f.admin));
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["recap"] ==
          "Session s1 (awf) is active after 1 turn. Turn t1: The door opens.");
    r = c.Send("GET", kAdminBase + "s1/recap?lastTurns=x", "", Auth(f.admin));
    CHECK(r.status == 400);

    r = c.Send("GET", kAdminBase + "s1/wal", "", Auth(f.admin));
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["entries"].size() == 3);

    r = c.Send("DELETE", kAdminBase + "s1/snapshots/" + snap, "", Auth(f.admin));
    CHECK(r.status == 200);
    r = c.Send("GET", kAdminBase + "s1/snapshots", "", Auth(f.admin));
    CHECK(json::parse(r.body)["snapshots"].empty());
  }

  TEST_CASE("AnotherTenantsSessionIsNotFoundEverywhere") {
    Fixture f;
    HttpClient c(f.server->port());
    REQUIRE(c.Send("POST", "/v1/sessions", R"({"session_id":"s1"})", Auth(f.acme_op)).status ==
            201);
    // Without a tenant an all-tenant key cannot start a session.
    CHECK(c.Send("POST", "/v1/sessions", R"({"session_id":"s2"})", Auth(f.admin)).status == 400);
    CHECK(c.Send("GET", "/v1/sessions/s1", "", Auth(f.globex_op)).status == 404);
    CHECK(c.Send("POST", "/v1/sessions/s1/turns", R"({"acts":[]})", Auth(f.globex_op)).status ==
          404);
    for (const auto& [method, path] :
         std::vector<std::pair<std::string, std::string>>{{"POST", "s1/snapshots"},
                                                          {"GET", "s1/snapshots"},
                                                          {"POST", "s1/restore/x"},
                                                          {"GET", "s1/recap"},
                                                          {"GET", "s1/export"},
                                                          {"GET", "s1/wal"}}) {
      CAPTURE(path);
      HttpResult r = c.Send(method, kAdminBase + path, "", Auth(f.globex_admin));
      CHECK(r.status == 404);
      CHECK(Code(r) == "not_found");
      // An all-tenant admin that selected the other tenant sees nothing either.
      CHECK(c.Send(method, kAdminBase + path, "", Auth(f.admin, "globex")).status == 404);
    }
    CHECK(c.Send("GET", kAdminBase + "nope/recap", "", Auth(f.admin)).status == 404);
  }

  TEST_CASE("BadRequestsGetTheRightStatus") {
    Fixture f;
    HttpClient c(f.server->port());
    REQUIRE(c.Send("POST", "/v1/sessions", R"({"session_id":"s1"})", Auth(f.acme_op)).status ==
            201);
    CHECK(c.Send("POST", "/v1/sessions", "{bad", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("POST", "/v1/sessions", R"({"ttl_seconds":-1})", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("POST", "/v1/sessions", R"({"colour":"red"})", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("POST", "/v1/sessions", R"({"session_id":"a b"})", Auth(f.acme_op)).status == 422);
    CHECK(c.Send("POST", "/v1/sessions/s1/turns", R"({"acts":{}})", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("POST", "/v1/sessions/s1/turns", R"({"acts":[1]})", Auth(f.acme_op)).status ==
          422);
    CHECK(c.Send("POST", "/v1/sessions/s1/turns", R"({"acts":[]})", Auth(f.acme_viewer)).status ==
          403);
    CHECK(c.Send("POST", "/v1/sessions/s1/turns", R"({"acts":[]})",
                 {{"Authorization", "Bearer " + f.acme_op}, {"Content-Type", "text/plain"}})
              .status == 415);
    CHECK(c.Send("GET", "/v1/sessions/s1", "").status == 401);
    CHECK(c.Send("GET", kAdminBase + "s1/export?redact=maybe", "", Auth(f.admin)).status == 400);
    CHECK(c.Send("GET", kAdminBase + "s1/export?strategy=shred", "", Auth(f.admin)).status == 400);
  }

  TEST_CASE("ExportImportAndRejectedBundlesOverHttp") {
    Fixture f;
    HttpClient c(f.server->port());
    REQUIRE(c.Send("POST", "/v1/sessions", R"({"session_id":"s1","user":"ada@example.com"})",
                   Auth(f.acme_op))
                .status == 201);
    REQUIRE(
        c.Send(
             "POST", "/v1/sessions/s1/turns",
             R"({"turn_id":"t1","awf_raw":{"txt":"mail ada@example.com"},"acts":[{"op":"add","path":"/ip","value":"10.0.0.1"}]})",
             Auth(f.acme_op))
            .status == 201);
    HttpResult r = c.Send("GET", kAdminBase + "s1/export", "", Auth(f.acme_admin));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(r.headers["Content-Type"] == "application/x-ndjson");
    const std::string bundle = r.body;
    CHECK(bundle.find("ada@example.com") == std::string::npos);
    CHECK(bundle.find("10.0.0.1") == std::string::npos);

    std::map<std::string, std::string> h = Auth(f.globex_admin);
    h["Content-Type"] = "application/x-ndjson";
    r = c.Send("POST", kAdminBase + "import?preserveTurnId=true", bundle, h);
    REQUIRE_MESSAGE(r.status == 201, r.body);
    json sum = json::parse(r.body);
    CHECK(sum["tenant"] == "globex");  // a tenant key imports into its own tenant
    CHECK(sum["source_session_id"] == "s1");
    const std::string sandbox = sum["session_id"];
    r = c.Send("GET", "/v1/sessions/" + sandbox, "", Auth(f.globex_op));
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["state"] == json{{"ip", "[REDACTED:IPV4]"}});
    CHECK(json::parse(r.body)["turns"][0]["turn_id"] == "t1");
    CHECK(json::parse(r.body)["header"]["sandbox"] == true);
    CHECK(c.Send("GET", "/v1/sessions/" + sandbox, "", Auth(f.acme_op)).status == 404);

    const uint64_t lsn = f.engine->log().LastLsn();
    std::string bad = bundle;
    bad[bad.find("[REDACTED:EMAIL]") + 3] = 'X';
    r = c.Send("POST", kAdminBase + "import", bad, h);
    CHECK(r.status == 422);
    CHECK(Code(r) == "bundle_rejected");
    CHECK(json::parse(r.body)["error"]["message"].get<std::string>().find("hash mismatch") !=
          std::string::npos);
    r = c.Send("POST", kAdminBase + "import", bundle.substr(0, bundle.size() - 10), h);
    CHECK(r.status == 422);
    CHECK(f.engine->log().LastLsn() == lsn);

    // Over the engine's bundle limit (256 KiB here): 413, on export and on import.
    const std::string big(300 << 10, 'x');
    REQUIRE(
        c.Send(
             "POST", "/v1/sessions/s1/turns",
             json{{"turn_id", "big"}, {"acts", json::array()}, {"awf_raw", {{"txt", big}}}}.dump(),
             Auth(f.acme_op))
            .status == 201);
    r = c.Send("GET", kAdminBase + "s1/export", "", Auth(f.admin));
    CHECK(r.status == 413);
    CHECK(Code(r) == "payload_too_large");
    r = c.Send("POST", kAdminBase + "import", bundle + std::string(300 << 10, '\n'), h);
    CHECK(r.status == 413);
  }

  TEST_CASE("WalRepairSettlesPendingTurnsOfVisibleTenantsOnly") {
    Fixture f;
    HttpClient c(f.server->port());
    REQUIRE(c.Send("POST", "/v1/sessions", R"({"session_id":"a"})", Auth(f.acme_op)).status == 201);
    REQUIRE(c.Send("POST", "/v1/sessions", R"({"session_id":"g"})", Auth(f.globex_op)).status ==
            201);
    const Actor op{"writer", Role::kOperator};
    REQUIRE(f.engine->sessions()
                .ProposeOnly(op, {"a", "ta", "", R"([{"op":"add","path":"/x","value":1}])"})
                .ok());
    REQUIRE(f.engine->sessions().ProposeOnly(op, {"g", "tg", "", "[]"}).ok());

    HttpResult r = c.Send("GET", kAdminBase + "a/wal?pending=true", "", Auth(f.acme_admin));
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["pending"] == 1);
    r = c.Send("GET", "/api/admin/awf/wal/repair", "", Auth(f.acme_admin));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    json j = json::parse(r.body);
    CHECK(j["reconciled"] == 1);
    CHECK(j["turns"][0]["turn_id"] == "ta");
    CHECK(j["turns"][0]["status"] == "applied");
    CHECK(j["turns"][0]["reconciled"] == true);
    // Again: nothing left for acme; globex's turn still waits for its admin.
    r = c.Send("GET", "/api/admin/awf/wal/repair", "", Auth(f.acme_admin));
    CHECK(json::parse(r.body)["reconciled"] == 0);
    r = c.Send("GET", "/api/admin/awf/wal/repair", "", Auth(f.admin));
    CHECK(json::parse(r.body)["reconciled"] == 1);
    CHECK(c.Send("GET", "/api/admin/awf/wal/repair", "", Auth(f.acme_op)).status == 403);
  }
}
