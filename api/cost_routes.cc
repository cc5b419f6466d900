#include "api/cost_routes.h"

#include "api/route_util.h"

namespace logbook::api {

namespace {

constexpr size_t kDefaultEvents = 50;
constexpr size_t kMaxEvents = 1000;
constexpr size_t kMaxUsageBatch = 10000;

// The tenant of a cost query: tenant_id (query), else the caller's; "" when
// none (kAllTenants: every tenant's figures).
bool QueryTenant(const Request& req, std::string* tenant, Response* err) {
  auto it = req.query.find("tenant_id");
  return ResolveTenant(req.caller, it == req.query.end() ? "" : it->second, tenant, err);
}

bool QueryWindow(const Request& req, int64_t* hours, Response* err) {
  *hours = 24;
  auto it = req.query.find("window");
  if (it == req.query.end() || it->second.empty()) return true;
  if (!Costs::ParseWindow(it->second, hours)) {
    *err = Response::Error(400, "bad_request", "window must be like 24h, 7d or 30d");
    return false;
  }
  return true;
}

// A dollar amount given either as integer micro-dollars (`micros_key`) or as
// dollars (`usd_key`, a number or a decimal string).
bool MoneyField(const nlohmann::json& j, const char* micros_key, const char* usd_key, int64_t* out,
                bool* present, Response* err) {
  *present = false;
  if (j.contains(micros_key) && j.contains(usd_key)) {
    *err = Response::Error(400, "bad_request",
                           std::string("send ") + micros_key + " or " + usd_key + ", not both");
    return false;
  }
  if (j.contains(micros_key)) {
    if (!j[micros_key].is_number_integer() || j[micros_key].get<int64_t>() < 0) {
      *err = Response::Error(400, "bad_request",
                             std::string(micros_key) + " must be a non-negative integer");
      return false;
    }
    *out = j[micros_key].get<int64_t>();
    *present = true;
  } else if (j.contains(usd_key)) {
    if (!UsdFromJson(j[usd_key], out)) {
      *err = Response::Error(400, "bad_request",
                             std::string(usd_key) + " must be dollars (>= 0, at most 6 decimals)");
      return false;
    }
    *present = true;
  }
  return true;
}

bool ParseUsageBody(const Request& req, std::string* tenant, std::vector<UsageInput>* usage,
                    Response* err) {
  nlohmann::json j;
  if (!ParseJsonObject(req.body, &j, err)) return false;
  std::string named;
  if (!StringField(j, "tenant_id", &named, err)) return false;
  std::vector<nlohmann::json> records;
  if (j.contains("usage")) {
    if (!OnlyFields(j, {"tenant_id", "usage"}, err)) return false;
    if (!j["usage"].is_array() || j["usage"].empty() || j["usage"].size() > kMaxUsageBatch) {
      *err = Response::Error(400, "bad_request", "usage must be an array of 1-10000 records");
      return false;
    }
    for (const auto& r : j["usage"]) records.push_back(r);
  } else {
    records.push_back(j);
  }
  for (size_t i = 0; i < records.size(); ++i) {
    nlohmann::json& r = records[i];
    const std::string where = j.contains("usage") ? "usage[" + std::to_string(i) + "]: " : "";
    if (!r.is_object()) {
      *err = Response::Error(400, "bad_request", where + "must be a JSON object");
      return false;
    }
    if (r.contains("tenant_id")) {
      if (!r["tenant_id"].is_string() || (!named.empty() && r["tenant_id"] != named)) {
        *err = Response::Error(400, "bad_request",
                               where + "every record must be for the same tenant_id");
        return false;
      }
      named = r["tenant_id"].get<std::string>();
      r.erase("tenant_id");
    }
    UsageInput u;
    if (Status s = UsageFromJson(r, &u); !s.ok()) {
      *err = Response::Error(400, "bad_request", where + s.message());
      return false;
    }
    usage->push_back(std::move(u));
  }
  if (!ResolveTenant(req.caller, named, tenant, err)) return false;
  if (tenant->empty()) {
    *err =
        Response::Error(400, "tenant_required", "usage needs a tenant: tenant_id or X-Tenant-ID");
    return false;
  }
  return true;
}

}  // namespace

void AddCostRoutes(Router& router, Engine& engine) {
  Engine* e = &engine;

  router.Add("POST", "/api/v1/ops/costs/usage", Role::kOperator, [e](Request& req, Reply reply) {
    std::string tenant;
    std::vector<UsageInput> usage;
    Response err;
    if (!ParseUsageBody(req, &tenant, &usage, &err)) return reply(err);
    auto priced = std::make_shared<std::vector<std::pair<int64_t, std::string>>>();
    Result<std::vector<EventInput>> events = e->costs().PrepareUsage(tenant, usage, priced.get());
    if (!events.ok()) return reply(Response::FromStatus(events.status()));
    Actor actor{req.caller.key_id, req.caller.role};
    const std::string stream = Costs::Stream(tenant);
    e->AppendJsonAsync(stream, tenant, actor, ExpectedVersion::Any(), *events,
                       [reply, tenant, stream, priced](Result<AppendResult> r) {
                         if (!r.ok()) return reply(Response::FromStatus(r.status()));
                         nlohmann::json records = nlohmann::json::array();
                         int64_t total = 0;
                         for (size_t i = 0; i < priced->size(); ++i) {
                           total += (*priced)[i].first;
                           records.push_back({{"event_id", EventIdToString(r->event_ids[i])},
                                              {"usd_micros", (*priced)[i].first},
                                              {"cost_source", (*priced)[i].second}});
                         }
                         reply(Response::Json(201, {{"tenant_id", tenant},
                                                    {"stream", stream},
                                                    {"first_lsn", r->first_lsn},
                                                    {"last_lsn", r->last_lsn},
                                                    {"deduplicated", r->deduplicated},
                                                    {"recorded", records.size()},
                                                    {"usd_micros", total},
                                                    {"usage", std::move(records)}}));
                       });
  });

  router.Add("GET", "/api/v1/ops/costs/summary", Role::kViewer, [e](Request& req, Reply reply) {
    std::string tenant;
    int64_t hours = 0;
    Response err;
    if (!QueryTenant(req, &tenant, &err) || !QueryWindow(req, &hours, &err) ||
        !WaitForMinLsn(*e, req, &err)) {
      return reply(err);
    }
    Result<nlohmann::json> s = e->costs().Summary(tenant.empty() ? kAllTenants : tenant, hours);
    if (!s.ok()) return reply(Response::FromStatus(s.status()));
    reply(Response::Json(200, *s));
  });

  router.Add("GET", "/api/v1/ops/costs/events", Role::kViewer, [e](Request& req, Reply reply) {
    std::string tenant;
    size_t limit = 0;
    Response err;
    if (!QueryTenant(req, &tenant, &err) ||
        !QueryLimit(req, kDefaultEvents, kMaxEvents, &limit, &err) ||
        !WaitForMinLsn(*e, req, &err)) {
      return reply(err);
    }
    if (tenant.empty()) {
      return reply(Response::Error(400, "tenant_required", "tenant_id or X-Tenant-ID is required"));
    }
    Result<nlohmann::json> events = e->costs().Events(tenant, limit);
    if (!events.ok()) return reply(Response::FromStatus(events.status()));
    reply(Response::Json(200,
                         {{"tenant_id", tenant}, {"count", events->size()}, {"events", *events}}));
  });

  router.Add("GET", "/api/v1/ops/costs/alerts", Role::kViewer, [e](Request& req, Reply reply) {
    std::string tenant;
    int64_t hours = 0;
    Response err;
    if (!QueryTenant(req, &tenant, &err) || !QueryWindow(req, &hours, &err) ||
        !WaitForMinLsn(*e, req, &err)) {
      return reply(err);
    }
    Result<nlohmann::json> a = e->costs().Alerts(tenant.empty() ? kAllTenants : tenant, hours);
    if (!a.ok()) return reply(Response::FromStatus(a.status()));
    reply(Response::Json(200, *a));
  });

  router.Add("GET", "/api/v1/ops/costs/pricing", Role::kViewer, [e](Request&, Reply reply) {
    reply(Response::Json(
        200, {{"pricing", e->costs().pricing().ToJson()}, {"unit", "USD per 1M tokens"}}));
  });

  router.Add("POST", "/api/v1/ops/budget/check", Role::kOperator, [e](Request& req, Reply reply) {
    nlohmann::json j;
    Response err;
    if (!ParseJsonObject(req.body, &j, &err) ||
        !OnlyFields(
            j, {"tenant_id", "projected_usd_micros", "projected_usd", "request_id", "workflow"},
            &err)) {
      return reply(err);
    }
    std::string named, request_id, workflow, tenant;
    int64_t projected = 0;
    bool present = false;
    if (!StringField(j, "tenant_id", &named, &err) ||
        !StringField(j, "request_id", &request_id, &err) ||
        !StringField(j, "workflow", &workflow, &err) ||
        !MoneyField(j, "projected_usd_micros", "projected_usd", &projected, &present, &err) ||
        !ResolveTenant(req.caller, named, &tenant, &err)) {
      return reply(err);
    }
    if (tenant.empty()) {
      return reply(Response::Error(400, "tenant_required", "tenant_id or X-Tenant-ID is required"));
    }
    Actor actor{req.caller.key_id, req.caller.role};
    Result<BudgetCheckResult> r = e->costs().Check(tenant, projected, request_id, workflow, actor);
    if (!r.ok()) return reply(Response::FromStatus(r.status()));
    nlohmann::json checks = nlohmann::json::array();
    for (const BudgetLine& l : r->lines) checks.push_back(l.ToJson());
    nlohmann::json event = nullptr;
    if (r->event_lsn != 0) event = {{"type", r->event_type}, {"lsn", r->event_lsn}};
    reply(Response::Json(200, {{"tenant_id", tenant},
                               {"decision", std::string(BudgetDecisionName(r->decision))},
                               {"allowed", r->decision != BudgetDecision::kDeny},
                               {"projected_usd_micros", projected},
                               {"checks", std::move(checks)},
                               {"event", std::move(event)}}));
  });

  router.Add("GET", "/api/v1/ops/budgets", Role::kViewer, [e](Request& req, Reply reply) {
    std::string tenant;
    Response err;
    if (!QueryTenant(req, &tenant, &err) || !WaitForMinLsn(*e, req, &err)) return reply(err);
    Result<nlohmann::json> all = e->costs().Budgets();
    if (!all.ok()) return reply(Response::FromStatus(all.status()));
    nlohmann::json body = *all;
    if (!req.caller.key_tenant.empty() || !tenant.empty()) {
      // A tenant sees its own budget (and the global one), no other tenant's.
      nlohmann::json mine = nlohmann::json::object();
      if (body["tenants"].contains(tenant)) mine[tenant] = body["tenants"][tenant];
      body["tenants"] = std::move(mine);
    }
    Result<std::vector<BudgetLine>> lines =
        e->costs().BudgetStatus(tenant.empty() ? kAllTenants : tenant);
    if (!lines.ok()) return reply(Response::FromStatus(lines.status()));
    nlohmann::json status = nlohmann::json::array();
    for (const BudgetLine& l : *lines) status.push_back(l.ToJson());
    body["tenant_id"] = tenant.empty() ? nlohmann::json(nullptr) : nlohmann::json(tenant);
    body["status"] = std::move(status);
    reply(Response::Json(200, body));
  });

  router.Add("POST", "/api/v1/ops/budgets", Role::kAdmin, [e](Request& req, Reply reply) {
    nlohmann::json j;
    Response err;
    if (!ParseJsonObject(req.body, &j, &err) ||
        !OnlyFields(j,
                    {"scope", "tenant_id", "daily_usd_micros", "daily_usd", "monthly_usd_micros",
                     "monthly_usd", "soft_threshold", "hard_threshold", "by"},
                    &err)) {
      return reply(err);
    }
    std::string scope = "tenant", named, tenant;
    BudgetRecord b;
    b.soft_threshold = e->costs().options().soft_threshold;
    b.hard_threshold = e->costs().options().hard_threshold;
    bool daily = false, monthly = false;
    if (!StringField(j, "scope", &scope, &err) || !StringField(j, "tenant_id", &named, &err) ||
        !StringField(j, "by", &b.by, &err) ||
        !MoneyField(j, "daily_usd_micros", "daily_usd", &b.daily_usd_micros, &daily, &err) ||
        !MoneyField(j, "monthly_usd_micros", "monthly_usd", &b.monthly_usd_micros, &monthly,
                    &err)) {
      return reply(err);
    }
    for (const auto& [key, dst] :
         {std::pair<const char*, double*>{"soft_threshold", &b.soft_threshold},
          std::pair<const char*, double*>{"hard_threshold", &b.hard_threshold}}) {
      if (!j.contains(key)) continue;
      if (!j[key].is_number()) {
        return reply(Response::Error(400, "bad_request", std::string(key) + " must be a number"));
      }
      *dst = j[key].get<double>();
    }
    if (scope == "global") {
      if (!req.caller.key_tenant.empty()) {
        return reply(
            Response::Error(403, "forbidden", "the global budget needs an all-tenant admin key"));
      }
      if (!named.empty()) {
        return reply(Response::Error(400, "bad_request", "a global budget has no tenant_id"));
      }
    } else if (!ResolveTenant(req.caller, named, &tenant, &err)) {
      return reply(err);
    } else if (tenant.empty()) {
      return reply(Response::Error(400, "tenant_required", "tenant_id or X-Tenant-ID is required"));
    }
    Actor actor{req.caller.key_id, req.caller.role};
    Result<AppendResult> r = e->costs().SetBudget(scope, tenant, b, actor);
    if (!r.ok()) return reply(Response::FromStatus(r.status()));
    reply(Response::Json(
        201, {{"scope", scope},
              {"tenant_id", scope == "global" ? nlohmann::json(nullptr) : nlohmann::json(tenant)},
              {"daily_usd_micros", b.daily_usd_micros},
              {"monthly_usd_micros", b.monthly_usd_micros},
              {"soft_threshold", b.soft_threshold},
              {"hard_threshold", b.hard_threshold},
              {"lsn", r->last_lsn}}));
  });
}

}  // namespace logbook::api
