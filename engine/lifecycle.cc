#include "engine/lifecycle.h"

#include <cctype>
#include <condition_variable>
#include <map>
#include <mutex>

#include "engine/holds.h"
#include "projections/costs.h"
#include "projections/view_store.h"

namespace logbook {

namespace {

constexpr auto kViewWait = std::chrono::seconds(5);
constexpr size_t kMaxText = 200;
constexpr uint32_t kMaxDays = 100 * 366;
// Appends of a live run in flight at once: enough for group commit to
// batch them, few enough to bound memory.
constexpr size_t kRunWindow = 256;

Status CheckText(const std::string& what, const std::string& v) {
  if (v.size() > kMaxText) {
    return Status::InvalidArgument(what + " is longer than " + std::to_string(kMaxText) + " bytes");
  }
  for (char c : v) {
    if (static_cast<unsigned char>(c) < 0x20) {
      return Status::InvalidArgument(what + " has a control character");
    }
  }
  return Status::OK();
}

Status CheckTenant(const std::string& tenant) {
  if (tenant.empty()) return Status::InvalidArgument("an artifact needs a tenant");
  return ValidateTenantName(tenant);
}

std::string NormalizeHash(const std::string& h) {
  std::string out = h;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsHexHash(const std::string& h) {
  if (h.size() != 64) return false;
  for (char c : h) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Describe(const std::string& tenant, const std::string& id) {
  return "artifact '" + id + "' of tenant '" + tenant + "'";
}

}  // namespace

Status LifecyclePolicy::Validate() const {
  for (auto [name, v] : {std::pair<const char*, uint32_t>{"hot days", hot_days},
                         std::pair<const char*, uint32_t>{"warm days", warm_days},
                         std::pair<const char*, uint32_t>{"cold days", cold_days}}) {
    if (v > kMaxDays) {
      return Status::InvalidArgument(std::string(name) + " must be at most " +
                                     std::to_string(kMaxDays));
    }
  }
  return Status::OK();
}

nlohmann::json LifecyclePolicy::ToJson() const {
  return {{"hot_days", hot_days},
          {"warm_days", warm_days},
          {"cold_days", cold_days},
          {"max_actions", max_actions}};
}

nlohmann::json LifecycleAction::ToJson() const {
  nlohmann::json j = {
      {"tenant", tenant},       {"artifact_id", artifact_id},   {"workflow", workflow},
      {"from_tier", from_tier}, {"to_tier", to_tier},           {"age_days", age_days},
      {"bytes", bytes},         {"content_hash", content_hash}, {"outcome", outcome}};
  if (lsn != 0) j["lsn"] = lsn;
  if (!error.empty()) j["error"] = error;
  return j;
}

nlohmann::json LifecycleReport::Counts() const {
  uint64_t to_warm = 0, to_cold = 0, purged = 0, purged_bytes = 0, withheld = 0;
  std::map<std::string, uint64_t> outcomes;
  for (const LifecycleAction& a : actions) {
    if (a.to_tier == kTierWarm) ++to_warm;
    if (a.to_tier == kTierCold) ++to_cold;
    if (a.is_purge()) {
      ++purged;
      purged_bytes += a.bytes;
    }
    ++outcomes[a.outcome];
  }
  for (const HeldTenant& h : held) withheld += h.withheld;
  nlohmann::json j = {{"hot_to_warm", to_warm},
                      {"warm_to_cold", to_cold},
                      {"purged_from_cold", purged},
                      {"purged_bytes", purged_bytes},
                      {"purge_withheld_by_hold", withheld},
                      {"total", actions.size()}};
  if (live) {
    for (const char* k : {"done", "already_done", "changed", "error"}) j[k] = outcomes[k];
  }
  return j;
}

nlohmann::json LifecycleReport::ToJson(size_t max_listed) const {
  nlohmann::json held_json = nlohmann::json::array();
  for (const HeldTenant& h : held) {
    held_json.push_back(
        {{"tenant", h.tenant}, {"reason", h.reason}, {"withheld", h.withheld}, {"bytes", h.bytes}});
  }
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < actions.size() && i < max_listed; ++i) list.push_back(actions[i].ToJson());
  return {{"mode", live ? "live" : "dry_run"},
          {"now", FormatTimestamp(now_us)},
          {"now_us", now_us},
          {"tenant", tenant.empty() ? nlohmann::json(nullptr) : nlohmann::json(tenant)},
          {"policy", policy.ToJson()},
          {"counts", Counts()},
          {"held", std::move(held_json)},
          {"truncated", truncated},
          {"actions_listed", list.size()},
          {"actions", std::move(list)}};
}

Status LifecycleReport::Outcome() const {
  if (!first_error.ok()) return first_error;
  if (held.empty()) return Status::OK();
  std::string why;
  for (const HeldTenant& h : held) {
    why +=
        (why.empty() ? "" : "; ") + std::to_string(h.withheld) + " purge(s) withheld: " + h.reason;
  }
  return Status::Held(why);
}

Status LifecycleService::ValidateArtifactId(std::string_view id) {
  if (id.empty() || id.size() > kMaxText) {
    return Status::InvalidArgument("artifact id must be 1.." + std::to_string(kMaxText) +
                                   " characters");
  }
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("._:@$=+-").find(c) != std::string_view::npos;
    if (!ok) {
      return Status::InvalidArgument("artifact id '" + std::string(id) +
                                     "' has a character outside [A-Za-z0-9._:@$=+-]");
    }
  }
  return Status::OK();
}

Status LifecycleService::Settle() {
  if (engine_.read_only()) return Status::OK();
  return engine_.WaitForViews(engine_.log().LastLsn(), kViewWait);
}

Result<std::optional<ArtifactEntry>> LifecycleService::Get(const std::string& tenant,
                                                           const std::string& artifact_id) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = ValidateArtifactId(artifact_id); !s.ok()) return s;
  if (Status s = Settle(); !s.ok()) return s;
  auto reader =
      NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), ArtifactsProjection::kName);
  return ArtifactsProjection::Get(*reader, tenant, artifact_id);
}

Result<std::vector<ArtifactEntry>> LifecycleService::List(const std::string& tenant, size_t limit) {
  if (Status s = CheckTenant(tenant); !s.ok()) return s;
  if (Status s = Settle(); !s.ok()) return s;
  auto reader =
      NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), ArtifactsProjection::kName);
  return ArtifactsProjection::List(*reader, tenant, limit);
}

Result<std::vector<TenantTierSummary>> LifecycleService::Summary(const std::string& tenant) {
  if (!tenant.empty()) {
    if (Status s = ValidateTenantName(tenant); !s.ok()) return s;
  }
  if (Status s = Settle(); !s.ok()) return s;
  auto reader =
      NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), ArtifactsProjection::kName);
  return ArtifactsProjection::Summary(*reader, tenant);
}

Result<StoreResult> LifecycleService::Store(const ArtifactInput& in, const Actor& by) {
  if (Status s = CheckTenant(in.tenant); !s.ok()) return s;
  if (Status s = ValidateArtifactId(in.artifact_id); !s.ok()) return s;
  if (Status s = CheckText("workflow", in.workflow); !s.ok()) return s;
  if (Status s = CheckText("label", in.label); !s.ok()) return s;
  const std::string hash = NormalizeHash(in.content_hash);
  if (!IsHexHash(hash)) {
    return Status::InvalidArgument("content hash must be BLAKE2b-256 as 64 hex digits");
  }
  const std::string tier = in.tier.empty() ? std::string(kTierHot) : in.tier;
  if (!IsTier(tier)) return Status::InvalidArgument("tier must be hot, warm or cold");
  const int64_t now = engine_.Now();
  const int64_t stored_at = in.stored_at_us != 0 ? in.stored_at_us : now;
  if (stored_at < 0 || stored_at > now) {
    return Status::InvalidArgument("stored_at must not be in the future (now " +
                                   FormatTimestamp(now) + ")");
  }

  Result<std::optional<ArtifactEntry>> cur = Get(in.tenant, in.artifact_id);
  if (!cur.ok()) return cur.status();
  if (cur->has_value()) {
    const ArtifactEntry& a = **cur;
    if (a.purged) {
      return Status::IdempotencyConflict(Describe(in.tenant, in.artifact_id) +
                                         " was purged; an artifact id is never reused");
    }
    if (a.workflow != in.workflow || a.bytes != in.bytes || a.content_hash != hash ||
        a.label != in.label) {
      return Status::IdempotencyConflict(
          Describe(in.tenant, in.artifact_id) + " was stored before with other content (hash " +
          a.content_hash + ", " + std::to_string(a.bytes) + " bytes)");
    }
    return StoreResult{a, false, a.tier_lsn};
  }

  const std::string stream = ArtifactStream(in.tenant, in.artifact_id);
  // Derived from the content: a retry of the same store is deduplicated by
  // the log even before the view shows the first one.
  const EventId id = Sessions::DerivedEventId(
      {"artifact-stored", stream, in.workflow, std::to_string(in.bytes), hash, in.label, tier});
  const nlohmann::json payload = {
      {"tenant", in.tenant}, {"workflow", in.workflow},   {"artifact_id", in.artifact_id},
      {"bytes", in.bytes},   {"content_hash", hash},      {"label", in.label},
      {"tier", tier},        {"stored_at_us", stored_at}, {"by", by.id}};
  Result<AppendResult> r =
      engine_.AppendJson(stream, in.tenant, by, ExpectedVersion::NoStream(),
                         {{"ArtifactStored", EventIdToString(id), payload.dump()}});
  if (!r.ok()) return r.status();
  if (Status s = engine_.WaitForViews(r->last_lsn, kViewWait); !s.ok()) return s;
  Result<std::optional<ArtifactEntry>> after = Get(in.tenant, in.artifact_id);
  if (!after.ok()) return after.status();
  if (!after->has_value()) return Status::Corruption("artifacts view lost a stored artifact");
  return StoreResult{**after, !r->deduplicated, r->last_lsn};
}

Result<LifecycleReport> LifecycleService::Plan(const LifecyclePolicy& policy,
                                               const std::string& tenant) {
  if (Status s = policy.Validate(); !s.ok()) return s;
  if (!tenant.empty()) {
    if (Status s = ValidateTenantName(tenant); !s.ok()) return s;
  }
  if (Status s = Settle(); !s.ok()) return s;
  LifecycleReport rep;
  rep.now_us = engine_.Now();
  rep.tenant = tenant;
  rep.policy = policy;

  HoldService holds(engine_);
  std::map<std::string, Status> hold_of;  // tenant -> CheckNoHold
  std::map<std::string, size_t> held_index;
  auto reader =
      NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(), ArtifactsProjection::kName);
  struct Step {
    std::string_view from, to;
    uint32_t days;
  };
  const Step steps[] = {{kTierHot, kTierWarm, policy.hot_days},
                        {kTierWarm, kTierCold, policy.warm_days},
                        {kTierCold, "purged", policy.cold_days}};
  Status failed;
  for (const Step& st : steps) {
    const int64_t cutoff = rep.now_us - static_cast<int64_t>(st.days) * kMicrosPerDay;
    Status s = ArtifactsProjection::ScanDue(*reader, st.from, cutoff, [&](const ArtifactEntry& a) {
      if (!tenant.empty() && a.tenant != tenant) return true;
      if (policy.max_actions != 0 && rep.actions.size() >= policy.max_actions) {
        rep.truncated = true;
        return false;
      }
      LifecycleAction act;
      act.tenant = a.tenant;
      act.artifact_id = a.artifact_id;
      act.workflow = a.workflow;
      act.from_tier = a.tier;
      act.to_tier = std::string(st.to);
      act.age_days = static_cast<uint32_t>((rep.now_us - a.tier_since_us) / kMicrosPerDay);
      act.bytes = a.bytes;
      act.content_hash = a.content_hash;
      act.tier_lsn = a.tier_lsn;
      act.version = a.version;
      if (act.is_purge()) {
        auto it = hold_of.find(a.tenant);
        if (it == hold_of.end()) it = hold_of.emplace(a.tenant, holds.CheckNoHold(a.tenant)).first;
        if (it->second.code() == Status::Code::kHeld) {
          auto [h, fresh] = held_index.emplace(a.tenant, rep.held.size());
          if (fresh) rep.held.push_back({a.tenant, it->second.message(), 0, 0});
          rep.held[h->second].withheld += 1;
          rep.held[h->second].bytes += a.bytes;
          return true;
        }
        if (!it->second.ok()) {
          failed = it->second;
          return false;
        }
      }
      rep.actions.push_back(std::move(act));
      return true;
    });
    if (!failed.ok()) return failed;
    if (!s.ok()) return s;
    if (rep.truncated) break;
  }
  return rep;
}

Result<LifecycleReport> LifecycleService::Run(const LifecyclePolicy& policy,
                                              const std::string& tenant, bool live,
                                              const Actor& by) {
  Result<LifecycleReport> planned = Plan(policy, tenant);
  if (!planned.ok() || !live) return planned;
  LifecycleReport rep = std::move(planned).value();
  if (Status s = Execute(&rep, by); !s.ok()) return s;
  return rep;
}

Status LifecycleService::Execute(LifecycleReport* plan, const Actor& by) {
  LifecycleReport& rep = *plan;
  rep.live = true;

  std::mutex mu;
  std::condition_variable cv;
  size_t in_flight = 0;
  uint64_t last_lsn = 0;
  for (LifecycleAction& a : rep.actions) {
    const std::string stream = ArtifactStream(a.tenant, a.artifact_id);
    EventInput ev;
    nlohmann::json payload;
    if (a.is_purge()) {
      ev.type = "ArtifactPurged";
      ev.event_id = EventIdToString(
          Sessions::DerivedEventId({"artifact-purged", stream, std::to_string(a.tier_lsn)}));
      payload = {{"artifact_id", a.artifact_id},
                 {"tenant", a.tenant},
                 {"workflow", a.workflow},
                 {"from_tier", a.from_tier},
                 {"bytes", a.bytes},
                 {"content_hash", a.content_hash},
                 {"reason", "age"},
                 {"purged_at_us", rep.now_us},
                 {"by", by.id}};
    } else {
      ev.type = "ArtifactMoved";
      ev.event_id = EventIdToString(
          Sessions::DerivedEventId({"artifact-moved", stream, std::to_string(a.tier_lsn)}));
      payload = {{"artifact_id", a.artifact_id},
                 {"tenant", a.tenant},
                 {"workflow", a.workflow},
                 {"from_tier", a.from_tier},
                 {"to_tier", a.to_tier},
                 {"age_days", a.age_days},
                 {"reason", "age"},
                 {"moved_at_us", rep.now_us},
                 {"by", by.id}};
    }
    ev.payload_json = payload.dump();
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return in_flight < kRunWindow; });
      ++in_flight;
    }
    LifecycleAction* act = &a;
    engine_.AppendJsonAsync(stream, a.tenant, by, ExpectedVersion::Exact(a.version), {ev},
                            [&, act](Result<AppendResult> r) {
                              std::lock_guard<std::mutex> l(mu);
                              if (r.ok()) {
                                act->outcome = r->deduplicated ? "already_done" : "done";
                                act->lsn = r->last_lsn;
                                last_lsn = std::max(last_lsn, r->last_lsn);
                              } else if (r.status().IsConflict()) {
                                act->outcome = "changed";
                              } else {
                                act->outcome = "error";
                                act->error = r.status().ToString();
                                if (rep.first_error.ok()) rep.first_error = r.status();
                              }
                              --in_flight;
                              cv.notify_all();
                            });
  }
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return in_flight == 0; });
  }
  if (last_lsn != 0) return engine_.WaitForViews(last_lsn, kViewWait);
  return Status::OK();
}

Result<RestoreResult> LifecycleService::Restore(const std::string& tenant,
                                                const std::string& artifact_id, const Actor& by) {
  Result<std::optional<ArtifactEntry>> cur = Get(tenant, artifact_id);
  if (!cur.ok()) return cur.status();
  if (!cur->has_value()) return Status::NotFound(Describe(tenant, artifact_id) + " not found");
  const ArtifactEntry& a = **cur;
  if (a.purged) {
    return Status::InvalidArgument(Describe(tenant, artifact_id) + " was purged from " + a.tier +
                                   " at " + FormatTimestamp(a.purged_at_us) +
                                   "; purged artifacts cannot be restored (restore the content "
                                   "from a backup and store it under a new id)");
  }
  RestoreResult out;
  out.from_tier = a.tier;
  if (a.tier == kTierHot) {
    out.artifact = a;
    return out;
  }
  const nlohmann::json payload = {{"artifact_id", artifact_id},
                                  {"tenant", tenant},
                                  {"workflow", a.workflow},
                                  {"from_tier", a.tier},
                                  {"to_tier", kTierHot},
                                  {"restored_at_us", engine_.Now()},
                                  {"by", by.id}};
  Result<AppendResult> r = engine_.AppendJson(ArtifactStream(tenant, artifact_id), tenant, by,
                                              ExpectedVersion::Exact(a.version),
                                              {{"ArtifactRestored", "", payload.dump()}});
  if (!r.ok()) return r.status();
  if (Status s = engine_.WaitForViews(r->last_lsn, kViewWait); !s.ok()) return s;
  Result<std::optional<ArtifactEntry>> after = Get(tenant, artifact_id);
  if (!after.ok()) return after.status();
  if (!after->has_value()) return Status::Corruption("artifacts view lost an artifact");
  out.artifact = **after;
  out.restored = true;
  out.lsn = r->last_lsn;
  return out;
}

}  // namespace logbook
