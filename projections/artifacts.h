#pragma once
// View "artifacts": every artifact of every tenant with its storage tier,
// an index by (tier, time in tier) for the lifecycle job, and per-tenant
// counts and bytes per tier (engine/lifecycle.h; docs/operations.md
// "Storage lifecycle").
//
// The events count only on the stream artifact/<tenant>/<artifact_id>, with
// the payload's tenant (when set) and artifact_id equal to the stream's:
//   ArtifactStored   creates the artifact in its tier (normally "hot"); a
//                    second ArtifactStored on the stream is ignored
//   ArtifactMoved    from_tier -> to_tier (the lifecycle job, by age)
//   ArtifactRestored from_tier -> to_tier (on request, back to "hot")
//   ArtifactPurged   the content is gone; the entry stays, purged
// A move or restore whose from_tier is not the artifact's tier, an unknown
// tier, or any event after the purge is ignored (the service never writes
// one; a raw append could).
//
// Keys (inside the view):
//   "a" tenant 0x00 artifact_id                       -> ArtifactEntry (JSON)
//   "t" tier 0x00 be64(tier_since_us) tenant 0x00 id  -> "" (not for purged ones)
//   "s" tenant 0x00 tier                              -> {"count","bytes"} ("purged" too)

#include "projections/projection.h"

namespace logbook {

// "artifact/<tenant>/<artifact_id>"; tenant and id hold no '/'.
std::string ArtifactStream(std::string_view tenant, std::string_view artifact_id);

// The storage tiers, hottest first.
inline constexpr std::string_view kTierHot = "hot";
inline constexpr std::string_view kTierWarm = "warm";
inline constexpr std::string_view kTierCold = "cold";
bool IsTier(std::string_view tier);

struct ArtifactEntry {
  std::string tenant;
  std::string artifact_id;
  std::string workflow;
  std::string label;
  std::string content_hash;
  uint64_t bytes = 0;
  std::string tier;  // hot | warm | cold: where it is (or was, when purged)
  int64_t stored_at_us = 0;
  int64_t tier_since_us = 0;  // when it entered `tier`
  uint64_t tier_lsn = 0;      // LSN of the event that put it in `tier`
  uint64_t version = 0;       // stream version of its last event
  bool purged = false;
  int64_t purged_at_us = 0;
  nlohmann::json ToJson() const;
};

// Count and bytes of one tenant's artifacts in one tier.
struct TierTotals {
  uint64_t count = 0;
  uint64_t bytes = 0;
};

// One tenant's totals: "hot", "warm", "cold" and "purged".
struct TenantTierSummary {
  std::string tenant;
  TierTotals hot, warm, cold, purged;
  nlohmann::json ToJson() const;
};

class ArtifactsProjection : public Projection {
 public:
  static constexpr std::string_view kName = "artifacts";
  std::string_view name() const override { return kName; }
  uint32_t version() const override { return 1; }
  Status Apply(const Event& e, ViewTxn& txn) override;
  Result<nlohmann::json> Dump(ViewReader& reader) override;

  static Result<std::optional<ArtifactEntry>> Get(ViewReader& r, std::string_view tenant,
                                                  std::string_view artifact_id);
  // Calls fn for the artifacts in `tier` that entered it at or before
  // `since_at_most_us`, longest there first, until fn returns false.
  static Status ScanDue(ViewReader& r, std::string_view tier, int64_t since_at_most_us,
                        const std::function<bool(const ArtifactEntry&)>& fn);
  // Totals per tenant, by tenant name; one tenant's when `tenant` is set.
  static Result<std::vector<TenantTierSummary>> Summary(ViewReader& r, std::string_view tenant);
  // A tenant's artifacts by id (purged ones too), at most `limit`.
  static Result<std::vector<ArtifactEntry>> List(ViewReader& r, std::string_view tenant,
                                                 size_t limit);
};

}  // namespace logbook
