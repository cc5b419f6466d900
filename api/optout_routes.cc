#include "api/optout_routes.h"

#include "api/route_helpers.h"

namespace logbook::api {

namespace {

// Setting and clearing opt-outs is for the agent runtime (operator) and for
// compliance staff; the router takes one minimum role, so check both here.
bool MayManage(const Request& req, Response* err) {
  if (RoleAllows(req.caller.role, Role::kOperator) ||
      RoleAllows(req.caller.role, Role::kCompliance)) {
    return true;
  }
  *err = Response::Error(403, "forbidden", "this route needs the operator or compliance role");
  return false;
}

// expires_at as RFC 3339 UTC text or integer µs, or ttl_seconds from now.
bool ParseExpiry(const nlohmann::json& body, int64_t now, int64_t* out, Response* err) {
  *out = 0;
  auto e = body.find("expires_at");
  auto t = body.find("ttl_seconds");
  const bool has_e = e != body.end() && !e->is_null();
  const bool has_t = t != body.end() && !t->is_null();
  if (has_e && has_t) {
    *err = Response::Error(400, "bad_request", "give expires_at or ttl_seconds, not both");
    return false;
  }
  if (has_e) {
    if (e->is_number_unsigned()) {
      *out = static_cast<int64_t>(std::min<uint64_t>(e->get<uint64_t>(), INT64_MAX));
    } else if (!e->is_string() || !ParseTimestamp(e->get<std::string>(), out)) {
      *err = Response::Error(400, "bad_request",
                             "expires_at must be RFC 3339 UTC (\"2027-01-31T00:00:00Z\") or µs");
      return false;
    }
  }
  if (has_t) {
    if (!t->is_number_unsigned() || t->get<uint64_t>() == 0 ||
        t->get<uint64_t>() > uint64_t{100} * 365 * 24 * 3600) {
      *err = Response::Error(400, "bad_request", "ttl_seconds must be a positive integer");
      return false;
    }
    *out = now + static_cast<int64_t>(t->get<uint64_t>()) * 1000000;
  }
  return true;
}

}  // namespace

void AddOptOutRoutes(Router& router, const OptOutRouteDeps& deps) {
  Engine* engine = deps.engine;
  OptOutService* svc = deps.optouts;
  const std::string base = "/api/v1/opt-outs";

  router.Add("POST", base, Role::kViewer, [engine, svc](Request& req, Reply reply) {
    Response err;
    nlohmann::json body;
    OptOutInput in;
    if (!MayManage(req, &err) || !RequireTenant(req, &err) ||
        !ParseObject(req.body, {"user", "channel", "reason", "expires_at", "ttl_seconds", "by"},
                     &body, &err) ||
        !StringField(body, "user", &in.user, &err) ||
        !StringField(body, "channel", &in.channel, &err) ||
        !StringField(body, "reason", &in.reason, &err) || !StringField(body, "by", &in.by, &err) ||
        !ParseExpiry(body, svc->Now(), &in.expires_at_us, &err)) {
      return reply(err);
    }
    in.tenant = req.caller.tenant;
    if (in.by.empty()) in.by = req.caller.key_id;
    SubmitAndReply(*engine, svc->PlanSet(in), req.caller, 201, std::move(reply));
  });

  router.Add("GET", base + "/check", Role::kViewer, [svc](Request& req, Reply reply) {
    Response err;
    if (!RequireTenant(req, &err)) return reply(err);
    reply(FromResult(
        200, svc->Check(req.caller.tenant, QueryText(req, "user"), QueryText(req, "channel"))));
  });

  router.Add("GET", base, Role::kViewer, [svc](Request& req, Reply reply) {
    Response err;
    bool include_expired = true;
    if (!RequireTenant(req, &err) || !QueryFlag(req, "include_expired", &include_expired, &err)) {
      return reply(err);
    }
    reply(FromResult(200, svc->List(req.caller.tenant, QueryText(req, "user"),
                                    QueryText(req, "channel"), include_expired)));
  });

  router.Add("GET", base + "/history", Role::kViewer, [svc](Request& req, Reply reply) {
    Response err;
    uint64_t from = 0;
    uint64_t limit = kDefaultPageSize;
    if (!RequireTenant(req, &err) || !QueryU64(req, "from_lsn", &from, &err) ||
        !QueryU64(req, "limit", &limit, &err)) {
      return reply(err);
    }
    if (limit == 0 || limit > kMaxPageSize) {
      return reply(
          Response::Error(400, "bad_request", "limit must be 1.." + std::to_string(kMaxPageSize)));
    }
    reply(
        FromResult(200, svc->History(req.caller.tenant, QueryText(req, "user"),
                                     QueryText(req, "channel"), from, static_cast<size_t>(limit))));
  });

  router.Add("DELETE", base + "/{opt_out_id}", Role::kViewer,
             [engine, svc](Request& req, Reply reply) {
               Response err;
               if (!MayManage(req, &err) || !RequireTenant(req, &err)) return reply(err);
               std::string by = QueryText(req, "by");
               if (by.empty()) by = req.caller.key_id;
               SubmitAndReply(*engine,
                              svc->PlanClearId(req.caller.tenant, req.params["opt_out_id"],
                                               QueryText(req, "reason"), by),
                              req.caller, 200, std::move(reply));
             });

  router.Add("POST", base + "/clear", Role::kViewer, [engine, svc](Request& req, Reply reply) {
    Response err;
    nlohmann::json body;
    std::string user, channel, reason, by;
    if (!MayManage(req, &err) || !RequireTenant(req, &err) ||
        !ParseObject(req.body, {"user", "channel", "reason", "by"}, &body, &err) ||
        !StringField(body, "user", &user, &err) || !StringField(body, "channel", &channel, &err) ||
        !StringField(body, "reason", &reason, &err) || !StringField(body, "by", &by, &err)) {
      return reply(err);
    }
    if (by.empty()) by = req.caller.key_id;
    SubmitAndReply(*engine, svc->PlanClearScope(req.caller.tenant, user, channel, reason, by),
                   req.caller, 200, std::move(reply));
  });
}

}  // namespace logbook::api
