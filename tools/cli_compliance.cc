// CLI commands for legal holds: hold apply|release|check, holds list
// (docs/operations.md "Legal holds").

#include <cstdio>

#include "engine/holds.h"
#include "tools/cli_common.h"

namespace logbook::cli {

namespace {

struct HoldFlags {
  std::string tenant, id, reason, actor = "cli";
};

void PrintHold(const HoldEntry& h) { std::printf("%s\n", h.ToJson().dump().c_str()); }

}  // namespace

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
}

}  // namespace logbook::cli
