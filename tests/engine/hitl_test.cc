// Checkpoint commands on a real engine: decisions, idempotency, access,
// expiry on open (across a restart) and on the timer.

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "engine/engine.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;

namespace {

constexpr int64_t kStart = 1790000000000000;  // a fixed "now" for the fake clock
constexpr int64_t kHour = 3600LL * 1000000;

struct Env {
  TempDir dir;
  std::shared_ptr<std::atomic<int64_t>> now = std::make_shared<std::atomic<int64_t>>(kStart);
  std::unique_ptr<Engine> engine;

  explicit Env(std::chrono::milliseconds sweep = std::chrono::milliseconds(0)) { Open(sweep); }
  void Open(std::chrono::milliseconds sweep = std::chrono::milliseconds(0)) {
    engine.reset();
    EngineOptions o;
    o.data_dir = dir.Sub("data");
    o.clock = [now = now] { return now->load(); };
    o.hitl.sweep_interval = sweep;
    engine = std::move(Engine::Open(o).value());
  }
  Hitl& hitl() { return engine->hitl(); }
};

CheckpointSpec Spec(const std::string& id, const std::string& tenant = "acme",
                    const std::string& role = "Operator") {
  CheckpointSpec s;
  s.id = id;
  s.tenant = tenant;
  s.prompt = "Approve sources?";
  s.required_role = role;
  s.source_ids = {"source-1", "source-2"};
  s.dag_run_id = "run-1";
  return s;
}

const Actor kOp{"op-key", Role::kOperator};
const Actor kAdmin{"admin-key", Role::kAdmin};
const Actor kViewer{"viewer-key", Role::kViewer};
HitlAccess AcmeOp() { return {"acme", "acme", Role::kOperator, false}; }

}  // namespace

TEST_SUITE("engine/hitl") {
  TEST_CASE("CreateApproveAndRepeatIdempotently") {
    Env env;
    HitlResult c = env.hitl().Create(Spec("cp-1"), kOp);
    REQUIRE(c.ok());
    CHECK_FALSE(c.deduplicated);
    CHECK(c.state.status == CheckpointStatus::kPending);
    CHECK(c.state.expires_at_us == kStart + 72 * kHour);  // the default TTL

    HitlResult a =
        env.hitl().Approve("cp-1", AcmeOp(), {"source-1"}, R"({"priority":"high"})", "", kOp);
    REQUIRE(a.ok());
    CHECK_FALSE(a.deduplicated);
    CHECK(a.state.status == CheckpointStatus::kApproved);
    CHECK(a.state.decided_by == "op-key");
    const uint64_t last = env.engine->log().LastLsn();

    // The same approval again (its data spelled differently): the original.
    HitlResult again =
        env.hitl().Approve("cp-1", AcmeOp(), {"source-1"}, R"({"priority": "high"})", "", kOp);
    REQUIRE(again.ok());
    CHECK(again.deduplicated);
    CHECK(again.lsn == a.lsn);
    CHECK(env.engine->log().LastLsn() == last);  // nothing appended

    // Another approval or a rejection of the approved checkpoint: not pending.
    HitlResult other = env.hitl().Approve("cp-1", AcmeOp(), {"source-2"}, "", "", kOp);
    CHECK(other.code == HitlCode::kNotPending);
    CHECK(other.state.status == CheckpointStatus::kApproved);
    CHECK(env.hitl().Reject("cp-1", AcmeOp(), "no", "", kOp).code == HitlCode::kNotPending);
    CHECK(env.engine->log().LastLsn() == last);

    // The view shows the decision at once (read-your-writes).
    HitlResult g = env.hitl().Get("cp-1", AcmeOp());
    REQUIRE(g.ok());
    CHECK(g.state.status == CheckpointStatus::kApproved);
  }

  TEST_CASE("CreateIsIdempotentButAnIdTakenByAnotherIsAConflict") {
    Env env;
    REQUIRE(env.hitl().Create(Spec("cp-1"), kOp).ok());
    HitlResult same = env.hitl().Create(Spec("cp-1"), kOp);
    REQUIRE(same.ok());
    CHECK(same.deduplicated);
    CheckpointSpec other = Spec("cp-1");
    other.prompt = "something else";
    CHECK(env.hitl().Create(other, kOp).code == HitlCode::kExists);
    CHECK(env.hitl().Create(Spec("cp-1", "globex"), kOp).code == HitlCode::kExists);
    // Generated ids are uuid4 text.
    HitlResult gen = env.hitl().Create(Spec(""), kOp);
    REQUIRE(gen.ok());
    CHECK(gen.state.id.size() == 36);
    CHECK(gen.state.id[14] == '4');
  }

  TEST_CASE("BadInputIsRefusedBeforeAnythingIsWritten") {
    Env env;
    const uint64_t last = env.engine->log().LastLsn();
    CHECK(env.hitl().Create(Spec("a/b"), kOp).code == HitlCode::kInvalid);
    CHECK(env.hitl().Create(Spec("cp", "acme", "Superuser"), kOp).code == HitlCode::kInvalid);
    CheckpointSpec dup = Spec("cp");
    dup.source_ids = {"x", "x"};
    CHECK(env.hitl().Create(dup, kOp).code == HitlCode::kInvalid);
    CheckpointSpec past = Spec("cp");
    past.expires_at_us = kStart - 1;
    CHECK(env.hitl().Create(past, kOp).code == HitlCode::kInvalid);
    CHECK(env.engine->log().LastLsn() == last);

    REQUIRE(env.hitl().Create(Spec("cp"), kOp).ok());
    HitlResult r = env.hitl().Approve("cp", AcmeOp(), {"source-1", "source-9"}, "", "", kOp);
    CHECK(r.code == HitlCode::kInvalid);
    CHECK(r.message.find("source-9") != std::string::npos);
    CHECK(env.hitl().Approve("nope", AcmeOp(), {}, "", "", kOp).code == HitlCode::kNotFound);
  }

  TEST_CASE("RolesMustReachTheRequiredRole") {
    Env env;
    REQUIRE(env.hitl().Create(Spec("adm", "acme", "Admin"), kOp).ok());
    CHECK(env.hitl().Approve("adm", AcmeOp(), {}, "", "", kOp).code == HitlCode::kForbidden);
    HitlAccess viewer{"acme", "acme", Role::kViewer, false};
    REQUIRE(env.hitl().Create(Spec("op"), kOp).ok());
    CHECK(env.hitl().Reject("op", viewer, "no", "", kViewer).code == HitlCode::kForbidden);
    HitlAccess admin{"", "acme", Role::kAdmin, false};
    CHECK(env.hitl().Approve("adm", admin, {"source-2"}, "", "", kAdmin).ok());
    REQUIRE(env.hitl().Create(Spec("v", "acme", "viewer"), kOp).ok());
    CHECK(env.hitl().Approve("v", viewer, {}, "", "", kViewer).ok());
  }

  TEST_CASE("TenantRulesBothWays") {
    Env env;
    REQUIRE(env.hitl().Create(Spec("a1", "acme"), kOp).ok());
    REQUIRE(env.hitl().Create(Spec("g1", "globex"), kOp).ok());
    REQUIRE(env.hitl().Create(Spec("sys", ""), kOp).ok());
    HitlAccess acme{"acme", "acme", Role::kOperator, false};
    HitlAccess globex{"globex", "globex", Role::kOperator, false};
    CHECK(env.hitl().Get("a1", acme).ok());
    CHECK(env.hitl().Get("g1", acme).code == HitlCode::kNotFound);
    CHECK(env.hitl().Get("a1", globex).code == HitlCode::kNotFound);
    CHECK(env.hitl().Approve("a1", globex, {}, "", "", kOp).code == HitlCode::kNotFound);
    CHECK(env.hitl().Get("sys", acme).code == HitlCode::kNotFound);
    // An all-tenant caller must name the checkpoint's tenant, and the right one.
    HitlAccess all{"", "", Role::kAdmin, false};
    CHECK(env.hitl().Get("a1", all).code == HitlCode::kTenantRequired);
    CHECK(env.hitl().Approve("a1", all, {}, "", "", kAdmin).code == HitlCode::kTenantRequired);
    HitlAccess all_globex{"", "globex", Role::kAdmin, false};
    CHECK(env.hitl().Get("a1", all_globex).code == HitlCode::kNotFound);
    CHECK(env.hitl().Get("sys", all).ok());
    HitlAccess all_acme{"", "acme", Role::kAdmin, false};
    CHECK(env.hitl().Approve("a1", all_acme, {}, "", "", kAdmin).ok());
    // Lists are per tenant.
    CHECK(env.hitl().List(std::string("acme"), std::nullopt, 10).value().size() == 1);
    CHECK(env.hitl().List(std::nullopt, CheckpointStatus::kPending, 10).value().size() == 2);
  }

  TEST_CASE("RejectWithReasonThenTheTrail") {
    Env env;
    REQUIRE(env.hitl().Create(Spec("cp"), kOp).ok());
    env.now->store(kStart + 10);
    HitlResult r = env.hitl().Reject("cp", AcmeOp(), "Budget concerns", "manager", kOp);
    REQUIRE(r.ok());
    CHECK(r.state.reason == "Budget concerns");
    CHECK(r.state.decided_by == "manager");
    CHECK(env.hitl().Reject("cp", AcmeOp(), "Budget concerns", "manager", kOp).deduplicated);
    CHECK(env.hitl().Reject("cp", AcmeOp(), "other reason", "", kOp).code == HitlCode::kNotPending);
    auto trail = env.hitl().Audit(std::string("acme"), 0, INT64_MAX, 10).value();
    REQUIRE(trail.size() == 2);
    CHECK(trail[1].action == "rejected");
    CHECK(trail[1].by == "manager");
    CHECK(trail[1].role == Role::kOperator);
    CHECK(trail[1].at_us == kStart + 10);
    CHECK(trail[1].reason == "Budget concerns");
  }

  TEST_CASE("OverdueApprovalExpiresTheCheckpoint") {
    Env env;
    CheckpointSpec s = Spec("cp");
    s.ttl_us = kHour;
    REQUIRE(env.hitl().Create(s, kOp).ok());
    env.now->store(kStart + kHour);  // exactly at the deadline: too late
    HitlResult r = env.hitl().Approve("cp", AcmeOp(), {"source-1"}, "", "", kOp);
    CHECK(r.code == HitlCode::kNotPending);
    CHECK(r.state.status == CheckpointStatus::kExpired);
    CHECK(env.hitl().Get("cp", AcmeOp()).state.status == CheckpointStatus::kExpired);
  }

  TEST_CASE("ExpiryOnOpenAcrossARestart") {
    Env env;
    CheckpointSpec s = Spec("soon");
    s.ttl_us = kHour;
    REQUIRE(env.hitl().Create(s, kOp).ok());
    REQUIRE(env.hitl().Create(Spec("later"), kOp).ok());  // 72 h
    env.engine.reset();                                   // "shut down"
    env.now->store(kStart + 2 * kHour);
    env.Open();  // recovery expires what passed its deadline meanwhile
    CHECK(env.hitl().Load("soon").value().status == CheckpointStatus::kExpired);
    CHECK(env.hitl().Get("soon", AcmeOp()).state.status == CheckpointStatus::kExpired);
    CHECK(env.hitl().Load("later").value().status == CheckpointStatus::kPending);
    // Opening again appends nothing more.
    const uint64_t last = env.engine->log().LastLsn();
    env.Open();
    CHECK(env.engine->log().LastLsn() == last);
    auto trail = env.hitl().Audit(std::string("acme"), 0, INT64_MAX, 10).value();
    REQUIRE(trail.size() == 3);
    CHECK(trail[2].action == "expired");
    CHECK(trail[2].checkpoint_id == "soon");
  }

  TEST_CASE("ExpiryOnTheTimer") {
    Env env(std::chrono::milliseconds(10));
    CheckpointSpec s = Spec("cp");
    s.ttl_us = kHour;
    REQUIRE(env.hitl().Create(s, kOp).ok());
    env.now->store(kStart + kHour + 1);
    // The sweeper runs on its own; wait (bounded) for it to expire the checkpoint.
    CheckpointStatus status = CheckpointStatus::kPending;
    for (int i = 0; i < 1000 && status == CheckpointStatus::kPending; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      status = env.hitl().Get("cp", AcmeOp()).state.status;
    }
    CHECK(status == CheckpointStatus::kExpired);
    CHECK(env.hitl().Load("cp").value().status == CheckpointStatus::kExpired);
  }

  TEST_CASE("RacingApprovalsLandOnce") {
    Env env;
    REQUIRE(env.hitl().Create(Spec("cp"), kOp).ok());
    std::atomic<int> applied{0}, dedup{0}, conflict{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&, i] {
        HitlResult r =
            env.hitl().Approve("cp", AcmeOp(), {i % 2 ? "source-1" : "source-2"}, "", "", kOp);
        if (r.ok() && !r.deduplicated) ++applied;
        if (r.ok() && r.deduplicated) ++dedup;
        if (r.code == HitlCode::kNotPending) ++conflict;
      });
    }
    for (auto& t : threads) t.join();
    CHECK(applied == 1);
    CHECK(applied + dedup + conflict == 8);
    // Exactly one decision event in the stream.
    auto events = env.engine->log().ReadStream("checkpoint/cp", 1, 100).value();
    CHECK(events.size() == 2);
  }
}
