#include "api/compliance_routes.h"

#include "api/core_routes.h"
#include "api/route_util.h"
#include "engine/tenants.h"

namespace logbook::api {

namespace {

// ?retain=usage=30,governance=keep on top of the server's policy.
bool QueryPolicy(const Request& req, const RetentionPolicy& base, RetentionPolicy* out,
                 Response* err) {
  *out = base;
  auto it = req.query.find("retain");
  if (it == req.query.end() || it->second.empty()) return true;
  std::string_view rest = it->second;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view one = rest.substr(0, comma);
    if (Status s = out->Set(one); !s.ok()) {
      *err = Response::Error(400, "bad_request", s.message());
      return false;
    }
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return true;
}

// {"retain": {"usage": 30, "graph": "keep"}} on top of the server's policy.
bool BodyPolicy(const nlohmann::json& j, const RetentionPolicy& base, RetentionPolicy* out,
                Response* err) {
  *out = base;
  auto it = j.find("retain");
  if (it == j.end()) return true;
  if (Status s = out->SetAll(*it); !s.ok()) {
    *err = Response::Error(400, "bad_request", "retain: " + s.message());
    return false;
  }
  return true;
}

std::string QueryValue(const Request& req, const char* key) {
  auto it = req.query.find(key);
  return it == req.query.end() ? std::string() : it->second;
}

// A flag: absent or "false"/"0" is false, "true"/"1" true, else 400.
bool QueryFlag(const Request& req, const char* key, bool* out, Response* err) {
  const std::string v = QueryValue(req, key);
  if (v.empty() || v == "false" || v == "0") {
    *out = false;
  } else if (v == "true" || v == "1") {
    *out = true;
  } else {
    *err = Response::Error(400, "bad_request", std::string(key) + " must be true or false");
    return false;
  }
  return true;
}

}  // namespace

void AddComplianceRoutes(Router& router, Engine& engine, ComplianceRouteOptions options) {
  Engine* e = &engine;
  auto opts = std::make_shared<const ComplianceRouteOptions>(std::move(options));
  const std::string base = "/api/v1/compliance";

  router.Add("GET", base + "/retention/plan", Role::kAuditor, [e, opts](Request& req, Reply reply) {
    Response err;
    std::string tenant;
    RetentionPolicy policy;
    if (!ResolveTenant(req.caller, QueryValue(req, "tenant_id"), &tenant, &err) ||
        !QueryPolicy(req, opts->retention, &policy, &err)) {
      return reply(err);
    }
    RetentionService svc(*e);
    RetentionService::RunOptions ro;
    ro.tenant = tenant;
    ro.dry_run = true;
    Result<RetentionReport> r = svc.Run(policy, ro, ActorOf(req));
    if (!r.ok()) return reply(Response::FromStatus(r.status()));
    reply(Response::Json(200, r->ToJson()));
  });

  router.Add("POST", base + "/retention/run", Role::kCompliance, [e, opts](Request& req,
                                                                          Reply reply) {
    Response err;
    nlohmann::json j;
    std::string named, tenant;
    RetentionPolicy policy;
    if (!ParseJsonObject(req.body.empty() ? "{}" : req.body, &j, &err) ||
        !OnlyFields(j, {"tenant_id", "retain"}, &err) ||
        !StringField(j, "tenant_id", &named, &err) ||
        !ResolveTenant(req.caller, named, &tenant, &err) ||
        !BodyPolicy(j, opts->retention, &policy, &err)) {
      return reply(err);
    }
    RetentionService svc(*e);
    RetentionService::RunOptions ro;
    ro.tenant = tenant;
    ro.dry_run = false;
    Result<RetentionReport> r = svc.Run(policy, ro, ActorOf(req));
    if (!r.ok()) return reply(Response::FromStatus(r.status()));
    reply(Response::Json(200, r->ToJson()));
  });

  router.Add("POST", base + "/tenants/{tenant}/export", Role::kAuditor,
             [e, opts](Request& req, Reply reply) {
               Response err;
               std::string tenant;
               if (!OneTenant(req, req.params["tenant"], &tenant, &err)) return reply(err);
               if (opts->export_dir.empty()) {
                 return reply(Response::Error(503, "unavailable",
                                              "the server has no export directory (--export-dir)"));
               }
               TenantService svc(*e);
               Result<TenantExportReport> r = svc.Export(tenant, opts->export_dir, ActorOf(req));
               if (!r.ok()) return reply(Response::FromStatus(r.status()));
               reply(Response::Json(201, r->ToJson()));
             });

  router.Add("DELETE", base + "/tenants/{tenant}", Role::kAuditor, [e](Request& req, Reply reply) {
    Response err;
    std::string tenant;
    bool dry_run = false;
    if (!QueryFlag(req, "dry_run", &dry_run, &err) ||
        !(dry_run ? MayAct(req, {Role::kAuditor, Role::kCompliance}, "plan a tenant deletion", &err)
                  : MayAct(req, {Role::kCompliance}, "delete a tenant", &err)) ||
        !OneTenant(req, req.params["tenant"], &tenant, &err)) {
      return reply(err);
    }
    TenantService svc(*e);
    Result<TenantDeleteReport> r =
        svc.Delete(tenant, dry_run, ActorOf(req), QueryValue(req, "reason"));
    if (!r.ok()) return reply(Response::FromStatus(r.status()));
    reply(Response::Json(200, r->ToJson()));
  });
}

}  // namespace logbook::api
