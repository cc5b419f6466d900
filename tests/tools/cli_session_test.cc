// The session commands of the real `logbook` binary: outputs and exit codes.

#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/test_util.h"

using namespace logbook::test;
using nlohmann::json;

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_SUITE("tools/cli") {
  TEST_CASE("SessionSnapshotRecapWalExportImportFromTheCli") {
    TempDir dir;
    Cli cli{dir.Sub("d")};
    REQUIRE(cli.Run("init") == 0);
    json h = cli.RunJson("session start --tenant acme --id s1 --kind awf --user ada@example.com");
    CHECK(h["status"] == "active");
    json t = cli.RunJson(
        R"(session turn --session s1 --turn-id t1 --acts '[{"op":"add","path":"/hp","value":10}]' --awf '{"txt":"Ada meets ada@example.com."}')");
    CHECK(t["status"] == "applied");

    json snap = cli.RunJson("snapshot create --session s1 --label first");
    CHECK(snap["created"] == true);
    const std::string id = snap["snapshot"]["snapshot_id"];
    CHECK(cli.RunJson("snapshot create --session s1")["created"] == false);
    cli.RunJson(
        R"(session turn --session s1 --turn-id t2 --acts '[{"op":"replace","path":"/hp","value":1}]')");
    std::string out;
    REQUIRE(cli.Run("snapshot list --session s1", &out) == 0);
    CHECK(json::parse(out)["snapshot_id"] == id);
    json restored = cli.RunJson("snapshot restore --session s1 --snapshot " + id);
    CHECK(restored["view"]["state"] == json{{"hp", 10}});
    CHECK(cli.RunJson("session show --session s1")["state"] == json{{"hp", 10}});

    REQUIRE(cli.Run("recap --session s1 --last-turns 1", &out) == 0);
    CHECK(out == "Session s1 (awf) is active after 1 turn. Turn t1: Ada meets ada@example.com.\n");

    REQUIRE(cli.Run("wal list --session s1", &out) == 0);
    CHECK(std::count(out.begin(), out.end(), '\n') == 2);
    std::string err;
    REQUIRE(cli.Run("wal reconcile", &out, &err) == 0);
    CHECK(out.empty());
    CHECK(err.find("0 turn(s) settled") != std::string::npos);
    CHECK(cli.RunJson("wal cleanup --days 30")["removed"] == 0);
    CHECK(cli.RunJson("wal cleanup --days 0")["removed"] == 2);

    const std::string bundle = dir.Sub("s1.jsonl");
    json ex = cli.RunJson("export --session s1 --output " + bundle);
    CHECK(ex["events"].get<int>() > 5);
    const std::string text = Slurp(bundle);
    CHECK(text.find("ada@example.com") == std::string::npos);
    CHECK(text.find("[REDACTED:EMAIL]") != std::string::npos);
    json im = cli.RunJson("import --file " + bundle + " --preserve-turn-id");
    const std::string sandbox = im["session_id"];
    json v = cli.RunJson("session show --session " + sandbox);
    CHECK(v["state"] == json{{"hp", 10}});
    CHECK(v["turns"][0]["turn_id"] == "t1");
    CHECK(v["header"]["sandbox"] == true);

    CHECK(cli.RunJson("snapshot delete --session s1 --snapshot " + id)["deleted"] == id);
  }

  TEST_CASE("SessionCommandsExitWithDocumentedCodes") {
    TempDir dir;
    Cli cli{dir.Sub("d")};
    REQUIRE(cli.Run("init") == 0);
    std::string out, err;
    CHECK(cli.Run("recap --session nope", &out, &err) == 7);
    CHECK(err.find("not found") != std::string::npos);
    CHECK(cli.Run("session start --tenant acme --id 'bad id'", &out, &err) == 5);
    REQUIRE(cli.Run("session start --tenant acme --id s1") == 0);
    CHECK(cli.Run("session start --tenant acme --id s1", &out, &err) == 6);
    CHECK(cli.Run("session turn --session s1 --acts '{}'", &out, &err) == 5);
    CHECK(cli.Run("snapshot restore --session s1 --snapshot nope", &out, &err) == 7);
    CHECK(cli.Run("snapshot create", &out, &err) == 4);
    CHECK(cli.Run("wal cleanup --days -1", &out, &err) == 4);
    CHECK(cli.Run("export --session s1 --output " + dir.Sub("x.jsonl") + " --strategy shred", &out,
                  &err) == 4);
    CHECK(cli.Run("import --file " + dir.Sub("missing.jsonl"), &out, &err) == 7);

    // A damaged bundle: exit 8, nothing imported, one line on stderr.
    const std::string bundle = dir.Sub("b.jsonl");
    REQUIRE(cli.Run("export --session s1 --output " + bundle) == 0);
    std::string text = Slurp(bundle);
    text[text.find("SessionStarted") + 2] ^= 0x20;
    std::ofstream(dir.Sub("bad.jsonl")) << text;
    CHECK(cli.Run("import --file " + dir.Sub("bad.jsonl"), &out, &err) == 8);
    CHECK(err.find("hash mismatch") != std::string::npos);
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
    std::ofstream(dir.Sub("cut.jsonl")) << text.substr(0, text.size() / 2);
    CHECK(cli.Run("import --file " + dir.Sub("cut.jsonl"), &out, &err) == 8);
    CHECK(err.find("truncated") != std::string::npos);
    // Over the size limit: bad input (5).
    CHECK(cli.Run("import --max-mb 0.0001 --file " + bundle, &out, &err) == 5);
    CHECK(err.find("too large") != std::string::npos);
  }
}
