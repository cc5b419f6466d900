#pragma once
// Retention: prunes events older than their family's maximum age
// (docs/operations.md "Retention").
//
// Every event type belongs to one family (EventFamily). A policy gives some
// families a maximum age in days; the others are kept forever. A run removes,
// per stream, the longest prefix of events that are all past their family's
// age -- a stream always keeps a suffix, so what remains still chains from
// the removed records (docs/log_format.md "Removed records"). A prefix stops
// early at an event something still needs:
//   - the SnapshotCreated of a snapshot the session still holds (its body
//     lives in that event, and restore reads it);
//   - the TurnProposed of a turn still pending (reconciliation settles it);
//   - the CheckpointCreated of a HITL checkpoint still pending.
// Tenants under a legal hold are skipped (and named in the report); a run
// for one held tenant fails with kHeld. Only events the views have folded are
// considered, so views keep what they derived from pruned events.
//
// A live run removes in batches; each batch also records the run's progress
// under the meta key `retention/run`, so a run cut short (a crash, kill -9)
// is finished by the next one, which appends one RetentionEnforced (stream
// $retention) counting everything the run removed, then drops the marker.
// The removed records' space comes back when RocksDB compacts; a live run
// compacts the range it touched unless told not to.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"

namespace logbook {

// Families, in report order: sessions (sessions, turns, snapshots),
// approvals (HITL checkpoints), graph (LangGraph checkpoints), usage (LLM
// usage, budgets), lifecycle (artifacts), governance (holds, retention,
// exports, keys, opt-outs), workspace, system (the log's own events), other
// (types logbook does not know).
const std::vector<std::string>& RetentionFamilies();
std::string_view EventFamily(uint16_t type);

struct RetentionPolicy {
  // family -> maximum age in days (> 0). Families not named are kept.
  std::map<std::string, double> max_age_days;

  // The defaults of docs/operations.md: sessions 90, approvals 90, usage
  // 180, governance 365 days; everything else kept.
  static RetentionPolicy Defaults();
  // Sets one family from "family=days" or "family=keep". Workspace and
  // system cannot be pruned (their views read the log).
  Status Set(std::string_view assignment);
  // Sets every family of a JSON object {"family": days or "keep"}.
  Status SetAll(const nlohmann::json& families);
  nlohmann::json ToJson() const;  // {"family": days, ...}
};

struct RetentionReport {
  bool dry_run = true;
  bool resumed = false;  // finished a run a crash had cut short
  std::string run_id;
  std::string tenant;     // empty: all tenants
  uint64_t up_to_lsn = 0;  // events at or below it were considered
  std::map<std::string, uint64_t> counts;  // family -> events removed (or to remove)
  uint64_t total = 0;
  uint64_t record_bytes = 0;  // bytes of the records removed (or to remove)
  uint64_t kept_needed = 0;   // expired but kept: a snapshot or pending item needs them
  std::vector<std::string> held_tenants;
  uint64_t enforced_lsn = 0;  // LSN of the RetentionEnforced (live runs)
  nlohmann::json policy;
  nlohmann::json ToJson() const;
};

class RetentionService {
 public:
  explicit RetentionService(Engine& engine) : engine_(engine) {}

  struct RunOptions {
    std::string tenant;  // empty: every tenant
    bool dry_run = true;
    bool compact = true;          // compact the touched range after a live run
    size_t batch_events = 20000;  // removed per synced batch
  };
  Result<RetentionReport> Run(const RetentionPolicy& policy, const RunOptions& options,
                              const Actor& by);

 private:
  Engine& engine_;
};

}  // namespace logbook
