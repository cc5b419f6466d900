#pragma once
// View "holds": the legal holds in force, per tenant.
//
// A hold (HoldApplied) blocks every path that removes a tenant's data --
// retention pruning, lifecycle purge, tenant deletion -- until it is
// released (HoldReleased). Both count only on the stream
// tenant/<tenant>/compliance, with the payload's tenant equal to the
// envelope's. A release with an empty hold_id releases every hold of the
// tenant (the CLI and routes refuse it when there are several).
//
// Keys (inside the view):
//   "h" tenant 0x00 hold_id -> HoldEntry (JSON)

#include "projections/projection.h"

namespace logbook {

std::string ComplianceStream(std::string_view tenant);

struct HoldEntry {
  std::string tenant;
  std::string hold_id;
  std::string reason;
  std::string by;
  int64_t applied_at_us = 0;
  uint64_t lsn = 0;
  nlohmann::json ToJson() const;
};

class HoldsProjection : public Projection {
 public:
  static constexpr std::string_view kName = "holds";
  std::string_view name() const override { return kName; }
  uint32_t version() const override { return 1; }
  Status Apply(const Event& e, ViewTxn& txn) override;
  Result<nlohmann::json> Dump(ViewReader& reader) override;

  // The holds of `tenant` in force, by hold id; every tenant's when empty.
  static Result<std::vector<HoldEntry>> List(ViewReader& r, std::string_view tenant);
};

}  // namespace logbook
