// Runs the real `logbook` binary and checks outputs and exit codes.

#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "log/log.h"
#include "log/keyring.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;

namespace {

// Like test::Cli, with text on stdin instead of environment variables.
struct PipeCli {
  std::string dir;
  int Run(const std::string& args, std::string* out = nullptr, std::string* err = nullptr,
          const std::string& stdin_text = "") const {
    std::string cmd;
    if (!stdin_text.empty()) cmd = "printf '%s' '" + stdin_text + "' | ";
    cmd += CliPath() + " --data-dir " + dir + " " + args;
    std::string o, e;
    int rc = RunCommand(cmd, &o, &e);
    if (out) *out = o;
    if (err) *err = e;
    return rc;
  }
};

size_t Lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST_SUITE("tools/cli") {
  TEST_CASE("HelpAndUsageErrors") {
    TempDir dir;
    PipeCli cli{dir.Sub("d")};
    std::string out, err;
    CHECK(cli.Run("--help", &out) == 0);
    CHECK(out.find("append") != std::string::npos);
    CHECK(cli.Run("audit verify --help", &out) == 0);
    CHECK(cli.Run("", &out, &err) == 4);
    CHECK(cli.Run("append --no-such-flag", &out, &err) == 4);
    CHECK(err.find("logbook: usage:") == 0);
    CHECK(Lines(err) == 1);
  }

  TEST_CASE("MissingDataDirectoryIsNotFound") {
    TempDir dir;
    PipeCli cli{dir.Sub("absent")};
    std::string err;
    CHECK(cli.Run("read", nullptr, &err) == 7);
    CHECK(err.find("logbook init") != std::string::npos);
    CHECK(cli.Run("append --stream s --type SessionClosed", nullptr, &err) == 7);
  }

  TEST_CASE("InitAppendReadAuditRoundTrip") {
    TempDir dir;
    PipeCli cli{dir.Sub("d")};
    std::string out, err;
    REQUIRE(cli.Run("init", &out, &err) == 0);
    CHECK(out.find("initialised") != std::string::npos);
    CHECK(cli.Run("init", &out) == 0);
    CHECK(out.find("already") != std::string::npos);

    REQUIRE(cli.Run("append --stream session/1 --tenant acme --expected-version no_stream "
                    "--type SessionStarted --payload '{\"session_id\":\"1\"}'",
                    &out, &err) == 0);
    auto r = nlohmann::json::parse(out);
    CHECK(r["first_lsn"] == 1);
    CHECK(r["version"] == 1);

    const std::string lines =
        "{\"type\":\"MemoryPinned\",\"payload\":{\"text\":\"likes tea\"},"
        "\"event_id\":\"11111111-2222-4333-8444-555555555555\"}\n"
        "{\"type\":\"ObjectiveSet\",\"payload\":{\"text\":\"ship\",\"priority\":1}}\n";
    REQUIRE(cli.Run("append --stream session/1 --tenant acme --expected-version 1", &out, &err,
                    lines) == 0);
    r = nlohmann::json::parse(out);
    CHECK(r["first_lsn"] == 2);
    CHECK(r["last_lsn"] == 3);

    // Same event ids again: the original result, nothing new written.
    const std::string retry =
        "{\"type\":\"MemoryPinned\",\"payload\":{\"text\":\"likes tea\"},"
        "\"event_id\":\"11111111-2222-4333-8444-555555555555\"}\n";
    REQUIRE(cli.Run("append --stream session/1 --tenant acme", &out, &err, retry) == 0);
    r = nlohmann::json::parse(out);
    CHECK(r["deduplicated"] == true);
    CHECK(r["first_lsn"] == 2);

    REQUIRE(cli.Run("read", &out) == 0);
    CHECK(Lines(out) == 3);
    REQUIRE(cli.Run("read --stream session/1 --from-version 2 --limit 1", &out) == 0);
    CHECK(Lines(out) == 1);
    CHECK(nlohmann::json::parse(out)["payload"]["text"] == "likes tea");
    CHECK(cli.Run("read --stream session/none", &out, &err) == 7);
    REQUIRE(cli.Run("tail -n 2", &out) == 0);
    CHECK(Lines(out) == 2);

    REQUIRE(cli.Run("audit verify", &out, &err) == 0);
    CHECK(out.find("3 records") != std::string::npos);
    CHECK(out.find("clean") != std::string::npos);
    REQUIRE(cli.Run("audit query --tenant acme --type MemoryPinned --events", &out) == 0);
    CHECK(Lines(out) == 1);
    REQUIRE(cli.Run("stats", &out) == 0);
    CHECK(nlohmann::json::parse(out)["last_lsn"] == 3);
    REQUIRE(cli.Run("projections status", &out) == 0);
    CHECK(out.find("audit_index") != std::string::npos);
    REQUIRE(cli.Run("projections rebuild", &out) == 0);
    CHECK(out.find("LSN 3") != std::string::npos);
    REQUIRE(cli.Run("replay --stream session/1 --as-of-lsn 2", &out) == 0);
    CHECK(nlohmann::json::parse(out)["version"] == 2);
    REQUIRE(cli.Run("replay --view stream_stats", &out) == 0);
    CHECK(nlohmann::json::parse(out)["state"]["streams"]["session/1"]["version"] == 3);
  }

  TEST_CASE("BadInputGetsOneLineAndADocumentedExitCode") {
    TempDir dir;
    PipeCli cli{dir.Sub("d")};
    REQUIRE(cli.Run("init") == 0);
    std::string out, err;
    CHECK(cli.Run("append --stream s", &out, &err, "{not json\n") == 5);
    CHECK(err.find("line 1: malformed JSON") != std::string::npos);
    CHECK(Lines(err) == 1);
    CHECK(cli.Run("append --stream s --type Nope", &out, &err) == 5);
    CHECK(err.find("unknown event type 'Nope'") != std::string::npos);
    CHECK(cli.Run("append --stream s --type SessionClosed --payload '{\"x\":1}'", &out, &err) == 5);
    CHECK(cli.Run("append --stream 'bad stream' --type SessionClosed", &out, &err) == 5);
    CHECK(cli.Run("append --stream s --type SessionClosed --expected-version soon", &out, &err) == 4);
    REQUIRE(cli.Run("append --stream s --type SessionClosed", &out, &err) == 0);
    CHECK(cli.Run("append --stream s --type SessionClosed --expected-version no_stream", &out, &err) == 6);
    CHECK(err.find("actual version 1") != std::string::npos);
    CHECK(cli.Run("replay --stream s --as-of yesterday", &out, &err) == 4);
    CHECK(cli.Run("audit query --type Nope", &out, &err) == 5);
    REQUIRE(cli.Run("read", &out) == 0);
    CHECK(Lines(out) == 1);  // nothing of the failures was written
  }

  TEST_CASE("InitEncryptsByDefaultAndKeysRotateRewrapsTheKeys") {
    TempDir dir;
    PipeCli cli{dir.Sub("d")};
    std::string out, err;
    REQUIRE(cli.Run("init", &out) == 0);
    CHECK(out.find("encryption: tenants' payloads are encrypted") != std::string::npos);
    CHECK(std::filesystem::exists(dir.Sub("d.keys/master.key")));
    REQUIRE(cli.Run("append --stream s/1 --tenant acme --type SessionClosed "
                    "--payload '{\"reason\":\"cli-secret\"}'") == 0);
    REQUIRE(cli.Run("keys rotate", &out, &err) == 0);
    CHECK(out.find("rotated master key 1 -> 2") != std::string::npos);
    REQUIRE(cli.Run("read --stream s/1", &out) == 0);
    CHECK(out.find("cli-secret") != std::string::npos);
    // Without its key directory the log is readable only as sealed bytes.
    CHECK(cli.Run("--key-dir " + dir.Sub("nowhere") + " append --stream s/1 --tenant acme "
                  "--type SessionClosed", &out, &err) == 7);
    CHECK(err.find("refusing to write plaintext") != std::string::npos);

    Cli plain{dir.Sub("p")};
    REQUIRE(plain.Run("--no-encryption init", &out) == 0);
    CHECK(out.find("encryption: off") != std::string::npos);
    CHECK(!std::filesystem::exists(dir.Sub("p.keys")));
    CHECK(plain.Run("keys rotate", &out, &err) == 7);
  }

  TEST_CASE("AuditVerifyExitsEightOnAFlippedByte") {
    TempDir dir;
    PipeCli cli{dir.Sub("d")};
    REQUIRE(cli.Run("init") == 0);
    for (int i = 0; i < 3; ++i) {
      REQUIRE(cli.Run("append --stream s --type SessionClosed --payload '{\"reason\":\"r\"}'") == 0);
    }
    {
      // `init` made an encrypted log: it opens for writing only with its keys.
      auto ring = KeyRing::Open(cli.dir + ".keys");
      REQUIRE(ring.ok());
      LogOptions o = TestLogOptions(cli.dir);
      o.keyring = ring->get();
      auto log = Log::Open(o);
      REQUIRE(log.ok());
      FlipRecordByte(**log, 2, RawRecord(**log, 2).size() - 2);
    }
    std::string out, err;
    CHECK(cli.Run("audit verify", &out, &err) == 8);
    CHECK(err.find("LSN 2") != std::string::npos);
    CHECK(err.find("checksum mismatch") != std::string::npos);
    CHECK(out.find("problem") != std::string::npos);
    // Opening for other work refuses the damaged log, naming the record.
    CHECK(cli.Run("read", &out, &err) == 8);
    CHECK(err.find("LSN 2") != std::string::npos);
  }
}
