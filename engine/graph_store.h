#pragma once
// GraphStore: LangGraph checkpoints on the log (the server side of the
// checkpointer in clients/langgraph-js; docs/api.md "Graph checkpoints").
//
// put, putWrites, deleteThread and pruning append events (CheckpointSaved,
// WritesPut, ThreadDeleted, CheckpointsPruned) to the stream
// graph/<tenant>/<thread>; the view "graph" (projections/graph_checkpoints.h)
// answers getTuple and list. Values go to the deduplicated chunk store
// (engine/chunk_store.h) before the event that references them, and the
// event is acknowledged only once durable and folded into the view, so a
// getTuple after a put sees it (read-your-writes).
//
// A sweeper thread expires threads past their TTL, prunes namespaces to the
// latest N checkpoints and deletes chunks no live value reaches. Deletions
// are events guarded by the thread stream's version: a thread written to
// since the sweeper looked is left alone.
//
// Thread-safety: all methods may be called from any thread.

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/chunk_store.h"
#include "engine/engine.h"

namespace logbook {

struct GraphOptions {
  // Default thread TTL in seconds (0: threads never expire); a put may set
  // its thread's own TTL.
  int64_t ttl_seconds = 0;
  // Reads (getTuple, list of one thread) count as activity for the TTL.
  bool refresh_ttl_on_read = false;
  // Keep at most this many checkpoints per thread namespace (0: keep all).
  uint32_t keep_latest = 0;
  std::chrono::milliseconds sweep_interval{60000};
  // How long a write waits for the view to include it.
  std::chrono::milliseconds view_timeout{10000};
};

struct GraphValue {
  std::string type;  // serializer tag
  std::string data;  // raw bytes
};

struct GraphPut {
  std::string thread_id;
  std::string checkpoint_ns;
  std::string checkpoint_id;
  std::string parent_id;
  GraphValue checkpoint;  // without channel values
  std::string metadata_json;  // a JSON object
  std::vector<std::pair<std::string, std::string>> channel_versions;  // channel, version JSON
  std::string new_versions_json;
  struct Value {
    std::string channel;
    std::string version;  // JSON text
    GraphValue value;
  };
  std::vector<Value> values;
  int64_t ttl_seconds = 0;
};

struct GraphPutWrites {
  std::string thread_id;
  std::string checkpoint_ns;
  std::string checkpoint_id;
  std::string task_id;
  std::string task_path;
  struct Write {
    std::string channel;
    int32_t idx = 0;
    GraphValue value;
  };
  std::vector<Write> writes;
};

struct GraphTuple {
  std::string thread_id;
  std::string checkpoint_ns;
  std::string checkpoint_id;
  std::string parent_id;
  GraphValue checkpoint;
  std::string metadata_json;
  std::vector<std::pair<std::string, std::string>> channel_versions;  // channel, version JSON
  std::vector<std::pair<std::string, GraphValue>> channel_values;
  struct Write {
    std::string task_id;
    std::string channel;
    std::string task_path;
    int32_t idx = 0;
    GraphValue value;
  };
  std::vector<Write> pending_writes;
};

struct GraphListQuery {
  std::optional<std::string> thread_id;
  std::optional<std::string> checkpoint_ns;
  std::string before;  // checkpoint ids < before only ("" = no bound)
  size_t limit = 100;
  nlohmann::json filter;  // object of metadata key -> value, or null
  std::string cursor;     // from a previous page
  size_t max_bytes = 8 << 20;  // stop a page after about this many value bytes
};

struct GraphListPage {
  std::vector<GraphTuple> tuples;
  std::string next_cursor;  // "" when the scan ended
};

struct GraphSweepReport {
  uint64_t threads_expired = 0;
  uint64_t checkpoints_pruned = 0;
  bool chunks_swept = false;
  SweepResult chunks;
};

class GraphStore {
 public:
  // `engine` must be writable and outlive the store.
  GraphStore(Engine& engine, GraphOptions options);
  ~GraphStore();  // stops the sweeper
  GraphStore(const GraphStore&) = delete;
  GraphStore& operator=(const GraphStore&) = delete;

  // Starts the sweeper thread (every options.sweep_interval).
  void Start();
  void Stop();

  // Each returns the LSN of its event once durable and in the view.
  Result<uint64_t> Put(const std::string& tenant, const Actor& actor, const GraphPut& put);
  Result<uint64_t> PutWrites(const std::string& tenant, const Actor& actor,
                             const GraphPutWrites& w);
  // An empty checkpoint_id: the namespace's latest checkpoint.
  Result<std::optional<GraphTuple>> GetTuple(const std::string& tenant, const std::string& thread,
                                             const std::string& ns,
                                             const std::string& checkpoint_id);
  Result<GraphListPage> List(const std::string& tenant, const GraphListQuery& q);
  // False when the thread had nothing to delete.
  Result<bool> DeleteThread(const std::string& tenant, const Actor& actor,
                            const std::string& thread);
  // Removes all but the newest `keep_latest` (>= 1) checkpoints of each
  // namespace of the thread (or of `ns` only). Returns how many went.
  // kConflict when the thread was written to meanwhile.
  Result<uint64_t> Prune(const std::string& tenant, const Actor& actor, const std::string& thread,
                         const std::optional<std::string>& ns, uint32_t keep_latest,
                         const std::string& reason = "api");
  // One sweep now: TTL, keep_latest, then chunks.
  Result<GraphSweepReport> SweepNow();
  // Threads, checkpoints, values and chunk store figures.
  Result<nlohmann::json> Stats();

  const GraphOptions& options() const { return options_; }
  ChunkStore& chunks() { return chunks_; }

  // The stream of a tenant's thread: graph/<tenant>/<thread>, the thread id
  // as is when it fits a stream name, else "$" and its BLAKE2b-128 in hex.
  static std::string ThreadStream(const std::string& tenant, const std::string& thread);

 private:
  Result<uint64_t> AppendAndWait(const std::string& stream, const std::string& tenant,
                                 const Actor& actor, ExpectedVersion expected, uint16_t type,
                                 std::string payload, ChunkStore::PinList* pins);
  Result<GraphTuple> BuildTuple(const std::string& tenant, const CheckpointRec& rec);
  Result<bool> DeleteThreadGuarded(const std::string& tenant, const Actor& actor,
                                   const std::string& thread, std::optional<uint64_t> version,
                                   const std::string& reason);
  Result<GraphSweepReport> Sweep(bool force_chunks);
  Status SweepChunks(SweepResult* out);
  void Touch(const std::string& tenant, const std::string& thread);
  void Loop();

  Engine& engine_;
  const GraphOptions options_;
  ChunkStore chunks_;

  std::mutex sweep_mu_;  // one sweep at a time

  std::mutex mu_;  // guards the members below
  // Pins of writes whose event is durable but was not yet seen in the view
  // when the write returned: released by a sweep once the view passes lsn.
  std::vector<std::pair<uint64_t, ChunkStore::PinList>> deferred_pins_;
  bool dirty_ = true;  // chunks may be garbage (a delete, a failed put, a restart)
  std::map<std::pair<std::string, std::string>, int64_t> touched_;  // reads, for the TTL
  bool stop_ = false;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace logbook
