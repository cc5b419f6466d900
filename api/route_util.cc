#include "api/route_util.h"

#include <algorithm>

#include "api/core_routes.h"

namespace logbook::api {

bool ParseJsonObject(const std::string& body, nlohmann::json* out, Response* err) {
  *out = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) {
    *err = Response::Error(400, "bad_request", "body is not valid JSON");
    return false;
  }
  if (!out->is_object()) {
    *err = Response::Error(400, "bad_request", "body must be a JSON object");
    return false;
  }
  return true;
}

bool OnlyFields(const nlohmann::json& j, std::initializer_list<std::string_view> allowed,
                Response* err) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      *err = Response::Error(400, "bad_request",
                             "unknown field '" + it.key() + "' (expected " + list + ")");
      return false;
    }
  }
  return true;
}

bool StringField(const nlohmann::json& j, const char* key, std::string* out, Response* err) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_string()) {
    *err = Response::Error(400, "bad_request", std::string(key) + " must be a string");
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

bool StringsField(const nlohmann::json& j, const char* key, std::vector<std::string>* out,
                  Response* err) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  bool ok = it->is_array();
  if (ok) {
    for (const auto& v : *it) ok = ok && v.is_string();
  }
  if (!ok) {
    *err = Response::Error(400, "bad_request", std::string(key) + " must be an array of strings");
    return false;
  }
  *out = it->get<std::vector<std::string>>();
  return true;
}

bool QueryLimit(const Request& req, size_t def, size_t max, size_t* out, Response* err) {
  uint64_t limit = def;
  if (!QueryU64(req, "limit", &limit, err)) return false;
  if (limit == 0 || limit > max) {
    *err = Response::Error(400, "bad_request", "limit must be 1.." + std::to_string(max));
    return false;
  }
  *out = static_cast<size_t>(limit);
  return true;
}

bool ResolveTenant(const Caller& c, const std::string& named, std::string* tenant, Response* err) {
  if (!named.empty()) {
    if (Status s = ValidateTenantName(named); !s.ok()) {
      *err = Response::Error(400, "bad_request", "tenant_id: " + s.message());
      return false;
    }
  }
  if (!c.key_tenant.empty()) {
    if (!named.empty() && named != c.key_tenant) {
      *err = Response::Error(403, "forbidden", "tenant_id does not match the API key's tenant");
      return false;
    }
    *tenant = c.key_tenant;
    return true;
  }
  if (!named.empty() && !c.tenant.empty() && named != c.tenant) {
    *err = Response::Error(400, "bad_request", "tenant_id and X-Tenant-ID differ");
    return false;
  }
  *tenant = named.empty() ? c.tenant : named;
  return true;
}

bool WaitForMinLsn(Engine& engine, const Request& req, Response* err) {
  uint64_t min_lsn = 0;
  if (!QueryU64(req, "min_lsn", &min_lsn, err)) return false;
  if (min_lsn == 0) return true;
  if (min_lsn > engine.log().LastLsn()) {
    *err = Response::Error(400, "bad_request", "min_lsn is beyond the log's last LSN");
    return false;
  }
  Status s = engine.WaitForViews(min_lsn, std::chrono::seconds(5));
  if (!s.ok()) {
    *err = Response::FromStatus(s);
    return false;
  }
  return true;
}

bool MayAct(const Request& req, std::initializer_list<Role> roles, const char* what,
            Response* err) {
  if (req.caller.role == Role::kAdmin) return true;
  std::string names;
  for (Role r : roles) {
    if (req.caller.role == r) return true;
    names += (names.empty() ? "" : ", ") + std::string(RoleName(r));
  }
  *err = Response::Error(403, "forbidden",
                         std::string("to ") + what + " needs the role " + names + " or admin");
  return false;
}

bool OneTenant(const Request& req, const std::string& named, std::string* tenant, Response* err) {
  if (!ResolveTenant(req.caller, named, tenant, err)) return false;
  if (tenant->empty()) {
    *err = Response::Error(400, "tenant_required", "tenant_id or X-Tenant-ID is required");
    return false;
  }
  return true;
}

}  // namespace logbook::api
