#pragma once
// Human-in-the-loop checkpoint routes, on the seed-compatible paths
// (docs/api.md "HITL checkpoints"):
//   POST /api/v1/copilot/hitl/checkpoints                 create (operator)
//   GET  /api/v1/copilot/hitl/checkpoints?limit=&status=  list a tenant's (viewer)
//   GET  /api/v1/copilot/hitl/checkpoints/{id}            one, with time left (viewer)
//   POST /api/v1/copilot/validation-response              approve (role of the checkpoint)
//   POST /api/v1/copilot/hitl/checkpoints/{id}/approve    approve (role of the checkpoint)
//   POST /api/v1/copilot/hitl/checkpoints/{id}/reject     reject with a reason (same)
//   GET  /api/v1/copilot/hitl/audit?since=&until=&limit=  who decided what, when (viewer)
// Deciding blocks the worker for one durable append (decisions are rare).

#include "api/router.h"
#include "engine/engine.h"

namespace logbook::api {

void AddHitlRoutes(Router& router, Engine& engine);

}  // namespace logbook::api
