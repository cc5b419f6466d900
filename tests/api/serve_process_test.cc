// `logbook serve` as a process: SIGKILL during concurrent HTTP appends loses
// no 201-acknowledged event; SIGTERM drains and exits 0.

#include <doctest/doctest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "api/keys.h"
#include "engine/engine.h"
#include "log/verify.h"
#include "tests/api/http_client.h"
#include "tests/test_util.h"

extern char** environ;

using namespace logbook;
using namespace logbook::test;

namespace {

struct ServeProcess {
  pid_t pid = 0;
  uint16_t port = 0;

  ServeProcess(const std::string& data, const std::string& keys, const std::string& log_path) {
    std::vector<std::string> args = {CliPath(), "--data-dir", data, "serve", "--listen",
                                     "127.0.0.1:0", "--keys-file", keys};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    REQUIRE(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
    // The server logs "(port N)" once it listens.
    for (int i = 0; i < 500 && port == 0; ++i) {
      std::ifstream in(log_path);
      std::stringstream ss;
      ss << in.rdbuf();
      const std::string text = ss.str();
      const size_t at = text.find("(port ");
      if (at != std::string::npos) port = static_cast<uint16_t>(std::stoi(text.substr(at + 6)));
      if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    REQUIRE_MESSAGE(port != 0, "server did not start");
  }
  int Stop(int sig) {
    kill(pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
  }
};

}  // namespace

TEST_SUITE("slow") {
  TEST_CASE("ServerSigkillDuringHttpAppendsLosesNoAcknowledgedEvent") {
    TempDir dir;
    const std::string data = dir.Sub("data");
    const std::string keys_path = dir.Sub("keys.json");
    std::string key;
    {
      auto keys = api::KeyStore::CreateEmpty(keys_path);
      key = keys->Create("acme", Role::kOperator, "test").value();
    }
    std::mt19937 rng(std::random_device{}());
    size_t total = 0;
    for (int round = 0; round < 3; ++round) {
      ServeProcess p(data, keys_path, dir.Sub("serve.log"));
      std::vector<std::string> acked;
      std::mutex mu;
      std::vector<std::thread> writers;
      for (int t = 0; t < 8; ++t) {
        writers.emplace_back([&, t] {
          HttpClient c(p.port);
          for (;;) {
            const std::string id = EventIdToString(RandomEventId());
            nlohmann::json body = {{"events", {{{"type", "SessionClosed"}, {"event_id", id}, {"payload", nlohmann::json::object()}}}}};
            HttpResult r = c.Send("POST", "/v1/streams/k/" + std::to_string(t) + "/events", body.dump(),
                                  {{"Authorization", "Bearer " + key}});
            if (!r.ok) return;  // the server is gone
            if (r.status != 201) continue;
            std::lock_guard<std::mutex> l(mu);
            acked.push_back(id);
          }
        });
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 400));
      const int status = p.Stop(SIGKILL);
      for (auto& w : writers) w.join();
      REQUIRE(WIFSIGNALED(status));
      EngineOptions o;
      o.data_dir = data;
      o.key_dir = data + ".keys";  // serve made an encrypted log
      o.run_projector_thread = false;
      auto engine = Engine::Open(o);
      REQUIRE_MESSAGE(engine.ok(), engine.status().ToString());
      for (const auto& id : acked) {
        EventId e{};
        REQUIRE(ParseEventId(id, &e));
        Result<uint64_t> lsn = (*engine)->log().FindEventId(e);
        CHECK_MESSAGE(lsn.ok(), "round " << round << " lost " << id);
        if (!lsn.ok()) continue;
        // Its data key was durable before the acknowledgement, too.
        Result<Event> ev = (*engine)->log().ReadEvent(*lsn);
        REQUIRE(ev.ok());
        CHECK_MESSAGE(ev->payload_encoding == 0, ev->payload_error);
        CHECK(ev->key_id != 0);
      }
      CHECK(VerifyLog((*engine)->log(), VerifyOptions{}).clean());
      total += acked.size();
    }
    MESSAGE(total << " acknowledged HTTP appends checked over 3 SIGKILL rounds");
    CHECK(total > 0);
  }

  TEST_CASE("SigtermDrainsAndExitsZero") {
    TempDir dir;
    const std::string keys_path = dir.Sub("keys.json");
    std::string key;
    {
      auto keys = api::KeyStore::CreateEmpty(keys_path);
      key = keys->Create("acme", Role::kOperator, "test").value();
    }
    ServeProcess p(dir.Sub("data"), keys_path, dir.Sub("serve.log"));
    HttpClient c(p.port);
    HttpResult r = c.Send("POST", "/v1/streams/s/events",
                          R"({"events":[{"type":"SessionClosed","payload":{}}]})",
                          {{"Authorization", "Bearer " + key}});
    REQUIRE(r.status == 201);
    const int status = p.Stop(SIGTERM);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}
