#include "api/hold_routes.h"

#include "api/core_routes.h"
#include "api/route_util.h"
#include "engine/holds.h"

namespace logbook::api {

namespace {


std::string QueryTenant(const Request& req) {
  auto it = req.query.find("tenant_id");
  return it == req.query.end() ? std::string() : it->second;
}


nlohmann::json HoldJson(const HoldEntry& h) {
  nlohmann::json j = h.ToJson();
  j["applied_at"] = FormatTimestamp(h.applied_at_us);
  j["stream"] = ComplianceStream(h.tenant);
  return j;
}

}  // namespace

void AddHoldRoutes(Router& router, Engine& engine) {
  Engine* e = &engine;
  const std::string holds = "/api/v1/compliance/holds";

  // Auditor or compliance (the router's kAuditor admits both, and admin).
  router.Add("GET", holds, Role::kAuditor, [e](Request& req, Reply reply) {
    Response err;
    std::string tenant;
    if (!ResolveTenant(req.caller, QueryTenant(req), &tenant, &err)) return reply(err);
    HoldService svc(*e);
    Result<std::vector<HoldEntry>> all = svc.List(tenant);
    if (!all.ok()) return reply(Response::FromStatus(all.status()));
    nlohmann::json list = nlohmann::json::array();
    for (const HoldEntry& h : *all) list.push_back(HoldJson(h));
    reply(Response::Json(
        200, {{"tenant_id", tenant.empty() ? nlohmann::json(nullptr) : nlohmann::json(tenant)},
              {"holds", std::move(list)}}));
  });

  // Compliance only (and admin).
  router.Add("POST", holds, Role::kCompliance, [e](Request& req, Reply reply) {
    Response err;
    nlohmann::json j;
    std::string named, tenant, hold_id, reason;
    if (!ParseJsonObject(req.body, &j, &err) ||
        !OnlyFields(j, {"tenant_id", "reason", "hold_id"}, &err) ||
        !StringField(j, "tenant_id", &named, &err) || !StringField(j, "reason", &reason, &err) ||
        !StringField(j, "hold_id", &hold_id, &err) || !OneTenant(req, named, &tenant, &err)) {
      return reply(err);
    }
    HoldService svc(*e);
    if (!hold_id.empty()) {
      // The engine refuses an id in force as invalid_argument; over HTTP it
      // is a conflict with the hold that exists, told apart here.
      Result<std::vector<HoldEntry>> current = svc.List(tenant);
      if (!current.ok()) return reply(Response::FromStatus(current.status()));
      for (const HoldEntry& h : *current) {
        if (h.hold_id != hold_id) continue;
        return reply(Response::Json(409, {{"error",
                                           {{"code", "hold_exists"},
                                            {"message", "hold '" + hold_id + "' of tenant '" +
                                                            tenant + "' is already in force"}}},
                                          {"hold", HoldJson(h)}}));
      }
    }
    Result<HoldEntry> h = svc.Apply(tenant, hold_id, reason, ActorOf(req));
    if (!h.ok()) return reply(Response::FromStatus(h.status()));
    reply(Response::Json(201, HoldJson(*h)));
  });

  router.Add("POST", holds + "/release", Role::kCompliance, [e](Request& req, Reply reply) {
    Response err;
    nlohmann::json j;
    std::string named, tenant, hold_id, reason;
    if (!ParseJsonObject(req.body.empty() ? "{}" : req.body, &j, &err) ||
        !OnlyFields(j, {"tenant_id", "hold_id", "reason"}, &err) ||
        !StringField(j, "tenant_id", &named, &err) || !StringField(j, "hold_id", &hold_id, &err) ||
        !StringField(j, "reason", &reason, &err) || !OneTenant(req, named, &tenant, &err)) {
      return reply(err);
    }
    HoldService svc(*e);
    Result<HoldEntry> h = svc.Release(tenant, hold_id, reason, ActorOf(req));
    if (!h.ok()) return reply(Response::FromStatus(h.status()));
    nlohmann::json body = HoldJson(*h);
    body["released"] = true;
    reply(Response::Json(200, body));
  });

  router.Add("GET", holds + "/check", Role::kViewer, [e](Request& req, Reply reply) {
    Response err;
    std::string tenant;
    if (!MayAct(req, {Role::kAuditor, Role::kCompliance, Role::kOperator}, "check for holds",
                &err) ||
        !OneTenant(req, QueryTenant(req), &tenant, &err)) {
      return reply(err);
    }
    HoldService svc(*e);
    // kHeld is 409 legal_hold, naming the holds and their reasons.
    if (Status s = svc.CheckNoHold(tenant); !s.ok()) return reply(Response::FromStatus(s));
    reply(Response::Json(200, {{"tenant_id", tenant}, {"held", false}}));
  });
}

}  // namespace logbook::api
