// Integration tests: the real server on an ephemeral port over a real
// RocksDB in a temp directory, spoken to with a real HTTP client.

#include <doctest/doctest.h>
#include <rocksdb/env.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <random>
#include <set>
#include <thread>

#include "api/keys.h"
#include "api/server.h"
#include "tests/api/http_client.h"
#include "tests/test_util.h"

extern char** environ;

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;

namespace {

struct Fixture {
  TempDir dir;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<api::KeyStore> keys;
  std::unique_ptr<api::Server> server;
  std::string admin, acme_op, acme_viewer, globex_op, acme_auditor;

  explicit Fixture(api::ServerOptions o = {}, rocksdb::Env* env = nullptr) {
    EngineOptions eo;
    eo.data_dir = dir.Sub("data");
    eo.env = env;
    engine = std::move(Engine::Open(eo).value());
    keys = api::KeyStore::CreateEmpty(dir.Sub("keys.json"));
    admin = keys->Create("*", Role::kAdmin, "admin").value();
    acme_op = keys->Create("acme", Role::kOperator, "acme op").value();
    acme_viewer = keys->Create("acme", Role::kViewer, "acme viewer").value();
    globex_op = keys->Create("globex", Role::kOperator, "globex op").value();
    acme_auditor = keys->Create("acme", Role::kAuditor, "acme auditor").value();
    o.listen = "127.0.0.1:0";
    if (o.threads == 0) o.threads = 2;
    server = std::make_unique<api::Server>(*engine, *keys, o);
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

std::string Events(const std::string& type, const std::string& payload = "{}",
                   const std::string& expected = "", const std::string& id = "") {
  json e = {{"type", type}, {"payload", json::parse(payload)}};
  if (!id.empty()) e["event_id"] = id;
  json body = {{"events", json::array({e})}};
  if (!expected.empty()) body["expected_version"] = json::parse(expected);
  return body.dump();
}

std::string ErrorCode(const HttpResult& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("error")) return "<no error body: " + r.body + ">";
  return j["error"]["code"].get<std::string>();
}

}  // namespace

TEST_SUITE("api/server") {
  TEST_CASE("AppendReadAndRetryOverHttp") {
    Fixture f;
    HttpClient c(f.port());
    const std::string id = "5d0c5a1e-8d4f-4d3a-9b1e-2f6a7c8d9e0f";
    HttpResult r = c.Send("POST", "/v1/streams/session/1/events",
                          Events("SessionStarted", R"({"session_id":"1"})", R"("no_stream")", id),
                          Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    json j = json::parse(r.body);
    CHECK(j["first_lsn"] == 1);
    CHECK(j["version"] == 1);
    CHECK(j["event_ids"][0] == id);
    // The same event id again: the original result, nothing new.
    r = c.Send("POST", "/v1/streams/session/1/events",
               Events("SessionStarted", R"({"session_id":"1"})", R"("no_stream")", id),
               Auth(f.acme_op));
    REQUIRE(r.status == 201);
    CHECK(json::parse(r.body)["deduplicated"] == true);
    CHECK(json::parse(r.body)["first_lsn"] == 1);
    // Wrong expected version: 409 naming the actual version.
    r = c.Send("POST", "/v1/streams/session/1/events", Events("SessionClosed", "{}", "5"),
               Auth(f.acme_op));
    CHECK(r.status == 409);
    CHECK(json::parse(r.body)["error"]["actual_version"] == 1);
    r = c.Send("POST", "/v1/streams/session/1/events", Events("SessionClosed", "{}", "1"),
               Auth(f.acme_op));
    CHECK(r.status == 201);

    r = c.Send("GET", "/v1/streams/session/1/events?from_version=2", "", Auth(f.acme_viewer));
    REQUIRE(r.status == 200);
    j = json::parse(r.body);
    REQUIRE(j["events"].size() == 1);
    CHECK(j["events"][0]["type"] == "SessionClosed");
    CHECK(j["version"] == 2);
    CHECK(j["next_version"].is_null());
    r = c.Send("GET", "/v1/streams/session/1/events?limit=1", "", Auth(f.acme_viewer));
    CHECK(json::parse(r.body)["next_version"] == 2);

    r = c.Send("GET", "/v1/events?from_lsn=1&limit=10", "", Auth(f.admin));
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["events"].size() == 2);
    CHECK(json::parse(r.body)["next_lsn"] == 3);
  }

  TEST_CASE("PayloadsArriveAsTheClientWroteThemWhateverTheLayout") {
    // Bodies written by hand, as clients do: whitespace everywhere, strings
    // holding braces, brackets, commas, quotes and escapes, fields in any
    // order, an event without payload, repeated keys (the last one wins).
    Fixture f;
    HttpClient c(f.port());
    const std::string body =
        "{ \"expected_version\" : \"any\",\n \"events\" : [\n"
        "  { \"payload\" : { \"session_id\" : \"s1\", \"reason\" : \"a \\\"b\\\" } ] , { [\" } ,"
        " \"type\" : \"SessionClosed\" },\n"
        "  {\"type\":\"SessionClosed\"},\n"
        "  {\"type\":\"SessionClosed\",\"payload\":{\"reason\":\"first\"},"
        "\"payload\":{\"reason\":\"caf\\u00e9 \\\\ \\/\",\"session_id\":\"s3\"}}\t]}";
    HttpResult r = c.Send("POST", "/v1/streams/layout/1/events", body, Auth(f.acme_op));
    REQUIRE_MESSAGE(r.status == 201, r.body);
    r = c.Send("GET", "/v1/streams/layout/1/events", "", Auth(f.acme_viewer));
    REQUIRE(r.status == 200);
    json events = json::parse(r.body)["events"];
    REQUIRE(events.size() == 3);
    CHECK(events[0]["payload"]["reason"] == "a \"b\" } ] , { [");
    CHECK(events[0]["payload"]["session_id"] == "s1");
    CHECK(events[1]["payload"].value("reason", "") == "");
    CHECK(events[2]["payload"]["reason"] == "caf\u00e9 \\ /");
    CHECK(events[2]["payload"]["session_id"] == "s3");
    // Still refused as before: wrong payload types, unknown payload fields.
    r = c.Send("POST", "/v1/streams/layout/1/events",
               R"({"events":[{"type":"SessionClosed","payload":{"reason":7}}]})", Auth(f.acme_op));
    CHECK(r.status == 422);
    r = c.Send("POST", "/v1/streams/layout/1/events",
               R"({"events":[{"type":"SessionClosed","payload":{"nope":"x"}}]})", Auth(f.acme_op));
    CHECK(r.status == 422);
  }

  TEST_CASE("TenantsAreIsolatedAndOtherTenantsStreamsAre404") {
    Fixture f;
    HttpClient c(f.port());
    REQUIRE(c.Send("POST", "/v1/streams/acme/s/events", Events("SessionClosed"), Auth(f.acme_op)).status == 201);
    REQUIRE(c.Send("POST", "/v1/streams/globex/s/events", Events("SessionClosed"), Auth(f.globex_op)).status == 201);
    // globex cannot see or write acme's stream, and cannot tell it exists.
    HttpResult r = c.Send("GET", "/v1/streams/acme/s/events", "", Auth(f.globex_op));
    CHECK(r.status == 404);
    HttpResult missing = c.Send("GET", "/v1/streams/acme/nothing/events", "", Auth(f.globex_op));
    CHECK(missing.status == 404);
    CHECK(json::parse(r.body)["error"]["message"].get<std::string>().find("acme/s") != std::string::npos);
    r = c.Send("POST", "/v1/streams/acme/s/events", Events("SessionClosed"), Auth(f.globex_op));
    CHECK(r.status == 404);
    // The global feed shows each tenant its own events only.
    r = c.Send("GET", "/v1/events", "", Auth(f.acme_viewer));
    json j = json::parse(r.body);
    REQUIRE(j["events"].size() == 1);
    CHECK(j["events"][0]["tenant"] == "acme");
    // X-Tenant-ID must match a tenant-scoped key.
    r = c.Send("GET", "/v1/events", "", Auth(f.acme_viewer, "globex"));
    CHECK(r.status == 403);
    // An all-tenant key narrows with X-Tenant-ID.
    r = c.Send("GET", "/v1/events", "", Auth(f.admin, "globex"));
    j = json::parse(r.body);
    REQUIRE(j["events"].size() == 1);
    CHECK(j["events"][0]["tenant"] == "globex");
    CHECK(json::parse(c.Send("GET", "/v1/events", "", Auth(f.admin)).body)["events"].size() == 2);
  }

  TEST_CASE("EveryErrorStatusHasItsCodeAndBody") {
    api::ServerOptions o;
    o.body_limit = 4096;
    Fixture f(o);
    HttpClient c(f.port());
    const std::string path = "/v1/streams/s/events";
    CHECK(c.Send("POST", path, "{not json", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("POST", path, R"({"events":"x"})", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("POST", path, R"({"events":[{"type":1}]})", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("POST", path, R"({"events":[],"expected_version":"soon"})", Auth(f.acme_op)).status == 400);
    CHECK(c.Send("GET", "/v1/events?limit=abc", "", Auth(f.acme_op)).status == 400);
    HttpResult r = c.Send("POST", path, Events("SessionClosed"));
    CHECK(r.status == 401);
    CHECK(ErrorCode(r) == "unauthorized");
    CHECK(c.Send("POST", path, Events("SessionClosed"), Auth("lbk_000000000000_nope")).status == 401);
    r = c.Send("POST", path, Events("SessionClosed"), Auth(f.acme_viewer));
    CHECK(r.status == 403);
    CHECK(ErrorCode(r) == "forbidden");
    CHECK(c.Send("GET", "/v1/nothing", "", Auth(f.acme_op)).status == 404);
    r = c.Send("DELETE", path, "", Auth(f.acme_op));
    CHECK(r.status == 405);
    CHECK(r.headers["Allow"].find("POST") != std::string::npos);
    r = c.Send("POST", path, std::string(5000, ' '), Auth(f.acme_op));
    CHECK(r.status == 413);
    CHECK(ErrorCode(r) == "payload_too_large");
    auto h = Auth(f.acme_op);
    h["Content-Type"] = "text/plain";
    CHECK(c.Send("POST", path, Events("SessionClosed"), h).status == 415);
    r = c.Send("POST", path, Events("NoSuchType"), Auth(f.acme_op));
    CHECK(r.status == 422);
    CHECK(c.Send("POST", path, Events("SessionClosed", R"({"bogus":1})"), Auth(f.acme_op)).status == 422);
    CHECK(c.Send("POST", "/v1/streams/bad%20name/events", Events("SessionClosed"), Auth(f.acme_op)).status == 400);
    // None of that wrote anything.
    CHECK(f.engine->log().LastLsn() == 0);
    // Garbage on the wire gets a 400 and the server keeps serving.
    HttpResult raw = c.SendRaw("BLAH / NOT-HTTP\r\n\r\n");
    CHECK((!raw.ok || raw.status == 400));
    CHECK(c.Send("GET", "/healthz").status == 200);
  }

  TEST_CASE("RandomGarbageNeverStopsTheServerOrWritesData") {
    Fixture f;
    std::mt19937 rng(7);
    const std::vector<std::string> seeds = {
        "GET / HTTP/1.1\r\n\r\n", "POST /v1/streams/s/events HTTP/1.1\r\nContent-Length: 5\r\n\r\n{{{{{",
        "GET /v1/events?from_lsn=%ff%ff HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /v1/streams/s/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"};
    for (int i = 0; i < 200; ++i) {
      std::string bytes = seeds[rng() % seeds.size()];
      for (int k = 0; k < 3; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng() % 256);
      if (i % 5 == 0) bytes += std::string(rng() % 2000, static_cast<char>(rng() % 256));
      HttpClient c(f.port());
      HttpResult r = c.SendRaw(bytes);
      if (r.ok) CHECK(r.status >= 400);
    }
    HttpClient c(f.port());
    CHECK(c.Send("GET", "/healthz").status == 200);
    CHECK(f.engine->log().LastLsn() == 0);
  }

  TEST_CASE("RateLimitsAnswer429WithRetryAfter") {
    api::ServerOptions o;
    o.key_rate = 1;
    o.key_burst = 3;
    Fixture f(o);
    HttpClient c(f.port());
    int ok = 0, limited = 0;
    std::string retry_after;
    for (int i = 0; i < 6; ++i) {
      HttpResult r = c.Send("GET", "/v1/events", "", Auth(f.acme_viewer));
      if (r.status == 200) ++ok;
      if (r.status == 429) {
        ++limited;
        retry_after = r.headers["Retry-After"];
      }
    }
    CHECK(ok == 3);
    CHECK(limited == 3);
    CHECK(retry_after == "1");
    // Another key has its own bucket.
    CHECK(c.Send("GET", "/v1/events", "", Auth(f.admin)).status == 200);
  }

  TEST_CASE("PerIpLimitAppliesAcrossKeys") {
    api::ServerOptions o;
    o.ip_rate = 1;
    o.ip_burst = 2;
    Fixture f(o);
    HttpClient c(f.port());
    CHECK(c.Send("GET", "/v1/events", "", Auth(f.acme_viewer)).status == 200);
    CHECK(c.Send("GET", "/v1/events", "", Auth(f.admin)).status == 200);
    HttpResult r = c.Send("GET", "/v1/events", "", Auth(f.globex_op));
    CHECK(r.status == 429);
    CHECK(ErrorCode(r) == "rate_limited");
    CHECK(c.Send("GET", "/healthz").status == 200);  // health checks are not limited
  }

  TEST_CASE("SlowClientIsDisconnectedAfterTheHeaderTimeout") {
    api::ServerOptions o;
    o.header_timeout = std::chrono::milliseconds(200);
    Fixture f(o);
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket s(ioc);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), f.port()});
    boost::asio::write(s, boost::asio::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n")));
    const auto start = std::chrono::steady_clock::now();
    char buf[64];
    boost::system::error_code ec;
    timeval tv{5, 0};
    setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    s.read_some(boost::asio::buffer(buf), ec);  // the server closes: EOF
    CHECK(ec == boost::asio::error::eof);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(3));
    HttpClient c(f.port());
    CHECK(c.Send("GET", "/healthz").status == 200);
  }

  TEST_CASE("ConnectionsOverTheCapAreRefused") {
    api::ServerOptions o;
    o.max_connections = 2;
    Fixture f(o);
    HttpClient a(f.port()), b(f.port()), c(f.port());
    REQUIRE(a.Send("GET", "/healthz").status == 200);
    REQUIRE(b.Send("GET", "/healthz").status == 200);
    HttpResult r = c.Send("GET", "/healthz");
    CHECK_FALSE(r.ok);
  }

  TEST_CASE("HealthReadinessAndMetrics") {
    Fixture f;
    HttpClient c(f.port());
    CHECK(c.Send("GET", "/healthz").status == 200);
    HttpResult r = c.Send("GET", "/readyz");
    CHECK(r.status == 200);
    REQUIRE(c.Send("POST", "/v1/streams/s/events", Events("SessionClosed"), Auth(f.acme_op)).status == 201);
    r = c.Send("GET", "/metrics");
    REQUIRE(r.status == 200);
    CHECK(r.body.find("logbook_http_requests_total") != std::string::npos);
    CHECK(r.body.find("logbook_http_request_duration_seconds_bucket") != std::string::npos);
    CHECK(r.body.find("logbook_appends_total 1") != std::string::npos);
    CHECK(r.body.find("logbook_projector_lag_events") != std::string::npos);
    CHECK(r.body.find(f.acme_op) == std::string::npos);  // no secrets
  }

  TEST_CASE("SubscribeFollowsLiveAndResumesWithLastEventId") {
    Fixture f;
    HttpClient c(f.port());
    REQUIRE(c.Send("POST", "/v1/streams/s/events", Events("SessionClosed"), Auth(f.acme_op)).status == 201);
    SseClient sse(f.port(), "/v1/subscribe?from_lsn=1", f.acme_viewer);
    CHECK(sse.ReadIds(1, std::chrono::seconds(5)) == std::vector<uint64_t>{1});
    for (int i = 0; i < 3; ++i) {
      REQUIRE(c.Send("POST", "/v1/streams/s/events", Events("SessionClosed"), Auth(f.acme_op)).status == 201);
    }
    // Another tenant's event is not delivered.
    REQUIRE(c.Send("POST", "/v1/streams/g/events", Events("SessionClosed"), Auth(f.globex_op)).status == 201);
    REQUIRE(c.Send("POST", "/v1/streams/s/events", Events("SessionClosed"), Auth(f.acme_op)).status == 201);
    CHECK(sse.ReadIds(5, std::chrono::seconds(5)) == std::vector<uint64_t>{1, 2, 3, 4, 6});
    // Reconnect after LSN 3: no gap, no duplicate.
    SseClient again(f.port(), "/v1/subscribe", f.acme_viewer, "3");
    CHECK(again.ReadIds(2, std::chrono::seconds(5)) == std::vector<uint64_t>{4, 6});
    CHECK(sse.raw().find("text/event-stream") != std::string::npos);
  }

  TEST_CASE("WriteErrorTurnsTheServerReadOnly503") {
    auto fs = std::make_shared<FailingFs>();
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
    {
      Fixture f({}, env.get());
      HttpClient c(f.port());
      REQUIRE(c.Send("POST", "/v1/streams/s/events", Events("SessionClosed"), Auth(f.acme_op)).status == 201);
      fs->set_fail(true);
      HttpResult r = c.Send("POST", "/v1/streams/s/events", Events("SessionClosed"), Auth(f.acme_op));
      CHECK(r.status == 503);
      fs->set_fail(false);
      CHECK(c.Send("POST", "/v1/streams/s/events", Events("SessionClosed"), Auth(f.acme_op)).status == 503);
      CHECK(c.Send("GET", "/readyz").status == 503);
      CHECK(c.Send("GET", "/v1/streams/s/events", "", Auth(f.acme_op)).status == 200);  // reads still work
    }
  }

  TEST_CASE("GracefulShutdownLosesNoAcknowledgedAppend") {
    TempDir outer;
    std::vector<std::string> acked;
    std::mutex mu;
    std::string data_dir;
    {
      Fixture f;
      data_dir = f.dir.Sub("data");
      std::atomic<bool> stop{false};
      std::vector<std::thread> writers;
      for (int t = 0; t < 4; ++t) {
        writers.emplace_back([&, t] {
          HttpClient c(f.port());
          for (int i = 0; !stop.load() && i < 100000; ++i) {
            const std::string id = EventIdToString(RandomEventId());
            HttpResult r = c.Send("POST", "/v1/streams/w/" + std::to_string(t) + "/events",
                                  Events("SessionClosed", "{}", "", id), Auth(f.acme_op));
            if (!r.ok || r.status != 201) break;
            std::lock_guard<std::mutex> l(mu);
            acked.push_back(id);
          }
        });
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      f.server->Shutdown();
      f.server->Wait();
      stop.store(true);
      for (auto& w : writers) w.join();
      REQUIRE(!acked.empty());
      for (const auto& id : acked) {
        EventId e{};
        REQUIRE(ParseEventId(id, &e));
        CHECK(f.engine->log().FindEventId(e).ok());
      }
    }
  }
}
