// retention_bench: retention pruning of expired events (--events in all,
// default 1,000,000, of which --young-percent are young and kept): seconds
// taken and disk bytes given back, next to a plain RocksDB peer that removes
// the same records the naive way, in the same run.
//
// What is measured, in this order:
//
//   1. Fill (reported, not measured): --events UsageRecorded events over
//      --streams streams (one tenant each, stream tenant/<t>/costs), appended
//      durably through logbook::Log in appends of --batch events to one
//      stream, round-robin over the streams by --producers threads, so each
//      stream's events are spread across the LSN range. Payloads are
//      FlatBuffers of about 250 bytes with random request, session and user
//      ids and rate-limit keys (random hex: LZ4 cannot hide their bytes).
//      The log's clock (EngineOptions::log_clock) puts the first
//      (100 - --young-percent)% of them 365..181 days in the past and the
//      rest 30..1 days in the past; the engine's "now" is the real time of
//      the start. The policy is RetentionPolicy::Defaults() (usage: 180
//      days), so exactly the old ones are expired and every stream keeps its
//      young suffix. The bench then waits for the views, copies the same
//      records into the peer database (below), and settles both stores:
//      flush and a full compaction of every column family.
//   2. logbook: RetentionService::Run (live, compact = true, batch_events =
//      --remove-batch), timed: wall seconds and process CPU seconds
//      (getrusage: RocksDB's compaction threads count too). The run waits for
//      the views, scans the log in LSN order deciding each stream's expired
//      prefix (with a point read of each expired event for the "still
//      needed" check), replaces each expired event by a removed record
//      (72-400 bytes that keep the stream's chain; docs/log_format.md
//      "Removed records") in synced batches that also carry the run's
//      progress marker, appends one audited RetentionEnforced event, and
//      compacts the LSN range it touched.
//   3. Peer: a plain rocksdb::DB with one column family, with logbook's own
//      table settings (LZ4, 64 MiB block cache, 2 background jobs), holding
//      the same record bytes under the same LSN keys (8-byte big-endian),
//      each value prefixed with its 8-byte recorded_at so the peer can age
//      it without decoding. Timed the same way: it scans from the first key,
//      collects the keys older than the same cutoff (stopping at the first
//      young one, as logbook does: times never decrease with the LSN),
//      deletes them with WriteBatch::Delete in synced batches of
//      --remove-batch, then CompactRange over the deleted range (bottommost
//      level forced, as logbook does).
//   Why this is the fair peer: it is the least work any store on RocksDB can
//   do to drop the same expired records and get their space back — find
//   them by a scan, delete them durably in the same batch size, compact the
//   same range. logbook does more on top, and that is what the ratio prices:
//   it decodes every record's envelope, decides per stream prefix (a stream
//   always keeps a suffix that chains from the removed records), reads each
//   expired event again, writes a replacement record instead of a
//   tombstone (so the log stays dense and verifiable), records progress for
//   crash resumption, and appends an audit event.
//   4. After each run: .sst bytes and data-directory bytes right after the
//      run, and again after settling (flush + full compaction), for both;
//      logbook's events column family separately (the peer holds nothing
//      else). Reclaimed = before − settled after. Also the bytes of the
//      removed records left behind (their sum, read back from the log).
//
// Ratios are logbook/peer. The two runs are one after the other on the same
// disk; on a shared machine (other work on the same cores) run it more than
// once before trusting a ratio. Printing a figure asserts nothing.
//
// Run:
//   cmake --build build --target retention_bench
//   build/retention_bench                    # 1,000,000 events (minutes)
//   build/retention_bench --events 200000    # smaller
//   build/retention_bench --quick            # 100,000 events, a smoke test
//   make bench-retention                     # ARGS="--quick" etc.
// The data directories live in a fresh $TMPDIR/retention_bench.XXXXXX (or
// --dir), removed at exit unless given.

#include <flatbuffers/flatbuffers.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_common.h"
#include "engine/costs.h"
#include "engine/engine.h"
#include "engine/retention.h"
#include "log/coding.h"
#include "log/log.h"
#include "log/record.h"
#include "projections/costs.h"
#include "schemas/events_generated.h"

namespace logbook::bench {
namespace {

constexpr const char* kProg = "retention_bench";

constexpr const char* kHelp =
    "Retention pruning of expired events with RetentionService::Run (live, with\n"
    "compaction): wall and CPU seconds, events/s, and the disk bytes given back;\n"
    "next to a plain RocksDB peer deleting the same keys in the same run.\n"
    "\n"
    "Options:\n"
    "  --events N            usage events to load (default 1000000; --quick 100000)\n"
    "  --streams N           streams, one tenant each (default 10000; --quick 1000)\n"
    "  --young-percent P     percent of the events that are young and kept (default 10)\n"
    "  --batch N             events per append while loading (default 10)\n"
    "  --producers N         appending threads while loading (default 16)\n"
    "  --remove-batch N      events removed per synced batch, both sides (default 20000)\n"
    "  --dir PATH            keep the data directories here (default: a temp dir, removed)\n";

struct Flags {
  size_t events = 1000000, streams = 10000, young_percent = 10, batch = 10, producers = 16,
         remove_batch = 20000;
  bool events_set = false, streams_set = false;
  std::string dir;
};

constexpr int64_t kDay = kMicrosPerDay;
const Actor kBy{"retention-bench", Role::kCompliance};

constexpr const char* kWorkflows[] = {"support-triage", "report-writer", "dag/ingest-nightly",
                                      "copilot/answer"};


std::string Hex(std::mt19937_64& rng, size_t digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(digits, '0');
  uint64_t bits = 0;
  for (size_t i = 0; i < digits; ++i) {
    if (i % 16 == 0) bits = rng();
    s[i] = kHex[bits & 0xf];
    bits >>= 4;
  }
  return s;
}

// One UsageRecorded payload of about 250 bytes, a third of it random hex.
std::string UsagePayload(flatbuffers::FlatBufferBuilder& fbb, std::mt19937_64& rng,
                         const std::string& tenant, int64_t at) {
  const Model& m = kModels[rng() % 4];
  const bool ok = rng() % 100 != 0;
  fbb.Clear();
  auto t = fbb.CreateString(tenant);
  auto p = fbb.CreateString(m.provider);
  auto md = fbb.CreateString(m.model);
  auto k = fbb.CreateString(m.model[0] == 't' ? "embedding" : "chat");
  auto err = fbb.CreateString(ok ? "" : "rate_limit");
  auto req = fbb.CreateString("req_" + Hex(rng, 24));
  auto sid = fbb.CreateString("sess-" + Hex(rng, 16));
  auto user = fbb.CreateString("u-" + Hex(rng, 10));
  auto wf = fbb.CreateString(kWorkflows[rng() % 4]);
  auto meta = fbb.CreateString(R"({"channel":"api","rl_key":")" + Hex(rng, 16) + R"("})");
  auto src = fbb.CreateString("pricing");
  fb::UsageRecordedBuilder b(fbb);
  b.add_tenant(t);
  b.add_provider(p);
  b.add_model(md);
  b.add_kind(k);
  b.add_tokens_in(50 + rng() % 2000);
  b.add_tokens_out(m.model[0] == 't' ? 0 : 20 + rng() % 800);
  b.add_usd_micros(static_cast<int64_t>(rng() % 20000));
  b.add_latency_ms(static_cast<uint32_t>(100 + rng() % 3000));
  b.add_success(ok);
  b.add_error_code(err);
  b.add_occurred_at_us(at);
  b.add_request_id(req);
  b.add_session_id(sid);
  b.add_user(user);
  b.add_workflow(wf);
  b.add_metadata_json(meta);
  b.add_cost_source(src);
  fbb.Finish(b.Finish());
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

// Appends per_stream[s] events to every stream s, `batch` per append,
// round-robin over the streams; producer w owns streams w, w+producers, ...
// The log clock moves from `from` to `to` (µs) as the phase's events go in.
bool LoadPhase(Engine& engine, const Flags& f, const std::vector<size_t>& per_stream,
               std::atomic<int64_t>* log_now, int64_t from, int64_t to, uint64_t seed,
               std::string* error) {
  size_t total = 0;
  for (size_t n : per_stream) total += n;
  if (total == 0) return true;
  std::atomic<size_t> done_all{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  std::vector<std::thread> workers;
  for (size_t w = 0; w < f.producers; ++w) {
    workers.emplace_back([&, w] {
      flatbuffers::FlatBufferBuilder fbb(512);
      std::mt19937_64 rng(seed * 1000 + w);
      std::vector<size_t> left;
      std::vector<size_t> mine;
      for (size_t s = w; s < per_stream.size(); s += f.producers) {
        mine.push_back(s);
        left.push_back(per_stream[s]);
      }
      bool any = true;
      while (any && !failed) {
        any = false;
        for (size_t i = 0; i < mine.size() && !failed; ++i) {
          if (left[i] == 0) continue;
          any = true;
          const size_t n = std::min(f.batch, left[i]);
          // The clock follows the phase's progress; the writer never lets
          // recorded_at go back, so a lagging producer cannot reorder times.
          const size_t d = done_all.load();
          const int64_t at = from + static_cast<int64_t>(
                                        static_cast<double>(to - from) * static_cast<double>(d) /
                                        static_cast<double>(total));
          int64_t cur = log_now->load();
          while (cur < at && !log_now->compare_exchange_weak(cur, at)) {
          }
          const std::string tenant = TenantName(mine[i]);
          AppendRequest req;
          req.stream = Costs::Stream(tenant);
          req.tenant = tenant;
          req.actor = {"bench", Role::kOperator};
          req.events.resize(n);
          for (size_t j = 0; j < n; ++j) {
            req.events[j].type = static_cast<uint16_t>(fb::EventType::UsageRecorded);
            req.events[j].payload = UsagePayload(fbb, rng, tenant, at);
          }
          Result<AppendResult> r = engine.log().Append(std::move(req));
          if (!r.ok()) {
            std::lock_guard<std::mutex> l(error_mu);
            *error = "append for " + tenant + ": " + r.status().ToString();
            failed = true;
            return;
          }
          left[i] -= n;
          done_all += n;
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  return !failed;
}

// ---------------------------------------------------------------- bytes

struct DiskBytes {
  uint64_t sst = 0;  // *.sst files under the directory
  uint64_t dir = 0;  // every regular file under it (WAL, MANIFEST, info logs too)
  uint64_t cf = 0;   // the record column family's table files (logbook: events)
};

DiskBytes Measure(const std::string& dir, rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) {
  DiskBytes b;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    if (!it->is_regular_file(ec2)) continue;
    const uint64_t n = it->file_size(ec2);
    if (ec2) continue;  // a file RocksDB deleted meanwhile
    b.dir += n;
    if (it->path().extension() == ".sst") b.sst += n;
  }
  db->GetIntProperty(cf, "rocksdb.total-sst-files-size", &b.cf);
  return b;
}

// Waits (up to 10 minutes) until RocksDB runs no flush or compaction and
// has none pending.
void WaitForQuiet(rocksdb::DB* db) {
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < std::chrono::minutes(10)) {
    uint64_t busy = 0, v = 0;
    for (const char* p : {"rocksdb.num-running-compactions", "rocksdb.num-running-flushes",
                          "rocksdb.compaction-pending", "rocksdb.mem-table-flush-pending"}) {
      if (db->GetIntProperty(p, &v)) busy += v;
    }
    if (busy == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Flush and a full compaction (bottommost level forced) of every column
// family: what the disk holds once RocksDB has caught up.
bool Settle(rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& cfs,
            std::string* error) {
  for (rocksdb::ColumnFamilyHandle* cf : cfs) {
    if (cf == nullptr) continue;
    rocksdb::Status s = db->Flush(rocksdb::FlushOptions(), cf);
    if (s.ok()) {
      rocksdb::CompactRangeOptions co;
      co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
      s = db->CompactRange(co, cf, nullptr, nullptr);
    }
    if (!s.ok()) {
      *error = "settling column family " + cf->GetName() + ": " + s.ToString();
      return false;
    }
  }
  WaitForQuiet(db);
  return true;
}

std::vector<rocksdb::ColumnFamilyHandle*> LogFamilies(Log& log) {
  return {log.db()->DefaultColumnFamily(), log.events_cf(),  log.stream_index_cf(),
          log.idempotency_cf(),           log.meta_cf(),    log.views_cf(),
          log.chunks_cf()};
}

// ---------------------------------------------------------------- the peer

struct Peer {
  std::unique_ptr<rocksdb::DB> db;
  std::shared_ptr<rocksdb::Cache> cache;
};

bool OpenPeer(const std::string& dir, Peer* peer, std::string* error) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.max_background_jobs = 2;  // as logbook's log
  o.compression = rocksdb::kLZ4Compression;
  o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  peer->cache = rocksdb::NewLRUCache(64 << 20);
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = peer->cache;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, dir, &raw);
  if (!s.ok()) {
    *error = "opening the peer database: " + s.ToString();
    return false;
  }
  peer->db.reset(raw);
  return true;
}

// Copies the bench's usage records (not logbook's own events) into the peer:
// key = LSN (8 bytes BE), value = recorded_at (8 bytes BE) + the record.
bool CopyToPeer(Log& log, Peer& peer, uint64_t* copied, std::string* error) {
  rocksdb::WriteBatch batch;
  Status inner;
  auto flush = [&] {
    rocksdb::Status s = peer.db->Write(rocksdb::WriteOptions(), &batch);
    batch.Clear();
    if (!s.ok()) inner = Status::FromRocks(s, "writing to the peer");
    return s.ok();
  };
  std::string value;
  Status s = log.ScanRecords(1, [&](uint64_t lsn, std::string_view rec) {
    if (IsRemovedRecord(rec)) return true;
    Event e;
    if (Status d = DecodeRecordHeader(rec, &e); !d.ok()) {
      inner = d;
      return false;
    }
    if (e.type != static_cast<uint16_t>(fb::EventType::UsageRecorded)) return true;
    value.clear();
    coding::PutFixed64BE(&value, static_cast<uint64_t>(e.recorded_at_us));
    value.append(rec);
    batch.Put(coding::Fixed64BE(lsn), value);
    ++*copied;
    return batch.Count() < 10000 || flush();
  });
  if (s.ok() && inner.ok() && batch.Count() > 0) flush();
  if (!s.ok() || !inner.ok()) {
    *error = (!s.ok() ? s : inner).ToString();
    return false;
  }
  return true;
}

struct PeerRun {
  uint64_t deleted = 0;
};

// The peer's pruning, timed by the caller: scan, synced batched deletes,
// compaction of the deleted range.
bool PrunePeer(Peer& peer, int64_t cutoff, size_t batch_size, PeerRun* out, std::string* error) {
  std::vector<std::string> keys;
  {
    std::unique_ptr<rocksdb::Iterator> it(peer.db->NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const rocksdb::Slice v = it->value();
      if (v.size() < 8) {
        *error = "peer: a value without its time";
        return false;
      }
      const int64_t at = static_cast<int64_t>(coding::DecodeFixed64BE(v.data()));
      if (at >= cutoff) break;  // times never decrease with the key
      keys.push_back(it->key().ToString());
    }
    if (!it->status().ok()) {
      *error = "peer scan: " + it->status().ToString();
      return false;
    }
  }
  rocksdb::WriteOptions wo;
  wo.sync = true;
  for (size_t start = 0; start < keys.size(); start += batch_size) {
    rocksdb::WriteBatch b;
    const size_t end = std::min(keys.size(), start + batch_size);
    for (size_t i = start; i < end; ++i) b.Delete(keys[i]);
    rocksdb::Status s = peer.db->Write(wo, &b);
    if (!s.ok()) {
      *error = "peer delete: " + s.ToString();
      return false;
    }
  }
  if (!keys.empty()) {
    const std::string to = coding::Fixed64BE(coding::DecodeFixed64BE(keys.back().data()) + 1);
    rocksdb::Slice b(keys.front()), e(to);
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    rocksdb::Status s = peer.db->CompactRange(co, &b, &e);
    if (!s.ok()) {
      *error = "peer compaction: " + s.ToString();
      return false;
    }
  }
  out->deleted = keys.size();
  return true;
}

// ---------------------------------------------------------------- printing

std::string Bytes(uint64_t n) {
  return Grouped(static_cast<double>(n)) + " B (" +
         Fixed(static_cast<double>(n) / (1024.0 * 1024.0), 1) + " MiB)";
}

std::string Ratio(double a, double b) { return b > 0 ? Fixed(a / b, 2) + "x" : "-"; }

std::string LoadAverage() {
  double avg[1] = {0};
  return getloadavg(avg, 1) == 1 ? Fixed(avg[0], 2) : "-";
}

void PrintBytes(const char* label, const DiskBytes& b, const char* cf_name) {
  std::printf("  %-30s .sst %s; %s .sst %s; dir %s\n", label, Bytes(b.sst).c_str(), cf_name,
              Bytes(b.cf).c_str(), Bytes(b.dir).c_str());
}

struct Side {
  double wall = 0, cpu = 0;
  uint64_t removed = 0;
  DiskBytes before, right_after, settled;
  uint64_t reclaimed_sst() const { return before.sst - std::min(before.sst, settled.sst); }
  uint64_t reclaimed_cf() const { return before.cf - std::min(before.cf, settled.cf); }
  uint64_t reclaimed_dir() const { return before.dir - std::min(before.dir, settled.dir); }
  double per_sec() const { return wall > 0 ? static_cast<double>(removed) / wall : 0; }
};

void PrintSide(const Side& s, const char* cf_name) {
  std::printf("  %-30s %s\n", "events removed", Grouped(static_cast<double>(s.removed)).c_str());
  std::printf("  %-30s %s s wall, %s s CPU (process, all threads)\n", "time",
              Fixed(s.wall, 2).c_str(), Fixed(s.cpu, 2).c_str());
  std::printf("  %-30s %s events/s\n", "rate", Grouped(s.per_sec()).c_str());
  PrintBytes("before", s.before, cf_name);
  PrintBytes("right after the run", s.right_after, cf_name);
  PrintBytes("after flush + full compaction", s.settled, cf_name);
  std::printf("  %-30s .sst %s; %s .sst %s; dir %s\n", "reclaimed (settled)",
              Bytes(s.reclaimed_sst()).c_str(), cf_name, Bytes(s.reclaimed_cf()).c_str(),
              Bytes(s.reclaimed_dir()).c_str());
}

}  // namespace
}  // namespace logbook::bench

int main(int argc, char** argv) {
  using namespace logbook;
  using namespace logbook::bench;
  Flags f;
  CommonFlags common(1);
  auto size_flag = [](const char* name, size_t* dst, bool* set, size_t min, size_t max,
                      const char* usage) {
    return ValueFlag{name,
                     [dst, set, min, max](std::string_view v) {
                       if (!ParseSize(v, dst) || *dst < min || *dst > max) return false;
                       if (set) *set = true;
                       return true;
                     },
                     usage};
  };
  constexpr size_t kMax = size_t{1} << 40;
  const int rc = ParseArgs(
      argc, argv, kProg, kHelp, QuickSeconds::kKeepExplicit, &common,
      {size_flag("--events", &f.events, &f.events_set, 1, kMax, "--events needs a positive number"),
       size_flag("--streams", &f.streams, &f.streams_set, 1, kMax,
                 "--streams needs a positive number"),
       size_flag("--young-percent", &f.young_percent, nullptr, 0, 99,
                 "--young-percent needs a number from 0 to 99"),
       size_flag("--batch", &f.batch, nullptr, 1, 10000, "--batch needs a number from 1 to 10000"),
       size_flag("--producers", &f.producers, nullptr, 1, 256,
                 "--producers needs a number from 1 to 256"),
       size_flag("--remove-batch", &f.remove_batch, nullptr, 1, kMax,
                 "--remove-batch needs a positive number"),
       PathFlag("--dir", "--dir needs a path", &f.dir)});
  if (rc != 0) return rc < 0 ? 0 : rc;
  spdlog::set_level(spdlog::level::warn);
  if (common.quick) {
    if (!f.events_set) f.events = 100000;
    if (!f.streams_set) f.streams = 1000;
  }
  if (f.streams > f.events) f.streams = f.events;

  BenchRoot root;
  if (!root.Init(kProg, f.dir)) return 1;
  std::string dir, peer_dir, error;
  if (!root.NewCaseDir("logbook", &dir, &error) || !root.NewCaseDir("peer", &peer_dir, &error)) {
    return Failed(kProg, "setup", error);
  }

  // Clocks: the engine's "now" is fixed at the start; the log's clock is
  // moved by the loader (old events first: recorded_at never decreases).
  const int64_t now = NowMicros();
  auto log_now = std::make_shared<std::atomic<int64_t>>(now - 365 * kDay);
  EngineOptions eo;
  eo.data_dir = dir;
  eo.clock = [now] { return now; };
  eo.log_clock = [log_now] { return log_now->load(); };
  Result<std::unique_ptr<Engine>> opened = Engine::Open(eo);
  if (!opened.ok()) return Failed(kProg, "opening the engine", opened.status().ToString());
  std::unique_ptr<Engine> engine = std::move(opened).value();
  Log& log = engine->log();

  const size_t young = f.events * f.young_percent / 100;
  const size_t old = f.events - young;
  auto spread = [&](size_t n) {
    std::vector<size_t> v(f.streams, n / f.streams);
    for (size_t s = 0; s < n % f.streams; ++s) ++v[s];
    return v;
  };
  std::printf(
      "retention_bench: %s usage events (%s expired, %s young) over %s streams; %zu events per "
      "append while loading; %s events per removal batch; %u cores, load average %s\n",
      Grouped(static_cast<double>(f.events)).c_str(), Grouped(static_cast<double>(old)).c_str(),
      Grouped(static_cast<double>(young)).c_str(), Grouped(static_cast<double>(f.streams)).c_str(),
      f.batch, Grouped(static_cast<double>(f.remove_batch)).c_str(),
      std::thread::hardware_concurrency(), LoadAverage().c_str());

  // ---- load (not measured)
  PrintSection("load (not measured)");
  Progress("load");
  const auto l0 = Clock::now();
  if (!LoadPhase(*engine, f, spread(old), log_now.get(), now - 365 * kDay, now - 181 * kDay, 1,
                 &error) ||
      !LoadPhase(*engine, f, spread(young), log_now.get(), now - 30 * kDay, now - 1 * kDay, 2,
                 &error)) {
    return Failed(kProg, "load", error);
  }
  const double load_s = std::chrono::duration<double>(Clock::now() - l0).count();
  Progress("waiting for the views");
  Status s = engine->WaitForViews(log.LastLsn(), std::chrono::hours(24));
  if (!s.ok()) return Failed(kProg, "waiting for the views", s.ToString());
  const double views_s = std::chrono::duration<double>(Clock::now() - l0).count() - load_s;

  Peer peer;
  uint64_t copied = 0;
  Progress("copying the records into the peer");
  if (!OpenPeer(peer_dir, &peer, &error) || !CopyToPeer(log, peer, &copied, &error)) {
    return Failed(kProg, "filling the peer", error);
  }
  Progress("settling both stores (flush + full compaction)");
  if (!Settle(log.db(), LogFamilies(log), &error) ||
      !Settle(peer.db.get(), {peer.db->DefaultColumnFamily()}, &error)) {
    return Failed(kProg, "settling", error);
  }
  uint64_t record_bytes = 0, records = 0;
  s = log.ScanRecords(1, [&](uint64_t, std::string_view rec) {
    ++records;
    record_bytes += rec.size();
    return true;
  });
  if (!s.ok()) return Failed(kProg, "reading the log", s.ToString());
  std::printf(
      "  appended %s events in %s s (%s events/s, durable); views caught up %s s later\n"
      "  log: %s records, %s B of records (mean %s B); peer: %s records copied\n",
      Grouped(static_cast<double>(f.events)).c_str(), Fixed(load_s, 1).c_str(),
      Grouped(static_cast<double>(f.events) / load_s).c_str(), Fixed(views_s, 1).c_str(),
      Grouped(static_cast<double>(records)).c_str(),
      Grouped(static_cast<double>(record_bytes)).c_str(),
      Fixed(static_cast<double>(record_bytes) / static_cast<double>(std::max<uint64_t>(records, 1)),
            1)
          .c_str(),
      Grouped(static_cast<double>(copied)).c_str());

  const RetentionPolicy policy = RetentionPolicy::Defaults();
  const int64_t cutoff =
      now - static_cast<int64_t>(std::llround(policy.max_age_days.at("usage") * kDay));

  // ---- logbook
  Side lb;
  lb.before = Measure(dir, log.db(), log.events_cf());
  Progress("logbook: RetentionService::Run (live, compact)");
  RetentionService svc(*engine);
  RetentionService::RunOptions ro;
  ro.dry_run = false;
  ro.compact = true;
  ro.batch_events = f.remove_batch;
  const std::string load_before = LoadAverage();
  double cpu0 = ProcessCpuSeconds();
  auto t0 = Clock::now();
  Result<RetentionReport> report = svc.Run(policy, ro, kBy);
  lb.wall = std::chrono::duration<double>(Clock::now() - t0).count();
  lb.cpu = ProcessCpuSeconds() - cpu0;
  if (!report.ok()) return Failed(kProg, "RetentionService::Run", report.status().ToString());
  lb.removed = report->total;
  lb.right_after = Measure(dir, log.db(), log.events_cf());
  if (!Settle(log.db(), LogFamilies(log), &error)) return Failed(kProg, "settling", error);
  lb.settled = Measure(dir, log.db(), log.events_cf());
  uint64_t stub_bytes = 0, stubs = 0;
  s = log.ScanRecords(1, [&](uint64_t, std::string_view rec) {
    if (IsRemovedRecord(rec)) {
      ++stubs;
      stub_bytes += rec.size();
    }
    return true;
  });
  if (!s.ok()) return Failed(kProg, "reading the log", s.ToString());

  // ---- peer
  Side pr;
  pr.before = Measure(peer_dir, peer.db.get(), peer.db->DefaultColumnFamily());
  Progress("peer: scan, synced WriteBatch deletes, CompactRange");
  PeerRun prun;
  cpu0 = ProcessCpuSeconds();
  t0 = Clock::now();
  const bool peer_ok = PrunePeer(peer, cutoff, f.remove_batch, &prun, &error);
  pr.wall = std::chrono::duration<double>(Clock::now() - t0).count();
  pr.cpu = ProcessCpuSeconds() - cpu0;
  if (!peer_ok) return Failed(kProg, "peer", error);
  pr.removed = prun.deleted;
  pr.right_after = Measure(peer_dir, peer.db.get(), peer.db->DefaultColumnFamily());
  if (!Settle(peer.db.get(), {peer.db->DefaultColumnFamily()}, &error)) {
    return Failed(kProg, "settling the peer", error);
  }
  pr.settled = Measure(peer_dir, peer.db.get(), peer.db->DefaultColumnFamily());

  // ---- summary
  PrintSection("logbook: RetentionService::Run (live, compact = true)");
  PrintSide(lb, "events");
  std::printf("  %-30s %s B of the removed events' records (report.record_bytes)\n",
              "removed", Grouped(static_cast<double>(report->record_bytes)).c_str());
  std::printf("  %-30s %s removed records, %s B (mean %s B), still in the log\n",
              "left behind", Grouped(static_cast<double>(stubs)).c_str(),
              Grouped(static_cast<double>(stub_bytes)).c_str(),
              Fixed(static_cast<double>(stub_bytes) / static_cast<double>(std::max<uint64_t>(stubs, 1)),
                    1)
                  .c_str());
  std::printf("  %-30s kept_needed %s, held tenants %zu, RetentionEnforced at LSN %s\n", "report",
              Grouped(static_cast<double>(report->kept_needed)).c_str(),
              report->held_tenants.size(),
              Grouped(static_cast<double>(report->enforced_lsn)).c_str());

  PrintSection("peer: plain RocksDB, scan + synced WriteBatch deletes + CompactRange");
  PrintSide(pr, "default");

  PrintSection("logbook / peer");
  if (lb.removed != pr.removed) {
    std::printf("  NOTE: the two sides removed different counts (%s vs %s)\n",
                Grouped(static_cast<double>(lb.removed)).c_str(),
                Grouped(static_cast<double>(pr.removed)).c_str());
  }
  std::printf("  %-44s %s (%s s vs %s s)\n", "wall seconds", Ratio(lb.wall, pr.wall).c_str(),
              Fixed(lb.wall, 2).c_str(), Fixed(pr.wall, 2).c_str());
  std::printf("  %-44s %s (%s s vs %s s)\n", "CPU seconds", Ratio(lb.cpu, pr.cpu).c_str(),
              Fixed(lb.cpu, 2).c_str(), Fixed(pr.cpu, 2).c_str());
  std::printf("  %-44s %s (%s vs %s)\n", "events/s", Ratio(lb.per_sec(), pr.per_sec()).c_str(),
              Grouped(lb.per_sec()).c_str(), Grouped(pr.per_sec()).c_str());
  std::printf("  %-44s %s (%s vs %s)\n", "record .sst bytes reclaimed (events / peer)",
              Ratio(static_cast<double>(lb.reclaimed_cf()), static_cast<double>(pr.reclaimed_cf()))
                  .c_str(),
              Grouped(static_cast<double>(lb.reclaimed_cf())).c_str(),
              Grouped(static_cast<double>(pr.reclaimed_cf())).c_str());
  std::printf("  %-44s %s (%s vs %s)\n", "record .sst bytes left (events / peer)",
              Ratio(static_cast<double>(lb.settled.cf), static_cast<double>(pr.settled.cf)).c_str(),
              Grouped(static_cast<double>(lb.settled.cf)).c_str(),
              Grouped(static_cast<double>(pr.settled.cf)).c_str());
  std::printf("  %-44s %s (%s vs %s)\n", "all .sst bytes reclaimed",
              Ratio(static_cast<double>(lb.reclaimed_sst()), static_cast<double>(pr.reclaimed_sst()))
                  .c_str(),
              Grouped(static_cast<double>(lb.reclaimed_sst())).c_str(),
              Grouped(static_cast<double>(pr.reclaimed_sst())).c_str());
  std::printf("  (load average %s before the logbook run, %s at the end; %u cores shared)\n",
              load_before.c_str(), LoadAverage().c_str(), std::thread::hardware_concurrency());

  if (Status h = log.health(); !h.ok()) return Failed(kProg, "the log", h.ToString());
  return 0;
}
