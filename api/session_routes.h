#pragma once
// Session routes (docs/api.md "Sessions"): start a session, run turns,
// read a session; and the admin routes of the session lifecycle —
// snapshots, restore, recap, export/import, turn WAL list and repair.
// Sessions of another tenant answer 404, as if they did not exist.

#include "api/router.h"
#include "engine/engine.h"

namespace logbook::api {

void AddSessionRoutes(Router& router, Engine& engine);

}  // namespace logbook::api
