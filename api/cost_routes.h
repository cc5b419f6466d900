#pragma once
// Usage, cost and budget routes, on the seed-compatible paths (docs/api.md
// "Costs and budgets"). Summaries and alerts are read from the costs view.
//   POST /api/v1/ops/costs/usage                          record usage, one or a batch (operator)
//   GET  /api/v1/ops/costs/summary?tenant_id=&window=     totals and per provider/model (viewer)
//   GET  /api/v1/ops/costs/events?tenant_id=&limit=       newest usage events (viewer)
//   GET  /api/v1/ops/costs/alerts?tenant_id=&window=      budget, success-rate, anomaly alerts
//   (viewer) GET  /api/v1/ops/costs/pricing                        the pricing table (viewer) POST
//   /api/v1/ops/budget/check                         allow / throttle / deny (operator) GET
//   /api/v1/ops/budgets?tenant_id=                   budgets and where spend stands (viewer) POST
//   /api/v1/ops/budgets                              set a tenant or the global budget (admin)

#include "api/router.h"
#include "engine/engine.h"

namespace logbook::api {

void AddCostRoutes(Router& router, Engine& engine);

}  // namespace logbook::api
