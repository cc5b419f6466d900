#pragma once
// Helpers shared by the tests: temp directories, byte-level corruption of
// stored records, a file system that fails writes on demand, event builders.

#include <doctest/doctest.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "log/log.h"

namespace logbook::test {

// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

LogOptions TestLogOptions(const std::string& dir);

// A request with `n` events of type 100 (SessionStarted) and random ids.
AppendRequest MakeRequest(const std::string& stream, size_t n,
                          ExpectedVersion ev = ExpectedVersion::Any(),
                          const std::string& tenant = "t1", size_t payload_bytes = 32);

// Reads the raw record bytes of `lsn`.
std::string RawRecord(Log& log, uint64_t lsn);
// Overwrites the record of `lsn` with `bytes`, bypassing every check.
void OverwriteRecord(Log& log, uint64_t lsn, const std::string& bytes);
// Flips one bit of byte `offset` of the record of `lsn`.
void FlipRecordByte(Log& log, uint64_t lsn, size_t offset);
// Deletes the record of `lsn` (and nothing else).
void DeleteRecord(Log& log, uint64_t lsn);

// A FileSystem that fails every write, sync and file creation with an
// out-of-space error while fail() is set: a full disk on demand.
class FailingFs : public rocksdb::FileSystemWrapper {
 public:
  FailingFs();
  const char* Name() const override { return "FailingFs"; }
  void set_fail(bool f) { fail_->store(f); }
  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override;

 private:
  std::shared_ptr<std::atomic<bool>> fail_;
};

// Path of the CLI binary under test.
std::string CliPath();
// Runs a shell command; returns its exit code and stdout (stderr into *err).
int RunCommand(const std::string& cmd, std::string* out, std::string* err = nullptr);

// The CLI on one data directory: Run("read --stream s", &out, &err, "LOGBOOK_ROLE=auditor")
// runs `[env] logbook --data-dir <dir> <args>` and returns the exit code.
struct Cli {
  std::string dir;
  int Run(const std::string& args, std::string* out = nullptr, std::string* err = nullptr,
          const std::string& env = "") const {
    std::string o, e;
    const int rc = RunCommand(env + " " + CliPath() + " --data-dir " + dir + " " + args, &o, &e);
    if (out) *out = o;
    if (err) *err = e;
    return rc;
  }
  // Runs args, requires exit 0 and returns stdout parsed as JSON.
  nlohmann::json RunJson(const std::string& args) const {
    std::string out, err;
    const int rc = Run(args, &out, &err);
    REQUIRE_MESSAGE(rc == 0, args << ": " << err);
    return nlohmann::json::parse(out);
  }
};

}  // namespace logbook::test
