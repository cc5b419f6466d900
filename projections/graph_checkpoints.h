#pragma once
// View "graph": LangGraph checkpoints, channel values and pending writes, by
// tenant and thread. Folds CheckpointSaved, WritesPut, ThreadDeleted and
// CheckpointsPruned (docs/api.md "Graph checkpoints"). Values live in the
// chunk store (engine/chunk_store.h); the view holds their references.
//
// Keys (inside the view). T tenant, th thread id, ns namespace, id checkpoint
// id, ch channel, v version (JSON text); none holds a NUL byte:
//   "c" T 0 th 0 ns 0 Inv(id)        -> CheckpointRec; Inv(id) is every byte b
//                                       as 0xff-b then 0xff, so a forward scan
//                                       yields the newest (largest) id first
//   "b" T 0 th 0 ns 0 ch 0 v         -> ChannelValueRec: a channel value shared
//                                       by the checkpoints whose channel_versions
//                                       name (ch, v), with their count
//   "w" T 0 th 0 ns 0 id 0 task 0 i  -> WriteRec; i = idx as i32 BE, sign bit flipped
//   "t" T 0 th                       -> ThreadRec (activity for the TTL)
// Values are a format byte (1) then varints and length-prefixed strings.
//
// Pruning is reference-safe by construction: a checkpoint holds one count on
// every (ch, v) it reads, and a channel value goes only when its count does.
// Payloads that fail FlatBuffers verification are ignored (not an error), so
// a stray event cannot stop the view.

#include <optional>

#include "projections/projection.h"

namespace logbook {

constexpr size_t kChunkHashSize = 32;  // BLAKE2b-256

// A value in the chunk store, as events and the view keep it.
struct BlobRef {
  std::string type;    // serializer tag, opaque to logbook
  uint64_t size = 0;   // bytes of the value
  uint8_t levels = 0;  // manifest levels above the data chunks
  std::string refs;    // concatenated kChunkHashSize-byte hashes of the top level
};

struct CheckpointRec {
  std::string thread_id;
  std::string checkpoint_ns;
  std::string checkpoint_id;
  std::string parent_id;  // "" for none
  std::string metadata_json;
  BlobRef checkpoint;  // the checkpoint without channel values
  bool has_checkpoint_blob = false;
  std::string checkpoint_json;  // inline body (events appended without the chunk store)
  // (channel, version) this checkpoint holds a count on: first the
  // read_refs entries of its channel_versions, then values it stored under
  // a version it does not read (kept alive with it, never returned).
  std::vector<std::pair<std::string, std::string>> channel_refs;
  uint64_t read_refs = 0;
  uint64_t lsn = 0;
  int64_t saved_at_us = 0;
};

struct ChannelValueRec {
  uint64_t refcount = 0;
  bool has_value = false;  // false: named by a checkpoint, never stored
  BlobRef value;
};

struct WriteRec {
  std::string task_id;
  int32_t idx = 0;
  std::string channel;
  std::string task_path;
  uint64_t seq = 0;  // (LSN << 16) | position: the order writes arrived in
  BlobRef value;
};

struct ThreadRec {
  std::string thread_id;
  int64_t last_write_us = 0;
  uint64_t stream_version = 0;  // of the thread's stream, for guarded deletes
  int64_t ttl_seconds = 0;      // 0: server default; -1: never expires
  uint64_t checkpoints = 0;
};

class GraphCheckpointsProjection : public Projection {
 public:
  static constexpr std::string_view kName = "graph";
  std::string_view name() const override { return kName; }
  uint32_t version() const override { return 1; }
  Status Apply(const Event& e, ViewTxn& txn) override;
  Result<nlohmann::json> Dump(ViewReader& reader) override;

  // Queries. An empty `checkpoint_id` means the thread namespace's latest.
  static Result<std::optional<CheckpointRec>> GetCheckpoint(ViewReader& r, std::string_view tenant,
                                                            std::string_view thread,
                                                            std::string_view ns,
                                                            std::string_view checkpoint_id);
  // Checkpoints of a tenant in key order (thread, namespace, newest id
  // first), optionally of one thread and namespace, from the first key after
  // `after` (a key given to fn earlier; "" to start). fn(key, rec) returns
  // false to stop.
  static Status ScanCheckpoints(
      ViewReader& r, std::string_view tenant, const std::optional<std::string>& thread,
      const std::optional<std::string>& ns, std::string_view after,
      const std::function<bool(std::string_view, const CheckpointRec&)>& fn);
  // Pending writes of a checkpoint, in the order they arrived.
  static Result<std::vector<WriteRec>> GetWrites(ViewReader& r, std::string_view tenant,
                                                 std::string_view thread, std::string_view ns,
                                                 std::string_view checkpoint_id);
  static Result<std::optional<ChannelValueRec>> GetChannelValue(ViewReader& r,
                                                                std::string_view tenant,
                                                                std::string_view thread,
                                                                std::string_view ns,
                                                                std::string_view channel,
                                                                std::string_view version);
  static Result<std::optional<ThreadRec>> GetThread(ViewReader& r, std::string_view tenant,
                                                    std::string_view thread);
  // Every thread of every tenant: fn(tenant, rec) returns false to stop.
  static Status ScanThreads(ViewReader& r,
                            const std::function<bool(std::string_view, const ThreadRec&)>& fn);
  // Every value the view keeps alive (checkpoint bodies, channel values,
  // pending writes): fn(tenant, ref) returns false to stop.
  static Status ScanLiveBlobs(ViewReader& r,
                              const std::function<bool(std::string_view, const BlobRef&)>& fn);

  // True when `s` can be part of a key (no NUL byte).
  static bool KeySafe(std::string_view s);
};

}  // namespace logbook
