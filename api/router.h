#pragma once
// Router: maps (method, path) to a handler and the role it requires. Later
// issues add their routes here, one line each:
//   router.Add("GET", "/v1/streams/{stream}/events", Role::kViewer, handler);
// A pattern segment "{name}" matches one path segment; "{name...}" as the
// last segment matches the rest of the path (stream names contain '/').
//
// Thread-safety: Add before the server starts; Find from any thread after.

#include <string>
#include <vector>

#include "api/http.h"

namespace logbook::api {

using Handler = std::function<void(Request&, Reply)>;

struct Route {
  std::string method;
  std::string pattern;
  Role min_role = Role::kViewer;
  bool public_route = false;  // no API key needed (health checks)
  std::string name;           // metrics label: the pattern
  Handler handler;
};

class Router {
 public:
  void Add(std::string method, std::string pattern, Role min_role, Handler h);
  void AddPublic(std::string method, std::string pattern, Handler h);

  struct Match {
    const Route* route = nullptr;   // null: no route
    bool method_mismatch = false;   // a route matched the path with another method
    std::vector<std::string> allowed;  // methods for the path (405 Allow header)
    std::map<std::string, std::string> params;
  };
  Match Find(std::string_view method, std::string_view path) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  static bool MatchPattern(std::string_view pattern, std::string_view path,
                           std::map<std::string, std::string>* params);
  std::vector<Route> routes_;
};

}  // namespace logbook::api
