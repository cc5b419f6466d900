// CLI commands for compliance: legal holds (hold apply|release|check, holds
// list), retention (retention run|policy) and tenants (tenant export|delete).
// docs/operations.md "Legal holds", "Retention", "Tenant export and deletion".

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/holds.h"
#include "engine/retention.h"
#include "engine/tenants.h"
#include "tools/cli_common.h"

namespace logbook::cli {

namespace {

struct HoldFlags {
  std::string tenant, id, reason, actor = "cli";
};

void PrintHold(const HoldEntry& h) { std::printf("%s\n", h.ToJson().dump().c_str()); }

struct RetentionFlags {
  std::vector<std::string> retain;
  std::string policy_file, tenant, actor = "cli";
  bool dry_run = false, no_compact = false;
  size_t batch = 20000;
};

}  // namespace

Result<RetentionPolicy> BuildRetentionPolicy(const std::vector<std::string>& retain,
                                             const std::string& policy_file) {
  RetentionPolicy p = RetentionPolicy::Defaults();
  for (const std::string& family : RetentionFamilies()) {
    std::string env = "LOGBOOK_RETAIN_";
    for (char c : family) env.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    env += "_DAYS";
    if (const char* v = std::getenv(env.c_str()); v != nullptr && *v != '\0') {
      if (Status s = p.Set(family + "=" + v); !s.ok()) {
        return Status::InvalidArgument(env + ": " + s.message());
      }
    }
  }
  if (!policy_file.empty()) {
    std::ifstream in(policy_file);
    if (!in) return Status::NotFound("cannot read policy file " + policy_file);
    std::stringstream text;
    text << in.rdbuf();
    const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
    if (Status s = p.SetAll(j); !s.ok()) return Status::InvalidArgument(policy_file + ": " + s.message());
  }
  for (const std::string& a : retain) {
    if (Status s = p.Set(a); !s.ok()) return s;
  }
  return p;
}

void AddComplianceCommands(CLI::App& app, GlobalFlags& g, Runner* run) {
  auto f = std::make_shared<HoldFlags>();
  auto* hold = app.add_subcommand(
      "hold",
      "Apply, release or check a legal hold on a tenant. While a hold is in force, retention\n"
      "pruning, lifecycle purges and tenant deletion refuse that tenant (exit 3).");
  hold->require_subcommand(1);

  auto* apply = hold->add_subcommand("apply", "Put a tenant under legal hold");
  apply->add_option("--tenant", f->tenant, "Tenant")->required();
  apply->add_option("--reason", f->reason, "Case number, requestor, purpose")->required();
  apply->add_option("--id", f->id, "Hold id (default: generated)");
  apply->add_option("--actor", f->actor, "Who applies it (recorded)")->capture_default_str();
  apply->callback([&g, run, f] {
    *run = [&g, f] {
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, OpenFlags{});
      if (!e.ok()) return Fail(e.status());
      HoldService holds(**e);
      Result<HoldEntry> h = holds.Apply(f->tenant, f->id, f->reason, {f->actor, Role::kCompliance});
      if (!h.ok()) return Fail(h.status());
      PrintHold(*h);
      return kExitOk;
    };
  });

  auto* release = hold->add_subcommand(
      "release", "Release a tenant's hold (--id when it has several)");
  release->add_option("--tenant", f->tenant, "Tenant")->required();
  release->add_option("--id", f->id, "Hold id (default: the tenant's only hold)");
  release->add_option("--reason", f->reason, "Why it is released (recorded)");
  release->add_option("--actor", f->actor, "Who releases it (recorded)")->capture_default_str();
  release->callback([&g, run, f] {
    *run = [&g, f] {
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, OpenFlags{});
      if (!e.ok()) return Fail(e.status());
      HoldService holds(**e);
      Result<HoldEntry> h =
          holds.Release(f->tenant, f->id, f->reason, {f->actor, Role::kCompliance});
      if (!h.ok()) return Fail(h.status());
      std::printf("released hold %s of tenant %s\n", h->hold_id.c_str(), h->tenant.c_str());
      return kExitOk;
    };
  });

  auto* check = hold->add_subcommand(
      "check", "Exit 0 when no hold is in force for the tenant, 3 (with the reasons) when one is");
  check->add_option("--tenant", f->tenant, "Tenant")->required();
  check->callback([&g, run, f] {
    *run = [&g, f] {
      OpenFlags of;
      of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      HoldService holds(**e);
      if (Status s = holds.CheckNoHold(f->tenant); !s.ok()) return Fail(s);
      std::printf("tenant %s: no legal hold in force\n", f->tenant.c_str());
      return kExitOk;
    };
  });

  auto* list = app.add_subcommand("holds", "List legal holds in force (JSON lines)");
  auto* ls = list->add_subcommand("list", "List legal holds in force (JSON lines)");
  list->require_subcommand(1);
  ls->add_option("--tenant", f->tenant, "Only this tenant");
  ls->callback([&g, run, f] {
    *run = [&g, f] {
      OpenFlags of;
      of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      HoldService holds(**e);
      Result<std::vector<HoldEntry>> all = holds.List(f->tenant);
      if (!all.ok()) return Fail(all.status());
      for (const HoldEntry& h : *all) PrintHold(h);
      return kExitOk;
    };
  });

  // ---- retention
  auto rf = std::make_shared<RetentionFlags>();
  auto* retention = app.add_subcommand(
      "retention",
      "Prune events older than their family's maximum age. Families: sessions, approvals,\n"
      "graph, usage, lifecycle, governance, workspace, system, other. Default policy:\n"
      "sessions=90 approvals=90 usage=180 governance=365 days, the rest kept. Override with\n"
      "LOGBOOK_RETAIN_<FAMILY>_DAYS, --policy FILE ({\"usage\": 30, \"graph\": \"keep\"}) and\n"
      "--retain FAMILY=DAYS|keep, in that order.");
  retention->require_subcommand(1);
  auto add_policy_flags = [rf](CLI::App* c) {
    c->add_option("--retain", rf->retain, "FAMILY=DAYS or FAMILY=keep (repeatable)");
    c->add_option("--policy", rf->policy_file, "JSON file: {\"family\": days or \"keep\"}");
  };
  auto* rrun = retention->add_subcommand(
      "run",
      "Prune what the policy says has expired and print the counts per family (JSON).\n"
      "Tenants under a legal hold are skipped and listed; --tenant of a held tenant exits 3.\n"
      "A run cut short (crash, kill) is finished by the next one. Role: compliance or admin\n"
      "(--dry-run: auditor too).");
  add_policy_flags(rrun);
  rrun->add_flag("--dry-run", rf->dry_run, "Print what would be pruned; change nothing");
  rrun->add_option("--tenant", rf->tenant, "Only this tenant's events");
  rrun->add_flag("--no-compact", rf->no_compact,
                 "Do not compact the pruned range (space then comes back with later compactions)");
  rrun->add_option("--batch", rf->batch, "Events removed per synced batch")->capture_default_str();
  rrun->add_option("--actor", rf->actor, "Who runs it (recorded)")->capture_default_str();
  rrun->callback([&g, run, rf] {
    *run = [&g, rf] {
      const int rc =
          rf->dry_run
              ? RequireRole(g, {Role::kCompliance, Role::kAdmin, Role::kAuditor}, "plan retention")
              : RequireRole(g, {Role::kCompliance, Role::kAdmin}, "run retention");
      if (rc != kExitOk) return rc;
      Result<RetentionPolicy> policy = BuildRetentionPolicy(rf->retain, rf->policy_file);
      if (!policy.ok()) return Fail(policy.status());
      OpenFlags of;
      if (rf->dry_run) of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      RetentionService service(**e);
      RetentionService::RunOptions ro;
      ro.tenant = rf->tenant;
      ro.dry_run = rf->dry_run;
      ro.compact = !rf->no_compact;
      ro.batch_events = rf->batch;
      Result<RetentionReport> r = service.Run(*policy, ro, {rf->actor, CliRole(g)});
      if (!r.ok()) return Fail(r.status());
      std::printf("%s\n", r->ToJson().dump().c_str());
      return kExitOk;
    };
  });
  // ---- tenant export | delete
  struct TenantFlags {
    std::string tenant, out = ".", reason, actor = "cli";
    bool dry_run = false;
  };
  auto tf = std::make_shared<TenantFlags>();
  auto* tenant = app.add_subcommand("tenant", "Export or delete all of a tenant's data");
  tenant->require_subcommand(1);
  auto* texport = tenant->add_subcommand(
      "export",
      "Write <out>/<tenant>-export-<UTC time>/ with manifest.json (counts, BLAKE2b-256 of each\n"
      "file), events.jsonl (every event of the tenant, LSN order) and artifacts.json (its\n"
      "artifact index). Role: auditor, compliance or admin.");
  texport->add_option("--tenant", tf->tenant, "Tenant")->required();
  texport->add_option("--out", tf->out, "Directory to create the bundle in")->capture_default_str();
  texport->add_option("--actor", tf->actor, "Who exports (recorded)")->capture_default_str();
  texport->callback([&g, run, tf] {
    *run = [&g, tf] {
      if (int rc = RequireRole(g, {Role::kAuditor, Role::kCompliance, Role::kAdmin},
                               "export a tenant");
          rc != kExitOk) {
        return rc;
      }
      OpenFlags of;
      of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      TenantService tenants(**e);
      Result<TenantExportReport> r = tenants.Export(tf->tenant, tf->out, {tf->actor, CliRole(g)});
      if (!r.ok()) return Fail(r.status());
      std::printf("%s\n", r->ToJson().dump().c_str());
      if (r->exported_lsn == 0) {
        std::fprintf(stderr,
                     "logbook: warning: a server holds the data directory, so this export is not "
                     "recorded in the log (TenantExported); use POST "
                     "/api/v1/compliance/tenants/%s/export to record it\n",
                     tf->tenant.c_str());
      }
      return kExitOk;
    };
  });
  auto* tdelete = tenant->add_subcommand(
      "delete",
      "Remove every event of the tenant from the log, its graph chunks and its encryption keys\n"
      "(crypto-shredding), then refold the views. --dry-run prints the counts. A legal hold\n"
      "refuses it (exit 3). Rerun after a crash to finish. Export first: this cannot be undone.\n"
      "Role: compliance or admin (auditor may not: exit 2).");
  tdelete->add_option("--tenant", tf->tenant, "Tenant")->required();
  tdelete->add_flag("--dry-run", tf->dry_run, "Print what would be deleted; change nothing");
  tdelete->add_option("--reason", tf->reason, "Why (recorded, e.g. the erasure request id)");
  tdelete->add_option("--actor", tf->actor, "Who deletes (recorded)")->capture_default_str();
  tdelete->callback([&g, run, tf] {
    *run = [&g, tf] {
      if (int rc = RequireRole(g, {Role::kCompliance, Role::kAdmin}, "delete a tenant");
          rc != kExitOk) {
        return rc;
      }
      OpenFlags of;
      if (tf->dry_run) of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      TenantService tenants(**e);
      Result<TenantDeleteReport> r =
          tenants.Delete(tf->tenant, tf->dry_run, {tf->actor, CliRole(g)}, tf->reason);
      if (!r.ok()) return Fail(r.status());
      std::printf("%s\n", r->ToJson().dump().c_str());
      return kExitOk;
    };
  });

  auto* rpolicy = retention->add_subcommand("policy", "Print the policy the flags and environment give");
  add_policy_flags(rpolicy);
  rpolicy->callback([run, rf] {
    *run = [rf] {
      Result<RetentionPolicy> policy = BuildRetentionPolicy(rf->retain, rf->policy_file);
      if (!policy.ok()) return Fail(policy.status());
      std::printf("%s\n", policy->ToJson().dump().c_str());
      return kExitOk;
    };
  });
}

}  // namespace logbook::cli
