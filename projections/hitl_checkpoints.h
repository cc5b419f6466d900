#pragma once
// View "hitl_checkpoints": human-in-the-loop checkpoints by id, by tenant and
// status, by expiry time, and the trail of decisions.
//
// A checkpoint is the stream checkpoint/<checkpoint_id>; its tenant is the
// stream's tenant (the envelope's, never the payload's). The rules of a
// checkpoint's life are in ApplyCheckpointEvent, shared by this fold and by
// the engine, which folds a checkpoint's own stream before it decides
// (engine/hitl.h): created -> pending -> approved | rejected | expired, first
// decision wins. A decision counts only when its actor's role reaches the
// checkpoint's required role, its approved ids are a subset of the candidates
// and it was made before the deadline; anything else appended to the stream
// (through the generic append route) changes nothing.
//
// Keys (inside the view); ts = u64 BE, inv(ts) = UINT64_MAX - ts (newest first):
//   "c" id                                   -> CheckpointState as JSON
//   "t" tenant 0x00 inv(created) id          -> ""   every checkpoint of a tenant
//   "s" tenant 0x00 status(u8) inv(created) id -> ""  by tenant and status
//   "a" inv(created) id                      -> ""   every checkpoint (all tenants)
//   "A" status(u8) inv(created) id           -> ""   by status (all tenants)
//   "x" expires_at id                        -> ""   pending checkpoints with a deadline
//   "l" tenant 0x00 recorded_at lsn          -> AuditEntry JSON  (trail of one tenant)
//   "L" recorded_at lsn                      -> AuditEntry JSON  (trail of all tenants)

#include <optional>
#include <string>
#include <vector>

#include "projections/projection.h"

namespace logbook {

enum class CheckpointStatus : uint8_t {
  kNone = 0,  // no CheckpointCreated yet
  kPending = 1,
  kApproved = 2,
  kRejected = 3,
  kExpired = 4,
};
std::string_view CheckpointStatusName(CheckpointStatus s);  // "pending", ...
bool ParseCheckpointStatus(std::string_view name, CheckpointStatus* out);

// Role order for checkpoints (as the HTTP roles): viewer < operator < admin;
// auditor and compliance reach viewer checkpoints only.
bool CheckpointRoleAllows(Role have, Role need);
// "Viewer", "Operator", "Admin", "Auditor", "Compliance".
std::string CheckpointRoleName(Role r);

constexpr std::string_view kCheckpointStreamPrefix = "checkpoint/";
std::string CheckpointStream(std::string_view checkpoint_id);

// One checkpoint, as folded from its stream. Plain value type.
struct CheckpointState {
  CheckpointStatus status = CheckpointStatus::kNone;
  std::string id;
  std::string tenant;
  std::string dag_run_id;
  std::string thread_id;
  std::string prompt;
  Role required_role = Role::kOperator;
  std::vector<std::string> source_ids;
  std::string context_json;  // "" or a JSON object
  std::string created_by;
  int64_t created_at_us = 0;
  int64_t expires_at_us = 0;  // 0 = never
  // The decision (approved, rejected or expired).
  std::string decided_by;
  Role decided_role = Role::kNone;
  int64_t decided_at_us = 0;
  std::vector<std::string> approved_source_ids;
  std::string data_json;  // approval data: "" or a flat JSON object
  std::string reason;     // rejection reason
  uint64_t decided_lsn = 0;
  // Version of the stream's last event folded: every event when the engine
  // folds the stream (its appends use it as their expected version); the
  // last effective one in the view.
  uint64_t version = 0;
  uint64_t created_lsn = 0;

  bool exists() const { return status != CheckpointStatus::kNone; }
  std::string ToJson() const;
  static bool FromJson(std::string_view text, CheckpointState* out);
};

// Folds one event of stream checkpoint/<id> into *st (which starts empty).
// Returns true when the event changed the checkpoint's status or fields;
// `version` follows every event of the stream either way.
bool ApplyCheckpointEvent(const Event& e, CheckpointState* st);

// One line of the decision trail.
struct CheckpointAuditEntry {
  uint64_t lsn = 0;
  int64_t recorded_at_us = 0;
  std::string tenant;
  std::string checkpoint_id;
  std::string action;  // "created", "approved", "rejected", "expired"
  std::string by;      // principal; empty for expiry
  Role role = Role::kNone;
  int64_t at_us = 0;  // when, by the engine's clock (payload time)
  std::vector<std::string> approved_source_ids;
  std::string reason;
};

class HitlCheckpointsProjection : public Projection {
 public:
  static constexpr std::string_view kName = "hitl_checkpoints";
  std::string_view name() const override { return kName; }
  uint32_t version() const override { return 1; }
  Status Apply(const Event& e, ViewTxn& txn) override;
  Result<nlohmann::json> Dump(ViewReader& reader) override;

  // Queries.
  static Result<std::optional<CheckpointState>> Get(ViewReader& r, std::string_view id);
  // A tenant's checkpoints ("" = those without a tenant; nullopt = every
  // tenant's), newest first, only `status` when given.
  static Result<std::vector<CheckpointState>> List(ViewReader& r,
                                                   const std::optional<std::string>& tenant,
                                                   std::optional<CheckpointStatus> status,
                                                   size_t limit);
  // Pending checkpoints whose deadline is at or before now_us, as (deadline,
  // id), oldest deadline first, starting after `after` when given (paging).
  using DueEntry = std::pair<int64_t, std::string>;
  static Result<std::vector<DueEntry>> Due(ViewReader& r, int64_t now_us, size_t limit,
                                           const std::optional<DueEntry>& after = std::nullopt);
  // The decision trail in time order: one tenant's, or every tenant's when
  // `tenant` is nullopt.
  static Result<std::vector<CheckpointAuditEntry>> Audit(ViewReader& r,
                                                         const std::optional<std::string>& tenant,
                                                         int64_t from_us, int64_t to_us,
                                                         size_t limit);
};

}  // namespace logbook
