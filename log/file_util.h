#pragma once
// Small files that must never be seen half-written: key files, the API keys
// file. Whole-file reads and atomic replacement (write a fresh temporary,
// fsync, rename over, fsync the directory).

#include <sys/stat.h>

#include <string>
#include <string_view>

#include "log/status.h"

namespace logbook {

// "<what> '<file>': <strerror(err)>"
std::string ErrnoText(const char* what, const std::string& file, int err);

// Replaces `path` with `data` through a fresh "<path>.tmp" created with
// `mode`. On return with OK the new contents are durable; on error the old
// file is untouched. *st (optional) gets the new file's stat. kNotFound when
// the directory does not exist.
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode,
                       struct stat* st = nullptr);

// Reads a whole file of at most max_bytes. kNotFound when it does not exist.
Status ReadSmallFile(const std::string& path, size_t max_bytes, std::string* out);

}  // namespace logbook
