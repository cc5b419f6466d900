// `logbook serve`: the HTTP server on the data directory.

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "api/compliance_routes.h"
#include "api/graph_routes.h"
#include "api/cost_routes.h"
#include "api/hitl_routes.h"
#include "api/keys.h"
#include "api/hold_routes.h"
#include "api/lifecycle_routes.h"
#include "api/server.h"
#include "engine/graph_store.h"
#include "api/session_routes.h"
#include "tools/cli_common.h"
#include "tools/cli_workspace.h"

namespace logbook::cli {

void AddServeCommands(CLI::App& app, GlobalFlags& g, Runner* run) {
  struct ServeFlags {
    std::string keys_file;
    api::ServerOptions o;
    int64_t header_timeout_ms = 10000, body_timeout_ms = 30000, grace_ms = 10000;
    GraphOptions graph;
    int64_t graph_sweep_interval_ms = 60000;
    WorkspaceServeFlags workspace;
    std::string export_dir;
    std::vector<std::string> retain;
    std::string retention_policy;
  };
  auto f = std::make_shared<ServeFlags>();
  auto* serve = app.add_subcommand(
      "serve",
      "Run the HTTP API on the data directory (created if missing). On the first start\n"
      "without a keys file an admin key is created and printed once. SIGINT/SIGTERM stop\n"
      "accepting, finish in-flight requests and exit 0. See docs/api.md.");
  serve->add_option("--listen", f->o.listen, "host:port")->envname("LOGBOOK_LISTEN")->capture_default_str();
  serve->add_option("--keys-file", f->keys_file, "API keys file (default <data-dir>/keys.json)")
      ->envname("LOGBOOK_KEYS_FILE");
  serve->add_option("--threads", f->o.threads, "Worker threads (0: one per core)")
      ->envname("LOGBOOK_THREADS")->capture_default_str();
  serve->add_option("--body-limit", f->o.body_limit, "Largest request body in bytes (413 beyond)")
      ->envname("LOGBOOK_BODY_LIMIT")->capture_default_str();
  serve->add_option("--header-timeout-ms", f->header_timeout_ms,
                    "Time to read request headers; also the keep-alive idle limit")
      ->envname("LOGBOOK_HEADER_TIMEOUT_MS")->capture_default_str();
  serve->add_option("--body-timeout-ms", f->body_timeout_ms, "Time to read a request body")
      ->envname("LOGBOOK_BODY_TIMEOUT_MS")->capture_default_str();
  serve->add_option("--max-connections", f->o.max_connections, "Open connections at most")
      ->envname("LOGBOOK_MAX_CONNECTIONS")->capture_default_str();
  serve->add_option("--max-subscribers", f->o.max_subscribers, "Concurrent /v1/subscribe streams")
      ->envname("LOGBOOK_MAX_SUBSCRIBERS")->capture_default_str();
  serve->add_option("--rate-per-key", f->o.key_rate, "Requests/s per API key (0: unlimited)")
      ->envname("LOGBOOK_RATE_PER_KEY")->capture_default_str();
  serve->add_option("--burst-per-key", f->o.key_burst, "Burst per API key")
      ->envname("LOGBOOK_BURST_PER_KEY")->capture_default_str();
  serve->add_option("--rate-per-ip", f->o.ip_rate, "Requests/s per client IP (0: unlimited)")
      ->envname("LOGBOOK_RATE_PER_IP")->capture_default_str();
  serve->add_option("--burst-per-ip", f->o.ip_burst, "Burst per client IP")
      ->envname("LOGBOOK_BURST_PER_IP")->capture_default_str();
  serve->add_option("--shutdown-grace-ms", f->grace_ms, "On shutdown, warn this often while requests are in flight")
      ->envname("LOGBOOK_SHUTDOWN_GRACE_MS")->capture_default_str();
  // LangGraph checkpoints (docs/operations.md "Graph checkpoints").
  serve->add_option("--graph-ttl", f->graph.ttl_seconds,
                    "Default graph thread TTL in seconds (0: threads never expire)")
      ->envname("LOGBOOK_GRAPH_TTL")->capture_default_str();
  serve->add_flag("--graph-ttl-refresh-on-read", f->graph.refresh_ttl_on_read,
                  "Reads of a thread count as activity for its TTL")
      ->envname("LOGBOOK_GRAPH_TTL_REFRESH_ON_READ");
  serve->add_option("--graph-keep-latest", f->graph.keep_latest,
                    "Keep at most N checkpoints per thread namespace (0: keep all)")
      ->envname("LOGBOOK_GRAPH_KEEP_LATEST")->capture_default_str();
  serve->add_option("--export-dir", f->export_dir,
                    "Where POST /api/v1/compliance/tenants/{t}/export writes bundles (created;\n"
                    "default <data-dir>.exports)")
      ->envname("LOGBOOK_EXPORT_DIR");
  serve->add_option("--retain", f->retain,
                    "Retention policy of the retention routes: FAMILY=DAYS|keep (repeatable; over\n"
                    "LOGBOOK_RETAIN_<FAMILY>_DAYS and the defaults, see `retention --help`)");
  serve->add_option("--retention-policy", f->retention_policy,
                    "JSON file {\"family\": days or \"keep\"} for the retention routes");
  serve->add_option("--graph-sweep-interval-ms", f->graph_sweep_interval_ms,
                    "How often TTL, pruning and the chunk sweep run")
      ->envname("LOGBOOK_GRAPH_SWEEP_INTERVAL_MS")->capture_default_str();
  AddWorkspaceServeFlags(serve, &f->workspace);
  serve->callback([&g, run, f] {
    *run = [&g, f] {
      const std::string keys_path =
          f->keys_file.empty() ? (std::filesystem::path(g.data_dir) / "keys.json").string()
                               : f->keys_file;
      OpenFlags of;
      of.create = true;
      of.run_projector = true;
      Result<std::unique_ptr<Engine>> engine = OpenEngine(g, of);
      if (!engine.ok()) return Fail(engine.status());

      std::unique_ptr<api::KeyStore> keys;
      Result<std::unique_ptr<api::KeyStore>> loaded = api::KeyStore::Load(keys_path);
      if (loaded.ok()) {
        keys = std::move(loaded).value();
      } else if (loaded.status().IsNotFound()) {
        keys = api::KeyStore::CreateEmpty(keys_path);
        Result<std::string> key = keys->Create("", Role::kAdmin, "first admin key (serve)");
        if (!key.ok()) return Fail(key.status());
        std::fprintf(stdout, "%s\n", key->c_str());
        std::fflush(stdout);
        std::fprintf(stderr,
                     "logbook: created %s with an admin key for all tenants (printed above, "
                     "shown only once)\n",
                     keys_path.c_str());
      } else {
        return Fail(loaded.status());
      }

      // Access logs: formatted and written by a background thread, so a
      // request never waits for stderr.
      spdlog::init_thread_pool(16384, 1);
      auto logger = spdlog::stderr_color_mt<spdlog::async_factory>("access");
      logger->set_level(spdlog::default_logger()->level());
      spdlog::set_default_logger(logger);

      f->o.header_timeout = std::chrono::milliseconds(f->header_timeout_ms);
      f->o.body_timeout = std::chrono::milliseconds(f->body_timeout_ms);
      f->o.shutdown_grace = std::chrono::milliseconds(f->grace_ms);
      f->o.handle_signals = true;
      f->graph.sweep_interval = std::chrono::milliseconds(std::max<int64_t>(f->graph_sweep_interval_ms, 100));
      GraphStore graph(**engine, f->graph);
      api::Server server(**engine, *keys, f->o);
      api::AddGraphRoutes(server.router(), {&graph});
      auto workspace = WorkspaceServe::Start(g, f->workspace, **engine, server);
      if (!workspace.ok()) {
        const Status& s = workspace.status();
        return s.IsInvalidArgument() ? FailUsage(s.message()) : Fail(s);
      }
      api::AddSessionRoutes(server.router(), **engine);
      api::AddHitlRoutes(server.router(), **engine);
      api::AddCostRoutes(server.router(), **engine);
      api::AddLifecycleRoutes(server.router(), **engine, g.lifecycle);
      api::AddHoldRoutes(server.router(), **engine);
      api::ComplianceRouteOptions co;
      Result<RetentionPolicy> policy = BuildRetentionPolicy(f->retain, f->retention_policy);
      if (!policy.ok()) return FailUsage(policy.status().message());
      co.retention = std::move(policy).value();
      co.export_dir = f->export_dir;
      if (co.export_dir.empty()) {
        std::string d = g.data_dir;
        while (d.size() > 1 && d.back() == '/') d.pop_back();
        co.export_dir = d + ".exports";
      }
      std::error_code ec;
      std::filesystem::create_directories(co.export_dir, ec);
      if (ec) {
        return Fail(Status::IOError("cannot create export directory " + co.export_dir + ": " +
                                    ec.message()));
      }
      api::AddComplianceRoutes(server.router(), **engine, std::move(co));
      if (Status s = server.Start(); !s.ok()) return Fail(s);
      graph.Start();
      spdlog::info("logbook serving {} on {} (port {}), data dir {}", "HTTP", f->o.listen,
                   server.port(), g.data_dir);

      // Revocations made with `logbook keys revoke` take effect within seconds.
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
      std::thread reloader([&] {
        std::unique_lock<std::mutex> l(mu);
        while (!cv.wait_for(l, std::chrono::seconds(2), [&] { return done; })) {
          if (Status s = keys->ReloadIfChanged(); !s.ok()) {
            spdlog::warn("keys file not reloaded: {}", s.ToString());
          }
          (*workspace)->Poll();  // a rotated share secret takes effect without a restart
        }
      });
      server.Wait();
      {
        std::lock_guard<std::mutex> l(mu);
        done = true;
      }
      cv.notify_all();
      reloader.join();
      spdlog::info("logbook stopped; last durable LSN {}", (*engine)->log().LastLsn());
      spdlog::shutdown();  // flush the access log
      return kExitOk;
    };
  });
}

}  // namespace logbook::cli
