#pragma once
// Projections: pure, deterministic folds of events into views.
//
// A projection reads and writes only its own view, through a ViewTxn whose
// keys are private to the view (the store prefixes them with the view's
// name). Apply() must depend on nothing but the event and the view's state,
// so that live updates, crash recovery and a rebuild from LSN 1 all yield the
// same bytes. The projector (engine/projector.h) owns the checkpoints.
//
// Thread-safety: a Projection instance is used by one thread at a time.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "log/record.h"
#include "log/status.h"

namespace logbook {

// Read access to one view's keys.
class ViewReader {
 public:
  virtual ~ViewReader() = default;
  // The value of `key`, or nullopt.
  virtual Result<std::optional<std::string>> Get(std::string_view key) = 0;
  // Calls fn(key, value) for keys >= start that begin with `prefix`, in key
  // order, until fn returns false.
  virtual Status Scan(std::string_view prefix, std::string_view start,
                      const std::function<bool(std::string_view, std::string_view)>& fn) = 0;
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) {
    return Scan(prefix, prefix, fn);
  }
};

// Read-your-writes access to one view while events are applied.
class ViewTxn : public ViewReader {
 public:
  virtual void Put(std::string_view key, std::string_view value) = 0;
  virtual void Delete(std::string_view key) = 0;
};

inline bool PayloadReadable(const Event& e) { return e.payload_encoding == 0; }

class Projection {
 public:
  virtual ~Projection() = default;
  // Stable name; also the view's key prefix. [a-z0-9_]+.
  virtual std::string_view name() const = 0;
  // Bumped when Apply or the view's key layout changes: a stored view with an
  // older version is rebuilt from LSN 1 on open.
  virtual uint32_t version() const = 0;
  // A fold that decodes the payload must first check PayloadReadable(e): a
  // payload whose tenant key was destroyed stays sealed, and such an event
  // is skipped (its envelope fields are still usable), never an error.
  virtual Status Apply(const Event& e, ViewTxn& txn) = 0;
  // The view's whole state as JSON (replay, debugging). Keep views small
  // enough for this, or dump a summary.
  virtual Result<nlohmann::json> Dump(ViewReader& reader) = 0;
};

// All projections the engine runs, in a fixed order.
std::vector<std::unique_ptr<Projection>> MakeAllProjections();

}  // namespace logbook
