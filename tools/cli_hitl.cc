// CLI commands for human-in-the-loop checkpoints: approvals list|show|approve|reject|audit,
// and the global --checkpoint-* settings.

#include <cstdio>
#include <ctime>

#include "tools/cli_common.h"

namespace logbook::cli {

namespace {

// "2025-10-03 14:30:00 UTC", as the runbooks print times.
std::string HumanTime(int64_t us) {
  if (us == 0) return "-";
  const time_t secs = static_cast<time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string Duration(int64_t us) {
  const int64_t m = std::max<int64_t>(us, 0) / 60000000;
  return std::to_string(m / 60) + "h " + std::to_string(m % 60) + "m";
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "-" : out;
}

void PrintJsonLine(const nlohmann::json& j) {
  std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

void PrintCheckpoint(const CheckpointState& st, int64_t now) {
  std::printf("%s\n", st.id.c_str());
  std::printf("  Status: %s\n", std::string(CheckpointStatusName(st.status)).c_str());
  if (!st.tenant.empty()) std::printf("  Tenant: %s\n", st.tenant.c_str());
  std::printf("  Prompt: %s\n", st.prompt.c_str());
  std::printf("  Required Role: %s\n", CheckpointRoleName(st.required_role).c_str());
  std::printf("  Sources: %s\n", Join(st.source_ids).c_str());
  std::printf("  Created: %s by %s\n", HumanTime(st.created_at_us).c_str(), st.created_by.c_str());
  if (st.expires_at_us != 0) {
    std::string left;
    if (st.status == CheckpointStatus::kPending)
      left = " (in " + Duration(st.expires_at_us - now) + ")";
    std::printf("  Expires: %s%s\n", HumanTime(st.expires_at_us).c_str(), left.c_str());
  }
  if (!st.dag_run_id.empty()) std::printf("  DAG Run: %s\n", st.dag_run_id.c_str());
  if (!st.thread_id.empty()) std::printf("  Thread: %s\n", st.thread_id.c_str());
  switch (st.status) {
    case CheckpointStatus::kApproved:
      std::printf("  Approved: %s by %s (%s); sources: %s\n", HumanTime(st.decided_at_us).c_str(),
                  st.decided_by.c_str(), std::string(RoleName(st.decided_role)).c_str(),
                  Join(st.approved_source_ids).c_str());
      if (!st.data_json.empty()) std::printf("  Data: %s\n", st.data_json.c_str());
      break;
    case CheckpointStatus::kRejected:
      std::printf("  Rejected: %s by %s (%s): %s\n", HumanTime(st.decided_at_us).c_str(),
                  st.decided_by.c_str(), std::string(RoleName(st.decided_role)).c_str(),
                  st.reason.c_str());
      break;
    case CheckpointStatus::kExpired:
      std::printf("  Expired: %s\n", HumanTime(st.decided_at_us).c_str());
      break;
    default:
      break;
  }
}

int ExitFor(const HitlResult& r) {
  std::fprintf(stderr, "logbook: %s\n", r.message.c_str());
  switch (r.code) {
    case HitlCode::kOk:
      return kExitOk;
    case HitlCode::kNotFound:
      return kExitNotFound;
    case HitlCode::kTenantRequired:
      return kExitUsage;
    case HitlCode::kForbidden:
      return kExitDenied;
    case HitlCode::kInvalid:
      return kExitBadInput;
    case HitlCode::kNotPending:
    case HitlCode::kExists:
      return kExitConflict;
    case HitlCode::kError:
      return ExitCodeFor(r.status);
  }
  return kExitError;
}

struct ApprovalFlags {
  std::string tenant, status, id, role = "operator", actor = "cli", by, reason;
  std::string since, until;
  std::vector<std::string> sources, kv;
  size_t limit = 20;
  bool json = false;
};

}  // namespace

void AddHitlCommands(CLI::App& app, GlobalFlags& g, Runner* run) {
  // ---- settings, global so that every command that opens the engine agrees
  app.add_option_function<int64_t>(
         "--checkpoint-ttl-seconds", [&g](int64_t s) { g.hitl.default_ttl_us = s * 1000000; },
         "Deadline of a checkpoint created without one (default 259200 = 72 h)")
      ->envname("LOGBOOK_CHECKPOINT_TTL_SECONDS")
      ->check(CLI::Range(int64_t{1}, int64_t{100} * 365 * 86400))
      ->group("Checkpoints");
  app.add_option_function<int64_t>(
         "--checkpoint-sweep-ms",
         [&g](int64_t ms) { g.hitl.sweep_interval = std::chrono::milliseconds(ms); },
         "How often `serve` expires overdue checkpoints; 0 = only on open (default 1000)")
      ->envname("LOGBOOK_CHECKPOINT_SWEEP_MS")
      ->check(CLI::Range(int64_t{0}, int64_t{86400000}))
      ->group("Checkpoints");

  auto f = std::make_shared<ApprovalFlags>();
  auto* approvals = app.add_subcommand(
      "approvals",
      "Human-in-the-loop checkpoints: list, show, approve, reject, and the decision trail.\n"
      "Overdue checkpoints are expired whenever the data directory is opened read-write.");
  approvals->require_subcommand(1);

  // ---- approvals list
  auto* list = approvals->add_subcommand("list", "Checkpoints, newest first");
  list->add_option("--tenant", f->tenant, "Only this tenant's (default: every tenant's)");
  list->add_option("--status", f->status, "pending | approved | rejected | expired");
  list->add_option("--limit", f->limit, "At most this many")->capture_default_str();
  list->add_flag("--json", f->json, "JSON lines (the HTTP API's checkpoint JSON)");
  list->callback([&g, run, f] {
    *run = [&g, f] {
      std::optional<CheckpointStatus> status;
      if (!f->status.empty()) {
        CheckpointStatus s;
        if (!ParseCheckpointStatus(f->status, &s)) {
          return FailUsage("--status must be pending, approved, rejected or expired");
        }
        status = s;
      }
      OpenFlags of;
      of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      std::optional<std::string> tenant;
      if (!f->tenant.empty()) tenant = f->tenant;
      Result<std::vector<CheckpointState>> cps =
          (*e)->hitl().List(tenant, status, std::max<size_t>(f->limit, 1));
      if (!cps.ok()) return Fail(cps.status());
      const int64_t now = (*e)->Now();
      if (f->json) {
        for (const auto& st : *cps) PrintJsonLine(CheckpointJson(st, now));
        return kExitOk;
      }
      std::string title = status ? std::string(CheckpointStatusName(*status)) + " Checkpoints"
                                 : std::string("Checkpoints");
      title[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(title[0])));
      std::printf("%s\n%s\n", title.c_str(), std::string(title.size(), '=').c_str());
      if (cps->empty()) std::printf("(none)\n");
      for (const auto& st : *cps) PrintCheckpoint(st, now);
      return kExitOk;
    };
  });

  // ---- approvals show
  auto* show = approvals->add_subcommand("show", "One checkpoint: inputs, status, decision");
  show->add_option("id", f->id, "Checkpoint id")->required();
  show->add_option("--tenant", f->tenant, "The checkpoint's tenant (checked when given)");
  show->add_flag("--json", f->json, "The HTTP API's checkpoint JSON");
  show->callback([&g, run, f] {
    *run = [&g, f] {
      OpenFlags of;
      of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      HitlAccess access{"", f->tenant, Role::kAdmin, f->tenant.empty()};
      HitlResult r = (*e)->hitl().Get(f->id, access);
      if (!r.ok()) return ExitFor(r);
      if (f->json) {
        PrintJsonLine(CheckpointJson(r.state, (*e)->Now()));
      } else {
        PrintCheckpoint(r.state, (*e)->Now());
      }
      return kExitOk;
    };
  });

  // ---- approvals approve|reject
  auto decide = [&g, run, f](bool approve) {
    return [&g, run, f, approve] {
      *run = [&g, f, approve] {
        Role role = Role::kNone;
        if (!ParseRole(f->role, &role) || role == Role::kNone) {
          return FailUsage("unknown --role '" + f->role + "' (viewer, operator or admin)");
        }
        nlohmann::json data = nlohmann::json::object();
        for (const std::string& kv : f->kv) {
          const size_t eq = kv.find('=');
          if (eq == std::string::npos || eq == 0)
            return FailUsage("--kv takes key=value, not '" + kv + "'");
          data[kv.substr(0, eq)] = kv.substr(eq + 1);
        }
        OpenFlags of;
        Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
        if (!e.ok()) return Fail(e.status());
        HitlAccess access{"", f->tenant, role, false};
        Actor actor{f->actor, role};
        HitlResult r = approve ? (*e)->hitl().Approve(f->id, access, f->sources,
                                                      data.empty() ? "" : data.dump(), f->by, actor)
                               : (*e)->hitl().Reject(f->id, access, f->reason, f->by, actor);
        if (!r.ok()) {
          if (r.code == HitlCode::kTenantRequired) {
            return FailUsage("--tenant is required: the checkpoint belongs to a tenant");
          }
          return ExitFor(r);
        }
        if (f->json) {
          nlohmann::json j = CheckpointJson(r.state, (*e)->Now());
          j["deduplicated"] = r.deduplicated;
          PrintJsonLine(j);
        } else {
          std::printf("%s checkpoint %s%s\n", approve ? "approved" : "rejected", r.state.id.c_str(),
                      r.deduplicated ? " (already decided the same way; nothing appended)" : "");
        }
        return kExitOk;
      };
    };
  };
  auto decision_flags = [f](CLI::App* c) {
    c->add_option("--tenant", f->tenant, "The checkpoint's tenant (required when it has one)");
    c->add_option("--role", f->role, "Role to decide with: viewer | operator | admin")
        ->envname("LOGBOOK_ROLE")
        ->capture_default_str();
    c->add_option("--actor", f->actor, "Principal recorded with the event")->capture_default_str();
    c->add_option("--by", f->by, "Person who decided (default: --actor)");
    c->add_flag("--json", f->json, "Print the checkpoint as JSON");
  };
  auto* approve = approvals->add_subcommand("approve", "Approve a pending checkpoint");
  approve->add_option("id", f->id, "Checkpoint id")->required();
  approve->add_option("--source", f->sources,
                      "Approved source id (repeat); a subset of the candidates");
  approve->add_option("--kv", f->kv, "Approval data key=value (repeat)");
  decision_flags(approve);
  approve->callback(decide(true));
  auto* reject = approvals->add_subcommand("reject", "Reject a pending checkpoint, with a reason");
  reject->add_option("id", f->id, "Checkpoint id")->required();
  reject->add_option("--reason", f->reason, "Why")->required();
  decision_flags(reject);
  reject->callback(decide(false));

  // ---- approvals audit
  auto* audit = approvals->add_subcommand(
      "audit", "The decision trail: who created, approved, rejected or expired what, and when");
  audit->add_option("--tenant", f->tenant, "Only this tenant's (default: every tenant's)");
  audit->add_option("--since", f->since, "From this time, inclusive (RFC 3339 UTC or µs)");
  audit->add_option("--until", f->until, "Until this time, exclusive (RFC 3339 UTC or µs)");
  audit->add_option("--limit", f->limit, "At most this many")->capture_default_str();
  audit->callback([&g, run, f] {
    *run = [&g, f] {
      int64_t from = 0, to = INT64_MAX;
      if (!f->since.empty() && !ParseTimestamp(f->since, &from)) {
        return FailUsage("--since '" + f->since + "' is not an RFC 3339 UTC time");
      }
      if (!f->until.empty() && !ParseTimestamp(f->until, &to)) {
        return FailUsage("--until '" + f->until + "' is not an RFC 3339 UTC time");
      }
      OpenFlags of;
      of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      std::optional<std::string> tenant;
      if (!f->tenant.empty()) tenant = f->tenant;
      Result<std::vector<CheckpointAuditEntry>> trail =
          (*e)->hitl().Audit(tenant, from, to, std::max<size_t>(f->limit, 1));
      if (!trail.ok()) return Fail(trail.status());
      for (const auto& a : *trail) {
        nlohmann::json j = {{"lsn", a.lsn},
                            {"at", FormatTimestamp(a.at_us)},
                            {"tenant", a.tenant},
                            {"checkpoint_id", a.checkpoint_id},
                            {"action", a.action},
                            {"by", a.by},
                            {"role", std::string(RoleName(a.role))}};
        if (a.action == "approved") j["approved_source_ids"] = a.approved_source_ids;
        if (a.action == "rejected") j["reason"] = a.reason;
        PrintJsonLine(j);
      }
      return kExitOk;
    };
  });
}

}  // namespace logbook::cli
