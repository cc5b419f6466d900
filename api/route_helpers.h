#pragma once
// Small pieces shared by the route files that sit on engine services
// (api/workspace_routes.cc, api/optout_routes.cc): the acting tenant, JSON
// bodies, query flags, and replies from service results.

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/core_routes.h"
#include "api/http.h"
#include "engine/planned_append.h"

namespace logbook::api {

// The tenant the caller acts for. An all-tenant key must name one with
// X-Tenant-ID: 400 otherwise.
inline bool RequireTenant(const Request& req, Response* err) {
  if (!req.caller.tenant.empty()) return true;
  *err = Response::Error(400, "bad_request",
                         "X-Tenant-ID is required: this key may act for every tenant");
  return false;
}

// Parses a JSON object body that may hold only `allowed` fields; an empty
// body is {}. 400 otherwise.
inline bool ParseObject(const std::string& body, std::initializer_list<std::string_view> allowed,
                        nlohmann::json* out, Response* err) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    *out = nlohmann::json::object();
    return true;
  }
  *out = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    *err = Response::Error(400, "bad_request", "body is not valid JSON");
    return false;
  }
  if (!out->is_object()) {
    *err = Response::Error(400, "bad_request", "body must be a JSON object");
    return false;
  }
  for (auto it = out->begin(); it != out->end(); ++it) {
    bool known = false;
    std::string names;
    for (std::string_view a : allowed) {
      known = known || it.key() == a;
      names += (names.empty() ? "" : ", ") + std::string(a);
    }
    if (!known) {
      *err = Response::Error(400, "bad_request",
                             "unknown field '" + it.key() + "' (expected " + names + ")");
      return false;
    }
  }
  return true;
}

// A string field (absent: ""); 400 for another JSON type.
inline bool StringField(const nlohmann::json& j, const char* name, std::string* out,
                        Response* err) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_string()) {
    *err = Response::Error(400, "bad_request", std::string(name) + " must be a string");
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

// An unsigned integer field; 400 for another JSON type or a negative number.
inline bool U64Field(const nlohmann::json& j, const char* name, std::optional<uint64_t>* out,
                     Response* err) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_number_unsigned()) {
    *err =
        Response::Error(400, "bad_request", std::string(name) + " must be a non-negative integer");
    return false;
  }
  *out = it->get<uint64_t>();
  return true;
}

// A query flag: absent, "false" or "0" is false; "true" or "1" is true.
inline bool QueryFlag(const Request& req, const std::string& name, bool* out, Response* err) {
  auto it = req.query.find(name);
  if (it == req.query.end()) return true;
  if (it->second == "true" || it->second == "1") {
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

inline std::string QueryText(const Request& req, const std::string& name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? std::string() : it->second;
}

inline Response FromResult(int status, const Result<nlohmann::json>& r) {
  return r.ok() ? Response::Json(status, *r) : Response::FromStatus(r.status());
}

// Submits a planned append and replies `status` with its result once it is
// durable, or the error.
inline void SubmitAndReply(Engine& engine, Result<PlannedAppend> plan, const Caller& caller,
                           int status, Reply reply) {
  if (!plan.ok()) return reply(Response::FromStatus(plan.status()));
  Submit(engine, std::move(plan).value(), Actor{caller.key_id, caller.role},
         [reply = std::move(reply), status](Result<nlohmann::json> r) {
           reply(FromResult(status, r));
         });
}

}  // namespace logbook::api
