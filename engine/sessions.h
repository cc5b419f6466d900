#pragma once
// Sessions: the session lifecycle as commands over the log — start a
// session, run a turn through the turn write-ahead log, reconcile turns left
// without an outcome, expire sessions past their TTL, content-hashed
// snapshots (create, list, restore, delete, limits) and the recap. Every
// change is an appended event; every read is served by the "sessions" view
// (projections/sessions.h). Export and import live in engine/bundle.h.
//
// A turn is two appends: TurnProposed (with its acts, an RFC 6902 JSON Patch
// on the session's state document, and the BLAKE2b-256 of the state before
// them), then TurnApplied (with the hash after) or TurnRolledBack (with the
// reason). Both are appended with the stream's exact expected version, so
// concurrent writers of one session serialise; the outcome's event id is
// derived from the session and the proposal's LSN, so a live writer and a
// reconciler settling the same turn write one outcome between them.
//
// Thread-safety: all methods may be called from any thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "log/log.h"

namespace logbook {

class Engine;
class ViewReader;

struct SessionOptions {
  // The clock of TTLs, snapshot ages and timestamps in payloads (µs since
  // the epoch); empty = the system clock. Tests inject their own.
  std::function<int64_t()> clock;
  // TTL of a session started without one; 0 = no expiry.
  int64_t default_ttl_us = 0;
  // Snapshot limits per session; 0 = no limit. Enforced when a snapshot is
  // created and by the sweep.
  size_t snapshot_max_count = 10;
  int64_t snapshot_max_age_us = int64_t{30} * 24 * 3600 * 1000000;
  // Recap: sentences (at least 2) and words per sentence at most; episodic
  // memories and pins considered; turns when the caller names none.
  size_t recap_max_sentences = 6;
  size_t recap_max_words = 24;
  size_t recap_episodic = 3;
  size_t recap_pins = 3;
  size_t recap_last_turns = 3;
  // Export/import: largest bundle in bytes; rules added to the built-in
  // redaction rules (a JSON file, engine/redact.h); redact by default.
  uint64_t bundle_max_bytes = uint64_t{50} << 20;
  std::string redaction_rules_file;
  // Engine::Open settles pending turns and expires sessions past their TTL.
  bool recover_on_open = true;
  // Period of the background sweep (expiry, snapshot ages) when the engine
  // runs its projector thread; 0 = no sweep thread.
  std::chrono::milliseconds sweep_interval{0};
  // Tests: called between the TurnProposed and the outcome of a live turn.
  std::function<void()> after_propose;
};

struct StartSessionInput {
  std::string session_id;  // empty: a new UUID
  std::string user, channel, kind;
  std::optional<int64_t> ttl_us;  // nullopt: SessionOptions::default_ttl_us; 0: none
  std::string metadata_json;      // JSON object text or empty
  bool sandbox = false;
  std::string imported_from_session_id;
};

struct TurnInput {
  std::string session_id;
  std::string turn_id;       // empty: a new UUID
  std::string awf_raw_json;  // the turn's raw AWF document (JSON), may be empty
  std::string acts_json;     // JSON Patch array (RFC 6902)
};

struct TurnOutcome {
  std::string session_id;
  std::string turn_id;
  std::string status;  // "applied" or "rolled_back"
  std::string reason;  // rolled back: why
  bool reconciled = false;
  std::string pre_state_hash, post_state_hash;
  uint64_t proposed_lsn = 0, outcome_lsn = 0;
  nlohmann::json ToJson() const;
};

struct SnapshotResult {
  bool created = false;              // false: the same state already had this snapshot
  nlohmann::json snapshot;           // the index entry
  std::vector<std::string> deleted;  // snapshots removed by the limits
};

struct Recap {
  std::string session_id;
  std::vector<std::string> sentences;
  std::string text;        // sentences joined by one space
  nlohmann::json sources;  // ids used: pins, episodic, turns, objectives
  nlohmann::json ToJson() const;
};

class Sessions {
 public:
  Sessions(Engine& engine, SessionOptions options);
  ~Sessions();
  const SessionOptions& options() const { return options_; }
  int64_t Now() const;

  // ---- sessions
  Result<nlohmann::json> Start(const std::string& tenant, const Actor& actor,
                               const StartSessionInput& in);
  // The header (session_id, tenant, status, ...), or kNotFound.
  Result<nlohmann::json> Header(const std::string& session_id);
  // Header, state, pins, episodic memory, objectives and turns.
  Result<nlohmann::json> View(const std::string& session_id);

  // ---- turns
  // Proposes, applies and settles one turn. kConflict when the session is
  // not active, has a pending turn or already used the turn id.
  Result<TurnOutcome> SubmitTurn(const Actor& actor, const TurnInput& in);
  // Only the first half (TurnProposed): tests and tools that stage a crash.
  Result<uint64_t> ProposeOnly(const Actor& actor, const TurnInput& in);
  // Settles every pending turn (of one session, or all visible ones): apply
  // when the state still hashes to pre_state_hash and the patch applies,
  // otherwise roll back with the reason. Appends TurnApplied/TurnRolledBack
  // with reconciled=true; a second run finds nothing to do.
  Result<std::vector<TurnOutcome>> Reconcile(
      const Actor& actor, const std::string& session_id = "",
      const std::function<bool(const std::string& tenant)>& visible = {});
  // WAL entries of a session (every turn proposed, with its outcome).
  Result<nlohmann::json> ListWal(const std::string& session_id, bool pending_only = false);
  // Pending entries of every session.
  Result<nlohmann::json> ListPending(const std::function<bool(const std::string&)>& visible = {});
  // Drops entries settled more than `older_than_us` ago from the view
  // (appends TurnWalPruned). Returns how many entries left.
  Result<size_t> CleanupWal(const Actor& actor, int64_t older_than_us);

  // ---- expiry
  // Appends SessionExpired for each active session past its deadline.
  Result<size_t> SweepExpired();

  // ---- snapshots
  Result<SnapshotResult> CreateSnapshot(const Actor& actor, const std::string& session_id,
                                        const std::string& label);
  Result<nlohmann::json> ListSnapshots(const std::string& session_id);
  // Verifies the body in the log against content_hash, appends
  // SnapshotRestored and returns the restored view (equal to the body).
  Result<nlohmann::json> RestoreSnapshot(const Actor& actor, const std::string& session_id,
                                         const std::string& snapshot_id);
  Status DeleteSnapshot(const Actor& actor, const std::string& session_id,
                        const std::string& snapshot_id, const std::string& reason = "manual");
  // Deletes snapshots past the max age or beyond the max count (oldest
  // first), never `keep`. Returns the ids deleted.
  Result<std::vector<std::string>> EnforceSnapshotLimits(const Actor& actor,
                                                         const std::string& session_id,
                                                         const std::string& keep = "");
  // The canonical body of the session as it stands (what a snapshot stores).
  Result<std::string> CanonicalView(const std::string& session_id);

  // ---- recap
  // last_turns: nullopt = options().recap_last_turns.
  Result<Recap> BuildRecap(const std::string& session_id, std::optional<size_t> last_turns);

  // ---- recovery and the background sweep
  Status Recover();
  void StartSweeper();
  void StopSweeper();

  // Brings the views up to `lsn` (catching up on this thread when needed).
  Status SyncViews(uint64_t lsn);
  std::unique_ptr<ViewReader> Reader();
  static std::string StreamOf(const std::string& session_id);
  static Status ValidateSessionId(std::string_view id);
  static Status ValidateTurnId(std::string_view id);
  // A deterministic event id (UUID form) from the given parts: appends that
  // must happen once (reconciled outcomes, expiries, limit deletions) reuse it.
  static EventId DerivedEventId(std::initializer_list<std::string_view> parts);

 private:
  struct Settled;
  Result<TurnOutcome> Settle(const Actor& actor, const std::string& session_id,
                             const std::string& turn_id, bool reconciled);
  Result<AppendResult> AppendOne(const std::string& stream, const std::string& tenant,
                                 const Actor& actor, ExpectedVersion expected,
                                 const std::string& type, const nlohmann::json& payload,
                                 const std::optional<EventId>& id = std::nullopt);
  void SweepLoop();

  Engine& engine_;
  SessionOptions options_;
  std::mutex sweep_mu_;
  std::condition_variable sweep_cv_;
  bool sweep_stop_ = false;
  std::thread sweeper_;
};

}  // namespace logbook
