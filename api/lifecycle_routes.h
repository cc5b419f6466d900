#pragma once
// Artifact lifecycle routes (docs/api.md "Artifact lifecycle"), over
// engine/lifecycle.h. Roles are checked per route (the router takes one
// minimum role); admin may do everything.
//   POST /api/v1/compliance/artifacts                        store (operator, compliance)
//   GET  /api/v1/compliance/artifacts/{artifact_id}          read (operator, auditor, compliance)
//   POST /api/v1/compliance/artifacts/{artifact_id}/restore  to hot (operator, compliance)
//   GET  /api/v1/compliance/lifecycle?tenant_id=             tiers and plan (auditor, compliance)
//   POST /api/v1/compliance/lifecycle/run                    dry run (auditor, compliance) or
//                                                            live run (compliance)
// A tenant-scoped key acts for its own tenant only; another tenant's
// artifact is 404.

#include "api/router.h"
#include "engine/engine.h"
#include "engine/lifecycle.h"

namespace logbook::api {

// `defaults`: the retention days of runs and status that name none.
void AddLifecycleRoutes(Router& router, Engine& engine, const LifecyclePolicy& defaults);

}  // namespace logbook::api
