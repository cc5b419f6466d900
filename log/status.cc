#include "log/status.h"

#include <rocksdb/status.h>

namespace logbook {

Status Status::FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return OK();
  std::string msg = std::string(context) + ": " + s.ToString();
  if (s.IsNotFound()) return NotFound(std::move(msg));
  if (s.IsCorruption()) return Corruption(std::move(msg));
  if (s.IsInvalidArgument() || s.IsNotSupported()) return InvalidArgument(std::move(msg));
  if (s.IsTimedOut()) return TimedOut(std::move(msg));
  if (s.IsBusy() || (s.IsIOError() && s.ToString().find("lock") != std::string::npos)) {
    return Busy(std::move(msg));
  }
  if (s.IsShutdownInProgress()) return Shutdown(std::move(msg));
  return IOError(std::move(msg));
}

std::string_view Status::CodeName() const {
  switch (code_) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kConflict: return "conflict";
    case Code::kCorruption: return "corruption";
    case Code::kIOError: return "io_error";
    case Code::kReadOnly: return "read_only";
    case Code::kTimedOut: return "timed_out";
    case Code::kBusy: return "busy";
    case Code::kShutdown: return "shutdown";
    case Code::kIdempotencyConflict: return "idempotency_conflict";
    case Code::kHeld: return "legal_hold";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName()) + ": " + message_;
}

}  // namespace logbook
