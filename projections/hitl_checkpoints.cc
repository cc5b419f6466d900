#include "projections/hitl_checkpoints.h"

#include <algorithm>

#include "log/coding.h"
#include "projections/payload.h"

namespace logbook {

namespace {

constexpr uint16_t kCreated = static_cast<uint16_t>(fb::EventType::CheckpointCreated);
constexpr uint16_t kApproved = static_cast<uint16_t>(fb::EventType::CheckpointApproved);
constexpr uint16_t kRejected = static_cast<uint16_t>(fb::EventType::CheckpointRejected);
constexpr uint16_t kExpired = static_cast<uint16_t>(fb::EventType::CheckpointExpired);

uint64_t Inv(int64_t ts) { return UINT64_MAX - static_cast<uint64_t>(std::max<int64_t>(ts, 0)); }

std::string ByIdKey(std::string_view id) { return "c" + std::string(id); }

// tenant nullopt: the all-tenant indexes ("a", "A").
std::string ListPrefix(const std::optional<std::string>& tenant,
                       std::optional<CheckpointStatus> s) {
  std::string k;
  if (tenant) {
    k = (s ? "s" : "t") + *tenant;
    k.push_back('\0');
  } else {
    k = s ? "A" : "a";
  }
  if (s) k.push_back(static_cast<char>(*s));
  return k;
}

std::string ListKey(const std::optional<std::string>& tenant, std::optional<CheckpointStatus> s,
                    int64_t created, std::string_view id) {
  std::string k = ListPrefix(tenant, s);
  coding::PutFixed64BE(&k, Inv(created));
  k.append(id);
  return k;
}

std::string ExpiryKey(int64_t expires_at, std::string_view id) {
  std::string k = "x";
  coding::PutFixed64BE(&k, static_cast<uint64_t>(std::max<int64_t>(expires_at, 0)));
  k.append(id);
  return k;
}

std::string TrailSuffix(int64_t recorded_at, uint64_t lsn) {
  std::string k;
  coding::PutFixed64BE(&k, static_cast<uint64_t>(std::max<int64_t>(recorded_at, 0)));
  coding::PutFixed64BE(&k, lsn);
  return k;
}

bool Subset(const std::vector<std::string>& part, const std::vector<std::string>& whole) {
  for (const auto& p : part) {
    if (std::find(whole.begin(), whole.end(), p) == whole.end()) return false;
  }
  return true;
}

// A decision counts before the deadline only.
bool InTime(const CheckpointState& st, int64_t at_us) {
  return st.expires_at_us == 0 || at_us < st.expires_at_us;
}

nlohmann::json AuditJson(const CheckpointAuditEntry& a) {
  nlohmann::json j = {
      {"tenant", a.tenant}, {"checkpoint_id", a.checkpoint_id},      {"action", a.action},
      {"by", a.by},         {"role", std::string(RoleName(a.role))}, {"at_us", a.at_us}};
  if (a.action == "approved") j["approved_source_ids"] = a.approved_source_ids;
  if (a.action == "rejected") j["reason"] = a.reason;
  return j;
}

bool AuditFromJson(std::string_view text, CheckpointAuditEntry* a) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  try {
    a->tenant = j.at("tenant").get<std::string>();
    a->checkpoint_id = j.at("checkpoint_id").get<std::string>();
    a->action = j.at("action").get<std::string>();
    a->by = j.at("by").get<std::string>();
    if (!ParseRole(j.at("role").get<std::string>(), &a->role)) a->role = Role::kNone;
    a->at_us = j.at("at_us").get<int64_t>();
    if (j.contains("approved_source_ids")) {
      a->approved_source_ids = j["approved_source_ids"].get<std::vector<std::string>>();
    }
    if (j.contains("reason")) a->reason = j["reason"].get<std::string>();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

}  // namespace

std::string_view CheckpointStatusName(CheckpointStatus s) {
  switch (s) {
    case CheckpointStatus::kNone:
      return "none";
    case CheckpointStatus::kPending:
      return "pending";
    case CheckpointStatus::kApproved:
      return "approved";
    case CheckpointStatus::kRejected:
      return "rejected";
    case CheckpointStatus::kExpired:
      return "expired";
  }
  return "none";
}

bool ParseCheckpointStatus(std::string_view name, CheckpointStatus* out) {
  for (auto s : {CheckpointStatus::kPending, CheckpointStatus::kApproved,
                 CheckpointStatus::kRejected, CheckpointStatus::kExpired}) {
    if (name == CheckpointStatusName(s)) {
      *out = s;
      return true;
    }
  }
  return false;
}

bool CheckpointRoleAllows(Role have, Role need) {
  auto rank = [](Role r) {
    switch (r) {
      case Role::kNone:
        return 0;
      case Role::kViewer:
      case Role::kAuditor:
      case Role::kCompliance:
        return 1;
      case Role::kOperator:
        return 2;
      case Role::kAdmin:
        return 3;
    }
    return 0;
  };
  if (need == Role::kAuditor || need == Role::kCompliance) {
    return have == Role::kAdmin || have == need ||
           (need == Role::kAuditor && have == Role::kCompliance);
  }
  return have != Role::kNone && rank(have) >= rank(need);
}

std::string CheckpointRoleName(Role r) {
  std::string n(RoleName(r));
  if (!n.empty()) n[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(n[0])));
  return n;
}

std::string CheckpointStream(std::string_view checkpoint_id) {
  return std::string(kCheckpointStreamPrefix) + std::string(checkpoint_id);
}

std::string CheckpointState::ToJson() const {
  nlohmann::json j = {{"status", static_cast<int>(status)},
                      {"id", id},
                      {"tenant", tenant},
                      {"dag_run_id", dag_run_id},
                      {"thread_id", thread_id},
                      {"prompt", prompt},
                      {"required_role", static_cast<int>(required_role)},
                      {"source_ids", source_ids},
                      {"context_json", context_json},
                      {"created_by", created_by},
                      {"created_at_us", created_at_us},
                      {"expires_at_us", expires_at_us},
                      {"decided_by", decided_by},
                      {"decided_role", static_cast<int>(decided_role)},
                      {"decided_at_us", decided_at_us},
                      {"approved_source_ids", approved_source_ids},
                      {"data_json", data_json},
                      {"reason", reason},
                      {"decided_lsn", decided_lsn},
                      {"version", version},
                      {"created_lsn", created_lsn}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool CheckpointState::FromJson(std::string_view text, CheckpointState* out) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  try {
    CheckpointState s;
    s.status = static_cast<CheckpointStatus>(j.at("status").get<int>());
    s.id = j.at("id").get<std::string>();
    s.tenant = j.at("tenant").get<std::string>();
    s.dag_run_id = j.at("dag_run_id").get<std::string>();
    s.thread_id = j.at("thread_id").get<std::string>();
    s.prompt = j.at("prompt").get<std::string>();
    s.required_role = static_cast<Role>(j.at("required_role").get<int>());
    s.source_ids = j.at("source_ids").get<std::vector<std::string>>();
    s.context_json = j.at("context_json").get<std::string>();
    s.created_by = j.at("created_by").get<std::string>();
    s.created_at_us = j.at("created_at_us").get<int64_t>();
    s.expires_at_us = j.at("expires_at_us").get<int64_t>();
    s.decided_by = j.at("decided_by").get<std::string>();
    s.decided_role = static_cast<Role>(j.at("decided_role").get<int>());
    s.decided_at_us = j.at("decided_at_us").get<int64_t>();
    s.approved_source_ids = j.at("approved_source_ids").get<std::vector<std::string>>();
    s.data_json = j.at("data_json").get<std::string>();
    s.reason = j.at("reason").get<std::string>();
    s.decided_lsn = j.at("decided_lsn").get<uint64_t>();
    s.version = j.at("version").get<uint64_t>();
    s.created_lsn = j.at("created_lsn").get<uint64_t>();
    *out = std::move(s);
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

bool ApplyCheckpointEvent(const Event& e, CheckpointState* st) {
  if (!e.stream.starts_with(kCheckpointStreamPrefix)) return false;
  const std::string_view id = std::string_view(e.stream).substr(kCheckpointStreamPrefix.size());
  st->version = e.stream_version;
  const bool pending = st->status == CheckpointStatus::kPending;
  switch (e.type) {
    case kCreated: {
      payload::Root<fb::CheckpointCreated> p(e);
      if (!p || st->exists() || payload::Str(p->checkpoint_id()) != id) return false;
      st->status = CheckpointStatus::kPending;
      st->id = std::string(id);
      st->tenant = e.tenant;
      st->dag_run_id = payload::Str(p->dag_run_id());
      st->thread_id = payload::Str(p->thread_id());
      st->prompt = payload::Str(p->prompt());
      // An unreadable role fails closed: only an admin may decide.
      const std::string role = payload::Str(p->required_role());
      if (role.empty()) {
        st->required_role = Role::kOperator;
      } else if (!ParseRole(role, &st->required_role) || st->required_role == Role::kNone) {
        st->required_role = Role::kAdmin;
      }
      st->source_ids = payload::Strings(p->source_ids());
      st->context_json = payload::Str(p->context_json());
      st->created_by = p->by() ? p->by()->str() : e.actor.id;
      st->created_at_us = p->created_at_us() != 0 ? p->created_at_us() : e.recorded_at_us;
      st->expires_at_us = p->expires_at_us();
      st->created_lsn = e.lsn;
      return true;
    }
    case kApproved: {
      payload::Root<fb::CheckpointApproved> p(e);
      if (!p || !pending || payload::Str(p->checkpoint_id()) != id) return false;
      const int64_t at = p->approved_at_us() != 0 ? p->approved_at_us() : e.recorded_at_us;
      std::vector<std::string> approved = payload::Strings(p->approved_source_ids());
      if (!CheckpointRoleAllows(e.actor.role, st->required_role) || !InTime(*st, at) ||
          !Subset(approved, st->source_ids)) {
        return false;
      }
      st->status = CheckpointStatus::kApproved;
      st->decided_by = p->by() ? p->by()->str() : e.actor.id;
      st->decided_role = e.actor.role;
      st->decided_at_us = at;
      st->approved_source_ids = std::move(approved);
      st->data_json = payload::Str(p->data_json());
      st->decided_lsn = e.lsn;
      return true;
    }
    case kRejected: {
      payload::Root<fb::CheckpointRejected> p(e);
      if (!p || !pending || payload::Str(p->checkpoint_id()) != id) return false;
      const int64_t at = p->rejected_at_us() != 0 ? p->rejected_at_us() : e.recorded_at_us;
      if (!CheckpointRoleAllows(e.actor.role, st->required_role) || !InTime(*st, at)) return false;
      st->status = CheckpointStatus::kRejected;
      st->decided_by = p->by() ? p->by()->str() : e.actor.id;
      st->decided_role = e.actor.role;
      st->decided_at_us = at;
      st->reason = payload::Str(p->reason());
      st->decided_lsn = e.lsn;
      return true;
    }
    case kExpired: {
      payload::Root<fb::CheckpointExpired> p(e);
      if (!p || !pending || payload::Str(p->checkpoint_id()) != id) return false;
      st->status = CheckpointStatus::kExpired;
      st->decided_by.clear();
      st->decided_role = e.actor.role;
      st->decided_at_us = p->expired_at_us() != 0 ? p->expired_at_us() : e.recorded_at_us;
      st->decided_lsn = e.lsn;
      return true;
    }
    default:
      return false;
  }
}

Status HitlCheckpointsProjection::Apply(const Event& e, ViewTxn& txn) {
  if (e.type < kCreated || e.type > kExpired) return Status::OK();
  if (!e.stream.starts_with(kCheckpointStreamPrefix)) return Status::OK();
  const std::string id = e.stream.substr(kCheckpointStreamPrefix.size());
  CheckpointState st;
  Result<std::optional<std::string>> cur = txn.Get(ByIdKey(id));
  if (!cur.ok()) return cur.status();
  if (cur->has_value() && !CheckpointState::FromJson(**cur, &st)) {
    return Status::Corruption("hitl_checkpoints: unreadable state of checkpoint '" + id + "'");
  }
  const CheckpointStatus before = st.status;
  if (!ApplyCheckpointEvent(e, &st)) return Status::OK();
  txn.Put(ByIdKey(id), st.ToJson());

  const std::optional<std::string> tenant = st.tenant;
  if (before == CheckpointStatus::kNone) {
    txn.Put(ListKey(tenant, std::nullopt, st.created_at_us, id), "");
    txn.Put(ListKey(std::nullopt, std::nullopt, st.created_at_us, id), "");
  } else {
    txn.Delete(ListKey(tenant, before, st.created_at_us, id));
    txn.Delete(ListKey(std::nullopt, before, st.created_at_us, id));
    if (st.expires_at_us != 0) txn.Delete(ExpiryKey(st.expires_at_us, id));
  }
  txn.Put(ListKey(tenant, st.status, st.created_at_us, id), "");
  txn.Put(ListKey(std::nullopt, st.status, st.created_at_us, id), "");
  if (st.status == CheckpointStatus::kPending && st.expires_at_us != 0) {
    txn.Put(ExpiryKey(st.expires_at_us, id), "");
  }

  CheckpointAuditEntry a;
  a.tenant = st.tenant;
  a.checkpoint_id = id;
  if (st.status == CheckpointStatus::kPending) {
    a.action = "created";
    a.by = st.created_by;
    a.role = e.actor.role;
    a.at_us = st.created_at_us;
  } else {
    a.action = std::string(CheckpointStatusName(st.status));
    a.by = st.decided_by;
    a.role = st.decided_role;
    a.at_us = st.decided_at_us;
    a.approved_source_ids = st.approved_source_ids;
    a.reason = st.reason;
  }
  const std::string value =
      AuditJson(a).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string suffix = TrailSuffix(e.recorded_at_us, e.lsn);
  txn.Put("l" + st.tenant + '\0' + suffix, value);
  txn.Put("L" + suffix, value);
  return Status::OK();
}

Result<std::optional<CheckpointState>> HitlCheckpointsProjection::Get(ViewReader& r,
                                                                      std::string_view id) {
  Result<std::optional<std::string>> v = r.Get(ByIdKey(id));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<CheckpointState>();
  CheckpointState st;
  if (!CheckpointState::FromJson(**v, &st)) {
    return Status::Corruption("hitl_checkpoints: unreadable state of checkpoint '" +
                              std::string(id) + "'");
  }
  return std::optional<CheckpointState>(std::move(st));
}

Result<std::vector<CheckpointState>> HitlCheckpointsProjection::List(
    ViewReader& r, const std::optional<std::string>& tenant, std::optional<CheckpointStatus> status,
    size_t limit) {
  const std::string prefix = ListPrefix(tenant, status);
  std::vector<std::string> ids;
  Status bad;
  Status s = r.Scan(prefix, [&](std::string_view k, std::string_view) {
    if (k.size() <= prefix.size() + 8) {
      bad = Status::Corruption("hitl_checkpoints: index key of bad length");
      return false;
    }
    ids.emplace_back(k.substr(prefix.size() + 8));
    return ids.size() < limit;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  std::vector<CheckpointState> out;
  out.reserve(ids.size());
  for (const auto& id : ids) {
    Result<std::optional<CheckpointState>> st = Get(r, id);
    if (!st.ok()) return st.status();
    if (!st->has_value())
      return Status::Corruption("hitl_checkpoints: index names missing '" + id + "'");
    out.push_back(std::move(**st));
  }
  return out;
}

Result<std::vector<HitlCheckpointsProjection::DueEntry>> HitlCheckpointsProjection::Due(
    ViewReader& r, int64_t now_us, size_t limit, const std::optional<DueEntry>& after) {
  std::vector<DueEntry> out;
  const std::string start = after ? ExpiryKey(after->first, after->second) : std::string("x");
  Status bad;
  Status s = r.Scan("x", start, [&](std::string_view k, std::string_view) {
    if (k.size() <= 9) {
      bad = Status::Corruption("hitl_checkpoints: expiry key of bad length");
      return false;
    }
    if (after && k == start) return true;
    const auto at = static_cast<int64_t>(coding::DecodeFixed64BE(k.data() + 1));
    if (at > now_us) return false;
    out.emplace_back(at, std::string(k.substr(9)));
    return out.size() < limit;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<CheckpointAuditEntry>> HitlCheckpointsProjection::Audit(
    ViewReader& r, const std::optional<std::string>& tenant, int64_t from_us, int64_t to_us,
    size_t limit) {
  std::string prefix = tenant ? "l" + *tenant + '\0' : std::string("L");
  std::string start = prefix;
  coding::PutFixed64BE(&start, static_cast<uint64_t>(std::max<int64_t>(from_us, 0)));
  std::vector<CheckpointAuditEntry> out;
  Status bad;
  Status s = r.Scan(prefix, start, [&](std::string_view k, std::string_view v) {
    if (k.size() != prefix.size() + 16) {
      bad = Status::Corruption("hitl_checkpoints: trail key of bad length");
      return false;
    }
    CheckpointAuditEntry a;
    a.recorded_at_us = static_cast<int64_t>(coding::DecodeFixed64BE(k.data() + prefix.size()));
    if (a.recorded_at_us >= to_us) return false;
    a.lsn = coding::DecodeFixed64BE(k.data() + prefix.size() + 8);
    if (!AuditFromJson(v, &a)) {
      bad = Status::Corruption("hitl_checkpoints: unreadable trail entry");
      return false;
    }
    out.push_back(std::move(a));
    return out.size() < limit;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  return out;
}

Result<nlohmann::json> HitlCheckpointsProjection::Dump(ViewReader& reader) {
  nlohmann::json checkpoints = nlohmann::json::object();
  Status bad;
  Status s = reader.Scan("c", [&](std::string_view k, std::string_view v) {
    nlohmann::json j = nlohmann::json::parse(v, nullptr, false);
    if (j.is_discarded()) {
      bad = Status::Corruption("hitl_checkpoints: unreadable state");
      return false;
    }
    checkpoints[std::string(k.substr(1))] = std::move(j);
    return true;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  Result<std::vector<CheckpointAuditEntry>> trail =
      Audit(reader, std::nullopt, 0, INT64_MAX, SIZE_MAX);
  if (!trail.ok()) return trail.status();
  nlohmann::json t = nlohmann::json::array();
  for (const auto& a : *trail) {
    nlohmann::json j = AuditJson(a);
    j["lsn"] = a.lsn;
    t.push_back(std::move(j));
  }
  return nlohmann::json{{"checkpoints", std::move(checkpoints)}, {"trail", std::move(t)}};
}

}  // namespace logbook
