#include "api/workspace_routes.h"

#include "api/route_helpers.h"

namespace logbook::api {

namespace {

constexpr char kBase[] = "/api/v1/workspace";
constexpr char kUser[] = "/api/v1/workspace/users/{user}";

std::string Path(const char* base, const char* rest) { return std::string(base) + rest; }

// PUT .../items/{item_id} and POST .../items: the body of a save. The size
// limit is checked here, before any work, so that it answers 413.
void Save(Engine& engine, WorkspaceService& ws, Request& req, Reply reply, bool with_id) {
  Response err;
  if (!RequireTenant(req, &err)) return reply(err);
  nlohmann::json body;
  SaveItemInput in;
  if (with_id) {
    if (!ParseObject(req.body, {"kind", "title", "content", "expected_version"}, &body, &err)) {
      return reply(err);
    }
    in.item_id = req.params["item_id"];
  } else if (!ParseObject(req.body, {"item_id", "kind", "title", "content"}, &body, &err) ||
             !StringField(body, "item_id", &in.item_id, &err)) {
    return reply(err);
  }
  if (!StringField(body, "kind", &in.kind, &err) || !StringField(body, "title", &in.title, &err) ||
      !U64Field(body, "expected_version", &in.expected_version, &err)) {
    return reply(err);
  }
  if (!body.contains("content") || body["content"].is_null()) {
    return reply(
        Response::Error(400, "bad_request", "content is required (a string or a JSON value)"));
  }
  in.content = std::move(body["content"]);
  const size_t bytes = WorkspaceService::ContentBytes(in.content);
  if (bytes > ws.options().max_content_bytes) {
    return reply(Response::Error(413, "payload_too_large",
                                 "content is " + std::to_string(bytes) + " bytes; the limit is " +
                                     std::to_string(ws.options().max_content_bytes) + " bytes"));
  }
  in.tenant = req.caller.tenant;
  in.user = req.params["user"];
  SubmitAndReply(engine, ws.PlanSave(in), req.caller, 201, std::move(reply));
}

}  // namespace

void AddWorkspaceRoutes(Router& router, const WorkspaceRouteDeps& deps) {
  Engine* engine = deps.engine;
  WorkspaceService* ws = deps.workspace;

  // ---- items
  router.Add("POST", Path(kUser, "/items"), Role::kOperator,
             [engine, ws](Request& req, Reply reply) {
               Save(*engine, *ws, req, std::move(reply), /*with_id=*/false);
             });
  router.Add("PUT", Path(kUser, "/items/{item_id}"), Role::kOperator,
             [engine, ws](Request& req, Reply reply) {
               Save(*engine, *ws, req, std::move(reply), /*with_id=*/true);
             });
  router.Add("GET", Path(kUser, "/items"), Role::kViewer, [ws](Request& req, Reply reply) {
    Response err;
    bool include_deleted = false;
    uint64_t limit = kDefaultPageSize;
    if (!RequireTenant(req, &err) || !QueryFlag(req, "include_deleted", &include_deleted, &err) ||
        !QueryU64(req, "limit", &limit, &err)) {
      return reply(err);
    }
    if (limit == 0 || limit > kMaxPageSize) {
      return reply(
          Response::Error(400, "bad_request", "limit must be 1.." + std::to_string(kMaxPageSize)));
    }
    reply(FromResult(200, ws->ListItems(req.caller.tenant, req.params["user"], include_deleted,
                                        QueryText(req, "after"), static_cast<size_t>(limit))));
  });
  router.Add("GET", Path(kUser, "/items/{item_id}"), Role::kViewer,
             [ws](Request& req, Reply reply) {
               Response err;
               if (!RequireTenant(req, &err)) return reply(err);
               reply(FromResult(
                   200, ws->GetItem(req.caller.tenant, req.params["user"], req.params["item_id"])));
             });
  router.Add("GET", Path(kUser, "/items/{item_id}/versions"), Role::kViewer,
             [ws](Request& req, Reply reply) {
               Response err;
               if (!RequireTenant(req, &err)) return reply(err);
               reply(FromResult(200, ws->ListVersions(req.caller.tenant, req.params["user"],
                                                      req.params["item_id"])));
             });
  router.Add(
      "GET", Path(kUser, "/items/{item_id}/versions/{version}"), Role::kViewer,
      [ws](Request& req, Reply reply) {
        Response err;
        if (!RequireTenant(req, &err)) return reply(err);
        const std::string& v = req.params["version"];
        if (v.size() > 19 || v.find_first_not_of("0123456789") != std::string::npos ||
            std::stoull(v) == 0) {
          return reply(Response::Error(400, "bad_request", "version must be a positive integer"));
        }
        reply(FromResult(200, ws->GetItem(req.caller.tenant, req.params["user"],
                                          req.params["item_id"], std::stoull(v))));
      });
  router.Add("DELETE", Path(kUser, "/items/{item_id}"), Role::kOperator,
             [engine, ws](Request& req, Reply reply) {
               Response err;
               uint64_t ev = 0;
               const bool has_ev = req.query.count("expected_version") > 0;
               if (!RequireTenant(req, &err) || !QueryU64(req, "expected_version", &ev, &err)) {
                 return reply(err);
               }
               SubmitAndReply(
                   *engine,
                   ws->PlanDelete(req.caller.tenant, req.params["user"], req.params["item_id"],
                                  has_ev ? std::optional<uint64_t>(ev) : std::nullopt),
                   req.caller, 200, std::move(reply));
             });

  // ---- share links
  router.Add(
      "POST", Path(kUser, "/items/{item_id}/shares"), Role::kOperator,
      [engine, ws](Request& req, Reply reply) {
        Response err;
        nlohmann::json body;
        std::optional<uint64_t> version, ttl;
        if (!RequireTenant(req, &err) ||
            !ParseObject(req.body, {"version", "ttl_seconds"}, &body, &err) ||
            !U64Field(body, "version", &version, &err) ||
            !U64Field(body, "ttl_seconds", &ttl, &err)) {
          return reply(err);
        }
        if (ttl && *ttl == 0) {
          return reply(Response::Error(422, "invalid_argument", "ttl_seconds must be positive"));
        }
        // Seconds to µs without overflow; the service checks the range.
        const int64_t ttl_us = !ttl ? 0
                               : *ttl > uint64_t{1000000000000}
                                   ? INT64_MAX
                                   : static_cast<int64_t>(*ttl) * 1000000;
        SubmitAndReply(*engine,
                       ws->PlanCreateShare(req.caller.tenant, req.params["user"],
                                           req.params["item_id"], version.value_or(0), ttl_us),
                       req.caller, 201, std::move(reply));
      });
  router.Add("GET", Path(kUser, "/items/{item_id}/shares"), Role::kViewer,
             [ws](Request& req, Reply reply) {
               Response err;
               if (!RequireTenant(req, &err)) return reply(err);
               reply(FromResult(200, ws->ListShares(req.caller.tenant, req.params["user"],
                                                    req.params["item_id"])));
             });
  router.Add("DELETE", Path(kUser, "/shares/{share_id}"), Role::kOperator,
             [engine, ws](Request& req, Reply reply) {
               Response err;
               if (!RequireTenant(req, &err)) return reply(err);
               SubmitAndReply(*engine,
                              ws->PlanRevokeShare(req.caller.tenant, req.params["user"],
                                                  req.params["share_id"], QueryText(req, "reason")),
                              req.caller, 200, std::move(reply));
             });
  // The link itself: no API key. Every failure is the same 404, and the
  // token stays out of logs (the access log names the route pattern).
  router.AddPublic("GET", Path(kBase, "/shared/{token}"), [ws](Request& req, Reply reply) {
    Response r = FromResult(200, ws->OpenShare(req.params["token"]));
    r.headers.emplace_back("Cache-Control", "no-store");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    reply(std::move(r));
  });

  // ---- bookmarks
  router.Add(
      "POST", Path(kUser, "/bookmarks"), Role::kOperator, [engine, ws](Request& req, Reply reply) {
        Response err;
        nlohmann::json body;
        std::string item_id, token, label;
        if (!RequireTenant(req, &err) ||
            !ParseObject(req.body, {"item_id", "share_token", "label"}, &body, &err) ||
            !StringField(body, "item_id", &item_id, &err) ||
            !StringField(body, "share_token", &token, &err) ||
            !StringField(body, "label", &label, &err)) {
          return reply(err);
        }
        SubmitAndReply(
            *engine,
            ws->PlanAddBookmark(req.caller.tenant, req.params["user"], item_id, token, label),
            req.caller, 201, std::move(reply));
      });
  router.Add("GET", Path(kUser, "/bookmarks"), Role::kViewer, [ws](Request& req, Reply reply) {
    Response err;
    if (!RequireTenant(req, &err)) return reply(err);
    reply(FromResult(200, ws->ListBookmarks(req.caller.tenant, req.params["user"])));
  });
  router.Add("DELETE", Path(kUser, "/bookmarks/{bookmark_id}"), Role::kOperator,
             [engine, ws](Request& req, Reply reply) {
               Response err;
               if (!RequireTenant(req, &err)) return reply(err);
               SubmitAndReply(*engine,
                              ws->PlanRemoveBookmark(req.caller.tenant, req.params["user"],
                                                     req.params["bookmark_id"]),
                              req.caller, 200, std::move(reply));
             });

  // ---- the share secret (every tenant's links: admin only)
  router.Add("POST", Path(kBase, "/share-secret/rotate"), Role::kAdmin,
             [engine, ws](Request& req, Reply reply) {
               Response err;
               if (!req.caller.key_tenant.empty()) {
                 return reply(Response::Error(403, "forbidden",
                                              "rotating the share secret needs an all-tenant "
                                              "admin key"));
               }
               nlohmann::json body;
               std::optional<uint64_t> grace;
               if (!ParseObject(req.body, {"grace_seconds"}, &body, &err) ||
                   !U64Field(body, "grace_seconds", &grace, &err)) {
                 return reply(err);
               }
               if (grace && *grace > uint64_t{365} * 24 * 3600) {
                 return reply(Response::Error(422, "invalid_argument",
                                              "grace_seconds must be at most a year"));
               }
               std::optional<int64_t> grace_us;
               if (grace) grace_us = static_cast<int64_t>(*grace) * 1000000;
               SubmitAndReply(*engine, ws->RotateSecret(grace_us, req.caller.key_id), req.caller,
                              200, std::move(reply));
             });
}

}  // namespace logbook::api
