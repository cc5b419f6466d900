#include "log/file_util.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>

#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;

TEST_SUITE("log/file_util") {
  TEST_CASE("ReadSmallFileReportsWhatItReadAndRefusesOddFiles") {
    TempDir dir;
    const std::string path = dir.Sub("f");
    std::string text = "left over";
    CHECK(ReadSmallFile(path, 100, &text).IsNotFound());
    CHECK(text.empty());

    REQUIRE(WriteFileAtomic(path, "hello", 0600).ok());
    struct stat st;
    REQUIRE(ReadSmallFile(path, 5, &text, &st).ok());
    CHECK(text == "hello");
    struct stat now;
    REQUIRE(::stat(path.c_str(), &now) == 0);
    CHECK(StampOf(st) == StampOf(now));

    Status s = ReadSmallFile(path, 4, &text);
    CHECK(s.IsCorruption());
    CHECK(s.message().find(path) != std::string::npos);
    CHECK(text.empty());  // nothing half-read is handed back

    s = ReadSmallFile(dir.path(), 100, &text);
    CHECK(s.IsInvalidArgument());
    CHECK(s.message().find("not a regular file") != std::string::npos);
  }

  TEST_CASE("WriteFileAtomicGivesEveryVersionANewStamp") {
    TempDir dir;
    const std::string path = dir.Sub("f");
    struct stat first, second;
    REQUIRE(WriteFileAtomic(path, "one", 0600, &first).ok());
    REQUIRE(WriteFileAtomic(path, "two", 0644, &second).ok());
    CHECK_FALSE(StampOf(first) == StampOf(second));
    struct stat now;
    REQUIRE(::stat(path.c_str(), &now) == 0);
    CHECK(StampOf(now) == StampOf(second));
    CHECK((now.st_mode & 0777) == 0644);
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
    CHECK(WriteFileAtomic(dir.Sub("no-such-dir/f"), "x", 0600).IsNotFound());
  }

  TEST_CASE("LockFileExcludesOtherHolders") {
    TempDir dir;
    const std::string path = dir.Sub("f");
    CHECK(LockFile().Acquire(dir.Sub("no-such-dir/f")).IsNotFound());
    {
      LockFile lock;
      REQUIRE(lock.Acquire(path).ok());
      // flock locks belong to the open file description: a second open conflicts.
      Fd other(::open((path + ".lock").c_str(), O_RDWR | O_CLOEXEC));
      REQUIRE(other.get() >= 0);
      CHECK(::flock(other.get(), LOCK_EX | LOCK_NB) != 0);
    }
    Fd other(::open((path + ".lock").c_str(), O_RDWR | O_CLOEXEC));
    REQUIRE(other.get() >= 0);
    CHECK(::flock(other.get(), LOCK_EX | LOCK_NB) == 0);  // released with the LockFile
  }
}
