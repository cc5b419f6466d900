#include <doctest/doctest.h>
#include <rocksdb/env.h>

#include <set>
#include <thread>

#include "log/event_id_index.h"
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

}  // namespace

TEST_SUITE("log/log") {
  TEST_CASE("AppendThenReadBackByFeedAndStream") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    Result<AppendResult> a = log->Append(MakeRequest("s/a", 3));
    REQUIRE(a.ok());
    CHECK(a->first_lsn == 1);
    CHECK(a->last_lsn == 3);
    CHECK(a->first_version == 1);
    CHECK(a->last_version == 3);
    CHECK_FALSE(a->deduplicated);
    Result<AppendResult> b = log->Append(MakeRequest("s/b", 2));
    REQUIRE(b.ok());
    CHECK(b->first_lsn == 4);
    CHECK(b->last_version == 2);
    CHECK(log->LastLsn() == 5);

    auto all = log->ReadAll(1, 100);
    REQUIRE(all.ok());
    REQUIRE(all->size() == 5);
    for (size_t i = 0; i < 5; ++i) CHECK((*all)[i].lsn == i + 1);
    auto from4 = log->ReadAll(4, 1);
    REQUIRE(from4.ok());
    REQUIRE(from4->size() == 1);
    CHECK((*from4)[0].stream == "s/b");

    auto sa = log->ReadStream("s/a", 2, 100);
    REQUIRE(sa.ok());
    REQUIRE(sa->size() == 2);
    CHECK((*sa)[0].stream_version == 2);
    CHECK((*sa)[1].lsn == 3);
    auto none = log->ReadStream("s/nope", 1, 100);
    REQUIRE(none.ok());
    CHECK(none->empty());
    // Stream "s/a" must not see "s/a2"-style neighbours.
    REQUIRE(log->Append(MakeRequest("s/a2", 1)).ok());
    CHECK(log->ReadStream("s/a", 1, 100)->size() == 3);

    auto head = log->GetStreamHead("s/a");
    REQUIRE(head.ok());
    CHECK(head->version == 3);
    CHECK(head->last_lsn == 3);
    CHECK(head->tenant == "t1");
    CHECK(log->GetStreamHead("s/nope").status().IsNotFound());
  }

  TEST_CASE("ExpectedVersionConflictWritesNothingAndNamesTheActualVersion") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    REQUIRE(log->Append(MakeRequest("s", 2, ExpectedVersion::NoStream())).ok());

    Result<AppendResult> again = log->Append(MakeRequest("s", 1, ExpectedVersion::NoStream()));
    REQUIRE_FALSE(again.ok());
    CHECK(again.status().IsConflict());
    CHECK(again.status().actual_version() == 2);
    CHECK(again.status().message().find("actual version 2") != std::string::npos);

    Result<AppendResult> stale = log->Append(MakeRequest("s", 3, ExpectedVersion::Exact(1)));
    REQUIRE_FALSE(stale.ok());
    CHECK(stale.status().IsConflict());
    CHECK(log->LastLsn() == 2);
    CHECK(log->GetStreamHead("s")->version == 2);

    Result<AppendResult> ok = log->Append(MakeRequest("s", 1, ExpectedVersion::Exact(2)));
    REQUIRE(ok.ok());
    CHECK(ok->last_version == 3);
    CHECK(ok->first_lsn == 3);  // the failed appends consumed no LSN

    Result<AppendResult> fresh = log->Append(MakeRequest("t", 1, ExpectedVersion::Exact(0)));
    CHECK(fresh.ok());
    CHECK(log->stats().conflicts == 2);
  }

  TEST_CASE("ResentEventIdsReturnTheOriginalResultAlsoAfterRestart") {
    TempDir dir;
    AppendRequest req = MakeRequest("s", 3, ExpectedVersion::NoStream());
    AppendResult first;
    {
      auto log = OpenLog(dir.path());
      Result<AppendResult> r = log->Append(req);
      REQUIRE(r.ok());
      first = *r;
      REQUIRE(log->Append(MakeRequest("other", 1)).ok());
      // Retry: the expected version no longer holds, but the ids match.
      Result<AppendResult> retry = log->Append(req);
      REQUIRE(retry.ok());
      CHECK(retry->deduplicated);
      CHECK(retry->first_lsn == first.first_lsn);
      CHECK(retry->last_lsn == first.last_lsn);
      CHECK(retry->last_version == 3);
      CHECK(log->LastLsn() == 4);
    }
    auto log = OpenLog(dir.path());
    Result<AppendResult> retry = log->Append(req);
    REQUIRE(retry.ok());
    CHECK(retry->deduplicated);
    CHECK(retry->first_lsn == first.first_lsn);
    CHECK(retry->last_lsn == first.last_lsn);
    CHECK(retry->event_ids == first.event_ids);
    CHECK(log->LastLsn() == 4);
  }

  TEST_CASE("PartlyResentIdsOrAnotherStreamAreIdempotencyConflicts") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    AppendRequest req = MakeRequest("s", 2);
    REQUIRE(log->Append(req).ok());

    AppendRequest mixed = MakeRequest("s", 2);
    mixed.events[0].event_id = req.events[1].event_id;
    Result<AppendResult> r = log->Append(mixed);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kIdempotencyConflict);

    AppendRequest moved = req;
    moved.stream = "elsewhere";
    r = log->Append(moved);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kIdempotencyConflict);

    AppendRequest reordered = req;
    std::swap(reordered.events[0], reordered.events[1]);
    r = log->Append(reordered);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kIdempotencyConflict);

    AppendRequest dup = MakeRequest("s", 2);
    dup.events[1].event_id = dup.events[0].event_id;
    r = log->Append(dup);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().IsInvalidArgument());
    CHECK(log->LastLsn() == 2);
  }

  TEST_CASE("BadRequestsAreRejectedWithoutWriting") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    CHECK(log->Append(MakeRequest("", 1)).status().IsInvalidArgument());
    CHECK(log->Append(MakeRequest("bad stream", 1)).status().IsInvalidArgument());
    CHECK(log->Append(MakeRequest("s", 0)).status().IsInvalidArgument());
    AppendRequest zero = MakeRequest("s", 1);
    zero.events[0].type = 0;
    CHECK(log->Append(zero).status().IsInvalidArgument());
    REQUIRE(log->Append(MakeRequest("s", 1, ExpectedVersion::Any(), "t1")).ok());
    // Another tenant's stream looks like a missing one.
    Result<AppendResult> other = log->Append(MakeRequest("s", 1, ExpectedVersion::Any(), "t2"));
    CHECK(other.status().IsNotFound());
    CHECK(log->LastLsn() == 1);
  }

  TEST_CASE("EightConcurrentWritersGetDenseUniqueLsnsAndIntactChains") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    constexpr int kThreads = 8;
    constexpr int kPerThread = 200;
    std::vector<std::vector<uint64_t>> lsns(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          // Half the writers share one stream to exercise in-group chaining.
          const std::string stream = t % 2 == 0 ? "shared" : "own/" + std::to_string(t);
          Result<AppendResult> r = log->Append(MakeRequest(stream, 1 + i % 3));
          if (!r.ok()) continue;
          for (uint64_t l = r->first_lsn; l <= r->last_lsn; ++l) lsns[t].push_back(l);
        }
      });
    }
    for (auto& th : threads) th.join();
    std::set<uint64_t> all;
    size_t total = 0;
    for (auto& v : lsns) {
      total += v.size();
      all.insert(v.begin(), v.end());
    }
    CHECK(all.size() == total);  // unique
    REQUIRE(!all.empty());
    CHECK(*all.begin() == 1);
    CHECK(*all.rbegin() == total);  // dense
    CHECK(log->LastLsn() == total);
    VerifyReport report = VerifyLog(*log, VerifyOptions{});
    CHECK_MESSAGE(report.clean(), (report.problems.empty() ? report.status.ToString()
                                                           : report.problems[0].ToString()));
    CHECK(report.records == total);
    CHECK(log->stats().group_commits <= log->stats().appends);
  }

  TEST_CASE("ReopenKeepsEverything") {
    TempDir dir;
    std::vector<Event> before;
    {
      auto log = OpenLog(dir.path());
      for (int i = 0; i < 50; ++i) REQUIRE(log->Append(MakeRequest("s/" + std::to_string(i % 7), 2)).ok());
      before = log->ReadAll(1, 1000).value();
    }
    auto log = OpenLog(dir.path());
    CHECK(log->LastLsn() == 100);
    auto after = log->ReadAll(1, 1000);
    REQUIRE(after.ok());
    REQUIRE(after->size() == before.size());
    for (size_t i = 0; i < before.size(); ++i) {
      CHECK((*after)[i].event_id == before[i].event_id);
      CHECK((*after)[i].prev_hash == before[i].prev_hash);
      CHECK((*after)[i].payload == before[i].payload);
    }
    // Appends continue the sequence and the chains.
    Result<AppendResult> r = log->Append(MakeRequest("s/0", 1));
    REQUIRE(r.ok());
    CHECK(r->first_lsn == 101);
    CHECK(VerifyLog(*log, VerifyOptions{}).clean());
  }

  TEST_CASE("RecordedTimeNeverDecreases") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    for (int i = 0; i < 20; ++i) REQUIRE(log->Append(MakeRequest("s", 1)).ok());
    auto all = log->ReadAll(1, 100).value();
    for (size_t i = 1; i < all.size(); ++i) CHECK(all[i].recorded_at_us >= all[i - 1].recorded_at_us);
  }

  TEST_CASE("WaitForLsnReturnsWhenDurableAndTimesOutOtherwise") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    CHECK(log->WaitForLsn(1, std::chrono::milliseconds(20)).code() == Status::Code::kTimedOut);
    std::thread writer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      (void)log->Append(MakeRequest("s", 2));  // checked through WaitForLsn below
    });
    CHECK(log->WaitForLsn(2, std::chrono::seconds(10)).ok());
    writer.join();
    CHECK(log->WaitForLsn(1, std::chrono::milliseconds(0)).ok());
  }

  TEST_CASE("AsyncAppendCompletesOnTheWriterThread") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    std::atomic<int> done{0};
    for (int i = 0; i < 10; ++i) {
      log->AppendAsync(MakeRequest("s", 1), [&](Result<AppendResult> r) {
        CHECK(r.ok());
        done.fetch_add(1);
      });
    }
    CHECK(log->WaitForLsn(10, std::chrono::seconds(10)).ok());
    for (int i = 0; i < 3000 && done.load() < 10; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // generous: a loaded machine
    }
    CHECK(done.load() == 10);
  }

  TEST_CASE("FullDiskMakesTheLogReadOnlyAndAcknowledgesNothing") {
    TempDir dir;
    auto fs = std::make_shared<FailingFs>();
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
    LogOptions o = TestLogOptions(dir.path());
    o.env = env.get();
    std::vector<Event> durable;
    {
      auto opened = Log::Open(o);
      REQUIRE(opened.ok());
      auto& log = *opened;
      REQUIRE(log->Append(MakeRequest("s", 2)).ok());
      fs->set_fail(true);
      Result<AppendResult> r = log->Append(MakeRequest("s", 1));
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().IsIOError());
      CHECK(r.status().message().find("no space") != std::string::npos);
      CHECK(log->health().IsIOError());
      fs->set_fail(false);
      // Stays read-only: the engine never half-acknowledges after a failure.
      Result<AppendResult> later = log->Append(MakeRequest("s", 1));
      CHECK(later.status().IsReadOnly());
      CHECK(log->LastLsn() == 2);
      durable = log->ReadAll(1, 100).value();
    }
    // After a restart the failed append is absent, the rest verifies.
    auto log = OpenLog(dir.path());
    CHECK(log->LastLsn() == 2);
    CHECK(VerifyLog(*log, VerifyOptions{}).clean());
    REQUIRE(log->Append(MakeRequest("s", 1, ExpectedVersion::Exact(2))).ok());
  }

  TEST_CASE("ReadOnlyInstanceFollowsAWriterAndRefusesAppends") {
    TempDir dir;
    auto writer = OpenLog(dir.path());
    REQUIRE(writer->Append(MakeRequest("s", 2)).ok());
    LogOptions ro = TestLogOptions(dir.path());
    ro.read_only = true;
    auto reader = Log::Open(ro);
    REQUIRE_MESSAGE(reader.ok(), reader.status().ToString());
    CHECK((*reader)->LastLsn() == 2);
    REQUIRE(writer->Append(MakeRequest("s", 3)).ok());
    REQUIRE((*reader)->Refresh().ok());
    CHECK((*reader)->LastLsn() == 5);
    CHECK((*reader)->ReadAll(1, 100)->size() == 5);
    CHECK((*reader)->Append(MakeRequest("s", 1)).status().IsReadOnly());
  }

  TEST_CASE("SecondWriterOnTheSameDirectoryIsBusy") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    Result<std::unique_ptr<Log>> second = Log::Open(TestLogOptions(dir.path()));
    REQUIRE_FALSE(second.ok());
    CHECK(second.status().code() == Status::Code::kBusy);
  }

  TEST_CASE("MissingDirectoryWithoutCreateIsNotFound") {
    TempDir dir;
    LogOptions o = TestLogOptions(dir.Sub("absent"));
    o.create_if_missing = false;
    CHECK(Log::Open(o).status().IsNotFound());
  }
}

TEST_SUITE("log/event_id_index") {
  TEST_CASE("IdempotencyHoldsAcrossIngestionAndRestart") {
    TempDir dir;
    LogOptions o = TestLogOptions(dir.path());
    o.id_ingest_batch = 50;
    std::vector<AppendRequest> sent;
    std::vector<AppendResult> results;
    {
      auto log = Log::Open(o).value();
      for (int i = 0; i < 30; ++i) {
        sent.push_back(MakeRequest("s/" + std::to_string(i % 4), 1 + i % 5));
        results.push_back(log->Append(sent.back()).value());
      }
      REQUIRE(log->event_id_index().IngestAll().ok());
      CHECK(log->event_id_index().ingested_through() == log->LastLsn());
      log->event_id_index().Prune();
      CHECK(log->event_id_index().in_memory() == 0);
      // Found in the column family now.
      for (size_t i = 0; i < sent.size(); ++i) {
        CHECK(log->FindEventId(sent[i].events[0].event_id).value() == results[i].first_lsn);
      }
      Result<AppendResult> retry = log->Append(sent[3]);
      REQUIRE(retry.ok());
      CHECK(retry->deduplicated);
      CHECK(retry->first_lsn == results[3].first_lsn);
      // Some ids stay in memory only.
      sent.push_back(MakeRequest("s/x", 3));
      results.push_back(log->Append(sent.back()).value());
    }
    auto log = Log::Open(o).value();
    const uint64_t last = log->LastLsn();
    for (size_t i = 0; i < sent.size(); ++i) {
      Result<AppendResult> retry = log->Append(sent[i]);
      REQUIRE(retry.ok());
      CHECK(retry->deduplicated);
      CHECK(retry->first_lsn == results[i].first_lsn);
      CHECK(retry->last_lsn == results[i].last_lsn);
    }
    CHECK(log->LastLsn() == last);
    CHECK(VerifyLog(*log, VerifyOptions{}).clean());
  }

  TEST_CASE("ManyIngestRoundsKeepEveryLookupExact") {
    TempDir dir;
    LogOptions o = TestLogOptions(dir.path());
    o.id_ingest_batch = 1 << 30;  // ingest by hand below
    auto log = Log::Open(o).value();
    std::vector<std::pair<EventId, uint64_t>> all;
    for (int round = 0; round < 20; ++round) {
      for (int i = 0; i < 15; ++i) {
        AppendRequest r = MakeRequest("s/" + std::to_string(i % 3), 1 + (round + i) % 9);
        auto res = log->Append(r).value();
        for (size_t k = 0; k < r.events.size(); ++k) {
          all.emplace_back(r.events[k].event_id, res.first_lsn + k);
        }
      }
      if (round % 3 == 2) {
        REQUIRE(log->event_id_index().IngestAll().ok());
        log->event_id_index().Prune();
        CHECK(log->event_id_index().in_memory() == 0);
      }
      for (const auto& [id, lsn] : all) REQUIRE(log->FindEventId(id).value() == lsn);
    }
  }

  TEST_CASE("BackgroundIngestionKeepsUpAndLookupsStayExact") {
    TempDir dir;
    LogOptions o = TestLogOptions(dir.path());
    o.id_ingest_batch = 64;
    auto log = Log::Open(o).value();
    std::vector<std::pair<EventId, uint64_t>> all;
    for (int i = 0; i < 100; ++i) {
      AppendRequest r = MakeRequest("s", 5);
      auto res = log->Append(r).value();
      for (size_t k = 0; k < r.events.size(); ++k) all.emplace_back(r.events[k].event_id, res.first_lsn + k);
    }
    // Background work: wait for it generously (a loaded CI machine can hold
    // the thread off for seconds); this asserts that it happens, not when.
    for (int i = 0; i < 3000 && log->event_id_index().ingested_through() < 448; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(log->event_id_index().ingested_through() >= 448);
    for (const auto& [id, lsn] : all) CHECK(log->FindEventId(id).value() == lsn);
    CHECK(log->FindEventId(RandomEventId()).status().IsNotFound());
  }
}
