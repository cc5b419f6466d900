// append_bench: throughput and acknowledgement latency of durable appends.
//
// What is measured, all in one run, each case on a fresh data directory:
//
//   1. fdatasync baseline: one thread loops pwrite(<payload> bytes at an
//      increasing offset) + fdatasync on a plain file. Syncs/s is the
//      physical limit for durability one write at a time.
//   2. Raw RocksDB baseline: a plain rocksdb::DB (default options,
//      create_if_missing), T threads each doing Put(sync=true) of a unique key
//      and a <payload>-byte value. RocksDB groups concurrent writers itself.
//   3. logbook::Log, single events: T producers, each looping Append() of one
//      event (type 100, random 16-byte event id, <payload> random-ish bytes)
//      to its own stream bench/<thread> with ExpectedVersion::Any(). Append
//      returns once the group-committed WriteBatch was written with
//      sync=true, so every acknowledged event is durable.
//   4. logbook::Log, batches: the same with <batch> events per request.
//   5. Encryption: 64 producers x 1 event of tenant "bench", plaintext and
//      with the tenant's payloads sealed (log/keyring.h), for
//      --encryption-rounds pairs (which goes first alternates); the cost is
//      1 - mean(encrypted)/mean(plain), and per round 1 - encrypted/plain
//      (printed with each round, and their median and range).
//
// For every case: events/s, requests/s, and p50/p99/p99.9/max latency of one
// call (steady_clock around the blocking call; building the request is not
// timed), plus the CPU the process used (cores). Log cases also show the
// group commits of the measured window (groups/s, requests and events per
// group) and the largest group of the whole case.
//
// Timing: all threads start together and run for a warm-up (default 0.5 s,
// 0.2 s with --quick) that is not measured, then for --seconds measured. Only
// calls that start after the warm-up and complete before the end of the
// window count, toward both rates and latencies; the rate is that count
// divided by the window length.
//
// Order: fdatasync first, then raw RocksDB and the Log alternating per thread
// count (on a shared machine each pair then sees similar disk conditions),
// then the batch cases. Progress goes to stderr; the tables, grouped by kind,
// go to stdout once all cases ran (or one failed).
//
// At the end a "targets" section compares the 64-producer case (and the best
// batch case) with the goals of the append path: >= 100,000 durable appends/s,
// >= the raw RocksDB sync Put rate at 64 threads, p99 < 2 ms, and >= 500,000
// events/s in batches, and encryption costing < 10%. Missing a target is reported, not an error: the exit
// status is non-zero only when something failed (an Append, a Put, I/O).
//
// Run:
//   cmake -S . -B build && cmake --build build --target append_bench
//   build/append_bench              # full run, about a minute
//   build/append_bench --quick      # 1 s per case, a smoke test
//   make bench                      # where the top-level Makefile provides it
// The data directory defaults to a fresh /tmp/append_bench.XXXXXX, removed at
// exit. Use --dir to measure another disk; numbers depend on the disk's
// fsync cost far more than on the CPU.

#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/version.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bench/bench_common.h"
#include "log/log.h"
#include "log/status.h"

namespace logbook::bench {
namespace {

constexpr int kTargetThreads = 64;
constexpr double kTargetAppendsPerSec = 100'000;
constexpr double kTargetP99Us = 2'000;
constexpr double kTargetBatchEventsPerSec = 500'000;
constexpr int kTargetWidth = 44;  // of the "what" column of PrintTarget

// ---------------------------------------------------------------- flags

struct Flags : CommonFlags {
  Flags() : CommonFlags(/*default_seconds=*/3) {}
  std::string dir;  // empty: a fresh directory under /tmp
  size_t payload = 200;
  std::vector<int> threads = {1, 4, 16, 64};
  size_t batch = 100;
  std::vector<int> batch_threads = {1, 4, 16};
  int encryption_rounds = 2;
};

// The --help text after "Usage:" and before --quick (see PrintHelp).
constexpr char kHelp[] =
    "Measures durable appends to logbook::Log (events/s and acknowledgement latency)\n"
    "with 1..N concurrent producers and in batches, next to two baselines from the\n"
    "same disk: raw RocksDB Put(sync=true) and pwrite+fdatasync.\n"
    "\n"
    "Options:\n"
    "  --dir PATH            parent of the per-case data directories (default: a\n"
    "                        fresh /tmp/append_bench.XXXXXX, removed at exit)\n"
    "  --seconds S           measured seconds per case (default 3)\n"
    "  --warmup S            unmeasured warm-up per case (default 0.5; 0.2 with --quick)\n"
    "  --payload N           payload / value bytes per event (default 200)\n"
    "  --threads LIST        producer counts, comma-separated (default 1,4,16,64)\n"
    "  --batch N             events per request in the batch cases (default 100)\n"
    "  --batch-threads LIST  producer counts for the batch cases (default 1,4,16)\n"
    "  --encryption-rounds N pairs of 64-producer cases, plaintext then encrypted, for\n"
    "                        the cost of encryption (default 2; 0 skips them)\n";

bool ParseIntList(std::string_view s, std::vector<int>* out) {
  std::vector<int> v;
  while (!s.empty()) {
    const size_t comma = s.find(',');
    const std::string_view item = s.substr(0, comma);
    size_t n = 0;
    if (!ParseSize(item, &n) || n == 0 || n > 4096) return false;
    v.push_back(static_cast<int>(n));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
    if (s.empty()) return false;  // trailing comma
  }
  if (v.empty()) return false;
  *out = std::move(v);
  return true;
}

// Returns 0 to run, -1 after --help, 2 on bad usage. --quick overrides --seconds.
int ParseFlags(int argc, char** argv, Flags* f) {
  const std::vector<ValueFlag> flags = {
      PathFlag("--dir", "--dir needs a path", &f->dir),
      {"--payload",
       [f](std::string_view v) { return ParseSize(v, &f->payload) && f->payload <= (4u << 20); },
       "--payload needs a byte count up to 4 MiB"},
      {"--threads", [f](std::string_view v) { return ParseIntList(v, &f->threads); },
       "--threads needs a list like 1,4,16,64"},
      {"--batch",
       [f](std::string_view v) {
         return ParseSize(v, &f->batch) && f->batch != 0 && f->batch <= 10000;
       },
       "--batch needs a count in 1..10000"},
      {"--batch-threads", [f](std::string_view v) { return ParseIntList(v, &f->batch_threads); },
       "--batch-threads needs a list like 1,4"},
      {"--encryption-rounds",
       [f](std::string_view v) {
         size_t n = 0;
         if (!ParseSize(v, &n) || n > 20) return false;
         f->encryption_rounds = static_cast<int>(n);
         return true;
       },
       "--encryption-rounds needs a count in 0..20"},
  };
  return ParseArgs(argc, argv, "append_bench", kHelp, QuickSeconds::kOverride, f, flags);
}

// ---------------------------------------------------------------- cases

// (1) pwrite + fdatasync, one thread.
struct FdatasyncWorker {
  int fd = -1;
  off_t offset = 0;
  std::unique_ptr<PayloadSource> src;
  std::string_view data;
  void Prepare() { data = src->Next(); }
  bool Execute(std::string* error) {
    const ssize_t n = pwrite(fd, data.data(), data.size(), offset);
    if (n != static_cast<ssize_t>(data.size())) {
      *error = std::string("pwrite: ") + (n < 0 ? std::strerror(errno) : "short write");
      return false;
    }
    offset += n;
    if (fdatasync(fd) != 0) {
      *error = std::string("fdatasync: ") + std::strerror(errno);
      return false;
    }
    return true;
  }
};

std::optional<CaseResult> RunFdatasync(BenchRoot& root, const Flags& f, const Timing& timing,
                                       std::string* error) {
  std::string dir;
  if (!root.NewCaseDir("fdatasync", &dir, error)) return std::nullopt;
  const std::string file = dir + "/data";
  const int fd = open(file.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = "open '" + file + "': " + std::strerror(errno);
    BenchRoot::RemoveCaseDir(dir);
    return std::nullopt;
  }
  std::optional<CaseResult> r = RunCase(
      1, timing,
      [&](int t, std::string*) {
        FdatasyncWorker w;
        w.fd = fd;
        w.src = std::make_unique<PayloadSource>(f.payload, static_cast<uint64_t>(t) + 1);
        return std::optional<FdatasyncWorker>(std::move(w));
      },
      error);
  close(fd);
  BenchRoot::RemoveCaseDir(dir);
  return r;
}

// (2) raw RocksDB Put(sync=true).
struct RocksPutWorker {
  rocksdb::DB* db = nullptr;
  int thread = 0;
  uint64_t seq = 0;
  std::unique_ptr<PayloadSource> src;
  std::string key;
  std::string_view value;
  void Prepare() {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "t%04d-%012" PRIu64, thread, seq++);
    key = buf;
    value = src->Next();
  }
  bool Execute(std::string* error) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    const rocksdb::Status s = db->Put(wo, key, rocksdb::Slice(value.data(), value.size()));
    if (!s.ok()) {
      *error = "rocksdb Put: " + s.ToString();
      return false;
    }
    return true;
  }
};

std::optional<CaseResult> RunRocksPut(BenchRoot& root, const Flags& f, const Timing& timing,
                                      int threads, std::string* error) {
  std::string dir;
  if (!root.NewCaseDir("rocksdb_t" + std::to_string(threads), &dir, error)) return std::nullopt;
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) {
    *error = "opening RocksDB at '" + dir + "': " + s.ToString();
    BenchRoot::RemoveCaseDir(dir);
    return std::nullopt;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  std::optional<CaseResult> r = RunCase(
      threads, timing,
      [&](int t, std::string*) {
        RocksPutWorker w;
        w.db = db.get();
        w.thread = t;
        w.src = std::make_unique<PayloadSource>(f.payload, static_cast<uint64_t>(t) + 1);
        return std::optional<RocksPutWorker>(std::move(w));
      },
      error);
  (void)db->Close();  // benchmark data: nothing to keep on a close error
  db.reset();
  BenchRoot::RemoveCaseDir(dir);
  return r;
}

// (3), (4) logbook::Log::Append.
struct LogCaseResult {
  CaseResult c;
  uint64_t groups = 0;              // group commits in the window
  uint64_t group_appends = 0;       // requests acknowledged in the window
  uint64_t group_events = 0;        // events written in the window
  uint64_t max_group_requests = 0;  // whole case, warm-up included
  logbook::LogStats total;          // whole case
};

// tenant "" writes a system stream (never encrypted); `encrypted` seals the
// tenant's payloads with a key ring made for the case.
std::optional<LogCaseResult> RunLogAppend(BenchRoot& root, const Flags& f, const Timing& timing,
                                          int threads, size_t batch, std::string* error,
                                          const std::string& tenant = "", bool encrypted = false) {
  std::string dir;
  if (!root.NewCaseDir("log_t" + std::to_string(threads) + "_b" + std::to_string(batch) +
                           (encrypted ? "_enc" : ""),
                       &dir, error)) {
    return std::nullopt;
  }
  std::unique_ptr<logbook::KeyRing> ring;
  if (encrypted) {
    logbook::Status s = logbook::KeyRing::Create(dir + "/keys");
    logbook::Result<std::unique_ptr<logbook::KeyRing>> opened =
        s.ok() ? logbook::KeyRing::Open(dir + "/keys") : logbook::Result<std::unique_ptr<logbook::KeyRing>>(s);
    if (!opened.ok()) {
      *error = "creating the key ring: " + opened.status().ToString();
      return std::nullopt;
    }
    ring = std::move(opened).value();
  }
  std::optional<LogCase> r =
      RunLogCase(dir + "/log", threads, batch, f.payload, tenant, timing, error, ring.get());
  BenchRoot::RemoveCaseDir(dir);
  if (!r) return std::nullopt;
  LogCaseResult out;
  out.c = r->c;
  out.groups = r->s1.group_commits - r->s0.group_commits;
  out.group_appends = r->s1.appends - r->s0.appends;
  out.group_events = r->s1.events - r->s0.events;
  out.total = r->total;
  out.max_group_requests = out.total.max_group_requests;
  return out;
}

// ---------------------------------------------------------------- output

constexpr char kLatencyHeader[] = "  p50 µs    p99 µs   p999 µs    max µs   cpu";

void PrintLatencyCols(const CaseResult& c) {
  std::printf(" %9s %9s %9s %9s  %4.2f", Fixed(c.lat.p50_us, 1).c_str(),
              Fixed(c.lat.p99_us, 1).c_str(), Fixed(c.lat.p999_us, 1).c_str(),
              Fixed(c.lat.max_us, 1).c_str(), c.cpu_cores);
}

void PrintSimpleHeader(const char* rate_name) {
  std::printf("%7s %12s %10s%s\n", "threads", rate_name, "calls", kLatencyHeader);
}

void PrintSimpleRow(const CaseResult& c) {
  std::printf("%7d %12s %10s", c.threads, Grouped(c.ops_per_sec()).c_str(),
              Grouped(static_cast<double>(c.ops)).c_str());
  PrintLatencyCols(c);
  std::printf("\n");
}

void PrintLogHeader() {
  std::printf("%7s %12s %11s%s %9s %8s %8s %8s\n", "threads", "events/s", "appends/s",
              kLatencyHeader, "groups/s", "req/grp", "ev/grp", "max req");
}

void PrintLogRow(const LogCaseResult& r) {
  const CaseResult& c = r.c;
  std::printf("%7d %12s %11s", c.threads, Grouped(c.events_per_sec()).c_str(),
              Grouped(c.ops_per_sec()).c_str());
  PrintLatencyCols(c);
  const double groups = static_cast<double>(r.groups);
  std::printf(" %9s %8s %8s %8s\n", Grouped(c.seconds > 0 ? groups / c.seconds : 0).c_str(),
              r.groups ? Fixed(static_cast<double>(r.group_appends) / groups, 1).c_str() : "-",
              r.groups ? Fixed(static_cast<double>(r.group_events) / groups, 1).c_str() : "-",
              Grouped(static_cast<double>(r.max_group_requests)).c_str());
}

std::string JoinInts(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

std::string Producers(int n) { return std::to_string(n) + (n == 1 ? " producer" : " producers"); }

// One round of the encryption comparison: encrypted appends/s over plain.
double PairRatio(const LogCaseResult& plain, const LogCaseResult& sealed) {
  const double p = plain.c.ops_per_sec();
  return p > 0 ? sealed.c.ops_per_sec() / p : 0;
}
double PairCost(const LogCaseResult& plain, const LogCaseResult& sealed) {
  return 1.0 - PairRatio(plain, sealed);
}

// Everything measured so far; printed at the end (also after an error).
struct Results {
  std::optional<CaseResult> sync;
  std::vector<CaseResult> rocks;
  std::vector<LogCaseResult> singles;
  std::vector<LogCaseResult> batches;
  // Encryption cost: the same case plaintext and encrypted, alternating.
  std::vector<LogCaseResult> plain, sealed;
};

void PrintTables(const Flags& f, const Results& res) {
  const std::string payload = std::to_string(f.payload) + " B";
  if (res.sync) {
    PrintSection("baseline: pwrite " + payload + " at an increasing offset + fdatasync, 1 thread");
    PrintSimpleHeader("syncs/s");
    PrintSimpleRow(*res.sync);
  }
  if (!res.rocks.empty()) {
    PrintSection("baseline: raw RocksDB Put(sync=true), default options, " + payload +
                 " values, unique keys");
    PrintSimpleHeader("puts/s");
    for (const auto& r : res.rocks) PrintSimpleRow(r);
  }
  if (!res.singles.empty()) {
    PrintSection("logbook::Log::Append, 1 event per request (" + payload +
                 " payload), each producer to its own stream");
    PrintLogHeader();
    for (const auto& r : res.singles) PrintLogRow(r);
  }
  if (!res.batches.empty()) {
    PrintSection("logbook::Log::Append, " + std::to_string(f.batch) + " events per request (" +
                 payload + " payloads); latency is per request");
    PrintLogHeader();
    for (const auto& r : res.batches) PrintLogRow(r);
  }
  if (!res.plain.empty()) {
    PrintSection("encryption: " + Producers(kTargetThreads) + " x 1 event of tenant \"bench\", " +
                 "plaintext and XChaCha20-Poly1305 (log/keyring.h), by round");
    PrintLogHeader();
    for (size_t i = 0; i < res.plain.size(); ++i) {
      std::printf("  plain\n");
      PrintLogRow(res.plain[i]);
      if (i < res.sealed.size()) {
        std::printf("  encrypted\n");
        PrintLogRow(res.sealed[i]);
        std::printf("  round %zu: encrypted/plain %s, cost %s %%\n", i + 1,
                    Fixed(PairRatio(res.plain[i], res.sealed[i]), 3).c_str(),
                    Fixed(PairCost(res.plain[i], res.sealed[i]) * 100, 1).c_str());
      }
    }
  }
  if (!res.singles.empty() || !res.batches.empty()) {
    std::printf(
        "\n  groups/s, req/grp, ev/grp: group commits in the measured window (Log::stats());\n"
        "  max req: largest group of the case, warm-up included.\n");
  }
}

void PrintTargets(const Flags& f, const Results& res) {
  PrintSection("targets (" + Producers(kTargetThreads) + ", " + std::to_string(f.payload) +
               " B payloads)");
  if (f.payload != 200) {
    std::printf("  note: the targets are stated for 200-byte payloads; this run used %zu.\n",
                f.payload);
  }
  const LogCaseResult* at64 = nullptr;
  for (const auto& r : res.singles) {
    if (r.c.threads == kTargetThreads) at64 = &r;
  }
  const CaseResult* rocks64 = nullptr;
  for (const auto& r : res.rocks) {
    if (r.threads == kTargetThreads) rocks64 = &r;
  }
  if (at64 == nullptr) {
    std::printf("  %d producers were not measured (--threads %s): single-event targets n/a\n",
                kTargetThreads, JoinInts(f.threads).c_str());
  } else {
    const double rate = at64->c.ops_per_sec();
    PrintTarget(kTargetWidth, "durable single-event appends/s", Grouped(rate),
                ">= " + Grouped(kTargetAppendsPerSec), rate >= kTargetAppendsPerSec);
    if (rocks64 != nullptr && rocks64->ops_per_sec() > 0) {
      const double ratio = rate / rocks64->ops_per_sec();
      PrintTarget(kTargetWidth,
                  "vs raw RocksDB sync Put/s (" + Grouped(rocks64->ops_per_sec()) + ")",
                  Fixed(ratio, 2) + "x", ">= 1.00x", ratio >= 1.0);
    }
    PrintTarget(kTargetWidth, "p99 acknowledgement latency", Fixed(at64->c.lat.p99_us, 1) + " µs",
                "< " + Grouped(kTargetP99Us) + " µs", at64->c.lat.p99_us < kTargetP99Us);
  }
  const LogCaseResult* best = nullptr;
  for (const auto& r : res.batches) {
    if (best == nullptr || r.c.events_per_sec() > best->c.events_per_sec()) best = &r;
  }
  if (best != nullptr) {
    const double ev = best->c.events_per_sec();
    PrintTarget(
        kTargetWidth,
        "batch-" + std::to_string(f.batch) + " events/s (best: " + Producers(best->c.threads) + ")",
        Grouped(ev), ">= " + Grouped(kTargetBatchEventsPerSec), ev >= kTargetBatchEventsPerSec);
    if (f.batch != 100) {
      std::printf("  note: the batch target is stated for batches of 100; this run used %zu.\n",
                  f.batch);
    }
  }

  if (!res.plain.empty() && res.sealed.size() == res.plain.size()) {
    double plain = 0, sealed = 0;
    for (const auto& r : res.plain) plain += r.c.ops_per_sec();
    for (const auto& r : res.sealed) sealed += r.c.ops_per_sec();
    plain /= static_cast<double>(res.plain.size());
    sealed /= static_cast<double>(res.sealed.size());
    const double cost = plain > 0 ? 1.0 - sealed / plain : 0;
    PrintTarget(kTargetWidth,
                "encryption cost (mean of " + std::to_string(res.plain.size()) + " pairs: " +
                    Grouped(sealed) + " vs " + Grouped(plain) + "/s)",
                Fixed(cost * 100, 1) + " %", "< 10 %", cost < 0.10);
    // Both cases of a round see similar disk conditions, so the cost per
    // round and its median resist one slow case better than the mean.
    std::vector<double> costs;
    for (size_t i = 0; i < res.plain.size(); ++i) {
      costs.push_back(PairCost(res.plain[i], res.sealed[i]));
    }
    std::sort(costs.begin(), costs.end());
    const size_t n = costs.size();
    const double median = n % 2 ? costs[n / 2] : (costs[n / 2 - 1] + costs[n / 2]) / 2;
    PrintTarget(kTargetWidth, "encryption cost, median of the rounds' costs",
                Fixed(median * 100, 1) + " %", "< 10 %", median < 0.10);
    std::printf("  %-*s %s %% .. %s %%\n", kTargetWidth, "  the rounds' costs, lowest .. highest",
                Fixed(costs.front() * 100, 1).c_str(), Fixed(costs.back() * 100, 1).c_str());
    // Throughput on a shared disk swings from run to run; the process CPU
    // per event is the steadier measure of what sealing adds.
    auto cpu_us = [](const std::vector<LogCaseResult>& v) {
      double sum = 0;
      for (const auto& r : v) sum += r.c.ops_per_sec() > 0 ? r.c.cpu_cores * 1e6 / r.c.ops_per_sec() : 0;
      return sum / static_cast<double>(v.size());
    };
    const double cp = cpu_us(res.plain), cs = cpu_us(res.sealed);
    std::printf("  %-*s %s µs vs %s µs per event (%s%s %%)\n", kTargetWidth,
                "process CPU, encrypted vs plain", Fixed(cs, 2).c_str(), Fixed(cp, 2).c_str(),
                cs >= cp ? "+" : "", Fixed(cp > 0 ? (cs / cp - 1) * 100 : 0, 1).c_str());
  }

  std::printf("\n  group commit, Log::stats() of each case (warm-up included):\n");
  std::printf("  %-22s %10s %12s %10s %14s %13s\n", "case", "appends", "events", "groups",
              "max req/group", "events/group");
  auto row = [](const std::string& name, const LogCaseResult& r) {
    const logbook::LogStats& s = r.total;
    const std::string per_group =
        s.group_commits
            ? Fixed(static_cast<double>(s.events) / static_cast<double>(s.group_commits), 1)
            : "-";
    std::printf("  %-22s %10s %12s %10s %14s %13s\n", name.c_str(),
                Grouped(static_cast<double>(s.appends)).c_str(),
                Grouped(static_cast<double>(s.events)).c_str(),
                Grouped(static_cast<double>(s.group_commits)).c_str(),
                Grouped(static_cast<double>(s.max_group_requests)).c_str(), per_group.c_str());
  };
  for (const auto& r : res.singles) row(Producers(r.c.threads) + " x 1", r);
  for (const auto& r : res.batches) {
    row(Producers(r.c.threads) + " x " + std::to_string(f.batch), r);
  }
  if (res.sync && res.sync->ops_per_sec() > 0) {
    std::printf("\n  one-at-a-time durability limit (fdatasync): %s writes/s",
                Grouped(res.sync->ops_per_sec()).c_str());
    if (at64 != nullptr) {
      std::printf("; %s reach %sx that by group commit", Producers(kTargetThreads).c_str(),
                  Fixed(at64->c.ops_per_sec() / res.sync->ops_per_sec(), 1).c_str());
    }
    std::printf(".\n");
  }
}

int Main(int argc, char** argv) {
  Flags flags;
  if (int rc = ParseFlags(argc, argv, &flags); rc != 0) return rc < 0 ? 0 : rc;
  const Timing timing{flags.warmup, flags.seconds};

  BenchRoot root;
  if (!root.Init("append_bench", flags.dir)) return 1;
  std::string error;

  std::printf("append_bench: durable appends, logbook::Log vs raw RocksDB vs fdatasync\n");
  std::printf("  data dir   %s%s (a fresh subdirectory per case)\n", root.path().c_str(),
              flags.dir.empty() ? ", removed at exit" : "");
  std::printf("  per case   %s s warm-up (not measured) + %s s measured\n",
              Fixed(timing.warmup, 1).c_str(), Fixed(timing.seconds, 1).c_str());
  std::printf("  payload    %zu bytes; threads %s; batches of %zu with threads %s\n", flags.payload,
              JoinInts(flags.threads).c_str(), flags.batch, JoinInts(flags.batch_threads).c_str());
  std::printf("  machine    %u hardware threads; RocksDB %d.%d.%d\n",
              std::thread::hardware_concurrency(), ROCKSDB_MAJOR, ROCKSDB_MINOR, ROCKSDB_PATCH);
  std::printf("  latency    of one blocking call (steady_clock); cpu = process CPU cores used\n");
  std::printf(
      "  order      fdatasync, then RocksDB and Log alternating per thread count (so\n"
      "             each pair sees similar disk conditions), then the batch cases\n");
  std::fflush(stdout);

  // Progress goes to stderr; the tables are printed once all cases ran (or
  // one failed), grouped by kind.
  Results res;
  auto fail = [&](const std::string& what) {
    PrintTables(flags, res);
    return Failed("append_bench", what, error);
  };

  Progress("fdatasync baseline");
  res.sync = RunFdatasync(root, flags, timing, &error);
  if (!res.sync) return fail("the fdatasync baseline");
  for (int t : flags.threads) {
    Progress("raw RocksDB, " + std::to_string(t) + (t == 1 ? " thread" : " threads"));
    std::optional<CaseResult> r = RunRocksPut(root, flags, timing, t, &error);
    if (!r) return fail("the RocksDB baseline with " + std::to_string(t) + " threads");
    res.rocks.push_back(*r);

    Progress("Log, " + Producers(t) + " x 1 event");
    std::optional<LogCaseResult> l = RunLogAppend(root, flags, timing, t, 1, &error);
    if (!l) return fail("the Log case with " + Producers(t));
    res.singles.push_back(*l);
  }
  for (int t : flags.batch_threads) {
    Progress("Log, " + Producers(t) + " x " + std::to_string(flags.batch) + " events");
    std::optional<LogCaseResult> l = RunLogAppend(root, flags, timing, t, flags.batch, &error);
    if (!l) return fail("the batch case with " + Producers(t));
    res.batches.push_back(*l);
  }
  for (int round = 0; round < flags.encryption_rounds; ++round) {
    // Odd rounds run the encrypted case first: neither goes always first.
    for (int k = 0; k < 2; ++k) {
      const bool encrypted = (k == 1) != (round % 2 == 1);
      Progress("encryption, round " + std::to_string(round + 1) +
               (encrypted ? ": encrypted" : ": plaintext"));
      std::optional<LogCaseResult> r =
          RunLogAppend(root, flags, timing, kTargetThreads, 1, &error, "bench", encrypted);
      if (!r) return fail("the encryption comparison");
      (encrypted ? res.sealed : res.plain).push_back(*r);
    }
  }

  PrintTables(flags, res);
  PrintTargets(flags, res);
  std::fflush(stdout);
  return 0;
}

}  // namespace
}  // namespace logbook::bench

int main(int argc, char** argv) { return logbook::bench::Main(argc, argv); }
