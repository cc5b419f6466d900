#pragma once
// Shared pieces of the bench/ programs (append_bench, http_bench): flag parsing (ParseArgs with
// the common --seconds/--warmup/--quick/--help), number and table formatting, the measuring
// machinery (Control, RunCase with per-thread latency vectors, nearest-rank percentiles, process
// CPU time), random-ish payloads, the temporary data directory (BenchRoot) and the in-process
// logbook::Log producer case (AppendWorker, RunLogCase). Header-only: each bench is one .cc file.

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
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

#include "log/keyring.h"
#include "log/log.h"
#include "log/record.h"
#include "log/status.h"

namespace logbook::bench {

using Clock = std::chrono::steady_clock;

inline Clock::duration Secs(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// ---------------------------------------------------------------- flags

inline bool ParseDouble(std::string_view s, double* out) {
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

inline bool ParseSize(std::string_view s, size_t* out) {
  if (s.empty() || s.size() > 12) return false;
  size_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  *out = v;
  return true;
}

// The flags every bench takes: --seconds S, --warmup S, --quick (and --help).
struct CommonFlags {
  explicit CommonFlags(double default_seconds) : seconds(default_seconds) {}
  double seconds;       // measured seconds per case
  double warmup = 0.5;  // unmeasured warm-up per case
  bool seconds_set = false;
  bool warmup_set = false;
  bool quick = false;  // 1 s per case and, unless --warmup, 0.2 s warm-up
};

// Whether --quick also overrides an explicit --seconds.
enum class QuickSeconds { kOverride, kKeepExplicit };

// Prints "Usage: <argv0> [options]", a blank line, `body` (what the bench
// measures and its own options), then the options and exit statuses that all
// benches share.
inline void PrintHelp(const char* argv0, const char* body) {
  std::printf("Usage: %s [options]\n\n%s", argv0, body);
  std::printf(
      "  --quick               1 second per case, for smoke tests\n"
      "  --help                this text\n"
      "\n"
      "Exit status: 0 when every case ran (whether or not targets were met), 1 on\n"
      "errors, 2 on bad usage.\n");
}

// One of a bench's own flags, all of which take a value: `set(value)` stores it
// and says whether it is valid. A missing or invalid value is bad usage,
// reported as `usage`.
struct ValueFlag {
  const char* name;
  std::function<bool(std::string_view)> set;
  const char* usage;
};

// A flag taking a path, which must not be empty, into *out.
inline ValueFlag PathFlag(const char* name, const char* usage, std::string* out) {
  return {name,
          [out](std::string_view v) {
            if (v.empty()) return false;
            *out = std::string(v);
            return true;
          },
          usage};
}

// Parses argv[1..] into `common` and the bench's own `flags`. A flag's value
// is the text after the '=' of "--name=value", else the next argument.
// "--help" / "-h" prints PrintHelp(argv[0], help). Bad usage is reported as
// "<prog>: <message> (see --help)" on stderr. Returns 0 to run, -1 after
// --help, 2 on bad usage.
inline int ParseArgs(int argc, char** argv, const char* prog, const char* help,
                     QuickSeconds quick_seconds, CommonFlags* common,
                     const std::vector<ValueFlag>& flags) {
  auto usage = [prog](const std::string& msg) {
    std::fprintf(stderr, "%s: %s (see --help)\n", prog, msg.c_str());
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
    const auto own =
        std::find_if(flags.begin(), flags.end(), [&](const ValueFlag& f) { return arg == f.name; });
    std::string_view v;
    if (arg == "--help" || arg == "-h") {
      PrintHelp(argv[0], help);
      return -1;
    } else if (arg == "--quick") {
      common->quick = true;
    } else if (arg == "--seconds") {
      if (!value(&v) || !ParseDouble(v, &common->seconds) || common->seconds <= 0) {
        return usage("--seconds needs a positive number");
      }
      common->seconds_set = true;
    } else if (arg == "--warmup") {
      if (!value(&v) || !ParseDouble(v, &common->warmup) || common->warmup < 0) {
        return usage("--warmup needs a number >= 0");
      }
      common->warmup_set = true;
    } else if (own != flags.end()) {
      if (!value(&v) || !own->set(v)) return usage(own->usage);
    } else {
      return usage("unknown argument '" + std::string(arg) + "'");
    }
  }
  if (common->quick) {
    if (!common->seconds_set || quick_seconds == QuickSeconds::kOverride) common->seconds = 1;
    if (!common->warmup_set) common->warmup = 0.2;
  }
  return 0;
}

// A progress line on stderr: "  running <what> ...".
inline void Progress(const std::string& what) {
  std::fprintf(stderr, "  running %s ...\n", what.c_str());
}

// Ends a run after a failed case: flushes stdout (the tables printed for the
// cases that ran) and prints "\n<prog>: ERROR in <what>: <error>" on stderr.
// Returns 1, the exit status.
inline int Failed(const char* prog, const std::string& what, const std::string& error) {
  std::fflush(stdout);
  std::fprintf(stderr, "\n%s: ERROR in %s: %s\n", prog, what.c_str(), error.c_str());
  return 1;
}

// ---------------------------------------------------------------- formatting

// 1234567.8 -> "1,234,568".
inline std::string Grouped(double v) {
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

inline std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

// Right-aligns `s` to `width` columns; "µ" is two bytes but one column.
inline std::string PadLeft(const std::string& s, size_t width) {
  size_t cols = 0;
  for (unsigned char c : s) cols += (c & 0xC0) != 0x80;
  return cols >= width ? s : std::string(width - cols, ' ') + s;
}

// LLM usage the cost and retention benches generate: provider and model
// pairs of the default pricing table, and tenant names t00000, t00001, ...
struct Model {
  const char* provider;
  const char* model;
};
inline constexpr Model kModels[] = {{"openai", "gpt-4o"},
                                    {"openai", "gpt-4o-mini"},
                                    {"anthropic", "claude-3-5-sonnet"},
                                    {"openai", "text-embedding-3-small"}};
inline std::string TenantName(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "t%05zu", i);
  return buf;
}

inline void PrintSection(const std::string& title) { std::printf("\n== %s ==\n", title.c_str()); }

// One line of a "targets" section; `what` is left-aligned in `what_width` columns.
inline void PrintTarget(int what_width, const std::string& what, const std::string& measured,
                        const std::string& target, bool pass) {
  std::printf("  %-*s %s   %s %s\n", what_width, what.c_str(), PadLeft(measured, 12).c_str(),
              PadLeft(target, 13).c_str(), pass ? "PASS" : "MISS");
}

// ---------------------------------------------------------------- measurement

struct Timing {
  double warmup = 0.5;  // seconds per case, not measured
  double seconds = 1;   // measured seconds per case
};

struct Latency {
  double p50_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
};

// Nearest-rank percentiles; sorts `ns`.
inline Latency Summarize(std::vector<int64_t>* ns) {
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

// Concatenates the per-thread vectors, freeing them.
inline std::vector<int64_t> Merge(std::vector<std::vector<int64_t>>* parts) {
  size_t total = 0;
  for (const auto& v : *parts) total += v.size();
  std::vector<int64_t> all;
  all.reserve(total);
  for (auto& v : *parts) {
    all.insert(all.end(), v.begin(), v.end());
    std::vector<int64_t>().swap(v);
  }
  return all;
}

// What RunCase measured; the caller fills in what only it knows (events_per_op,
// server_cpu_cores).
struct CaseResult {
  int threads = 0;
  size_t events_per_op = 1;      // events per call (batches)
  uint64_t ops = 0;              // calls counted in the window
  double seconds = 0;            // the window's length
  double cpu_cores = 0;          // this process
  double server_cpu_cores = -1;  // a server child, where there is one; -1: n/a
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

inline double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

// A worker does one timed operation per Execute(); Prepare() runs before each
// one, untimed. Both run on the worker's own thread.
//   struct Worker { void Prepare(); bool Execute(std::string* error); };
// `make_worker(t, &error)` builds worker t on the main thread (nullopt on
// failure). `on_window(false)` / `on_window(true)` run on the main thread at
// the start / end of the measured window. All threads start together, run the
// warm-up, then the window; only calls that start in the window and end before
// its end count, toward both the rate and the latencies.
template <typename MakeWorker>
std::optional<CaseResult> RunCase(int threads, const Timing& timing, MakeWorker make_worker,
                                  std::string* error,
                                  const std::function<void(bool)>& on_window = nullptr) {
  using Worker = typename decltype(make_worker(0, error))::value_type;
  std::vector<Worker> workers;
  workers.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    std::optional<Worker> w = make_worker(t, error);
    if (!w) return std::nullopt;
    workers.push_back(std::move(*w));
  }

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
    const Clock::time_point until = Clock::now() + Secs(seconds);
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
  r.seconds = std::chrono::duration<double>(w1 - w0).count();
  r.cpu_cores = r.seconds > 0 ? (cpu1 - cpu0) / r.seconds : 0;
  std::vector<int64_t> all = Merge(&lat);
  r.ops = all.size();
  r.lat = Summarize(&all);
  return r;
}

// Random-ish bytes: a per-thread buffer filled by splitmix64; payloads are
// windows into it at a moving offset, so consecutive payloads differ. With
// `text`, the bytes are letters and digits (safe inside a JSON string).
class PayloadSource {
 public:
  PayloadSource(size_t payload, uint64_t seed, bool text = false) : payload_(payload) {
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
    if (text) {
      static constexpr char kAlphabet[] =
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
      for (char& c : buf_) c = kAlphabet[static_cast<unsigned char>(c) % 62];
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

// The parent of a run's data directories. Init() with an empty `dir` makes a
// fresh /tmp/<name>.XXXXXX, removed with all in it when the BenchRoot goes; a
// given `dir` is created if need be and kept. On failure Init() prints
// "<name>: <error>" on stderr.
class BenchRoot {
 public:
  BenchRoot() = default;
  BenchRoot(const BenchRoot&) = delete;
  BenchRoot& operator=(const BenchRoot&) = delete;
  ~BenchRoot() {
    if (!owned_) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);  // best effort
  }

  bool Init(const std::string& name, const std::string& dir) {
    if (dir.empty()) {
      // $TMPDIR lets a run put its data on another file system (a tmpfs
      // takes the disk out of a CPU profile).
      const char* tmp = std::getenv("TMPDIR");
      std::string tmpl = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + name +
                         ".XXXXXX";
      if (mkdtemp(tmpl.data()) == nullptr) {
        std::fprintf(stderr, "%s: mkdtemp: %s\n", name.c_str(), std::strerror(errno));
        return false;
      }
      path_ = tmpl;
      owned_ = true;
      return true;
    }
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      std::fprintf(stderr, "%s: cannot create '%s': %s\n", name.c_str(), dir.c_str(),
                   ec.message().c_str());
      return false;
    }
    path_ = dir;
    return true;
  }
  const std::string& path() const { return path_; }

  // A fresh, empty directory for one case: <root>/<name>.<pid>.<n>.
  bool NewCaseDir(const std::string& name, std::string* out, std::string* error) {
    const std::string p =
        path_ + "/" + name + "." + std::to_string(getpid()) + "." + std::to_string(next_++);
    std::error_code ec;
    if (!std::filesystem::create_directory(p, ec)) {
      *error = "cannot create a fresh case directory '" + p + "'" +
               (ec ? ": " + ec.message() : ": it already exists");
      return false;
    }
    *out = p;
    return true;
  }
  static void RemoveCaseDir(const std::string& p) {
    std::error_code ec;
    std::filesystem::remove_all(p, ec);  // best effort: a leftover directory is harmless
  }

 private:
  std::string path_;
  bool owned_ = false;
  int next_ = 0;
};

// ---------------------------------------------------------------- in-process appends

constexpr uint16_t kEventType = 100;

// A producer looping logbook::Log::Append() of `batch` events (type kEventType,
// a random event id, a payload from `src`) to its own `stream` with
// ExpectedVersion::Any(); checks each result against the versions it expects.
struct AppendWorker {
  logbook::Log* log = nullptr;
  std::string stream;
  std::string tenant;  // empty: the log's default
  size_t batch = 1;
  uint64_t version = 0;  // the stream's version, as this worker (its only writer) knows it
  std::unique_ptr<PayloadSource> src;
  logbook::AppendRequest req;
  void Prepare() {
    req = logbook::AppendRequest();
    req.stream = stream;
    req.tenant = tenant;
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

// The in-process Log case: opens a logbook::Log at `dir` (create_if_missing),
// runs `threads` AppendWorkers of `batch` events with `payload`-byte payloads
// (worker t to stream bench/<t>), checks the log's health and closes it. The
// caller removes `dir`.
struct LogCase {
  CaseResult c;             // events_per_op = batch
  logbook::LogStats s0;     // Log::stats() at the start of the measured window
  logbook::LogStats s1;     // at its end
  logbook::LogStats total;  // after the case, warm-up included
};

// keyring: seals the tenant's payloads (log/keyring.h); null = plaintext.
inline std::optional<LogCase> RunLogCase(const std::string& dir, int threads, size_t batch,
                                         size_t payload, const std::string& tenant,
                                         const Timing& timing, std::string* error,
                                         logbook::KeyRing* keyring = nullptr) {
  logbook::LogOptions options;
  options.dir = dir;
  options.create_if_missing = true;
  options.keyring = keyring;
  logbook::Result<std::unique_ptr<logbook::Log>> opened = logbook::Log::Open(options);
  if (!opened.ok()) {
    *error = "opening the log at '" + dir + "': " + opened.status().ToString();
    return std::nullopt;
  }
  std::unique_ptr<logbook::Log> log = std::move(opened).value();
  LogCase out;
  std::optional<CaseResult> r = RunCase(
      threads, timing,
      [&](int t, std::string*) {
        AppendWorker w;
        w.log = log.get();
        w.stream = "bench/" + std::to_string(t);
        w.tenant = tenant;
        w.batch = batch;
        w.src = std::make_unique<PayloadSource>(payload, static_cast<uint64_t>(t) + 1);
        return std::optional<AppendWorker>(std::move(w));
      },
      error, [&](bool end) { (end ? out.s1 : out.s0) = log->stats(); });
  if (r) {
    out.c = *r;
    out.c.events_per_op = batch;
    out.total = log->stats();
    if (logbook::Status h = log->health(); !h.ok()) {
      *error = "the log reports an error after the case: " + h.ToString();
      r.reset();
    }
  }
  log.reset();  // drains and closes before the directory goes
  if (!r) return std::nullopt;
  return out;
}

}  // namespace logbook::bench
