#pragma once
// Helpers shared by the domain route files (hitl_routes, cost_routes): JSON
// bodies, paging, tenant resolution and read-your-writes. Beast-free.

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/http.h"
#include "engine/engine.h"

namespace logbook::api {

// Parses a request body that must be a JSON object; 400 otherwise.
bool ParseJsonObject(const std::string& body, nlohmann::json* out, Response* err);
// 400 unless every key of `j` is one of `allowed`.
bool OnlyFields(const nlohmann::json& j, std::initializer_list<std::string_view> allowed,
                Response* err);
// Reads an optional string field; 400 if present and not a string.
bool StringField(const nlohmann::json& j, const char* key, std::string* out, Response* err);
// Reads an optional array of strings; 400 if present and not one.
bool StringsField(const nlohmann::json& j, const char* key, std::vector<std::string>* out,
                  Response* err);

// ?limit=: `def` when absent, 400 unless 1..max.
bool QueryLimit(const Request& req, size_t def, size_t max, size_t* out, Response* err);

// The tenant a request acts for, from a tenant_id it names (query or body;
// "" = none) and the caller: a tenant-scoped key acts for its tenant (403 if
// it names another); an all-tenant key for the tenant named, else its
// X-Tenant-ID (400 if both are given and differ), else for none (*tenant = "").
bool ResolveTenant(const Caller& c, const std::string& named, std::string* tenant, Response* err);

// Exactly one of `roles`, or admin; otherwise *err = 403 forbidden naming
// what needs which roles. For routes whose roles are not a minimum level.
bool MayAct(const Request& req, std::initializer_list<Role> roles, const char* what,
            Response* err);

// The one tenant a request acts for (ResolveTenant), which must be set:
// 400 tenant_required when neither tenant_id nor the key or X-Tenant-ID names one.
bool OneTenant(const Request& req, const std::string& named, std::string* tenant, Response* err);

// The calling key as the actor of the events a request appends.
inline Actor ActorOf(const Request& req) { return Actor{req.caller.key_id, req.caller.role}; }

// Read-your-writes: with ?min_lsn=N, waits (up to 5 s) until the views
// include LSN N; 400 for a bad number, 503 timed_out when they do not.
bool WaitForMinLsn(Engine& engine, const Request& req, Response* err);

}  // namespace logbook::api
