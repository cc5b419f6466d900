#include "projections/artifacts.h"

#include "log/coding.h"
#include "projections/payload.h"
#include "schemas/events_generated.h"

namespace logbook {

namespace {

constexpr std::string_view kPurged = "purged";

std::string EntryKey(std::string_view tenant, std::string_view id) {
  std::string k = "a";
  k.append(tenant);
  k.push_back('\0');
  k.append(id);
  return k;
}

std::string TierPrefix(std::string_view tier) {
  std::string k = "t";
  k.append(tier);
  k.push_back('\0');
  return k;
}

// Times before the epoch sort as 0: the index only orders, the entry keeps
// the exact value.
std::string IndexKey(std::string_view tier, int64_t since_us, std::string_view tenant,
                     std::string_view id) {
  std::string k = TierPrefix(tier);
  coding::PutFixed64BE(&k, static_cast<uint64_t>(std::max<int64_t>(since_us, 0)));
  k.append(tenant);
  k.push_back('\0');
  k.append(id);
  return k;
}

std::string SummaryKey(std::string_view tenant, std::string_view tier) {
  std::string k = "s";
  k.append(tenant);
  k.push_back('\0');
  k.append(tier);
  return k;
}

bool ParseEntry(std::string_view v, ArtifactEntry* a) {
  nlohmann::json j = nlohmann::json::parse(v, nullptr, false);
  if (!j.is_object()) return false;
  a->tenant = j.value("tenant", "");
  a->artifact_id = j.value("artifact_id", "");
  a->workflow = j.value("workflow", "");
  a->label = j.value("label", "");
  a->content_hash = j.value("content_hash", "");
  a->bytes = j.value("bytes", uint64_t{0});
  a->tier = j.value("tier", "");
  a->stored_at_us = j.value("stored_at_us", int64_t{0});
  a->tier_since_us = j.value("tier_since_us", int64_t{0});
  a->tier_lsn = j.value("tier_lsn", uint64_t{0});
  a->version = j.value("version", uint64_t{0});
  a->purged = j.value("purged", false);
  a->purged_at_us = j.value("purged_at_us", int64_t{0});
  return !a->tenant.empty() && !a->artifact_id.empty();
}

Result<TierTotals> GetTotals(ViewReader& r, std::string_view tenant, std::string_view tier) {
  Result<std::optional<std::string>> v = r.Get(SummaryKey(tenant, tier));
  if (!v.ok()) return v.status();
  TierTotals t;
  if (!v->has_value()) return t;
  nlohmann::json j = nlohmann::json::parse(**v, nullptr, false);
  if (!j.is_object()) return Status::Corruption("artifacts: malformed totals");
  t.count = j.value("count", uint64_t{0});
  t.bytes = j.value("bytes", uint64_t{0});
  return t;
}

// Adds (sign +1) or removes (-1) one artifact of `bytes` to a tier's totals.
Status AddTotals(ViewTxn& txn, std::string_view tenant, std::string_view tier, uint64_t bytes,
                 int sign) {
  Result<TierTotals> t = GetTotals(txn, tenant, tier);
  if (!t.ok()) return t.status();
  if (sign > 0) {
    t->count += 1;
    t->bytes += bytes;
  } else {
    t->count -= std::min<uint64_t>(t->count, 1);
    t->bytes -= std::min(t->bytes, bytes);
  }
  const std::string key = SummaryKey(tenant, tier);
  if (t->count == 0 && t->bytes == 0) {
    txn.Delete(key);
  } else {
    txn.Put(key, nlohmann::json{{"count", t->count}, {"bytes", t->bytes}}.dump());
  }
  return Status::OK();
}

void PutEntry(ViewTxn& txn, const ArtifactEntry& a) {
  txn.Put(EntryKey(a.tenant, a.artifact_id), a.ToJson().dump());
}

// Moves `a` (in its old tier) to `to_tier` at `at_us`, by the event at `lsn`.
Status ChangeTier(ViewTxn& txn, ArtifactEntry a, std::string_view to_tier, int64_t at_us,
                  const Event& e) {
  txn.Delete(IndexKey(a.tier, a.tier_since_us, a.tenant, a.artifact_id));
  if (Status s = AddTotals(txn, a.tenant, a.tier, a.bytes, -1); !s.ok()) return s;
  a.tier = std::string(to_tier);
  a.tier_since_us = at_us;
  a.tier_lsn = e.lsn;
  a.version = e.stream_version;
  txn.Put(IndexKey(a.tier, a.tier_since_us, a.tenant, a.artifact_id), "");
  if (Status s = AddTotals(txn, a.tenant, a.tier, a.bytes, +1); !s.ok()) return s;
  PutEntry(txn, a);
  return Status::OK();
}

// The entry an event on `e.stream` is about, when the stream is the one its
// payload names. nullopt: not an artifact event this view counts.
Result<std::optional<ArtifactEntry>> Existing(ViewTxn& txn, const Event& e,
                                              const flatbuffers::String* tenant,
                                              const flatbuffers::String* id) {
  if (!TenantAgrees(tenant, e) || id == nullptr ||
      e.stream != ArtifactStream(e.tenant, id->str())) {
    return std::optional<ArtifactEntry>();
  }
  return ArtifactsProjection::Get(txn, e.tenant, id->string_view());
}

int64_t Or(int64_t v, int64_t fallback) { return v != 0 ? v : fallback; }

}  // namespace

std::string ArtifactStream(std::string_view tenant, std::string_view artifact_id) {
  return "artifact/" + std::string(tenant) + "/" + std::string(artifact_id);
}

bool IsTier(std::string_view tier) {
  return tier == kTierHot || tier == kTierWarm || tier == kTierCold;
}

nlohmann::json ArtifactEntry::ToJson() const {
  return {{"tenant", tenant},
          {"artifact_id", artifact_id},
          {"workflow", workflow},
          {"label", label},
          {"content_hash", content_hash},
          {"bytes", bytes},
          {"tier", tier},
          {"stored_at_us", stored_at_us},
          {"tier_since_us", tier_since_us},
          {"tier_lsn", tier_lsn},
          {"version", version},
          {"purged", purged},
          {"purged_at_us", purged_at_us}};
}

nlohmann::json TenantTierSummary::ToJson() const {
  auto t = [](const TierTotals& x) {
    return nlohmann::json{{"count", x.count}, {"bytes", x.bytes}};
  };
  return {{"tenant", tenant},
          {"hot", t(hot)},
          {"warm", t(warm)},
          {"cold", t(cold)},
          {"purged", t(purged)}};
}

Status ArtifactsProjection::Apply(const Event& e, ViewTxn& txn) {
  using fb::EventType;
  const auto type = static_cast<EventType>(e.type);
  if (type != EventType::ArtifactStored && type != EventType::ArtifactMoved &&
      type != EventType::ArtifactRestored && type != EventType::ArtifactPurged) {
    return Status::OK();
  }
  if (e.tenant.empty()) return Status::OK();

  if (type == EventType::ArtifactStored) {
    const auto* p = DecodePayload<fb::ArtifactStored>(e);
    if (p == nullptr) return Status::OK();  // see DecodePayload
    Result<std::optional<ArtifactEntry>> cur = Existing(txn, e, p->tenant(), p->artifact_id());
    if (!cur.ok()) return cur.status();
    // Not this view's stream, or stored before: the first ArtifactStored counts.
    if (cur->has_value() || e.stream != ArtifactStream(e.tenant, Str(p->artifact_id()))) {
      return Status::OK();
    }
    if (!TenantAgrees(p->tenant(), e)) return Status::OK();
    ArtifactEntry a;
    a.tenant = e.tenant;
    a.artifact_id = Str(p->artifact_id());
    a.workflow = Str(p->workflow());
    a.label = Str(p->label());
    a.content_hash = Str(p->content_hash());
    a.bytes = p->bytes();
    a.tier =
        p->tier() == nullptr || p->tier()->size() == 0 ? std::string(kTierHot) : Str(p->tier());
    if (!IsTier(a.tier)) return Status::OK();
    a.stored_at_us = Or(p->stored_at_us(), e.recorded_at_us);
    a.tier_since_us = a.stored_at_us;
    a.tier_lsn = e.lsn;
    a.version = e.stream_version;
    txn.Put(IndexKey(a.tier, a.tier_since_us, a.tenant, a.artifact_id), "");
    if (Status s = AddTotals(txn, a.tenant, a.tier, a.bytes, +1); !s.ok()) return s;
    PutEntry(txn, a);
    return Status::OK();
  }

  if (type == EventType::ArtifactMoved) {
    const auto* p = DecodePayload<fb::ArtifactMoved>(e);
    if (p == nullptr) return Status::OK();
    Result<std::optional<ArtifactEntry>> cur = Existing(txn, e, p->tenant(), p->artifact_id());
    if (!cur.ok()) return cur.status();
    if (!cur->has_value() || (*cur)->purged || Str(p->from_tier()) != (*cur)->tier ||
        !IsTier(Str(p->to_tier()))) {
      return Status::OK();
    }
    return ChangeTier(txn, **cur, Str(p->to_tier()), Or(p->moved_at_us(), e.recorded_at_us), e);
  }

  if (type == EventType::ArtifactRestored) {
    const auto* p = DecodePayload<fb::ArtifactRestored>(e);
    if (p == nullptr) return Status::OK();
    Result<std::optional<ArtifactEntry>> cur = Existing(txn, e, p->tenant(), p->artifact_id());
    if (!cur.ok()) return cur.status();
    const std::string to = p->to_tier() == nullptr || p->to_tier()->size() == 0
                               ? std::string(kTierHot)
                               : Str(p->to_tier());
    if (!cur->has_value() || (*cur)->purged || Str(p->from_tier()) != (*cur)->tier || !IsTier(to)) {
      return Status::OK();
    }
    return ChangeTier(txn, **cur, to, Or(p->restored_at_us(), e.recorded_at_us), e);
  }

  const auto* p = DecodePayload<fb::ArtifactPurged>(e);
  if (p == nullptr) return Status::OK();
  Result<std::optional<ArtifactEntry>> cur = Existing(txn, e, p->tenant(), p->artifact_id());
  if (!cur.ok()) return cur.status();
  if (!cur->has_value() || (*cur)->purged) return Status::OK();
  ArtifactEntry a = **cur;
  txn.Delete(IndexKey(a.tier, a.tier_since_us, a.tenant, a.artifact_id));
  if (Status s = AddTotals(txn, a.tenant, a.tier, a.bytes, -1); !s.ok()) return s;
  if (Status s = AddTotals(txn, a.tenant, kPurged, a.bytes, +1); !s.ok()) return s;
  a.purged = true;
  a.purged_at_us = Or(p->purged_at_us(), e.recorded_at_us);
  a.version = e.stream_version;
  PutEntry(txn, a);
  return Status::OK();
}

Result<std::optional<ArtifactEntry>> ArtifactsProjection::Get(ViewReader& r,
                                                              std::string_view tenant,
                                                              std::string_view artifact_id) {
  Result<std::optional<std::string>> v = r.Get(EntryKey(tenant, artifact_id));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<ArtifactEntry>();
  ArtifactEntry a;
  if (!ParseEntry(**v, &a)) return Status::Corruption("artifacts: malformed entry");
  return std::optional<ArtifactEntry>(std::move(a));
}

Status ArtifactsProjection::ScanDue(ViewReader& r, std::string_view tier, int64_t since_at_most_us,
                                    const std::function<bool(const ArtifactEntry&)>& fn) {
  Status inner;
  const std::string prefix = TierPrefix(tier);
  Status s = r.Scan(prefix, [&](std::string_view k, std::string_view) {
    if (k.size() < prefix.size() + 8) {
      inner = Status::Corruption("artifacts: malformed index key");
      return false;
    }
    const auto since = static_cast<int64_t>(coding::DecodeFixed64BE(k.data() + prefix.size()));
    if (since > since_at_most_us) return false;  // the rest entered later
    const std::string_view rest = k.substr(prefix.size() + 8);
    const size_t nul = rest.find('\0');
    if (nul == std::string_view::npos) {
      inner = Status::Corruption("artifacts: malformed index key");
      return false;
    }
    Result<std::optional<ArtifactEntry>> a = Get(r, rest.substr(0, nul), rest.substr(nul + 1));
    if (!a.ok() || !a->has_value()) {
      inner = a.ok() ? Status::Corruption("artifacts: index names a missing entry") : a.status();
      return false;
    }
    return fn(**a);
  });
  if (!inner.ok()) return inner;
  return s;
}

Result<std::vector<TenantTierSummary>> ArtifactsProjection::Summary(ViewReader& r,
                                                                    std::string_view tenant) {
  std::vector<TenantTierSummary> out;
  Status bad;
  std::string prefix = "s";
  if (!tenant.empty()) {
    prefix.append(tenant);
    prefix.push_back('\0');
  }
  Status s = r.Scan(prefix, [&](std::string_view k, std::string_view v) {
    const std::string_view rest = k.substr(1);
    const size_t nul = rest.find('\0');
    nlohmann::json j = nlohmann::json::parse(v, nullptr, false);
    if (nul == std::string_view::npos || !j.is_object()) {
      bad = Status::Corruption("artifacts: malformed totals");
      return false;
    }
    const std::string_view t = rest.substr(0, nul);
    const std::string_view tier = rest.substr(nul + 1);
    if (out.empty() || out.back().tenant != t) {
      out.emplace_back();
      out.back().tenant = std::string(t);
    }
    TierTotals* dst = tier == kTierHot    ? &out.back().hot
                      : tier == kTierWarm ? &out.back().warm
                      : tier == kTierCold ? &out.back().cold
                                          : &out.back().purged;
    dst->count = j.value("count", uint64_t{0});
    dst->bytes = j.value("bytes", uint64_t{0});
    return true;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  return out;
}

Result<std::vector<ArtifactEntry>> ArtifactsProjection::List(ViewReader& r, std::string_view tenant,
                                                             size_t limit) {
  std::vector<ArtifactEntry> out;
  Status bad;
  std::string prefix = "a";
  if (!tenant.empty()) {
    prefix.append(tenant);
    prefix.push_back('\0');
  }
  Status s = r.Scan(prefix, [&](std::string_view, std::string_view v) {
    if (out.size() >= limit) return false;
    ArtifactEntry a;
    if (!ParseEntry(v, &a)) {
      bad = Status::Corruption("artifacts: malformed entry");
      return false;
    }
    out.push_back(std::move(a));
    return true;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  return out;
}

Result<nlohmann::json> ArtifactsProjection::Dump(ViewReader& reader) {
  Result<std::vector<ArtifactEntry>> all = List(reader, "", SIZE_MAX);
  if (!all.ok()) return all.status();
  Result<std::vector<TenantTierSummary>> sum = Summary(reader, "");
  if (!sum.ok()) return sum.status();
  nlohmann::json artifacts = nlohmann::json::array();
  for (const ArtifactEntry& a : *all) artifacts.push_back(a.ToJson());
  nlohmann::json tenants = nlohmann::json::array();
  for (const TenantTierSummary& t : *sum) tenants.push_back(t.ToJson());
  return nlohmann::json{{"artifacts", std::move(artifacts)}, {"tenants", std::move(tenants)}};
}

}  // namespace logbook
