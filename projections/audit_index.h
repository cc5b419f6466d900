#pragma once
// View "audit_index": who did what, when — indexed for `logbook audit query`.
//
// Keys (inside the view); ts = recorded_at_us as u64 BE, lsn = u64 BE:
//   "t" tenant 0x00 ts lsn   by tenant
//   "a" actor  0x00 ts lsn   by actor id
//   "y" type(u16 BE) ts lsn  by event type
// A query by time alone needs no index: recorded_at never decreases with the
// LSN, so the engine scans the log's LSN range instead (Engine::QueryAudit).
// Every value is: type u16 BE | tenant | 0x00 | actor id, so a query filters
// on the other criteria without reading the log.

#include "projections/projection.h"

namespace logbook {

struct AuditQuery {
  std::optional<std::string> tenant;
  std::optional<std::string> actor;
  std::optional<uint16_t> type;
  int64_t from_us = 0;                 // inclusive
  int64_t to_us = INT64_MAX;           // exclusive
  size_t limit = 1000;
};

struct AuditHit {
  uint64_t lsn = 0;
  int64_t recorded_at_us = 0;
  uint16_t type = 0;
  std::string tenant;
  std::string actor;
};

class AuditIndexProjection : public Projection {
 public:
  static constexpr std::string_view kName = "audit_index";
  std::string_view name() const override { return kName; }
  uint32_t version() const override { return 2; }
  Status Apply(const Event& e, ViewTxn& txn) override;
  Result<nlohmann::json> Dump(ViewReader& reader) override;

  // Hits in time order (then LSN), served from the most selective index
  // given: actor, then type, then tenant. Needs at least one of them.
  static Result<std::vector<AuditHit>> Query(ViewReader& r, const AuditQuery& q);
};

}  // namespace logbook
