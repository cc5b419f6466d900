#pragma once
// The workspace and opt-out pieces of the CLI: the `workspace` and `optout`
// commands (AddWorkspaceCommands, declared in cli_common.h) and what `serve`
// needs to offer their HTTP routes.

#include <memory>
#include <string>

#include "tools/cli_common.h"

namespace logbook::api {
class Server;
}

namespace logbook::cli {

struct WorkspaceServeFlags {
  std::string share_secret_file;  // "" = <data-dir>/share_secret.json
  double share_link_ttl_hours = 24;
  double share_link_max_ttl_hours = 720;
  int64_t share_secret_grace_seconds = 0;
  size_t max_content_bytes = 256 * 1024;
};

// Adds --share-secret-file, --share-link-ttl-hours, ... to `serve`.
void AddWorkspaceServeFlags(CLI::App* serve, WorkspaceServeFlags* flags);

// The services behind the workspace and opt-out routes of a running server.
// Thread-safety: Poll may be called from any thread, one call at a time.
class WorkspaceServe {
 public:
  // Opens (or creates) the share secret file and adds the routes to
  // `server`; call before server.Start(). Records the current secret in the
  // log if it is not yet.
  static Result<std::unique_ptr<WorkspaceServe>> Start(const GlobalFlags& g,
                                                       const WorkspaceServeFlags& flags,
                                                       Engine& engine, api::Server& server);
  ~WorkspaceServe();
  // Re-reads the share secret file if another process rotated it (so the
  // rotation takes effect without a restart) and records the rotation.
  void Poll();

  struct Impl;

 private:
  explicit WorkspaceServe(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace logbook::cli
