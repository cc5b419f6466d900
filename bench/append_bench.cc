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
// events/s in batches. Missing a target is reported, not an error: the exit
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
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "log/log.h"
#include "log/record.h"
#include "log/status.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr uint16_t kEventType = 100;
constexpr int kTargetThreads = 64;
constexpr double kTargetAppendsPerSec = 100'000;
constexpr double kTargetP99Us = 2'000;
constexpr double kTargetBatchEventsPerSec = 500'000;

// ---------------------------------------------------------------- flags

struct Flags {
  std::string dir;  // empty: a fresh directory under /tmp
  double seconds = 3;
  double warmup = 0.5;
  bool warmup_set = false;
  size_t payload = 200;
  std::vector<int> threads = {1, 4, 16, 64};
  size_t batch = 100;
  std::vector<int> batch_threads = {1, 4, 16};
  bool quick = false;
};

void PrintHelp(const char* argv0) {
  std::printf(
      "Usage: %s [options]\n"
      "\n"
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
      "  --quick               1 second per case, for smoke tests\n"
      "  --help                this text\n"
      "\n"
      "Exit status: 0 when every case ran (whether or not targets were met), 1 on\n"
      "errors, 2 on bad usage.\n",
      argv0);
}

bool ParseDouble(std::string_view s, double* out) {
  std::string copy(s);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(copy.c_str(), &end);
  if (copy.empty() || errno != 0 || end != copy.c_str() + copy.size() || !std::isfinite(v)) {
    return false;
  }
  *out = v;
  return true;
}

bool ParseSize(std::string_view s, size_t* out) {
  if (s.empty() || s.size() > 12) return false;
  size_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  *out = v;
  return true;
}

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

// Returns 0 to run, -1 after --help, 2 on bad usage.
int ParseFlags(int argc, char** argv, Flags* f) {
  auto usage = [&](const std::string& msg) {
    std::fprintf(stderr, "append_bench: %s (see --help)\n", msg.c_str());
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::optional<std::string_view> inline_value;
    if (const size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto value = [&](std::string_view* out) {
      if (inline_value) {
        *out = *inline_value;
        return true;
      }
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string_view v;
    if (arg == "--help" || arg == "-h") {
      PrintHelp(argv[0]);
      return -1;
    } else if (arg == "--quick") {
      f->quick = true;
    } else if (arg == "--dir") {
      if (!value(&v) || v.empty()) return usage("--dir needs a path");
      f->dir = std::string(v);
    } else if (arg == "--seconds") {
      if (!value(&v) || !ParseDouble(v, &f->seconds) || f->seconds <= 0) {
        return usage("--seconds needs a positive number");
      }
    } else if (arg == "--warmup") {
      if (!value(&v) || !ParseDouble(v, &f->warmup) || f->warmup < 0) {
        return usage("--warmup needs a number >= 0");
      }
      f->warmup_set = true;
    } else if (arg == "--payload") {
      if (!value(&v) || !ParseSize(v, &f->payload) || f->payload > (4u << 20)) {
        return usage("--payload needs a byte count up to 4 MiB");
      }
    } else if (arg == "--threads") {
      if (!value(&v) || !ParseIntList(v, &f->threads)) {
        return usage("--threads needs a list like 1,4,16,64");
      }
    } else if (arg == "--batch") {
      if (!value(&v) || !ParseSize(v, &f->batch) || f->batch == 0 || f->batch > 10000) {
        return usage("--batch needs a count in 1..10000");
      }
    } else if (arg == "--batch-threads") {
      if (!value(&v) || !ParseIntList(v, &f->batch_threads)) {
        return usage("--batch-threads needs a list like 1,4");
      }
    } else {
      return usage("unknown argument '" + std::string(arg) + "'");
    }
  }
  if (f->quick) {
    f->seconds = 1;
    if (!f->warmup_set) f->warmup = 0.2;
  }
  return 0;
}

// ---------------------------------------------------------------- formatting

// 1234567.8 -> "1,234,568".
std::string Grouped(double v) {
  if (!std::isfinite(v)) return "-";
  const bool neg = v < 0;
  const uint64_t n = static_cast<uint64_t>(std::llround(std::fabs(v)));
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return neg ? "-" + out : out;
}

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

// ---------------------------------------------------------------- measurement

struct Latency {
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
};

// Nearest-rank percentiles; sorts `ns`.
Latency Summarize(std::vector<int64_t>* ns) {
  Latency l;
  if (ns->empty()) return l;
  std::sort(ns->begin(), ns->end());
  auto at = [&](double q) {
    const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(ns->size())));
    return static_cast<double>((*ns)[std::clamp<size_t>(rank, 1, ns->size()) - 1]) / 1000.0;
  };
  l.p50_us = at(0.50);
  l.p99_us = at(0.99);
  l.p999_us = at(0.999);
  l.max_us = static_cast<double>(ns->back()) / 1000.0;
  return l;
}

struct CaseResult {
  int threads = 0;
  size_t events_per_op = 1;
  uint64_t ops = 0;  // calls counted in the window
  double seconds = 0;
  double cpu_cores = 0;
  Latency lat;
  double ops_per_sec() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
  double events_per_sec() const { return ops_per_sec() * static_cast<double>(events_per_op); }
};

// Shared between the timer (main thread) and the workers of one case.
class Control {
 public:
  bool measuring() const { return measuring_.load(std::memory_order_acquire); }
  bool stopped() const { return stop_.load(std::memory_order_acquire); }
  void StartMeasuring() { measuring_.store(true, std::memory_order_release); }
  void Stop() { stop_.store(true, std::memory_order_release); }
  void Fail(std::string msg) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (error_.empty()) error_ = std::move(msg);
    }
    Stop();
  }
  std::string error() const {
    std::lock_guard<std::mutex> l(mu_);
    return error_;
  }

 private:
  std::atomic<bool> measuring_{false};
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::string error_;
};

double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

struct Timing {
  double warmup = 0.5;
  double seconds = 3;
};

// A worker does one timed operation per Execute(); Prepare() runs before each
// one, untimed. Both run on the worker's own thread.
//   struct Worker { void Prepare(); bool Execute(std::string* error); };
// `make_worker(t)` builds worker t (on the main thread). `on_window(false)` /
// `on_window(true)` run on the main thread at the start / end of the window.
template <typename MakeWorker>
std::optional<CaseResult> RunCase(int threads, size_t events_per_op, const Timing& timing,
                                  MakeWorker make_worker, std::string* error,
                                  const std::function<void(bool)>& on_window = nullptr) {
  using Worker = decltype(make_worker(0));
  std::vector<Worker> workers;
  workers.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) workers.push_back(make_worker(t));

  Control ctl;
  std::vector<std::vector<int64_t>> lat(static_cast<size_t>(threads));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      Worker& w = workers[static_cast<size_t>(t)];
      std::vector<int64_t>& mine = lat[static_cast<size_t>(t)];
      mine.reserve(1 << 16);
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      std::string err;
      while (!ctl.stopped()) {
        w.Prepare();
        const bool counted = ctl.measuring();
        const Clock::time_point t0 = Clock::now();
        if (!w.Execute(&err)) {
          ctl.Fail("thread " + std::to_string(t) + ": " + err);
          return;
        }
        const Clock::time_point t1 = Clock::now();
        if (counted && !ctl.stopped()) {
          mine.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
        }
      }
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  go.store(true, std::memory_order_release);

  auto sleep_unless_failed = [&](double seconds) {
    const Clock::time_point until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                       std::chrono::duration<double>(seconds));
    while (!ctl.stopped() && Clock::now() < until) {
      std::this_thread::sleep_for(
          std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(20)));
    }
  };
  sleep_unless_failed(timing.warmup);
  if (on_window) on_window(false);
  const double cpu0 = ProcessCpuSeconds();
  const Clock::time_point w0 = Clock::now();
  ctl.StartMeasuring();
  sleep_unless_failed(timing.seconds);
  ctl.Stop();
  const Clock::time_point w1 = Clock::now();
  const double cpu1 = ProcessCpuSeconds();
  if (on_window) on_window(true);
  for (auto& th : pool) th.join();

  if (std::string e = ctl.error(); !e.empty()) {
    *error = e;
    return std::nullopt;
  }
  CaseResult r;
  r.threads = threads;
  r.events_per_op = events_per_op;
  r.seconds = std::chrono::duration<double>(w1 - w0).count();
  r.cpu_cores = r.seconds > 0 ? (cpu1 - cpu0) / r.seconds : 0;
  std::vector<int64_t> all;
  size_t total = 0;
  for (const auto& v : lat) total += v.size();
  all.reserve(total);
  for (auto& v : lat) {
    all.insert(all.end(), v.begin(), v.end());
    std::vector<int64_t>().swap(v);
  }
  r.ops = all.size();
  r.lat = Summarize(&all);
  return r;
}

// Random-ish bytes: a per-thread buffer filled by splitmix64; payloads are
// windows into it at a moving offset, so consecutive payloads differ.
class PayloadSource {
 public:
  PayloadSource(size_t payload, uint64_t seed) : payload_(payload) {
    buf_.resize(payload + 8192);
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (size_t i = 0; i < buf_.size(); i += 8) {
      x += 0x9e3779b97f4a7c15ULL;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      std::memcpy(&buf_[i], &z, std::min<size_t>(8, buf_.size() - i));
    }
  }
  std::string_view Next() {
    off_ = (off_ + 61) % 8192;
    return std::string_view(buf_).substr(off_, payload_);
  }

 private:
  size_t payload_;
  size_t off_ = 0;
  std::string buf_;
};

// ---------------------------------------------------------------- directories

// The parent of all case directories. A generated one is removed at exit.
class BenchRoot {
 public:
  bool Init(const std::string& dir, std::string* error) {
    if (dir.empty()) {
      char tmpl[] = "/tmp/append_bench.XXXXXX";
      if (mkdtemp(tmpl) == nullptr) {
        *error = std::string("mkdtemp: ") + std::strerror(errno);
        return false;
      }
      path_ = tmpl;
      owned_ = true;
      return true;
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
      *error = "cannot create '" + dir + "': " + ec.message();
      return false;
    }
    path_ = dir;
    return true;
  }
  ~BenchRoot() {
    if (!owned_) return;
    std::error_code ec;
    fs::remove_all(path_, ec);  // best effort
  }
  const std::string& path() const { return path_; }

  // A fresh, empty directory for one case: <root>/<name>.<pid>.<n>.
  bool NewCaseDir(const std::string& name, std::string* out, std::string* error) {
    const std::string p =
        path_ + "/" + name + "." + std::to_string(getpid()) + "." + std::to_string(next_++);
    std::error_code ec;
    if (!fs::create_directory(p, ec)) {
      *error = "cannot create a fresh case directory '" + p + "'" +
               (ec ? ": " + ec.message() : ": it already exists");
      return false;
    }
    *out = p;
    return true;
  }
  static void RemoveCaseDir(const std::string& p) {
    std::error_code ec;
    fs::remove_all(p, ec);  // best effort: a leftover directory is harmless
  }

 private:
  std::string path_;
  bool owned_ = false;
  int next_ = 0;
};

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
      1, 1, timing,
      [&](int t) {
        FdatasyncWorker w;
        w.fd = fd;
        w.src = std::make_unique<PayloadSource>(f.payload, static_cast<uint64_t>(t) + 1);
        return w;
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
      threads, 1, timing,
      [&](int t) {
        RocksPutWorker w;
        w.db = db.get();
        w.thread = t;
        w.src = std::make_unique<PayloadSource>(f.payload, static_cast<uint64_t>(t) + 1);
        return w;
      },
      error);
  (void)db->Close();  // benchmark data: nothing to keep on a close error
  db.reset();
  BenchRoot::RemoveCaseDir(dir);
  return r;
}

// (3), (4) logbook::Log::Append.
struct AppendWorker {
  logbook::Log* log = nullptr;
  std::string stream;
  size_t batch = 1;
  uint64_t version = 0;  // the stream's version, as this worker (its only writer) knows it
  std::unique_ptr<PayloadSource> src;
  logbook::AppendRequest req;
  void Prepare() {
    req = logbook::AppendRequest();
    req.stream = stream;
    req.actor.id = "bench";
    req.expected = logbook::ExpectedVersion::Any();
    req.events.resize(batch);
    for (auto& e : req.events) {
      e.type = kEventType;
      e.event_id = logbook::RandomEventId();
      e.payload.assign(src->Next());
    }
  }
  bool Execute(std::string* error) {
    logbook::Result<logbook::AppendResult> r = log->Append(std::move(req));
    if (!r.ok()) {
      *error = "Append to '" + stream + "' failed: " + r.status().ToString();
      return false;
    }
    if (r->deduplicated || r->last_version != version + batch ||
        r->last_lsn - r->first_lsn + 1 != batch || r->event_ids.size() != batch) {
      *error = "Append to '" + stream + "' returned an unexpected result: versions " +
               std::to_string(r->first_version) + ".." + std::to_string(r->last_version) +
               " (expected " + std::to_string(version + 1) + ".." +
               std::to_string(version + batch) + "), LSNs " + std::to_string(r->first_lsn) + ".." +
               std::to_string(r->last_lsn) +
               ", deduplicated=" + (r->deduplicated ? "true" : "false");
      return false;
    }
    version = r->last_version;
    return true;
  }
};

struct LogCaseResult {
  CaseResult c;
  uint64_t groups = 0;              // group commits in the window
  uint64_t group_appends = 0;       // requests acknowledged in the window
  uint64_t group_events = 0;        // events written in the window
  uint64_t max_group_requests = 0;  // whole case, warm-up included
  logbook::LogStats total;          // whole case
};

std::optional<LogCaseResult> RunLogAppend(BenchRoot& root, const Flags& f, const Timing& timing,
                                          int threads, size_t batch, std::string* error) {
  std::string dir;
  if (!root.NewCaseDir("log_t" + std::to_string(threads) + "_b" + std::to_string(batch), &dir,
                       error)) {
    return std::nullopt;
  }
  logbook::LogOptions options;
  options.dir = dir;
  options.create_if_missing = true;
  logbook::Result<std::unique_ptr<logbook::Log>> opened = logbook::Log::Open(options);
  if (!opened.ok()) {
    *error = "opening the log at '" + dir + "': " + opened.status().ToString();
    BenchRoot::RemoveCaseDir(dir);
    return std::nullopt;
  }
  std::unique_ptr<logbook::Log> log = std::move(opened).value();
  logbook::LogStats s0;
  logbook::LogStats s1;
  std::optional<CaseResult> r = RunCase(
      threads, batch, timing,
      [&](int t) {
        AppendWorker w;
        w.log = log.get();
        w.stream = "bench/" + std::to_string(t);
        w.batch = batch;
        w.src = std::make_unique<PayloadSource>(f.payload, static_cast<uint64_t>(t) + 1);
        return w;
      },
      error, [&](bool end) { (end ? s1 : s0) = log->stats(); });
  std::optional<LogCaseResult> out;
  if (r) {
    out.emplace();
    out->c = *r;
    out->groups = s1.group_commits - s0.group_commits;
    out->group_appends = s1.appends - s0.appends;
    out->group_events = s1.events - s0.events;
    out->total = log->stats();
    out->max_group_requests = out->total.max_group_requests;
    if (logbook::Status h = log->health(); !h.ok()) {
      *error = "the log reports an error after the case: " + h.ToString();
      out.reset();
    }
  }
  log.reset();  // drains and closes before the directory goes
  BenchRoot::RemoveCaseDir(dir);
  return out;
}

// ---------------------------------------------------------------- output

void PrintSection(const std::string& title) { std::printf("\n== %s ==\n", title.c_str()); }

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

// Right-aligns `s` to `width` columns; "µ" is two bytes but one column.
std::string PadLeft(const std::string& s, size_t width) {
  size_t cols = 0;
  for (unsigned char c : s) cols += (c & 0xC0) != 0x80;
  return cols >= width ? s : std::string(width - cols, ' ') + s;
}

void PrintTarget(const std::string& what, const std::string& measured, const std::string& target,
                 bool pass) {
  std::printf("  %-44s %s   %s %s\n", what.c_str(), PadLeft(measured, 12).c_str(),
              PadLeft(target, 13).c_str(), pass ? "PASS" : "MISS");
}

std::string JoinInts(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

std::string Producers(int n) { return std::to_string(n) + (n == 1 ? " producer" : " producers"); }

// Everything measured so far; printed at the end (also after an error).
struct Results {
  std::optional<CaseResult> sync;
  std::vector<CaseResult> rocks;
  std::vector<LogCaseResult> singles;
  std::vector<LogCaseResult> batches;
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
    PrintTarget("durable single-event appends/s", Grouped(rate),
                ">= " + Grouped(kTargetAppendsPerSec), rate >= kTargetAppendsPerSec);
    if (rocks64 != nullptr && rocks64->ops_per_sec() > 0) {
      const double ratio = rate / rocks64->ops_per_sec();
      PrintTarget("vs raw RocksDB sync Put/s (" + Grouped(rocks64->ops_per_sec()) + ")",
                  Fixed(ratio, 2) + "x", ">= 1.00x", ratio >= 1.0);
    }
    PrintTarget("p99 acknowledgement latency", Fixed(at64->c.lat.p99_us, 1) + " µs",
                "< " + Grouped(kTargetP99Us) + " µs", at64->c.lat.p99_us < kTargetP99Us);
  }
  const LogCaseResult* best = nullptr;
  for (const auto& r : res.batches) {
    if (best == nullptr || r.c.events_per_sec() > best->c.events_per_sec()) best = &r;
  }
  if (best != nullptr) {
    const double ev = best->c.events_per_sec();
    PrintTarget(
        "batch-" + std::to_string(f.batch) + " events/s (best: " + Producers(best->c.threads) + ")",
        Grouped(ev), ">= " + Grouped(kTargetBatchEventsPerSec), ev >= kTargetBatchEventsPerSec);
    if (f.batch != 100) {
      std::printf("  note: the batch target is stated for batches of 100; this run used %zu.\n",
                  f.batch);
    }
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

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (int rc = ParseFlags(argc, argv, &flags); rc != 0) return rc < 0 ? 0 : rc;
  const Timing timing{flags.warmup, flags.seconds};

  BenchRoot root;
  std::string error;
  if (!root.Init(flags.dir, &error)) {
    std::fprintf(stderr, "append_bench: %s\n", error.c_str());
    return 1;
  }

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
  auto progress = [](const std::string& what) {
    std::fprintf(stderr, "  running %s ...\n", what.c_str());
  };
  auto fail = [&](const std::string& what) {
    PrintTables(flags, res);
    std::fflush(stdout);
    std::fprintf(stderr, "\nappend_bench: ERROR in %s: %s\n", what.c_str(), error.c_str());
    return 1;
  };

  progress("fdatasync baseline");
  res.sync = RunFdatasync(root, flags, timing, &error);
  if (!res.sync) return fail("the fdatasync baseline");
  for (int t : flags.threads) {
    progress("raw RocksDB, " + std::to_string(t) + (t == 1 ? " thread" : " threads"));
    std::optional<CaseResult> r = RunRocksPut(root, flags, timing, t, &error);
    if (!r) return fail("the RocksDB baseline with " + std::to_string(t) + " threads");
    res.rocks.push_back(*r);

    progress("Log, " + Producers(t) + " x 1 event");
    std::optional<LogCaseResult> l = RunLogAppend(root, flags, timing, t, 1, &error);
    if (!l) return fail("the Log case with " + Producers(t));
    res.singles.push_back(*l);
  }
  for (int t : flags.batch_threads) {
    progress("Log, " + Producers(t) + " x " + std::to_string(flags.batch) + " events");
    std::optional<LogCaseResult> l = RunLogAppend(root, flags, timing, t, flags.batch, &error);
    if (!l) return fail("the batch case with " + Producers(t));
    res.batches.push_back(*l);
  }

  PrintTables(flags, res);
  PrintTargets(flags, res);
  std::fflush(stdout);
  return 0;
}
