#pragma once
// LifecycleService: artifacts moving hot -> warm -> cold -> purged by age
// (docs/operations.md "Storage lifecycle"), as events on the stream
// artifact/<tenant>/<artifact_id> and the "artifacts" view
// (projections/artifacts.h).
//
// Age is the time an artifact has been in its current tier, by the engine's
// clock (EngineOptions::clock): a run moves hot -> warm once it has been hot
// for hot_days, warm -> cold after warm_days in warm, and purges it from cold
// after cold_days in cold -- at most one step per artifact per run. A restore
// puts it back in hot, where its hot_days start again. A tenant under legal
// hold (engine/holds.h) keeps its cold artifacts: their purge is withheld and
// reported, while its moves and every other tenant's purges go ahead.
//
// Runs are safe to repeat: each move and purge carries an event id derived
// from the artifact's stream and the LSN of the event that put it in its
// tier (docs/log_format.md "Derived event ids"), and is appended with that
// stream's expected version, so a rerun after a crash neither moves an
// artifact twice nor moves one that was restored in between.
//
// Thread-safety: all methods may be called from any thread.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "projections/artifacts.h"

namespace logbook {

// Days an artifact stays in a tier. Defaults are the production ones
// (HOT/WARM/COLD_RETENTION_DAYS 7/30/90).
struct LifecyclePolicy {
  uint32_t hot_days = 7;
  uint32_t warm_days = 30;
  uint32_t cold_days = 90;
  // Most actions one run takes (0: no limit); the rest wait for the next run.
  size_t max_actions = 0;
  Status Validate() const;
  nlohmann::json ToJson() const;
};

struct ArtifactInput {
  std::string tenant;
  std::string workflow;
  std::string artifact_id;  // [A-Za-z0-9._:@$=+-], 1..200 bytes
  uint64_t bytes = 0;
  std::string content_hash;  // BLAKE2b-256, 64 hex digits
  std::string label;         // name or classification, e.g. "Internal"
  std::string tier = "hot";  // hot | warm | cold
  int64_t stored_at_us = 0;  // 0: now; earlier to register an existing artifact
};

struct StoreResult {
  ArtifactEntry artifact;
  bool created = false;  // false: the same artifact was stored before (idempotent)
  uint64_t lsn = 0;
};

// One step of a run.
struct LifecycleAction {
  std::string tenant;
  std::string artifact_id;
  std::string workflow;
  std::string from_tier;
  std::string to_tier;    // "warm", "cold" or "purged"
  uint32_t age_days = 0;  // whole days in from_tier
  uint64_t bytes = 0;
  std::string content_hash;
  uint64_t tier_lsn = 0;  // the event that put it in from_tier
  uint64_t version = 0;   // the stream's version when planned
  // "planned" (dry run), "done", "already_done" (a rerun found its event),
  // "changed" (the artifact changed since planned; left for the next run),
  // "held" (purge withheld by a legal hold) or "error".
  std::string outcome = "planned";
  std::string error;
  uint64_t lsn = 0;  // of its event, when done
  bool is_purge() const { return to_tier == "purged"; }
  nlohmann::json ToJson() const;
};

struct HeldTenant {
  std::string tenant;
  std::string reason;     // the holds in force
  uint64_t withheld = 0;  // purges withheld
  uint64_t bytes = 0;
};

struct LifecycleReport {
  bool live = false;
  int64_t now_us = 0;
  std::string tenant;  // "" = every tenant
  LifecyclePolicy policy;
  std::vector<LifecycleAction> actions;  // moves and purges that go ahead
  std::vector<HeldTenant> held;          // tenants whose due purges are withheld
  bool truncated = false;                // max_actions left due work for the next run
  Status first_error;                    // of the first action whose append failed
  // Counts by kind: hot_to_warm, warm_to_cold, purged_from_cold, held, errors.
  nlohmann::json Counts() const;
  // {"mode","now","tenant","policy","counts","held","actions"}; actions are
  // listed up to `max_listed`.
  nlohmann::json ToJson(size_t max_listed = SIZE_MAX) const;
  // The first error of a live run, or kHeld naming the withheld tenants and
  // their holds, or OK.
  Status Outcome() const;
};

struct RestoreResult {
  ArtifactEntry artifact;  // as it stands after the restore
  std::string from_tier;
  bool restored = false;  // false: it was already hot
  uint64_t lsn = 0;
};

class LifecycleService {
 public:
  explicit LifecycleService(Engine& engine) : engine_(engine) {}

  // Appends ArtifactStored. The same artifact id again is idempotent when
  // workflow, bytes, hash and label agree (created = false), and
  // kIdempotencyConflict otherwise (also after a purge).
  Result<StoreResult> Store(const ArtifactInput& in, const Actor& by);
  // What a run would do now; nothing is written.
  Result<LifecycleReport> Plan(const LifecyclePolicy& policy, const std::string& tenant);
  // Plans and, when live, appends the events (see the header comment).
  // Errors of single actions are in the report (LifecycleReport::Outcome);
  // the Result fails only when no plan could be made.
  Result<LifecycleReport> Run(const LifecyclePolicy& policy, const std::string& tenant, bool live,
                              const Actor& by);
  // Carries out a plan (from Plan) and marks it live. A plan carried out
  // before -- a rerun after a crash -- finds its events ("already_done");
  // an artifact that changed since is left alone ("changed").
  Status Execute(LifecycleReport* plan, const Actor& by);
  // Brings an artifact back to hot (ArtifactRestored). kNotFound when there
  // is no such artifact, kInvalidArgument when it was purged.
  Result<RestoreResult> Restore(const std::string& tenant, const std::string& artifact_id,
                                const Actor& by);
  Result<std::optional<ArtifactEntry>> Get(const std::string& tenant,
                                           const std::string& artifact_id);
  // A tenant's artifacts by id, purged ones included, at most `limit`.
  Result<std::vector<ArtifactEntry>> List(const std::string& tenant, size_t limit);
  // Counts and bytes per tier, per tenant (one tenant's when set).
  Result<std::vector<TenantTierSummary>> Summary(const std::string& tenant);

  static Status ValidateArtifactId(std::string_view id);

 private:
  Status Settle();  // views caught up with the log (read-your-writes)
  Engine& engine_;
};

}  // namespace logbook
