// The artifact lifecycle service: storing, moves at exact day boundaries by
// the engine's clock, dry runs, reruns, restores and legal holds.

#include "engine/lifecycle.h"

#include <doctest/doctest.h>

#include <atomic>

#include "engine/holds.h"
#include "projections/costs.h"
#include "projections/view_store.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;

namespace {

constexpr int64_t kDay = kMicrosPerDay;
const Actor kOps{"ops-dana", Role::kCompliance};
const std::string kHash(64, 'a');

int64_t At(const char* rfc3339) {
  int64_t us = 0;
  REQUIRE(ParseTimestamp(rfc3339, &us));
  return us;
}

struct Fixture {
  TempDir dir;
  std::shared_ptr<std::atomic<int64_t>> now;
  std::unique_ptr<Engine> engine;

  explicit Fixture(int64_t start) : now(std::make_shared<std::atomic<int64_t>>(start)) { Open(); }
  void Open() {
    engine.reset();
    EngineOptions o;
    o.data_dir = dir.Sub("data");
    o.clock = [n = now] { return n->load(); };
    o.hitl.sweep_interval = std::chrono::milliseconds(0);
    Result<std::unique_ptr<Engine>> e = Engine::Open(o);
    REQUIRE_MESSAGE(e.ok(), e.status().ToString());
    engine = std::move(e).value();
  }
  void Advance(int64_t us) { now->fetch_add(us); }
  StoreResult Store(const std::string& tenant, const std::string& id, uint64_t bytes = 100,
                    const std::string& hash = kHash) {
    LifecycleService svc(*engine);
    ArtifactInput in;
    in.tenant = tenant;
    in.workflow = "weekly_report";
    in.artifact_id = id;
    in.bytes = bytes;
    in.content_hash = hash;
    in.label = "Internal";
    Result<StoreResult> r = svc.Store(in, kOps);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    return *r;
  }
  std::string Tier(const std::string& tenant, const std::string& id) {
    Result<std::optional<ArtifactEntry>> a = LifecycleService(*engine).Get(tenant, id);
    REQUIRE(a.ok());
    REQUIRE(a->has_value());
    return (*a)->purged ? "purged" : (*a)->tier;
  }
};

LifecyclePolicy Policy(uint32_t hot = 7, uint32_t warm = 30, uint32_t cold = 90) {
  LifecyclePolicy p;
  p.hot_days = hot;
  p.warm_days = warm;
  p.cold_days = cold;
  return p;
}

}  // namespace

TEST_SUITE("engine/lifecycle") {
  TEST_CASE("MovesHappenAtExactDayBoundariesOfTimeInTier") {
    const int64_t t0 = At("2026-03-01T02:00:00Z");
    Fixture f(t0);
    f.Store("acme", "report.md", 1000);
    LifecycleService svc(*f.engine);

    f.now->store(t0 + 7 * kDay - 1);  // one µs short of 7 days in hot
    Result<LifecycleReport> r = svc.Run(Policy(), "", true, kOps);
    REQUIRE(r.ok());
    CHECK(r->actions.empty());
    CHECK(f.Tier("acme", "report.md") == "hot");

    f.now->store(t0 + 7 * kDay);
    r = svc.Run(Policy(), "", true, kOps);
    REQUIRE(r.ok());
    REQUIRE(r->actions.size() == 1);
    CHECK(r->actions[0].from_tier == "hot");
    CHECK(r->actions[0].to_tier == "warm");
    CHECK(r->actions[0].age_days == 7);
    CHECK(r->actions[0].outcome == "done");
    CHECK(r->Counts()["hot_to_warm"] == 1);
    CHECK(f.Tier("acme", "report.md") == "warm");
    CHECK(LifecycleService(*f.engine).Get("acme", "report.md")->value().tier_since_us ==
          t0 + 7 * kDay);

    // 30 days in warm counts from the move, not from the store.
    f.now->store(t0 + 37 * kDay - 1);
    CHECK(svc.Run(Policy(), "", true, kOps)->actions.empty());
    f.now->store(t0 + 37 * kDay);
    r = svc.Run(Policy(), "", true, kOps);
    REQUIRE(r->actions.size() == 1);
    CHECK(r->actions[0].to_tier == "cold");
    CHECK(f.Tier("acme", "report.md") == "cold");

    f.now->store(t0 + 127 * kDay - 1);
    CHECK(svc.Run(Policy(), "", true, kOps)->actions.empty());
    f.now->store(t0 + 127 * kDay);
    r = svc.Run(Policy(), "", true, kOps);
    REQUIRE(r->actions.size() == 1);
    CHECK(r->actions[0].is_purge());
    CHECK(r->Counts()["purged_from_cold"] == 1);
    CHECK(r->Counts()["purged_bytes"] == 1000);
    CHECK(f.Tier("acme", "report.md") == "purged");
    Result<std::vector<TenantTierSummary>> s = svc.Summary("acme");
    REQUIRE(s.ok());
    REQUIRE(s->size() == 1);
    CHECK((*s)[0].cold.count == 0);
    CHECK((*s)[0].purged.count == 1);
    CHECK((*s)[0].purged.bytes == 1000);

    // Long overdue artifacts take one step per run.
    f.Store("acme", "old.pdf");
    f.Advance(400 * kDay);
    CHECK(svc.Run(Policy(), "", true, kOps)->actions.size() == 1);
    CHECK(f.Tier("acme", "old.pdf") == "warm");
  }

  TEST_CASE("DryRunChangesNothing") {
    const int64_t t0 = At("2026-03-01T00:00:00Z");
    Fixture f(t0);
    f.Store("acme", "a1");
    f.Store("acme", "a2");
    f.Advance(10 * kDay);
    const uint64_t before = f.engine->log().LastLsn();
    LifecycleService svc(*f.engine);
    Result<LifecycleReport> r = svc.Run(Policy(), "", false, kOps);
    REQUIRE(r.ok());
    CHECK(!r->live);
    CHECK(r->actions.size() == 2);
    CHECK(r->actions[0].outcome == "planned");
    CHECK(r->ToJson()["mode"] == "dry_run");
    CHECK(f.engine->log().LastLsn() == before);
    CHECK(f.Tier("acme", "a1") == "hot");
    // The same plan again: nothing changed in between.
    CHECK(svc.Run(Policy(), "", false, kOps)->actions.size() == 2);
  }

  TEST_CASE("LiveRerunAndReexecutedPlanDoNotMoveTwice") {
    const int64_t t0 = At("2026-03-01T00:00:00Z");
    Fixture f(t0);
    for (int i = 0; i < 5; ++i) f.Store("acme", "a" + std::to_string(i));
    f.Advance(8 * kDay);
    LifecycleService svc(*f.engine);
    Result<LifecycleReport> plan = svc.Plan(Policy(), "");
    REQUIRE(plan.ok());
    REQUIRE(plan->actions.size() == 5);
    LifecycleReport again = *plan;  // as a run that crashed after its appends would redo it

    REQUIRE(svc.Execute(&*plan, kOps).ok());
    CHECK(plan->Counts()["done"] == 5);
    const uint64_t lsn = f.engine->log().LastLsn();
    REQUIRE(svc.Execute(&again, kOps).ok());
    CHECK(again.Counts()["already_done"] == 5);
    CHECK(again.Counts()["done"] == 0);
    CHECK(f.engine->log().LastLsn() == lsn);
    // A plain rerun finds nothing due.
    CHECK(svc.Run(Policy(), "", true, kOps)->actions.empty());
    CHECK(f.engine->log().LastLsn() == lsn);
    CHECK(f.engine->log().GetStreamHead(ArtifactStream("acme", "a0"))->version == 2);

    // A plan made before a restore leaves the restored artifact alone.
    f.Advance(31 * kDay);
    Result<LifecycleReport> stale = svc.Plan(Policy(), "");
    REQUIRE(stale->actions.size() == 5);
    REQUIRE(svc.Restore("acme", "a3", kOps).ok());
    REQUIRE(svc.Execute(&*stale, kOps).ok());
    CHECK(stale->Counts()["done"] == 4);
    CHECK(stale->Counts()["changed"] == 1);
    CHECK(f.Tier("acme", "a3") == "hot");
    CHECK(f.Tier("acme", "a2") == "cold");
    CHECK(stale->Outcome().ok());
  }

  TEST_CASE("RestoreBringsBackToHotAndRestartsItsClock") {
    const int64_t t0 = At("2026-03-01T00:00:00Z");
    Fixture f(t0);
    f.Store("acme", "doc.pdf");
    LifecycleService svc(*f.engine);
    Result<RestoreResult> r = svc.Restore("acme", "doc.pdf", kOps);
    REQUIRE(r.ok());
    CHECK(!r->restored);  // already hot: nothing appended
    f.Advance(7 * kDay);
    REQUIRE(svc.Run(Policy(), "", true, kOps).ok());
    f.Advance(30 * kDay);
    REQUIRE(svc.Run(Policy(), "", true, kOps).ok());
    REQUIRE(f.Tier("acme", "doc.pdf") == "cold");
    f.Advance(kDay);
    r = svc.Restore("acme", "doc.pdf", kOps);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r->restored);
    CHECK(r->from_tier == "cold");
    CHECK(r->artifact.tier == "hot");
    CHECK(r->artifact.tier_since_us == f.now->load());
    f.Advance(7 * kDay - 1);
    CHECK(svc.Plan(Policy(), "")->actions.empty());
    f.Advance(1);
    CHECK(svc.Plan(Policy(), "")->actions.size() == 1);

    CHECK(svc.Restore("acme", "nope", kOps).status().code() == Status::Code::kNotFound);
    CHECK(svc.Restore("globex", "doc.pdf", kOps).status().code() == Status::Code::kNotFound);
    // Purged: a clear refusal.
    f.Store("acme", "gone", 5);
    REQUIRE(svc.Run(Policy(0, 0, 0), "acme", true, kOps).ok());  // doc.pdf, gone -> warm
    REQUIRE(svc.Run(Policy(0, 0, 0), "acme", true, kOps).ok());  // -> cold
    REQUIRE(svc.Run(Policy(0, 0, 0), "acme", true, kOps).ok());  // -> purged
    REQUIRE(f.Tier("acme", "gone") == "purged");
    Status s = svc.Restore("acme", "gone", kOps).status();
    CHECK(s.code() == Status::Code::kInvalidArgument);
    CHECK(s.message().find("cannot be restored") != std::string::npos);
  }

  TEST_CASE("HoldWithholdsPurgesOfItsTenantOnly") {
    const int64_t t0 = At("2026-03-01T00:00:00Z");
    Fixture f(t0);
    LifecycleService svc(*f.engine);
    ArtifactInput in;
    in.workflow = "wf";
    in.bytes = 10;
    in.content_hash = kHash;
    in.tier = "cold";
    for (const char* t : {"acme", "globex"}) {
      in.tenant = t;
      in.artifact_id = "old";
      REQUIRE(svc.Store(in, kOps).ok());
    }
    f.Store("acme", "fresh");  // hot: still moves while acme is held
    REQUIRE(HoldService(*f.engine).Apply("acme", "case-9", "litigation 9", kOps).ok());
    f.Advance(100 * kDay);

    Result<LifecycleReport> plan = svc.Run(Policy(), "", false, kOps);
    REQUIRE(plan.ok());
    REQUIRE(plan->held.size() == 1);
    CHECK(plan->held[0].tenant == "acme");
    CHECK(plan->held[0].withheld == 1);
    CHECK(plan->held[0].reason.find("litigation 9") != std::string::npos);

    Result<LifecycleReport> r = svc.Run(Policy(), "", true, kOps);
    REQUIRE(r.ok());
    CHECK(r->Counts()["purged_from_cold"] == 1);
    CHECK(r->Counts()["hot_to_warm"] == 1);
    CHECK(r->Counts()["purge_withheld_by_hold"] == 1);
    Status s = r->Outcome();
    CHECK(s.code() == Status::Code::kHeld);
    CHECK(s.message().find("litigation 9") != std::string::npos);
    CHECK(f.Tier("globex", "old") == "purged");
    CHECK(f.Tier("acme", "old") == "cold");
    CHECK(f.Tier("acme", "fresh") == "warm");

    REQUIRE(HoldService(*f.engine).Release("acme", "", "settled", kOps).ok());
    r = svc.Run(Policy(), "acme", true, kOps);
    REQUIRE(r.ok());
    CHECK(r->Outcome().ok());
    CHECK(f.Tier("acme", "old") == "purged");
  }

  TEST_CASE("StoreValidatesAndIsIdempotentForTheSameContent") {
    Fixture f(At("2026-03-01T00:00:00Z"));
    StoreResult first = f.Store("acme", "a1", 42);
    CHECK(first.created);
    CHECK(first.artifact.tier == "hot");
    CHECK(first.artifact.stored_at_us == f.now->load());
    StoreResult again = f.Store("acme", "a1", 42);
    CHECK(!again.created);
    CHECK(f.engine->log().GetStreamHead(ArtifactStream("acme", "a1"))->version == 1);
    // Another tenant may use the same id: its own stream.
    CHECK(f.Store("globex", "a1", 7).created);

    LifecycleService svc(*f.engine);
    ArtifactInput in;
    in.tenant = "acme";
    in.artifact_id = "a1";
    in.bytes = 43;
    in.content_hash = kHash;
    CHECK(svc.Store(in, kOps).status().code() == Status::Code::kIdempotencyConflict);
    in.artifact_id = "a2";
    in.content_hash = "abc";
    CHECK(svc.Store(in, kOps).status().code() == Status::Code::kInvalidArgument);
    in.content_hash = std::string(64, 'F');  // normalized to lower case
    REQUIRE(svc.Store(in, kOps).ok());
    CHECK(svc.Get("acme", "a2")->value().content_hash == std::string(64, 'f'));
    in.artifact_id = "a/b";
    CHECK(svc.Store(in, kOps).status().code() == Status::Code::kInvalidArgument);
    in.artifact_id = "a3";
    in.tier = "frozen";
    CHECK(svc.Store(in, kOps).status().code() == Status::Code::kInvalidArgument);
    in.tier = "hot";
    in.stored_at_us = f.now->load() + 1;
    CHECK(svc.Store(in, kOps).status().code() == Status::Code::kInvalidArgument);
    in.stored_at_us = f.now->load() - 10 * kDay;  // an existing artifact, registered late
    REQUIRE(svc.Store(in, kOps).ok());
    CHECK(svc.Plan(Policy(), "acme")->actions.size() == 1);
    in.tenant = "";
    CHECK(svc.Store(in, kOps).status().code() == Status::Code::kInvalidArgument);
  }

  TEST_CASE("ViewEqualsARebuildAndSurvivesRestart") {
    const int64_t t0 = At("2026-03-01T00:00:00Z");
    Fixture f(t0);
    LifecycleService svc(*f.engine);
    for (int i = 0; i < 20; ++i) {
      f.Store(i % 2 ? "acme" : "globex", "a" + std::to_string(i), 100 + i);
      f.Advance(kDay);
    }
    REQUIRE(svc.Run(Policy(), "", true, kOps).ok());
    f.Advance(40 * kDay);
    REQUIRE(svc.Run(Policy(), "", true, kOps).ok());
    REQUIRE(svc.Restore("acme", "a1", kOps).ok());
    f.Advance(100 * kDay);
    REQUIRE(svc.Run(Policy(), "", true, kOps).ok());
    auto dump = [&] {
      REQUIRE(f.engine->WaitForViews(f.engine->log().LastLsn(), std::chrono::seconds(5)).ok());
      auto r = NewRocksViewReader(f.engine->log().db(), f.engine->log().views_cf(),
                                  ArtifactsProjection::kName);
      return ArtifactsProjection().Dump(*r).value();
    };
    const nlohmann::json before = dump();
    CHECK(before["artifacts"].size() == 20);
    f.Open();  // restart
    CHECK(dump() == before);
    REQUIRE(f.engine->projector().Reset("artifacts").ok());
    REQUIRE(f.engine->projector().CatchUp().ok());
    CHECK(dump() == before);
    // The in-memory replay folds the same view.
    Result<nlohmann::json> replay =
        f.engine->ReplayView(ArtifactsProjection::kName, f.engine->log().LastLsn());
    REQUIRE(replay.ok());
    CHECK((*replay)["state"] == before);
  }
}
