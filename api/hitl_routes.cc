#include "api/hitl_routes.h"

#include "api/route_util.h"

namespace logbook::api {

namespace {

constexpr size_t kDefaultList = 20;
constexpr size_t kMaxList = 1000;

HitlAccess AccessOf(const Caller& c) { return HitlAccess{c.key_tenant, c.tenant, c.role}; }

Response FromHitl(const HitlResult& r, Engine& engine, int ok_status = 200) {
  switch (r.code) {
    case HitlCode::kOk: {
      nlohmann::json j = CheckpointJson(r.state, engine.Now());
      j["deduplicated"] = r.deduplicated;
      if (r.lsn != 0) j["lsn"] = r.lsn;
      return Response::Json(r.deduplicated ? 200 : ok_status, j);
    }
    case HitlCode::kNotFound:
      return Response::Error(404, "not_found", r.message);
    case HitlCode::kTenantRequired:
      return Response::Error(400, "tenant_required", r.message);
    case HitlCode::kForbidden:
      return Response::Error(403, "forbidden", r.message);
    case HitlCode::kInvalid:
      return Response::Error(422, "invalid_argument", r.message);
    case HitlCode::kExists:
      return Response::Error(409, "checkpoint_exists", r.message);
    case HitlCode::kNotPending: {
      const std::string status(CheckpointStatusName(r.state.status));
      return Response::Json(
          409, {{"error",
                 {{"code", "checkpoint_" + status}, {"message", r.message}, {"status", status}}}});
    }
    case HitlCode::kError:
      return Response::FromStatus(r.status);
  }
  return Response::Error(500, "internal", r.message);
}

// Body of a create: every CheckpointSpec field, seed names first.
bool ParseCreate(const Request& req, CheckpointSpec* spec, Response* err) {
  nlohmann::json j;
  if (!ParseJsonObject(req.body, &j, err) ||
      !OnlyFields(j,
                  {"checkpoint_id", "tenant_id", "dag_run_id", "thread_id", "prompt",
                   "required_role", "source_ids", "candidate_source_ids", "expires_at",
                   "expires_at_us", "ttl_seconds", "context", "by"},
                  err)) {
    return false;
  }
  std::string tenant_id;
  if (!StringField(j, "checkpoint_id", &spec->id, err) ||
      !StringField(j, "tenant_id", &tenant_id, err) ||
      !StringField(j, "dag_run_id", &spec->dag_run_id, err) ||
      !StringField(j, "thread_id", &spec->thread_id, err) ||
      !StringField(j, "prompt", &spec->prompt, err) ||
      !StringField(j, "required_role", &spec->required_role, err) ||
      !StringsField(j, "source_ids", &spec->source_ids, err) ||
      !StringField(j, "by", &spec->by, err)) {
    return false;
  }
  if (j.contains("candidate_source_ids")) {
    if (j.contains("source_ids")) {
      *err =
          Response::Error(400, "bad_request", "send source_ids or candidate_source_ids, not both");
      return false;
    }
    if (!StringsField(j, "candidate_source_ids", &spec->source_ids, err)) return false;
  }
  if (!ResolveTenant(req.caller, tenant_id, &spec->tenant, err)) return false;
  int deadlines = 0;
  if (j.contains("expires_at")) {
    ++deadlines;
    if (!j["expires_at"].is_string() ||
        !ParseTimestamp(j["expires_at"].get<std::string>(), &spec->expires_at_us)) {
      *err = Response::Error(400, "bad_request", "expires_at must be an RFC 3339 UTC time");
      return false;
    }
  }
  if (j.contains("expires_at_us")) {
    ++deadlines;
    if (!j["expires_at_us"].is_number_unsigned()) {
      *err = Response::Error(400, "bad_request", "expires_at_us must be µs since the epoch");
      return false;
    }
    spec->expires_at_us = j["expires_at_us"].get<int64_t>();
  }
  if (j.contains("ttl_seconds")) {
    ++deadlines;
    if (!j["ttl_seconds"].is_number_unsigned() || j["ttl_seconds"].get<uint64_t>() == 0 ||
        j["ttl_seconds"].get<uint64_t>() > 100ULL * 365 * 86400) {
      *err =
          Response::Error(400, "bad_request", "ttl_seconds must be a positive number of seconds");
      return false;
    }
    spec->ttl_us = j["ttl_seconds"].get<int64_t>() * 1000000;
  }
  if (deadlines > 1) {
    *err =
        Response::Error(400, "bad_request", "send one of expires_at, expires_at_us, ttl_seconds");
    return false;
  }
  if (j.contains("context") && !j["context"].is_null()) {
    if (!j["context"].is_object()) {
      *err = Response::Error(400, "bad_request", "context must be a JSON object");
      return false;
    }
    spec->context_json = j["context"].dump();
  }
  return true;
}

struct DecisionBody {
  std::string id;
  std::vector<std::string> approved;
  bool has_approved = false;
  std::string data_json;
  std::string reason;
  std::string by;
};

bool ParseDecision(const Request& req, bool approve, bool id_in_body, DecisionBody* d,
                   Response* err) {
  nlohmann::json j;
  if (!ParseJsonObject(req.body.empty() ? "{}" : req.body, &j, err)) return false;
  const bool fields_ok =
      approve ? OnlyFields(j, {"checkpoint_id", "approved_source_ids", "data", "by"}, err)
              : OnlyFields(j, {"reason", "by"}, err);
  if (!fields_ok || !StringField(j, "by", &d->by, err)) return false;
  if (id_in_body) {
    if (!j.contains("checkpoint_id") || !j["checkpoint_id"].is_string()) {
      *err = Response::Error(400, "bad_request", "checkpoint_id must be a string");
      return false;
    }
    d->id = j["checkpoint_id"].get<std::string>();
  } else {
    d->id = req.params.at("id");
    if (j.contains("checkpoint_id") &&
        (!j["checkpoint_id"].is_string() || j["checkpoint_id"].get<std::string>() != d->id)) {
      *err = Response::Error(400, "bad_request", "checkpoint_id differs from the path");
      return false;
    }
  }
  if (approve) {
    d->has_approved = j.contains("approved_source_ids");
    if (!StringsField(j, "approved_source_ids", &d->approved, err)) return false;
    if (j.contains("data") && !j["data"].is_null()) {
      if (!j["data"].is_object()) {
        *err = Response::Error(400, "bad_request", "data must be a JSON object");
        return false;
      }
      d->data_json = j["data"].dump();
    }
  } else {
    if (!StringField(j, "reason", &d->reason, err)) return false;
    if (d->reason.empty()) {
      *err = Response::Error(400, "bad_request", "a rejection needs a reason");
      return false;
    }
  }
  return true;
}

}  // namespace

void AddHitlRoutes(Router& router, Engine& engine) {
  Engine* e = &engine;

  router.Add("POST", "/api/v1/copilot/hitl/checkpoints", Role::kOperator,
             [e](Request& req, Reply reply) {
               CheckpointSpec spec;
               Response err;
               if (!ParseCreate(req, &spec, &err)) return reply(err);
               Actor actor{req.caller.key_id, req.caller.role};
               reply(FromHitl(e->hitl().Create(spec, actor), *e, 201));
             });

  router.Add(
      "GET", "/api/v1/copilot/hitl/checkpoints", Role::kViewer, [e](Request& req, Reply reply) {
        Response err;
        size_t limit = 0;
        if (!QueryLimit(req, kDefaultList, kMaxList, &limit, &err) ||
            !WaitForMinLsn(*e, req, &err)) {
          return reply(err);
        }
        std::optional<CheckpointStatus> status;
        if (auto it = req.query.find("status"); it != req.query.end() && !it->second.empty()) {
          CheckpointStatus s;
          if (!ParseCheckpointStatus(it->second, &s)) {
            return reply(Response::Error(400, "bad_request",
                                         "status must be pending, approved, rejected or expired"));
          }
          status = s;
        }
        if (req.caller.tenant.empty()) {
          return reply(Response::Error(400, "tenant_required",
                                       "X-Tenant-ID is required to list checkpoints"));
        }
        Result<std::vector<CheckpointState>> list =
            e->hitl().List(std::optional<std::string>(req.caller.tenant), status, limit);
        if (!list.ok()) return reply(Response::FromStatus(list.status()));
        const int64_t now = e->Now();
        nlohmann::json items = nlohmann::json::array();
        for (const auto& st : *list) items.push_back(CheckpointJson(st, now));
        reply(Response::Json(
            200, {{"tenant_id", req.caller.tenant},
                  {"status", status ? nlohmann::json(std::string(CheckpointStatusName(*status)))
                                    : nlohmann::json(nullptr)},
                  {"count", items.size()},
                  {"checkpoints", std::move(items)}}));
      });

  router.Add("GET", "/api/v1/copilot/hitl/checkpoints/{id}", Role::kViewer,
             [e](Request& req, Reply reply) {
               Response err;
               if (!WaitForMinLsn(*e, req, &err)) return reply(err);
               reply(FromHitl(e->hitl().Get(req.params["id"], AccessOf(req.caller)), *e));
             });

  auto approve = [e](bool id_in_body) {
    return [e, id_in_body](Request& req, Reply reply) {
      DecisionBody d;
      Response err;
      if (!ParseDecision(req, true, id_in_body, &d, &err)) return reply(err);
      if (id_in_body && !d.has_approved) {
        return reply(
            Response::Error(400, "bad_request", "approved_source_ids must be an array of strings"));
      }
      Actor actor{req.caller.key_id, req.caller.role};
      reply(FromHitl(
          e->hitl().Approve(d.id, AccessOf(req.caller), d.approved, d.data_json, d.by, actor), *e));
    };
  };
  router.Add("POST", "/api/v1/copilot/validation-response", Role::kViewer, approve(true));
  router.Add("POST", "/api/v1/copilot/hitl/checkpoints/{id}/approve", Role::kViewer,
             approve(false));

  router.Add(
      "POST", "/api/v1/copilot/hitl/checkpoints/{id}/reject", Role::kViewer,
      [e](Request& req, Reply reply) {
        DecisionBody d;
        Response err;
        if (!ParseDecision(req, false, false, &d, &err)) return reply(err);
        Actor actor{req.caller.key_id, req.caller.role};
        reply(FromHitl(e->hitl().Reject(d.id, AccessOf(req.caller), d.reason, d.by, actor), *e));
      });

  router.Add("GET", "/api/v1/copilot/hitl/audit", Role::kViewer, [e](Request& req, Reply reply) {
    Response err;
    size_t limit = 0;
    if (!QueryLimit(req, 100, kMaxList, &limit, &err) || !WaitForMinLsn(*e, req, &err)) {
      return reply(err);
    }
    int64_t from = 0, to = INT64_MAX;
    for (const auto& [name, dst] : {std::pair<const char*, int64_t*>{"since", &from},
                                    std::pair<const char*, int64_t*>{"until", &to}}) {
      auto it = req.query.find(name);
      if (it != req.query.end() && !it->second.empty() && !ParseTimestamp(it->second, dst)) {
        return reply(Response::Error(400, "bad_request",
                                     std::string(name) + " must be an RFC 3339 UTC time or µs"));
      }
    }
    std::optional<std::string> tenant;
    if (!req.caller.tenant.empty()) tenant = req.caller.tenant;
    Result<std::vector<CheckpointAuditEntry>> trail = e->hitl().Audit(tenant, from, to, limit);
    if (!trail.ok()) return reply(Response::FromStatus(trail.status()));
    nlohmann::json items = nlohmann::json::array();
    for (const auto& a : *trail) {
      nlohmann::json j = {{"lsn", a.lsn},
                          {"recorded_at", FormatTimestamp(a.recorded_at_us)},
                          {"tenant_id", a.tenant},
                          {"checkpoint_id", a.checkpoint_id},
                          {"action", a.action},
                          {"by", a.by},
                          {"role", std::string(RoleName(a.role))},
                          {"at", FormatTimestamp(a.at_us)}};
      if (a.action == "approved") j["approved_source_ids"] = a.approved_source_ids;
      if (a.action == "rejected") j["reason"] = a.reason;
      items.push_back(std::move(j));
    }
    reply(Response::Json(200,
                         {{"tenant_id", tenant ? nlohmann::json(*tenant) : nlohmann::json(nullptr)},
                          {"entries", std::move(items)}}));
  });
}

}  // namespace logbook::api
