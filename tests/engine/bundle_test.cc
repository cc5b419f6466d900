// Session bundles: export → import round trips, and every kind of damaged
// or tampered bundle is rejected whole, writing nothing.

#include "engine/bundle.h"

#include <doctest/doctest.h>

#include <sstream>

#include "engine/engine.h"
#include "projections/sessions.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;

namespace {

const Actor kAdmin{"admin-key", Role::kAdmin};

struct Env {
  TempDir dir;
  std::unique_ptr<Engine> engine;
  Env() {
    EngineOptions o;
    o.data_dir = dir.Sub("data");
    o.run_projector_thread = false;
    engine = std::move(Engine::Open(o).value());
  }
  Sessions& s() { return engine->sessions(); }
  void Append(const std::string& sid, const std::string& type, const json& payload) {
    Result<AppendResult> r = engine->AppendJson(
        "session/" + sid, "acme", kAdmin, ExpectedVersion::Any(), {{type, "", payload.dump()}});
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  }
  // A session with personal data in every place a string can hide.
  void BuildSession(const std::string& sid) {
    StartSessionInput in;
    in.session_id = sid;
    in.user = "ada@example.com";
    in.metadata_json = R"({"ip":"10.1.2.3"})";
    REQUIRE(s().Start("acme", kAdmin, in).ok());
    auto turn = [&](const std::string& id, const std::string& acts, const std::string& awf) {
      Result<TurnOutcome> o = s().SubmitTurn(kAdmin, {sid, id, awf, acts});
      REQUIRE_MESSAGE(o.ok(), o.status().ToString());
    };
    turn("t1", R"([{"op":"add","path":"/player","value":{"email":"ada@example.com","hp":10}}])",
         R"({"txt":"Ada (ada@example.com) joins from 10.1.2.3, see [Source Title]."})");
    Append(sid, "MemoryPinned", {{"pin_id", "p1"}, {"text", "call her at +1 415-555-0100"}});
    Append(sid, "EpisodicAdded",
           {{"episode_id", "e1"},
            {"text", "paid with 4111 1111 1111 1111"},
            {"salience", 0.8},
            {"turn_id", "t1"}});
    Append(sid, "ObjectiveSet",
           {{"objective_id", "o1"},
            {"text", "reset key sk-ant-api03-Abcdefghijklmnopqrstuvwxyz0123"},
            {"priority", 1}});
    const std::string snap =
        s().CreateSnapshot(kAdmin, sid, "mail ada@example.com").value().snapshot["snapshot_id"];
    turn("t2", R"([{"op":"replace","path":"/player/hp","value":3}])", R"({"txt":"ouch"})");
    turn("t3", R"([{"op":"test","path":"/player/hp","value":99}])", "");  // rolled back
    REQUIRE(s().RestoreSnapshot(kAdmin, sid, snap).ok());
    turn(
        "t4",
        R"([{"op":"add","path":"/note","value":"token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghijk"}])",
        "");
    REQUIRE(s().CreateSnapshot(kAdmin, sid, "end").ok());
  }
  std::string Export(const std::string& sid, ExportOptions o = {}) {
    std::ostringstream out;
    Result<ExportSummary> r = ExportSession(*engine, sid, out, o);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    return out.str();
  }
  Result<ImportSummary> Import(const std::string& bundle, ImportOptions o = {}) {
    return ImportSession(
        *engine, kAdmin, [bundle] { return std::make_unique<std::istringstream>(bundle); }, o);
  }
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

// Re-seals a bundle whose lines were edited: a tamperer who knows the format.
std::string Reseal(std::vector<std::string> lines) {
  json m = json::parse(lines.back());
  lines.pop_back();
  std::string body;
  m["line_hashes"] = json::array();
  for (const auto& l : lines) {
    body += l + "\n";
    m["line_hashes"].push_back(Blake2b256Hex(l));
  }
  m["body_hash"] = Blake2b256Hex(body);
  return body + CanonicalJson(m) + "\n";
}

}  // namespace

TEST_CASE("ExportThenImportGivesASandboxEqualToTheRedactedSource") {
  Env env;
  env.BuildSession("src");
  const std::string bundle = env.Export("src");
  for (const char* secret : {"ada@example.com", "10.1.2.3", "415-555-0100", "4111 1111",
                             "sk-ant-api03", "eyJhbGciOiJIUzI1NiJ9"}) {
    CAPTURE(secret);
    CHECK(bundle.find(secret) == std::string::npos);
  }
  CHECK(bundle.find("[Source Title]") != std::string::npos);

  // Expected: the source view with the same redaction applied.
  json expected = json::parse(env.s().CanonicalView("src").value());
  Redactor::Builtin().RedactJson(expected);

  ImportOptions o;
  o.preserve_turn_ids = true;
  Result<ImportSummary> r = env.Import(bundle, o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->session_id != "src");
  CHECK(r->source_session_id == "src");
  CHECK(r->tenant == "acme");
  CHECK(env.s().CanonicalView(r->session_id).value() == CanonicalJson(expected));
  json h = env.s().Header(r->session_id).value();
  CHECK(h["sandbox"] == true);
  CHECK(h["imported_from_session_id"] == "src");
  CHECK(h["user"] == "[REDACTED:EMAIL]");
  CHECK(env.s().ListSnapshots(r->session_id).value()["snapshots"].size() ==
        env.s().ListSnapshots("src").value()["snapshots"].size());
  json wal = env.s().ListWal(r->session_id).value()["entries"];
  REQUIRE(wal.size() == 4);
  CHECK(wal[2]["turn_id"] == "t3");
  CHECK(wal[2]["status"] == "rolled_back");
  for (const json& e : wal) CHECK_FALSE(e.contains("hash_mismatch"));

  // Redaction is idempotent: exporting the sandbox gives the same events.
  const std::string again = env.Export(r->session_id);
  CHECK(again.find("[REDACTED:EMAIL]") != std::string::npos);

  // Without --preserve-turn-id the sandbox gets new turn ids, same state.
  Result<ImportSummary> fresh = env.Import(bundle);
  REQUIRE(fresh.ok());
  json view = json::parse(env.s().CanonicalView(fresh->session_id).value());
  CHECK(view["state"] == expected["state"]);
  REQUIRE(view["turns"].size() == expected["turns"].size());
  CHECK(view["turns"][0]["turn_id"] != "t1");
  CHECK(view["last_turn_id"] == view["turns"].back()["turn_id"]);
}

TEST_CASE("ExportWithoutRedactionKeepsTheDataAndImportsEqual") {
  Env env;
  env.BuildSession("src");
  ExportOptions eo;
  eo.redact = false;
  const std::string bundle = env.Export("src", eo);
  CHECK(bundle.find("ada@example.com") != std::string::npos);
  ImportOptions o;
  o.preserve_turn_ids = true;
  Result<ImportSummary> r = env.Import(bundle, o);
  REQUIRE(r.ok());
  CHECK(env.s().CanonicalView(r->session_id).value() == env.s().CanonicalView("src").value());
}

TEST_CASE("DamagedOrTamperedBundlesAreRejectedWholeWithTheReason") {
  Env env;
  env.BuildSession("src");
  const std::string good = env.Export("src");
  const std::vector<std::string> lines = Lines(good);
  REQUIRE(lines.size() > 8);
  const uint64_t lsn = env.engine->log().LastLsn();

  auto expect = [&](const std::string& bundle, Status::Code code, const std::string& words,
                    ImportOptions o = {}) {
    Result<ImportSummary> r = env.Import(bundle, o);
    REQUIRE_FALSE(r.ok());
    CAPTURE(r.status().ToString());
    CHECK(r.status().code() == code);
    CHECK(r.status().message().find(words) != std::string::npos);
    CHECK(env.engine->log().LastLsn() == lsn);  // nothing written
  };

  SUBCASE("truncated mid-line") {
    expect(good.substr(0, good.size() / 2), Status::Code::kCorruption, "truncated");
  }
  SUBCASE("truncated at a line boundary") {
    std::string cut;
    for (size_t i = 0; i + 1 < lines.size(); ++i) cut += lines[i] + "\n";
    expect(cut, Status::Code::kCorruption, "truncated");
  }
  SUBCASE("flipped byte") {
    std::string bad = good;
    const size_t at = good.find("ouch");
    REQUIRE(at != std::string::npos);
    bad[at] ^= 0x01;
    expect(bad, Status::Code::kCorruption, "hash mismatch");
  }
  SUBCASE("wrong hash in the manifest") {
    json m = json::parse(lines.back());
    m["line_hashes"][3] = Blake2b256Hex("something else");
    std::string bad;
    for (size_t i = 0; i + 1 < lines.size(); ++i) bad += lines[i] + "\n";
    expect(bad + CanonicalJson(m) + "\n", Status::Code::kCorruption, "line 4: hash mismatch");
  }
  SUBCASE("wrong body hash") {
    json m = json::parse(lines.back());
    m["body_hash"] = Blake2b256Hex("x");
    std::string bad;
    for (size_t i = 0; i + 1 < lines.size(); ++i) bad += lines[i] + "\n";
    expect(bad + CanonicalJson(m) + "\n", Status::Code::kCorruption, "body hash");
  }
  SUBCASE("wrong format version") {
    std::vector<std::string> l = lines;
    json h = json::parse(l[0]);
    h["format_version"] = 2;
    l[0] = CanonicalJson(h);
    expect(Reseal(l), Status::Code::kInvalidArgument, "format_version 2");
  }
  SUBCASE("oversized") {
    ImportOptions o;
    o.max_bytes = good.size() / 2;
    Result<ImportSummary> r = env.Import(good, o);
    REQUIRE_FALSE(r.ok());
    CHECK(IsBundleTooLarge(r.status()));
    CHECK(env.engine->log().LastLsn() == lsn);
  }
  SUBCASE("tampered state with resealed hashes") {
    std::vector<std::string> l = lines;
    bool done = false;
    for (auto& line : l) {
      json j = json::parse(line);
      if (!done && j.value("type", "") == "TurnProposed") {
        j["payload"]["acts_json"] = R"([{"op":"add","path":"/player","value":{"hp":9999}}])";
        line = CanonicalJson(j);
        done = true;
      }
    }
    REQUIRE(done);
    expect(Reseal(l), Status::Code::kCorruption, "does not match the folded state");
  }
  SUBCASE("unknown event type with resealed hashes") {
    std::vector<std::string> l = lines;
    json j = json::parse(l[2]);
    j["type"] = "UsageRecorded";
    l[2] = CanonicalJson(j);
    expect(Reseal(l), Status::Code::kInvalidArgument, "not a session event type");
  }
  SUBCASE("data after the manifest") {
    expect(good + lines[1] + "\n", Status::Code::kCorruption, "after the manifest");
  }
  SUBCASE("not a bundle") {
    expect("{\"hello\":1}\n", Status::Code::kInvalidArgument, "not a logbook session bundle");
  }
}

TEST_CASE("ExportRefusesToGrowPastTheSizeLimit") {
  Env env;
  env.BuildSession("src");
  ExportOptions o;
  o.max_bytes = 1024;
  std::ostringstream out;
  Result<ExportSummary> r = ExportSession(*env.engine, "src", out, o);
  REQUIRE_FALSE(r.ok());
  CHECK(IsBundleTooLarge(r.status()));
  CHECK(ExportSession(*env.engine, "nope", out, {}).status().IsNotFound());
}
