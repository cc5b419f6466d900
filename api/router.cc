#include "api/router.h"

namespace logbook::api {

void Router::Add(std::string method, std::string pattern, Role min_role, Handler h) {
  Route r;
  r.method = std::move(method);
  r.name = pattern;
  r.pattern = std::move(pattern);
  r.min_role = min_role;
  r.handler = std::move(h);
  routes_.push_back(std::move(r));
}

void Router::AddPublic(std::string method, std::string pattern, Handler h) {
  Add(std::move(method), std::move(pattern), Role::kNone, std::move(h));
  routes_.back().public_route = true;
}

bool Router::MatchPattern(std::string_view pattern, std::string_view path,
                          std::map<std::string, std::string>* params) {
  params->clear();
  size_t pi = 0;
  size_t si = 0;
  while (pi < pattern.size()) {
    if (pattern[pi] == '{') {
      const size_t close = pattern.find('}', pi);
      std::string name(pattern.substr(pi + 1, close - pi - 1));
      const bool rest = name.size() > 3 && name.ends_with("...");
      size_t end;
      if (rest) {
        name.resize(name.size() - 3);
        // Greedy, but leave room for the literal tail of the pattern.
        const std::string_view tail = pattern.substr(close + 1);
        if (path.size() < si + tail.size() || !path.ends_with(tail)) return false;
        end = path.size() - tail.size();
      } else {
        end = path.find('/', si);
        if (end == std::string_view::npos) end = path.size();
      }
      if (end <= si) return false;  // empty segment
      std::string value;
      if (!PercentDecode(path.substr(si, end - si), &value)) return false;
      (*params)[name] = std::move(value);
      si = end;
      pi = close + 1;
      continue;
    }
    if (si >= path.size() || path[si] != pattern[pi]) return false;
    ++pi;
    ++si;
  }
  return si == path.size();
}

Router::Match Router::Find(std::string_view method, std::string_view path) const {
  Match m;
  std::map<std::string, std::string> params;
  for (const Route& r : routes_) {
    if (!MatchPattern(r.pattern, path, &params)) continue;
    m.allowed.push_back(r.method);
    if (r.method == method && m.route == nullptr) {
      m.route = &r;
      m.params = params;
    }
  }
  m.method_mismatch = m.route == nullptr && !m.allowed.empty();
  return m;
}

}  // namespace logbook::api
