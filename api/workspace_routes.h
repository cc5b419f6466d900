#pragma once
// Workspace routes under /api/v1/workspace (docs/api.md "Workspace"):
// a user's items and their versions, share links (one public route that
// needs no API key), bookmarks, and rotation of the share secret.

#include "api/router.h"
#include "engine/engine.h"
#include "engine/workspace.h"

namespace logbook::api {

struct WorkspaceRouteDeps {
  Engine* engine = nullptr;
  WorkspaceService* workspace = nullptr;  // must outlive the server
};

void AddWorkspaceRoutes(Router& router, const WorkspaceRouteDeps& deps);

}  // namespace logbook::api
