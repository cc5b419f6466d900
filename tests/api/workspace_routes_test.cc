// Integration tests of the workspace and opt-out routes: the real server on
// an ephemeral port over a real RocksDB in a temp directory, with the
// services' clock injected so that expiry is tested without waiting.

#include "api/workspace_routes.h"

#include <doctest/doctest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <set>

#include "api/keys.h"
#include "api/optout_routes.h"
#include "api/server.h"
#include "tests/api/http_client.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;

namespace {

constexpr int64_t kSecond = 1000000;

struct Fixture {
  TempDir dir;
  std::shared_ptr<std::atomic<int64_t>> now =
      std::make_shared<std::atomic<int64_t>>(int64_t{1800000000} * kSecond);
  std::unique_ptr<Engine> engine;
  std::unique_ptr<api::KeyStore> keys;
  std::unique_ptr<ShareSecrets> secrets;
  std::unique_ptr<WorkspaceService> ws;
  std::unique_ptr<OptOutService> optouts;
  std::unique_ptr<api::Server> server;
  std::string admin, acme_admin, acme_op, acme_viewer, acme_compliance, globex_op;

  explicit Fixture(size_t max_content = 1024) {
    EngineOptions eo;
    eo.data_dir = dir.Sub("data");
    engine = std::move(Engine::Open(eo).value());
    keys = api::KeyStore::CreateEmpty(dir.Sub("keys.json"));
    admin = keys->Create("*", Role::kAdmin, "admin").value();
    acme_admin = keys->Create("acme", Role::kAdmin, "acme admin").value();
    acme_op = keys->Create("acme", Role::kOperator, "acme op").value();
    acme_viewer = keys->Create("acme", Role::kViewer, "acme viewer").value();
    acme_compliance = keys->Create("acme", Role::kCompliance, "acme compliance").value();
    globex_op = keys->Create("globex", Role::kOperator, "globex op").value();
    secrets = std::move(ShareSecrets::OpenOrCreate(dir.Sub("share_secret.json"), *now).value());
    auto clock = now;
    WorkspaceOptions wo;
    wo.max_content_bytes = max_content;
    wo.clock = [clock] { return clock->load(); };
    ws = std::make_unique<WorkspaceService>(*engine, secrets.get(), wo);
    OptOutOptions oo;
    oo.clock = wo.clock;
    optouts = std::make_unique<OptOutService>(*engine, oo);
    api::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    server = std::make_unique<api::Server>(*engine, *keys, o);
    api::AddWorkspaceRoutes(server->router(), {engine.get(), ws.get()});
    api::AddOptOutRoutes(server->router(), {engine.get(), optouts.get()});
    REQUIRE(server->Start().ok());
  }
  ~Fixture() {
    server->Shutdown();
    server->Wait();
  }
  uint16_t port() const { return server->port(); }
};

std::map<std::string, std::string> Auth(const std::string& key, const std::string& tenant = "") {
  std::map<std::string, std::string> h = {{"Authorization", "Bearer " + key}};
  if (!tenant.empty()) h["X-Tenant-ID"] = tenant;
  return h;
}

std::string Code(const HttpResult& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("error")) return "<no error body: " + r.body + ">";
  return j["error"]["code"].get<std::string>();
}

const std::string kItems = "/api/v1/workspace/users/alice/items";

}  // namespace

TEST_SUITE("api/workspace") {
  TEST_CASE("SaveLoadVersionsAndDeleteOverHttp") {
    Fixture f;
    HttpClient c(f.port());
    HttpResult r =
        c.Send("PUT", kItems + "/plan", R"({"title":"Plan","content":"draft"})", Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    CHECK(json::parse(r.body)["version"] == 1);
    r = c.Send("PUT", kItems + "/plan",
               R"({"title":"Plan v2","kind":"report","content":{"steps":[1,2]}})", Auth(f.acme_op));
    REQUIRE(r.status == 201);
    CHECK(json::parse(r.body)["version"] == 2);

    r = c.Send("GET", kItems + "/plan", "", Auth(f.acme_viewer));
    REQUIRE(r.status == 200);
    json item = json::parse(r.body);
    CHECK(item["version"] == 2);
    CHECK(item["title"] == "Plan v2");
    CHECK(item["kind"] == "report");
    CHECK(item["content"] == json{{"steps", {1, 2}}});
    r = c.Send("GET", kItems + "/plan/versions/1", "", Auth(f.acme_viewer));
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["content"] == "draft");
    CHECK(c.Send("GET", kItems + "/plan/versions/9", "", Auth(f.acme_viewer)).status == 404);
    CHECK(c.Send("GET", kItems + "/plan/versions/x", "", Auth(f.acme_viewer)).status == 400);
    r = c.Send("GET", kItems + "/plan/versions", "", Auth(f.acme_viewer));
    CHECK(json::parse(r.body)["versions"].size() == 2);

    // Lost-update protection: the version the client last saw.
    r = c.Send("PUT", kItems + "/plan", R"({"content":"x","expected_version":1})", Auth(f.acme_op));
    CHECK(r.status == 409);
    CHECK(json::parse(r.body)["error"]["actual_version"] == 2);

    // A generated id.
    r = c.Send("POST", kItems, R"({"content":"quick note"})", Auth(f.acme_op));
    REQUIRE(r.status == 201);
    const std::string id = json::parse(r.body)["item_id"];
    CHECK(id.size() == 32);
    r = c.Send("GET", kItems, "", Auth(f.acme_viewer));
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["items"].size() == 2);
    r = c.Send("GET", kItems + "?limit=1", "", Auth(f.acme_viewer));
    CHECK(json::parse(r.body)["items"].size() == 1);
    CHECK_FALSE(json::parse(r.body)["next_after"].is_null());

    CHECK(c.Send("DELETE", kItems + "/plan?expected_version=1", "", Auth(f.acme_op)).status == 409);
    r = c.Send("DELETE", kItems + "/plan", "", Auth(f.acme_op));
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["version"] == 3);
    CHECK(c.Send("GET", kItems + "/plan", "", Auth(f.acme_viewer)).status == 404);
    CHECK(c.Send("DELETE", kItems + "/plan", "", Auth(f.acme_op)).status == 404);
    CHECK(c.Send("GET", kItems + "/plan/versions/2", "", Auth(f.acme_viewer)).status == 200);

    // Bad input.
    CHECK(Code(c.Send("PUT", kItems + "/x", "{", Auth(f.acme_op))) == "bad_request");
    CHECK(Code(c.Send("PUT", kItems + "/x", R"({"content":"a","colour":1})", Auth(f.acme_op))) ==
          "bad_request");
    CHECK(Code(c.Send("PUT", kItems + "/x", R"({"title":"no content"})", Auth(f.acme_op))) ==
          "bad_request");
    CHECK(Code(c.Send("PUT", kItems + "/x", R"({"content":"a","title":5})", Auth(f.acme_op))) ==
          "bad_request");
    CHECK(Code(c.Send("PUT", kItems + "/bad%2Fid", R"({"content":"a"})", Auth(f.acme_op))) ==
          "invalid_argument");
    CHECK(Code(c.Send("PUT", "/api/v1/workspace/users/bad%20user/items/x", R"({"content":"a"})",
                      Auth(f.acme_op))) == "invalid_argument");
    CHECK(c.Send("PUT", kItems + "/x", R"({"content":"a"})",
                 {{"Authorization", "Bearer " + f.acme_op}, {"Content-Type", "text/plain"}})
              .status == 415);
  }

  TEST_CASE("ContentSizeLimitAtTheExactByteBoundary") {
    Fixture f(16);
    HttpClient c(f.port());
    // 16 bytes, 4 of them in two 2-byte characters: exactly the limit.
    const std::string at_limit =
        "ab\xc3\xa9\xc3\xa9"
        "cdefghijkl";
    REQUIRE(at_limit.size() == 16);
    json body = {{"content", at_limit}};
    HttpResult r = c.Send("PUT", kItems + "/n", body.dump(), Auth(f.acme_op));
    CHECK_MESSAGE(r.status == 201, r.body);
    body["content"] = at_limit + "m";
    r = c.Send("PUT", kItems + "/n", body.dump(), Auth(f.acme_op));
    CHECK(r.status == 413);
    CHECK(Code(r) == "payload_too_large");
    CHECK(json::parse(r.body)["error"]["message"] == "content is 17 bytes; the limit is 16 bytes");
    // JSON content counts as its compact text: {"k":"012345678"} is 17 bytes.
    CHECK(
        c.Send("PUT", kItems + "/j", R"({"content":{"k":"012345678"}})", Auth(f.acme_op)).status ==
        413);
    CHECK(
        c.Send("PUT", kItems + "/j", R"({"content": {"k": "0123456"}})", Auth(f.acme_op)).status ==
        201);  // {"k":"0123456"}: 15 bytes, spaces in the request do not count
    // Nothing of the refused saves was written.
    r = c.Send("GET", kItems + "/n/versions", "", Auth(f.acme_viewer));
    CHECK(json::parse(r.body)["versions"].size() == 1);
  }

  TEST_CASE("ItemsAreVisibleToTheirTenantAndUserOnly") {
    Fixture f;
    HttpClient c(f.port());
    REQUIRE(c.Send("PUT", kItems + "/n1", R"({"content":"acme secret"})", Auth(f.acme_op)).status ==
            201);
    // Another tenant: the same path is simply not there; its own n1 is another item.
    HttpResult r = c.Send("GET", kItems + "/n1", "", Auth(f.globex_op));
    CHECK(r.status == 404);
    CHECK(r.body.find("acme") == std::string::npos);
    CHECK(c.Send("GET", kItems, "", Auth(f.globex_op)).body.find("n1") == std::string::npos);
    CHECK(c.Send("PUT", kItems + "/n1", R"({"content":"globex"})", Auth(f.globex_op)).status ==
          201);
    CHECK(json::parse(c.Send("GET", kItems + "/n1", "", Auth(f.acme_op)).body)["content"] ==
          "acme secret");
    // An all-tenant key names its tenant; a tenant key cannot name another.
    CHECK(c.Send("GET", kItems + "/n1", "", Auth(f.admin)).status == 400);
    CHECK(json::parse(c.Send("GET", kItems + "/n1", "", Auth(f.admin, "globex")).body)["content"] ==
          "globex");
    CHECK(c.Send("GET", kItems + "/n1", "", Auth(f.acme_op, "globex")).status == 403);
    // Another user of the same tenant.
    CHECK(c.Send("GET", "/api/v1/workspace/users/bob/items/n1", "", Auth(f.acme_op)).status == 404);
    CHECK(
        c.Send("PUT", "/api/v1/workspace/users/bob/items/n1", R"({"content":"x"})", Auth(f.acme_op))
            .status == 422);
    // Roles: a viewer reads but does not write.
    CHECK(c.Send("PUT", kItems + "/n2", R"({"content":"x"})", Auth(f.acme_viewer)).status == 403);
    CHECK(c.Send("GET", kItems + "/n1", "").status == 401);
  }

  TEST_CASE("ShareLinksValidExpiredRevokedForgedAndOtherTenants") {
    Fixture f;
    HttpClient c(f.port());
    REQUIRE(
        c.Send("PUT", kItems + "/n1", R"({"title":"T","content":"one"})", Auth(f.acme_op)).status ==
        201);
    REQUIRE(
        c.Send("PUT", kItems + "/n1", R"({"title":"T","content":"two"})", Auth(f.acme_op)).status ==
        201);
    HttpResult r = c.Send("POST", kItems + "/n1/shares", R"({"version":1,"ttl_seconds":600})",
                          Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    json link = json::parse(r.body);
    const std::string path = link["path"];
    const std::string share_id = link["share_id"];

    // Valid: no API key, read-only, the version shared.
    r = c.Send("GET", path);
    REQUIRE(r.status == 200);
    json shared = json::parse(r.body);
    CHECK(shared["content"] == "one");
    CHECK(shared["version"] == 1);
    CHECK(shared["read_only"] == true);
    CHECK_FALSE(shared.contains("user"));
    CHECK(r.headers["Cache-Control"] == "no-store");
    CHECK(c.Send("PUT", path, R"({"content":"x"})").status == 405);

    // Every failure below answers exactly this.
    const std::string not_found =
        R"({"error":{"code":"not_found","message":"share link not found"}})";
    // Forged: a changed MAC, a changed share id, rubbish.
    std::string forged = path;
    forged.back() = forged.back() == 'A' ? 'B' : 'A';
    r = c.Send("GET", forged);
    CHECK(r.status == 404);
    CHECK(r.body == not_found);
    std::string other_id = path;
    const size_t at = other_id.rfind('/') + 1;
    other_id[at] = other_id[at] == '0' ? '1' : '0';
    CHECK(c.Send("GET", other_id).body == not_found);
    CHECK(c.Send("GET", "/api/v1/workspace/shared/not-a-token").body == not_found);

    // Another tenant can neither list nor revoke it.
    CHECK(c.Send("GET", kItems + "/n1/shares", "", Auth(f.globex_op)).status == 404);
    CHECK(
        c.Send("DELETE", "/api/v1/workspace/users/alice/shares/" + share_id, "", Auth(f.globex_op))
            .status == 404);
    CHECK(c.Send("GET", path).status == 200);

    // Expired, by the injected clock.
    f.now->fetch_add(600 * kSecond - 1);
    CHECK(c.Send("GET", path).status == 200);
    f.now->fetch_add(1);
    r = c.Send("GET", path);
    CHECK(r.status == 404);
    CHECK(r.body == not_found);
    r = c.Send("GET", kItems + "/n1/shares", "", Auth(f.acme_viewer));
    CHECK(json::parse(r.body)["shares"][0]["status"] == "expired");

    // Revoked.
    r = c.Send("POST", kItems + "/n1/shares", "{}", Auth(f.acme_op));
    REQUIRE(r.status == 201);
    json link2 = json::parse(r.body);
    CHECK(c.Send("GET", link2["path"].get<std::string>()).status == 200);
    r = c.Send("DELETE",
               "/api/v1/workspace/users/alice/shares/" + link2["share_id"].get<std::string>() +
                   "?reason=mistake",
               "", Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    r = c.Send("GET", link2["path"].get<std::string>());
    CHECK(r.status == 404);
    CHECK(r.body == not_found);
  }

  TEST_CASE("SecretRotationWithAndWithoutGraceTakesEffectAtOnce") {
    Fixture f;
    HttpClient c(f.port());
    REQUIRE(c.Send("PUT", kItems + "/n1", R"({"content":"c"})", Auth(f.acme_op)).status == 201);
    auto share = [&] {
      HttpResult r = c.Send("POST", kItems + "/n1/shares", "{}", Auth(f.acme_op));
      REQUIRE(r.status == 201);
      return json::parse(r.body)["path"].get<std::string>();
    };
    const std::string old_link = share();
    const std::string rotate = "/api/v1/workspace/share-secret/rotate";
    // Only an all-tenant admin rotates.
    CHECK(c.Send("POST", rotate, "{}", Auth(f.acme_op)).status == 403);
    CHECK(c.Send("POST", rotate, "{}", Auth(f.acme_admin)).status == 403);

    // Without grace: old links stop now, new ones work.
    HttpResult r = c.Send("POST", rotate, "{}", Auth(f.admin));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(json::parse(r.body)["previous_valid_until"].is_null());
    CHECK(c.Send("GET", old_link).status == 404);
    const std::string link2 = share();
    CHECK(c.Send("GET", link2).status == 200);
    r = c.Send("GET", kItems + "/n1/shares", "", Auth(f.acme_viewer));
    std::multiset<std::string> statuses;
    const json shares = json::parse(r.body)["shares"];
    for (const auto& s : shares) statuses.insert(s["status"].get<std::string>());
    const std::multiset<std::string> expected = {"active", "secret_rotated"};
    CHECK_MESSAGE(statuses == expected, r.body);

    // With grace: old links work until it ends.
    r = c.Send("POST", rotate, R"({"grace_seconds":120})", Auth(f.admin));
    REQUIRE(r.status == 200);
    CHECK_FALSE(json::parse(r.body)["previous_valid_until"].is_null());
    CHECK(c.Send("GET", link2).status == 200);
    const std::string link3 = share();
    f.now->fetch_add(120 * kSecond);
    CHECK(c.Send("GET", link2).status == 404);
    CHECK(c.Send("GET", link3).status == 200);

    // Each rotation is an audited event; the secret is in none of them.
    r = c.Send("GET", "/v1/streams/$system/events", "", Auth(f.admin));
    REQUIRE(r.status == 200);
    json events = json::parse(r.body)["events"];
    REQUIRE(events.size() == 2);
    CHECK(events[0]["payload"]["invalidates_links"] == true);
    CHECK(events[1]["payload"]["invalidates_links"] == false);
    CHECK(events[1]["payload"]["grace_until_us"].get<int64_t>() -
              events[1]["payload"]["rotated_at_us"].get<int64_t>() ==
          120 * kSecond);
  }

  TEST_CASE("BookmarksOfItemsAndSharedLinks") {
    Fixture f;
    HttpClient c(f.port());
    REQUIRE(c.Send("PUT", kItems + "/n1", R"({"title":"Mine","content":"c"})", Auth(f.acme_op))
                .status == 201);
    HttpResult r = c.Send("POST", kItems + "/n1/shares", "{}", Auth(f.acme_op));
    const std::string token = json::parse(r.body)["token"];
    const std::string marks = "/api/v1/workspace/users/alice/bookmarks";
    r = c.Send("POST", marks, R"({"item_id":"n1","label":"mine"})", Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    CHECK(json::parse(r.body)["bookmark_id"] == "i-n1");
    // A link from another tenant can be bookmarked by whoever holds its token.
    r = c.Send("POST", "/api/v1/workspace/users/gina/bookmarks",
               json{{"share_token", token}, {"label", "from acme"}}.dump(), Auth(f.globex_op));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    CHECK(json::parse(r.body)["kind"] == "share");
    CHECK(
        c.Send("POST", marks, json{{"share_token", token + "x"}}.dump(), Auth(f.acme_op)).status ==
        404);
    CHECK(c.Send("POST", marks, R"({"item_id":"nope"})", Auth(f.acme_op)).status == 404);
    CHECK(c.Send("POST", marks, R"({})", Auth(f.acme_op)).status == 422);

    r = c.Send("GET", marks, "", Auth(f.acme_viewer));
    REQUIRE(r.status == 200);
    json list = json::parse(r.body)["bookmarks"];
    REQUIRE(list.size() == 1);
    CHECK(list[0]["title"] == "Mine");
    CHECK(list[0]["status"] == "active");
    list =
        json::parse(c.Send("GET", "/api/v1/workspace/users/gina/bookmarks", "", Auth(f.globex_op))
                        .body)["bookmarks"];
    REQUIRE(list.size() == 1);
    CHECK(list[0]["status"] == "active");
    // Bookmarks are per tenant.
    CHECK(json::parse(c.Send("GET", marks, "", Auth(f.globex_op)).body)["bookmarks"].empty());

    CHECK(c.Send("DELETE", marks + "/i-n1", "", Auth(f.acme_op)).status == 200);
    CHECK(c.Send("DELETE", marks + "/i-n1", "", Auth(f.acme_op)).status == 404);
    CHECK(json::parse(c.Send("GET", marks, "", Auth(f.acme_viewer)).body)["bookmarks"].empty());
  }
}

TEST_SUITE("api/opt_outs") {
  TEST_CASE("SetCheckClearAndHistoryOverHttp") {
    Fixture f;
    HttpClient c(f.port());
    const std::string base = "/api/v1/opt-outs";
    auto check = [&](const std::string& query, const std::string& key) {
      HttpResult r = c.Send("GET", base + "/check?" + query, "", Auth(key));
      REQUIRE_MESSAGE(r.status == 200, r.body);
      return json::parse(r.body);
    };
    // The runtime (operator) and compliance staff manage opt-outs; a viewer checks.
    CHECK(c.Send("POST", base, R"({"user":"alice"})", Auth(f.acme_viewer)).status == 403);
    HttpResult r = c.Send("POST", base, R"({"user":"alice","reason":"STOP"})", Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    const std::string alice_id = json::parse(r.body)["opt_out_id"];
    r = c.Send("POST", base, R"({"channel":"whatsapp","by":"dpo@acme"})", Auth(f.acme_compliance));
    REQUIRE(r.status == 201);
    r = c.Send("POST", base, R"({"user":"bob","channel":"sms","ttl_seconds":60})", Auth(f.acme_op));
    REQUIRE(r.status == 201);

    json j = check("user=alice&channel=web", f.acme_viewer);
    CHECK(j["opted_out"] == true);
    CHECK(j["because"]["scope"] == "member");
    CHECK(j["because"]["reason"] == "STOP");
    j = check("user=carol&channel=whatsapp", f.acme_viewer);
    CHECK(j["opted_out"] == true);
    CHECK(j["because"]["scope"] == "organization_channel");
    CHECK(j["because"]["by"] == "dpo@acme");
    CHECK(check("user=carol&channel=web", f.acme_viewer)["opted_out"] == false);
    CHECK(check("user=bob&channel=sms", f.acme_viewer)["opted_out"] == true);
    // Another tenant knows nothing of acme's registry.
    CHECK(check("user=alice", f.globex_op)["opted_out"] == false);

    // Expired: ignored by the check, still listed (marked) and in the history.
    f.now->fetch_add(60 * kSecond);
    j = check("user=bob&channel=sms", f.acme_viewer);
    CHECK(j["opted_out"] == false);
    CHECK(j["expired"].size() == 1);
    r = c.Send("GET", base, "", Auth(f.acme_viewer));
    CHECK(json::parse(r.body)["opt_outs"].size() == 3);
    r = c.Send("GET", base + "?include_expired=false", "", Auth(f.acme_viewer));
    CHECK(json::parse(r.body)["opt_outs"].size() == 2);

    // The whole organization.
    r = c.Send("POST", base, R"({"expires_at":"2099-01-01T00:00:00Z"})", Auth(f.acme_op));
    REQUIRE(r.status == 201);
    const std::string org_id = json::parse(r.body)["opt_out_id"];
    CHECK(json::parse(r.body)["scope"] == "organization");
    CHECK(check("user=zed", f.acme_viewer)["opted_out"] == true);
    CHECK(check("", f.acme_viewer)["opted_out"] == true);

    // Clear: by id, by scope; clearing what is not there is 404; other tenants cannot.
    CHECK(c.Send("DELETE", base + "/" + org_id, "", Auth(f.globex_op)).status == 404);
    CHECK(
        c.Send("DELETE", base + "/" + org_id + "?reason=re-enabled", "", Auth(f.acme_op)).status ==
        200);
    CHECK(check("user=zed", f.acme_viewer)["opted_out"] == false);
    r = c.Send("POST", base + "/clear", R"({"user":"alice"})", Auth(f.acme_compliance));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(json::parse(r.body)["opt_out_id"] == alice_id);
    CHECK(check("user=alice", f.acme_viewer)["opted_out"] == false);
    CHECK(c.Send("POST", base + "/clear", R"({"user":"alice"})", Auth(f.acme_op)).status == 404);

    r = c.Send("GET", base + "/history?user=alice", "", Auth(f.acme_viewer));
    REQUIRE(r.status == 200);
    json h = json::parse(r.body)["history"];
    REQUIRE(h.size() == 2);
    CHECK(h[0]["action"] == "set");
    CHECK(h[1]["action"] == "cleared");
    r = c.Send("GET", base + "/history?limit=2", "", Auth(f.acme_viewer));
    CHECK(json::parse(r.body)["history"].size() == 2);
    CHECK_FALSE(json::parse(r.body)["next_lsn"].is_null());

    // Bad input.
    CHECK(
        c.Send("POST", base, R"({"expires_at":"2001-01-01T00:00:00Z"})", Auth(f.acme_op)).status ==
        422);
    CHECK(c.Send("POST", base, R"({"expires_at":"tomorrow"})", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("POST", base, R"({"user":"a b"})", Auth(f.acme_op)).status == 422);
    CHECK(c.Send("GET", base + "/check", "", Auth(f.admin)).status == 400);  // which tenant?
  }
}
