#pragma once
// EventIdIndex: event id -> LSN, the idempotency index of the log.
//
// Event ids are random, and inserting random keys into a RocksDB memtable
// costs more than everything else an append does. So ids do not go through
// the append's WriteBatch. Instead:
//   - ids of recent events live in memory (a hash map), added by the stager
//     as it assigns LSNs;
//   - a background thread takes every `batch` events the log has made
//     durable, sorts their ids, writes them into one SST file and ingests it
//     into the `idempotency` column family (IngestExternalFile), then records
//     the LSN it covered in `meta` (key "idempotency/ingested_through");
//   - on open, the ids after that LSN are read back from the log itself (the
//     records carry their ids), so the index is complete after any crash.
// Lookups check memory first, then the column family (bloom-filtered SSTs).
// The writer also keeps a bloom filter over every id of the log, so an id
// never seen before — the common case — costs no RocksDB lookup at all. It is
// rebuilt on open from the column family's keys (about 1.25 bytes of memory
// per event; the open reads every key once).
//
// Thread-safety: Add/FindForWriter/Prune are called by the log's stager
// thread; Find by any thread; the ingestion thread runs on its own.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <array>
#include <deque>
#include <vector>
#include <mutex>
#include <optional>
#include <thread>

#include "log/record.h"
#include "log/status.h"

namespace logbook {

class Log;

class EventIdIndex {
 public:
  static constexpr char kIngestedKey[] = "idempotency/ingested_through";

  EventIdIndex(Log& log, uint64_t batch);
  ~EventIdIndex();

  // Reads the ingested watermark and loads the ids after it from the log.
  // With `writer`, also builds the filter from every stored id.
  Status Load(bool writer);
  // Read-only instances: loads ids of events appended since the last call.
  Status CatchUp();
  void StartIngestion();
  void Stop();

  // Stager: staged (not yet durable) events with consecutive LSNs.
  void AddRun(const std::vector<EventId>& ids, uint64_t first_lsn);
  // Stager: LSN of `id`, staged events included.
  Result<std::optional<uint64_t>> FindForWriter(const EventId& id) const;
  // Stager: drops in-memory ids that are now in the column family.
  void Prune();
  // Any thread: LSN of a durable event with this id.
  Result<std::optional<uint64_t>> Find(const EventId& id) const;

  // Moves every durable id into the column family now (tests, shutdown).
  Status IngestAll();
  uint64_t ingested_through() const { return ingested_.load(std::memory_order_acquire); }
  size_t in_memory() const;

 private:
  Status IngestUpTo(uint64_t target);
  Result<std::optional<uint64_t>> Lookup(const EventId& id) const;
  void Loop();

  // A bloom filter that grows: segments of 512-bit blocks, six bits per key
  // in one block (one cache line), about 1% false positives.
  class Filter {
   public:
    void Add(const EventId& id);
    bool MayContain(const EventId& id) const;

   private:
    struct Segment {
      std::vector<std::array<uint64_t, 8>> blocks;
      size_t count = 0;
      size_t capacity = 0;
    };
    std::vector<Segment> segments_;
  };

  // id -> LSN for the ids not yet ingested: open addressing with linear
  // probing and backward-shift deletion (no per-entry allocation).
  class RecentMap {
   public:
    void Insert(const EventId& id, uint64_t lsn);
    std::optional<uint64_t> Find(const EventId& id) const;
    void Erase(const EventId& id);
    size_t size() const { return size_; }

   private:
    struct Slot {
      EventId id{};
      uint64_t lsn = 0;  // 0: empty (LSNs start at 1)
    };
    size_t Home(const EventId& id) const;
    void Grow();
    std::vector<Slot> slots_;
    size_t size_ = 0;
  };

  Log& log_;
  const uint64_t batch_;
  bool writer_ = false;
  Filter filter_;  // stager thread only (and Load before it starts)
  mutable std::mutex mu_;  // guards recent_, order_, loaded_through_
  RecentMap recent_;
  std::deque<std::pair<uint64_t, EventId>> order_;  // LSN order, for pruning
  uint64_t loaded_through_ = 0;                     // read-only CatchUp progress
  std::atomic<uint64_t> ingested_{0};
  std::mutex ingest_mu_;  // one ingestion at a time
  std::atomic<bool> stop_{false};
  std::thread thread_;
  uint64_t file_seq_ = 0;
};

}  // namespace logbook
