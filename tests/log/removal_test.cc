// Removed records (docs/log_format.md "Removed records"): retention pruning
// and tenant erasure at the log level.

#include <doctest/doctest.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <thread>

#include "log/log.h"
#include "log/verify.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;

namespace {

std::unique_ptr<Log> OpenLog(const std::string& dir) {
  Result<std::unique_ptr<Log>> r = Log::Open(TestLogOptions(dir));
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

std::vector<uint64_t> Lsns(const std::vector<Event>& events) {
  std::vector<uint64_t> out;
  for (const Event& e : events) out.push_back(e.lsn);
  return out;
}

void CheckClean(const Log& log) {
  VerifyReport r = VerifyLog(log, VerifyOptions{});
  for (const auto& p : r.problems) MESSAGE(p.ToString());
  CHECK(r.clean());
}

}  // namespace

TEST_SUITE("log/removal") {
  TEST_CASE("RemovedRecordRoundTripsAndRejectsFlippedBytes") {
    RemovedRecord r;
    r.lsn = 42;
    r.stream_version = 7;
    r.chain_hash.fill(0xab);
    r.stream = "session/s1";
    r.tenant = "acme";
    const std::string bytes = EncodeRemovedRecord(r);
    CHECK(bytes.size() % 8 == 0);
    CHECK(IsRemovedRecord(bytes));
    RemovedRecord back;
    REQUIRE(DecodeRemovedRecord(bytes, &back).ok());
    CHECK(back.lsn == 42);
    CHECK(back.stream_version == 7);
    CHECK(back.chain_hash == r.chain_hash);
    CHECK(back.stream == "session/s1");
    CHECK(back.tenant == "acme");
    CHECK(back.reason == RemovalReason::kRetention);
    for (size_t i = 8; i < bytes.size(); ++i) {
      std::string bad = bytes;
      bad[i] ^= 0x01;
      CHECK_FALSE(DecodeRemovedRecord(bad, &back).ok());
    }
    Event e;
    CHECK(DecodeRecord(bytes, &e).IsCorruption());  // not an event
  }

  TEST_CASE("RetentionPrefixKeepsLsnsDenseChainsAndHeads") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    // a: versions 1..4 at LSNs 1,2,5,6; b: 1..2 at LSNs 3,4.
    REQUIRE(log->Append(MakeRequest("a", 2)).ok());
    REQUIRE(log->Append(MakeRequest("b", 2)).ok());
    REQUIRE(log->Append(MakeRequest("a", 2)).ok());
    const StreamHead before = *log->GetStreamHead("a");

    Result<uint64_t> n = log->RemoveEvents({1, 2, 3}, RemovalReason::kRetention, {});
    REQUIRE_MESSAGE(n.ok(), n.status().ToString());
    CHECK(*n == 3);
    // A rerun replaces nothing.
    CHECK(*log->RemoveEvents({1, 2, 3}, RemovalReason::kRetention, {}) == 0);

    CHECK(Lsns(*log->ReadAll(1, 100)) == std::vector<uint64_t>{4, 5, 6});
    std::vector<Event> with_removed = *log->ReadAll(1, 100, true);
    REQUIRE(with_removed.size() == 6);
    CHECK(with_removed[0].removed);
    CHECK(with_removed[0].stream == "a");
    CHECK(with_removed[0].stream_version == 1);
    CHECK_FALSE(with_removed[3].removed);
    CHECK(Lsns(*log->ReadStream("a", 1, 100)) == std::vector<uint64_t>{5, 6});
    CHECK(log->ReadEvent(2).status().IsNotFound());
    CHECK(log->ReadEvent(2).status().message().find("removed") != std::string::npos);
    CheckClean(*log);

    // Removing a stream's last event leaves its head as it was.
    REQUIRE(log->RemoveEvents({4}, RemovalReason::kRetention, {}).ok());
    Result<StreamHead> hb = log->GetStreamHead("b");
    REQUIRE(hb.ok());
    CHECK(hb->version == 2);
    CHECK(hb->tenant == "t1");
    const StreamHead after = *log->GetStreamHead("a");
    CHECK(after.version == before.version);
    CHECK(after.last_hash == before.last_hash);
    CheckClean(*log);

    // Appends go on chaining from the removed records' hashes, also after a
    // restart (heads are derived again).
    REQUIRE(log->Append(MakeRequest("b", 1, ExpectedVersion::Exact(2))).ok());
    log.reset();
    log = OpenLog(dir.path());
    REQUIRE(log->Append(MakeRequest("a", 1, ExpectedVersion::Exact(4))).ok());
    CHECK(log->GetStreamHead("b")->version == 3);
    CheckClean(*log);
  }

  TEST_CASE("TenantErasureForgetsTheStreamsAndKeepsTheOthersVerifiable") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    REQUIRE(log->Append(MakeRequest("x/1", 2, ExpectedVersion::Any(), "gone")).ok());
    REQUIRE(log->Append(MakeRequest("y/1", 2, ExpectedVersion::Any(), "kept")).ok());
    REQUIRE(log->Append(MakeRequest("x/1", 1, ExpectedVersion::Any(), "gone")).ok());
    // The writer has x/1's head cached at version 3.
    Result<uint64_t> n = log->RemoveEvents({1, 2, 5}, RemovalReason::kTenantErased, {"x/1"});
    REQUIRE(n.ok());
    CHECK(*n == 3);
    CHECK(log->GetStreamHead("x/1").status().IsNotFound());
    CHECK(log->ReadStream("x/1", 1, 10)->empty());
    std::vector<Event> all = *log->ReadAll(1, 100, true);
    REQUIRE(all.size() == 5);
    CHECK(all[0].removed);
    CHECK(all[0].stream.empty());
    CHECK(all[0].tenant.empty());
    // Nothing of the tenant remains in the removed records' bytes.
    const std::string raw = RawRecord(*log, 1);
    CHECK(raw.find("gone") == std::string::npos);
    CHECK(raw.find("x/1") == std::string::npos);
    CheckClean(*log);

    // The stream name is free again: it starts over at version 1, even for
    // another tenant.
    Result<AppendResult> again = log->Append(MakeRequest("x/1", 1, ExpectedVersion::NoStream(), "new"));
    REQUIRE_MESSAGE(again.ok(), again.status().ToString());
    CHECK(again->first_version == 1);
    CheckClean(*log);
    log.reset();
    log = OpenLog(dir.path());
    CheckClean(*log);
  }

  TEST_CASE("RetryOfARemovedEventsIdIsAConflictNotASecondCopy") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    AppendRequest req = MakeRequest("a", 1);
    Result<AppendResult> first = log->Append(req);
    REQUIRE(first.ok());
    REQUIRE(log->RemoveEvents({first->first_lsn}, RemovalReason::kRetention, {}).ok());
    AppendRequest retry = req;
    retry.events[0].event_id = first->event_ids[0];
    Result<AppendResult> r = log->Append(retry);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kIdempotencyConflict);
    CHECK(log->LastLsn() == 1);
  }

  TEST_CASE("OnlyDurableEventsCanBeRemovedAndAppendsInterleaveSafely") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    REQUIRE(log->Append(MakeRequest("a", 1)).ok());
    CHECK(log->RemoveEvents({2}, RemovalReason::kRetention, {}).status().code() ==
          Status::Code::kInvalidArgument);
    CHECK(log->RemoveEvents({0}, RemovalReason::kRetention, {}).status().code() ==
          Status::Code::kInvalidArgument);
    // Appends from threads while removals run: the log stays verifiable.
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int t = 0; t < 3; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < 200 && !stop; ++i) {
          CHECK(log->Append(MakeRequest("w/" + std::to_string(t), 1)).ok());
        }
      });
    }
    for (int i = 0; i < 30; ++i) {
      const uint64_t last = log->LastLsn();
      std::vector<uint64_t> lsns;
      for (uint64_t l = 1; l <= last; l += 3) lsns.push_back(l);
      // Only whole prefixes of streams are pruned by retention; here any
      // LSN goes, which the log allows and verify accepts.
      REQUIRE(log->RemoveEvents(lsns, RemovalReason::kRetention, {}).ok());
    }
    stop = true;
    for (auto& w : writers) w.join();
    CheckClean(*log);
  }

  TEST_CASE("ExtraWritesLandAtomicallyWithTheRemoval") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    REQUIRE(log->Append(MakeRequest("a", 2)).ok());
    REQUIRE(log->RemoveEvents({1}, RemovalReason::kRetention, {},
                              [&](rocksdb::WriteBatch* b) {
                                b->Put(log->meta_cf(), "test/marker", "1");
                                return Status::OK();
                              })
                .ok());
    std::string v;
    CHECK(log->db()->Get(rocksdb::ReadOptions(), log->meta_cf(), "test/marker", &v).ok());
    CHECK(v == "1");
    // A failing extra writes nothing.
    Result<uint64_t> failed = log->RemoveEvents({2}, RemovalReason::kRetention, {},
                                                [](rocksdb::WriteBatch*) {
                                                  return Status::InvalidArgument("no");
                                                });
    CHECK_FALSE(failed.ok());
    CHECK(log->ReadEvent(2).ok());
  }
}
