#pragma once
// Opt-out routes under /api/v1/opt-outs (docs/api.md "Opt-outs"): set,
// clear, check, list and history of the registry that makes the agent refuse
// an organization, a member or a channel.

#include "api/router.h"
#include "engine/engine.h"
#include "engine/opt_outs.h"

namespace logbook::api {

struct OptOutRouteDeps {
  Engine* engine = nullptr;
  OptOutService* optouts = nullptr;  // must outlive the server
};

void AddOptOutRoutes(Router& router, const OptOutRouteDeps& deps);

}  // namespace logbook::api
