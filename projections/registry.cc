#include "projections/artifacts.h"
#include "projections/audit_index.h"
#include "projections/graph_checkpoints.h"
#include "projections/holds.h"
#include "projections/opt_outs.h"
#include "projections/costs.h"
#include "projections/hitl_checkpoints.h"
#include "projections/projection.h"
#include "projections/sessions.h"
#include "projections/stream_stats.h"
#include "projections/workspace.h"

namespace logbook {

std::vector<std::unique_ptr<Projection>> MakeAllProjections() {
  std::vector<std::unique_ptr<Projection>> v;
  v.push_back(std::make_unique<StreamStatsProjection>());
  v.push_back(std::make_unique<AuditIndexProjection>());
  v.push_back(std::make_unique<GraphCheckpointsProjection>());
  v.push_back(std::make_unique<WorkspaceProjection>());
  v.push_back(std::make_unique<OptOutsProjection>());
  v.push_back(std::make_unique<HoldsProjection>());
  v.push_back(std::make_unique<SessionsProjection>());
  v.push_back(std::make_unique<HitlCheckpointsProjection>());
  v.push_back(std::make_unique<CostsProjection>());
  v.push_back(std::make_unique<ArtifactsProjection>());
  return v;
}

}  // namespace logbook
