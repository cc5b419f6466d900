// The `workspace` and `optout` commands of the real binary, and a share
// secret rotated by the CLI under a running `logbook serve`.

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "api/keys.h"
#include "tests/api/http_client.h"
#include "tests/test_util.h"

extern char** environ;

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;

namespace {

std::vector<json> JsonLines(const std::string& s) {
  std::vector<json> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

}  // namespace

TEST_SUITE("tools/cli_workspace") {
  TEST_CASE("OptOutSetCheckListClearAcrossProcesses") {
    TempDir dir;
    Cli cli{dir.Sub("d")};
    REQUIRE(cli.Run("init") == 0);
    json set = cli.RunJson(
        "optout set --tenant acme --user alice --channel whatsapp "
        "--reason STOP --by staff-1");
    CHECK(set["scope"] == "member_channel");
    cli.RunJson("optout set --tenant acme --channel sms");
    CHECK(cli.RunJson("optout set --tenant acme --user bob --expires-at 2099-01-01T00:00:00Z")
              ["expires_at"] == "2099-01-01T00:00:00.000000Z");
    // Each command is a new process: the answers come from the view on disk.
    json c = cli.RunJson("optout check --tenant acme --user alice --channel whatsapp");
    CHECK(c["opted_out"] == true);
    CHECK(c["because"]["reason"] == "STOP");
    CHECK(c["because"]["by"] == "staff-1");
    CHECK(cli.RunJson("optout check --tenant acme --user alice --channel web")["opted_out"] ==
          false);
    CHECK(cli.RunJson("optout check --tenant acme --user carol --channel sms")["opted_out"] ==
          true);
    CHECK(
        cli.RunJson("optout check --tenant globex --user alice --channel whatsapp")["opted_out"] ==
        false);

    std::string out, err;
    REQUIRE(cli.Run("optout list --tenant acme", &out) == 0);
    CHECK(JsonLines(out).size() == 3);
    CHECK(cli.Run("optout set --tenant acme --expires-at 2001-01-01T00:00:00Z", &out, &err) == 5);
    REQUIRE(cli.Run("optout clear --tenant acme --id " + set["opt_out_id"].get<std::string>() +
                        " --reason re-enabled",
                    &out, &err) == 0);
    CHECK(cli.RunJson("optout check --tenant acme --user alice --channel whatsapp")["opted_out"] ==
          false);
    CHECK(cli.Run("optout clear --tenant acme --user alice --channel whatsapp", &out, &err) == 7);
    CHECK(err.find("logbook: not_found:") == 0);
    REQUIRE(cli.Run("optout list --tenant acme --history", &out) == 0);
    std::vector<json> h = JsonLines(out);
    REQUIRE(h.size() == 4);
    CHECK(h[3]["action"] == "cleared");
    CHECK(h[3]["reason"] == "re-enabled");

    // Bad input and usage.
    CHECK(cli.Run("optout set --tenant acme --user 'a b'", &out, &err) == 5);
    CHECK(cli.Run("optout set --tenant acme --expires-at soon", &out, &err) == 4);
    CHECK(cli.Run("optout set --user x", &out, &err) == 4);  // --tenant is required
    CHECK(cli.Run("optout clear --tenant acme --id x --user y", &out, &err) == 4);
  }

  TEST_CASE("WorkspaceListAndShowReadWhatTheLogHolds") {
    TempDir dir;
    Cli cli{dir.Sub("d")};
    REQUIRE(cli.Run("init") == 0);
    // Items saved through the generic append path count like any other.
    std::string out, err;
    for (const char* content : {"first", "second"}) {
      REQUIRE(cli.Run("append --stream workspace/acme/n1 --tenant acme --type WorkspaceItemSaved "
                      "--payload '{\"item_id\":\"n1\",\"owner\":\"alice\",\"title\":\"Notes\","
                      "\"content\":\"" +
                          std::string(content) + "\"}'",
                      &out, &err) == 0);
    }
    REQUIRE(cli.Run("append --stream workspace/acme/n2 --tenant acme --type WorkspaceItemSaved "
                    "--payload '{\"item_id\":\"n2\",\"owner\":\"bob\",\"content\":\"x\"}'",
                    &out, &err) == 0);
    REQUIRE(cli.Run("workspace list --tenant acme", &out, &err) == 0);
    std::vector<json> items = JsonLines(out);
    REQUIRE(items.size() == 2);
    CHECK(items[0]["item_id"] == "n1");
    CHECK(items[0]["version"] == 2);
    REQUIRE(cli.Run("workspace list --tenant acme --user bob", &out) == 0);
    CHECK(JsonLines(out).size() == 1);
    json item = cli.RunJson("workspace show --tenant acme --item n1");
    CHECK(item["content"] == "second");
    CHECK(item["user"] == "alice");
    CHECK(cli.RunJson("workspace show --tenant acme --item n1 --version 1")["content"] == "first");
    CHECK(cli.RunJson("workspace show --tenant acme --item n1 --versions")["versions"].size() == 2);
    CHECK(cli.Run("workspace show --tenant acme --item n9", &out, &err) == 7);
    CHECK(cli.Run("workspace show --tenant globex --item n1", &out, &err) == 7);
    CHECK(cli.Run("workspace show --tenant acme --item n1 --user bob", &out, &err) == 7);

    // Rotation without a server is recorded at once.
    json r = cli.RunJson("workspace rotate-secret --grace-seconds 60");
    CHECK(r["lsn"] == 4);
    REQUIRE(cli.Run("read --stream '$system'", &out) == 0);
    std::vector<json> events = JsonLines(out);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["type"] == "ShareSecretRotated");
    CHECK(events[0]["payload"]["secret_id"] == r["secret_id"]);
    // The projections rebuild to the same answers.
    REQUIRE(cli.Run("projections rebuild", &out, &err) == 0);
    CHECK(cli.RunJson("workspace show --tenant acme --item n1")["version"] == 2);
  }

  TEST_CASE("RotatingTheSecretUnderARunningServerNeedsNoRestart") {
    TempDir dir;
    const std::string data = dir.Sub("data");
    const std::string keys_path = dir.Sub("keys.json");
    std::string key;
    {
      auto keys = api::KeyStore::CreateEmpty(keys_path);
      key = keys->Create("acme", Role::kOperator, "test").value();
    }
    const std::string log_path = dir.Sub("serve.log");
    std::vector<std::string> args = {CliPath(),  "--data-dir",  data,          "serve",
                                     "--listen", "127.0.0.1:0", "--keys-file", keys_path};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    REQUIRE(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
    uint16_t port = 0;
    for (int i = 0; i < 500 && port == 0; ++i) {
      std::ifstream in(log_path);
      std::stringstream ss;
      ss << in.rdbuf();
      const size_t at = ss.str().find("(port ");
      if (at != std::string::npos) port = static_cast<uint16_t>(std::stoi(ss.str().substr(at + 6)));
      if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    REQUIRE_MESSAGE(port != 0, "server did not start");

    HttpClient c(port);
    const std::map<std::string, std::string> auth = {{"Authorization", "Bearer " + key}};
    REQUIRE(c.Send("PUT", "/api/v1/workspace/users/alice/items/n1", R"({"content":"hi"})", auth)
                .status == 201);
    HttpResult r = c.Send("POST", "/api/v1/workspace/users/alice/items/n1/shares", "{}", auth);
    REQUIRE(r.status == 201);
    const std::string path = json::parse(r.body)["path"];
    REQUIRE(c.Send("GET", path).status == 200);

    // The CLI cannot open the data directory (the server has it) but rotates the file.
    Cli cli{data};
    json rot = cli.RunJson("workspace rotate-secret");
    CHECK(rot["recorded_by"] == "the running server");
    bool closed = false;
    for (int i = 0; i < 300 && !closed; ++i) {  // the server polls every 2 s; a busy CI is slower
      closed = c.Send("GET", path).status == 404;
      if (!closed) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK_MESSAGE(closed, "the old link still opens 30 s after the rotation");
    // New links are signed with the new secret.
    r = c.Send("POST", "/api/v1/workspace/users/alice/items/n1/shares", "{}", auth);
    REQUIRE(r.status == 201);
    CHECK(json::parse(r.body)["secret_id"] == rot["secret_id"]);
    CHECK(c.Send("GET", json::parse(r.body)["path"].get<std::string>()).status == 200);

    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    // The server recorded the rotation in the log; the token never reached its log.
    std::string out;
    REQUIRE(cli.Run("read --stream '$system'", &out) == 0);
    std::vector<json> events = JsonLines(out);
    REQUIRE(events.size() == 2);  // the first secret, then the rotation
    CHECK(events[1]["payload"]["secret_id"] == rot["secret_id"]);
    std::ifstream in(log_path);
    std::stringstream ss;
    ss << in.rdbuf();
    CHECK(ss.str().find(path.substr(path.rfind('/') + 1)) == std::string::npos);
  }
}
