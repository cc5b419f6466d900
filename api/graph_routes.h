#pragma once
// Routes of the LangGraph checkpointer (docs/api.md "Graph checkpoints"):
// put, putWrites, getTuple, list, deleteThread, prune, stats, sweep. Each
// request works within the caller's tenant (api/core_routes.h CanSeeTenant):
// a thread belongs to one tenant, and another tenant's thread is simply not
// there (404 or an empty list).
//
// Handlers run on a small pool of their own threads: a put waits for its
// fsync and the view, which must not hold up an I/O worker.

#include <memory>

#include "api/router.h"
#include "engine/graph_store.h"

namespace logbook::api {

struct GraphRouteDeps {
  GraphStore* store = nullptr;
  int threads = 4;  // the handlers' pool
};

void AddGraphRoutes(Router& router, const GraphRouteDeps& deps);

}  // namespace logbook::api
