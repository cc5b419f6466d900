#pragma once
// OptOutService: the opt-out registry as events (OptOutSet, OptOutCleared on
// stream tenant/<tenant>/optouts) and the "opt_outs" view
// (projections/opt_outs.h): set, clear, check, list and history.
//
// Check answers from the view in at most four point reads. An opt-out past
// its expires_at is ignored by Check (judged with the service's clock,
// injectable for tests) but stays listed, with status "expired", until it
// is cleared; the history keeps every set and clear.
//
// Thread-safety: all methods may be called from any thread.

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "engine/engine.h"
#include "engine/planned_append.h"

namespace logbook {

struct OptOutOptions {
  std::function<int64_t()> clock;  // µs since the epoch; NowMicros() when empty
  std::chrono::milliseconds view_wait{2000};
};

struct OptOutInput {
  std::string tenant;
  std::string user;     // empty: the whole organization
  std::string channel;  // empty: every channel
  std::string reason;
  int64_t expires_at_us = 0;  // 0: never
  std::string by;             // who asked; empty: the actor
};

class OptOutService {
 public:
  OptOutService(Engine& engine, OptOutOptions options);
  int64_t Now() const;

  Result<PlannedAppend> PlanSet(const OptOutInput& in);
  // Clears one opt-out by id, or the one current for a scope.
  Result<PlannedAppend> PlanClearId(const std::string& tenant, const std::string& opt_out_id,
                                    const std::string& reason, const std::string& by);
  Result<PlannedAppend> PlanClearScope(const std::string& tenant, const std::string& user,
                                       const std::string& channel, const std::string& reason,
                                       const std::string& by);
  // {"opted_out": bool, "because": {...} | null, "active": [...], "expired": [...]}
  // at now, or at `at_us` when given.
  Result<nlohmann::json> Check(const std::string& tenant, const std::string& user,
                               const std::string& channel, std::optional<int64_t> at_us = {});
  // Current opt-outs with their status ("active" or "expired").
  Result<nlohmann::json> List(const std::string& tenant, const std::string& user,
                              const std::string& channel, bool include_expired);
  Result<nlohmann::json> History(const std::string& tenant, const std::string& user,
                                 const std::string& channel, uint64_t from_lsn, size_t limit);

 private:
  Status Settle();
  std::unique_ptr<ViewReader> Reader() const;
  PlannedAppend Cleared(const std::string& tenant, const std::string& id, const std::string& user,
                        const std::string& channel, const std::string& reason,
                        const std::string& by);

  Engine& engine_;
  OptOutOptions options_;
};

}  // namespace logbook
