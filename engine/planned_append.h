#pragma once
// PlannedAppend: a command checked against the views and turned into events,
// not yet written. Services (engine/workspace.h, engine/opt_outs.h) plan;
// callers submit, asynchronously (HTTP workers must not wait for an fsync) or
// synchronously (the CLI). Either way the reply exists only once the events
// are durable: the engine's append acknowledges after the WAL fsync.

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace logbook {

struct PlannedAppend {
  std::string stream;
  std::string tenant;
  ExpectedVersion expected;
  std::vector<EventInput> events;
  // Builds the reply from the durable append's result.
  std::function<nlohmann::json(const AppendResult&)> reply;
};

// Appends; `done` runs on the log's completer thread (it must not block) or,
// for an invalid event, at once on the calling thread.
inline void Submit(Engine& engine, PlannedAppend p, const Actor& actor,
                   std::function<void(Result<nlohmann::json>)> done) {
  auto reply = std::move(p.reply);
  engine.AppendJsonAsync(
      p.stream, p.tenant, actor, p.expected, p.events,
      [reply = std::move(reply), done = std::move(done)](Result<AppendResult> r) {
        if (!r.ok()) return done(r.status());
        done(reply(*r));
      });
}

// The tenant a service call acts for: required, and a valid tenant name.
inline Status CheckTenant(const std::string& tenant) {
  if (tenant.empty()) {
    return Status::InvalidArgument("a tenant is required (X-Tenant-ID with an all-tenant key)");
  }
  return ValidateTenantName(tenant);
}

inline Result<nlohmann::json> SubmitAndWait(Engine& engine, PlannedAppend p, const Actor& actor) {
  Result<AppendResult> r = engine.AppendJson(p.stream, p.tenant, actor, p.expected, p.events);
  if (!r.ok()) return r.status();
  return p.reply(*r);
}

}  // namespace logbook
