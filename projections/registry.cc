#include "projections/audit_index.h"
#include "projections/projection.h"
#include "projections/sessions.h"
#include "projections/stream_stats.h"

namespace logbook {

std::vector<std::unique_ptr<Projection>> MakeAllProjections() {
  std::vector<std::unique_ptr<Projection>> v;
  v.push_back(std::make_unique<StreamStatsProjection>());
  v.push_back(std::make_unique<AuditIndexProjection>());
  v.push_back(std::make_unique<SessionsProjection>());
  return v;
}

}  // namespace logbook
