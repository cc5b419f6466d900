#include "projections/holds.h"

#include "projections/payload.h"
#include "schemas/events_generated.h"

namespace logbook {

namespace {

std::string HoldKey(std::string_view tenant, std::string_view hold_id) {
  std::string k = "h";
  k.append(tenant);
  k.push_back('\0');
  k.append(hold_id);
  return k;
}

bool ParseEntry(std::string_view v, HoldEntry* h) {
  nlohmann::json j = nlohmann::json::parse(v, nullptr, false);
  if (!j.is_object()) return false;
  h->tenant = j.value("tenant", "");
  h->hold_id = j.value("hold_id", "");
  h->reason = j.value("reason", "");
  h->by = j.value("by", "");
  h->applied_at_us = j.value("applied_at_us", int64_t{0});
  h->lsn = j.value("lsn", uint64_t{0});
  return true;
}

}  // namespace

std::string ComplianceStream(std::string_view tenant) {
  return "tenant/" + std::string(tenant) + "/compliance";
}

nlohmann::json HoldEntry::ToJson() const {
  return {{"tenant", tenant}, {"hold_id", hold_id},       {"reason", reason},
          {"by", by},         {"applied_at_us", applied_at_us}, {"lsn", lsn}};
}

Status HoldsProjection::Apply(const Event& e, ViewTxn& txn) {
  if (e.type != static_cast<uint16_t>(fb::EventType::HoldApplied) &&
      e.type != static_cast<uint16_t>(fb::EventType::HoldReleased)) {
    return Status::OK();
  }
  if (e.tenant.empty() || e.stream != ComplianceStream(e.tenant)) return Status::OK();
  if (e.type == static_cast<uint16_t>(fb::EventType::HoldApplied)) {
    const auto* p = DecodePayload<fb::HoldApplied>(e);
    if (p == nullptr || !TenantAgrees(p->tenant(), e)) return Status::OK();  // see DecodePayload
    HoldEntry h;
    h.tenant = e.tenant;
    h.hold_id = Str(p->hold_id());
    h.reason = Str(p->reason());
    h.by = Str(p->by());
    h.applied_at_us = p->applied_at_us() != 0 ? p->applied_at_us() : e.recorded_at_us;
    h.lsn = e.lsn;
    txn.Put(HoldKey(h.tenant, h.hold_id), h.ToJson().dump());
    return Status::OK();
  }
  const auto* p = DecodePayload<fb::HoldReleased>(e);
  if (p == nullptr || !TenantAgrees(p->tenant(), e)) return Status::OK();
  const std::string id = Str(p->hold_id());
  if (!id.empty()) {
    txn.Delete(HoldKey(e.tenant, id));
    return Status::OK();
  }
  std::vector<std::string> keys;
  const std::string prefix = HoldKey(e.tenant, "");
  Status s = txn.Scan(prefix, [&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  });
  if (!s.ok()) return s;
  for (const auto& k : keys) txn.Delete(k);
  return Status::OK();
}

Result<std::vector<HoldEntry>> HoldsProjection::List(ViewReader& r, std::string_view tenant) {
  std::vector<HoldEntry> out;
  Status bad;
  const std::string prefix = tenant.empty() ? "h" : HoldKey(tenant, "");
  Status s = r.Scan(prefix, [&](std::string_view, std::string_view v) {
    HoldEntry h;
    if (!ParseEntry(v, &h)) {
      bad = Status::Corruption("holds: malformed entry");
      return false;
    }
    out.push_back(std::move(h));
    return true;
  });
  if (!bad.ok()) return bad;
  if (!s.ok()) return s;
  return out;
}

Result<nlohmann::json> HoldsProjection::Dump(ViewReader& reader) {
  Result<std::vector<HoldEntry>> all = List(reader, "");
  if (!all.ok()) return all.status();
  nlohmann::json out = nlohmann::json::array();
  for (const HoldEntry& h : *all) out.push_back(h.ToJson());
  return out;
}

}  // namespace logbook
