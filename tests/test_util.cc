#include "tests/test_util.h"

#include <rocksdb/db.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "log/coding.h"

namespace logbook::test {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "logbook-test-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) std::abort();
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

LogOptions TestLogOptions(const std::string& dir) {
  LogOptions o;
  o.dir = dir;
  o.block_cache_bytes = 8 << 20;
  return o;
}

AppendRequest MakeRequest(const std::string& stream, size_t n, ExpectedVersion ev,
                          const std::string& tenant, size_t payload_bytes) {
  AppendRequest r;
  r.stream = stream;
  r.tenant = tenant;
  r.actor = {"tester", Role::kOperator};
  r.expected = ev;
  for (size_t i = 0; i < n; ++i) {
    NewEvent e;
    e.type = 100;
    e.event_id = RandomEventId();
    e.payload.assign(payload_bytes, static_cast<char>('a' + i % 26));
    r.events.push_back(std::move(e));
  }
  return r;
}

std::string RawRecord(Log& log, uint64_t lsn) {
  std::string v;
  rocksdb::Status s = log.db()->Get(rocksdb::ReadOptions(), log.events_cf(), coding::Fixed64BE(lsn), &v);
  if (!s.ok()) std::abort();
  return v;
}

void OverwriteRecord(Log& log, uint64_t lsn, const std::string& bytes) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (!log.db()->Put(wo, log.events_cf(), coding::Fixed64BE(lsn), bytes).ok()) std::abort();
}

void FlipRecordByte(Log& log, uint64_t lsn, size_t offset) {
  std::string v = RawRecord(log, lsn);
  v.at(offset) = static_cast<char>(v.at(offset) ^ 0x01);
  OverwriteRecord(log, lsn, v);
}

void DeleteRecord(Log& log, uint64_t lsn) {
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (!log.db()->Delete(wo, log.events_cf(), coding::Fixed64BE(lsn)).ok()) std::abort();
}

namespace {

class FailingFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FailingFile(std::unique_ptr<rocksdb::FSWritableFile>&& f,
              std::shared_ptr<std::atomic<bool>> fail)
      : FSWritableFileOwnerWrapper(std::move(f)), fail_(std::move(fail)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* dbg) override {
    if (fail_->load()) return NoSpace();
    return FSWritableFileOwnerWrapper::Append(data, o, dbg);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& v,
                           rocksdb::IODebugContext* dbg) override {
    if (fail_->load()) return NoSpace();
    return FSWritableFileOwnerWrapper::Append(data, o, v, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    if (fail_->load()) return NoSpace();
    return FSWritableFileOwnerWrapper::Sync(o, dbg);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    if (fail_->load()) return NoSpace();
    return FSWritableFileOwnerWrapper::Fsync(o, dbg);
  }
  rocksdb::IOStatus RangeSync(uint64_t off, uint64_t n, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* dbg) override {
    if (fail_->load()) return NoSpace();
    return FSWritableFileOwnerWrapper::RangeSync(off, n, o, dbg);
  }

 private:
  static rocksdb::IOStatus NoSpace() {
    rocksdb::IOStatus s = rocksdb::IOStatus::NoSpace("injected: no space left on device");
    return s;
  }
  std::shared_ptr<std::atomic<bool>> fail_;
};

}  // namespace

FailingFs::FailingFs()
    : FileSystemWrapper(rocksdb::FileSystem::Default()),
      fail_(std::make_shared<std::atomic<bool>>(false)) {}

rocksdb::IOStatus FailingFs::NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                             std::unique_ptr<rocksdb::FSWritableFile>* r,
                                             rocksdb::IODebugContext* dbg) {
  if (fail_->load()) return rocksdb::IOStatus::NoSpace("injected: no space left on device");
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus s = FileSystemWrapper::NewWritableFile(f, o, &file, dbg);
  if (s.ok()) r->reset(new FailingFile(std::move(file), fail_));
  return s;
}

rocksdb::IOStatus FailingFs::ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                                std::unique_ptr<rocksdb::FSWritableFile>* r,
                                                rocksdb::IODebugContext* dbg) {
  if (fail_->load()) return rocksdb::IOStatus::NoSpace("injected: no space left on device");
  std::unique_ptr<rocksdb::FSWritableFile> file;
  rocksdb::IOStatus s = FileSystemWrapper::ReopenWritableFile(f, o, &file, dbg);
  if (s.ok()) r->reset(new FailingFile(std::move(file), fail_));
  return s;
}

std::string CliPath() { return LOGBOOK_CLI_PATH; }

int RunCommand(const std::string& cmd, std::string* out, std::string* err) {
  TempDir tmp;
  const std::string err_path = tmp.Sub("stderr");
  const std::string full = cmd + " 2>" + err_path;
  FILE* p = popen(full.c_str(), "r");
  if (p == nullptr) return -1;
  std::string o;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) o.append(buf, n);
  int status = pclose(p);
  if (out) *out = std::move(o);
  if (err) {
    std::ifstream f(err_path);
    std::stringstream ss;
    ss << f.rdbuf();
    *err = ss.str();
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace logbook::test
