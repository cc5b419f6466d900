// The graph checkpoint routes over real HTTP: round trip, roles, tenant
// isolation, bad input and the body limit.

#include <doctest/doctest.h>
#include <sodium.h>

#include <nlohmann/json.hpp>

#include "api/graph_routes.h"
#include "api/keys.h"
#include "api/server.h"
#include "engine/graph_store.h"
#include "tests/api/http_client.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;

namespace {

struct GraphFixture {
  TempDir dir;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<GraphStore> graph;
  std::unique_ptr<api::KeyStore> keys;
  std::unique_ptr<api::Server> server;
  std::string admin, acme_op, acme_viewer, globex_op;

  explicit GraphFixture(size_t body_limit = 1 << 20) {
    EngineOptions eo;
    eo.data_dir = dir.Sub("data");
    engine = std::move(Engine::Open(eo).value());
    graph = std::make_unique<GraphStore>(*engine, GraphOptions{});
    keys = api::KeyStore::CreateEmpty(dir.Sub("keys.json"));
    admin = keys->Create("*", Role::kAdmin, "admin").value();
    acme_op = keys->Create("acme", Role::kOperator, "acme op").value();
    acme_viewer = keys->Create("acme", Role::kViewer, "acme viewer").value();
    globex_op = keys->Create("globex", Role::kOperator, "globex op").value();
    api::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    o.body_limit = body_limit;
    server = std::make_unique<api::Server>(*engine, *keys, o);
    api::AddGraphRoutes(server->router(), {graph.get(), 2});
    REQUIRE(server->Start().ok());
  }
  ~GraphFixture() {
    server->Shutdown();
    server->Wait();
  }
  uint16_t port() const { return server->port(); }
};

std::map<std::string, std::string> Auth(const std::string& key) {
  return {{"Authorization", "Bearer " + key}};
}

std::string B64(const std::string& s) {
  std::string out(sodium_base64_ENCODED_LEN(s.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(s.data()),
                    s.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

json PutBody(const std::string& thread, const std::string& id, const std::string& messages) {
  return {{"thread_id", thread},
          {"checkpoint_ns", ""},
          {"checkpoint_id", id},
          {"checkpoint", {{"type", "json"}, {"data", B64("{\"v\":4}")}}},
          {"metadata", {{"source", "loop"}, {"step", 1}}},
          {"channel_versions", {{"messages", 1}}},
          {"new_versions", {{"messages", 1}}},
          {"channel_values", {{"messages", {{"type", "json"}, {"data", B64(messages)}}}}}};
}

std::string Code(const HttpResult& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("error")) return "<no error: " + r.body + ">";
  return j["error"]["code"];
}

}  // namespace

TEST_SUITE("api/graph_routes") {
  TEST_CASE("PutWritesGetListDeleteOverHttp") {
    GraphFixture f;
    HttpClient c(f.port());
    HttpResult r = c.Send("POST", "/v1/graph/checkpoints", PutBody("t 1", "c1", "[\"hi\"]").dump(),
                          Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(json::parse(r.body)["checkpoint_id"] == "c1");
    json w = {{"thread_id", "t 1"}, {"checkpoint_id", "c1"}, {"task_id", "task"},
              {"task_path", "~__pregel_pull, agent"},
              {"writes", {{{"channel", "messages"}, {"idx", 0}, {"type", "json"},
                           {"data", B64("[\"there\"]")}}}}};
    r = c.Send("POST", "/v1/graph/writes", w.dump(), Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 200, r.body);

    r = c.Send("GET", "/v1/graph/checkpoint?thread_id=t%201", "", Auth(f.acme_viewer));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    json t = json::parse(r.body);
    CHECK(t["checkpoint_id"] == "c1");
    CHECK(t["parent_checkpoint_id"].is_null());
    CHECK(t["metadata"]["source"] == "loop");
    CHECK(t["channel_values"]["messages"]["data"] == B64("[\"hi\"]"));
    REQUIRE(t["pending_writes"].size() == 1);
    CHECK(t["pending_writes"][0]["task_path"] == "~__pregel_pull, agent");

    r = c.Send("GET", "/v1/graph/checkpoints?thread_id=t%201&filter=%7B%22step%22%3A1%7D", "",
               Auth(f.acme_viewer));
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["checkpoints"].size() == 1);
    r = c.Send("GET", "/v1/graph/checkpoints?thread_id=t%201&filter=%7B%22step%22%3A2%7D", "",
               Auth(f.acme_viewer));
    CHECK(json::parse(r.body)["checkpoints"].empty());

    r = c.Send("DELETE", "/v1/graph/threads?thread_id=t%201", "", Auth(f.acme_op));
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["deleted"] == true);
    r = c.Send("GET", "/v1/graph/checkpoint?thread_id=t%201", "", Auth(f.acme_viewer));
    CHECK(r.status == 404);
    CHECK(Code(r) == "not_found");
  }

  TEST_CASE("AThreadBelongsToOneTenant") {
    GraphFixture f;
    HttpClient c(f.port());
    REQUIRE(c.Send("POST", "/v1/graph/checkpoints", PutBody("shared", "c1", "[1]").dump(),
                   Auth(f.acme_op)).status == 200);
    // globex does not see acme's thread, and writing its own "shared" thread
    // leaves acme's untouched.
    HttpResult r = c.Send("GET", "/v1/graph/checkpoint?thread_id=shared", "", Auth(f.globex_op));
    CHECK(r.status == 404);
    r = c.Send("GET", "/v1/graph/checkpoints", "", Auth(f.globex_op));
    CHECK(json::parse(r.body)["checkpoints"].empty());
    r = c.Send("DELETE", "/v1/graph/threads?thread_id=shared", "", Auth(f.globex_op));
    CHECK(json::parse(r.body)["deleted"] == false);
    REQUIRE(c.Send("POST", "/v1/graph/checkpoints", PutBody("shared", "c2", "[2]").dump(),
                   Auth(f.globex_op)).status == 200);
    r = c.Send("GET", "/v1/graph/checkpoint?thread_id=shared", "", Auth(f.acme_viewer));
    CHECK(json::parse(r.body)["checkpoint_id"] == "c1");
    // An all-tenant key picks the tenant with X-Tenant-ID.
    auto h = Auth(f.admin);
    h["X-Tenant-ID"] = "globex";
    r = c.Send("GET", "/v1/graph/checkpoint?thread_id=shared", "", h);
    CHECK(json::parse(r.body)["checkpoint_id"] == "c2");
    // A tenant key cannot claim another tenant.
    h = Auth(f.acme_op);
    h["X-Tenant-ID"] = "globex";
    CHECK(c.Send("GET", "/v1/graph/checkpoint?thread_id=shared", "", h).status == 403);
  }

  TEST_CASE("RolesAndBadInput") {
    GraphFixture f;
    HttpClient c(f.port());
    HttpResult r = c.Send("POST", "/v1/graph/checkpoints", PutBody("t", "c1", "[]").dump(),
                          Auth(f.acme_viewer));
    CHECK(r.status == 403);
    CHECK(c.Send("GET", "/v1/graph/checkpoint?thread_id=t", "").status == 401);
    CHECK(c.Send("GET", "/v1/graph/stats", "", Auth(f.acme_op)).status == 403);
    CHECK(c.Send("GET", "/v1/graph/stats", "", Auth(f.admin)).status == 200);

    r = c.Send("POST", "/v1/graph/checkpoints", "{not json", Auth(f.acme_op));
    CHECK(r.status == 400);
    CHECK(Code(r) == "bad_request");
    json body = PutBody("t", "c1", "[]");
    body.erase("thread_id");
    r = c.Send("POST", "/v1/graph/checkpoints", body.dump(), Auth(f.acme_op));
    CHECK(r.status == 400);
    CHECK(json::parse(r.body)["error"]["message"] == "thread_id is required");
    body = PutBody("t", "c1", "[]");
    body["checkpoint"]["data"] = "%%%";
    CHECK(c.Send("POST", "/v1/graph/checkpoints", body.dump(), Auth(f.acme_op)).status == 400);
    body = PutBody("t", "c1", "[]");
    body["new_versions"] = json::object();  // a value without its version
    CHECK(c.Send("POST", "/v1/graph/checkpoints", body.dump(), Auth(f.acme_op)).status == 400);
    CHECK(c.Send("GET", "/v1/graph/checkpoint", "", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("GET", "/v1/graph/checkpoints?limit=0", "", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("GET", "/v1/graph/checkpoints?filter=%5B%5D", "", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("POST", "/v1/graph/threads/prune", R"({"thread_id":"t","keep_latest":0})",
                 Auth(f.acme_op)).status == 400);
    // Nothing bad was stored.
    CHECK(c.Send("GET", "/v1/graph/checkpoint?thread_id=t", "", Auth(f.acme_op)).status == 404);
  }

  TEST_CASE("ACheckpointOverTheBodyLimitIs413") {
    GraphFixture f(64 * 1024);
    HttpClient c(f.port());
    HttpResult r = c.Send("POST", "/v1/graph/checkpoints",
                          PutBody("t", "c1", std::string(100 * 1024, 'x')).dump(), Auth(f.acme_op));
    CHECK(r.status == 413);
    CHECK(Code(r) == "payload_too_large");
  }

  TEST_CASE("PruneOverHttpKeepsTheLatest") {
    GraphFixture f;
    HttpClient c(f.port());
    for (int i = 1; i <= 4; ++i) {
      REQUIRE(c.Send("POST", "/v1/graph/checkpoints",
                     PutBody("t", "c" + std::to_string(i), "[" + std::to_string(i) + "]").dump(),
                     Auth(f.acme_op)).status == 200);
    }
    HttpResult r = c.Send("POST", "/v1/graph/threads/prune", R"({"thread_id":"t","keep_latest":1})",
                          Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(json::parse(r.body)["pruned"] == 3);
    r = c.Send("GET", "/v1/graph/checkpoints?thread_id=t", "", Auth(f.acme_op));
    json list = json::parse(r.body)["checkpoints"];
    REQUIRE(list.size() == 1);
    CHECK(list[0]["checkpoint_id"] == "c4");
    r = c.Send("POST", "/v1/graph/sweep", "{}", Auth(f.admin));
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["chunks_deleted"].get<int>() > 0);
  }
}
