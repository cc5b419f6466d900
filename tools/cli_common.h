#pragma once
// Shared pieces of the logbook CLI: exit codes, opening the engine, errors,
// progress on a terminal.

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/retention.h"
#include "engine/lifecycle.h"

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

// Session settings (tools/cli_session.cc registers the flags).
struct SessionFlags {
  int64_t ttl_seconds = 0;
  size_t snapshot_max_count = 10;
  double snapshot_max_age_days = 30;
  size_t recap_max_sentences = 6;
  size_t recap_max_words = 24;
  double bundle_max_mb = 50;
  std::string redaction_rules;
  int64_t sweep_seconds = 60;
  bool recover_on_open = true;  // not a flag: `wal reconcile` turns it off to report
};

struct GlobalFlags {
  std::string data_dir = "./logbook-data";
  std::string log_level = "info";
  // Key directory of the encryption keys; empty: "<data dir>.keys", beside
  // (never inside) the data directory. See log/keyring.h.
  std::string key_dir;
  bool no_encryption = false;  // a new data directory gets no keys
  // Role the command acts under (--role / LOGBOOK_ROLE); compliance commands
  // check it (RequireRole). Whoever can open the data directory can do
  // anything, so the default is admin; scripts that mirror a person's
  // role set it (e.g. LOGBOOK_ROLE=auditor for an export-only job).
  std::string role = "admin";
  SessionFlags sessions;
  HitlOptions hitl;   // --checkpoint-* flags (tools/cli_hitl.cc)
  CostOptions costs;  // --pricing-file, budget and alert flags (tools/cli_cost.cc)
  LifecyclePolicy lifecycle;  // --hot-days, --warm-days, --cold-days (tools/cli_lifecycle.cc)
};

// kExitOk when g.role is one of `allowed`. Otherwise prints "logbook:
// denied: ..." naming the role and `what` and returns kExitDenied (kExitUsage
// for an unknown role name). Use: if (int rc = RequireRole(..); rc) return rc;
int RequireRole(const GlobalFlags& g, std::initializer_list<Role> allowed, const char* what);
// g.role parsed (admin when unknown; RequireRole reports unknown names).
Role CliRole(const GlobalFlags& g);

// Retention policy: the defaults, then LOGBOOK_RETAIN_<FAMILY>_DAYS, then
// `policy_file` (JSON {"family": days or "keep"}), then `retain` entries
// (FAMILY=DAYS|keep); each later source overrides earlier ones per family.
Result<RetentionPolicy> BuildRetentionPolicy(const std::vector<std::string>& retain,
                                             const std::string& policy_file);

// The key directory g names, or the default beside the data directory.
std::string KeyDir(const GlobalFlags& g);

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
void AddWorkspaceCommands(CLI::App& app, GlobalFlags& g, Runner* run);  // also optout
void AddComplianceCommands(CLI::App& app, GlobalFlags& g, Runner* run);  // hold, holds
void AddSessionCommands(CLI::App& app, GlobalFlags& g, Runner* run);
// The SessionOptions the flags describe.
SessionOptions SessionOptionsFrom(const SessionFlags& f);
void AddHitlCommands(CLI::App& app, GlobalFlags& g, Runner* run);
void AddCostCommands(CLI::App& app, GlobalFlags& g, Runner* run);
void AddLifecycleCommands(CLI::App& app, GlobalFlags& g, Runner* run);  // lifecycle ...

}  // namespace logbook::cli
