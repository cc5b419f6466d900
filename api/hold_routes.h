#pragma once
// Legal-hold routes (docs/api.md "Legal holds"), over engine/holds.h. Roles
// are checked per route (the router takes one minimum role); admin may do
// everything.
//   GET  /api/v1/compliance/holds?tenant_id=        holds in force (auditor, compliance)
//   POST /api/v1/compliance/holds                   apply (compliance)
//   POST /api/v1/compliance/holds/release           release (compliance)
//   GET  /api/v1/compliance/holds/check?tenant_id=  200 not held, 409 legal_hold
//                                                   (auditor, compliance, operator)
// A tenant-scoped key acts for its own tenant only (403 for another); an
// all-tenant key names one with tenant_id or X-Tenant-ID, or lists every
// tenant's holds by naming none. The actor of HoldApplied / HoldReleased is
// the calling key.

#include "api/router.h"
#include "engine/engine.h"

namespace logbook::api {

// `engine` must outlive the server.
void AddHoldRoutes(Router& router, Engine& engine);

}  // namespace logbook::api
