#pragma once
// Engine: the coordinator above the log and the projections.
//
// Open() opens the log (verifying its tail), loads every view's checkpoint,
// catches the views up with the log (recovery) and, when writable, starts
// the projector thread that follows new appends. Appends take JSON payloads,
// checked against the schema of their event type before anything is written.
//
// Thread-safety: all methods may be called from any thread.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/costs.h"
#include "engine/hitl.h"
#include "engine/projector.h"
#include "log/keyring.h"
#include "engine/sessions.h"
#include "log/log.h"
#include "projections/audit_index.h"

namespace logbook {

struct EngineOptions {
  std::string data_dir = "./logbook-data";
  bool create_if_missing = true;
  // Read-only: a secondary instance beside a running writer; no projector.
  bool read_only = false;
  bool run_projector_thread = true;
  // Bring the views up to the log's end during Open (recovery). Off only for
  // `audit verify`, which must open a log whose records may not decode.
  bool catch_up_views = true;
  size_t verify_tail_records = 1024;
  rocksdb::Env* env = nullptr;  // fault-injection tests; must outlive the engine
  // Key directory (log/keyring.h): tenants' payloads are encrypted with keys
  // kept there. Empty: no encryption. A directory that does not exist is
  // created only together with a new data directory, and only when
  // create_keys is set; for an existing plaintext log it is ignored.
  std::string key_dir;
  bool create_keys = false;
  // Progress of the view catch-up on open: (done LSN, target LSN).
  std::function<void(uint64_t, uint64_t)> recovery_progress;
  SessionOptions sessions;  // TTLs, snapshot limits, recap, bundles (engine/sessions.h)
  // The clock of commands and time-windowed queries (µs since the epoch);
  // empty = the system clock. Tests inject their own.
  std::function<int64_t()> clock;
  // The log writer's clock (Event::recorded_at_us, what retention ages by);
  // empty = the system clock. Tests of age-based pruning inject one.
  std::function<int64_t()> log_clock;
  HitlOptions hitl;   // checkpoint TTL and expiry sweep (engine/hitl.h)
  CostOptions costs;  // pricing, budgets, alert settings (engine/costs.h)
};

// One event to append, as JSON-facing callers give it.
struct EventInput {
  std::string type;          // EventType name, e.g. "SessionStarted"
  std::string event_id;      // UUID text; empty: generated
  std::string payload_json;  // JSON object for the type's table; empty means {}
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options);
  ~Engine();

  Log& log() { return *log_; }
  Projector& projector() { return *projector_; }
  bool read_only() const { return options_.read_only; }
  Sessions& sessions() { return *sessions_; }
  Hitl& hitl() { return *hitl_; }
  Costs& costs() { return *costs_; }
  // Now by the engine's clock (EngineOptions::clock).
  int64_t Now() const { return options_.clock ? options_.clock() : NowMicros(); }

  // Validates every event (type, id, payload against the schema), then
  // appends them atomically. Nothing is written when any event is invalid.
  Result<AppendResult> AppendJson(const std::string& stream, const std::string& tenant,
                                  const Actor& actor, ExpectedVersion expected,
                                  const std::vector<EventInput>& events);

  // The same, completing `done` once the events are durable or refused. An
  // invalid event completes it at once, on the calling thread; otherwise it
  // runs on the log's completer thread and must not block.
  void AppendJsonAsync(const std::string& stream, const std::string& tenant, const Actor& actor,
                       ExpectedVersion expected, const std::vector<EventInput>& events,
                       std::function<void(Result<AppendResult>)> done);

  // JSON form of a stored event (docs/api.md "Event JSON"), as text: built
  // directly (the payload is FlatBuffers' own JSON), no DOM in between.
  static std::string EventToJsonText(const Event& e);
  // The same as a DOM, for callers that edit it.
  static nlohmann::json EventToJson(const Event& e);

  // Waits until the views include `lsn` (read-your-writes). Without a
  // projector thread, catches the views up on the calling thread.
  Status WaitForViews(uint64_t lsn, std::chrono::milliseconds timeout);
  // The key ring, or null when the log is not encrypted.
  KeyRing* keyring() const { return keyring_.get(); }
  Result<std::vector<AuditHit>> QueryAudit(const AuditQuery& q);
  Result<nlohmann::json> Stats();

  // Time travel. LsnAtTime: the last LSN recorded at or before `us` (0: none).
  Result<uint64_t> LsnAtTime(int64_t us);
  // A view as it stood after `as_of_lsn`, folded in memory from LSN 1.
  Result<nlohmann::json> ReplayView(std::string_view view, uint64_t as_of_lsn,
                                    const std::function<void(uint64_t, uint64_t)>& progress = {});
  // A stream as it stood after `as_of_lsn`: its head and events.
  Result<nlohmann::json> ReplayStream(std::string_view stream, uint64_t as_of_lsn);

 private:
  explicit Engine(const EngineOptions& options) : options_(options) {}
  Result<AppendRequest> BuildRequest(const std::string& stream, const std::string& tenant,
                                     const Actor& actor, ExpectedVersion expected,
                                     const std::vector<EventInput>& events) const;
  EngineOptions options_;
  std::unique_ptr<KeyRing> keyring_;  // outlives log_
  std::unique_ptr<Log> log_;
  std::unique_ptr<Projector> projector_;
  std::unique_ptr<Sessions> sessions_;  // after the log: its sweeper stops first
  // Declared after the log and projector: destroyed (and the sweeper
  // stopped) before them.
  std::unique_ptr<Costs> costs_;
  std::unique_ptr<Hitl> hitl_;
};

// "2026-11-26T07:24:03.123456Z"
std::string FormatTimestamp(int64_t us);
// Parses RFC 3339 UTC ("...Z"), with optional fraction; or plain integer µs.
bool ParseTimestamp(std::string_view text, int64_t* us);

}  // namespace logbook
