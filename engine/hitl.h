#pragma once
// Hitl: human-in-the-loop checkpoints as commands. A command folds the
// checkpoint's own stream (checkpoint/<id>) from the log, decides, and
// appends with the stream's version as the expected version, so two racing
// decisions cannot both land: the loser re-reads and answers as if it came
// second (idempotent when identical, "not pending" otherwise). Reads that
// list or look up serve the hitl_checkpoints view.
//
// Expiry: ExpireDue() appends CheckpointExpired for every pending checkpoint
// past its deadline. The engine calls it on open and, when it runs the
// projector thread, every HitlOptions::sweep_interval (Start/Stop).
//
// Access (HitlAccess) follows the HTTP rules: a tenant-scoped caller sees its
// tenant's checkpoints only; an all-tenant caller must name the tenant of a
// checkpoint that has one (kTenantRequired otherwise) and sees checkpoints
// without a tenant. Another tenant's checkpoint is kNotFound, exactly like a
// missing one. Deciding needs a role that reaches the required role.
//
// Thread-safety: all methods may be called from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "log/record.h"
#include "log/status.h"
#include "projections/hitl_checkpoints.h"

namespace logbook {

class Engine;

struct HitlOptions {
  // Deadline of a checkpoint created without one (APPROVAL_EXPIRES_H: 72 h).
  int64_t default_ttl_us = 72LL * 3600 * 1000000;
  // How often the engine looks for overdue checkpoints; 0 = only on open.
  std::chrono::milliseconds sweep_interval{1000};
};

// What a caller asks for when creating a checkpoint.
struct CheckpointSpec {
  std::string id;  // "" = a generated uuid4
  std::string tenant;
  std::string dag_run_id;
  std::string thread_id;
  std::string prompt;
  std::string required_role;  // "Viewer" | "Operator" | "Admin" (any case); "" = Operator
  std::vector<std::string> source_ids;
  int64_t expires_at_us = 0;  // 0 = now + ttl_us (or the default TTL)
  int64_t ttl_us = 0;
  std::string context_json;  // "" or a JSON object
  std::string by;            // "" = the actor
};

struct HitlAccess {
  std::string key_tenant;  // "" = the caller may act for every tenant
  std::string tenant;      // the tenant the caller names ("" = none)
  Role role = Role::kNone;
  // An operator on the data directory itself (the CLI without --tenant):
  // sees every checkpoint.
  bool any_tenant = false;
};

enum class HitlCode : uint8_t {
  kOk = 0,
  kNotFound,        // no such checkpoint, or another tenant's
  kTenantRequired,  // the checkpoint has a tenant and the caller named none
  kForbidden,       // the caller's role does not reach the required role
  kInvalid,         // bad input (approved ids not among the candidates, bad role, ...)
  kNotPending,      // already approved, rejected or expired; `state` says which
  kExists,          // create: the id is taken by a different checkpoint
  kError,           // `status` holds the engine error
};

struct HitlResult {
  HitlCode code = HitlCode::kOk;
  std::string message;
  Status status;  // for kError
  CheckpointState state;
  bool deduplicated = false;  // an identical earlier request: nothing appended
  uint64_t lsn = 0;           // the event appended (0 when nothing was)

  bool ok() const { return code == HitlCode::kOk; }
  static HitlResult Fail(HitlCode code, std::string message);
  static HitlResult Error(Status s);
};

class Hitl {
 public:
  Hitl(Engine& engine, HitlOptions options);
  ~Hitl();
  Hitl(const Hitl&) = delete;
  Hitl& operator=(const Hitl&) = delete;

  HitlResult Create(const CheckpointSpec& spec, const Actor& actor);
  // approved_ids must be a subset of the candidates; data_json "" or a flat
  // JSON object. An identical repeat of the approval that closed the
  // checkpoint is OK with deduplicated = true.
  HitlResult Approve(std::string_view id, const HitlAccess& access,
                     std::vector<std::string> approved_ids, const std::string& data_json,
                     const std::string& by, const Actor& actor);
  HitlResult Reject(std::string_view id, const HitlAccess& access, const std::string& reason,
                    const std::string& by, const Actor& actor);
  // Looks a checkpoint up in the view and checks access.
  HitlResult Get(std::string_view id, const HitlAccess& access);

  // The checkpoint folded from its stream in the log; kNotFound if none.
  Result<CheckpointState> Load(std::string_view id);
  // Appends CheckpointExpired for overdue pending checkpoints; returns how many.
  Result<size_t> ExpireDue();

  // A tenant's checkpoints, newest first (nullopt: every tenant's).
  Result<std::vector<CheckpointState>> List(const std::optional<std::string>& tenant,
                                            std::optional<CheckpointStatus> status, size_t limit);
  Result<std::vector<CheckpointAuditEntry>> Audit(const std::optional<std::string>& tenant,
                                                  int64_t from_us, int64_t to_us, size_t limit);

  // Applies access rules to a known checkpoint: kOk, kNotFound or kTenantRequired.
  static HitlCode CheckVisible(const CheckpointState& st, const HitlAccess& access);
  static bool ValidId(std::string_view id);

  const HitlOptions& options() const { return options_; }

  // The expiry timer (the engine starts it when it runs its projector thread).
  void Start();
  void Stop();

 private:
  HitlResult Decide(std::string_view id, const HitlAccess& access, bool approve,
                    std::vector<std::string> approved_ids, const std::string& data_json,
                    const std::string& reason, const std::string& by, const Actor& actor);
  // Appends CheckpointExpired if `st` is pending and overdue at `now`.
  Result<uint64_t> ExpireIfDue(const CheckpointState& st, int64_t now);
  void WaitForView(uint64_t lsn);

  Engine& engine_;
  const HitlOptions options_;
  std::mutex mu_;  // guards stop_ for the timer
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread sweeper_;
};

// JSON of a checkpoint for the API and the CLI (docs/api.md "HITL checkpoints").
nlohmann::json CheckpointJson(const CheckpointState& st, int64_t now_us);

}  // namespace logbook
