#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <spdlog/spdlog.h>

#include <cstring>

namespace logbook::test {
int CrashChildMain(const char* dir);
int SessionCrashChildMain(const char* dir);
}

int main(int argc, char** argv) {
  // The crash test re-executes this binary as the child it kills.
  if (argc == 3 && std::strcmp(argv[1], "--crash-child") == 0) {
    return logbook::test::CrashChildMain(argv[2]);
  }
  if (argc == 3 && std::strcmp(argv[1], "--session-crash-child") == 0) {
    return logbook::test::SessionCrashChildMain(argv[2]);
  }
  spdlog::set_level(spdlog::level::warn);  // no access logs in test output
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
