// CLI commands for the artifact lifecycle: lifecycle store|run|restore|summary|list, and the
// global retention settings --hot-days, --warm-days, --cold-days (docs/operations.md
// "Storage lifecycle").

#include <cstdio>

#include "tools/cli_common.h"

namespace logbook::cli {

namespace {

struct LifecycleFlags {
  std::string tenant, artifact, workflow, hash, label, tier = "hot", stored_at, actor = "cli";
  uint64_t bytes = 0;
  bool dry_run = false, live = false, summary = false, json = false;
  size_t limit = 0;
};

// Roles that may read the lifecycle state and plan a run.
constexpr std::initializer_list<Role> kReaders = {Role::kAuditor, Role::kCompliance, Role::kAdmin,
                                                  Role::kOperator};

std::string HumanBytes(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(b);
  size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(b));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s", v, units[u]);
  }
  return buf;
}

void PrintJson(const nlohmann::json& j) {
  std::printf("%s\n", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

void PrintReport(const LifecycleReport& r) {
  const nlohmann::json c = r.Counts();
  const std::string who = r.tenant.empty() ? std::string("all tenants") : "tenant " + r.tenant;
  std::printf("Lifecycle %s at %s, %s, policy hot %ud / warm %ud / cold %ud\n",
              r.live ? "run (live)" : "plan (dry run: nothing changed)",
              FormatTimestamp(r.now_us).c_str(), who.c_str(), r.policy.hot_days, r.policy.warm_days,
              r.policy.cold_days);
  std::printf("  hot -> warm:       %llu\n",
              static_cast<unsigned long long>(c["hot_to_warm"].get<uint64_t>()));
  std::printf("  warm -> cold:      %llu\n",
              static_cast<unsigned long long>(c["warm_to_cold"].get<uint64_t>()));
  std::printf("  purged from cold:  %llu (%s)\n",
              static_cast<unsigned long long>(c["purged_from_cold"].get<uint64_t>()),
              HumanBytes(c["purged_bytes"].get<uint64_t>()).c_str());
  std::printf("  purge withheld:    %llu\n",
              static_cast<unsigned long long>(c["purge_withheld_by_hold"].get<uint64_t>()));
  for (const HeldTenant& h : r.held) {
    std::printf("    tenant %s: %llu artifact(s), %s -- %s\n", h.tenant.c_str(),
                static_cast<unsigned long long>(h.withheld), HumanBytes(h.bytes).c_str(),
                h.reason.c_str());
  }
  if (r.live) {
    std::printf("  done %llu, already done %llu, changed since planned %llu, errors %llu\n",
                static_cast<unsigned long long>(c["done"].get<uint64_t>()),
                static_cast<unsigned long long>(c["already_done"].get<uint64_t>()),
                static_cast<unsigned long long>(c["changed"].get<uint64_t>()),
                static_cast<unsigned long long>(c["error"].get<uint64_t>()));
  }
  if (r.truncated) std::printf("  (--limit reached: more is due; run again)\n");
  for (const LifecycleAction& a : r.actions) {
    std::string outcome;
    if (r.live) outcome = " " + a.outcome;
    if (!a.error.empty()) outcome += ": " + a.error;
    std::printf("  %s/%s/%s  %s -> %s  (%u day(s) in %s, %s)%s\n", a.tenant.c_str(),
                a.workflow.c_str(), a.artifact_id.c_str(), a.from_tier.c_str(), a.to_tier.c_str(),
                a.age_days, a.from_tier.c_str(), HumanBytes(a.bytes).c_str(), outcome.c_str());
  }
}

void PrintSummary(const std::vector<TenantTierSummary>& all) {
  std::printf("  %-24s %-6s %10s %12s\n", "TENANT", "TIER", "ARTIFACTS", "BYTES");
  if (all.empty()) std::printf("  (no artifacts)\n");
  for (const TenantTierSummary& t : all) {
    for (const auto& [name, tot] : {std::pair<const char*, const TierTotals*>{"hot", &t.hot},
                                    {"warm", &t.warm},
                                    {"cold", &t.cold},
                                    {"purged", &t.purged}}) {
      std::printf("  %-24s %-6s %10llu %12s\n", t.tenant.c_str(), name,
                  static_cast<unsigned long long>(tot->count), HumanBytes(tot->bytes).c_str());
    }
  }
}

nlohmann::json SummaryJson(const std::vector<TenantTierSummary>& all) {
  nlohmann::json tenants = nlohmann::json::array();
  for (const TenantTierSummary& t : all) tenants.push_back(t.ToJson());
  return {{"tenants", std::move(tenants)}};
}

int ShowSummary(GlobalFlags& g, const LifecycleFlags& f) {
  OpenFlags of;
  of.mode = OpenMode::kPreferReadWrite;
  Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
  if (!e.ok()) return Fail(e.status());
  LifecycleService svc(**e);
  Result<std::vector<TenantTierSummary>> s = svc.Summary(f.tenant);
  if (!s.ok()) return Fail(s.status());
  if (f.json) {
    PrintJson(SummaryJson(*s));
  } else {
    std::printf("Storage tiers, %s\n", f.tenant.empty() ? "all tenants" : f.tenant.c_str());
    PrintSummary(*s);
  }
  return kExitOk;
}

}  // namespace

void AddLifecycleCommands(CLI::App& app, GlobalFlags& g, Runner* run) {
  // ---- retention settings, global so that `serve` and the commands below agree
  struct DaysFlag {
    const char* flag;
    const char* env;
    uint32_t* dst;
    const char* what;
  };
  const DaysFlag days[] = {
      {"--hot-days", "LOGBOOK_HOT_RETENTION_DAYS", &g.lifecycle.hot_days,
       "Days an artifact stays hot before the lifecycle job moves it to warm"},
      {"--warm-days", "LOGBOOK_WARM_RETENTION_DAYS", &g.lifecycle.warm_days,
       "Days an artifact stays warm before it moves to cold"},
      {"--cold-days", "LOGBOOK_COLD_RETENTION_DAYS", &g.lifecycle.cold_days,
       "Days an artifact stays cold before it is purged (unless its tenant is on legal hold)"}};
  for (const DaysFlag& d : days) {
    app.add_option(d.flag, *d.dst, d.what)
        ->envname(d.env)
        ->check(CLI::Range(uint32_t{0}, uint32_t{36600}))
        ->capture_default_str()
        ->group("Lifecycle");
  }

  auto f = std::make_shared<LifecycleFlags>();
  auto* lc = app.add_subcommand(
      "lifecycle",
      "Artifacts by storage tier: record them, move them hot -> warm -> cold -> purged by age\n"
      "(--hot-days/--warm-days/--cold-days), restore them to hot. A legal hold on a tenant\n"
      "withholds its purges (exit 3 after a live run).");
  lc->require_subcommand(1);

  // ---- lifecycle store
  auto* store = lc->add_subcommand(
      "store", "Record an artifact (ArtifactStored), in hot unless --tier says otherwise");
  store->add_option("--tenant", f->tenant, "Tenant")->required();
  store->add_option("--artifact", f->artifact, "Artifact id ([A-Za-z0-9._:@$=+-])")->required();
  store->add_option("--workflow", f->workflow, "Workflow that produced it");
  store->add_option("--bytes", f->bytes, "Size in bytes")->required();
  store->add_option("--hash", f->hash, "BLAKE2b-256 of the content, 64 hex digits")->required();
  store->add_option("--label", f->label, "Name or classification label, e.g. Internal");
  store->add_option("--tier", f->tier, "Tier it is in now")
      ->check(CLI::IsMember({"hot", "warm", "cold"}))
      ->capture_default_str();
  store->add_option("--stored-at", f->stored_at,
                    "When it was stored (RFC 3339 UTC or µs; default now): registers an\n"
                    "existing artifact with its real age");
  store->add_option("--actor", f->actor, "Who records it (recorded)")->capture_default_str();
  store->callback([&g, run, f] {
    *run = [&g, f] {
      if (int rc = RequireRole(g, {Role::kOperator, Role::kCompliance, Role::kAdmin},
                               "record an artifact");
          rc) {
        return rc;
      }
      ArtifactInput in;
      in.tenant = f->tenant;
      in.artifact_id = f->artifact;
      in.workflow = f->workflow;
      in.bytes = f->bytes;
      in.content_hash = f->hash;
      in.label = f->label;
      in.tier = f->tier;
      if (!f->stored_at.empty() && !ParseTimestamp(f->stored_at, &in.stored_at_us)) {
        return FailUsage("--stored-at must be RFC 3339 UTC (\"2026-11-01T00:00:00Z\") or µs");
      }
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, OpenFlags{});
      if (!e.ok()) return Fail(e.status());
      LifecycleService svc(**e);
      Result<StoreResult> r = svc.Store(in, {f->actor, CliRole(g)});
      if (!r.ok()) return Fail(r.status());
      nlohmann::json j = r->artifact.ToJson();
      j["created"] = r->created;
      std::printf("%s\n", j.dump().c_str());
      return kExitOk;
    };
  });

  // ---- lifecycle run
  auto* runc = lc->add_subcommand(
      "run",
      "The lifecycle job: --dry-run prints the plan, --live carries it out, --summary shows\n"
      "the tiers. Moves hot -> warm after --hot-days in hot, warm -> cold after --warm-days\n"
      "in warm, purges from cold after --cold-days in cold; one step per artifact per run.\n"
      "A rerun is safe (moves are not repeated). A tenant under legal hold keeps its cold\n"
      "artifacts: a live run that withheld a purge exits 3, after every other action.");
  auto* dry = runc->add_flag("--dry-run", f->dry_run, "Print the plan; change nothing");
  auto* live = runc->add_flag("--live", f->live, "Carry the plan out (compliance or admin)");
  auto* summ = runc->add_flag("--summary", f->summary, "Show artifacts and bytes per tier");
  dry->excludes(live)->excludes(summ);
  live->excludes(summ);
  runc->add_option("--tenant", f->tenant, "Only this tenant (default: every tenant)");
  runc->add_option("--limit", f->limit, "At most this many moves and purges (0: no limit)")
      ->capture_default_str();
  runc->add_flag("--json", f->json, "The report as JSON");
  runc->add_option("--actor", f->actor, "Who runs it (recorded)")->capture_default_str();
  runc->callback([&g, run, f] {
    *run = [&g, f] {
      if (!f->dry_run && !f->live && !f->summary) {
        return FailUsage("lifecycle run needs --dry-run, --live or --summary");
      }
      if (f->summary) {
        if (int rc = RequireRole(g, kReaders, "read the lifecycle summary"); rc) return rc;
        return ShowSummary(g, *f);
      }
      if (f->live) {
        if (int rc = RequireRole(g, {Role::kCompliance, Role::kAdmin}, "run the lifecycle job");
            rc) {
          return rc;
        }
      } else if (int rc = RequireRole(g, kReaders, "plan the lifecycle job"); rc) {
        return rc;
      }
      OpenFlags of;
      if (!f->live) of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      LifecycleService svc(**e);
      LifecyclePolicy policy = g.lifecycle;
      policy.max_actions = f->limit;
      Result<LifecycleReport> r = svc.Run(policy, f->tenant, f->live, {f->actor, CliRole(g)});
      if (!r.ok()) return Fail(r.status());
      if (f->json) {
        PrintJson(r->ToJson());
      } else {
        PrintReport(*r);
      }
      std::fflush(stdout);
      if (!f->live) return kExitOk;
      if (Status s = r->Outcome(); !s.ok()) return Fail(s);
      return kExitOk;
    };
  });

  // ---- lifecycle restore
  auto* restore = lc->add_subcommand(
      "restore",
      "Bring an artifact back to hot (ArtifactRestored); it then stays hot for --hot-days.\n"
      "Purged artifacts cannot be restored (exit 5).");
  restore->add_option("--tenant", f->tenant, "Tenant")->required();
  restore->add_option("--artifact", f->artifact, "Artifact id")->required();
  restore->add_option("--actor", f->actor, "Who restores it (recorded)")->capture_default_str();
  restore->callback([&g, run, f] {
    *run = [&g, f] {
      if (int rc = RequireRole(g, {Role::kOperator, Role::kCompliance, Role::kAdmin},
                               "restore an artifact");
          rc) {
        return rc;
      }
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, OpenFlags{});
      if (!e.ok()) return Fail(e.status());
      LifecycleService svc(**e);
      Result<RestoreResult> r = svc.Restore(f->tenant, f->artifact, {f->actor, CliRole(g)});
      if (!r.ok()) return Fail(r.status());
      nlohmann::json j = r->artifact.ToJson();
      j["restored"] = r->restored;
      j["from_tier"] = r->from_tier;
      std::printf("%s\n", j.dump().c_str());
      return kExitOk;
    };
  });

  // ---- lifecycle summary
  auto* summary = lc->add_subcommand("summary", "Artifacts and bytes per tier, per tenant");
  summary->add_option("--tenant", f->tenant, "Only this tenant");
  summary->add_flag("--json", f->json, "As JSON");
  summary->callback([&g, run, f] {
    *run = [&g, f] {
      if (int rc = RequireRole(g, kReaders, "read the lifecycle summary"); rc) return rc;
      return ShowSummary(g, *f);
    };
  });

  // ---- lifecycle list
  auto* list = lc->add_subcommand("list", "A tenant's artifacts (JSON lines), by artifact id");
  list->add_option("--tenant", f->tenant, "Tenant")->required();
  list->add_option("--tier", f->tier, "Only this tier (purged: only purged ones)")
      ->check(CLI::IsMember({"hot", "warm", "cold", "purged", "all"}));
  list->callback([&g, run, f, list] {
    if (list->count("--tier") == 0) f->tier = "all";
    *run = [&g, f] {
      if (int rc = RequireRole(g, kReaders, "list artifacts"); rc) return rc;
      OpenFlags of;
      of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      LifecycleService svc(**e);
      Result<std::vector<ArtifactEntry>> all = svc.List(f->tenant, SIZE_MAX);
      if (!all.ok()) return Fail(all.status());
      for (const ArtifactEntry& a : *all) {
        const bool keep = f->tier == "all" || (f->tier == "purged" && a.purged) ||
                          (!a.purged && a.tier == f->tier);
        if (keep) std::printf("%s\n", a.ToJson().dump().c_str());
      }
      return kExitOk;
    };
  });
}

}  // namespace logbook::cli
