// Retention pruning and tenant export/delete (engine/retention.h,
// engine/tenants.h): exactly the expired set goes, holds block, what remains
// verifies, crypto-shredding reaches copies taken before the delete.

#include "engine/retention.h"

#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "engine/hitl.h"
#include "engine/holds.h"
#include "projections/hitl_checkpoints.h"
#include "engine/sessions.h"
#include "engine/tenants.h"
#include "log/verify.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kDay = 86400LL * 1000000;
const Actor kBy{"ops-carol", Role::kCompliance};

struct Clock {
  std::shared_ptr<std::atomic<int64_t>> now = std::make_shared<std::atomic<int64_t>>(
      int64_t{1767225600} * 1000000);  // 2026-01-01
  void Advance(int64_t us) { *now += us; }
};

std::unique_ptr<Engine> OpenAt(const std::string& dir, const Clock& clock, bool keys = false) {
  EngineOptions o;
  o.data_dir = dir;
  auto now = clock.now;
  o.clock = [now] { return now->load(); };
  o.log_clock = o.clock;
  if (keys) {
    o.key_dir = dir + ".keys";
    o.create_keys = true;
  }
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  REQUIRE_MESSAGE(e.ok(), e.status().ToString());
  return std::move(e).value();
}

// Appends one event through the engine's JSON path.
uint64_t Put(Engine& e, const std::string& stream, const std::string& tenant,
             const std::string& type, const std::string& payload = "{}") {
  Result<AppendResult> r =
      e.AppendJson(stream, tenant, kBy, ExpectedVersion::Any(), {{type, "", payload}});
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return r->last_lsn;
}

std::string Usage(const std::string& tenant) {
  return R"({"tenant":")" + tenant +
         R"(","provider":"openai","model":"gpt-4o","kind":"chat","tokens_in":10,"tokens_out":5})";
}

void CheckClean(Engine& e) {
  VerifyReport r = VerifyLog(e.log(), VerifyOptions{});
  for (const auto& p : r.problems) MESSAGE(p.ToString());
  CHECK(r.clean());
}

std::vector<uint64_t> PresentLsns(Engine& e) {
  std::vector<uint64_t> out;
  const std::vector<Event> all = *e.log().ReadAll(1, 100000);
  for (const Event& ev : all) out.push_back(ev.lsn);
  return out;
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t n = 0;
  for (const auto& f : fs::recursive_directory_iterator(dir)) {
    if (f.is_regular_file()) n += f.file_size();
  }
  return n;
}

// Bytes of the table files: what stays on disk once memtables are flushed
// (the WAL goes when every column family has been flushed past it).
uint64_t SstBytes(const std::string& dir) {
  uint64_t n = 0;
  for (const auto& f : fs::recursive_directory_iterator(dir)) {
    if (f.is_regular_file() && f.path().extension() == ".sst") n += f.file_size();
  }
  return n;
}

}  // namespace

TEST_SUITE("engine/retention") {
  TEST_CASE("PolicyParsingAndFamilies") {
    RetentionPolicy p = RetentionPolicy::Defaults();
    CHECK(p.max_age_days.at("usage") == 180);
    CHECK(p.Set("usage=30").ok());
    CHECK(p.max_age_days.at("usage") == 30);
    CHECK(p.Set("usage=keep").ok());
    CHECK(p.max_age_days.count("usage") == 0);
    CHECK(p.Set("usage=0").code() == Status::Code::kInvalidArgument);
    CHECK(p.Set("usage=-1").code() == Status::Code::kInvalidArgument);
    CHECK(p.Set("usage=abc").code() == Status::Code::kInvalidArgument);
    CHECK(p.Set("nope=3").code() == Status::Code::kInvalidArgument);
    CHECK(p.Set("workspace=3").code() == Status::Code::kInvalidArgument);
    CHECK(p.Set("usage").code() == Status::Code::kInvalidArgument);
    CHECK(EventFamily(500) == "usage");
    CHECK(EventFamily(102) == "sessions");
    CHECK(EventFamily(300) == "approvals");
    CHECK(EventFamily(704) == "governance");
    CHECK(EventFamily(1) == "system");
  }

  TEST_CASE("RemovesExactlyTheExpiredPrefixesAndVerifies") {
    TempDir d;
    Clock clock;
    auto e = OpenAt(d.Sub("data"), clock);
    // Old: usage of two tenants and one old session; young: more usage.
    const uint64_t a1 = Put(*e, "usage/acme", "acme", "UsageRecorded", Usage("acme"));
    const uint64_t a2 = Put(*e, "usage/acme", "acme", "UsageRecorded", Usage("acme"));
    const uint64_t g1 = Put(*e, "usage/globex", "globex", "UsageRecorded", Usage("globex"));
    const uint64_t s1 = Put(*e, "session/s1", "acme", "SessionStarted", R"({"session_id":"s1"})");
    clock.Advance(20 * kDay);
    const uint64_t a3 = Put(*e, "usage/acme", "acme", "UsageRecorded", Usage("acme"));
    clock.Advance(20 * kDay);  // a1, a2, g1, s1 are 40 days old; a3 is 20

    RetentionPolicy p;
    REQUIRE(p.Set("usage=30").ok());
    RetentionService svc(*e);
    RetentionService::RunOptions dry;
    Result<RetentionReport> plan = svc.Run(p, dry, kBy);
    REQUIRE_MESSAGE(plan.ok(), plan.status().ToString());
    CHECK(plan->total == 3);
    CHECK(plan->counts.at("usage") == 3);
    CHECK(PresentLsns(*e).size() == 5);  // a dry run changes nothing

    RetentionService::RunOptions live;
    live.dry_run = false;
    Result<RetentionReport> r = svc.Run(p, live, kBy);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r->total == 3);
    CHECK(r->enforced_lsn > a3);
    std::vector<uint64_t> present = PresentLsns(*e);
    CHECK(std::find(present.begin(), present.end(), a1) == present.end());
    CHECK(std::find(present.begin(), present.end(), a2) == present.end());
    CHECK(std::find(present.begin(), present.end(), g1) == present.end());
    CHECK(std::find(present.begin(), present.end(), s1) != present.end());  // sessions kept
    CHECK(std::find(present.begin(), present.end(), a3) != present.end());  // young
    // The audited record says what went.
    Result<Event> enforced = e->log().ReadEvent(r->enforced_lsn);
    REQUIRE(enforced.ok());
    CHECK(enforced->stream == "$retention");
    const nlohmann::json j = nlohmann::json::parse(Engine::EventToJsonText(*enforced));
    CHECK(j["payload"]["total_purged"] == 3);
    CHECK(j["payload"]["counts"][0]["family"] == "usage");
    CheckClean(*e);
    // Nothing left to do: a rerun removes nothing and appends nothing.
    const uint64_t last = e->log().LastLsn();
    Result<RetentionReport> again = svc.Run(p, live, kBy);
    REQUIRE(again.ok());
    CHECK(again->total == 0);
    CHECK(e->log().LastLsn() == last);
    // The stream goes on after its pruned prefix, also after a restart.
    Put(*e, "usage/acme", "acme", "UsageRecorded", Usage("acme"));
    e.reset();
    e = OpenAt(d.Sub("data"), clock);
    CHECK(e->log().ReadStream("usage/acme", 1, 10)->size() == 2);
    CHECK(e->log().GetStreamHead("usage/acme")->version == 4);
    CheckClean(*e);
  }

  TEST_CASE("HoldsSkipTheirTenantAndRefuseATenantRun") {
    TempDir d;
    Clock clock;
    auto e = OpenAt(d.Sub("data"), clock);
    Put(*e, "usage/acme", "acme", "UsageRecorded", Usage("acme"));
    Put(*e, "usage/globex", "globex", "UsageRecorded", Usage("globex"));
    HoldService holds(*e);
    REQUIRE(holds.Apply("acme", "case-1", "litigation", kBy).ok());
    clock.Advance(400 * kDay);
    RetentionPolicy p;
    REQUIRE(p.Set("usage=30").ok());
    RetentionService svc(*e);
    RetentionService::RunOptions live;
    live.dry_run = false;
    Result<RetentionReport> r = svc.Run(p, live, kBy);
    REQUIRE(r.ok());
    CHECK(r->total == 1);  // globex only
    CHECK(r->held_tenants == std::vector<std::string>{"acme"});
    CHECK(e->log().ReadStream("usage/acme", 1, 10)->size() == 1);
    CHECK(e->log().ReadStream("usage/globex", 1, 10)->empty());
    live.tenant = "acme";
    Result<RetentionReport> held = svc.Run(p, live, kBy);
    CHECK(held.status().code() == Status::Code::kHeld);
    CHECK(held.status().message().find("litigation") != std::string::npos);
    REQUIRE(holds.Release("acme", "", "closed", kBy).ok());
    Result<RetentionReport> after = svc.Run(p, live, kBy);
    REQUIRE(after.ok());
    CHECK(after->total == 1);
    CheckClean(*e);
  }

  TEST_CASE("PendingCheckpointsAndLiveSnapshotsStopThePrefix") {
    TempDir d;
    Clock clock;
    auto e = OpenAt(d.Sub("data"), clock);
    CheckpointSpec c1;
    c1.tenant = "acme";
    c1.prompt = "ok?";
    c1.expires_at_us = clock.now->load() + 1000 * kDay;
    CheckpointSpec c2 = c1;
    HitlResult r1 = e->hitl().Create(c1, kBy);
    HitlResult r2 = e->hitl().Create(c2, kBy);
    REQUIRE_MESSAGE(r1.ok(), r1.message);
    REQUIRE_MESSAGE(r2.ok(), r2.message);
    HitlAccess all;
    all.role = Role::kAdmin;
    all.any_tenant = true;
    HitlResult rej = e->hitl().Reject(r2.state.id, all, "no", "carol", {"carol", Role::kAdmin});
    REQUIRE_MESSAGE(rej.ok(), rej.message);
    const std::string s1 = CheckpointStream(r1.state.id), s2 = CheckpointStream(r2.state.id);
    clock.Advance(100 * kDay);
    RetentionPolicy p;
    REQUIRE(p.Set("approvals=30").ok());
    RetentionService svc(*e);
    RetentionService::RunOptions live;
    live.dry_run = false;
    Result<RetentionReport> r = svc.Run(p, live, kBy);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r->kept_needed == 1);  // c1 is pending
    CHECK(r->total == 2);        // c2 is decided: both its events go
    CHECK(e->log().ReadStream(s1, 1, 10)->size() == 1);
    CHECK(e->log().ReadStream(s2, 1, 10)->empty());
    CheckClean(*e);
  }

  TEST_CASE("ACrashedRunIsFinishedByTheNextWithOneRecordOfEverything") {
    TempDir d;
    Clock clock;
    auto e = OpenAt(d.Sub("data"), clock);
    for (int i = 0; i < 10; ++i) Put(*e, "usage/acme", "acme", "UsageRecorded", Usage("acme"));
    clock.Advance(200 * kDay);
    // Simulate a run cut short after its first batch: remove 4 with the
    // marker the service writes, and no RetentionEnforced.
    std::vector<uint64_t> first = {2, 3, 4, 5};  // LSN 1 is LogCreated
    REQUIRE(e->log()
                .RemoveEvents(first, RemovalReason::kRetention, {},
                              [&](rocksdb::WriteBatch* b) {
                                b->Put(e->log().meta_cf(), "retention/run",
                                       R"({"run_id":"r-1","counts":{"usage":4},"total":4,)"
                                       R"("record_bytes":0,"policy":{},"tenant":""})");
                                return Status::OK();
                              })
                .ok());
    RetentionPolicy p;
    REQUIRE(p.Set("usage=30").ok());
    RetentionService svc(*e);
    RetentionService::RunOptions live;
    live.dry_run = false;
    Result<RetentionReport> r = svc.Run(p, live, kBy);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r->resumed);
    CHECK(r->run_id == "r-1");
    CHECK(r->total == 10);
    CHECK(e->log().ReadStream("usage/acme", 1, 100)->empty());
    std::string v;
    CHECK(e->log().db()->Get(rocksdb::ReadOptions(), e->log().meta_cf(), "retention/run", &v)
              .IsNotFound());
    CheckClean(*e);
  }

  TEST_CASE("PruningGivesDiskSpaceBack") {
    TempDir d;
    Clock clock;
    auto e = OpenAt(d.Sub("data"), clock);
    // Random text: RocksDB compresses, so repeated bytes would prove nothing.
    std::mt19937_64 rng(7);
    for (int i = 0; i < 3000; ++i) {
      std::string big;
      for (int k = 0; k < 2000; ++k) big.push_back(static_cast<char>('a' + rng() % 26));
      // An event no view copies, so the log alone holds its bytes.
      Put(*e, "tenant/acme/k" + std::to_string(i % 50), "acme", "KeyRotated",
          R"({"scope":"tenant","tenant":"acme","alg":")" + big + R"("})");
    }
    // Reopening replays the WAL into table files and drops it, so the whole
    // directory is measured in a settled state each time.
    e.reset();
    e = OpenAt(d.Sub("data"), clock);
    const uint64_t sst_before = SstBytes(d.Sub("data"));
    const uint64_t dir_before = DirBytes(d.Sub("data"));
    clock.Advance(200 * kDay);
    RetentionPolicy p;
    REQUIRE(p.Set("governance=30").ok());
    RetentionService svc(*e);
    RetentionService::RunOptions live;
    live.dry_run = false;  // compacts the pruned range itself
    Result<RetentionReport> r = svc.Run(p, live, kBy);
    REQUIRE(r.ok());
    CHECK(r->total == 3000);
    const uint64_t sst_after = SstBytes(d.Sub("data"));
    e.reset();
    e = OpenAt(d.Sub("data"), clock);
    const uint64_t dir_after = DirBytes(d.Sub("data"));
    MESSAGE("table files " << sst_before << " -> " << sst_after << " bytes; data directory "
                           << dir_before << " -> " << dir_after << " bytes");
    // ~6 MB of payloads are gone; removed records are 80 bytes each.
    CHECK(sst_after < sst_before / 2);
    CHECK(dir_after < dir_before / 2);
    CheckClean(*e);
  }
}

TEST_SUITE("engine/tenants") {
  TEST_CASE("ExportWritesEveryEventAndAManifestThatHashesTheFiles") {
    TempDir d;
    Clock clock;
    auto e = OpenAt(d.Sub("data"), clock, true);
    Put(*e, "usage/acme", "acme", "UsageRecorded", Usage("acme"));
    Put(*e, "usage/acme", "acme", "UsageRecorded", Usage("acme"));
    Put(*e, "usage/globex", "globex", "UsageRecorded", Usage("globex"));
    fs::create_directories(d.Sub("out"));
    TenantService tenants(*e);
    Result<TenantExportReport> r = tenants.Export("acme", d.Sub("out"), {"aud", Role::kAuditor});
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r->events == 2);
    CHECK(r->counts.at("usage") == 2);
    std::ifstream in(r->dir + "/events.jsonl");
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
      ++lines;
      CHECK(line.find("\"tenant\":\"acme\"") != std::string::npos);
      CHECK(line.find("gpt-4o") != std::string::npos);  // payloads opened
    }
    CHECK(lines == 2);
    std::ifstream m(r->dir + "/manifest.json");
    std::stringstream ms;
    ms << m.rdbuf();
    const nlohmann::json manifest = nlohmann::json::parse(ms.str());
    CHECK(manifest["events"] == 2);
    CHECK(manifest["files"][0]["bytes"] == fs::file_size(r->dir + "/events.jsonl"));
    CHECK(manifest["files"][0]["blake2b_256"].get<std::string>().size() == 64);
    CHECK(tenants.Export("acme", d.Sub("missing"), kBy).status().IsNotFound());
  }

  TEST_CASE("DeleteErasesTheTenantDestroysItsKeyAndACopyCannotReadIt") {
    TempDir d;
    Clock clock;
    {
      auto e = OpenAt(d.Sub("data"), clock, true);
      Put(*e, "usage/acme", "acme", "UsageRecorded", Usage("acme"));
      Put(*e, "session/s1", "acme", "SessionStarted", R"({"session_id":"s1"})");
      Put(*e, "usage/globex", "globex", "UsageRecorded", Usage("globex"));
      Put(*e, "usage/acme", "acme", "UsageRecorded", Usage("acme"));
    }
    // A copy of the data directory taken before the delete.
    fs::copy(d.Sub("data"), d.Sub("copy"), fs::copy_options::recursive);
    {
      auto e = OpenAt(d.Sub("data"), clock, true);
      TenantService tenants(*e);
      Result<TenantDeleteReport> plan = tenants.Delete("acme", true, kBy);
      REQUIRE_MESSAGE(plan.ok(), plan.status().ToString());
      CHECK(plan->events == 3);
      CHECK(plan->streams == 2);
      CHECK(e->log().ReadStream("usage/acme", 1, 10)->size() == 2);  // dry run

      HoldService holds(*e);
      REQUIRE(holds.Apply("acme", "h", "regulator", kBy).ok());
      CHECK(tenants.Delete("acme", false, kBy).status().code() == Status::Code::kHeld);
      REQUIRE(holds.Release("acme", "h", "done", kBy).ok());

      Result<TenantDeleteReport> r = tenants.Delete("acme", false, kBy, "erasure request 7");
      REQUIRE_MESSAGE(r.ok(), r.status().ToString());
      CHECK(r->events == 5);  // 3 + the hold's HoldApplied and HoldReleased
      CHECK_FALSE(r->destroyed_key_ids.empty());
      CHECK(e->log().ReadStream("usage/acme", 1, 10)->empty());
      CHECK(e->log().GetStreamHead("session/s1").status().IsNotFound());
      CHECK(e->log().ReadStream("usage/globex", 1, 10)->size() == 1);
      const std::vector<Event> left = *e->log().ReadAll(1, 1000);
      for (const Event& ev : left) CHECK(ev.tenant != "acme");
      Result<Event> deleted = e->log().ReadEvent(r->deleted_lsn);
      REQUIRE(deleted.ok());
      CHECK(deleted->stream == "$compliance");
      CheckClean(*e);
      // Again: nothing left, nothing appended.
      const uint64_t last = e->log().LastLsn();
      Result<TenantDeleteReport> again = tenants.Delete("acme", false, kBy);
      REQUIRE(again.ok());
      CHECK(again->events == 0);
      CHECK(e->log().LastLsn() == last);
    }
    // The old copy still has acme's records, but with the same key directory
    // their payloads no longer open; globex's do.
    EngineOptions o;
    o.data_dir = d.Sub("copy");
    o.key_dir = d.Sub("data") + ".keys";
    o.read_only = true;
    Result<std::unique_ptr<Engine>> copy = Engine::Open(o);
    REQUIRE_MESSAGE(copy.ok(), copy.status().ToString());
    int acme = 0, globex = 0;
    const std::vector<Event> old = *(*copy)->log().ReadAll(1, 1000);
    for (const Event& ev : old) {
      if (ev.tenant == "acme") {
        ++acme;
        CHECK(ev.payload_encoding == 1);
        CHECK_FALSE(ev.payload_error.empty());
      } else if (ev.tenant == "globex") {
        ++globex;
        CHECK(ev.payload_encoding == 0);
      }
    }
    CHECK(acme == 3);
    CHECK(globex == 1);
  }

  TEST_CASE("ADeleteCutShortIsFinishedByTheNext") {
    TempDir d;
    Clock clock;
    auto e = OpenAt(d.Sub("data"), clock, true);
    for (int i = 0; i < 5; ++i) {
      Put(*e, "usage/acme-" + std::to_string(i), "acme", "UsageRecorded", Usage("acme"));
    }
    Put(*e, "usage/globex", "globex", "UsageRecorded", Usage("globex"));
    // The first stream erased, with the marker, as a batch of a delete would.
    REQUIRE(e->log()
                .RemoveEvents({2}, RemovalReason::kTenantErased, {"usage/acme-0"},
                              [&](rocksdb::WriteBatch* b) {
                                b->Put(e->log().meta_cf(), "tenant-delete/acme",
                                       R"({"deletion_id":"d-1","counts":{"usage":1},)"
                                       R"("events":1,"streams":1,"chunks":0})");
                                return Status::OK();
                              })
                .ok());
    TenantService tenants(*e);
    Result<TenantDeleteReport> r = tenants.Delete("acme", false, kBy);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r->resumed);
    CHECK(r->events == 5);
    CHECK(r->streams == 5);
    std::string v;
    CHECK(e->log().db()->Get(rocksdb::ReadOptions(), e->log().meta_cf(), "tenant-delete/acme", &v)
              .IsNotFound());
    CheckClean(*e);
  }
}
