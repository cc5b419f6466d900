#pragma once
// The generic routes: streams, the global feed, health, metrics
// (docs/api.md). Later issues add their own route files beside this one.

#include <functional>
#include <string>

#include "api/router.h"
#include "engine/engine.h"

namespace logbook::api {

struct CoreRouteDeps {
  Engine* engine = nullptr;
  std::function<bool()> ready;                // recovery done and not shutting down
  std::function<std::string()> render_metrics;  // Prometheus text
};

void AddCoreRoutes(Router& router, const CoreRouteDeps& deps);

// Shared by routes and the SSE stream: can this caller see `tenant`'s data?
bool CanSeeTenant(const Caller& c, std::string_view tenant);

// Limits of paged reads.
constexpr size_t kDefaultPageSize = 100;
constexpr size_t kMaxPageSize = 1000;

// Parses an unsigned query parameter; false (with a 400 response in *err) if
// present but not a number.
bool QueryU64(const Request& req, const std::string& name, uint64_t* out, Response* err);

}  // namespace logbook::api
