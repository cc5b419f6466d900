// Sessions: turns through the write-ahead log, reconciliation, expiry,
// snapshots and the recap, on a real engine in a temp directory.

#include "projections/sessions.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "engine/engine.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;

namespace {

const Actor kOp{"tester", Role::kOperator};

struct Env {
  TempDir dir;
  std::shared_ptr<std::atomic<int64_t>> now =
      std::make_shared<std::atomic<int64_t>>(int64_t{1'800'000'000} * 1000000);
  std::unique_ptr<Engine> engine;

  explicit Env(std::function<void(SessionOptions&)> tweak = {}) { Open(tweak); }

  EngineOptions Options(const std::function<void(SessionOptions&)>& tweak) {
    EngineOptions o;
    o.data_dir = dir.Sub("data");
    o.run_projector_thread = false;
    auto clock = now;
    o.sessions.clock = [clock] { return clock->load(); };
    if (tweak) tweak(o.sessions);
    return o;
  }
  void Open(const std::function<void(SessionOptions&)>& tweak = {}) {
    engine.reset();
    Result<std::unique_ptr<Engine>> e = Engine::Open(Options(tweak));
    REQUIRE_MESSAGE(e.ok(), e.status().ToString());
    engine = std::move(e).value();
  }
  Sessions& s() { return engine->sessions(); }

  void StartSession(const std::string& sid, std::optional<int64_t> ttl_us = std::nullopt) {
    StartSessionInput in;
    in.session_id = sid;
    in.user = "u-1";
    in.channel = "web";
    in.kind = "awf";
    in.ttl_us = ttl_us;
    Result<json> h = s().Start("acme", kOp, in);
    REQUIRE_MESSAGE(h.ok(), h.status().ToString());
  }
  TurnOutcome Turn(const std::string& sid, const std::string& turn, const std::string& acts,
                   const std::string& awf = "") {
    Result<TurnOutcome> o = s().SubmitTurn(kOp, {sid, turn, awf, acts});
    REQUIRE_MESSAGE(o.ok(), o.status().ToString());
    return *o;
  }
  void Append(const std::string& sid, const std::string& type, const json& payload) {
    Result<AppendResult> r = engine->AppendJson(
        "session/" + sid, "acme", kOp, ExpectedVersion::Any(), {{type, "", payload.dump()}});
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    REQUIRE(s().SyncViews(r->last_lsn).ok());
  }
  json State(const std::string& sid) { return s().View(sid).value()["state"]; }
};

}  // namespace

TEST_CASE("TurnAppliesItsActsToTheStateThroughTheWal") {
  Env env;
  env.StartSession("s1");
  TurnOutcome o = env.Turn("s1", "t1", R"([{"op":"add","path":"/hp","value":10}])",
                           R"({"txt":"The hero wakes up."})");
  CHECK(o.status == "applied");
  CHECK_FALSE(o.reconciled);
  CHECK(o.pre_state_hash == Blake2b256Hex("{}"));
  CHECK(o.post_state_hash == Blake2b256Hex(R"({"hp":10})"));
  CHECK(env.State("s1") == json{{"hp", 10}});

  json wal = env.s().ListWal("s1").value();
  REQUIRE(wal["entries"].size() == 1);
  CHECK(wal["entries"][0]["status"] == "applied");
  CHECK(wal["pending"] == 0);
  json view = env.s().View("s1").value();
  REQUIRE(view["turns"].size() == 1);
  CHECK(view["turns"][0]["turn_id"] == "t1");
  CHECK(view["header"]["last_turn_id"] == "t1");
}

TEST_CASE("TurnWhoseActsDoNotApplyIsRolledBackWithTheReason") {
  Env env;
  env.StartSession("s1");
  env.Turn("s1", "t1", R"([{"op":"add","path":"/hp","value":10}])");
  TurnOutcome o = env.Turn(
      "s1", "t2",
      R"([{"op":"test","path":"/hp","value":99},{"op":"replace","path":"/hp","value":0}])");
  CHECK(o.status == "rolled_back");
  CHECK(o.reason.find("acts do not apply") != std::string::npos);
  CHECK(env.State("s1") == json{{"hp", 10}});
  CHECK(env.s().View("s1").value()["turns"].size() == 1);
}

TEST_CASE("TurnInputIsCheckedBeforeAnythingIsWritten") {
  Env env;
  env.StartSession("s1");
  const uint64_t before = env.engine->log().LastLsn();
  CHECK(env.s().SubmitTurn(kOp, {"s1", "t1", "", "{}"}).status().IsInvalidArgument());
  CHECK(env.s().SubmitTurn(kOp, {"s1", "t1", "", "[1]"}).status().IsInvalidArgument());
  CHECK(env.s().SubmitTurn(kOp, {"s1", "t1", "{bad", "[]"}).status().IsInvalidArgument());
  CHECK(env.s().SubmitTurn(kOp, {"nope", "t1", "", "[]"}).status().IsNotFound());
  CHECK(env.s().SubmitTurn(kOp, {"bad/id", "t1", "", "[]"}).status().IsInvalidArgument());
  CHECK(env.engine->log().LastLsn() == before);
  env.Turn("s1", "t1", "[]");
  CHECK(env.s().SubmitTurn(kOp, {"s1", "t1", "", "[]"}).status().IsConflict());
}

TEST_CASE("ReconcileAppliesAPendingTurnOnceAndASecondRunIsANoOp") {
  Env env;
  env.StartSession("s1");
  REQUIRE(env.s()
              .ProposeOnly(kOp, {"s1", "t1", "", R"([{"op":"add","path":"/gold","value":5}])"})
              .ok());
  CHECK(env.s().ListWal("s1", true).value()["pending"] == 1);
  // A new turn waits for the pending one.
  CHECK(env.s().SubmitTurn(kOp, {"s1", "t2", "", "[]"}).status().IsConflict());

  Result<std::vector<TurnOutcome>> r = env.s().Reconcile(kOp);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].status == "applied");
  CHECK((*r)[0].reconciled);
  CHECK(env.State("s1") == json{{"gold", 5}});

  const uint64_t lsn = env.engine->log().LastLsn();
  Result<std::vector<TurnOutcome>> again = env.s().Reconcile(kOp);
  REQUIRE(again.ok());
  CHECK(again->empty());
  CHECK(env.engine->log().LastLsn() == lsn);
  CHECK(env.State("s1") == json{{"gold", 5}});
}

TEST_CASE("ReconcileRollsBackAPendingTurnWhenTheStateMovedUnderIt") {
  Env env;
  env.StartSession("s1");
  REQUIRE(
      env.s().ProposeOnly(kOp, {"s1", "t1", "", R"([{"op":"add","path":"/a","value":1}])"}).ok());
  // Another writer (bypassing the live path) proposes and applies a turn.
  env.Append("s1", "TurnProposed",
             {{"turn_id", "t2"}, {"acts_json", R"([{"op":"add","path":"/b","value":2}])"}});
  env.Append("s1", "TurnApplied", {{"turn_id", "t2"}});
  CHECK(env.State("s1") == json{{"b", 2}});

  Result<std::vector<TurnOutcome>> r = env.s().Reconcile(kOp, "s1");
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].turn_id == "t1");
  CHECK((*r)[0].status == "rolled_back");
  CHECK((*r)[0].reason.find("state changed") != std::string::npos);
  CHECK(env.State("s1") == json{{"b", 2}});
}

TEST_CASE("OpeningTheEngineReconcilesTurnsLeftPending") {
  Env env;
  env.StartSession("s1");
  REQUIRE(
      env.s().ProposeOnly(kOp, {"s1", "t1", "", R"([{"op":"add","path":"/x","value":"y"}])"}).ok());
  env.Open();  // a restart
  json wal = env.s().ListWal("s1").value();
  REQUIRE(wal["entries"].size() == 1);
  CHECK(wal["entries"][0]["status"] == "applied");
  CHECK(wal["entries"][0]["reconciled"] == true);
  CHECK(env.State("s1") == json{{"x", "y"}});
  const uint64_t lsn = env.engine->log().LastLsn();
  env.Open();
  CHECK(env.engine->log().LastLsn() == lsn);
}

TEST_CASE("SessionsPastTheirTtlExpireOnceAndRefuseTurns") {
  Env env;
  env.StartSession("s1", int64_t{60} * 1000000);
  env.StartSession("s2");
  CHECK(env.s().SweepExpired().value() == 0);
  *env.now += int64_t{61} * 1000000;
  CHECK(env.s().SweepExpired().value() == 1);
  CHECK(env.s().SweepExpired().value() == 0);
  CHECK(env.s().Header("s1").value()["status"] == "expired");
  CHECK(env.s().Header("s2").value()["status"] == "active");
  Result<TurnOutcome> t = env.s().SubmitTurn(kOp, {"s1", "t1", "", "[]"});
  CHECK(t.status().IsConflict());
}

TEST_CASE("ExpiryIsRecordedOnOpenWhenTheDeadlinePassedWhileClosed") {
  Env env;
  env.StartSession("s1", int64_t{10} * 1000000);
  *env.now += int64_t{11} * 1000000;
  env.Open();
  CHECK(env.s().Header("s1").value()["status"] == "expired");
}

TEST_CASE("SnapshotOfTheSameStateTwiceYieldsTheExistingSnapshot") {
  Env env;
  env.StartSession("s1");
  env.Turn("s1", "t1", R"([{"op":"add","path":"/hp","value":10}])");
  Result<SnapshotResult> a = env.s().CreateSnapshot(kOp, "s1", "first");
  REQUIRE(a.ok());
  CHECK(a->created);
  const uint64_t lsn = env.engine->log().LastLsn();
  Result<SnapshotResult> b = env.s().CreateSnapshot(kOp, "s1", "again");
  REQUIRE(b.ok());
  CHECK_FALSE(b->created);
  CHECK(b->snapshot["snapshot_id"] == a->snapshot["snapshot_id"]);
  CHECK(env.engine->log().LastLsn() == lsn);
  const std::string body = env.s().CanonicalView("s1").value();
  CHECK(a->snapshot["content_hash"] == Blake2b256Hex(body));
  CHECK(a->snapshot["size_bytes"] == body.size());
  CHECK(env.s().ListSnapshots("s1").value()["snapshots"].size() == 1);
}

TEST_CASE("RestoreMakesTheSessionEqualToTheSnapshot") {
  Env env;
  env.StartSession("s1");
  env.Turn("s1", "t1", R"([{"op":"add","path":"/hp","value":10}])", R"({"txt":"one"})");
  env.Append("s1", "MemoryPinned", {{"pin_id", "p1"}, {"text", "likes tea"}});
  env.Append("s1", "ObjectiveSet",
             {{"objective_id", "o1"}, {"text", "find the key"}, {"priority", 1}});
  const std::string at_snapshot = env.s().CanonicalView("s1").value();
  const std::string id =
      env.s().CreateSnapshot(kOp, "s1", "before the fight").value().snapshot["snapshot_id"];

  env.Turn("s1", "t2", R"([{"op":"replace","path":"/hp","value":3}])", R"({"txt":"two"})");
  env.Append("s1", "MemoryPinned", {{"pin_id", "p2"}, {"text", "lost the map"}});
  env.Append("s1", "ObjectiveSet", {{"objective_id", "o1"}, {"text", "run"}, {"priority", 1}});
  env.Append("s1", "EpisodicAdded", {{"text", "a fight"}, {"salience", 0.9}});
  CHECK(env.s().CanonicalView("s1").value() != at_snapshot);

  Result<json> r = env.s().RestoreSnapshot(kOp, "s1", id);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(env.s().CanonicalView("s1").value() == at_snapshot);
  CHECK((*r)["view"] == json::parse(at_snapshot));
  CHECK(env.State("s1") == json{{"hp", 10}});

  // Later items sort after the restored ones; turns go on from the snapshot.
  env.Turn("s1", "t3", R"([{"op":"replace","path":"/hp","value":11}])");
  json view = env.s().View("s1").value();
  REQUIRE(view["turns"].size() == 2);
  CHECK(view["turns"][0]["turn_id"] == "t1");
  CHECK(view["turns"][1]["turn_id"] == "t3");
  CHECK(view["header"]["last_turn_id"] == "t3");

  // Rebuilding the view from the log reproduces it byte for byte.
  const json dump =
      env.engine->ReplayView("sessions", env.engine->log().LastLsn()).value()["state"];
  REQUIRE(env.engine->projector().Reset("sessions").ok());
  REQUIRE(env.engine->projector().CatchUp().ok());
  auto reader = env.s().Reader();
  CHECK(SessionsProjection().Dump(*reader).value() == dump);
}

TEST_CASE("RestoreRefusesABodyThatNoLongerMatchesItsHash") {
  Env env;
  env.StartSession("s1");
  env.Turn("s1", "t1", R"([{"op":"add","path":"/hp","value":10}])");
  json snap = env.s().CreateSnapshot(kOp, "s1", "").value().snapshot;
  // Damage the stored SnapshotCreated record: its checksum no longer holds.
  const uint64_t lsn = snap["lsn"];
  const std::string rec = RawRecord(env.engine->log(), lsn);
  FlipRecordByte(env.engine->log(), lsn, rec.size() - 20);
  const uint64_t last = env.engine->log().LastLsn();
  Result<json> r = env.s().RestoreSnapshot(kOp, "s1", snap["snapshot_id"]);
  CHECK(r.status().IsCorruption());
  CHECK(env.engine->log().LastLsn() == last);  // nothing appended
}

TEST_CASE("SnapshotLimitsDeleteTheOldestBeyondTheCountAndThoseTooOld") {
  Env env([](SessionOptions& o) {
    o.snapshot_max_count = 2;
    o.snapshot_max_age_us = int64_t{3600} * 1000000;
  });
  env.StartSession("s1");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    env.Turn("s1", "t" + std::to_string(i),
             R"([{"op":"add","path":"/n","value":)" + std::to_string(i) + "}]");
    SnapshotResult r = env.s().CreateSnapshot(kOp, "s1", "").value();
    ids.push_back(r.snapshot["snapshot_id"]);
    if (i == 2) {
      REQUIRE(r.deleted.size() == 1);
      CHECK(r.deleted[0] == ids[0]);
    }
  }
  json list = env.s().ListSnapshots("s1").value()["snapshots"];
  REQUIRE(list.size() == 2);
  CHECK(list[0]["snapshot_id"] == ids[1]);
  CHECK(list[1]["snapshot_id"] == ids[2]);

  *env.now += int64_t{7200} * 1000000;
  env.Turn("s1", "t9", R"([{"op":"add","path":"/n","value":9}])");
  SnapshotResult r = env.s().CreateSnapshot(kOp, "s1", "").value();
  CHECK(r.deleted.size() == 2);
  CHECK(env.s().ListSnapshots("s1").value()["snapshots"].size() == 1);
  CHECK(env.s().DeleteSnapshot(kOp, "s1", r.snapshot["snapshot_id"]).ok());
  CHECK(env.s().ListSnapshots("s1").value()["snapshots"].empty());
  CHECK(env.s().DeleteSnapshot(kOp, "s1", "nope").IsNotFound());
}

TEST_CASE("WalCleanupDropsSettledEntriesOlderThanTheAge") {
  Env env;
  env.StartSession("s1");
  env.Turn("s1", "t1", "[]");
  env.Turn("s1", "t2", R"([{"op":"test","path":"/x","value":1}])");
  REQUIRE(env.s().ProposeOnly(kOp, {"s1", "t3", "", "[]"}).ok());
  CHECK(env.s().CleanupWal(kOp, int64_t{86400} * 1000000).value() == 0);
  *env.now += int64_t{2} * 86400 * 1000000;
  CHECK(env.s().CleanupWal(kOp, int64_t{86400} * 1000000).value() == 2);
  json wal = env.s().ListWal("s1").value();
  REQUIRE(wal["entries"].size() == 1);
  CHECK(wal["entries"][0]["turn_id"] == "t3");
  CHECK(env.s().CleanupWal(kOp, 0).value() == 0);
}

TEST_CASE("RecapGoldenOutput") {
  Env env;
  env.StartSession("s1");
  env.Turn("s1", "t1", "[]", R"({"txt":"The party enters the cave."})");
  env.Turn("s1", "t2", "[]", R"({"txt":"A troll blocks the bridge\nand demands a toll."})");
  env.Turn("s1", "t3", "[]", R"({"other":1})");
  env.Append("s1", "MemoryPinned", {{"pin_id", "p1"}, {"text", "Player prefers short answers"}});
  env.Append("s1", "MemoryPinned", {{"pin_id", "p2"}, {"text", "Player is named Ada"}});
  env.Append("s1", "EpisodicAdded",
             {{"episode_id", "e1"}, {"text", "Ada found a rusty key"}, {"salience", 0.4}});
  env.Append("s1", "EpisodicAdded",
             {{"episode_id", "e2"}, {"text", "The troll fears fire"}, {"salience", 0.9}});
  env.Append("s1", "EpisodicAdded",
             {{"episode_id", "e3"}, {"text", "Ada lit a torch"}, {"salience", 0.4}});
  env.Append("s1", "ObjectiveSet",
             {{"objective_id", "o2"}, {"text", "Cross the bridge"}, {"priority", 2}});
  env.Append("s1", "ObjectiveSet",
             {{"objective_id", "o1"}, {"text", "Keep Ada alive"}, {"priority", 1}});
  env.Append("s1", "ObjectiveSet",
             {{"objective_id", "o3"}, {"text", "Old goal"}, {"priority", 0}, {"status", "done"}});

  Recap r = env.s().BuildRecap("s1", 2).value();
  CHECK(r.text ==
        "Pinned: Player is named Ada. Pinned: Player prefers short answers. Remembered: The troll "
        "fears fire. Turn t3 was applied. Objective (priority 1): Keep Ada alive. Objective "
        "(priority 2): Cross the bridge.");
  CHECK(r.sentences.size() == 6);
  CHECK(r.sources["episodic"] == json{"e2"});
  CHECK(r.sources["turns"] == json{"t3"});
  // Same log, same bytes.
  CHECK(env.s().BuildRecap("s1", 2).value().ToJson().dump() == r.ToJson().dump());
}

TEST_CASE("RecapRespectsItsSentenceAndWordLimits") {
  Env env([](SessionOptions& o) {
    o.recap_max_sentences = 3;
    o.recap_max_words = 6;
  });
  env.StartSession("s1");
  env.Turn("s1", "t1", "[]", R"({"txt":"one two three four five six seven eight"})");
  env.Append("s1", "MemoryPinned", {{"text", "alpha beta gamma delta epsilon zeta eta theta"}});
  env.Append("s1", "EpisodicAdded", {{"text", "x"}, {"salience", 1.0}});
  env.Append("s1", "ObjectiveSet", {{"objective_id", "o"}, {"text", "win"}, {"priority", 1}});
  Recap r = env.s().BuildRecap("s1", 5).value();
  REQUIRE(r.sentences.size() == 3);
  for (const std::string& s : r.sentences) {
    size_t words = 1;
    for (char c : s) words += c == ' ' ? 1 : 0;
    CHECK(words <= 6);
  }
  CHECK(r.sentences[0] == "Pinned: alpha beta gamma delta epsilon…");
  CHECK(r.sentences[2] == "Objective (priority 1): win.");
  CHECK(r.sources["turns"].empty());

  // An empty session still gets two sentences.
  env.StartSession("s2");
  Recap e = env.s().BuildRecap("s2", std::nullopt).value();
  CHECK(e.sentences.size() == 2);
  CHECK(env.s().BuildRecap("nope", 1).status().IsNotFound());
}

TEST_CASE("ConcurrentTurnWritersOfOneSessionSerialise") {
  Env env;
  env.StartSession("s1");
  env.Turn("s1", "init", R"([{"op":"add","path":"/n","value":0}])");
  std::atomic<int> applied{0}, rolled_back{0}, conflicts{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        const int64_t n = env.s().View("s1").value()["state"]["n"];
        // Counts up only if nobody else did in between: the test op fails otherwise.
        const std::string acts = R"([{"op":"test","path":"/n","value":)" + std::to_string(n) +
                                 R"(},{"op":"replace","path":"/n","value":)" +
                                 std::to_string(n + 1) + "}]";
        Result<TurnOutcome> o = env.s().SubmitTurn(
            kOp, {"s1", "t" + std::to_string(t) + "-" + std::to_string(i), "", acts});
        if (!o.ok()) {
          ++(o.status().IsConflict() ? conflicts : errors);
        } else if (o->status == "applied") {
          ++applied;
        } else {
          ++rolled_back;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(errors == 0);
  CHECK(applied + rolled_back + conflicts == 40);
  CHECK(applied > 0);
  // Every applied turn counted once; no turn left pending.
  CHECK(env.State("s1")["n"] == applied.load());
  CHECK(env.s().ListWal("s1", true).value()["pending"] == 0);
  CHECK(env.s().View("s1").value()["turns"].size() == static_cast<size_t>(applied + 1));
}
