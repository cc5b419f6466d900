// session_bench: the session lifecycle on a real engine — snapshot create
// and restore latency for a session of --turns turns, and export/import
// throughput of its bundle (redacted and not) in MB/s. Prints figures; not
// run in CI.

#include <fstream>
#include <sstream>

#include "bench/bench_common.h"
#include "engine/bundle.h"
#include "engine/engine.h"
#include "projections/sessions.h"

using namespace logbook;
using namespace logbook::bench;
using nlohmann::json;

namespace {

constexpr char kProg[] = "session_bench";
constexpr char kHelp[] =
    "Builds one session of --turns turns (each turn a JSON Patch on the state, an AWF\n"
    "document with an e-mail and a URL in it; a pin every 10 turns, a memory every 5),\n"
    "then measures snapshot create (new state, and the same state again), snapshot\n"
    "restore, and export (redacted, not redacted) and import throughput of its bundle.\n"
    "\n"
    "Options:\n"
    "  --turns N             turns in the session (default 1000)\n"
    "  --reps N              repetitions of each measured operation (default 20)\n"
    "  --dir PATH            data directory (default: a fresh one under $TMPDIR)\n";

const Actor kActor{"bench", Role::kAdmin};

struct Timer {
  Clock::time_point t0 = Clock::now();
  int64_t Ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
  }
};

void Row(const std::string& what, std::vector<int64_t> ns, const std::string& extra = "") {
  const size_t n = ns.size();
  Latency l = Summarize(&ns);
  std::printf("%-34s %5zu %12s %12s %12s  %s\n", what.c_str(), n,
              Fixed(l.p50_us / 1000.0, 2).c_str(), Fixed(l.p99_us / 1000.0, 2).c_str(),
              Fixed(l.max_us / 1000.0, 2).c_str(), extra.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  CommonFlags common(1);
  size_t turns = 1000, reps = 20;
  std::string dir;
  const int parsed =
      ParseArgs(argc, argv, kProg, kHelp, QuickSeconds::kKeepExplicit, &common,
                {{"--turns", [&](std::string_view v) { return ParseSize(v, &turns) && turns > 0; },
                  "--turns needs a positive number"},
                 {"--reps", [&](std::string_view v) { return ParseSize(v, &reps) && reps > 0; },
                  "--reps needs a positive number"},
                 PathFlag("--dir", "--dir needs a path", &dir)});
  if (parsed != 0) return parsed < 0 ? 0 : parsed;
  if (common.quick) {
    turns = std::min<size_t>(turns, 200);
    reps = std::min<size_t>(reps, 5);
  }
  BenchRoot root;
  if (!root.Init(kProg, dir)) return 1;

  EngineOptions o;
  o.data_dir = root.path() + "/data";
  o.run_projector_thread = true;
  o.sessions.snapshot_max_count = 0;  // no limit: every snapshot stays
  o.sessions.snapshot_max_age_us = 0;
  o.sessions.bundle_max_bytes = uint64_t{1} << 30;
  Result<std::unique_ptr<Engine>> opened = Engine::Open(o);
  if (!opened.ok()) return Failed(kProg, "open", opened.status().ToString());
  Engine& engine = **opened;
  Sessions& s = engine.sessions();

  Progress("building a session of " + std::to_string(turns) + " turns");
  StartSessionInput in;
  in.session_id = "bench";
  in.kind = "awf";
  if (Result<json> h = s.Start("acme", kActor, in); !h.ok()) {
    return Failed(kProg, "start", h.status().ToString());
  }
  Timer build;
  for (size_t i = 0; i < turns; ++i) {
    json acts = json::array();
    if (i == 0) acts.push_back({{"op", "add"}, {"path", "/log"}, {"value", json::array()}});
    acts.push_back(
        {{"op", "add"},
         {"path", "/log/-"},
         {"value", {{"turn", i}, {"note", "player moved to room " + std::to_string(i % 37)}}}});
    acts.push_back({{"op", "add"}, {"path", "/turn"}, {"value", i}});
    json awf = {{"txt", "Turn " + std::to_string(i) +
                            ": the player writes to ada@example.com about https://example.com/q/" +
                            std::to_string(i) + " and walks on through the long corridor."}};
    Result<TurnOutcome> t =
        s.SubmitTurn(kActor, {"bench", "t" + std::to_string(i), awf.dump(), acts.dump()});
    if (!t.ok() || t->status != "applied") {
      return Failed(kProg, "turn " + std::to_string(i), t.ok() ? t->reason : t.status().ToString());
    }
    if (i % 10 == 0) {
      (void)engine.AppendJson(
          "session/bench", "acme", kActor, ExpectedVersion::Any(),
          {{"MemoryPinned", "", json{{"text", "pin " + std::to_string(i)}}.dump()}});
    }
    if (i % 5 == 0) {
      (void)engine.AppendJson(
          "session/bench", "acme", kActor, ExpectedVersion::Any(),
          {{"EpisodicAdded", "",
            json{{"text", "memory " + std::to_string(i)}, {"salience", (i % 7) / 7.0}}.dump()}});
    }
  }
  const double build_s = static_cast<double>(build.Ns()) / 1e9;
  const size_t body_bytes = s.CanonicalView("bench").value().size();

  std::printf("session_bench: %zu turns built in %s s; snapshot body %s bytes; %zu reps\n", turns,
              Fixed(build_s, 2).c_str(), Grouped(static_cast<double>(body_bytes)).c_str(), reps);
  PrintSection("snapshots (ms)");
  std::printf("%-34s %5s %12s %12s %12s\n", "case", "n", "p50", "p99", "max");

  std::vector<int64_t> create_new, create_same, restore;
  std::vector<std::string> ids;
  for (size_t r = 0; r < reps; ++r) {
    // A small turn first, so that the state is new.
    json acts = json::array({{{"op", "replace"}, {"path", "/turn"}, {"value", turns + r}}});
    if (Result<TurnOutcome> t =
            s.SubmitTurn(kActor, {"bench", "extra" + std::to_string(r), "", acts.dump()});
        !t.ok()) {
      return Failed(kProg, "extra turn", t.status().ToString());
    }
    Timer t1;
    Result<SnapshotResult> a = s.CreateSnapshot(kActor, "bench", "rep " + std::to_string(r));
    create_new.push_back(t1.Ns());
    if (!a.ok() || !a->created) return Failed(kProg, "snapshot create", a.status().ToString());
    ids.push_back(a->snapshot["snapshot_id"]);
    Timer t2;
    Result<SnapshotResult> b = s.CreateSnapshot(kActor, "bench", "again");
    create_same.push_back(t2.Ns());
    if (!b.ok() || b->created) return Failed(kProg, "snapshot dedup", b.status().ToString());
  }
  for (size_t r = 0; r < reps; ++r) {
    Timer t;
    Result<json> x = s.RestoreSnapshot(kActor, "bench", ids[r % 2 == 0 ? 0 : ids.size() - 1]);
    restore.push_back(t.Ns());
    if (!x.ok()) return Failed(kProg, "restore", x.status().ToString());
  }
  Row("create (new state)", create_new);
  Row("create (same state: existing)", create_same);
  Row("restore (verify + append + view)", restore);

  PrintSection("bundles");
  std::printf("%-34s %5s %12s %12s %12s  %s\n", "case", "n", "p50 ms", "p99 ms", "max ms",
              "MB/s at p50");
  const std::string file = root.path() + "/bundle.jsonl";
  for (bool redact : {true, false}) {
    std::vector<int64_t> ns;
    uint64_t bytes = 0;
    for (size_t r = 0; r < std::max<size_t>(reps / 4, 3); ++r) {
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      ExportOptions eo;
      eo.redact = redact;
      Timer t;
      Result<ExportSummary> x = ExportSession(engine, "bench", out, eo);
      out.close();
      ns.push_back(t.Ns());
      if (!x.ok()) return Failed(kProg, "export", x.status().ToString());
      bytes = x->bytes;
    }
    std::vector<int64_t> copy = ns;
    const double p50_s = Summarize(&copy).p50_us / 1e6;
    Row(redact ? "export (redacted)" : "export (not redacted)", ns,
        Fixed(static_cast<double>(bytes) / 1e6 / p50_s, 1) + " (" +
            Grouped(static_cast<double>(bytes)) + " bytes)");
  }
  {
    std::vector<int64_t> ns;
    const uint64_t bytes = std::filesystem::file_size(file);
    for (size_t r = 0; r < std::max<size_t>(reps / 4, 3); ++r) {
      ImportOptions io;
      io.preserve_turn_ids = true;
      Timer t;
      Result<ImportSummary> x = ImportSession(
          engine, kActor,
          [&]() -> std::unique_ptr<std::istream> {
            return std::make_unique<std::ifstream>(file, std::ios::binary);
          },
          io);
      ns.push_back(t.Ns());
      if (!x.ok()) return Failed(kProg, "import", x.status().ToString());
    }
    std::vector<int64_t> copy = ns;
    const double p50_s = Summarize(&copy).p50_us / 1e6;
    Row("import (validate x2 + append)", ns,
        Fixed(static_cast<double>(bytes) / 1e6 / p50_s, 1) + " (" +
            Grouped(static_cast<double>(bytes)) + " bytes)");
  }
  return 0;
}
