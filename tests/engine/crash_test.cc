// Crash test: a child process appends and reports every acknowledged event;
// the parent SIGKILLs it at a random moment, reopens the data directory and
// checks that every acknowledged event is present and valid, the log
// verifies and the views caught up.

#include <doctest/doctest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <sstream>
#include <thread>

#include "engine/engine.h"
#include "log/verify.h"
#include "tests/test_util.h"

extern char** environ;

namespace logbook::test {

int CrashChildMain(const char* dir) {
  EngineOptions o;
  o.data_dir = dir;
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  if (!e.ok()) {
    std::fprintf(stderr, "child: %s\n", e.status().ToString().c_str());
    return 1;
  }
  Log& log = (*e)->log();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&log, t] {
      std::mt19937 rng(static_cast<unsigned>(getpid() * 31 + t));
      for (uint64_t i = 0;; ++i) {
        AppendRequest r = MakeRequest("crash/" + std::to_string(t % 3), 1 + rng() % 5,
                                      ExpectedVersion::Any(), "t1", rng() % 300);
        Result<AppendResult> res = log.Append(r);
        if (!res.ok()) {
          std::fprintf(stderr, "child: %s\n", res.status().ToString().c_str());
          std::_Exit(2);
        }
        // One line per acknowledged event; one write() per append (atomic in a pipe).
        std::string lines;
        for (size_t k = 0; k < res->event_ids.size(); ++k) {
          lines += std::to_string(res->first_lsn + k) + " " + EventIdToString(res->event_ids[k]) + "\n";
        }
        if (write(1, lines.data(), lines.size()) != static_cast<ssize_t>(lines.size())) std::_Exit(3);
      }
    });
  }
  for (auto& t : threads) t.join();
  return 0;
}

}  // namespace logbook::test

using namespace logbook;
using namespace logbook::test;

TEST_SUITE("slow") {
  TEST_CASE("KillNineMidWriteLosesNoAcknowledgedEvent") {
    TempDir dir;
    const std::string data = dir.Sub("data");
    std::mt19937 rng(std::random_device{}());
    uint64_t total_acked = 0;
    constexpr int kRounds = 24;
    for (int round = 0; round < kRounds; ++round) {
      int fds[2];
      REQUIRE(pipe(fds) == 0);
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
      posix_spawn_file_actions_addclose(&fa, fds[0]);
      std::string self = "/proc/self/exe";
      char* argv[] = {self.data(), const_cast<char*>("--crash-child"), const_cast<char*>(data.c_str()),
                      nullptr};
      pid_t pid = 0;
      REQUIRE(posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv, environ) == 0);
      posix_spawn_file_actions_destroy(&fa);
      close(fds[1]);

      // Let it run for a random while (it opens, recovers, then appends).
      std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 400));
      REQUIRE(kill(pid, SIGKILL) == 0);
      std::string out;
      char buf[65536];
      ssize_t n;
      while ((n = read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
      close(fds[0]);
      int status = 0;
      REQUIRE(waitpid(pid, &status, 0) == pid);
      REQUIRE_MESSAGE(WIFSIGNALED(status), "child exited on its own with status " << status);

      std::vector<std::pair<uint64_t, EventId>> acked;
      std::istringstream in(out);
      std::string line;
      while (std::getline(in, line)) {
        const auto sp = line.find(' ');
        REQUIRE(sp != std::string::npos);
        EventId id{};
        REQUIRE(ParseEventId(line.substr(sp + 1), &id));
        acked.emplace_back(std::stoull(line.substr(0, sp)), id);
      }
      total_acked += acked.size();

      EngineOptions o;
      o.data_dir = data;
      o.run_projector_thread = false;
      Result<std::unique_ptr<Engine>> e = Engine::Open(o);
      REQUIRE_MESSAGE(e.ok(), "round " << round << ": " << e.status().ToString());
      Log& log = (*e)->log();
      for (const auto& [lsn, id] : acked) {
        Result<Event> ev = log.ReadEvent(lsn);
        REQUIRE_MESSAGE(ev.ok(), "round " << round << " LSN " << lsn << ": " << ev.status().ToString());
        CHECK(ev->event_id == id);
        CHECK(log.FindEventId(id).value() == lsn);
      }
      VerifyReport report = VerifyLog(log, VerifyOptions{});
      REQUIRE_MESSAGE(report.clean(), "round " << round << ": "
                                                << (report.problems.empty()
                                                        ? report.status.ToString()
                                                        : report.problems[0].ToString()));
      CHECK((*e)->projector().AppliedLsn() == log.LastLsn());
      for (const ViewStatus& v : (*e)->projector().GetStatus()) CHECK(v.error.empty());
    }
    MESSAGE(kRounds << " rounds, " << total_acked << " acknowledged events checked");
    CHECK(total_acked > 0);
  }
}
