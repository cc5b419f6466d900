#pragma once
// Log: the durable, checksummed, hash-chained event log on RocksDB.
//
// Append contract: N events go to one stream atomically, guarded by an
// ExpectedVersion; an append returns only after the RocksDB WAL holding it was
// fsync'd, so an acknowledged event survives a crash. Re-sending the event
// ids of an earlier append returns that append's result and writes nothing,
// also after a restart.
//
// The write path is a pipeline of four threads:
//   stager     owns LSN assignment, version checks, chaining and encoding; it
//              drains queued requests into a group (one WriteBatch);
//   committer  writes each group (WriteOptions::sync = false);
//   syncer     fsyncs the WAL once for all groups written since its last
//              fsync (DB::SyncWAL), then publishes their LSNs;
//   completer  wakes the callers.
// So staging, memtable inserts and fsyncs of consecutive groups overlap. A
// conflict fails only its own request. Readers never see an event before it
// is durable: every read is bounded by LastLsn(), the synced LSN. A failed
// write or fsync puts the log into a read-only state: every later append
// fails with kReadOnly and the error that caused it.
//
// Thread-safety: all public methods may be called from any thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "log/record.h"
#include "log/status.h"

namespace rocksdb {
class DB;
class WriteBatch;
class Env;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace logbook {

class EventIdIndex;
class KeyRing;

struct LogOptions {
  std::string dir;                   // data directory (created if missing and allowed)
  bool create_if_missing = true;
  // Open as a RocksDB secondary instance: no lock, so it works beside a
  // running `logbook serve`; Refresh() catches up with the primary's writes.
  // Appends fail with kReadOnly.
  bool read_only = false;
  // Records at the end of the log verified on open (checksum, chain, LSN
  // continuity, stream heads). 0 skips the check.
  size_t verify_tail_records = 1024;
  size_t max_group_requests = 1024;  // requests per group commit
  size_t max_group_bytes = 16 << 20;
  size_t max_batch_events = 10000;   // events per append request
  size_t max_payload_bytes = 4 << 20;
  size_t block_cache_bytes = 64 << 20;
  // Event ids move from memory into the idempotency column family in sorted
  // batches of this many events (log/event_id_index.h).
  uint64_t id_ingest_batch = 262144;
  rocksdb::Env* env = nullptr;       // for fault-injection tests; must outlive the Log
  // Seals tenants' payloads (log/keyring.h; docs/log_format.md "Encryption")
  // and opens them on read. Must outlive the Log. Without it, payloads are
  // written in plaintext and sealed ones are returned sealed -- and a log
  // that holds sealed payloads refuses to open for writing, so plaintext
  // never slips into an encrypted log by a missing flag.
  KeyRing* keyring = nullptr;
  // The writer's clock for recorded_at_us (µs since the epoch; the writer
  // keeps times from decreasing); empty = the system clock. For tests.
  std::function<int64_t()> clock;
};

struct ExpectedVersion {
  enum class Kind : uint8_t { kAny, kNoStream, kExact };
  Kind kind = Kind::kAny;
  uint64_t version = 0;  // for kExact: the version of the stream's last event

  static ExpectedVersion Any() { return {}; }
  static ExpectedVersion NoStream() { return {Kind::kNoStream, 0}; }
  static ExpectedVersion Exact(uint64_t v) { return {Kind::kExact, v}; }
  std::string ToString() const;
};

// An event to append. The log fills in LSN, version, time and chain.
struct NewEvent {
  uint16_t type = 0;
  EventId event_id{};  // all zero: the log generates a random id
  std::string payload;
  uint8_t payload_encoding = 0;
  uint32_t key_id = 0;
};

struct AppendRequest {
  std::string stream;
  std::string tenant;
  Actor actor;
  ExpectedVersion expected;
  std::vector<NewEvent> events;
};

struct AppendResult {
  uint64_t first_lsn = 0;
  uint64_t last_lsn = 0;
  uint64_t first_version = 0;
  uint64_t last_version = 0;  // the stream's version after this append
  bool deduplicated = false;  // true: the same event ids were appended before
  std::vector<EventId> event_ids;  // in order; generated ones included
};

struct StreamHead {
  uint64_t version = 0;
  uint64_t last_lsn = 0;
  Hash last_hash{};
  std::string tenant;
};

struct LogStats {
  uint64_t appends = 0;          // requests acknowledged
  uint64_t events = 0;           // events written
  uint64_t group_commits = 0;    // WriteBatches written
  uint64_t wal_syncs = 0;        // fsyncs of the WAL (each covers one or more groups)
  uint64_t conflicts = 0;
  uint64_t deduplicated = 0;
  uint64_t max_group_requests = 0;
};

class Log {
 public:
  static Result<std::unique_ptr<Log>> Open(const LogOptions& options);
  ~Log();  // drains queued appends, stops the writer, closes RocksDB
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Appends and blocks until the events are durable or the append failed.
  Result<AppendResult> Append(AppendRequest request);
  // Same, completing `done` on the writer thread (it must not block).
  void AppendAsync(AppendRequest request, std::function<void(Result<AppendResult>)> done);

  // Highest durable LSN (0 when the log is empty).
  uint64_t LastLsn() const { return committed_lsn_.load(std::memory_order_acquire); }
  // Waits until LastLsn() >= lsn. kTimedOut after `timeout`; kShutdown on
  // close or when *cancel becomes true (after a NotifyWaiters call).
  Status WaitForLsn(uint64_t lsn, std::chrono::milliseconds timeout,
                    const std::atomic<bool>* cancel = nullptr) const;
  // Wakes every WaitForLsn caller so it re-checks its cancel flag.
  void NotifyWaiters() const;

  // The global feed: events with LSN >= from_lsn, at most `limit`. Removed
  // records are skipped, unless include_removed: then they come back as
  // Events with removed = true (and count towards `limit`), so a reader that
  // needs dense LSNs (the projector) can step over them.
  Result<std::vector<Event>> ReadAll(uint64_t from_lsn, size_t limit,
                                     bool include_removed = false) const;
  // One stream: events with version >= from_version, at most `limit`;
  // removed versions are skipped.
  Result<std::vector<Event>> ReadStream(std::string_view stream, uint64_t from_version,
                                        size_t limit) const;
  // kNotFound also when the event was removed (the message says so).
  Result<Event> ReadEvent(uint64_t lsn) const;
  // kNotFound when the stream has no events.
  Result<StreamHead> GetStreamHead(std::string_view stream) const;
  // LSN of the event with this id; kNotFound if none.
  Result<uint64_t> FindEventId(const EventId& id) const;
  // LSN of version `version` of `stream`; kNotFound if none.
  Result<uint64_t> FindStreamVersion(std::string_view stream, uint64_t version) const;

  // Calls fn(lsn, record bytes) in LSN order from from_lsn until fn returns
  // false. Removed records are passed too (IsRemovedRecord tells them apart).
  Status ScanRecords(uint64_t from_lsn,
                     const std::function<bool(uint64_t, std::string_view)>& fn) const;
  // Calls fn(version, lsn) for the versions >= from_version of `stream`, in
  // order, until fn returns false.
  Status ScanStreamIndex(std::string_view stream, uint64_t from_version,
                         const std::function<bool(uint64_t, uint64_t)>& fn) const;

  // Replaces the events at `lsns` (all <= LastLsn()) by removed records
  // (docs/log_format.md "Removed records") in one synced batch, together with
  // whatever `extra` adds to it (e.g. progress markers in meta). LSNs stay
  // dense. kRetention keeps each event's stream, version, tenant and chain
  // hash, so the stream's retained events still chain and its head is
  // unchanged. kTenantErased keeps nothing but the LSN, and also deletes the
  // stream-index entries of `erase_streams` and forgets their heads: such a
  // stream no longer exists, and an append to it starts again at version 1.
  // Runs on the writer between groups: no append is staged meanwhile. LSNs
  // already removed are skipped, so a rerun is harmless. Returns how many
  // records were replaced.
  Result<uint64_t> RemoveEvents(const std::vector<uint64_t>& lsns, RemovalReason reason,
                                const std::vector<std::string>& erase_streams,
                                const std::function<Status(rocksdb::WriteBatch*)>& extra = {});

  // Read-only logs: catches up with the primary's latest writes.
  Status Refresh();

  // OK, or the write error that put the log into read-only state.
  Status health() const;
  LogStats stats() const;
  const LogOptions& options() const { return options_; }
  int64_t created_at_us() const { return created_at_us_; }

  // For the layers above (projection views, engine metadata): the RocksDB
  // handle and the `views` and `meta` column families. Never write to the
  // log's own column families through these.
  rocksdb::DB* db() const { return db_; }
  rocksdb::ColumnFamilyHandle* views_cf() const { return cf_views_; }
  rocksdb::ColumnFamilyHandle* meta_cf() const { return cf_meta_; }
  // The graph chunk store's family (engine/chunk_store.h); null only for a
  // read-only open of a log that never had one.
  rocksdb::ColumnFamilyHandle* chunks_cf() const { return cf_chunks_; }

  // Key encodings, shared with the verifier and tests.
  static std::string StreamIndexKey(std::string_view stream, uint64_t version);

  rocksdb::ColumnFamilyHandle* events_cf() const { return cf_events_; }
  rocksdb::ColumnFamilyHandle* stream_index_cf() const { return cf_stream_index_; }
  rocksdb::ColumnFamilyHandle* idempotency_cf() const { return cf_idempotency_; }

 private:
  struct Pending;
  struct GroupState;
  explicit Log(const LogOptions& options);
  Status OpenDb();
  Status LoadLastLsn();
  Status InitOrCheckFormat();
  Status CheckEncryption();
  // Opens e's payload when it is sealed (see Event::payload); `record` is
  // the record e was decoded from. Errors only when the seal does not
  // authenticate (corruption); a missing key leaves it sealed.
  Status OpenPayload(std::string_view record, Event* e) const;
  void Enqueue(Pending* p);
  void StagerLoop();
  void CommitterLoop();
  void SyncerLoop();
  void CompleterLoop();
  void SetFailed(const Status& s);
  static size_t RequestBytes(const Pending& p);
  // Validates one request against the heads (which include every staged
  // group) and adds its records to g's batch. Returns the result, or the
  // request's error. `inflight` is the group the committer may be writing.
  Result<AppendResult> Stage(AppendRequest& req, GroupState& g, const GroupState& inflight);
  Result<std::optional<AppendResult>> CheckIdempotency(const AppendRequest& req,
                                                       const GroupState& g,
                                                       const GroupState& inflight);
 public:
  // The idempotency index (tests and tools: ingestion state).
  EventIdIndex& event_id_index() { return *ids_; }

 private:
  Result<StreamHead*> LoadHead(const std::string& stream);
  Result<std::optional<StreamHead>> DeriveHead(std::string_view stream, uint64_t bound) const;
  Result<Event> ReadEventUpTo(uint64_t lsn, uint64_t bound) const;

  const LogOptions options_;
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* cf_events_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_stream_index_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_idempotency_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_views_ = nullptr;
  rocksdb::ColumnFamilyHandle* cf_chunks_ = nullptr;
  std::shared_ptr<void> block_cache_;  // rocksdb::Cache, kept alive with the DB
  int64_t created_at_us_ = 0;
  std::string secondary_dir_;  // read-only mode: the secondary instance's own files

  // Queue of appends and the stager -> committer hand-off. Guarded by queue_mu_.
  std::mutex queue_mu_;
  std::condition_variable stager_cv_;
  std::condition_variable committer_cv_;
  std::vector<Pending*> queue_;
  GroupState* handoff_ = nullptr;  // sealed group for the committer
  bool committer_busy_ = false;    // a group is handed off and not yet completed
  bool stopping_ = false;
  bool stager_done_ = false;
  std::thread stager_;
  std::thread committer_;

  // Groups written (or failed), waiting for the WAL fsync, then for their
  // callers to be woken.
  struct Completion {
    std::vector<Pending*> requests;
    std::vector<std::optional<Result<AppendResult>>> results;
    Status status;         // the write's outcome
    uint64_t events = 0;   // events the group wrote
    uint64_t last_lsn = 0;
  };
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::deque<Completion> sync_q_;
  bool committer_done_ = false;  // guarded by sync_mu_
  std::thread syncer_;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::deque<Completion> done_q_;
  bool syncer_done_ = false;  // guarded by done_mu_
  std::thread completer_;

  std::unique_ptr<EventIdIndex> ids_;

  // Stager-thread state: stream heads, loaded from the stream index on first use.
  struct HeadCache;
  std::unique_ptr<HeadCache> heads_;
  int64_t last_recorded_at_us_ = 0;
  uint64_t next_lsn_ = 1;

  std::atomic<uint64_t> committed_lsn_{0};
  mutable std::mutex commit_mu_;
  mutable std::condition_variable commit_cv_;
  std::atomic<bool> closing_{false};

  mutable std::mutex health_mu_;
  Status health_;  // guarded by health_mu_
  std::atomic<bool> failed_{false};

  // Counters (relaxed atomics).
  std::atomic<uint64_t> n_appends_{0}, n_events_{0}, n_groups_{0}, n_conflicts_{0},
      n_dedup_{0}, n_max_group_{0}, n_syncs_{0};
};

}  // namespace logbook
