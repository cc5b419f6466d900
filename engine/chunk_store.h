#pragma once
// ChunkStore: content-addressed, deduplicated storage for the values of graph
// checkpoints (LangGraph channel values, checkpoint bodies, pending writes).
//
// A value is cut into chunks by content-defined chunking (a gear rolling
// hash, FastCDC-style), so an edit moves chunk boundaries only near itself: a
// message list that grows by one message per turn costs about one chunk of
// new bytes per turn, not the whole list again. Each chunk is stored once per
// tenant, keyed by its BLAKE2b-256 hash, in the `chunks` column family, and is
// verified against that hash on every read. When a value has many chunks, its
// list of chunk hashes is itself chunked and stored the same way (manifest
// levels), so what an event keeps of a value (a BlobRef) stays small however
// large the value grows, and consecutive versions share most manifest chunks.
// Byte layout: docs/log_format.md "Chunk store".
//
// Chunks carry no reference counts. The graph view (projections/
// graph_checkpoints.h) records which blobs are alive; a sweep marks every
// chunk reachable from them and deletes the rest (MarkReachable + Sweep).
// Chunks of a put still in flight are pinned: written before the put's event
// is appended and kept until the view includes it, they are never swept.
// Chunk writes are not synced on their own: the append that follows syncs
// the (shared) RocksDB WAL, which holds the chunks before the event.
//
// Thread-safety: all methods may be called from any thread.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "log/status.h"
#include "projections/graph_checkpoints.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace logbook {

constexpr uint8_t kChunkFormat = 1;    // first byte of every stored chunk
// Content-defined chunking of values (bytes): the average chunk is about
// kChunkMin + 512. Manifest levels (lists of hashes) use smaller chunks, so
// that a list growing at its end rewrites little of its manifest. Changing
// these changes where boundaries fall (less deduplication against chunks
// written before), never what a read returns.
constexpr size_t kChunkMin = 128;
constexpr size_t kChunkMax = 8192;
// Manifest chunks are cut between hashes only (so each holds whole hashes):
// after a hash whose first byte is a multiple of 8, once the chunk holds at
// least kManifestChunkMinRefs hashes, and always at kManifestChunkMaxRefs.
constexpr size_t kManifestChunkMinRefs = 2;
constexpr size_t kManifestChunkMaxRefs = 128;
// A blob whose top-level hash list has more entries than this gets another
// manifest level.
constexpr size_t kMaxRootRefs = 2;
constexpr uint8_t kMaxBlobLevels = 8;

// Boundaries of content-defined chunks of `data`: the end offset of each
// chunk, ascending, the last one data.size(). Deterministic forever for a
// given build's constants (the gear table is generated from a fixed seed).
std::vector<size_t> ChunkBoundaries(std::string_view data);
// The same for a manifest level: a list of kChunkHashSize-byte hashes.
std::vector<size_t> ManifestChunkBoundaries(std::string_view data);

// BLAKE2b-256 of `data`.
std::string ChunkHash(std::string_view data);

struct ChunkStoreStats {
  uint64_t chunks = 0;
  uint64_t bytes = 0;  // stored chunk bytes (before RocksDB's compression)
};

struct SweepResult {
  uint64_t chunks_kept = 0;
  uint64_t chunks_deleted = 0;
  uint64_t bytes_deleted = 0;
};

class ChunkStore {
 public:
  // `db` and `cf` must outlive the store.
  ChunkStore(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf);

  // Chunk keys pinned by one put; released with Unpin.
  using PinList = std::vector<std::string>;

  // Cuts `data` into chunks, stores the ones the tenant does not have yet and
  // returns the reference. Every chunk key used is appended to *pins (and
  // pinned) whether it was new or not.
  Result<BlobRef> Write(std::string_view tenant, std::string_view type, std::string_view data,
                        PinList* pins);
  // The value of `ref`, every chunk verified against its hash: kCorruption
  // for a chunk that is missing or fails the check.
  Result<std::string> Read(std::string_view tenant, const BlobRef& ref) const;

  void Unpin(const PinList& pins);

  // Adds the key of every chunk reachable from `ref` (data and manifest
  // chunks) to *live. `expanded` remembers manifest chunks already walked.
  Status MarkReachable(std::string_view tenant, const BlobRef& ref,
                       std::unordered_set<std::string>* live,
                       std::unordered_set<std::string>* expanded) const;

  // A sweep: BeginSweep, then compute the live set (from a view that
  // includes every put that unpinned before BeginSweep), then Sweep, which
  // deletes every chunk not live and not pinned at any time since BeginSweep.
  void BeginSweep();
  Result<SweepResult> Sweep(const std::unordered_set<std::string>& live);
  // Ends a sweep that deletes nothing (the live set could not be computed).
  void CancelSweep();

  Result<ChunkStoreStats> Stats() const;

  // The key of a chunk: tenant 0x00 hash.
  static std::string Key(std::string_view tenant, std::string_view hash);

 private:
  Result<std::string> GetChunk(std::string_view tenant, std::string_view hash) const;
  // Stores the chunks of `data`; returns their concatenated hashes.
  Result<std::string> PutChunks(std::string_view tenant, std::string_view data,
                                const std::vector<size_t>& ends, PinList* pins);

  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;

  // Pins. A put pins a key before checking whether the chunk exists; the
  // sweep decides and deletes under the same lock, so a chunk is either
  // deleted before the put looks (and the put writes it again) or not at all.
  std::mutex mu_;
  std::map<std::string, int, std::less<>> pinned_;  // key -> pin count
  bool sweeping_ = false;
  std::unordered_set<std::string> touched_;  // pinned or unpinned during a sweep
};

}  // namespace logbook
