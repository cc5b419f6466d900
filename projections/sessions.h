#pragma once
// View "sessions": the session lifecycle folded from the session events of
// streams session/<session_id> (schemas/events.fbs, types 100-202).
//
// Per session the view holds a header, the runtime state document that the
// acts of applied turns modify (RFC 6902 JSON Patch), warm pins, episodic
// memory, objectives, the applied turns, the turn write-ahead log (every
// proposed turn and its outcome) and the snapshot index with the snapshot
// bodies. Keys are split per session so that a fold rewrites small values:
//
//   "s" sid 0x00 "h"                 header (JSON)
//   "s" sid 0x00 "d"                 state document (canonical JSON)
//   "s" sid 0x00 "p" seq u64 BE      warm pin (JSON)
//   "s" sid 0x00 "e" seq u64 BE      episodic memory (JSON)
//   "s" sid 0x00 "o" objective_id    objective (JSON; the same id replaces)
//   "s" sid 0x00 "t" seq u64 BE      applied turn {seq, turn_id, awf_raw}
//   "s" sid 0x00 "w" turn_id         turn WAL entry (JSON)
//   "s" sid 0x00 "n" snapshot_id     snapshot index entry (JSON)
//   "s" sid 0x00 "x" content_hash    -> snapshot_id (one snapshot per state)
//   "s" sid 0x00 "b" snapshot_id     snapshot body (canonical JSON)
//   "P" sid 0x00 turn_id             -> "" : turns proposed and not settled
//   "X" deadline u64 BE sid          -> "" : sessions with a TTL, by deadline
//   "S" settled_at u64 BE sid 0x00 turn_id -> "" : settled WAL entries by time
//
// Sequence numbers (pins, episodes, turns) count per session and never go
// back, also across a snapshot restore; they give recency without LSNs, so an
// imported session folds to the same numbers as its source.
//
// Folds accept whatever the log holds: an event that does not fit (unknown
// session, a turn id proposed twice, a snapshot whose body does not match
// its hash) is skipped, never an error, so a bad append cannot stop the view.

#include <string>
#include <vector>

#include "projections/projection.h"

namespace logbook {

// The canonical serialization: nlohmann::json with object keys sorted
// (std::map order), compact, UTF-8 unescaped, numbers as parsed, invalid
// UTF-8 replaced by U+FFFD (docs/log_format.md "Canonical JSON").
std::string CanonicalJson(const nlohmann::json& j);
// BLAKE2b-256 (libsodium crypto_generichash, no key) as lowercase hex.
std::string Blake2b256Hex(std::string_view bytes);
// Version of the snapshot body format (SnapshotCreated.format_version).
constexpr uint32_t kSnapshotFormatVersion = 1;

struct PendingTurn {
  std::string session_id;
  std::string turn_id;
};

class SessionsProjection : public Projection {
 public:
  static constexpr std::string_view kName = "sessions";
  static constexpr std::string_view kStreamPrefix = "session/";
  // Stream of TurnWalPruned events.
  static constexpr std::string_view kWalStream = "sessions/wal";

  std::string_view name() const override { return kName; }
  uint32_t version() const override { return 1; }
  Status Apply(const Event& e, ViewTxn& txn) override;
  Result<nlohmann::json> Dump(ViewReader& reader) override;

  // Queries. A missing session gives nullopt / NotFound.
  static Result<std::optional<nlohmann::json>> Header(ViewReader& r, std::string_view sid);
  static Result<nlohmann::json> State(ViewReader& r, std::string_view sid);
  // The state document as stored: its canonical text ("{}" when none).
  static Result<std::string> StateText(ViewReader& r, std::string_view sid);
  // The snapshot body of the session as it stands (docs/log_format.md
  // "Snapshot bodies"): {episodic, format_version, last_turn_id, objectives,
  // pins, state, turns}. CanonicalJson of it is what a snapshot stores.
  static Result<nlohmann::json> SnapshotBody(ViewReader& r, std::string_view sid);
  // Items of one kind ('p', 'e', 'o', 't', 'w', 'n') in key order.
  static Result<std::vector<nlohmann::json>> Items(ViewReader& r, std::string_view sid, char kind);
  // Like Items for 't', only the last `n` turns (by sequence).
  static Result<std::vector<nlohmann::json>> LastTurns(ViewReader& r, std::string_view sid,
                                                       size_t n);
  static Result<std::optional<nlohmann::json>> WalEntry(ViewReader& r, std::string_view sid,
                                                        std::string_view turn_id);
  static Result<std::optional<nlohmann::json>> Snapshot(ViewReader& r, std::string_view sid,
                                                        std::string_view snapshot_id);
  // snapshot_id of the session's snapshot with this content hash, if any.
  static Result<std::optional<std::string>> SnapshotByHash(ViewReader& r, std::string_view sid,
                                                           std::string_view hash);
  static Result<std::optional<std::string>> SnapshotBodyText(ViewReader& r, std::string_view sid,
                                                             std::string_view snapshot_id);
  // Proposed turns without an outcome; of one session, or of all when sid is empty.
  static Result<std::vector<PendingTurn>> Pending(ViewReader& r, std::string_view sid);
  // Sessions whose deadline is <= now_us and that are still active: (sid, deadline).
  static Result<std::vector<std::pair<std::string, int64_t>>> DueExpiries(ViewReader& r,
                                                                          int64_t now_us);
  // Every session id, in key order (tools, sweeps).
  static Result<std::vector<std::string>> SessionIds(ViewReader& r);
  // WAL entries settled before `before_us` (what a TurnWalPruned would drop).
  static Result<size_t> CountSettledBefore(ViewReader& r, int64_t before_us);

  // The last state document a fold wrote, parsed: the next turn of the same
  // session skips the parse when the stored text still equals `text` (it is
  // compared first, so the cache never changes a result).
  struct StateCache {
    std::string sid, text;
    nlohmann::json doc;
  };

 private:
  StateCache cache_;
};

}  // namespace logbook
