#pragma once
// Status and Result<T>: logbook's error values.
//
// Errors are values. Functions that can fail return Status (no value) or
// Result<T> (a value or a Status). Both are [[nodiscard]]; ignoring one on
// purpose is written `(void)` plus a comment so it can be grepped for.
// rocksdb::Status is converted at the log/ boundary (FromRocks) and never
// leaks above it.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace rocksdb {
class Status;
}

namespace logbook {

class [[nodiscard]] Status {
 public:
  enum class Code : uint8_t {
    kOk = 0,
    kInvalidArgument = 1,  // bad input from the caller; nothing was written
    kNotFound = 2,
    kConflict = 3,         // expected_version did not match; see actual_version()
    kCorruption = 4,       // stored bytes fail a checksum, chain or continuity check
    kIOError = 5,          // the disk failed; the engine is read-only afterwards
    kReadOnly = 6,         // the engine refuses writes after an earlier I/O error
    kTimedOut = 7,
    kBusy = 8,             // the data directory is in use by another process
    kShutdown = 9,         // the log is closing
    kIdempotencyConflict = 10,  // event ids re-sent with a different batch
    kHeld = 11,            // a legal hold on the tenant blocks a removal
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status Conflict(std::string msg, uint64_t actual_version) {
    Status s(Code::kConflict, std::move(msg));
    s.actual_version_ = actual_version;
    return s;
  }
  static Status Corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg) { return {Code::kIOError, std::move(msg)}; }
  static Status ReadOnly(std::string msg) { return {Code::kReadOnly, std::move(msg)}; }
  static Status TimedOut(std::string msg) { return {Code::kTimedOut, std::move(msg)}; }
  static Status Busy(std::string msg) { return {Code::kBusy, std::move(msg)}; }
  static Status Shutdown(std::string msg) { return {Code::kShutdown, std::move(msg)}; }
  static Status IdempotencyConflict(std::string msg) {
    return {Code::kIdempotencyConflict, std::move(msg)};
  }
  static Status Held(std::string msg) { return {Code::kHeld, std::move(msg)}; }
  // Converts a RocksDB status; `context` says what was being done.
  static Status FromRocks(const rocksdb::Status& s, std::string_view context);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // For kConflict: the stream's actual version when the append was refused.
  uint64_t actual_version() const { return actual_version_; }

  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsConflict() const { return code_ == Code::kConflict; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  bool IsReadOnly() const { return code_ == Code::kReadOnly; }

  // A short stable name for the code: "invalid_argument", "conflict", ...
  std::string_view CodeName() const;
  // "<code name>: <message>", or "ok".
  std::string ToString() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
  uint64_t actual_version_ = 0;
};

// A value or an error. Result<T> r = ...; if (!r.ok()) return r.status();
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be OK

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace logbook
