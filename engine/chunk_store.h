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
// Sealing. With a key ring (the log's key directory), a tenant's chunks are
// stored sealed under the tenant's data key, so that crypto-shredding the
// tenant (KeyRing::DestroyTenant) also makes its graph state unreadable in
// any copy of the data directory. The key stays the hash of the plaintext,
// so deduplication per tenant is unchanged; the associated data binds a
// sealed chunk to its tenant and hash. A stored value is one of:
//
//   +------+----------------------------------------------------------+
//   | 0x01 | chunk bytes                                  (plaintext) |
//   +------+-------------+--------------------------------------------+
//   | 0x02 | key_id u32 LE | nonce (24) || ciphertext || tag (16)     |
//   +------+-------------+--------------------------------------------+
//
//   associated data of 0x02: "logbook/chunk/v1" 0x00 tenant 0x00 hash (32)
//
// Reads accept both. A put treats a chunk as present only when it is stored
// the way the put would store it (plaintext without a key ring, sealed under
// the tenant's current key with one), decided from the first five bytes
// without decrypting; otherwise it writes the chunk again, which seals
// chunks written in plaintext before and re-seals chunks of a destroyed key.
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

#include "log/keyring.h"
#include "log/status.h"
#include "projections/graph_checkpoints.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace logbook {

// First byte of every stored chunk (the layouts above).
enum class ChunkFormat : uint8_t {
  kPlain = 1,   // the chunk's bytes
  kSealed = 2,  // key_id u32 LE, then KeyRing::Seal output
};
constexpr size_t kSealedChunkHeader = 1 + 4;  // format byte, key_id
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
  uint64_t bytes = 0;  // stored bytes after the format byte (before RocksDB's
                       // compression); a sealed chunk adds 44 bytes to its own
};

struct SweepResult {
  uint64_t chunks_kept = 0;
  uint64_t chunks_deleted = 0;
  uint64_t bytes_deleted = 0;
};

class ChunkStore {
 public:
  // `db` and `cf` must outlive the store; so must `keyring` when not null
  // (null: chunks are stored in plaintext and sealed ones cannot be read).
  ChunkStore(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, KeyRing* keyring = nullptr);

  // Chunk keys pinned by one put; released with Unpin.
  using PinList = std::vector<std::string>;

  // Cuts `data` into chunks, stores the ones the tenant does not have yet and
  // returns the reference. Every chunk key used is appended to *pins (and
  // pinned) whether it was new or not.
  Result<BlobRef> Write(std::string_view tenant, std::string_view type, std::string_view data,
                        PinList* pins);
  // The value of `ref`, every chunk verified against its hash: kCorruption
  // for a chunk that is missing, fails the check or (sealed) does not
  // authenticate; kNotFound for a sealed chunk whose data key was destroyed
  // or is not in the key directory (the message says which).
  Result<std::string> Read(std::string_view tenant, const BlobRef& ref) const;

  void Unpin(const PinList& pins);

  // Adds the key of every chunk reachable from `ref` (data and manifest
  // chunks) to *live. `expanded` remembers manifest chunks already walked.
  // A manifest chunk sealed under a destroyed data key is marked but not
  // walked: what it lists was sealed under that key too (a put re-seals
  // every chunk it uses under the current key), so it is unreadable and
  // left to the sweep. A key merely absent from the key directory fails.
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
  // One chunk, opened and verified. For a sealed chunk, *key_id (if given)
  // is set to its data key before anything can fail.
  Result<std::string> GetChunk(std::string_view tenant, std::string_view hash,
                               uint32_t* key_id = nullptr) const;
  // Stores the chunks of `data` (sealed under `key` when it holds one);
  // returns their concatenated hashes.
  Result<std::string> PutChunks(std::string_view tenant, std::string_view data,
                                const std::vector<size_t>& ends, const KeyRing::SealKey& key,
                                PinList* pins);

  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  KeyRing* keyring_;  // null: no sealing

  // Pins. A put pins a key before checking whether the chunk exists; the
  // sweep decides and deletes under the same lock, so a chunk is either
  // deleted before the put looks (and the put writes it again) or not at all.
  std::mutex mu_;
  std::map<std::string, int, std::less<>> pinned_;  // key -> pin count
  bool sweeping_ = false;
  std::unordered_set<std::string> touched_;  // pinned or unpinned during a sweep
};

}  // namespace logbook
