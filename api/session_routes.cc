#include "api/session_routes.h"

#include <sstream>

#include "api/core_routes.h"
#include "engine/bundle.h"

namespace logbook::api {

using nlohmann::json;

namespace {

constexpr char kAdminSessions[] = "/api/admin/awf/sessions";

// Errors of the session routes: state conflicts are 409 "conflict" (not a
// client-chosen expected version), bundles over the limit 413, rejected
// bundles 422 with the reason.
Response SessionError(const Status& s) {
  if (s.IsConflict()) return Response::Error(409, "conflict", s.message());
  if (IsBundleTooLarge(s)) return Response::Error(413, "payload_too_large", s.message());
  return Response::FromStatus(s);
}

Response BundleError(const Status& s) {
  if (s.IsCorruption() || s.IsInvalidArgument()) {
    if (IsBundleTooLarge(s)) return Response::Error(413, "payload_too_large", s.message());
    return Response::Error(422, "bundle_rejected", s.message());
  }
  return SessionError(s);
}

// The session's header if the caller may see its tenant; otherwise 404,
// exactly like a session that does not exist.
Result<json> VisibleSession(Engine& engine, const Caller& c, const std::string& sid) {
  Result<json> h = engine.sessions().Header(sid);
  if (!h.ok()) return h.status();
  if (!CanSeeTenant(c, (*h)["tenant"].get<std::string>())) {
    return Status::NotFound("session '" + sid + "' not found");
  }
  return h;
}

Actor ActorOf(const Caller& c) { return Actor{c.key_id, c.role}; }

bool ParseObject(const std::string& body, json* out, Response* err, bool allow_empty = true) {
  if (body.empty() && allow_empty) {
    *out = json::object();
    return true;
  }
  *out = json::parse(body, nullptr, false);
  if (out->is_discarded() || !out->is_object()) {
    *err = Response::Error(400, "bad_request", "body must be a JSON object");
    return false;
  }
  return true;
}

bool CheckFields(const json& j, std::initializer_list<std::string_view> allowed, Response* err) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      *err = Response::Error(400, "bad_request", "unknown field '" + it.key() + "'");
      return false;
    }
  }
  return true;
}

bool OptString(const json& j, const char* k, std::string* out, Response* err) {
  if (!j.contains(k)) return true;
  if (!j[k].is_string()) {
    *err = Response::Error(400, "bad_request", std::string(k) + " must be a string");
    return false;
  }
  *out = j[k].get<std::string>();
  return true;
}

bool QueryBool(const Request& req, const std::string& name, bool* out, Response* err) {
  auto it = req.query.find(name);
  if (it == req.query.end()) return true;
  if (it->second == "true" || it->second == "1" || it->second.empty()) {
    *out = true;
  } else if (it->second == "false" || it->second == "0") {
    *out = false;
  } else {
    *err =
        Response::Error(400, "bad_request", "query parameter '" + name + "' must be true or false");
    return false;
  }
  return true;
}

}  // namespace

void AddSessionRoutes(Router& router, Engine& engine) {
  Engine* e = &engine;

  // ---- sessions and turns (operators)
  router.Add("POST", "/v1/sessions", Role::kOperator, [e](Request& req, Reply reply) {
    json b;
    Response err;
    if (!ParseObject(req.body, &b, &err) ||
        !CheckFields(b, {"session_id", "user", "channel", "kind", "ttl_seconds", "metadata"},
                     &err)) {
      return reply(err);
    }
    StartSessionInput in;
    if (!OptString(b, "session_id", &in.session_id, &err) ||
        !OptString(b, "user", &in.user, &err) || !OptString(b, "channel", &in.channel, &err) ||
        !OptString(b, "kind", &in.kind, &err)) {
      return reply(err);
    }
    if (b.contains("ttl_seconds")) {
      if (!b["ttl_seconds"].is_number_unsigned()) {
        return reply(
            Response::Error(400, "bad_request", "ttl_seconds must be a non-negative integer"));
      }
      in.ttl_us = static_cast<int64_t>(b["ttl_seconds"].get<uint64_t>()) * 1000000;
    }
    if (b.contains("metadata")) {
      if (!b["metadata"].is_object()) {
        return reply(Response::Error(400, "bad_request", "metadata must be an object"));
      }
      in.metadata_json = b["metadata"].dump();
    }
    if (req.caller.tenant.empty()) {
      return reply(Response::Error(400, "bad_request",
                                   "a session belongs to a tenant: send X-Tenant-ID with an "
                                   "all-tenant key"));
    }
    Result<json> h = e->sessions().Start(req.caller.tenant, ActorOf(req.caller), in);
    if (!h.ok()) return reply(SessionError(h.status()));
    reply(Response::Json(201, *h));
  });

  router.Add("GET", "/v1/sessions/{id}", Role::kViewer, [e](Request& req, Reply reply) {
    const std::string sid = req.params["id"];
    Result<json> h = VisibleSession(*e, req.caller, sid);
    if (!h.ok()) return reply(SessionError(h.status()));
    Result<json> v = e->sessions().View(sid);
    if (!v.ok()) return reply(SessionError(v.status()));
    reply(Response::Json(200, *v));
  });

  router.Add("POST", "/v1/sessions/{id}/turns", Role::kOperator, [e](Request& req, Reply reply) {
    const std::string sid = req.params["id"];
    json b;
    Response err;
    if (!ParseObject(req.body, &b, &err, /*allow_empty=*/false) ||
        !CheckFields(b, {"turn_id", "awf_raw", "acts"}, &err)) {
      return reply(err);
    }
    TurnInput in;
    in.session_id = sid;
    if (!OptString(b, "turn_id", &in.turn_id, &err)) return reply(err);
    if (!b.contains("acts") || !b["acts"].is_array()) {
      return reply(
          Response::Error(400, "bad_request", "acts must be an array of JSON Patch operations"));
    }
    in.acts_json = b["acts"].dump();
    if (b.contains("awf_raw")) in.awf_raw_json = b["awf_raw"].dump();
    Result<json> h = VisibleSession(*e, req.caller, sid);
    if (!h.ok()) return reply(SessionError(h.status()));
    Result<TurnOutcome> o = e->sessions().SubmitTurn(ActorOf(req.caller), in);
    if (!o.ok()) return reply(SessionError(o.status()));
    reply(Response::Json(201, o->ToJson()));
  });

  // ---- snapshots (admins)
  const std::string base = kAdminSessions;
  router.Add("POST", base + "/{id}/snapshots", Role::kAdmin, [e](Request& req, Reply reply) {
    const std::string sid = req.params["id"];
    json b;
    Response err;
    if (!ParseObject(req.body, &b, &err) || !CheckFields(b, {"label"}, &err)) return reply(err);
    std::string label;
    if (!OptString(b, "label", &label, &err)) return reply(err);
    Result<json> h = VisibleSession(*e, req.caller, sid);
    if (!h.ok()) return reply(SessionError(h.status()));
    Result<SnapshotResult> r = e->sessions().CreateSnapshot(ActorOf(req.caller), sid, label);
    if (!r.ok()) return reply(SessionError(r.status()));
    reply(Response::Json(
        r->created ? 201 : 200,
        {{"created", r->created}, {"snapshot", r->snapshot}, {"deleted_by_limits", r->deleted}}));
  });

  router.Add("GET", base + "/{id}/snapshots", Role::kAdmin, [e](Request& req, Reply reply) {
    const std::string sid = req.params["id"];
    Result<json> h = VisibleSession(*e, req.caller, sid);
    if (!h.ok()) return reply(SessionError(h.status()));
    Result<json> r = e->sessions().ListSnapshots(sid);
    if (!r.ok()) return reply(SessionError(r.status()));
    reply(Response::Json(200, *r));
  });

  router.Add("DELETE", base + "/{id}/snapshots/{snapshotId}", Role::kAdmin,
             [e](Request& req, Reply reply) {
               const std::string sid = req.params["id"];
               Result<json> h = VisibleSession(*e, req.caller, sid);
               if (!h.ok()) return reply(SessionError(h.status()));
               Status s =
                   e->sessions().DeleteSnapshot(ActorOf(req.caller), sid, req.params["snapshotId"]);
               if (!s.ok()) return reply(SessionError(s));
               reply(Response::Json(200, {{"deleted", req.params["snapshotId"]}}));
             });

  router.Add(
      "POST", base + "/{id}/restore/{snapshotId}", Role::kAdmin, [e](Request& req, Reply reply) {
        const std::string sid = req.params["id"];
        Result<json> h = VisibleSession(*e, req.caller, sid);
        if (!h.ok()) return reply(SessionError(h.status()));
        Result<json> r =
            e->sessions().RestoreSnapshot(ActorOf(req.caller), sid, req.params["snapshotId"]);
        if (!r.ok()) return reply(SessionError(r.status()));
        reply(Response::Json(200, *r));
      });

  // ---- recap
  router.Add("GET", base + "/{id}/recap", Role::kAdmin, [e](Request& req, Reply reply) {
    const std::string sid = req.params["id"];
    std::optional<size_t> k;
    auto it = req.query.find("lastTurns");
    if (it != req.query.end()) {
      uint64_t v = 0;
      Response err;
      if (!QueryU64(req, "lastTurns", &v, &err)) return reply(err);
      if (v > 100) return reply(Response::Error(400, "bad_request", "lastTurns must be 0..100"));
      k = static_cast<size_t>(v);
    }
    Result<json> h = VisibleSession(*e, req.caller, sid);
    if (!h.ok()) return reply(SessionError(h.status()));
    Result<Recap> r = e->sessions().BuildRecap(sid, k);
    if (!r.ok()) return reply(SessionError(r.status()));
    reply(Response::Json(200, r->ToJson()));
  });

  // ---- export / import
  router.Add("GET", base + "/{id}/export", Role::kAdmin, [e](Request& req, Reply reply) {
    const std::string sid = req.params["id"];
    ExportOptions o;
    Response err;
    if (!QueryBool(req, "redact", &o.redact, &err)) return reply(err);
    auto st = req.query.find("strategy");
    if (st != req.query.end()) {
      RedactStrategy s;
      if (!ParseRedactStrategy(st->second, &s)) {
        return reply(
            Response::Error(400, "bad_request", "strategy must be label, mask or partial"));
      }
      o.strategy = s;
    }
    Result<json> h = VisibleSession(*e, req.caller, sid);
    if (!h.ok()) return reply(SessionError(h.status()));
    // The response body is built in memory (bounded by the bundle size
    // limit); `logbook export` streams to a file instead.
    std::ostringstream out;
    Result<ExportSummary> r = ExportSession(*e, sid, out, o);
    if (!r.ok()) return reply(SessionError(r.status()));
    Response res;
    res.status = 200;
    res.content_type = "application/x-ndjson";
    res.body = std::move(out).str();
    res.headers.emplace_back("Content-Disposition",
                             "attachment; filename=\"session-" + sid + ".jsonl\"");
    res.headers.emplace_back("X-Bundle-Body-Hash", r->body_hash);
    reply(std::move(res));
  });

  router.Add("POST", base + "/import", Role::kAdmin, [e](Request& req, Reply reply) {
    ImportOptions o;
    Response err;
    if (!QueryBool(req, "preserveTurnId", &o.preserve_turn_ids, &err)) return reply(err);
    // A tenant key imports into its tenant; an all-tenant key into the one
    // it selected, or the bundle's own.
    o.tenant = req.caller.tenant;
    auto body = std::make_shared<std::string>(std::move(req.body));
    Result<ImportSummary> r = ImportSession(
        *e, ActorOf(req.caller), [body] { return std::make_unique<std::istringstream>(*body); }, o);
    if (!r.ok()) return reply(BundleError(r.status()));
    reply(Response::Json(201, r->ToJson()));
  });

  // ---- turn WAL
  router.Add("GET", "/api/admin/awf/wal/repair", Role::kAdmin, [e](Request& req, Reply reply) {
    const Caller c = req.caller;
    Result<std::vector<TurnOutcome>> r = e->sessions().Reconcile(
        ActorOf(c), "", [&c](const std::string& tenant) { return CanSeeTenant(c, tenant); });
    if (!r.ok()) return reply(SessionError(r.status()));
    json list = json::array();
    size_t applied = 0;
    for (const TurnOutcome& o : *r) {
      list.push_back(o.ToJson());
      applied += o.status == "applied" ? 1 : 0;
    }
    reply(Response::Json(200, {{"reconciled", r->size()},
                               {"applied", applied},
                               {"rolled_back", r->size() - applied},
                               {"turns", std::move(list)}}));
  });

  router.Add("GET", base + "/{id}/wal", Role::kAdmin, [e](Request& req, Reply reply) {
    const std::string sid = req.params["id"];
    bool pending = false;
    Response err;
    if (!QueryBool(req, "pending", &pending, &err)) return reply(err);
    Result<json> h = VisibleSession(*e, req.caller, sid);
    if (!h.ok()) return reply(SessionError(h.status()));
    Result<json> r = e->sessions().ListWal(sid, pending);
    if (!r.ok()) return reply(SessionError(r.status()));
    reply(Response::Json(200, *r));
  });
}

}  // namespace logbook::api
