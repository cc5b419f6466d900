// The LangGraph checkpoint store: chunking and deduplication, the graph view,
// pruning that keeps kept checkpoints readable, TTL, the chunk sweep,
// corruption on read and restarts.

#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <random>
#include <thread>

#include "engine/chunk_store.h"
#include "engine/graph_store.h"
#include "log/event_types.h"
#include "projections/graph_checkpoints.h"
#include "projections/view_store.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;

namespace {

const Actor kActor{"tester", Role::kOperator};

// With `keys`, a key directory: chunks are sealed (engine/chunk_store.h).
std::unique_ptr<Engine> Open(const std::string& dir, const std::string& keys = "") {
  EngineOptions o;
  o.data_dir = dir;
  o.key_dir = keys;
  o.create_keys = !keys.empty();
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  REQUIRE_MESSAGE(e.ok(), e.status().ToString());
  return std::move(e).value();
}

// Deterministic text that does not compress to nothing.
std::string Words(std::mt19937& rng, size_t bytes) {
  static const char* kWords[] = {"agent",  "tool",    "call",  "result", "user",   "asks",
                                 "about",  "order",   "42",    "status", "refund", "the",
                                 "policy", "says",    "that",  "within", "days",   "of",
                                 "sale",   "checked", "ledger", "okay",  "thanks", "more"};
  std::string s;
  while (s.size() < bytes) {
    s += kWords[rng() % (sizeof(kWords) / sizeof(kWords[0]))];
    s.push_back(' ');
  }
  s.resize(bytes);
  return s;
}

// A JSON message list of n messages, like LangGraph's messages channel.
std::string Messages(size_t n) {
  std::mt19937 rng(7);
  std::string s = "[";
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) s.push_back(',');
    s += "{\"type\":\"ai\",\"id\":\"m" + std::to_string(i) + "\",\"content\":\"" + Words(rng, 500) +
         "\"}";
  }
  return s + "]";
}

GraphPut MakePut(const std::string& thread, const std::string& id, const std::string& parent,
                 std::vector<std::pair<std::string, std::string>> versions,
                 std::vector<GraphPut::Value> values, const std::string& ns = "") {
  GraphPut p;
  p.thread_id = thread;
  p.checkpoint_ns = ns;
  p.checkpoint_id = id;
  p.parent_id = parent;
  p.checkpoint = {"json", "{\"v\":4,\"id\":\"" + id + "\"}"};
  p.metadata_json = "{\"source\":\"loop\",\"step\":1}";
  p.channel_versions = std::move(versions);
  p.values = std::move(values);
  return p;
}

std::string ValueOf(const GraphTuple& t, const std::string& channel) {
  for (const auto& [ch, v] : t.channel_values) {
    if (ch == channel) return v.data;
  }
  return "<absent>";
}

uint64_t ChunkCount(GraphStore& g) { return g.chunks().Stats().value().chunks; }

}  // namespace

TEST_SUITE("engine/graph_store") {
  TEST_CASE("ChunkBoundariesAreDeterministicAndBounded") {
    const std::string data = Messages(40);
    const std::vector<size_t> a = ChunkBoundaries(data);
    CHECK(a == ChunkBoundaries(data));
    REQUIRE(!a.empty());
    CHECK(a.back() == data.size());
    size_t start = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      const size_t len = a[i] - start;
      CHECK(len <= kChunkMax);
      if (i + 1 < a.size()) CHECK(len >= kChunkMin);
      start = a[i];
    }
    // Manifest chunks hold whole hashes.
    std::string hashes;
    for (int i = 0; i < 300; ++i) hashes += ChunkHash(std::to_string(i));
    const std::vector<size_t> m = ManifestChunkBoundaries(hashes);
    REQUIRE(!m.empty());
    CHECK(m.back() == hashes.size());
    for (size_t end : m) CHECK(end % kChunkHashSize == 0);
    CHECK(ChunkBoundaries("").empty());
    CHECK(ChunkBoundaries("x") == std::vector<size_t>{1});
  }

  TEST_CASE("AGrowingMessageListCostsAboutOneMessagePerTurn") {
    TempDir dir;
    std::string keys;
    SUBCASE("plaintext chunks") {}
    SUBCASE("sealed chunks") { keys = dir.Sub("keys"); }
    auto engine = Open(dir.Sub("data"), keys);
    CHECK((engine->keyring() != nullptr) == !keys.empty());
    GraphStore g(*engine, {});
    std::string parent;
    uint64_t logical = 0;
    constexpr int kTurns = 60;
    for (int turn = 1; turn <= kTurns; ++turn) {
      const std::string id = "ck" + std::to_string(1000 + turn);
      const std::string v = std::to_string(turn);
      const std::string messages = Messages(turn);
      logical += messages.size();
      GraphPut p = MakePut("t", id, parent, {{"messages", v}}, {{"messages", v, {"json", messages}}});
      REQUIRE(g.Put("acme", kActor, p).ok());
      parent = id;
    }
    const ChunkStoreStats s = g.chunks().Stats().value();
    // The thread's values add up to ~0.9 MB; stored once they take a small
    // multiple of the last list (about one chunk of new bytes per turn).
    MESSAGE("logical bytes " << logical << ", stored chunk bytes " << s.bytes);
    CHECK(s.bytes < logical / 8);
    // A sweep walks every manifest level and keeps all of it.
    Result<GraphSweepReport> r = g.SweepNow();
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r->chunks.chunks_deleted == 0);
    // Every turn still reads back exactly.
    auto t = g.GetTuple("acme", "t", "", "ck1030").value();
    REQUIRE(t.has_value());
    CHECK(ValueOf(*t, "messages") == Messages(30));
    t = g.GetTuple("acme", "t", "", "").value();
    REQUIRE(t.has_value());
    CHECK(t->checkpoint_id == "ck1060");
    CHECK(ValueOf(*t, "messages") == Messages(60));
  }

  TEST_CASE("LatestListBeforeLimitAndFilter") {
    TempDir dir;
    auto engine = Open(dir.Sub("data"));
    GraphStore g(*engine, {});
    for (const char* id : {"a1", "a3", "a2"}) {
      GraphPut p = MakePut("t1", id, "", {}, {});
      if (std::string(id) == "a2") p.metadata_json = R"({"source":"input","step":-1})";
      REQUIRE(g.Put("acme", kActor, p).ok());
    }
    REQUIRE(g.Put("acme", kActor, MakePut("t1", "z9", "", {}, {}, "child")).ok());
    REQUIRE(g.Put("acme", kActor, MakePut("t2", "b1", "", {}, {})).ok());

    auto latest = g.GetTuple("acme", "t1", "", "").value();
    REQUIRE(latest.has_value());
    CHECK(latest->checkpoint_id == "a3");  // the largest id, not the last put

    auto ids = [&](GraphListQuery q) {
      std::vector<std::string> out;
      GraphListPage page = g.List("acme", q).value();
      for (const auto& t : page.tuples) out.push_back(t.checkpoint_id);
      return out;
    };
    GraphListQuery q;
    q.thread_id = "t1";
    q.checkpoint_ns = "";
    CHECK(ids(q) == std::vector<std::string>{"a3", "a2", "a1"});
    q.before = "a3";
    CHECK(ids(q) == std::vector<std::string>{"a2", "a1"});
    q.before = "";
    q.limit = 2;
    CHECK(ids(q) == std::vector<std::string>{"a3", "a2"});
    q.limit = 100;
    q.filter = nlohmann::json{{"source", "input"}};
    CHECK(ids(q) == std::vector<std::string>{"a2"});
    q.filter = nullptr;
    q.checkpoint_ns.reset();
    CHECK(ids(q).size() == 4);  // every namespace of t1
    GraphListQuery all;
    CHECK(ids(all).size() == 5);  // every thread of the tenant
    all.checkpoint_ns = "child";
    CHECK(ids(all) == std::vector<std::string>{"z9"});
    // Paging: a cursor continues where the page stopped.
    GraphListQuery paged;
    paged.limit = 2;
    std::vector<std::string> seen;
    for (int i = 0; i < 10; ++i) {
      GraphListPage page = g.List("acme", paged).value();
      for (const auto& t : page.tuples) seen.push_back(t.checkpoint_id);
      if (page.next_cursor.empty()) break;
      paged.cursor = page.next_cursor;
    }
    CHECK(seen.size() == 5);
    // Another tenant sees none of it.
    CHECK(!g.GetTuple("globex", "t1", "", "").value().has_value());
    CHECK(g.List("globex", GraphListQuery{}).value().tuples.empty());
  }

  TEST_CASE("ChannelsCarriedOverFromAnAncestorAreReconstructed") {
    TempDir dir;
    auto engine = Open(dir.Sub("data"));
    GraphStore g(*engine, {});
    REQUIRE(g.Put("acme", kActor,
                  MakePut("t", "c1", "", {{"messages", "1"}, {"step", "1"}},
                          {{"messages", "1", {"json", "[\"hi\"]"}}, {"step", "1", {"json", "1"}}}))
                .ok());
    REQUIRE(g.Put("acme", kActor,
                  MakePut("t", "c2", "c1", {{"messages", "1"}, {"step", "2"}},
                          {{"step", "2", {"json", "3"}}}))
                .ok());
    auto t = g.GetTuple("acme", "t", "", "c2").value();
    REQUIRE(t.has_value());
    CHECK(ValueOf(*t, "messages") == "[\"hi\"]");
    CHECK(ValueOf(*t, "step") == "3");
    CHECK(t->parent_id == "c1");
    // A version named but never stored is simply absent.
    REQUIRE(g.Put("acme", kActor, MakePut("t", "c3", "c2", {{"other", "7"}}, {})).ok());
    t = g.GetTuple("acme", "t", "", "c3").value();
    REQUIRE(t.has_value());
    CHECK(t->channel_values.empty());
  }

  TEST_CASE("PendingWritesKeepTheFirstRegularWriteAndReplaceSpecialOnes") {
    TempDir dir;
    auto engine = Open(dir.Sub("data"));
    GraphStore g(*engine, {});
    REQUIRE(g.Put("acme", kActor, MakePut("t", "c1", "", {}, {})).ok());
    GraphPutWrites w;
    w.thread_id = "t";
    w.checkpoint_id = "c1";
    w.task_id = "task-b";
    w.writes = {{"x", 0, {"json", "\"first\""}}, {"__error__", -1, {"json", "\"e1\""}}};
    REQUIRE(g.PutWrites("acme", kActor, w).ok());
    w.writes = {{"x", 0, {"json", "\"retried\""}}, {"__error__", -1, {"json", "\"e2\""}}};
    REQUIRE(g.PutWrites("acme", kActor, w).ok());
    w.task_id = "task-a";
    w.writes = {{"y", 0, {"json", "1"}}};
    REQUIRE(g.PutWrites("acme", kActor, w).ok());
    auto t = g.GetTuple("acme", "t", "", "c1").value();
    REQUIRE(t.has_value());
    REQUIRE(t->pending_writes.size() == 3);
    std::map<std::string, std::string> by;
    for (const auto& pw : t->pending_writes) by[pw.task_id + "/" + pw.channel] = pw.value.data;
    CHECK(by["task-b/x"] == "\"first\"");
    CHECK(by["task-b/__error__"] == "\"e2\"");
    CHECK(by["task-a/y"] == "1");
  }

  TEST_CASE("PruningKeepsEveryKeptCheckpointReadableAndReclaimsTheRest") {
    TempDir dir;
    auto engine = Open(dir.Sub("data"));
    GraphStore g(*engine, {});
    // "system" is written once by the first checkpoint and read by all;
    // "messages" changes every time.
    std::mt19937 rng(3);
    const std::string system = Words(rng, 20000);
    std::string parent;
    for (int i = 1; i <= 6; ++i) {
      const std::string id = "c" + std::to_string(i);
      std::vector<GraphPut::Value> values = {
          {"messages", std::to_string(i), {"json", Words(rng, 9000)}}};
      if (i == 1) values.push_back({"system", "1", {"json", system}});
      GraphPut p = MakePut("t", id, parent, {{"system", "1"}, {"messages", std::to_string(i)}},
                           values);
      REQUIRE(g.Put("acme", kActor, p).ok());
      GraphPutWrites w;
      w.thread_id = "t";
      w.checkpoint_id = id;
      w.task_id = "task";
      w.writes = {{"messages", 0, {"json", Words(rng, 3000)}}};
      REQUIRE(g.PutWrites("acme", kActor, w).ok());
      parent = id;
    }
    REQUIRE(g.SweepNow().ok());
    const uint64_t before = ChunkCount(g);
    Result<uint64_t> pruned = g.Prune("acme", kActor, "t", std::nullopt, 2);
    REQUIRE_MESSAGE(pruned.ok(), pruned.status().ToString());
    CHECK(*pruned == 4);
    Result<GraphSweepReport> r = g.SweepNow();
    REQUIRE(r.ok());
    CHECK(r->chunks.chunks_deleted > 0);
    CHECK(ChunkCount(g) < before);
    // The kept ones read whole, including the value their pruned ancestor wrote.
    for (const char* id : {"c5", "c6"}) {
      auto t = g.GetTuple("acme", "t", "", id);
      REQUIRE_MESSAGE(t.ok(), t.status().ToString());
      REQUIRE(t->has_value());
      CHECK(ValueOf(**t, "system") == system);
      CHECK(ValueOf(**t, "messages").size() == 9000);
      CHECK((*t)->pending_writes.size() == 1);
    }
    for (const char* id : {"c1", "c4"}) CHECK(!g.GetTuple("acme", "t", "", id).value().has_value());
    GraphListQuery q;
    q.thread_id = "t";
    CHECK(g.List("acme", q).value().tuples.size() == 2);
    // Rebuilding the view from the log gives the same answers.
    REQUIRE(engine->projector().Reset(GraphCheckpointsProjection::kName).ok());
    REQUIRE(engine->WaitForViews(engine->log().LastLsn(), std::chrono::seconds(10)).ok());
    auto t = g.GetTuple("acme", "t", "", "").value();
    REQUIRE(t.has_value());
    CHECK(t->checkpoint_id == "c6");
    CHECK(ValueOf(*t, "system") == system);
    CHECK(g.List("acme", q).value().tuples.size() == 2);
    // ... and a sweep after the rebuild deletes nothing the kept ones need.
    REQUIRE(g.SweepNow().ok());
    CHECK(ValueOf(*g.GetTuple("acme", "t", "", "c5").value(), "system") == system);
  }

  TEST_CASE("KeepLatestSweepPrunesEveryNamespace") {
    TempDir dir;
    auto engine = Open(dir.Sub("data"));
    GraphOptions o;
    o.keep_latest = 3;
    GraphStore g(*engine, o);
    for (int i = 0; i < 5; ++i) {
      REQUIRE(g.Put("acme", kActor, MakePut("t", "r" + std::to_string(i), "", {}, {})).ok());
      REQUIRE(g.Put("acme", kActor, MakePut("t", "s" + std::to_string(i), "", {}, {}, "sub")).ok());
    }
    Result<GraphSweepReport> r = g.SweepNow();
    REQUIRE(r.ok());
    CHECK(r->checkpoints_pruned == 4);
    GraphListQuery q;
    q.thread_id = "t";
    std::vector<std::string> ids;
    GraphListPage page = g.List("acme", q).value();
    for (const auto& t : page.tuples) ids.push_back(t.checkpoint_id);
    CHECK(ids == std::vector<std::string>{"r4", "r3", "r2", "s4", "s3", "s2"});
  }

  TEST_CASE("DeleteThreadRemovesEverythingAndTheSweepReclaimsItsChunks") {
    TempDir dir;
    auto engine = Open(dir.Sub("data"));
    GraphStore g(*engine, {});
    REQUIRE(g.Put("acme", kActor,
                  MakePut("t", "c1", "", {{"m", "1"}}, {{"m", "1", {"json", Messages(5)}}}))
                .ok());
    REQUIRE(g.Put("acme", kActor,
                  MakePut("keep", "c1", "", {{"m", "1"}}, {{"m", "1", {"json", "[1,2,3]"}}}))
                .ok());
    CHECK(g.DeleteThread("acme", kActor, "t").value() == true);
    CHECK(g.DeleteThread("acme", kActor, "t").value() == false);  // nothing left
    CHECK(!g.GetTuple("acme", "t", "", "").value().has_value());
    Result<GraphSweepReport> r = g.SweepNow();
    REQUIRE(r.ok());
    CHECK(r->chunks.chunks_deleted > 0);
    auto keep = g.GetTuple("acme", "keep", "", "").value();
    REQUIRE(keep.has_value());
    CHECK(ValueOf(*keep, "m") == "[1,2,3]");
    // The same thread id can start over.
    REQUIRE(g.Put("acme", kActor, MakePut("t", "c9", "", {}, {})).ok());
    CHECK(g.GetTuple("acme", "t", "", "").value()->checkpoint_id == "c9");
  }

  TEST_CASE("ThreadsPastTheirTtlExpireAndLiveOnesStay") {
    TempDir dir;
    auto engine = Open(dir.Sub("data"));
    GraphOptions o;
    o.ttl_seconds = 1;
    GraphStore g(*engine, o);
    REQUIRE(g.Put("acme", kActor, MakePut("old", "c1", "", {}, {})).ok());
    GraphPut forever = MakePut("forever", "c1", "", {}, {});
    forever.ttl_seconds = -1;
    REQUIRE(g.Put("acme", kActor, forever).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    REQUIRE(g.Put("acme", kActor, MakePut("fresh", "c1", "", {}, {})).ok());
    Result<GraphSweepReport> r = g.SweepNow();
    REQUIRE(r.ok());
    CHECK(r->threads_expired == 1);
    CHECK(!g.GetTuple("acme", "old", "", "").value().has_value());
    CHECK(g.GetTuple("acme", "fresh", "", "").value().has_value());
    CHECK(g.GetTuple("acme", "forever", "", "").value().has_value());
    // The expiry is an audited event on the thread's stream.
    Result<std::vector<Event>> events =
        engine->log().ReadStream(GraphStore::ThreadStream("acme", "old"), 1, 10);
    REQUIRE(events.ok());
    REQUIRE(events->size() == 2);
    CHECK(EventTypeName(events->back().type) == "ThreadDeleted");
  }

  TEST_CASE("AFlippedChunkByteIsCorruptionNeverWrongData") {
    TempDir dir;
    auto engine = Open(dir.Sub("data"));
    GraphStore g(*engine, {});
    REQUIRE(g.Put("acme", kActor,
                  MakePut("t", "c1", "", {{"m", "1"}}, {{"m", "1", {"json", Messages(3)}}}))
                .ok());
    // Flip one byte of every stored chunk value.
    rocksdb::DB* db = engine->log().db();
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions(), engine->log().chunks_cf()));
    std::vector<std::pair<std::string, std::string>> edits;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      std::string v = it->value().ToString();
      v[v.size() / 2] ^= 0x20;
      edits.emplace_back(it->key().ToString(), v);
    }
    REQUIRE(!edits.empty());
    for (const auto& [k, v] : edits) {
      REQUIRE(db->Put(rocksdb::WriteOptions(), engine->log().chunks_cf(), k, v).ok());
    }
    Result<std::optional<GraphTuple>> t = g.GetTuple("acme", "t", "", "c1");
    REQUIRE(!t.ok());
    CHECK(t.status().IsCorruption());
    CHECK(t.status().message().find("BLAKE2b") != std::string::npos);
  }

  TEST_CASE("OrphanChunksAreSweptAndPinnedOnesAreNot") {
    TempDir dir;
    auto engine = Open(dir.Sub("data"));
    GraphStore g(*engine, {});
    // Chunks written for a put whose append never happened (a crash between).
    ChunkStore::PinList orphan;
    REQUIRE(g.chunks().Write("acme", "json", Messages(4), &orphan).ok());
    g.chunks().Unpin(orphan);
    // Chunks of a put still in flight: pinned.
    ChunkStore::PinList inflight;
    REQUIRE(g.chunks().Write("acme", "json", "in flight value", &inflight).ok());
    const uint64_t before = ChunkCount(g);
    REQUIRE(before > 1);
    Result<GraphSweepReport> r = g.SweepNow();
    REQUIRE(r.ok());
    CHECK(ChunkCount(g) == 1);  // only the pinned chunk is left
    g.chunks().Unpin(inflight);
    REQUIRE(g.SweepNow().ok());
    CHECK(ChunkCount(g) == 0);
  }

  TEST_CASE("EverythingSurvivesARestart") {
    TempDir dir;
    {
      auto engine = Open(dir.Sub("data"));
      GraphStore g(*engine, {});
      REQUIRE(g.Put("acme", kActor,
                    MakePut("t", "c1", "", {{"m", "1"}}, {{"m", "1", {"json", Messages(8)}}}))
                  .ok());
      GraphPutWrites w;
      w.thread_id = "t";
      w.checkpoint_id = "c1";
      w.task_id = "task";
      w.writes = {{"m", 0, {"json", "\"w\""}}};
      REQUIRE(g.PutWrites("acme", kActor, w).ok());
    }
    auto engine = Open(dir.Sub("data"));
    GraphStore g(*engine, {});
    REQUIRE(g.SweepNow().ok());  // a restart sweeps: nothing live may go
    auto t = g.GetTuple("acme", "t", "", "").value();
    REQUIRE(t.has_value());
    CHECK(ValueOf(*t, "m") == Messages(8));
    REQUIRE(t->pending_writes.size() == 1);
    CHECK(t->pending_writes[0].value.data == "\"w\"");
  }

  TEST_CASE("BadIdsAreRefusedAndOddThreadIdsGetAHashedStream") {
    TempDir dir;
    auto engine = Open(dir.Sub("data"));
    GraphStore g(*engine, {});
    GraphPut p = MakePut(std::string("a\0b", 3), "c1", "", {}, {});
    CHECK(g.Put("acme", kActor, p).status().IsInvalidArgument());
    p = MakePut("", "c1", "", {}, {});
    CHECK(g.Put("acme", kActor, p).status().IsInvalidArgument());
    p = MakePut("a thread with spaces / ünïcode", "c1", "", {}, {});
    REQUIRE(g.Put("acme", kActor, p).ok());
    CHECK(GraphStore::ThreadStream("acme", p.thread_id).rfind("graph/acme/$", 0) == 0);
    CHECK(GraphStore::ThreadStream("acme", "plain-id_1") == "graph/acme/plain-id_1");
    CHECK(g.GetTuple("acme", p.thread_id, "", "").value().has_value());
  }
}
