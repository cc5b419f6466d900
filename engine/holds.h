#pragma once
// Legal holds (projections/holds.h): apply, release, list, and the check
// every removal path makes first (CheckNoHold: kHeld -> CLI exit 3, HTTP 409).

#include <string>
#include <vector>

#include "engine/engine.h"
#include "projections/holds.h"

namespace logbook {

class HoldService {
 public:
  explicit HoldService(Engine& engine) : engine_(engine) {}

  // Appends HoldApplied on tenant/<tenant>/compliance; an empty hold_id gets
  // a generated one. Applying an id that is in force again is a conflict.
  Result<HoldEntry> Apply(const std::string& tenant, std::string hold_id, const std::string& reason,
                          const Actor& by);
  // Releases one hold; an empty hold_id releases the tenant's only hold
  // (kInvalidArgument when there are several, kNotFound when none).
  Result<HoldEntry> Release(const std::string& tenant, const std::string& hold_id,
                            const std::string& reason, const Actor& by);
  // In force, for one tenant or (empty) all.
  Result<std::vector<HoldEntry>> List(const std::string& tenant);
  // OK, or kHeld naming the hold(s) and their reasons.
  Status CheckNoHold(const std::string& tenant);

 private:
  Status Settle();  // views caught up with the log (read-your-writes)
  Engine& engine_;
};

}  // namespace logbook
