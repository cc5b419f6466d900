#pragma once
// View "stream_stats": per-stream heads and per-tenant, per-type event counts.
//
// Keys (inside the view):
//   "h" stream                  -> version u64 BE | last_lsn u64 BE | type u16 BE |
//                                  recorded_at_us u64 BE | tenant bytes
//   "c" tenant 0x00 type u16 BE -> count u64 BE

#include "projections/projection.h"

namespace logbook {

struct StreamStatsHead {
  uint64_t version = 0;
  uint64_t last_lsn = 0;
  uint16_t last_type = 0;
  int64_t last_recorded_at_us = 0;
  std::string tenant;
};

class StreamStatsProjection : public Projection {
 public:
  static constexpr std::string_view kName = "stream_stats";
  std::string_view name() const override { return kName; }
  uint32_t version() const override { return 1; }
  Status Apply(const Event& e, ViewTxn& txn) override;
  Result<nlohmann::json> Dump(ViewReader& reader) override;

  // Queries.
  static Result<std::optional<StreamStatsHead>> GetHead(ViewReader& r, std::string_view stream);
  static Result<uint64_t> CountStreams(ViewReader& r);
  // {tenant: {type name: count}}; tenant "" is shown as "(system)".
  static Result<nlohmann::json> Counts(ViewReader& r);
};

}  // namespace logbook
