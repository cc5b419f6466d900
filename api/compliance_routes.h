#pragma once
// Retention and tenant routes (docs/api.md "Retention" and "Tenant export
// and deletion"), over engine/retention.h and engine/tenants.h.
//   GET    /api/v1/compliance/retention/plan?tenant_id=&retain=F=D,...
//                                           dry run (auditor, compliance)
//   POST   /api/v1/compliance/retention/run  {"tenant_id"?, "retain"?: {F: D|"keep"}}
//                                           prune (compliance)
//   POST   /api/v1/compliance/tenants/{tenant}/export
//                                           bundle into the export directory
//                                           (auditor, compliance)
//   DELETE /api/v1/compliance/tenants/{tenant}?dry_run=true&reason=
//                                           erase (compliance; dry run: auditor too)
// Admin may do everything. A tenant-scoped key acts for its own tenant only
// (403 for another); a legal hold is 409 legal_hold with the hold's reason.

#include <string>

#include "api/router.h"
#include "engine/engine.h"
#include "engine/retention.h"

namespace logbook::api {

struct ComplianceRouteOptions {
  RetentionPolicy retention = RetentionPolicy::Defaults();  // the server's policy
  std::string export_dir;  // where tenant exports go; must exist
};

// `engine` must outlive the server.
void AddComplianceRoutes(Router& router, Engine& engine, ComplianceRouteOptions options);

}  // namespace logbook::api
