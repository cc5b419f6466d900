#include "projections/opt_outs.h"

#include "log/coding.h"
#include "projections/payload.h"
#include "projections/workspace.h"
#include "schemas/events_generated.h"

namespace logbook {

namespace {

constexpr char kSep = '\0';

std::string ScopeKey(std::string_view tenant, std::string_view user, std::string_view channel) {
  std::string k = "a" + std::string(tenant);
  k.push_back(kSep);
  k.append(user);
  k.push_back(kSep);
  k.append(channel);
  return k;
}

std::string IdKey(std::string_view tenant, std::string_view id) {
  std::string k = "o" + std::string(tenant);
  k.push_back(kSep);
  k.append(id);
  return k;
}

std::string HistoryPrefix(std::string_view tenant) {
  std::string k = "h" + std::string(tenant);
  k.push_back(kSep);
  return k;
}

nlohmann::json ToJson(const OptOutEntry& o) {
  return {{"opt_out_id", o.opt_out_id},
          {"user", o.user},
          {"channel", o.channel},
          {"reason", o.reason},
          {"expires_at_us", o.expires_at_us},
          {"set_at_us", o.set_at_us},
          {"by", o.by},
          {"lsn", o.lsn}};
}

bool EntryFromJson(const nlohmann::json& j, OptOutEntry* o) {
  if (!j.is_object()) return false;
  try {
    o->opt_out_id = j.value("opt_out_id", "");
    o->user = j.value("user", "");
    o->channel = j.value("channel", "");
    o->reason = j.value("reason", "");
    o->expires_at_us = j.value("expires_at_us", int64_t{0});
    o->set_at_us = j.value("set_at_us", int64_t{0});
    o->by = j.value("by", "");
    o->lsn = j.value("lsn", uint64_t{0});
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

bool FromJson(std::string_view v, OptOutEntry* o) {
  return EntryFromJson(nlohmann::json::parse(v, nullptr, false), o);
}

nlohmann::json ToJson(const OptOutHistoryEntry& h) {
  return {{"action", h.action},   {"entry", ToJson(h.entry)},
          {"matched", h.matched}, {"at_us", h.at_us},
          {"by", h.by},           {"reason", h.reason}};
}

bool FromJson(std::string_view v, OptOutHistoryEntry* h) {
  nlohmann::json j = nlohmann::json::parse(v, nullptr, false);
  if (!j.is_object() || !EntryFromJson(j.value("entry", nlohmann::json()), &h->entry)) return false;
  try {
    h->action = j.value("action", "");
    h->matched = j.value("matched", true);
    h->at_us = j.value("at_us", int64_t{0});
    h->by = j.value("by", "");
    h->reason = j.value("reason", "");
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return true;
}

Status Bad(std::string_view what) {
  return Status::Corruption("opt_outs view: malformed " + std::string(what) + " entry");
}

// Scope names as stored: "" or a valid name.
bool ValidScope(std::string_view user, std::string_view channel) {
  return (user.empty() || IsValidWorkspaceName(user, kMaxUserName)) &&
         (channel.empty() || IsValidWorkspaceName(channel, kMaxChannelName));
}

bool OnCanonicalStream(const Event& e, const flatbuffers::String* payload_tenant) {
  return !e.tenant.empty() && e.stream == OptOutStream(e.tenant) && payload_tenant != nullptr &&
         payload_tenant->string_view() == e.tenant;
}

void PutHistory(ViewTxn& txn, const Event& e, const OptOutHistoryEntry& h) {
  std::string k = HistoryPrefix(e.tenant);
  coding::PutFixed64BE(&k, e.lsn);
  txn.Put(k, ToJson(h).dump());
}

Status ApplySet(const Event& e, ViewTxn& txn) {
  const auto* p = DecodePayload<fb::OptOutSet>(e);
  if (p == nullptr) return Status::OK();  // see DecodePayload
  OptOutEntry o;
  o.opt_out_id = Str(p->opt_out_id());
  // A set without an id (a generic append) is named by its event id.
  if (o.opt_out_id.empty()) o.opt_out_id = EventIdToString(e.event_id);
  o.user = Str(p->user());
  o.channel = Str(p->channel());
  if (!OnCanonicalStream(e, p->tenant()) || !ValidScope(o.user, o.channel) ||
      !IsValidWorkspaceName(o.opt_out_id, 64)) {
    return Status::OK();
  }
  o.reason = Str(p->reason());
  o.expires_at_us = p->expires_at_us();
  o.set_at_us = p->set_at_us() != 0 ? p->set_at_us() : e.recorded_at_us;
  o.by = Str(p->by());
  o.lsn = e.lsn;

  const std::string scope = ScopeKey(e.tenant, o.user, o.channel);
  Result<std::optional<std::string>> prev = txn.Get(scope);
  if (!prev.ok()) return prev.status();
  if (prev->has_value()) {
    OptOutEntry old;
    if (!FromJson(**prev, &old)) return Bad("scope");
    txn.Delete(IdKey(e.tenant, old.opt_out_id));  // replaced
  }
  // An id names one scope: setting an existing id elsewhere moves it.
  Result<std::optional<std::string>> where = txn.Get(IdKey(e.tenant, o.opt_out_id));
  if (!where.ok()) return where.status();
  if (where->has_value() && std::string("a") + e.tenant + kSep + **where != scope) {
    txn.Delete("a" + e.tenant + kSep + **where);
  }
  txn.Put(scope, ToJson(o).dump());
  txn.Put(IdKey(e.tenant, o.opt_out_id), o.user + kSep + o.channel);
  OptOutHistoryEntry h;
  h.action = "set";
  h.entry = o;
  h.at_us = o.set_at_us;
  h.by = o.by;
  h.reason = o.reason;
  PutHistory(txn, e, h);
  return Status::OK();
}

Status ApplyCleared(const Event& e, ViewTxn& txn) {
  const auto* p = DecodePayload<fb::OptOutCleared>(e);
  if (p == nullptr) return Status::OK();  // see DecodePayload
  if (!OnCanonicalStream(e, p->tenant())) return Status::OK();
  const std::string id = Str(p->opt_out_id());
  std::string user = Str(p->user());
  std::string channel = Str(p->channel());
  if (!id.empty()) {
    // By id: the scope is where the id is current (the payload's scope, if
    // any, is informational).
    Result<std::optional<std::string>> where = txn.Get(IdKey(e.tenant, id));
    if (!where.ok()) return where.status();
    if (where->has_value()) {
      const size_t nul = (*where)->find(kSep);
      if (nul == std::string::npos) return Bad("id");
      user = (*where)->substr(0, nul);
      channel = (*where)->substr(nul + 1);
    }
  }
  if (!ValidScope(user, channel)) return Status::OK();
  OptOutHistoryEntry h;
  h.action = "cleared";
  h.at_us = p->cleared_at_us() != 0 ? p->cleared_at_us() : e.recorded_at_us;
  h.by = Str(p->by());
  h.reason = Str(p->reason());
  h.entry.opt_out_id = id;
  h.entry.user = user;
  h.entry.channel = channel;
  h.entry.lsn = e.lsn;
  const std::string scope = ScopeKey(e.tenant, user, channel);
  Result<std::optional<std::string>> cur = txn.Get(scope);
  if (!cur.ok()) return cur.status();
  OptOutEntry o;
  if (cur->has_value() && !FromJson(**cur, &o)) return Bad("scope");
  h.matched = cur->has_value() && (id.empty() || o.opt_out_id == id);
  if (h.matched) {
    h.entry = o;
    txn.Delete(scope);
    txn.Delete(IdKey(e.tenant, o.opt_out_id));
  }
  PutHistory(txn, e, h);
  return Status::OK();
}

}  // namespace

std::string OptOutStream(std::string_view tenant) {
  return "tenant/" + std::string(tenant) + "/optouts";
}

std::string OptOutEntry::Scope() const {
  if (user.empty()) return channel.empty() ? "organization" : "organization_channel";
  return channel.empty() ? "member" : "member_channel";
}

Status OptOutsProjection::Apply(const Event& e, ViewTxn& txn) {
  if (e.payload_encoding != 0) return Status::OK();  // see WorkspaceProjection::Apply
  switch (static_cast<fb::EventType>(e.type)) {
    case fb::EventType::OptOutSet:
      return ApplySet(e, txn);
    case fb::EventType::OptOutCleared:
      return ApplyCleared(e, txn);
    default:
      return Status::OK();
  }
}

Result<std::optional<OptOutEntry>> OptOutsProjection::GetScope(ViewReader& r,
                                                               std::string_view tenant,
                                                               std::string_view user,
                                                               std::string_view channel) {
  Result<std::optional<std::string>> v = r.Get(ScopeKey(tenant, user, channel));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<OptOutEntry>();
  OptOutEntry o;
  if (!FromJson(**v, &o)) return Bad("scope");
  return std::optional<OptOutEntry>(std::move(o));
}

Result<std::optional<OptOutEntry>> OptOutsProjection::Get(ViewReader& r, std::string_view tenant,
                                                          std::string_view opt_out_id) {
  Result<std::optional<std::string>> where = r.Get(IdKey(tenant, opt_out_id));
  if (!where.ok()) return where.status();
  if (!where->has_value()) return std::optional<OptOutEntry>();
  const size_t nul = (*where)->find(kSep);
  if (nul == std::string::npos) return Bad("id");
  return GetScope(r, tenant, std::string_view(**where).substr(0, nul),
                  std::string_view(**where).substr(nul + 1));
}

Result<OptOutCheck> OptOutsProjection::Check(ViewReader& r, std::string_view tenant,
                                             std::string_view user, std::string_view channel,
                                             int64_t now_us) {
  std::vector<std::pair<std::string_view, std::string_view>> scopes = {{"", ""}};
  if (!channel.empty()) scopes.emplace_back("", channel);
  if (!user.empty()) scopes.emplace_back(user, "");
  if (!user.empty() && !channel.empty()) scopes.emplace_back(user, channel);
  OptOutCheck out;
  for (const auto& [u, c] : scopes) {
    Result<std::optional<OptOutEntry>> o = GetScope(r, tenant, u, c);
    if (!o.ok()) return o.status();
    if (!o->has_value()) continue;
    ((*o)->ActiveAt(now_us) ? out.active : out.expired).push_back(std::move(**o));
  }
  return out;
}

Result<std::vector<OptOutEntry>> OptOutsProjection::List(ViewReader& r, std::string_view tenant,
                                                         std::string_view user,
                                                         std::string_view channel) {
  std::string prefix = "a" + std::string(tenant);
  prefix.push_back(kSep);
  if (!user.empty()) {
    prefix.append(user);
    prefix.push_back(kSep);
  }
  std::vector<OptOutEntry> out;
  Status bad;
  Status s = r.Scan(prefix, [&](std::string_view, std::string_view v) {
    OptOutEntry o;
    if (!FromJson(v, &o)) {
      bad = Bad("scope");
      return false;
    }
    if (!channel.empty() && o.channel != channel) return true;
    out.push_back(std::move(o));
    return true;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<OptOutHistoryEntry>> OptOutsProjection::History(
    ViewReader& r, std::string_view tenant, std::string_view user, std::string_view channel,
    uint64_t from_lsn, size_t limit, uint64_t* next_lsn) {
  const std::string prefix = HistoryPrefix(tenant);
  std::string start = prefix;
  coding::PutFixed64BE(&start, from_lsn);
  std::vector<OptOutHistoryEntry> out;
  *next_lsn = 0;
  Status bad;
  Status s = r.Scan(prefix, start, [&](std::string_view k, std::string_view v) {
    if (k.size() != prefix.size() + 8) {
      bad = Bad("history key");
      return false;
    }
    const uint64_t lsn = coding::DecodeFixed64BE(k.data() + prefix.size());
    if (out.size() >= limit) {
      *next_lsn = lsn;  // there is more
      return false;
    }
    OptOutHistoryEntry h;
    if (!FromJson(v, &h)) {
      bad = Bad("history");
      return false;
    }
    if ((!user.empty() && h.entry.user != user) ||
        (!channel.empty() && h.entry.channel != channel)) {
      return true;
    }
    h.entry.lsn = lsn;
    out.push_back(std::move(h));
    return true;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  return out;
}

Result<nlohmann::json> OptOutsProjection::Dump(ViewReader& reader) {
  nlohmann::json current = nlohmann::json::array(), history = nlohmann::json::array();
  Status bad;
  Status s = reader.Scan("", [&](std::string_view k, std::string_view v) {
    const size_t nul = k.find(kSep);
    if (nul == std::string_view::npos) {
      bad = Bad("key");
      return false;
    }
    const std::string tenant(k.substr(1, nul - 1));
    if (k[0] == 'a') {
      OptOutEntry o;
      if (!FromJson(v, &o)) {
        bad = Bad("scope");
        return false;
      }
      nlohmann::json j = ToJson(o);
      j["tenant"] = tenant;
      current.push_back(std::move(j));
    } else if (k[0] == 'h') {
      OptOutHistoryEntry h;
      if (!FromJson(v, &h)) {
        bad = Bad("history");
        return false;
      }
      nlohmann::json j = ToJson(h);
      j["tenant"] = tenant;
      history.push_back(std::move(j));
    }
    return true;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  return nlohmann::json{{"current", std::move(current)}, {"history", std::move(history)}};
}

}  // namespace logbook
