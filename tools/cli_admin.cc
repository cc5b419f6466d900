// CLI commands for operators: audit verify|query, stats, projections status|rebuild.

#include <cstdio>

#include "log/event_types.h"
#include "log/verify.h"
#include "tools/cli_common.h"

namespace logbook::cli {

void AddAdminCommands(CLI::App& app, GlobalFlags& g, Runner* run) {
  auto* audit = app.add_subcommand("audit", "Verify the log, or query who did what and when");
  audit->require_subcommand(1);

  // ---- audit verify
  struct VerifyFlags {
    uint64_t from_lsn = 1;
    size_t max_problems = 20;
  };
  auto vf = std::make_shared<VerifyFlags>();
  auto* verify = audit->add_subcommand(
      "verify",
      "Walk every retained event: checksums, hash chains, LSN continuity, stream and\n"
      "idempotency indexes, stream heads. Exit 0 when clean; 8 with the problems found.");
  verify->add_option("--from-lsn", vf->from_lsn, "Start here (chains are checked from the "
                                                 "stored previous event)")
      ->capture_default_str();
  verify->add_option("--max-problems", vf->max_problems, "Stop after this many problems")
      ->capture_default_str();
  verify->callback([&g, run, vf] {
    *run = [&g, vf] {
      OpenFlags f;
      f.mode = OpenMode::kPreferReadWrite;
      f.catch_up_views = false;
      f.verify_tail = false;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, f);
      if (!e.ok()) return Fail(e.status());
      Progress progress("audit verify");
      VerifyOptions o;
      o.from_lsn = vf->from_lsn;
      o.max_problems = std::max<size_t>(vf->max_problems, 1);
      o.progress = [&](uint64_t done, uint64_t total) { progress.Update(done, total); };
      VerifyReport r = VerifyLog((*e)->log(), o);
      if (!r.status.ok()) return Fail(r.status);
      for (const VerifyProblem& p : r.problems) {
        std::fprintf(stderr, "logbook: corruption: %s\n", p.ToString().c_str());
      }
      const std::string removed =
          r.removed > 0 ? " (" + std::to_string(r.removed) + " removed)" : std::string();
      std::printf("audit verify: %llu records%s, %llu streams, LSN %llu..%llu: %s\n",
                  static_cast<unsigned long long>(r.records), removed.c_str(),
                  static_cast<unsigned long long>(r.streams),
                  static_cast<unsigned long long>(r.first_lsn),
                  static_cast<unsigned long long>(r.last_lsn),
                  r.problems.empty() ? "clean"
                                     : (std::to_string(r.problems.size()) + " problem(s)").c_str());
      return r.problems.empty() ? kExitOk : kExitCorruption;
    };
  });

  // ---- audit query
  struct QueryFlags {
    std::string tenant, actor, type, since, until;
    size_t limit = 1000;
    bool events = false;
  };
  auto qf = std::make_shared<QueryFlags>();
  auto* query = audit->add_subcommand(
      "query",
      "Events by tenant, actor, event type and time range, in time order, served by the\n"
      "audit_index view (not a scan). Prints JSON lines.");
  query->add_option("--tenant", qf->tenant, "Tenant");
  query->add_option("--actor", qf->actor, "Actor id");
  query->add_option("--type", qf->type, "Event type name");
  query->add_option("--since", qf->since, "From this time, inclusive (RFC 3339 UTC or µs)");
  query->add_option("--until", qf->until, "Until this time, exclusive (RFC 3339 UTC or µs)");
  query->add_option("--limit", qf->limit, "At most this many")->capture_default_str();
  query->add_flag("--events", qf->events, "Print the whole events, not just the index entries");
  query->callback([&g, run, qf] {
    *run = [&g, qf] {
      AuditQuery q;
      q.limit = qf->limit;
      if (!qf->tenant.empty()) q.tenant = qf->tenant;
      if (!qf->actor.empty()) q.actor = qf->actor;
      if (!qf->type.empty()) {
        uint16_t t = 0;
        if (!ParseEventType(qf->type, &t)) {
          return Fail(Status::InvalidArgument("unknown event type '" + qf->type + "'"));
        }
        q.type = t;
      }
      if (!qf->since.empty() && !ParseTimestamp(qf->since, &q.from_us)) {
        return FailUsage("--since '" + qf->since + "' is not an RFC 3339 UTC time");
      }
      if (!qf->until.empty() && !ParseTimestamp(qf->until, &q.to_us)) {
        return FailUsage("--until '" + qf->until + "' is not an RFC 3339 UTC time");
      }
      OpenFlags f;
      f.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, f);
      if (!e.ok()) return Fail(e.status());
      Result<std::vector<AuditHit>> hits = (*e)->QueryAudit(q);
      if (!hits.ok()) return Fail(hits.status());
      for (const AuditHit& h : *hits) {
        nlohmann::json j;
        if (qf->events) {
          Result<Event> ev = (*e)->log().ReadEvent(h.lsn);
          if (!ev.ok() && ev.status().IsNotFound()) continue;  // removed since it was indexed
          if (!ev.ok()) return Fail(ev.status());
          j = Engine::EventToJson(*ev);
        } else {
          j = {{"lsn", h.lsn},
               {"recorded_at", FormatTimestamp(h.recorded_at_us)},
               {"tenant", h.tenant},
               {"actor", h.actor},
               {"type", EventTypeName(h.type)}};
        }
        std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      }
      return kExitOk;
    };
  });

  // ---- stats
  auto* stats = app.add_subcommand("stats", "Log and view statistics as JSON");
  stats->callback([&g, run] {
    *run = [&g] {
      OpenFlags f;
      f.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, f);
      if (!e.ok()) return Fail(e.status());
      Result<nlohmann::json> s = (*e)->Stats();
      if (!s.ok()) return Fail(s.status());
      std::printf("%s\n", s->dump(2).c_str());
      return kExitOk;
    };
  });

  // ---- projections status|rebuild
  auto* proj = app.add_subcommand("projections", "Inspect or rebuild the views");
  proj->require_subcommand(1);
  auto* status = proj->add_subcommand("status", "Each view's checkpoint LSN, lag and error");
  status->callback([&g, run] {
    *run = [&g] {
      OpenFlags f;
      f.mode = OpenMode::kPreferReadWrite;
      f.catch_up_views = false;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, f);
      if (!e.ok()) return Fail(e.status());
      std::printf("%-16s %8s %14s %10s  %s\n", "VIEW", "VERSION", "CHECKPOINT", "LAG", "ERROR");
      for (const ViewStatus& v : (*e)->projector().GetStatus()) {
        std::printf("%-16s %8u %14llu %10llu  %s\n", v.name.c_str(), v.version,
                    static_cast<unsigned long long>(v.checkpoint_lsn),
                    static_cast<unsigned long long>(v.lag), v.error.empty() ? "-" : v.error.c_str());
      }
      return kExitOk;
    };
  });
  auto view = std::make_shared<std::string>();
  auto* rebuild = proj->add_subcommand(
      "rebuild", "Drop a view (or all) and fold it again from LSN 1; needs the data directory "
                 "to itself (stop the server first)");
  rebuild->add_option("--view", *view, "Only this view");
  rebuild->callback([&g, run, view] {
    *run = [&g, view] {
      OpenFlags f;
      f.catch_up_views = false;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, f);
      if (!e.ok()) return Fail(e.status());
      Projector& p = (*e)->projector();
      if (Status s = p.Reset(*view); !s.ok()) return Fail(s);
      Progress progress("rebuilding " + (view->empty() ? std::string("views") : *view));
      Status s = p.CatchUp([&](uint64_t d, uint64_t t) { progress.Update(d, t); });
      if (!s.ok()) return Fail(s);
      std::printf("rebuilt %s up to LSN %llu\n", view->empty() ? "all views" : view->c_str(),
                  static_cast<unsigned long long>(p.AppliedLsn()));
      return kExitOk;
    };
  });
}

}  // namespace logbook::cli
