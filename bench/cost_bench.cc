// cost_bench: latency of the cost summary and alerts, which are served from
// the costs view (never from the log), with many usage events across many
// tenants; and the round trip of a checkpoint approval over HTTP.
//
// What is measured, in one run, in this order:
//
//   1. Load (reported, not a target): --events UsageRecorded events
//      (default 10,000,000) for --tenants tenants (default 1,000), appended
//      durably through logbook::Log in batches of --batch events per append
//      (default 1,000; one tenant's stream tenant/<t>/costs per batch) by two
//      producer threads. Each tenant's usage is spread evenly, in time order,
//      over the last --days days (default 30), over 4 provider/model pairs,
//      priced with the built-in pricing table; 1% of calls fail. Payloads are
//      built as FlatBuffers directly (the JSON path is not what is measured).
//      Then the bench waits until the projector has folded every event into
//      the views, and until RocksDB has no flush or compaction running or
//      pending (a settled store, as on a server that has been up a while).
//   2. In-process queries, as the route handlers make them (Costs::Summary /
//      Costs::Alerts plus serializing the JSON): --queries each (default
//      2,000) of summary 24h, 7d, 30d, the all-tenant summary 30d, and alerts
//      (24 h window, 168 h anomaly baseline), each for a random tenant.
//   3. The same over HTTP: an in-process api::Server with the cost and HITL
//      routes, one keep-alive connection, GET summary 30d and GET alerts.
//   4. Checkpoint approvals over HTTP: --approvals checkpoints (default 500)
//      are created in-process (untimed), then each is approved with
//      POST /api/v1/copilot/validation-response; the latency of that request
//      is measured (it returns after the decision is durable and folded).
//
// Latencies are nearest-rank p50/p99 and max of every call. Targets: summary
// and alerts p99 under 5 ms over HTTP. Missing a target is reported, not an
// error. The load generator and the server share the machine.
//
// Run:
//   cmake --build build --target cost_bench
//   build/cost_bench                      # 10 M events, 1,000 tenants (long: minutes)
//   build/cost_bench --events 1000000     # smaller
//   build/cost_bench --quick              # 200,000 events, 100 tenants, a smoke test
//   make bench-costs
// The data directory is a fresh /tmp/cost_bench.XXXXXX (or --dir), removed at
// exit unless given.

#include <flatbuffers/flatbuffers.h>
#include <rocksdb/db.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <random>

#include "api/cost_routes.h"
#include "api/hitl_routes.h"
#include "api/keys.h"
#include "api/server.h"
#include "bench/bench_common.h"
#include "engine/engine.h"
#include "schemas/events_generated.h"
#include "tests/api/http_client.h"  // a small synchronous keep-alive Beast client

using namespace logbook;
using namespace logbook::bench;

namespace {

constexpr const char* kProg = "cost_bench";
constexpr int kTargetWidth = 36;
constexpr double kTargetP99Us = 5000;

constexpr const char* kHelp =
    "Latency of the cost summary and alerts (served from the costs view) with many\n"
    "usage events across many tenants, and of a checkpoint approval over HTTP.\n"
    "\n"
    "Options:\n"
    "  --events N            usage events to load (default 10000000; --quick 200000)\n"
    "  --tenants N           tenants (default 1000; --quick 100)\n"
    "  --days N              usage spread over the last N days (default 30)\n"
    "  --batch N             events per append (default 1000)\n"
    "  --queries N           queries per case (default 2000; --quick 300)\n"
    "  --approvals N         checkpoints approved over HTTP (default 500; --quick 100)\n"
    "  --dir PATH            keep the data directory here (default: a temp dir, removed)\n";

struct Flags {
  size_t events = 10000000, tenants = 1000, days = 30, batch = 1000, queries = 2000,
         approvals = 500;
  bool events_set = false, tenants_set = false, queries_set = false, approvals_set = false;
  std::string dir;
};



std::string UsagePayload(flatbuffers::FlatBufferBuilder& fbb, const std::string& tenant,
                         const Model& m, uint64_t in, uint64_t out, int64_t usd, uint32_t latency,
                         bool ok, int64_t at) {
  fbb.Clear();
  auto t = fbb.CreateString(tenant);
  auto p = fbb.CreateString(m.provider);
  auto md = fbb.CreateString(m.model);
  auto k = fbb.CreateString(std::string_view(m.model).starts_with("text-embedding") ? "embedding"
                                                                                    : "chat");
  auto err = fbb.CreateString(ok ? "" : "rate_limit");
  auto src = fbb.CreateString("pricing");
  fb::UsageRecordedBuilder b(fbb);
  b.add_tenant(t);
  b.add_provider(p);
  b.add_model(md);
  b.add_kind(k);
  b.add_tokens_in(in);
  b.add_tokens_out(out);
  b.add_usd_micros(usd);
  b.add_latency_ms(latency);
  b.add_success(ok);
  b.add_error_code(err);
  b.add_occurred_at_us(at);
  b.add_cost_source(src);
  fbb.Finish(b.Finish());
  return std::string(reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize());
}

// Appends every usage event; producer `t` of `threads` loads tenants t, t+threads, ...
bool Load(Engine& engine, const Flags& f, int64_t now, std::string* error) {
  const PricingTable pricing = PricingTable::Default();
  const size_t per_tenant = f.events / f.tenants;
  const int64_t span = static_cast<int64_t>(f.days) * kMicrosPerDay;
  const int threads = 2;
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back([&, w] {
      flatbuffers::FlatBufferBuilder fbb(256);
      std::mt19937_64 rng(static_cast<uint64_t>(w) + 1);
      std::lognormal_distribution<double> latency(std::log(400.0), 0.6);
      for (size_t t = static_cast<size_t>(w); t < f.tenants && !failed; t += threads) {
        const std::string tenant = TenantName(t);
        size_t done = 0;
        while (done < per_tenant && !failed) {
          AppendRequest req;
          req.stream = Costs::Stream(tenant);
          req.tenant = tenant;
          req.actor = {"bench", Role::kOperator};
          const size_t n = std::min(f.batch, per_tenant - done);
          req.events.resize(n);
          for (size_t i = 0; i < n; ++i, ++done) {
            const Model& m = kModels[rng() % 4];
            const uint64_t in = 50 + rng() % 2000, out = m.model[0] == 't' ? 0 : 20 + rng() % 800;
            const int64_t usd = PricingTable::Cost(*pricing.Find(m.provider, m.model), in, out);
            const int64_t at =
                now - span + static_cast<int64_t>(done) * span / static_cast<int64_t>(per_tenant);
            req.events[i].type = static_cast<uint16_t>(fb::EventType::UsageRecorded);
            req.events[i].payload =
                UsagePayload(fbb, tenant, m, in, out, usd, static_cast<uint32_t>(latency(rng)),
                             rng() % 100 != 0, at);
          }
          Result<AppendResult> r = engine.log().Append(std::move(req));
          if (!r.ok()) {
            std::lock_guard<std::mutex> l(error_mu);
            *error = "append for " + tenant + ": " + r.status().ToString();
            failed = true;
          }
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  return !failed;
}

struct Row {
  std::string name;
  size_t n = 0;
  Latency lat;
};

// Waits (up to 10 minutes) until RocksDB runs no flush or compaction and has
// none pending, so that the queries are measured against a settled store, as
// a server that has been up a while would be. Returns the seconds waited.
double WaitForQuietStore(Engine& engine) {
  const auto t0 = Clock::now();
  rocksdb::DB* db = engine.log().db();
  while (Clock::now() - t0 < std::chrono::minutes(10)) {
    uint64_t busy = 0, v = 0;
    for (const char* p : {"rocksdb.num-running-compactions", "rocksdb.num-running-flushes",
                          "rocksdb.compaction-pending", "rocksdb.mem-table-flush-pending"}) {
      if (db->GetIntProperty(p, &v)) busy += v;
    }
    if (busy == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The machine's 1-minute load average: context for the latencies (the bench
// shares its cores with whatever else runs).
std::string LoadAverage() {
  double avg[1] = {0};
  return getloadavg(avg, 1) == 1 ? Fixed(avg[0], 2) : "-";
}

void PrintRows(const std::vector<Row>& rows) {
  std::printf("  %-38s %8s %10s %10s %10s\n", "case", "calls", "p50", "p99", "max");
  for (const Row& r : rows) {
    std::printf("  %-38s %8s %10s %10s %10s\n", r.name.c_str(),
                Grouped(static_cast<double>(r.n)).c_str(),
                PadLeft(Fixed(r.lat.p50_us / 1000.0, 3) + " ms", 10).c_str(),
                PadLeft(Fixed(r.lat.p99_us / 1000.0, 3) + " ms", 10).c_str(),
                PadLeft(Fixed(r.lat.max_us / 1000.0, 3) + " ms", 10).c_str());
  }
}

// Times `n` calls of fn(i); fn returns false (with *error) on failure.
template <typename Fn>
std::optional<Row> Measure(const std::string& name, size_t n, Fn fn, std::string* error) {
  Progress(name);
  std::vector<int64_t> ns;
  ns.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    if (!fn(i, error)) return std::nullopt;
    ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
  }
  Row r{name, n, Summarize(&ns)};
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CommonFlags common(1);
  auto size_flag = [](const char* name, size_t* dst, bool* set, size_t min) {
    return ValueFlag{name,
                     [dst, set, min](std::string_view v) {
                       if (!ParseSize(v, dst) || *dst < min) return false;
                       if (set) *set = true;
                       return true;
                     },
                     "needs a positive number"};
  };
  const int rc = ParseArgs(
      argc, argv, kProg, kHelp, QuickSeconds::kKeepExplicit, &common,
      {size_flag("--events", &f.events, &f.events_set, 1),
       size_flag("--tenants", &f.tenants, &f.tenants_set, 1),
       size_flag("--days", &f.days, nullptr, 1), size_flag("--batch", &f.batch, nullptr, 1),
       size_flag("--queries", &f.queries, &f.queries_set, 1),
       size_flag("--approvals", &f.approvals, &f.approvals_set, 1),
       PathFlag("--dir", "--dir needs a path", &f.dir)});
  if (rc != 0) return rc < 0 ? 0 : rc;
  spdlog::set_level(spdlog::level::warn);  // no access log lines among the tables
  if (common.quick) {
    if (!f.events_set) f.events = 200000;
    if (!f.tenants_set) f.tenants = 100;
    if (!f.queries_set) f.queries = 300;
    if (!f.approvals_set) f.approvals = 100;
  }
  if (f.tenants > f.events) f.tenants = f.events;
  f.events = f.events / f.tenants * f.tenants;

  BenchRoot root;
  if (!root.Init(kProg, f.dir)) return 1;
  std::string dir, error;
  if (!root.NewCaseDir("data", &dir, &error)) return Failed(kProg, "setup", error);

  EngineOptions eo;
  eo.data_dir = dir;
  Result<std::unique_ptr<Engine>> opened = Engine::Open(eo);
  if (!opened.ok()) return Failed(kProg, "opening the engine", opened.status().ToString());
  std::unique_ptr<Engine> engine = std::move(opened).value();
  const int64_t now = engine->Now();

  std::printf(
      "cost_bench: %s usage events, %s tenants, %zu days, %zu events per append; "
      "%u cores, load average %s\n",
      Grouped(static_cast<double>(f.events)).c_str(),
      Grouped(static_cast<double>(f.tenants)).c_str(), f.days, f.batch,
      std::thread::hardware_concurrency(), LoadAverage().c_str());
  PrintSection("load");
  Progress("load");
  const auto l0 = Clock::now();
  if (!Load(*engine, f, now, &error)) return Failed(kProg, "load", error);
  const double load_s = std::chrono::duration<double>(Clock::now() - l0).count();
  const auto v0 = Clock::now();
  Status s = engine->WaitForViews(engine->log().LastLsn(), std::chrono::hours(24));
  if (!s.ok()) return Failed(kProg, "waiting for the views", s.ToString());
  const double fold_s = std::chrono::duration<double>(Clock::now() - v0).count();
  std::printf("  appended %s events in %s s (%s events/s, durable); views caught up %s s later\n",
              Grouped(static_cast<double>(f.events)).c_str(), Fixed(load_s, 1).c_str(),
              Grouped(static_cast<double>(f.events) / load_s).c_str(), Fixed(fold_s, 1).c_str());
  Progress("waiting for RocksDB flushes and compactions to finish");
  const double quiet_s = WaitForQuietStore(*engine);
  std::printf("  RocksDB idle %s s later\n", Fixed(quiet_s, 1).c_str());

  std::mt19937_64 rng(42);
  auto tenant = [&] { return TenantName(rng() % f.tenants); };
  std::vector<Row> rows;
  auto add = [&](std::optional<Row> r) {
    if (!r) return false;
    rows.push_back(*r);
    return true;
  };
  // Every query must find the tenant's usage: a wrong answer is an error, not a fast one.
  auto summary = [&](int64_t hours, bool all) {
    return [&, hours, all](size_t, std::string* err) {
      Result<nlohmann::json> j =
          engine->costs().Summary(all ? std::string(kAllTenants) : tenant(), hours);
      if (!j.ok()) {
        *err = j.status().ToString();
        return false;
      }
      if ((*j)["totals"]["events"].get<uint64_t>() == 0) {
        *err = "a summary found no usage";
        return false;
      }
      return !j->dump().empty();
    };
  };
  PrintSection("queries in-process (Costs::Summary / Costs::Alerts + JSON), random tenants");
  if (!add(Measure("summary 24h", f.queries, summary(24, false), &error)) ||
      !add(Measure("summary 7d", f.queries, summary(7 * 24, false), &error)) ||
      !add(Measure("summary 30d", f.queries, summary(30 * 24, false), &error)) ||
      !add(Measure("summary 30d, all tenants", f.queries, summary(30 * 24, true), &error)) ||
      !add(Measure(
          "alerts 24h (168 h baseline)", f.queries,
          [&](size_t, std::string* err) {
            Result<nlohmann::json> j = engine->costs().Alerts(tenant(), 24);
            if (!j.ok()) *err = j.status().ToString();
            return j.ok() && !j->dump().empty();
          },
          &error))) {
    return Failed(kProg, "in-process queries", error);
  }
  PrintRows(rows);

  // ---- HTTP
  std::unique_ptr<api::KeyStore> keys = api::KeyStore::CreateEmpty(root.path() + "/keys.json");
  Result<std::string> key = keys->Create("*", Role::kAdmin, "bench");
  if (!key.ok()) return Failed(kProg, "creating a key", key.status().ToString());
  api::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.threads = 2;
  api::Server server(*engine, *keys, so);
  api::AddHitlRoutes(server.router(), *engine);
  api::AddCostRoutes(server.router(), *engine);
  if (Status st = server.Start(); !st.ok())
    return Failed(kProg, "starting the server", st.ToString());
  test::HttpClient client(server.port());
  const std::map<std::string, std::string> auth = {{"Authorization", "Bearer " + *key}};
  auto get = [&](const std::string& path) {
    return [&, path](size_t, std::string* err) {
      test::HttpResult r = client.Send("GET", path + "&tenant_id=" + tenant(), "", auth);
      if (r.status != 200)
        *err = "GET " + path + ": " + std::to_string(r.status) + " " + r.body + r.error;
      return r.status == 200;
    };
  };
  rows.clear();
  PrintSection("over HTTP (one keep-alive connection)");
  if (!add(Measure("GET summary 30d", f.queries, get("/api/v1/ops/costs/summary?window=30d"),
                   &error)) ||
      !add(Measure("GET alerts 24h", f.queries, get("/api/v1/ops/costs/alerts?window=24h"),
                   &error))) {
    return Failed(kProg, "HTTP queries", error);
  }
  // Approvals: create untimed, approve timed.
  Progress("creating " + std::to_string(f.approvals) + " checkpoints");
  std::vector<std::string> ids;
  for (size_t i = 0; i < f.approvals; ++i) {
    CheckpointSpec spec;
    spec.tenant = TenantName(i % f.tenants);
    spec.prompt = "Approve sources?";
    spec.source_ids = {"source-1", "source-2", "source-3"};
    HitlResult c = engine->hitl().Create(spec, Actor{"bench", Role::kOperator});
    if (!c.ok()) return Failed(kProg, "creating checkpoints", c.message);
    ids.push_back(c.state.id);
  }
  if (!add(Measure(
          "POST validation-response (approve)", f.approvals,
          [&](size_t i, std::string* err) {
            std::map<std::string, std::string> h = auth;
            h["X-Tenant-ID"] = TenantName(i % f.tenants);
            test::HttpResult r = client.Send(
                "POST", "/api/v1/copilot/validation-response",
                R"({"checkpoint_id":")" + ids[i] + R"(","approved_source_ids":["source-1"]})", h);
            if (r.status != 200)
              *err = "approve: " + std::to_string(r.status) + " " + r.body + r.error;
            return r.status == 200;
          },
          &error))) {
    return Failed(kProg, "approvals", error);
  }
  PrintRows(rows);

  std::printf("  (load average now %s)\n", LoadAverage().c_str());
  PrintSection("targets");
  for (const Row& r : rows) {
    if (r.name.starts_with("POST")) continue;
    PrintTarget(kTargetWidth, r.name + " p99", Fixed(r.lat.p99_us / 1000.0, 3) + " ms", "< 5 ms",
                r.lat.p99_us < kTargetP99Us);
  }
  server.Shutdown();
  server.Wait();
  if (Status h = engine->log().health(); !h.ok()) return Failed(kProg, "the log", h.ToString());
  return 0;
}
