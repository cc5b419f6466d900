#include "log/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace logbook {

namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the error that a deferred close would swallow.
  int Close() {
    const int r = ::close(fd_);
    fd_ = -1;
    return r;
  }

 private:
  int fd_;
};

}  // namespace

std::string ErrnoText(const char* what, const std::string& file, int err) {
  return std::string(what) + " '" + file + "': " + std::strerror(err);
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

Status ReadSmallFile(const std::string& path, size_t max_bytes, std::string* out) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Status::NotFound("'" + path + "' does not exist");
    return Status::IOError(ErrnoText("cannot open", path, errno));
  }
  out->clear();
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IOError(ErrnoText("cannot read", path, errno));
    if (n == 0) break;
    if (out->size() + static_cast<size_t>(n) > max_bytes) {
      return Status::InvalidArgument("'" + path + "' is larger than " + std::to_string(max_bytes) +
                                     " bytes");
    }
    out->append(buf, static_cast<size_t>(n));
  }
  return Status::OK();
}

}  // namespace logbook
