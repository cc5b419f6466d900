#pragma once
// A real server with the HITL, cost, lifecycle, legal-hold, retention and
// tenant routes, on an ephemeral port over a temp data directory, with a
// fake clock and keys for two tenants.

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "api/compliance_routes.h"
#include "api/cost_routes.h"
#include "api/hitl_routes.h"
#include "api/hold_routes.h"
#include "api/keys.h"
#include "api/lifecycle_routes.h"
#include "api/server.h"
#include "tests/api/http_client.h"
#include "tests/test_util.h"

namespace logbook::test {

struct DomainFixture {
  TempDir dir;
  std::shared_ptr<std::atomic<int64_t>> now;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<api::KeyStore> keys;
  std::unique_ptr<api::Server> server;
  std::string admin, acme_admin, acme_op, acme_viewer, acme_auditor, globex_op, acme_compliance,
      all_compliance;

  // fake_log_clock: the log records events at the fake clock's time too
  // (retention ages by it); otherwise at the system clock's.
  explicit DomainFixture(int64_t start_us, CostOptions costs = {}, bool fake_log_clock = false)
      : now(std::make_shared<std::atomic<int64_t>>(start_us)) {
    EngineOptions eo;
    eo.data_dir = dir.Sub("data");
    eo.clock = [n = now] { return n->load(); };
    if (fake_log_clock) eo.log_clock = eo.clock;
    eo.costs = costs;
    eo.hitl.sweep_interval = std::chrono::milliseconds(0);
    engine = std::move(Engine::Open(eo).value());
    keys = api::KeyStore::CreateEmpty(dir.Sub("keys.json"));
    admin = keys->Create("*", Role::kAdmin, "admin").value();
    acme_admin = keys->Create("acme", Role::kAdmin, "acme admin").value();
    acme_op = keys->Create("acme", Role::kOperator, "acme op").value();
    acme_viewer = keys->Create("acme", Role::kViewer, "acme viewer").value();
    acme_auditor = keys->Create("acme", Role::kAuditor, "acme auditor").value();
    globex_op = keys->Create("globex", Role::kOperator, "globex op").value();
    acme_compliance = keys->Create("acme", Role::kCompliance, "acme compliance").value();
    all_compliance = keys->Create("*", Role::kCompliance, "compliance").value();
    api::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    server = std::make_unique<api::Server>(*engine, *keys, o);
    api::AddHitlRoutes(server->router(), *engine);
    api::AddCostRoutes(server->router(), *engine);
    api::AddLifecycleRoutes(server->router(), *engine, LifecyclePolicy{});
    api::AddHoldRoutes(server->router(), *engine);
    api::ComplianceRouteOptions co;
    co.export_dir = dir.Sub("exports");
    std::filesystem::create_directories(co.export_dir);
    api::AddComplianceRoutes(server->router(), *engine, std::move(co));
    REQUIRE(server->Start().ok());
  }
  ~DomainFixture() {
    server->Shutdown();
    server->Wait();
  }
  uint16_t port() const { return server->port(); }
};

inline std::map<std::string, std::string> Auth(const std::string& key,
                                               const std::string& tenant = "") {
  std::map<std::string, std::string> h = {{"Authorization", "Bearer " + key}};
  if (!tenant.empty()) h["X-Tenant-ID"] = tenant;
  return h;
}

inline std::string ErrorCode(const HttpResult& r) {
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("error")) return "<no error body: " + r.body + ">";
  return j["error"]["code"].get<std::string>();
}

inline nlohmann::json Body(const HttpResult& r) {
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  REQUIRE_MESSAGE(!j.is_discarded(), r.body);
  return j;
}

}  // namespace logbook::test
