// logbook: the command-line interface. One binary, subcommands.
// Exit codes are listed in tools/cli_common.h and docs/operations.md.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "tools/cli_common.h"

int main(int argc, char** argv) {
  using namespace logbook::cli;
  CLI::App app{
      "logbook: a durable, checksummed, hash-chained event log for AI-agent operations.\n"
      "Exit codes: 0 ok, 1 error, 2 denied, 3 legal hold, 4 usage, 5 bad input, 6 conflict,\n"
      "7 not found, 8 corruption, 9 unavailable (busy, read-only, timed out).",
      "logbook"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand
  app.set_version_flag("--version", "logbook 0.1.0 (log format 1)");
  GlobalFlags g;
  app.add_option("--data-dir", g.data_dir, "Data directory")
      ->envname("LOGBOOK_DATA_DIR")
      ->capture_default_str();
  app.add_option("--key-dir", g.key_dir,
                 "Encryption key directory (default: <data-dir>.keys, beside the data directory)")
      ->envname("LOGBOOK_KEY_DIR");
  app.add_flag("--no-encryption", g.no_encryption,
               "Create a new data directory without encryption keys")
      ->envname("LOGBOOK_NO_ENCRYPTION");
  app.add_option("--role", g.role,
                 "Role the command acts under: compliance commands check it (exit 2 when denied)")
      ->envname("LOGBOOK_ROLE")
      ->capture_default_str();
  app.add_option("--log-level", g.log_level, "trace|debug|info|warn|error|off")
      ->envname("LOGBOOK_LOG_LEVEL")
      ->capture_default_str();

  Runner run;
  AddLogCommands(app, g, &run);
  AddAdminCommands(app, g, &run);
  AddKeyCommands(app, g, &run);
  AddServeCommands(app, g, &run);
  AddWorkspaceCommands(app, g, &run);
  AddComplianceCommands(app, g, &run);
  AddSessionCommands(app, g, &run);
  AddHitlCommands(app, g, &run);
  AddCostCommands(app, g, &run);
  AddLifecycleCommands(app, g, &run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    std::string msg = e.what();
    return FailUsage(msg + " (see --help)");
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("logbook"));
  spdlog::set_level(spdlog::level::from_str(g.log_level));
  if (!run) return FailUsage("no command given (see --help)");
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "logbook: error: %s\n", e.what());
    return kExitError;
  }
}
