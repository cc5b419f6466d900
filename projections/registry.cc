#include "projections/audit_index.h"
#include "projections/costs.h"
#include "projections/hitl_checkpoints.h"
#include "projections/projection.h"
#include "projections/stream_stats.h"

namespace logbook {

std::vector<std::unique_ptr<Projection>> MakeAllProjections() {
  std::vector<std::unique_ptr<Projection>> v;
  v.push_back(std::make_unique<StreamStatsProjection>());
  v.push_back(std::make_unique<AuditIndexProjection>());
  v.push_back(std::make_unique<HitlCheckpointsProjection>());
  v.push_back(std::make_unique<CostsProjection>());
  return v;
}

}  // namespace logbook
