#include "log/file_util.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace logbook {

std::string ErrnoText(const char* what, const std::string& file, int err) {
  return std::string(what) + " '" + file + "': " + std::strerror(err);
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

int Fd::Close() {
  const int r = ::close(fd_);
  fd_ = -1;
  return r;
}

FileStamp StampOf(const struct stat& st) {
  FileStamp s;
  s.dev = static_cast<uint64_t>(st.st_dev);
  s.ino = static_cast<uint64_t>(st.st_ino);
  s.size = static_cast<int64_t>(st.st_size);
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return s;
}

LockFile::~LockFile() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

Status LockFile::Acquire(const std::string& path) {
  const std::string lock = path + ".lock";
  fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    if (errno == ENOENT) {
      return Status::NotFound("the directory of '" + path + "' does not exist");
    }
    return Status::IOError(ErrnoText("cannot open lock file", lock, errno));
  }
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) return Status::IOError(ErrnoText("cannot lock", lock, errno));
  }
  return Status::OK();
}

Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode,
                       struct stat* st) {
  const std::string tmp = path + ".tmp";
  // A leftover from a crashed writer may have other permissions; start from a new inode.
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) {
    return Status::IOError(ErrnoText("cannot remove", tmp, errno));
  }
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, mode));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      return Status::NotFound("the directory of '" + path + "' does not exist");
    }
    return Status::IOError(ErrnoText("cannot create", tmp, errno));
  }
  auto fail = [&](const char* what) {
    const int err = errno;
    (void)::unlink(tmp.c_str());  // best effort: the old file is still in place
    return Status::IOError(ErrnoText(what, tmp, err));
  };
  if (::fchmod(fd.get(), mode) != 0) return fail("cannot chmod");  // the umask may be odd
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("cannot fsync");
  if (st != nullptr && ::fstat(fd.get(), st) != 0) return fail("cannot stat");
  if (fd.Close() != 0) return fail("cannot close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename over the file from");
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0 || ::fsync(dfd.get()) != 0) {
    return Status::IOError(ErrnoText("cannot fsync directory", dir, errno));
  }
  return Status::OK();
}

Status ReadSmallFile(const std::string& path, size_t max_bytes, std::string* out, struct stat* st) {
  out->clear();
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Status::NotFound("'" + path + "' does not exist");
    return Status::IOError(ErrnoText("cannot open", path, errno));
  }
  struct stat fst;
  if (::fstat(fd.get(), &fst) != 0) return Status::IOError(ErrnoText("cannot stat", path, errno));
  if (!S_ISREG(fst.st_mode)) {
    return Status::InvalidArgument("'" + path + "' is not a regular file");
  }
  // One allocation up front: growing the string would leave copies of key bytes behind.
  out->reserve(std::min(static_cast<size_t>(fst.st_size), max_bytes));
  char buf[8192];
  Status s;
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s = Status::IOError(ErrnoText("cannot read", path, errno));
      break;
    }
    if (n == 0) break;
    if (out->size() + static_cast<size_t>(n) > max_bytes) {
      s = Status::Corruption("'" + path + "' is larger than " + std::to_string(max_bytes) +
                             " bytes");
      break;
    }
    out->append(buf, static_cast<size_t>(n));
  }
  sodium_memzero(buf, sizeof(buf));
  if (!s.ok()) {
    sodium_memzero(out->data(), out->size());
    out->clear();
    return s;
  }
  if (st != nullptr) *st = fst;
  return Status::OK();
}

}  // namespace logbook
