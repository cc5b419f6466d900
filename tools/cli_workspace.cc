// CLI commands for workspaces and opt-outs: workspace list|show|rotate-secret,
// optout set|clear|check|list; and the workspace part of `serve`.

#include "tools/cli_workspace.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>

#include "api/optout_routes.h"
#include "api/server.h"
#include "api/workspace_routes.h"
#include "engine/opt_outs.h"
#include "engine/workspace.h"

namespace logbook::cli {

namespace {

void PrintJsonLine(const nlohmann::json& j) {
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  s.push_back('\n');
  std::fwrite(s.data(), 1, s.size(), stdout);
}

std::string SecretPath(const GlobalFlags& g, const std::string& flag) {
  if (!flag.empty()) return flag;
  return (std::filesystem::path(g.data_dir) / "share_secret.json").string();
}

constexpr double kUsPerHour = 3600.0 * 1e6;

}  // namespace

// ---------------------------------------------------------------------------
// serve

void AddWorkspaceServeFlags(CLI::App* serve, WorkspaceServeFlags* f) {
  serve
      ->add_option("--share-secret-file", f->share_secret_file,
                   "Secret file that signs workspace share links, mode 0600; created if missing "
                   "(default <data-dir>/share_secret.json)")
      ->envname("LOGBOOK_SHARE_SECRET_FILE");
  serve
      ->add_option("--share-link-ttl-hours", f->share_link_ttl_hours,
                   "Lifetime of a share link when the request names none")
      ->envname("LOGBOOK_SHARE_LINK_TTL_HOURS")
      ->capture_default_str();
  serve
      ->add_option("--share-link-max-ttl-hours", f->share_link_max_ttl_hours,
                   "Longest lifetime a share link may ask for")
      ->envname("LOGBOOK_SHARE_LINK_MAX_TTL_HOURS")
      ->capture_default_str();
  serve
      ->add_option("--share-secret-grace-seconds", f->share_secret_grace_seconds,
                   "After a rotation, links signed with the previous secret keep working this "
                   "long (0: they stop at once)")
      ->envname("LOGBOOK_SHARE_SECRET_GRACE_SECONDS")
      ->capture_default_str();
  serve
      ->add_option("--workspace-max-content-bytes", f->max_content_bytes,
                   "Largest workspace item content in bytes (413 beyond)")
      ->envname("LOGBOOK_WORKSPACE_MAX_CONTENT_BYTES")
      ->capture_default_str();
}

struct WorkspaceServe::Impl {
  Engine* engine = nullptr;
  std::unique_ptr<ShareSecrets> secrets;
  std::unique_ptr<WorkspaceService> workspace;
  std::unique_ptr<OptOutService> optouts;
};

WorkspaceServe::WorkspaceServe(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WorkspaceServe::~WorkspaceServe() = default;

Result<std::unique_ptr<WorkspaceServe>> WorkspaceServe::Start(const GlobalFlags& g,
                                                              const WorkspaceServeFlags& f,
                                                              Engine& engine, api::Server& server) {
  WorkspaceOptions wo;
  if (f.max_content_bytes == 0 || f.max_content_bytes > kMaxWorkspaceContentLimit) {
    return Status::InvalidArgument("--workspace-max-content-bytes must be 1.." +
                                   std::to_string(kMaxWorkspaceContentLimit));
  }
  if (!(f.share_link_ttl_hours > 0) || !(f.share_link_max_ttl_hours >= f.share_link_ttl_hours) ||
      f.share_link_max_ttl_hours > 24 * 365 * 10) {
    return Status::InvalidArgument(
        "--share-link-ttl-hours must be positive and at most --share-link-max-ttl-hours "
        "(at most ten years)");
  }
  if (f.share_secret_grace_seconds < 0 || f.share_secret_grace_seconds > 365 * 24 * 3600) {
    return Status::InvalidArgument("--share-secret-grace-seconds must be 0..31536000");
  }
  wo.max_content_bytes = f.max_content_bytes;
  wo.default_share_ttl_us = static_cast<int64_t>(f.share_link_ttl_hours * kUsPerHour);
  wo.max_share_ttl_us = static_cast<int64_t>(f.share_link_max_ttl_hours * kUsPerHour);
  wo.default_secret_grace_us = f.share_secret_grace_seconds * 1000000;

  auto impl = std::make_unique<Impl>();
  impl->engine = &engine;
  Result<std::unique_ptr<ShareSecrets>> secrets =
      ShareSecrets::OpenOrCreate(SecretPath(g, f.share_secret_file), NowMicros());
  if (!secrets.ok()) return secrets.status();
  impl->secrets = std::move(secrets).value();
  impl->workspace = std::make_unique<WorkspaceService>(engine, impl->secrets.get(), wo);
  impl->optouts = std::make_unique<OptOutService>(engine, OptOutOptions{});
  api::AddWorkspaceRoutes(server.router(), {&engine, impl->workspace.get()});
  api::AddOptOutRoutes(server.router(), {&engine, impl->optouts.get()});
  std::unique_ptr<WorkspaceServe> ws(new WorkspaceServe(std::move(impl)));
  ws->Poll();
  return ws;
}

void WorkspaceServe::Poll() {
  Result<std::optional<PlannedAppend>> plan = impl_->workspace->SyncSecret();
  if (!plan.ok()) {
    spdlog::warn("share secret file not reloaded: {}", plan.status().ToString());
    return;
  }
  if (!plan->has_value()) return;
  Result<nlohmann::json> r =
      SubmitAndWait(*impl_->engine, std::move(**plan), Actor{"system", Role::kAdmin});
  if (!r.ok()) {
    spdlog::warn("share secret rotation not recorded yet: {}", r.status().ToString());
    return;
  }
  spdlog::info("share secret {} in use (previous {})", (*r)["secret_id"].get<std::string>(),
               (*r)["previous_secret_id"].get<std::string>());
}

// ---------------------------------------------------------------------------
// workspace list|show|rotate-secret, optout set|clear|check|list

void AddWorkspaceCommands(CLI::App& app, GlobalFlags& g, Runner* run) {
  struct Flags {
    std::string tenant, user, item, after, secret_file, actor = "cli";
    bool include_deleted = false, versions = false, shares = false;
    uint64_t version = 0;
    size_t limit = 1000;
    int64_t grace_seconds = -1;
    // optout
    std::string channel, reason, expires_at, id, by;
    int64_t ttl_seconds = 0;
    bool active_only = false, history = false;
    uint64_t from_lsn = 0;
  };
  auto f = std::make_shared<Flags>();

  // Opens a WorkspaceService for reading, with the share secret file when it
  // exists (so link statuses are right).
  struct ReadSide {
    std::unique_ptr<Engine> engine;
    std::unique_ptr<ShareSecrets> secrets;
    std::unique_ptr<WorkspaceService> ws;
  };
  auto open_read = [&g, f]() -> Result<ReadSide> {
    ReadSide rs;
    OpenFlags of;
    of.mode = OpenMode::kPreferReadWrite;
    Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
    if (!e.ok()) return e.status();
    rs.engine = std::move(e).value();
    Result<std::unique_ptr<ShareSecrets>> s = ShareSecrets::Open(SecretPath(g, f->secret_file));
    if (s.ok()) rs.secrets = std::move(s).value();
    rs.ws = std::make_unique<WorkspaceService>(*rs.engine, rs.secrets.get(), WorkspaceOptions{});
    return rs;
  };

  auto* ws = app.add_subcommand("workspace", "Users' saved workspace items and share links");
  ws->require_subcommand(1);
  ws->fallthrough();
  ws->add_option("--share-secret-file", f->secret_file,
                 "Share secret file (default <data-dir>/share_secret.json)")
      ->envname("LOGBOOK_SHARE_SECRET_FILE");

  auto* list = ws->add_subcommand("list",
                                  "A tenant's items (or one user's) as JSON lines, "
                                  "without content");
  list->add_option("--tenant", f->tenant, "Tenant")->required();
  list->add_option("--user", f->user, "Only this user's items");
  list->add_flag("--include-deleted", f->include_deleted, "Also deleted items");
  list->add_option("--after", f->after, "Start after this item id");
  list->add_option("--limit", f->limit, "At most this many")->capture_default_str();
  list->callback([run, f, open_read] {
    *run = [f, open_read] {
      Result<ReadSide> rs = open_read();
      if (!rs.ok()) return Fail(rs.status());
      Result<nlohmann::json> r =
          rs->ws->ListItems(f->tenant, f->user, f->include_deleted, f->after, f->limit);
      if (!r.ok()) return Fail(r.status());
      for (const auto& item : (*r)["items"]) PrintJsonLine(item);
      return kExitOk;
    };
  });

  auto* show =
      ws->add_subcommand("show",
                         "One item with its content (the latest version, or --version N) as JSON;\n"
                         "--versions lists its versions, --shares its share links");
  show->add_option("--tenant", f->tenant, "Tenant")->required();
  show->add_option("--item", f->item, "Item id")->required();
  show->add_option("--user", f->user, "Owner (checked when given)");
  show->add_option("--version", f->version, "This version");
  show->add_flag("--versions", f->versions, "List the versions instead");
  show->add_flag("--shares", f->shares, "List the share links instead");
  show->callback([run, f, open_read] {
    *run = [f, open_read] {
      if (f->versions && f->shares) return FailUsage("--versions and --shares exclude each other");
      Result<ReadSide> rs = open_read();
      if (!rs.ok()) return Fail(rs.status());
      Result<nlohmann::json> r = f->versions ? rs->ws->ListVersions(f->tenant, f->user, f->item)
                                 : f->shares
                                     ? rs->ws->ListShares(f->tenant, f->user, f->item)
                                     : rs->ws->GetItem(f->tenant, f->user, f->item, f->version);
      if (!r.ok()) return Fail(r.status());
      PrintJsonLine(*r);
      return kExitOk;
    };
  });

  auto* rotate = ws->add_subcommand(
      "rotate-secret",
      "Rotate the secret that signs share links. Links signed with the old secret stop\n"
      "working at once, or after --grace-seconds. A running server picks the new secret up\n"
      "within 2 s and records the rotation in the log; without a server it is recorded now.");
  rotate->add_option("--grace-seconds", f->grace_seconds,
                     "Keep links of the old secret working this long (default 0)");
  rotate->add_option("--actor", f->actor, "Principal recorded with the event")
      ->capture_default_str();
  rotate->callback([&g, run, f] {
    *run = [&g, f] {
      const int64_t grace = std::max<int64_t>(f->grace_seconds, 0);
      if (grace > 365 * 24 * 3600) return FailUsage("--grace-seconds must be at most a year");
      if (!std::filesystem::exists(g.data_dir)) {
        return Fail(Status::NotFound("data directory '" + g.data_dir + "' does not exist"));
      }
      Result<std::unique_ptr<ShareSecrets>> secrets =
          ShareSecrets::OpenOrCreate(SecretPath(g, f->secret_file), NowMicros());
      if (!secrets.ok()) return Fail(secrets.status());
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, OpenFlags{});
      if (!e.ok() && e.status().code() != Status::Code::kBusy) return Fail(e.status());
      if (!e.ok()) {
        // A server holds the data directory: rotate the file; the server
        // reloads it and records the rotation.
        Result<ShareSecretRotation> r = (*secrets)->Rotate(grace * 1000000, NowMicros());
        if (!r.ok()) return Fail(r.status());
        PrintJsonLine({{"secret_id", r->secret_id},
                       {"previous_secret_id", r->previous_secret_id},
                       {"rotated_at", FormatTimestamp(r->rotated_at_us)},
                       {"recorded_by", "the running server"}});
        return kExitOk;
      }
      WorkspaceOptions wo;
      WorkspaceService svc(**e, secrets->get(), wo);
      Result<PlannedAppend> plan = svc.RotateSecret(grace * 1000000, f->actor);
      if (!plan.ok()) return Fail(plan.status());
      Result<nlohmann::json> r =
          SubmitAndWait(**e, std::move(plan).value(), Actor{f->actor, Role::kAdmin});
      if (!r.ok()) return Fail(r.status());
      PrintJsonLine(*r);
      return kExitOk;
    };
  });

  // ---- optout
  auto* oo = app.add_subcommand(
      "optout",
      "The opt-out registry: organizations, members and channels the agent must not "
      "talk to");
  oo->require_subcommand(1);

  auto* set =
      oo->add_subcommand("set",
                         "Opt out an organization (--tenant), a member (--user) and/or a channel;\n"
                         "replaces the opt-out of the same scope. Prints it as JSON.");
  set->add_option("--tenant", f->tenant, "Organization (tenant)")->required();
  set->add_option("--user", f->user, "Member; empty: the whole organization");
  set->add_option("--channel", f->channel, "Channel, e.g. whatsapp; empty: every channel");
  set->add_option("--reason", f->reason, "Why (kept for audit)");
  set->add_option("--expires-at", f->expires_at, "Ignore it after this time (RFC 3339 UTC or µs)");
  set->add_option("--ttl-seconds", f->ttl_seconds, "Ignore it after this many seconds");
  set->add_option("--by", f->by, "Who asked (default: --actor)");
  set->add_option("--actor", f->actor, "Principal recorded with the event")->capture_default_str();
  set->callback([&g, run, f] {
    *run = [&g, f] {
      OptOutInput in;
      in.tenant = f->tenant;
      in.user = f->user;
      in.channel = f->channel;
      in.reason = f->reason;
      in.by = f->by.empty() ? f->actor : f->by;
      if (!f->expires_at.empty() && f->ttl_seconds != 0) {
        return FailUsage("--expires-at and --ttl-seconds exclude each other");
      }
      if (!f->expires_at.empty() && !ParseTimestamp(f->expires_at, &in.expires_at_us)) {
        return FailUsage("--expires-at '" + f->expires_at + "' is not an RFC 3339 UTC time");
      }
      if (f->ttl_seconds < 0) return FailUsage("--ttl-seconds must be positive");
      if (f->ttl_seconds > 0) in.expires_at_us = NowMicros() + f->ttl_seconds * 1000000;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, OpenFlags{});
      if (!e.ok()) return Fail(e.status());
      OptOutService svc(**e, {});
      Result<PlannedAppend> plan = svc.PlanSet(in);
      if (!plan.ok()) return Fail(plan.status());
      Result<nlohmann::json> r =
          SubmitAndWait(**e, std::move(plan).value(), Actor{f->actor, Role::kOperator});
      if (!r.ok()) return Fail(r.status());
      PrintJsonLine(*r);
      return kExitOk;
    };
  });

  auto* clear = oo->add_subcommand(
      "clear", "Remove an opt-out, by --id or by its scope (--user/--channel); exit 7 if none");
  clear->add_option("--tenant", f->tenant, "Organization (tenant)")->required();
  clear->add_option("--id", f->id, "Opt-out id");
  clear->add_option("--user", f->user, "Member of the scope to clear");
  clear->add_option("--channel", f->channel, "Channel of the scope to clear");
  clear->add_option("--reason", f->reason, "Why (kept for audit)");
  clear->add_option("--by", f->by, "Who asked (default: --actor)");
  clear->add_option("--actor", f->actor, "Principal recorded with the event")
      ->capture_default_str();
  clear->callback([&g, run, f] {
    *run = [&g, f] {
      if (!f->id.empty() && (!f->user.empty() || !f->channel.empty())) {
        return FailUsage("--id excludes --user and --channel");
      }
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, OpenFlags{});
      if (!e.ok()) return Fail(e.status());
      OptOutService svc(**e, {});
      const std::string by = f->by.empty() ? f->actor : f->by;
      Result<PlannedAppend> plan =
          f->id.empty() ? svc.PlanClearScope(f->tenant, f->user, f->channel, f->reason, by)
                        : svc.PlanClearId(f->tenant, f->id, f->reason, by);
      if (!plan.ok()) return Fail(plan.status());
      Result<nlohmann::json> r =
          SubmitAndWait(**e, std::move(plan).value(), Actor{f->actor, Role::kOperator});
      if (!r.ok()) return Fail(r.status());
      PrintJsonLine(*r);
      return kExitOk;
    };
  });

  auto* check =
      oo->add_subcommand("check",
                         "Is a tenant / user / channel opted out now, and why? Prints JSON\n"
                         "({\"opted_out\":true|false,\"because\":...}); exit 0 either way");
  check->add_option("--tenant", f->tenant, "Organization (tenant)")->required();
  check->add_option("--user", f->user, "Member");
  check->add_option("--channel", f->channel, "Channel");
  check->callback([&g, run, f] {
    *run = [&g, f] {
      OpenFlags of;
      of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      OptOutService svc(**e, {});
      Result<nlohmann::json> r = svc.Check(f->tenant, f->user, f->channel);
      if (!r.ok()) return Fail(r.status());
      PrintJsonLine(*r);
      return kExitOk;
    };
  });

  auto* olist =
      oo->add_subcommand("list",
                         "A tenant's current opt-outs (expired ones too, marked), as JSON lines;\n"
                         "--history: every set and clear, in log order");
  olist->add_option("--tenant", f->tenant, "Organization (tenant)")->required();
  olist->add_option("--user", f->user, "Only this member");
  olist->add_option("--channel", f->channel, "Only this channel");
  olist->add_flag("--active-only", f->active_only, "Leave out expired opt-outs");
  olist->add_flag("--history", f->history, "Every set and clear instead");
  olist->add_option("--from-lsn", f->from_lsn, "History from this LSN");
  olist->add_option("--limit", f->limit, "History: at most this many")->capture_default_str();
  olist->callback([&g, run, f] {
    *run = [&g, f] {
      OpenFlags of;
      of.mode = OpenMode::kPreferReadWrite;
      Result<std::unique_ptr<Engine>> e = OpenEngine(g, of);
      if (!e.ok()) return Fail(e.status());
      OptOutService svc(**e, {});
      if (f->history) {
        Result<nlohmann::json> r =
            svc.History(f->tenant, f->user, f->channel, f->from_lsn, f->limit);
        if (!r.ok()) return Fail(r.status());
        for (const auto& h : (*r)["history"]) PrintJsonLine(h);
        return kExitOk;
      }
      Result<nlohmann::json> r = svc.List(f->tenant, f->user, f->channel, !f->active_only);
      if (!r.ok()) return Fail(r.status());
      for (const auto& o : (*r)["opt_outs"]) PrintJsonLine(o);
      return kExitOk;
    };
  });
}

}  // namespace logbook::cli
