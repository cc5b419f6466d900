// `logbook retention ...` and `logbook tenant ...` run as the real binary:
// JSON reports, roles (exit 2), legal holds (exit 3), and kill -9 in the
// middle of a retention run and of a tenant delete, after which a rerun
// finishes the job with nothing half-done.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "log/verify.h"
#include "tests/test_util.h"

extern char** environ;

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Fills a new data directory (with keys) in-process: `per_tenant` usage
// events for each tenant, spread over `streams` streams each.
void Fill(const std::string& dir, const std::vector<std::string>& tenants, int per_tenant,
          int streams) {
  EngineOptions o;
  o.data_dir = dir;
  o.key_dir = dir + ".keys";
  o.create_keys = true;
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  REQUIRE_MESSAGE(e.ok(), e.status().ToString());
  for (const std::string& t : tenants) {
    for (int i = 0; i < per_tenant; i += 50) {
      std::vector<EventInput> batch;
      for (int k = 0; k < 50 && i + k < per_tenant; ++k) {
        batch.push_back({"UsageRecorded", "",
                         R"({"tenant":")" + t +
                             R"(","provider":"openai","model":"gpt-4o","kind":"chat","tokens_in":10})"});
      }
      Result<AppendResult> r = (*e)->AppendJson("usage/" + t + "/" + std::to_string(i % streams), t,
                                                {"fill", Role::kOperator}, ExpectedVersion::Any(),
                                                batch);
      REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    }
  }
}

// Starts the CLI with `args` (stdout and stderr to /dev/null).
pid_t Spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  std::string bin = CliPath();
  argv.push_back(bin.data());
  std::vector<std::string> copy = args;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  REQUIRE(rc == 0);
  return pid;
}

// Runs `args` and SIGKILLs it after a random delay, `rounds` times; returns
// how many rounds were killed before they finished.
int KillRounds(const std::vector<std::string>& args, int rounds, int min_delay_ms,
               int max_delay_ms) {
  std::mt19937 rng(12345);
  int killed = 0;
  for (int i = 0; i < rounds; ++i) {
    const pid_t pid = Spawn(args);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(min_delay_ms, max_delay_ms)(rng)));
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      if (WIFSIGNALED(status)) ++killed;
    }
  }
  return killed;
}

std::unique_ptr<Engine> OpenReadOnly(const std::string& dir) {
  EngineOptions o;
  o.data_dir = dir;
  o.key_dir = dir + ".keys";
  o.read_only = true;
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  REQUIRE_MESSAGE(e.ok(), e.status().ToString());
  return std::move(e).value();
}

}  // namespace

TEST_SUITE("tools/cli") {
  TEST_CASE("RetentionRunDryRunLiveRolesAndHolds") {
    TempDir dir;
    Cli cli{dir.Sub("d")};
    Fill(cli.dir, {"acme", "globex"}, 20, 2);
    std::string out, err;
    // Ages are days: 0.00001 days is 0.864 s.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    const std::string policy = "--retain usage=0.00001 --retain governance=keep";
    REQUIRE_MESSAGE(cli.Run("retention run --dry-run " + policy, &out, &err) == 0, err);
    json plan = json::parse(out);
    CHECK(plan["dry_run"] == true);
    CHECK(plan["counts"]["usage"] == 40);
    CHECK(plan["total_purged"] == 40);

    // An auditor may plan but not prune.
    CHECK(cli.Run("retention run --dry-run " + policy, &out, &err, "LOGBOOK_ROLE=auditor") == 0);
    CHECK(cli.Run("retention run " + policy, &out, &err, "LOGBOOK_ROLE=auditor") == 2);
    CHECK(err.find("denied") != std::string::npos);
    CHECK(cli.Run("retention run --role nobody " + policy, &out, &err) == 4);
    CHECK(cli.Run("retention run --retain usage=soon", &out, &err) == 5);
    CHECK(cli.Run("retention run --retain workspace=3", &out, &err) == 5);

    // A hold: a run for that tenant exits 3 with the reason; a global run
    // skips it and names it.
    REQUIRE(cli.Run("hold apply --tenant acme --reason 'case 9, counsel'", &out, &err) == 0);
    CHECK(cli.Run("retention run --tenant acme " + policy, &out, &err) == 3);
    CHECK(err.find("case 9") != std::string::npos);
    REQUIRE_MESSAGE(cli.Run("retention run " + policy, &out, &err) == 0, err);
    json live = json::parse(out);
    CHECK(live["total_purged"] == 20);
    CHECK(live["held_tenants"] == json::array({"acme"}));
    REQUIRE(cli.Run("audit verify", &out, &err) == 0);
    CHECK(out.find("(20 removed)") != std::string::npos);
    CHECK(out.find("clean") != std::string::npos);

    REQUIRE(cli.Run("hold release --tenant acme --reason closed", &out, &err) == 0);
    REQUIRE(cli.Run("retention run " + policy, &out, &err) == 0);
    CHECK(json::parse(out)["total_purged"] == 20);
    REQUIRE(cli.Run("audit verify", &out, &err) == 0);
    // LOGBOOK_RETAIN_<FAMILY>_DAYS and retention policy.
    REQUIRE(cli.Run("retention policy", &out, &err, "LOGBOOK_RETAIN_USAGE_DAYS=30") == 0);
    CHECK(json::parse(out)["usage"] == 30);
    CHECK(cli.Run("retention policy", &out, &err, "LOGBOOK_RETAIN_USAGE_DAYS=x") == 5);
  }

  TEST_CASE("TenantExportDeleteRolesAndHolds") {
    TempDir dir;
    Cli cli{dir.Sub("d")};
    Fill(cli.dir, {"acme", "globex"}, 10, 2);
    fs::create_directories(dir.Sub("out"));
    std::string out, err;
    REQUIRE_MESSAGE(cli.Run("tenant export --tenant acme --out " + dir.Sub("out"), &out, &err,
                            "LOGBOOK_ROLE=auditor") == 0,
                    err);
    json ex = json::parse(out);
    CHECK(ex["events"] == 10);
    CHECK(fs::exists(ex["dir"].get<std::string>() + "/manifest.json"));
    CHECK(cli.Run("tenant export --tenant acme --out " + dir.Sub("out"), &out, &err,
                  "LOGBOOK_ROLE=operator") == 2);

    CHECK(cli.Run("tenant delete --tenant acme", &out, &err, "LOGBOOK_ROLE=auditor") == 2);
    CHECK(err.find("denied") != std::string::npos);
    REQUIRE(cli.Run("tenant delete --tenant acme --dry-run", &out, &err) == 0);
    json plan = json::parse(out);
    CHECK(plan["events"] == 11);  // 10 usage + TenantExported
    REQUIRE(cli.Run("hold apply --tenant acme --reason 'audit 2027'", &out, &err) == 0);
    CHECK(cli.Run("tenant delete --tenant acme", &out, &err) == 3);
    CHECK(err.find("audit 2027") != std::string::npos);
    REQUIRE(cli.Run("hold release --tenant acme", &out, &err) == 0);
    REQUIRE_MESSAGE(cli.Run("tenant delete --tenant acme --reason 'request 7'", &out, &err,
                            "LOGBOOK_ROLE=compliance") == 0,
                    err);
    json del = json::parse(out);
    CHECK(del["events"] == 13);  // + HoldApplied, HoldReleased
    CHECK_FALSE(del["destroyed_key_ids"].empty());
    REQUIRE(cli.Run("audit verify", &out, &err) == 0);
    REQUIRE(cli.Run("tenant delete --tenant acme", &out, &err) == 0);
    CHECK(json::parse(out)["events"] == 0);
  }
}

TEST_SUITE("slow") {
  TEST_CASE("KillDuringRetentionThenRerunFinishesWithOneCountOfEverything") {
    TempDir dir;
    const std::string data = dir.Sub("d");
    constexpr int kEvents = 30000;
    Fill(data, {"acme"}, kEvents, 40);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    const std::vector<std::string> args = {"--data-dir", data, "retention", "run", "--retain",
                                           "usage=0.00001", "--batch", "500", "--no-compact"};
    const int killed = KillRounds(args, 6, 5, 400);
    MESSAGE(killed << " of 6 retention runs killed");
    {
      auto before = OpenReadOnly(data);
      MESSAGE(VerifyLog(before->log(), VerifyOptions{}).removed << " removed before the rerun");
    }
    Cli cli{data};
    std::string out, err;
    REQUIRE_MESSAGE(cli.Run("retention run --retain usage=0.00001 --batch 500", &out, &err) == 0,
                    err);
    auto e = OpenReadOnly(data);
    VerifyReport r = VerifyLog(e->log(), VerifyOptions{});
    for (const auto& p : r.problems) MESSAGE(p.ToString());
    CHECK(r.clean());
    // Every usage event is gone, and the RetentionEnforced records together
    // count each exactly once.
    uint64_t usage_left = 0, counted = 0;
    const std::vector<Event> all = *e->log().ReadAll(1, 1000000);
    for (const Event& ev : all) {
      if (ev.type == 500) ++usage_left;
      if (ev.stream == "$retention") {
        json j = json::parse(Engine::EventToJsonText(ev));
        counted += j["payload"]["total_purged"].get<uint64_t>();
      }
    }
    CHECK(usage_left == 0);
    CHECK(counted == kEvents);
    CHECK(r.removed == kEvents);
  }

  TEST_CASE("KillDuringTenantDeleteThenRerunFinishes") {
    TempDir dir;
    const std::string data = dir.Sub("d");
    Fill(data, {"acme", "globex"}, 20000, 200);
    const std::vector<std::string> args = {"--data-dir", data, "tenant", "delete", "--tenant",
                                           "acme"};
    const int killed = KillRounds(args, 5, 250, 900);
    MESSAGE(killed << " of 5 tenant deletes killed");
    {
      auto before = OpenReadOnly(data);
      MESSAGE(VerifyLog(before->log(), VerifyOptions{}).removed << " removed before the rerun");
    }
    Cli cli{data};
    std::string out, err;
    REQUIRE_MESSAGE(cli.Run("tenant delete --tenant acme", &out, &err) == 0, err);
    auto e = OpenReadOnly(data);
    VerifyReport r = VerifyLog(e->log(), VerifyOptions{});
    for (const auto& p : r.problems) MESSAGE(p.ToString());
    CHECK(r.clean());
    uint64_t acme = 0, globex = 0, deleted = 0;
    const std::vector<Event> all = *e->log().ReadAll(1, 1000000);
    for (const Event& ev : all) {
      if (ev.tenant == "acme") ++acme;
      if (ev.tenant == "globex") ++globex;
      if (ev.type == 703) ++deleted;  // TenantDeleted
    }
    CHECK(acme == 0);
    CHECK(globex == 20000);
    CHECK(deleted >= 1);
    CHECK(r.removed == 20000);
  }
}
