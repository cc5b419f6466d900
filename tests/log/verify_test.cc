#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <filesystem>
#include <fstream>

#include "log/log.h"
#include "log/verify.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;

namespace {

std::unique_ptr<Log> OpenLog(const std::string& dir, size_t verify_tail = 1024) {
  LogOptions o = TestLogOptions(dir);
  o.verify_tail_records = verify_tail;
  Result<std::unique_ptr<Log>> r = Log::Open(o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

void Fill(Log& log) {
  for (int i = 0; i < 10; ++i) REQUIRE(log.Append(MakeRequest("s/" + std::to_string(i % 3), 2)).ok());
}

}  // namespace

TEST_SUITE("log/verify") {
  TEST_CASE("CleanLogVerifies") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    Fill(*log);
    VerifyReport r = VerifyLog(*log, VerifyOptions{});
    CHECK(r.clean());
    CHECK(r.records == 20);
    CHECK(r.streams == 3);
    CHECK(r.first_lsn == 1);
    CHECK(r.last_lsn == 20);
  }

  TEST_CASE("FlippedPayloadByteIsCaughtByVerifyAndOnOpen") {
    TempDir dir;
    {
      auto log = OpenLog(dir.path());
      Fill(*log);
      const std::string rec = RawRecord(*log, 7);
      FlipRecordByte(*log, 7, rec.size() - 3);
      VerifyReport r = VerifyLog(*log, VerifyOptions{});
      REQUIRE_FALSE(r.problems.empty());
      CHECK(r.problems[0].lsn == 7);
      CHECK(r.problems[0].what.find("checksum mismatch") != std::string::npos);
      CHECK(log->ReadEvent(7).status().IsCorruption());
    }
    LogOptions o = TestLogOptions(dir.path());
    Result<std::unique_ptr<Log>> reopened = Log::Open(o);
    REQUIRE_FALSE(reopened.ok());
    CHECK(reopened.status().IsCorruption());
    CHECK(reopened.status().message().find("LSN 7") != std::string::npos);
    // The operator can still open it for the full report.
    auto log = OpenLog(dir.path(), /*verify_tail=*/0);
    CHECK_FALSE(VerifyLog(*log, VerifyOptions{}).clean());
  }

  TEST_CASE("FlippedHeaderByteIsCaught") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    Fill(*log);
    FlipRecordByte(*log, 3, 20);
    VerifyReport r = VerifyLog(*log, VerifyOptions{});
    REQUIRE_FALSE(r.problems.empty());
    CHECK(r.problems[0].lsn == 3);
  }

  TEST_CASE("MissingRecordBreaksContinuity") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    Fill(*log);
    DeleteRecord(*log, 5);
    VerifyReport r = VerifyLog(*log, VerifyOptions{});
    REQUIRE_FALSE(r.problems.empty());
    CHECK(r.problems[0].lsn == 5);
    CHECK(r.problems[0].what.find("missing") != std::string::npos);
  }

  TEST_CASE("RewrittenRecordWithAValidChecksumBreaksTheChain") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    Fill(*log);
    // Re-encode LSN 4 with another payload: its own checksum is valid, but the
    // next event of the stream chains from the original bytes.
    Event e = log->ReadEvent(4).value();
    e.payload = "tampered";
    RecordEncoder enc;
    std::string rec;
    enc.Encode(e, &rec);
    OverwriteRecord(*log, 4, rec);
    REQUIRE(log->ReadEvent(4).ok());  // decodes fine on its own
    VerifyReport r = VerifyLog(*log, VerifyOptions{});
    REQUIRE_FALSE(r.problems.empty());
    bool chain = false;
    for (const auto& p : r.problems) chain |= p.what.find("chain") != std::string::npos;
    CHECK(chain);
  }

  TEST_CASE("FlippedByteInATableFileOnDiskIsCaught") {
    TempDir dir;
    {
      auto log = OpenLog(dir.path());
      Fill(*log);
      REQUIRE(log->db()->Flush(rocksdb::FlushOptions(), log->events_cf()).ok());
    }
    // Flip one byte in the middle of every table file.
    int flipped = 0;
    for (const auto& f : std::filesystem::directory_iterator(dir.path())) {
      if (f.path().extension() != ".sst") continue;
      std::fstream io(f.path(), std::ios::in | std::ios::out | std::ios::binary);
      io.seekg(0, std::ios::end);
      const auto size = static_cast<long>(io.tellg());
      io.seekg(size / 4);
      char c;
      io.read(&c, 1);
      c = static_cast<char>(c ^ 0x40);
      io.seekp(size / 4);
      io.write(&c, 1);
      ++flipped;
    }
    REQUIRE(flipped > 0);
    LogOptions o = TestLogOptions(dir.path());
    o.verify_tail_records = 0;
    Result<std::unique_ptr<Log>> log = Log::Open(o);
    if (!log.ok()) {
      CHECK(log.status().IsCorruption());  // RocksDB refused the damaged file
      return;
    }
    VerifyReport r = VerifyLog(**log, VerifyOptions{});
    CHECK_FALSE(r.clean());
  }

  TEST_CASE("VerifyFromTheMiddleChecksChainsAgainstStoredPredecessors") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    Fill(*log);
    VerifyOptions o;
    o.from_lsn = 11;
    VerifyReport r = VerifyLog(*log, o);
    CHECK(r.clean());
    CHECK(r.records == 10);
  }

  TEST_CASE("StreamIndexPointingElsewhereIsReported") {
    TempDir dir;
    auto log = OpenLog(dir.path());
    Fill(*log);
    // The append that wrote versions 3..4 of "s/0" now claims LSNs 1 and 2.
    const std::string key = Log::StreamIndexKey("s/0", 3);
    std::string v;
    REQUIRE(log->db()->Get(rocksdb::ReadOptions(), log->stream_index_cf(), key, &v).ok());
    REQUIRE(v.size() == 12);
    const std::string bad = std::string(7, '\0') + '\x01' + v.substr(8);
    REQUIRE(log->db()->Put(rocksdb::WriteOptions(), log->stream_index_cf(), key, bad).ok());
    VerifyReport r = VerifyLog(*log, VerifyOptions{});
    REQUIRE_FALSE(r.problems.empty());
    bool index = false;
    for (const auto& p : r.problems) index |= p.what.find("stream index") != std::string::npos;
    CHECK(index);
  }
}
