#include <doctest/doctest.h>

#include "projections/audit_index.h"
#include "projections/stream_stats.h"
#include "projections/view_store.h"
#include "tests/test_util.h"

#include <rocksdb/db.h>

using namespace logbook;

namespace {
Event Ev(uint64_t lsn, const std::string& stream, uint64_t version, const std::string& tenant,
         uint16_t type, const std::string& actor, int64_t ts) {
  Event e;
  e.lsn = lsn;
  e.stream = stream;
  e.stream_version = version;
  e.tenant = tenant;
  e.type = type;
  e.actor = {actor, Role::kOperator};
  e.recorded_at_us = ts;
  return e;
}
}  // namespace

TEST_SUITE("projections") {
  TEST_CASE("StreamStatsKeepsHeadsAndCounts") {
    StreamStatsProjection p;
    MemViewTxn txn;
    REQUIRE(p.Apply(Ev(1, "a", 1, "t1", 100, "x", 10), txn).ok());
    REQUIRE(p.Apply(Ev(2, "a", 2, "t1", 101, "x", 11), txn).ok());
    REQUIRE(p.Apply(Ev(3, "b", 1, "t2", 100, "y", 12), txn).ok());
    REQUIRE(p.Apply(Ev(4, "$sys", 1, "", 1, "system", 13), txn).ok());
    auto head = StreamStatsProjection::GetHead(txn, "a").value();
    REQUIRE(head.has_value());
    CHECK(head->version == 2);
    CHECK(head->last_lsn == 2);
    CHECK(head->last_type == 101);
    CHECK_FALSE(StreamStatsProjection::GetHead(txn, "zzz").value().has_value());
    auto counts = StreamStatsProjection::Counts(txn).value();
    CHECK(counts["t1"]["SessionStarted"] == 1);
    CHECK(counts["t1"]["TurnProposed"] == 1);
    CHECK(counts["t2"]["SessionStarted"] == 1);
    CHECK(counts["(system)"]["LogCreated"] == 1);
  }

  TEST_CASE("ApplyIsDeterministic") {
    MemViewTxn a, b;
    StreamStatsProjection p1, p2;
    AuditIndexProjection q1, q2;
    for (uint64_t i = 1; i <= 50; ++i) {
      Event e = Ev(i, "s" + std::to_string(i % 5), i / 5 + 1, "t" + std::to_string(i % 2),
                   static_cast<uint16_t>(100 + i % 3), "a" + std::to_string(i % 4),
                   static_cast<int64_t>(1000 + i));
      REQUIRE(p1.Apply(e, a).ok());
      REQUIRE(q1.Apply(e, a).ok());
      REQUIRE(p2.Apply(e, b).ok());
      REQUIRE(q2.Apply(e, b).ok());
    }
    CHECK(p1.Dump(a).value() == p2.Dump(b).value());
    CHECK(q1.Dump(a).value() == q2.Dump(b).value());
  }

  TEST_CASE("AuditIndexPicksAnIndexAndFiltersTheRest") {
    AuditIndexProjection p;
    MemViewTxn txn;
    REQUIRE(p.Apply(Ev(1, "s", 1, "acme", 100, "alice", 100), txn).ok());
    REQUIRE(p.Apply(Ev(2, "s", 2, "acme", 101, "bob", 200), txn).ok());
    REQUIRE(p.Apply(Ev(3, "s2", 1, "globex", 101, "alice", 300), txn).ok());
    AuditQuery q;
    q.actor = "alice";
    auto hits = AuditIndexProjection::Query(txn, q).value();
    REQUIRE(hits.size() == 2);
    CHECK(hits[0].lsn == 1);
    CHECK(hits[1].lsn == 3);
    q.tenant = "globex";
    CHECK(AuditIndexProjection::Query(txn, q).value().size() == 1);
    AuditQuery t;
    t.type = 101;
    t.from_us = 250;
    hits = AuditIndexProjection::Query(txn, t).value();
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].actor == "alice");
    AuditQuery range;
    range.tenant = "acme";
    range.from_us = 100;
    range.to_us = 200;
    CHECK(AuditIndexProjection::Query(txn, range).value().size() == 1);
    // Time alone is served by the engine from the log, not by this view.
    AuditQuery time_only;
    CHECK(AuditIndexProjection::Query(txn, time_only).status().IsInvalidArgument());
  }
}

TEST_SUITE("projections/view_store") {
  TEST_CASE("BatchReadsItsOwnWritesOverTheStoredView") {
    logbook::test::TempDir dir;
    auto log = Log::Open(logbook::test::TestLogOptions(dir.path())).value();
    {
      RocksViewBatch b(log->db(), log->views_cf());
      auto t = b.ForView("v");
      t->Put("a1", "x");
      t->Put("a3", "x");
      t->Put("a5", "x");
      t->Put("b1", "other prefix");
      auto other = b.ForView("w");
      other->Put("a2", "another view");
      REQUIRE(log->db()->Write(rocksdb::WriteOptions(), b.GetWriteBatch()).ok());
    }
    RocksViewBatch b(log->db(), log->views_cf());
    auto t = b.ForView("v");
    t->Put("a2", "new");
    t->Put("a3", "changed");
    t->Delete("a5");
    CHECK(t->Get("a3").value().value() == "changed");
    CHECK_FALSE(t->Get("a5").value().has_value());
    CHECK(t->Get("a1").value().value() == "x");
    std::vector<std::string> seen;
    REQUIRE(t->Scan("a", [&](std::string_view k, std::string_view v) {
                 seen.push_back(std::string(k) + "=" + std::string(v));
                 return true;
               }).ok());
    CHECK(seen == std::vector<std::string>{"a1=x", "a2=new", "a3=changed"});
    seen.clear();
    REQUIRE(t->Scan("a", "a2", [&](std::string_view k, std::string_view) {
                 seen.push_back(std::string(k));
                 return seen.size() < 1;
               }).ok());
    CHECK(seen == std::vector<std::string>{"a2"});
  }
}
