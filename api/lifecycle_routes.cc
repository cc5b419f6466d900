#include "api/lifecycle_routes.h"

#include "api/core_routes.h"
#include "api/route_util.h"

namespace logbook::api {

namespace {

constexpr size_t kDefaultListed = 100;
constexpr size_t kMaxListed = 10000;

bool DaysValue(const nlohmann::json& v, const char* name, uint32_t* out, Response* err) {
  if (!v.is_number_unsigned() || v.get<uint64_t>() > 36600) {
    *err = Response::Error(400, "bad_request", std::string(name) + " must be 0..36600");
    return false;
  }
  *out = static_cast<uint32_t>(v.get<uint64_t>());
  return true;
}

// hot_days, warm_days, cold_days from the query over the defaults.
bool QueryPolicy(const Request& req, LifecyclePolicy* p, Response* err) {
  for (auto [name, dst] : {std::pair<const char*, uint32_t*>{"hot_days", &p->hot_days},
                           std::pair<const char*, uint32_t*>{"warm_days", &p->warm_days},
                           std::pair<const char*, uint32_t*>{"cold_days", &p->cold_days}}) {
    if (req.query.count(name) == 0) continue;
    uint64_t v = 0;
    if (!QueryU64(req, name, &v, err) || !DaysValue(nlohmann::json(v), name, dst, err)) {
      return false;
    }
  }
  return true;
}

bool BodyPolicy(const nlohmann::json& j, LifecyclePolicy* p, Response* err) {
  for (auto [name, dst] : {std::pair<const char*, uint32_t*>{"hot_days", &p->hot_days},
                           std::pair<const char*, uint32_t*>{"warm_days", &p->warm_days},
                           std::pair<const char*, uint32_t*>{"cold_days", &p->cold_days}}) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) continue;
    if (!DaysValue(*it, name, dst, err)) return false;
  }
  return true;
}

nlohmann::json ArtifactJson(const ArtifactEntry& a) {
  nlohmann::json j = a.ToJson();
  j["stored_at"] = FormatTimestamp(a.stored_at_us);
  j["tier_since"] = FormatTimestamp(a.tier_since_us);
  j["stream"] = ArtifactStream(a.tenant, a.artifact_id);
  return j;
}

nlohmann::json TiersJson(const std::vector<TenantTierSummary>& all) {
  nlohmann::json out = nlohmann::json::array();
  for (const TenantTierSummary& t : all) out.push_back(t.ToJson());
  return out;
}

}  // namespace

void AddLifecycleRoutes(Router& router, Engine& engine, const LifecyclePolicy& defaults) {
  Engine* e = &engine;
  const std::string artifacts = "/api/v1/compliance/artifacts";
  const std::string lifecycle = "/api/v1/compliance/lifecycle";

  router.Add("POST", artifacts, Role::kViewer, [e](Request& req, Reply reply) {
    Response err;
    nlohmann::json j;
    if (!MayAct(req, {Role::kOperator, Role::kCompliance}, "record an artifact", &err) ||
        !ParseJsonObject(req.body, &j, &err) ||
        !OnlyFields(j,
                    {"tenant_id", "artifact_id", "workflow", "bytes", "content_hash", "label",
                     "tier", "stored_at"},
                    &err)) {
      return reply(err);
    }
    ArtifactInput in;
    std::string named, stored_at;
    if (!StringField(j, "tenant_id", &named, &err) ||
        !StringField(j, "artifact_id", &in.artifact_id, &err) ||
        !StringField(j, "workflow", &in.workflow, &err) ||
        !StringField(j, "content_hash", &in.content_hash, &err) ||
        !StringField(j, "label", &in.label, &err) || !StringField(j, "tier", &in.tier, &err) ||
        !OneTenant(req, named, &in.tenant, &err)) {
      return reply(err);
    }
    if (!j.contains("bytes") || !j["bytes"].is_number_unsigned()) {
      return reply(
          Response::Error(400, "bad_request", "bytes must be given, a non-negative integer"));
    }
    in.bytes = j["bytes"].get<uint64_t>();
    if (j.contains("stored_at") && !j["stored_at"].is_null()) {
      const auto& s = j["stored_at"];
      if (s.is_number_unsigned()) {
        in.stored_at_us = static_cast<int64_t>(std::min<uint64_t>(s.get<uint64_t>(), INT64_MAX));
      } else if (!s.is_string() || !ParseTimestamp(s.get<std::string>(), &in.stored_at_us)) {
        return reply(Response::Error(
            400, "bad_request", "stored_at must be RFC 3339 UTC (\"2026-11-01T00:00:00Z\") or µs"));
      }
    }
    if (in.tier.empty()) in.tier = "hot";
    LifecycleService svc(*e);
    Result<StoreResult> r = svc.Store(in, Actor{req.caller.key_id, req.caller.role});
    if (!r.ok()) return reply(Response::FromStatus(r.status()));
    nlohmann::json body = ArtifactJson(r->artifact);
    body["created"] = r->created;
    body["lsn"] = r->lsn;
    reply(Response::Json(r->created ? 201 : 200, body));
  });

  router.Add("GET", artifacts + "/{artifact_id}", Role::kViewer, [e](Request& req, Reply reply) {
    Response err;
    std::string tenant;
    auto it = req.query.find("tenant_id");
    if (!MayAct(req, {Role::kAuditor, Role::kCompliance, Role::kOperator}, "read artifacts",
                &err) ||
        !OneTenant(req, it == req.query.end() ? "" : it->second, &tenant, &err) ||
        !WaitForMinLsn(*e, req, &err)) {
      return reply(err);
    }
    const std::string& id = req.params["artifact_id"];
    if (Status s = LifecycleService::ValidateArtifactId(id); !s.ok()) {
      return reply(Response::Error(400, "bad_request", s.message()));
    }
    LifecycleService svc(*e);
    Result<std::optional<ArtifactEntry>> a = svc.Get(tenant, id);
    if (!a.ok()) return reply(Response::FromStatus(a.status()));
    if (!a->has_value()) {
      return reply(Response::Error(404, "not_found",
                                   "artifact '" + id + "' of tenant '" + tenant + "' not found"));
    }
    reply(Response::Json(200, ArtifactJson(**a)));
  });

  router.Add(
      "POST", artifacts + "/{artifact_id}/restore", Role::kViewer, [e](Request& req, Reply reply) {
        Response err;
        nlohmann::json j;
        std::string named, tenant;
        if (!MayAct(req, {Role::kOperator, Role::kCompliance}, "restore an artifact", &err) ||
            !ParseJsonObject(req.body.empty() ? "{}" : req.body, &j, &err) ||
            !OnlyFields(j, {"tenant_id"}, &err) || !StringField(j, "tenant_id", &named, &err) ||
            !OneTenant(req, named, &tenant, &err)) {
          return reply(err);
        }
        const std::string& id = req.params["artifact_id"];
        if (Status s = LifecycleService::ValidateArtifactId(id); !s.ok()) {
          return reply(Response::Error(400, "bad_request", s.message()));
        }
        LifecycleService svc(*e);
        Result<RestoreResult> r =
            svc.Restore(tenant, id, Actor{req.caller.key_id, req.caller.role});
        if (!r.ok()) return reply(Response::FromStatus(r.status()));
        nlohmann::json body = ArtifactJson(r->artifact);
        body["restored"] = r->restored;
        body["from_tier"] = r->from_tier;
        if (r->lsn != 0) body["lsn"] = r->lsn;
        reply(Response::Json(200, body));
      });

  router.Add("GET", lifecycle, Role::kAuditor, [e, defaults](Request& req, Reply reply) {
    Response err;
    std::string tenant;
    LifecyclePolicy policy = defaults;
    size_t listed = 0;
    auto it = req.query.find("tenant_id");
    if (!ResolveTenant(req.caller, it == req.query.end() ? "" : it->second, &tenant, &err) ||
        !QueryPolicy(req, &policy, &err) ||
        !QueryLimit(req, kDefaultListed, kMaxListed, &listed, &err) ||
        !WaitForMinLsn(*e, req, &err)) {
      return reply(err);
    }
    LifecycleService svc(*e);
    Result<std::vector<TenantTierSummary>> tiers = svc.Summary(tenant);
    if (!tiers.ok()) return reply(Response::FromStatus(tiers.status()));
    Result<LifecycleReport> plan = svc.Plan(policy, tenant);
    if (!plan.ok()) return reply(Response::FromStatus(plan.status()));
    reply(Response::Json(
        200, {{"tenant_id", tenant.empty() ? nlohmann::json(nullptr) : nlohmann::json(tenant)},
              {"now", FormatTimestamp(plan->now_us)},
              {"policy", policy.ToJson()},
              {"tiers", TiersJson(*tiers)},
              {"plan", plan->ToJson(listed)}}));
  });

  router.Add("POST", lifecycle + "/run", Role::kAuditor, [e, defaults](Request& req, Reply reply) {
    Response err;
    nlohmann::json j;
    if (!ParseJsonObject(req.body.empty() ? "{}" : req.body, &j, &err) ||
        !OnlyFields(j, {"tenant_id", "dry_run", "hot_days", "warm_days", "cold_days", "limit"},
                    &err)) {
      return reply(err);
    }
    bool dry_run = true;
    if (j.contains("dry_run") && !j["dry_run"].is_null()) {
      if (!j["dry_run"].is_boolean()) {
        return reply(Response::Error(400, "bad_request", "dry_run must be true or false"));
      }
      dry_run = j["dry_run"].get<bool>();
    }
    std::string named, tenant;
    LifecyclePolicy policy = defaults;
    if (!StringField(j, "tenant_id", &named, &err) ||
        !ResolveTenant(req.caller, named, &tenant, &err) || !BodyPolicy(j, &policy, &err) ||
        (!dry_run && !MayAct(req, {Role::kCompliance}, "run the lifecycle job live", &err))) {
      return reply(err);
    }
    if (j.contains("limit") && !j["limit"].is_null()) {
      if (!j["limit"].is_number_unsigned()) {
        return reply(Response::Error(400, "bad_request", "limit must be a non-negative integer"));
      }
      policy.max_actions = j["limit"].get<size_t>();
    }
    LifecycleService svc(*e);
    Result<LifecycleReport> r =
        svc.Run(policy, tenant, !dry_run, Actor{req.caller.key_id, req.caller.role});
    if (!r.ok()) return reply(Response::FromStatus(r.status()));
    nlohmann::json report = r->ToJson(kMaxListed);
    if (!dry_run) {
      if (Status s = r->Outcome(); !s.ok()) {
        // The error (409 legal_hold for a withheld purge), with what was done.
        Response resp = Response::FromStatus(s);
        nlohmann::json body = nlohmann::json::parse(resp.body, nullptr, false);
        body["report"] = std::move(report);
        return reply(Response::Json(resp.status, body));
      }
    }
    reply(Response::Json(200, report));
  });
}

}  // namespace logbook::api
