// The hitl_checkpoints fold: life of a checkpoint, its indexes, and the
// events it must ignore.

#include "projections/hitl_checkpoints.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "engine/payload_codec.h"
#include "log/event_types.h"
#include "projections/view_store.h"

using namespace logbook;
using nlohmann::json;

namespace {

struct Folder {
  HitlCheckpointsProjection p;
  MemViewTxn txn;
  uint64_t lsn = 0;
  std::map<std::string, uint64_t> versions;

  void Apply(const std::string& type, const json& payload, const std::string& stream,
             const std::string& tenant, Role role = Role::kOperator, int64_t ts = 1000) {
    Event e;
    e.lsn = ++lsn;
    e.stream = stream;
    e.stream_version = ++versions[stream];
    e.tenant = tenant;
    REQUIRE(ParseEventType(type, &e.type));
    e.actor = {"k1", role};
    e.recorded_at_us = ts;
    e.payload = PayloadCodec::Encode(e.type, payload.dump()).value();
    REQUIRE(p.Apply(e, txn).ok());
  }
  CheckpointState Get(const std::string& id) {
    auto st = HitlCheckpointsProjection::Get(txn, id).value();
    REQUIRE(st.has_value());
    return *st;
  }
};

json Created(const std::string& id, int64_t expires = 5000, const std::string& role = "Operator") {
  return {{"checkpoint_id", id},   {"prompt", "ok?"},
          {"required_role", role}, {"source_ids", {"s1", "s2", "s3"}},
          {"created_at_us", 100},  {"expires_at_us", expires},
          {"by", "alice"}};
}

}  // namespace

TEST_SUITE("projections/hitl_checkpoints") {
  TEST_CASE("CreatedThenApprovedMovesBetweenIndexes") {
    Folder f;
    f.Apply("CheckpointCreated", Created("c1"), "checkpoint/c1", "acme");
    CheckpointState st = f.Get("c1");
    CHECK(st.status == CheckpointStatus::kPending);
    CHECK(st.tenant == "acme");
    CHECK(st.required_role == Role::kOperator);
    CHECK(st.source_ids == std::vector<std::string>{"s1", "s2", "s3"});
    CHECK(HitlCheckpointsProjection::Due(f.txn, 4999, 10).value().empty());
    REQUIRE(HitlCheckpointsProjection::Due(f.txn, 5000, 10).value().size() == 1);

    f.Apply("CheckpointApproved",
            {{"checkpoint_id", "c1"},
             {"approved_source_ids", {"s2"}},
             {"by", "bob"},
             {"approved_at_us", 200},
             {"data_json", R"({"k":"v"})"}},
            "checkpoint/c1", "acme");
    st = f.Get("c1");
    CHECK(st.status == CheckpointStatus::kApproved);
    CHECK(st.decided_by == "bob");
    CHECK(st.decided_at_us == 200);
    CHECK(st.approved_source_ids == std::vector<std::string>{"s2"});
    // No longer due, listed under approved and not under pending.
    CHECK(HitlCheckpointsProjection::Due(f.txn, 99999, 10).value().empty());
    CHECK(
        HitlCheckpointsProjection::List(f.txn, std::string("acme"), CheckpointStatus::kPending, 10)
            .value()
            .empty());
    CHECK(
        HitlCheckpointsProjection::List(f.txn, std::string("acme"), CheckpointStatus::kApproved, 10)
            .value()
            .size() == 1);
    CHECK(HitlCheckpointsProjection::List(f.txn, std::nullopt, std::nullopt, 10).value().size() ==
          1);
    CHECK(HitlCheckpointsProjection::List(f.txn, std::string("globex"), std::nullopt, 10)
              .value()
              .empty());

    auto trail =
        HitlCheckpointsProjection::Audit(f.txn, std::string("acme"), 0, INT64_MAX, 10).value();
    REQUIRE(trail.size() == 2);
    CHECK(trail[0].action == "created");
    CHECK(trail[0].by == "alice");
    CHECK(trail[1].action == "approved");
    CHECK(trail[1].by == "bob");
    CHECK(trail[1].approved_source_ids == std::vector<std::string>{"s2"});
  }

  TEST_CASE("FirstDecisionWinsAndIneffectiveEventsChangeNothing") {
    Folder f;
    f.Apply("CheckpointCreated", Created("c1", 5000, "Admin"), "checkpoint/c1", "acme");
    // An operator cannot decide an admin checkpoint, even through a raw append.
    f.Apply("CheckpointApproved", {{"checkpoint_id", "c1"}, {"approved_at_us", 200}},
            "checkpoint/c1", "acme", Role::kOperator);
    CHECK(f.Get("c1").status == CheckpointStatus::kPending);
    // Approved ids must be candidates.
    f.Apply("CheckpointApproved",
            {{"checkpoint_id", "c1"}, {"approved_source_ids", {"nope"}}, {"approved_at_us", 200}},
            "checkpoint/c1", "acme", Role::kAdmin);
    CHECK(f.Get("c1").status == CheckpointStatus::kPending);
    // A decision made at or after the deadline does not count.
    f.Apply("CheckpointRejected",
            {{"checkpoint_id", "c1"}, {"reason", "late"}, {"rejected_at_us", 5000}},
            "checkpoint/c1", "acme", Role::kAdmin);
    CHECK(f.Get("c1").status == CheckpointStatus::kPending);
    // An event naming the checkpoint from another stream does not touch it.
    f.Apply("CheckpointRejected",
            {{"checkpoint_id", "c1"}, {"reason", "x"}, {"rejected_at_us", 300}}, "checkpoint/other",
            "globex", Role::kAdmin);
    CHECK(f.Get("c1").status == CheckpointStatus::kPending);
    // A valid rejection; a later approval and expiry are ignored.
    f.Apply("CheckpointRejected",
            {{"checkpoint_id", "c1"}, {"reason", "no"}, {"rejected_at_us", 300}}, "checkpoint/c1",
            "acme", Role::kAdmin);
    f.Apply("CheckpointApproved", {{"checkpoint_id", "c1"}, {"approved_at_us", 400}},
            "checkpoint/c1", "acme", Role::kAdmin);
    f.Apply("CheckpointExpired", {{"checkpoint_id", "c1"}, {"expired_at_us", 6000}},
            "checkpoint/c1", "acme", Role::kNone);
    CheckpointState st = f.Get("c1");
    CHECK(st.status == CheckpointStatus::kRejected);
    CHECK(st.reason == "no");
    // A second CheckpointCreated does not reset it.
    f.Apply("CheckpointCreated", Created("c1"), "checkpoint/c1", "acme");
    CHECK(f.Get("c1").status == CheckpointStatus::kRejected);
    CHECK(HitlCheckpointsProjection::Audit(f.txn, std::nullopt, 0, INT64_MAX, 10).value().size() ==
          2);
  }

  TEST_CASE("ExpiredLeavesTheExpiryIndex") {
    Folder f;
    f.Apply("CheckpointCreated", Created("a", 3000), "checkpoint/a", "acme");
    f.Apply("CheckpointCreated", Created("b", 2000), "checkpoint/b", "acme");
    f.Apply("CheckpointCreated", Created("never", 0), "checkpoint/never", "");
    auto due = HitlCheckpointsProjection::Due(f.txn, 10000, 10).value();
    REQUIRE(due.size() == 2);
    CHECK(due[0].second == "b");  // oldest deadline first
    CHECK(due[1].second == "a");
    // Paging resumes after the last entry.
    auto rest = HitlCheckpointsProjection::Due(f.txn, 10000, 10, due[0]).value();
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].second == "a");
    f.Apply("CheckpointExpired",
            {{"checkpoint_id", "b"}, {"expires_at_us", 2000}, {"expired_at_us", 2001}},
            "checkpoint/b", "acme", Role::kNone);
    due = HitlCheckpointsProjection::Due(f.txn, 10000, 10).value();
    REQUIRE(due.size() == 1);
    CHECK(due[0].second == "a");
    CHECK(f.Get("b").status == CheckpointStatus::kExpired);
    CHECK(f.Get("b").decided_at_us == 2001);
    CHECK(
        HitlCheckpointsProjection::List(f.txn, std::string(""), std::nullopt, 10).value().size() ==
        1);
  }

  TEST_CASE("RoleOrder") {
    CHECK(CheckpointRoleAllows(Role::kAdmin, Role::kAdmin));
    CHECK(CheckpointRoleAllows(Role::kAdmin, Role::kViewer));
    CHECK(CheckpointRoleAllows(Role::kOperator, Role::kViewer));
    CHECK_FALSE(CheckpointRoleAllows(Role::kOperator, Role::kAdmin));
    CHECK_FALSE(CheckpointRoleAllows(Role::kViewer, Role::kOperator));
    CHECK(CheckpointRoleAllows(Role::kAuditor, Role::kViewer));
    CHECK_FALSE(CheckpointRoleAllows(Role::kAuditor, Role::kOperator));
    CHECK_FALSE(CheckpointRoleAllows(Role::kNone, Role::kViewer));
  }

  TEST_CASE("ApplyIsDeterministic") {
    Folder a, b;
    for (Folder* f : {&a, &b}) {
      for (int i = 0; i < 20; ++i) {
        const std::string id = "c" + std::to_string(i);
        f->Apply("CheckpointCreated", Created(id, 1000 + i), "checkpoint/" + id,
                 i % 2 ? "acme" : "globex");
        if (i % 3 == 0) {
          f->Apply("CheckpointApproved", {{"checkpoint_id", id}, {"approved_at_us", 10}},
                   "checkpoint/" + id, i % 2 ? "acme" : "globex");
        }
      }
    }
    CHECK(a.p.Dump(a.txn).value() == b.p.Dump(b.txn).value());
  }
}
