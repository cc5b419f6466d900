#pragma once
// Request and response values of the HTTP layer, free of Beast types so that
// handlers and their tests compile quickly (Beast stays inside api/server.cc).

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "log/record.h"
#include "log/status.h"

namespace logbook::api {

// Who is calling: from the API key (api/keys.h).
struct Caller {
  std::string key_id;
  std::string key_tenant;  // "" = the key may act for every tenant
  Role role = Role::kNone;
  std::string tenant;      // effective tenant: the key's, or X-Tenant-ID for all-tenant keys
  std::string client_ip;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string, percent-decoded
  std::map<std::string, std::string> query;  // decoded
  std::map<std::string, std::string> params;  // from the route pattern
  std::function<std::string(std::string_view)> header;  // "" when absent
  std::string body;
  Caller caller;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static Response Json(int status, const nlohmann::json& j);
  // A body that already is JSON text.
  static Response Raw(int status, std::string json_text);
  // {"error":{"code":..., "message":...}}
  static Response Error(int status, std::string_view code, std::string_view message);
  // The HTTP form of a logbook Status (docs/api.md "Errors").
  static Response FromStatus(const Status& s);
};

// Handlers reply exactly once, possibly later from another thread.
using Reply = std::function<void(Response)>;

// Role rules (docs/api.md "Roles"): viewer < operator < admin; auditor and
// compliance read like a viewer and reach routes that require their role;
// admin reaches everything.
bool RoleAllows(Role have, Role need);

// Percent-decoding; '+' means a space only in query strings. False on a bad
// escape.
bool PercentDecode(std::string_view in, std::string* out, bool plus_is_space = false);
// Splits "a=1&b=x%20y" into a decoded map; false on a bad escape.
bool ParseQuery(std::string_view q, std::map<std::string, std::string>* out);

}  // namespace logbook::api
