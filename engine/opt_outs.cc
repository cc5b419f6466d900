#include "engine/opt_outs.h"

#include "projections/opt_outs.h"
#include "projections/view_store.h"
#include "projections/workspace.h"

namespace logbook {

namespace {

constexpr size_t kMaxReason = 500;

nlohmann::json Time(int64_t us) {
  return us == 0 ? nlohmann::json(nullptr) : nlohmann::json(FormatTimestamp(us));
}

nlohmann::json EntryJson(const OptOutEntry& o, int64_t now) {
  return {{"opt_out_id", o.opt_out_id},
          {"scope", o.Scope()},
          {"user", o.user},
          {"channel", o.channel},
          {"reason", o.reason},
          {"expires_at", Time(o.expires_at_us)},
          {"set_at", Time(o.set_at_us)},
          {"by", o.by},
          {"lsn", o.lsn},
          {"status", o.ActiveAt(now) ? "active" : "expired"}};
}

Status CheckScope(const std::string& user, const std::string& channel) {
  if (!user.empty() && !IsValidWorkspaceName(user, kMaxUserName)) {
    return Status::InvalidArgument("user must be 1.." + std::to_string(kMaxUserName) +
                                   " characters of [A-Za-z0-9._:@=+-]");
  }
  if (!channel.empty() && !IsValidWorkspaceName(channel, kMaxChannelName)) {
    return Status::InvalidArgument("channel must be 1.." + std::to_string(kMaxChannelName) +
                                   " characters of [A-Za-z0-9._:@=+-]");
  }
  return Status::OK();
}

Status CheckReason(const std::string& reason) {
  if (reason.size() > kMaxReason) {
    return Status::InvalidArgument("reason is longer than " + std::to_string(kMaxReason) +
                                   " bytes");
  }
  return Status::OK();
}

std::string ScopeText(const std::string& user, const std::string& channel) {
  std::string s = user.empty() ? "the organization" : "user '" + user + "'";
  if (!channel.empty()) s += " on channel '" + channel + "'";
  return s;
}

}  // namespace

OptOutService::OptOutService(Engine& engine, OptOutOptions options)
    : engine_(engine), options_(std::move(options)) {}

int64_t OptOutService::Now() const { return options_.clock ? options_.clock() : NowMicros(); }

Status OptOutService::Settle() {
  if (engine_.read_only()) return Status::OK();  // see WorkspaceService::Settle
  return engine_.WaitForViews(engine_.log().LastLsn(), options_.view_wait);
}

std::unique_ptr<ViewReader> OptOutService::Reader() const {
  return NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), OptOutsProjection::kName);
}

Result<PlannedAppend> OptOutService::PlanSet(const OptOutInput& in) {
  if (Status s = CheckTenant(in.tenant); !s.ok()) return s;
  if (Status s = CheckScope(in.user, in.channel); !s.ok()) return s;
  if (Status s = CheckReason(in.reason); !s.ok()) return s;
  const int64_t now = Now();
  if (in.expires_at_us != 0 && in.expires_at_us <= now) {
    return Status::InvalidArgument("expires_at " + FormatTimestamp(in.expires_at_us) +
                                   " is not in the future");
  }
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  Result<std::optional<OptOutEntry>> prev =
      OptOutsProjection::GetScope(*reader, in.tenant, in.user, in.channel);
  if (!prev.ok()) return prev.status();
  OptOutEntry o;
  o.opt_out_id = EventIdToString(RandomEventId());
  o.user = in.user;
  o.channel = in.channel;
  o.reason = in.reason;
  o.expires_at_us = in.expires_at_us;
  o.set_at_us = now;
  o.by = in.by;
  PlannedAppend p;
  p.stream = OptOutStream(in.tenant);
  p.tenant = in.tenant;
  p.events.push_back({"OptOutSet", "",
                      nlohmann::json{{"opt_out_id", o.opt_out_id},
                                     {"tenant", in.tenant},
                                     {"user", o.user},
                                     {"channel", o.channel},
                                     {"reason", o.reason},
                                     {"expires_at_us", o.expires_at_us},
                                     {"by", o.by},
                                     {"set_at_us", o.set_at_us}}
                          .dump()});
  nlohmann::json replaced =
      prev->has_value() ? nlohmann::json((*prev)->opt_out_id) : nlohmann::json(nullptr);
  p.reply = [o, replaced, now](const AppendResult& r) mutable {
    o.lsn = r.last_lsn;
    nlohmann::json j = EntryJson(o, now);
    j["replaced"] = replaced;
    return j;
  };
  return p;
}

PlannedAppend OptOutService::Cleared(const std::string& tenant, const std::string& id,
                                     const std::string& user, const std::string& channel,
                                     const std::string& reason, const std::string& by) {
  const int64_t now = Now();
  PlannedAppend p;
  p.stream = OptOutStream(tenant);
  p.tenant = tenant;
  p.events.push_back({"OptOutCleared", "",
                      nlohmann::json{{"opt_out_id", id},
                                     {"tenant", tenant},
                                     {"user", user},
                                     {"channel", channel},
                                     {"reason", reason},
                                     {"by", by},
                                     {"cleared_at_us", now}}
                          .dump()});
  p.reply = [id, user, channel, now](const AppendResult& r) {
    return nlohmann::json{{"opt_out_id", id},        {"user", user},
                          {"channel", channel},      {"cleared", true},
                          {"cleared_at", Time(now)}, {"lsn", r.last_lsn}};
  };
  return p;
}

Result<PlannedAppend> OptOutService::PlanClearId(const std::string& tenant,
                                                 const std::string& opt_out_id,
                                                 const std::string& reason, const std::string& by) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = CheckReason(reason); !s.ok()) return s;
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  Result<std::optional<OptOutEntry>> o = OptOutsProjection::Get(*reader, tenant, opt_out_id);
  if (!o.ok()) return o.status();
  if (!o->has_value()) return Status::NotFound("opt-out '" + opt_out_id + "' not found");
  return Cleared(tenant, opt_out_id, (*o)->user, (*o)->channel, reason, by);
}

Result<PlannedAppend> OptOutService::PlanClearScope(const std::string& tenant,
                                                    const std::string& user,
                                                    const std::string& channel,
                                                    const std::string& reason,
                                                    const std::string& by) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = CheckScope(user, channel); !s.ok()) return s;
  if (Status s = CheckReason(reason); !s.ok()) return s;
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  Result<std::optional<OptOutEntry>> o =
      OptOutsProjection::GetScope(*reader, tenant, user, channel);
  if (!o.ok()) return o.status();
  if (!o->has_value()) return Status::NotFound("no opt-out for " + ScopeText(user, channel));
  return Cleared(tenant, (*o)->opt_out_id, user, channel, reason, by);
}

Result<nlohmann::json> OptOutService::Check(const std::string& tenant, const std::string& user,
                                            const std::string& channel,
                                            std::optional<int64_t> at_us) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = CheckScope(user, channel); !s.ok()) return s;
  if (Status s = Settle(); !s.ok()) return s;
  const int64_t now = at_us.value_or(Now());
  auto reader = Reader();
  Result<OptOutCheck> c = OptOutsProjection::Check(*reader, tenant, user, channel, now);
  if (!c.ok()) return c.status();
  nlohmann::json active = nlohmann::json::array(), expired = nlohmann::json::array();
  for (const OptOutEntry& o : c->active) active.push_back(EntryJson(o, now));
  for (const OptOutEntry& o : c->expired) expired.push_back(EntryJson(o, now));
  nlohmann::json because = c->opted_out() ? active[0] : nlohmann::json(nullptr);
  return nlohmann::json{{"tenant", tenant},
                        {"user", user},
                        {"channel", channel},
                        {"opted_out", c->opted_out()},
                        {"because", std::move(because)},
                        {"active", std::move(active)},
                        {"expired", std::move(expired)},
                        {"checked_at", Time(now)}};
}

Result<nlohmann::json> OptOutService::List(const std::string& tenant, const std::string& user,
                                           const std::string& channel, bool include_expired) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = CheckScope(user, channel); !s.ok()) return s;
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  Result<std::vector<OptOutEntry>> list = OptOutsProjection::List(*reader, tenant, user, channel);
  if (!list.ok()) return list.status();
  const int64_t now = Now();
  nlohmann::json out = nlohmann::json::array();
  for (const OptOutEntry& o : *list) {
    if (!include_expired && !o.ActiveAt(now)) continue;
    out.push_back(EntryJson(o, now));
  }
  return nlohmann::json{{"tenant", tenant}, {"opt_outs", std::move(out)}};
}

Result<nlohmann::json> OptOutService::History(const std::string& tenant, const std::string& user,
                                              const std::string& channel, uint64_t from_lsn,
                                              size_t limit) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = CheckScope(user, channel); !s.ok()) return s;
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = Reader();
  uint64_t next = 0;
  Result<std::vector<OptOutHistoryEntry>> h =
      OptOutsProjection::History(*reader, tenant, user, channel, from_lsn, limit, &next);
  if (!h.ok()) return h.status();
  nlohmann::json out = nlohmann::json::array();
  for (const OptOutHistoryEntry& e : *h) {
    nlohmann::json j = {{"action", e.action},
                        {"opt_out_id", e.entry.opt_out_id},
                        {"scope", e.entry.Scope()},
                        {"user", e.entry.user},
                        {"channel", e.entry.channel},
                        {"at", Time(e.at_us)},
                        {"by", e.by},
                        {"reason", e.reason},
                        {"lsn", e.entry.lsn}};
    if (e.action == "set") {
      j["expires_at"] = Time(e.entry.expires_at_us);
    } else {
      j["matched"] = e.matched;
    }
    out.push_back(std::move(j));
  }
  return nlohmann::json{{"tenant", tenant},
                        {"history", std::move(out)},
                        {"next_lsn", next == 0 ? nlohmann::json(nullptr) : nlohmann::json(next)}};
}

}  // namespace logbook
