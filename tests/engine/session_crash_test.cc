// Crash test for the turn WAL: a child runs turns and is SIGKILLed between
// TurnProposed and TurnApplied; reopening the data directory reconciles the
// turn (applies it: the state still matches its proposal) and nothing else
// changes on a second open.

#include <doctest/doctest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <thread>

#include "engine/engine.h"
#include "log/verify.h"
#include "tests/test_util.h"

extern char** environ;

namespace logbook::test {

// Runs turns on session "s" that count /n up by one each; prints
// "P <turn>" after each TurnProposed (then pauses, to be killed there) and
// "A <turn> <status>" after each outcome.
int SessionCrashChildMain(const char* dir) {
  EngineOptions o;
  o.data_dir = dir;
  std::string turn_id;
  o.sessions.after_propose = [&] {
    const std::string line = "P " + turn_id + "\n";
    if (write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::_Exit(3);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  };
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  if (!e.ok()) {
    std::fprintf(stderr, "child: %s\n", e.status().ToString().c_str());
    return 1;
  }
  Sessions& s = (*e)->sessions();
  const Actor actor{"crash-child", Role::kOperator};
  if (!s.Header("s").ok()) {
    StartSessionInput in;
    in.session_id = "s";
    if (!s.Start("t1", actor, in).ok()) return 2;
  }
  for (int i = 0;; ++i) {
    Result<nlohmann::json> st = s.View("s");
    if (!st.ok()) return 4;
    const int64_t n = st->at("state").value("n", int64_t{0});
    turn_id = "turn-" + std::to_string(getpid()) + "-" + std::to_string(i);
    const std::string acts = n == 0 ? R"([{"op":"add","path":"/n","value":1}])"
                                    : R"([{"op":"test","path":"/n","value":)" + std::to_string(n) +
                                          R"(},{"op":"replace","path":"/n","value":)" +
                                          std::to_string(n + 1) + "}]";
    Result<TurnOutcome> out = s.SubmitTurn(actor, {"s", turn_id, R"({"txt":"tick"})", acts});
    if (!out.ok()) return 5;
    const std::string line = "A " + turn_id + " " + out->status + "\n";
    if (write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::_Exit(3);
  }
}

}  // namespace logbook::test

using namespace logbook;
using namespace logbook::test;

TEST_SUITE("slow") {
  TEST_CASE("KillNineBetweenTurnProposedAndTurnAppliedIsReconciledOnOpen") {
    TempDir dir;
    const std::string data = dir.Sub("data");
    int64_t applied_total = 0;
    for (int round = 0; round < 3; ++round) {
      int fds[2];
      REQUIRE(pipe(fds) == 0);
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
      posix_spawn_file_actions_addclose(&fa, fds[0]);
      std::string self = "/proc/self/exe";
      char* argv[] = {self.data(), const_cast<char*>("--session-crash-child"),
                      const_cast<char*>(data.c_str()), nullptr};
      pid_t pid = 0;
      REQUIRE(posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv, environ) == 0);
      posix_spawn_file_actions_destroy(&fa);
      close(fds[1]);

      // Read until the child has proposed its third turn of this round,
      // then kill it while it waits before the outcome.
      std::string out, killed_turn;
      int proposals = 0;
      char buf[4096];
      while (killed_turn.empty()) {
        ssize_t n = read(fds[0], buf, sizeof(buf));
        REQUIRE_MESSAGE(n > 0, "the child stopped before proposing three turns");
        out.append(buf, static_cast<size_t>(n));
        std::istringstream in(out);
        std::string line;
        proposals = 0;
        while (std::getline(in, line)) {
          if (line.rfind("P ", 0) == 0 && ++proposals == 3) killed_turn = line.substr(2);
        }
      }
      REQUIRE(kill(pid, SIGKILL) == 0);
      int status = 0;
      REQUIRE(waitpid(pid, &status, 0) == pid);
      close(fds[0]);
      REQUIRE(WIFSIGNALED(status));
      CHECK(out.find("A " + killed_turn) == std::string::npos);

      // Reopen: recovery settles the killed turn.
      EngineOptions o;
      o.data_dir = data;
      o.run_projector_thread = false;
      Result<std::unique_ptr<Engine>> e = Engine::Open(o);
      REQUIRE_MESSAGE(e.ok(), e.status().ToString());
      Sessions& s = (*e)->sessions();
      nlohmann::json wal = s.ListWal("s").value();
      CHECK(wal["pending"] == 0);
      bool found = false;
      int64_t applied = 0;
      for (const auto& entry : wal["entries"]) {
        applied += entry["status"] == "applied" ? 1 : 0;
        if (entry["turn_id"] == killed_turn) {
          found = true;
          CHECK(entry["status"] == "applied");
          CHECK(entry["reconciled"] == true);
        }
      }
      CHECK(found);
      applied_total = applied;
      // Every applied turn counted once: none lost, none applied twice.
      CHECK(s.View("s").value()["state"]["n"] == applied);
      CHECK(VerifyLog((*e)->log(), VerifyOptions{}).clean());

      const uint64_t lsn = (*e)->log().LastLsn();
      e->reset();
      Result<std::unique_ptr<Engine>> again = Engine::Open(o);
      REQUIRE(again.ok());
      CHECK((*again)->log().LastLsn() == lsn);  // a second recovery has nothing to do
    }
    CHECK(applied_total >= 9);
  }
}
