#include "engine/holds.h"

#include "projections/view_store.h"

namespace logbook {

namespace {

constexpr auto kViewWait = std::chrono::seconds(5);
constexpr size_t kMaxReason = 1000;

Status CheckText(const std::string& what, const std::string& v, size_t max) {
  if (v.size() > max) {
    return Status::InvalidArgument(what + " is longer than " + std::to_string(max) + " bytes");
  }
  return Status::OK();
}

}  // namespace

Status HoldService::Settle() {
  if (engine_.read_only()) return Status::OK();
  return engine_.WaitForViews(engine_.log().LastLsn(), kViewWait);
}

Result<std::vector<HoldEntry>> HoldService::List(const std::string& tenant) {
  if (!tenant.empty()) {
    if (Status s = ValidateTenantName(tenant); !s.ok()) return s;
  }
  if (Status s = Settle(); !s.ok()) return s;
  auto reader = NewRocksViewReader(engine_.log().db(), engine_.log().views_cf(),
                                   HoldsProjection::kName);
  return HoldsProjection::List(*reader, tenant);
}

Result<HoldEntry> HoldService::Apply(const std::string& tenant, std::string hold_id,
                                     const std::string& reason, const Actor& by) {
  if (tenant.empty()) return Status::InvalidArgument("a hold needs a tenant");
  if (Status s = ValidateTenantName(tenant); !s.ok()) return s;
  if (reason.empty()) return Status::InvalidArgument("a hold needs a reason (case, requestor)");
  if (Status s = CheckText("reason", reason, kMaxReason); !s.ok()) return s;
  if (Status s = CheckText("hold id", hold_id, 128); !s.ok()) return s;
  if (hold_id.empty()) hold_id = EventIdToString(RandomEventId());
  Result<std::vector<HoldEntry>> current = List(tenant);
  if (!current.ok()) return current.status();
  for (const HoldEntry& h : *current) {
    if (h.hold_id == hold_id) {
      return Status::InvalidArgument("hold '" + hold_id + "' of tenant '" + tenant +
                                     "' is already in force");
    }
  }
  HoldEntry h;
  h.tenant = tenant;
  h.hold_id = hold_id;
  h.reason = reason;
  h.by = by.id;
  h.applied_at_us = NowMicros();
  const nlohmann::json payload = {{"tenant", tenant},
                                  {"hold_id", hold_id},
                                  {"reason", reason},
                                  {"by", by.id},
                                  {"applied_at_us", h.applied_at_us}};
  Result<AppendResult> r = engine_.AppendJson(ComplianceStream(tenant), tenant, by,
                                              ExpectedVersion::Any(),
                                              {{"HoldApplied", "", payload.dump()}});
  if (!r.ok()) return r.status();
  h.lsn = r->last_lsn;
  return h;
}

Result<HoldEntry> HoldService::Release(const std::string& tenant, const std::string& hold_id,
                                       const std::string& reason, const Actor& by) {
  if (tenant.empty()) return Status::InvalidArgument("a release needs a tenant");
  if (Status s = CheckText("reason", reason, kMaxReason); !s.ok()) return s;
  Result<std::vector<HoldEntry>> current = List(tenant);
  if (!current.ok()) return current.status();
  const HoldEntry* found = nullptr;
  for (const HoldEntry& h : *current) {
    if (hold_id.empty() || h.hold_id == hold_id) found = &h;
  }
  if (found == nullptr) {
    return Status::NotFound(hold_id.empty()
                                ? "tenant '" + tenant + "' has no hold in force"
                                : "tenant '" + tenant + "' has no hold '" + hold_id + "' in force");
  }
  if (hold_id.empty() && current->size() > 1) {
    return Status::InvalidArgument("tenant '" + tenant + "' has " +
                                   std::to_string(current->size()) +
                                   " holds in force; name the one to release (--id)");
  }
  const nlohmann::json payload = {{"tenant", tenant},
                                  {"hold_id", found->hold_id},
                                  {"reason", reason},
                                  {"by", by.id},
                                  {"released_at_us", NowMicros()}};
  Result<AppendResult> r = engine_.AppendJson(ComplianceStream(tenant), tenant, by,
                                              ExpectedVersion::Any(),
                                              {{"HoldReleased", "", payload.dump()}});
  if (!r.ok()) return r.status();
  return *found;
}

Status HoldService::CheckNoHold(const std::string& tenant) {
  Result<std::vector<HoldEntry>> current = List(tenant);
  if (!current.ok()) return current.status();
  if (current->empty()) return Status::OK();
  std::string why;
  for (const HoldEntry& h : *current) {
    why += (why.empty() ? "" : "; ") + h.hold_id + " (" + h.reason + ", by " + h.by + ")";
  }
  return Status::Held("tenant '" + tenant + "' is under legal hold: " + why);
}

}  // namespace logbook
