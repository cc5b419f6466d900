#pragma once
// Shared pieces of the logbook CLI: exit codes, opening the engine, errors,
// progress on a terminal.

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/engine.h"

namespace logbook::cli {

// Exit codes (docs/operations.md "Exit codes"). Stable: scripts rely on them.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;  // other errors: I/O failure, internal error
constexpr int kExitDenied = 2;  // permission denied (role)
constexpr int kExitHold = 3;  // a legal hold blocks the operation
constexpr int kExitUsage = 4;  // bad flags or arguments
constexpr int kExitBadInput = 5;  // malformed JSON, unknown event type, payload/schema mismatch
constexpr int kExitConflict = 6;  // expected version or idempotency conflict
constexpr int kExitNotFound = 7;  // missing data directory, stream, LSN or view
constexpr int kExitCorruption = 8;  // a checksum, chain or continuity check failed
constexpr int kExitUnavailable = 9;  // data directory busy, engine read-only, timed out

int ExitCodeFor(const Status& s);
// Prints "logbook: <code>: <message>" on stderr and returns the exit code.
int Fail(const Status& s);
int FailUsage(const std::string& message);

struct GlobalFlags {
  std::string data_dir = "./logbook-data";
  std::string log_level = "info";
  HitlOptions hitl;   // --checkpoint-* flags (tools/cli_hitl.cc)
  CostOptions costs;  // --pricing-file, budget and alert flags (tools/cli_cost.cc)
};

enum class OpenMode {
  kReadWrite,         // needs the lock (fails with kBusy if a server runs)
  kPreferReadWrite,   // read-write, or read-only beside a running server
  kReadOnly,          // always a read-only secondary instance
};

struct OpenFlags {
  OpenMode mode = OpenMode::kReadWrite;
  bool create = false;
  bool catch_up_views = true;
  bool verify_tail = true;
  bool run_projector = false;  // follow new appends in a thread (serve)
};

Result<std::unique_ptr<Engine>> OpenEngine(const GlobalFlags& g, const OpenFlags& f);

// Progress line on stderr when it is a terminal; otherwise silent.
class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress();
  void Update(uint64_t done, uint64_t total);

 private:
  std::string label_;
  bool tty_;
  int64_t last_us_ = 0;
  bool shown_ = false;
};

// Subcommand registration, one function per file.
using Runner = std::function<int()>;
void AddLogCommands(CLI::App& app, GlobalFlags& g, Runner* run);
void AddAdminCommands(CLI::App& app, GlobalFlags& g, Runner* run);
void AddKeyCommands(CLI::App& app, GlobalFlags& g, Runner* run);
void AddServeCommands(CLI::App& app, GlobalFlags& g, Runner* run);
void AddHitlCommands(CLI::App& app, GlobalFlags& g, Runner* run);
void AddCostCommands(CLI::App& app, GlobalFlags& g, Runner* run);

}  // namespace logbook::cli
