#include "engine/hitl.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "engine/engine.h"
#include "projections/view_store.h"

namespace logbook {

namespace {

constexpr size_t kMaxIdChars = 128;
constexpr size_t kMaxSourceIds = 1000;
constexpr size_t kMaxSourceIdChars = 256;
constexpr size_t kSweepBatch = 1000;
constexpr int kDecideAttempts = 5;
constexpr auto kViewWait = std::chrono::seconds(5);

// The expiry sweep appends as the engine itself.
const Actor kExpiryActor{"logbook", Role::kNone};

std::string Dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json ObjectOrEmpty(const std::string& text) {
  if (text.empty()) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

bool SameSet(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

std::string_view NotPendingMessage(CheckpointStatus s) {
  switch (s) {
    case CheckpointStatus::kApproved:
      return "checkpoint is already approved";
    case CheckpointStatus::kRejected:
      return "checkpoint is already rejected";
    case CheckpointStatus::kExpired:
      return "checkpoint has expired";
    default:
      return "checkpoint is not pending";
  }
}

}  // namespace

HitlResult HitlResult::Fail(HitlCode code, std::string message) {
  HitlResult r;
  r.code = code;
  r.message = std::move(message);
  return r;
}

HitlResult HitlResult::Error(Status s) {
  HitlResult r;
  r.code = HitlCode::kError;
  r.message = s.message();
  r.status = std::move(s);
  return r;
}

Hitl::Hitl(Engine& engine, HitlOptions options) : engine_(engine), options_(options) {}

Hitl::~Hitl() { Stop(); }

bool Hitl::ValidId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdChars) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '@' || c == '=' || c == '+' ||
                    c == '-';
    if (!ok) return false;
  }
  return true;
}

HitlCode Hitl::CheckVisible(const CheckpointState& st, const HitlAccess& access) {
  if (access.any_tenant) return HitlCode::kOk;
  if (!access.key_tenant.empty()) {
    return st.tenant == access.key_tenant ? HitlCode::kOk : HitlCode::kNotFound;
  }
  if (st.tenant.empty()) return HitlCode::kOk;
  if (access.tenant.empty()) return HitlCode::kTenantRequired;
  return access.tenant == st.tenant ? HitlCode::kOk : HitlCode::kNotFound;
}

void Hitl::WaitForView(uint64_t lsn) {
  // Read-your-writes for the caller's next GET. The decision is durable
  // already; a slow projector only delays its visibility in the view.
  (void)engine_.WaitForViews(lsn, kViewWait);  // timing out is not an error here
}

Result<CheckpointState> Hitl::Load(std::string_view id) {
  const std::string stream = CheckpointStream(id);
  CheckpointState st;
  uint64_t from = 1;
  for (;;) {
    Result<std::vector<Event>> events = engine_.log().ReadStream(stream, from, 256);
    if (!events.ok()) return events.status();
    for (const Event& e : *events)
      (void)ApplyCheckpointEvent(e, &st);  // non-effective events only move the version
    if (events->size() < 256) break;
    from = events->back().stream_version + 1;
  }
  if (!st.exists()) return Status::NotFound("checkpoint '" + std::string(id) + "' not found");
  return st;
}

HitlResult Hitl::Create(const CheckpointSpec& spec, const Actor& actor) {
  const std::string id = spec.id.empty() ? EventIdToString(RandomEventId()) : spec.id;
  if (!ValidId(id)) {
    return HitlResult::Fail(HitlCode::kInvalid,
                            "checkpoint_id must be 1-128 characters of [A-Za-z0-9._:@=+-]");
  }
  if (Status s = ValidateTenantName(spec.tenant); !s.ok()) {
    return HitlResult::Fail(HitlCode::kInvalid, s.message());
  }
  Role role = Role::kOperator;
  if (!spec.required_role.empty() &&
      (!ParseRole(spec.required_role, &role) ||
       (role != Role::kViewer && role != Role::kOperator && role != Role::kAdmin))) {
    return HitlResult::Fail(HitlCode::kInvalid, "required_role must be Viewer, Operator or Admin");
  }
  if (spec.source_ids.size() > kMaxSourceIds) {
    return HitlResult::Fail(HitlCode::kInvalid, "at most 1000 candidate source ids");
  }
  std::set<std::string> seen;
  for (const auto& s : spec.source_ids) {
    if (s.empty() || s.size() > kMaxSourceIdChars) {
      return HitlResult::Fail(HitlCode::kInvalid, "source ids must be 1-256 bytes");
    }
    if (!seen.insert(s).second) {
      return HitlResult::Fail(HitlCode::kInvalid, "source id '" + s + "' is listed twice");
    }
  }
  if (!spec.context_json.empty()) {
    nlohmann::json c = nlohmann::json::parse(spec.context_json, nullptr, false);
    if (c.is_discarded() || !c.is_object()) {
      return HitlResult::Fail(HitlCode::kInvalid, "context must be a JSON object");
    }
  }
  const int64_t now = engine_.Now();
  int64_t expires = spec.expires_at_us;
  if (expires == 0) expires = now + (spec.ttl_us > 0 ? spec.ttl_us : options_.default_ttl_us);
  if (expires <= now)
    return HitlResult::Fail(HitlCode::kInvalid, "expires_at is not in the future");

  nlohmann::json payload = {{"checkpoint_id", id},
                            {"tenant", spec.tenant},
                            {"dag_run_id", spec.dag_run_id},
                            {"thread_id", spec.thread_id},
                            {"prompt", spec.prompt},
                            {"required_role", CheckpointRoleName(role)},
                            {"source_ids", spec.source_ids},
                            {"created_at_us", now},
                            {"expires_at_us", expires},
                            {"context_json", spec.context_json},
                            {"by", spec.by.empty() ? actor.id : spec.by}};
  Result<AppendResult> r =
      engine_.AppendJson(CheckpointStream(id), spec.tenant, actor, ExpectedVersion::NoStream(),
                         {EventInput{"CheckpointCreated", "", Dump(payload)}});
  if (!r.ok()) {
    // The id is taken (here or, as kNotFound from the log, by another tenant):
    // an identical retry gets the original; anything else is refused.
    if (!r.status().IsConflict() && !r.status().IsNotFound()) return HitlResult::Error(r.status());
    Result<CheckpointState> existing = Load(id);
    if (!existing.ok() && !existing.status().IsNotFound())
      return HitlResult::Error(existing.status());
    if (existing.ok()) {
      const CheckpointState& e = *existing;
      const bool same = e.tenant == spec.tenant && e.dag_run_id == spec.dag_run_id &&
                        e.thread_id == spec.thread_id && e.prompt == spec.prompt &&
                        e.required_role == role && e.source_ids == spec.source_ids &&
                        ObjectOrEmpty(e.context_json) == ObjectOrEmpty(spec.context_json) &&
                        (spec.expires_at_us == 0 || spec.expires_at_us == e.expires_at_us);
      if (same) {
        HitlResult ok;
        ok.state = e;
        ok.deduplicated = true;
        ok.lsn = e.created_lsn;
        return ok;
      }
    }
    return HitlResult::Fail(HitlCode::kExists, "checkpoint id '" + id + "' is taken");
  }
  WaitForView(r->last_lsn);
  Result<CheckpointState> st = Load(id);
  if (!st.ok()) return HitlResult::Error(st.status());
  HitlResult ok;
  ok.state = std::move(st).value();
  ok.lsn = r->last_lsn;
  return ok;
}

HitlResult Hitl::Approve(std::string_view id, const HitlAccess& access,
                         std::vector<std::string> approved_ids, const std::string& data_json,
                         const std::string& by, const Actor& actor) {
  return Decide(id, access, true, std::move(approved_ids), data_json, "", by, actor);
}

HitlResult Hitl::Reject(std::string_view id, const HitlAccess& access, const std::string& reason,
                        const std::string& by, const Actor& actor) {
  return Decide(id, access, false, {}, "", reason, by, actor);
}

HitlResult Hitl::Decide(std::string_view id, const HitlAccess& access, bool approve,
                        std::vector<std::string> approved_ids, const std::string& data_json,
                        const std::string& reason, const std::string& by, const Actor& actor) {
  if (!ValidId(id)) return HitlResult::Fail(HitlCode::kNotFound, "checkpoint not found");
  if (!data_json.empty()) {
    nlohmann::json d = nlohmann::json::parse(data_json, nullptr, false);
    if (d.is_discarded() || !d.is_object()) {
      return HitlResult::Fail(HitlCode::kInvalid, "data must be a JSON object");
    }
  }
  for (int attempt = 0; attempt < kDecideAttempts; ++attempt) {
    Result<CheckpointState> loaded = Load(id);
    if (!loaded.ok()) {
      if (loaded.status().IsNotFound()) {
        return HitlResult::Fail(HitlCode::kNotFound,
                                "checkpoint '" + std::string(id) + "' not found");
      }
      return HitlResult::Error(loaded.status());
    }
    CheckpointState st = std::move(loaded).value();
    if (HitlCode c = CheckVisible(st, access); c != HitlCode::kOk) {
      return c == HitlCode::kTenantRequired
                 ? HitlResult::Fail(c,
                                    "X-Tenant-ID is required: the checkpoint belongs to a tenant")
                 : HitlResult::Fail(c, "checkpoint '" + std::string(id) + "' not found");
    }
    if (!CheckpointRoleAllows(access.role, st.required_role)) {
      return HitlResult::Fail(
          HitlCode::kForbidden,
          "this checkpoint needs the " + CheckpointRoleName(st.required_role) + " role");
    }
    if (approve) {
      for (const auto& a : approved_ids) {
        if (std::find(st.source_ids.begin(), st.source_ids.end(), a) == st.source_ids.end()) {
          return HitlResult::Fail(HitlCode::kInvalid, "approved source id '" + a +
                                                          "' is not a candidate of the checkpoint");
        }
      }
    }
    const int64_t now = engine_.Now();
    if (st.status == CheckpointStatus::kPending && st.expires_at_us != 0 &&
        now >= st.expires_at_us) {
      Result<uint64_t> lsn = ExpireIfDue(st, now);
      if (!lsn.ok() && !lsn.status().IsConflict()) return HitlResult::Error(lsn.status());
      if (lsn.ok()) WaitForView(*lsn);
      continue;  // re-read: now expired (or decided by someone else)
    }
    if (st.status != CheckpointStatus::kPending) {
      const bool same = approve ? st.status == CheckpointStatus::kApproved &&
                                      SameSet(st.approved_source_ids, approved_ids) &&
                                      ObjectOrEmpty(st.data_json) == ObjectOrEmpty(data_json)
                                : st.status == CheckpointStatus::kRejected && st.reason == reason;
      if (same) {
        HitlResult ok;
        ok.state = std::move(st);
        ok.deduplicated = true;
        ok.lsn = ok.state.decided_lsn;
        return ok;
      }
      HitlResult r =
          HitlResult::Fail(HitlCode::kNotPending, std::string(NotPendingMessage(st.status)));
      r.state = std::move(st);
      return r;
    }
    const std::string who = by.empty() ? actor.id : by;
    EventInput in;
    if (approve) {
      in.type = "CheckpointApproved";
      in.payload_json =
          Dump({{"checkpoint_id", st.id},
                {"approved_source_ids", approved_ids},
                {"by", who},
                {"by_role", std::string(RoleName(actor.role))},
                {"data_json", data_json.empty() ? "" : Dump(ObjectOrEmpty(data_json))},
                {"approved_at_us", now}});
    } else {
      in.type = "CheckpointRejected";
      in.payload_json = Dump({{"checkpoint_id", st.id},
                              {"reason", reason},
                              {"by", who},
                              {"by_role", std::string(RoleName(actor.role))},
                              {"rejected_at_us", now}});
    }
    Result<AppendResult> r = engine_.AppendJson(CheckpointStream(st.id), st.tenant, actor,
                                                ExpectedVersion::Exact(st.version), {in});
    if (!r.ok()) {
      if (r.status().IsConflict()) continue;  // someone else appended: decide again
      return HitlResult::Error(r.status());
    }
    WaitForView(r->last_lsn);
    Result<CheckpointState> after = Load(id);
    if (!after.ok()) return HitlResult::Error(after.status());
    HitlResult ok;
    ok.state = std::move(after).value();
    ok.lsn = r->last_lsn;
    return ok;
  }
  return HitlResult::Error(
      Status::TimedOut("checkpoint '" + std::string(id) + "' kept changing while deciding; retry"));
}

HitlResult Hitl::Get(std::string_view id, const HitlAccess& access) {
  if (!ValidId(id)) return HitlResult::Fail(HitlCode::kNotFound, "checkpoint not found");
  auto reader = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(),
                                   HitlCheckpointsProjection::kName);
  Result<std::optional<CheckpointState>> st = HitlCheckpointsProjection::Get(*reader, id);
  if (!st.ok()) return HitlResult::Error(st.status());
  if (!st->has_value()) {
    return HitlResult::Fail(HitlCode::kNotFound, "checkpoint '" + std::string(id) + "' not found");
  }
  if (HitlCode c = CheckVisible(**st, access); c != HitlCode::kOk) {
    return c == HitlCode::kTenantRequired
               ? HitlResult::Fail(c, "X-Tenant-ID is required: the checkpoint belongs to a tenant")
               : HitlResult::Fail(c, "checkpoint '" + std::string(id) + "' not found");
  }
  HitlResult ok;
  ok.state = std::move(**st);
  return ok;
}

Result<uint64_t> Hitl::ExpireIfDue(const CheckpointState& st, int64_t now) {
  if (st.status != CheckpointStatus::kPending || st.expires_at_us == 0 || now < st.expires_at_us) {
    return uint64_t{0};
  }
  EventInput in{
      "CheckpointExpired", "",
      Dump(
          {{"checkpoint_id", st.id}, {"expires_at_us", st.expires_at_us}, {"expired_at_us", now}})};
  Result<AppendResult> r = engine_.AppendJson(CheckpointStream(st.id), st.tenant, kExpiryActor,
                                              ExpectedVersion::Exact(st.version), {in});
  if (!r.ok()) return r.status();
  return r->last_lsn;
}

Result<size_t> Hitl::ExpireDue() {
  const int64_t now = engine_.Now();
  auto reader = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(),
                                   HitlCheckpointsProjection::kName);
  size_t expired = 0;
  std::optional<HitlCheckpointsProjection::DueEntry> after;
  for (;;) {
    // Pages through the expiry index: the view drops an expired checkpoint
    // only once it has folded the CheckpointExpired appended here.
    Result<std::vector<HitlCheckpointsProjection::DueEntry>> due =
        HitlCheckpointsProjection::Due(*reader, now, kSweepBatch, after);
    if (!due.ok()) return due.status();
    for (const auto& entry : *due) {
      Result<CheckpointState> st = Load(entry.second);
      if (!st.ok()) return st.status();
      Result<uint64_t> lsn = ExpireIfDue(*st, now);
      if (!lsn.ok()) {
        if (lsn.status().IsConflict()) continue;  // decided meanwhile; the view will drop it
        return lsn.status();
      }
      if (*lsn != 0) ++expired;
    }
    if (due->size() < kSweepBatch) break;
    after = due->back();
  }
  return expired;
}

Result<std::vector<CheckpointState>> Hitl::List(const std::optional<std::string>& tenant,
                                                std::optional<CheckpointStatus> status,
                                                size_t limit) {
  auto reader = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(),
                                   HitlCheckpointsProjection::kName);
  return HitlCheckpointsProjection::List(*reader, tenant, status, limit);
}

Result<std::vector<CheckpointAuditEntry>> Hitl::Audit(const std::optional<std::string>& tenant,
                                                      int64_t from_us, int64_t to_us,
                                                      size_t limit) {
  auto reader = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(),
                                   HitlCheckpointsProjection::kName);
  return HitlCheckpointsProjection::Audit(*reader, tenant, from_us, to_us, limit);
}

void Hitl::Start() {
  if (sweeper_.joinable() || options_.sweep_interval.count() <= 0) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = false;
  }
  sweeper_ = std::thread([this] {
    std::unique_lock<std::mutex> l(mu_);
    while (!cv_.wait_for(l, options_.sweep_interval, [this] { return stop_; })) {
      l.unlock();
      Result<size_t> n = ExpireDue();
      if (!n.ok()) {
        spdlog::warn("checkpoint expiry sweep: {}", n.status().ToString());
      } else if (*n > 0) {
        spdlog::info("expired {} checkpoint(s)", *n);
      }
      l.lock();
    }
  });
}

void Hitl::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

nlohmann::json CheckpointJson(const CheckpointState& st, int64_t now_us) {
  auto time = [](int64_t us) -> nlohmann::json {
    if (us == 0) return nullptr;
    return FormatTimestamp(us);
  };
  const bool pending = st.status == CheckpointStatus::kPending;
  const bool decided = !pending && st.status != CheckpointStatus::kNone;
  nlohmann::json j = {
      {"checkpoint_id", st.id},
      {"tenant_id", st.tenant.empty() ? nlohmann::json(nullptr) : nlohmann::json(st.tenant)},
      {"status", std::string(CheckpointStatusName(st.status))},
      {"dag_run_id", st.dag_run_id},
      {"thread_id", st.thread_id},
      {"prompt", st.prompt},
      {"required_role", CheckpointRoleName(st.required_role)},
      {"source_ids", st.source_ids},
      {"context", ObjectOrEmpty(st.context_json)},
      {"created_by", st.created_by},
      {"created_at", time(st.created_at_us)},
      {"expires_at", time(st.expires_at_us)},
      {"expires_in_seconds", nullptr},
      {"decided_by", decided && !st.decided_by.empty() ? nlohmann::json(st.decided_by) : nullptr},
      {"decided_role", decided && st.status != CheckpointStatus::kExpired
                           ? nlohmann::json(std::string(RoleName(st.decided_role)))
                           : nullptr},
      {"decided_at", decided ? time(st.decided_at_us) : nullptr},
      {"approved_source_ids",
       st.status == CheckpointStatus::kApproved ? nlohmann::json(st.approved_source_ids) : nullptr},
      {"data", st.status == CheckpointStatus::kApproved ? ObjectOrEmpty(st.data_json) : nullptr},
      {"reason", st.status == CheckpointStatus::kRejected ? nlohmann::json(st.reason) : nullptr},
  };
  if (pending && st.expires_at_us != 0) {
    j["expires_in_seconds"] = st.expires_at_us > now_us ? (st.expires_at_us - now_us) / 1000000 : 0;
  }
  return j;
}

}  // namespace logbook
