#pragma once
// Small files that must never be seen half-written: key files, the API keys
// file, the share secret file. Whole-file reads that report which version was
// read, atomic replacement (write a fresh temporary, fsync, rename over, fsync
// the directory), and a lock file for writers that re-read before replacing.

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "log/status.h"

namespace logbook {

// "<what> '<file>': <strerror(err)>"
std::string ErrnoText(const char* what, const std::string& file, int err);

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd();
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the error that a deferred close would swallow.
  int Close();

 private:
  int fd_;
};

// Identifies one version of a file: WriteFileAtomic gives every rewrite a new
// inode, so a changed stamp means the file must be read again.
struct FileStamp {
  uint64_t dev = 0;
  uint64_t ino = 0;
  int64_t size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp StampOf(const struct stat& st);

// An exclusive flock on "<path>.lock" (created 0600), held while a writer
// re-reads `path` and replaces it, so that concurrent writers never lose each
// other's changes. Released when the LockFile goes away.
class LockFile {
 public:
  LockFile() = default;
  ~LockFile();
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;

  // Blocks until the lock is held. kNotFound when the directory of `path`
  // does not exist.
  Status Acquire(const std::string& path);

 private:
  int fd_ = -1;
};

// Replaces `path` with `data` through a fresh "<path>.tmp" created with
// `mode`. On return with OK the new contents are durable; on error the old
// file is untouched. *st (optional) gets the new file's stat. kNotFound when
// the directory does not exist.
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode,
                       struct stat* st = nullptr);

// Reads the whole regular file `path`, of at most max_bytes, into *out; *st
// (optional) gets the stat of the version read (see StampOf). kNotFound when
// it does not exist, kInvalidArgument when it is not a regular file,
// kCorruption when it is larger than max_bytes (nothing we write is). These
// files hold keys: the read buffer is wiped, and so is *out on an error.
Status ReadSmallFile(const std::string& path, size_t max_bytes, std::string* out,
                     struct stat* st = nullptr);

}  // namespace logbook
