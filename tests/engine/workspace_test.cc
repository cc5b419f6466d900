// WorkspaceService, OptOutService and ShareSecrets over a real engine in a
// temp directory, with an injected clock.

#include "engine/workspace.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <sstream>

#include "engine/opt_outs.h"
#include "projections/view_store.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;
using nlohmann::json;

namespace {

constexpr int64_t kSecond = 1000000;
constexpr int64_t kStart = int64_t{1800000000} * kSecond;

struct Env {
  TempDir dir;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<ShareSecrets> secrets;
  std::unique_ptr<WorkspaceService> ws;
  std::unique_ptr<OptOutService> optouts;
  std::shared_ptr<std::atomic<int64_t>> now = std::make_shared<std::atomic<int64_t>>(kStart);
  Actor actor{"tester", Role::kOperator};

  explicit Env(size_t max_content = 64) { Open(max_content); }

  void Open(size_t max_content = 64) {
    EngineOptions eo;
    eo.data_dir = dir.Sub("data");
    engine = std::move(Engine::Open(eo).value());
    secrets = std::move(ShareSecrets::OpenOrCreate(dir.Sub("secret.json"), *now).value());
    WorkspaceOptions wo;
    wo.max_content_bytes = max_content;
    auto clock = now;
    wo.clock = [clock] { return clock->load(); };
    ws = std::make_unique<WorkspaceService>(*engine, secrets.get(), wo);
    OptOutOptions oo;
    oo.clock = wo.clock;
    optouts = std::make_unique<OptOutService>(*engine, oo);
  }
  void Close() {
    ws.reset();
    optouts.reset();
    secrets.reset();
    engine.reset();
  }

  Result<json> Run(Result<PlannedAppend> p) {
    if (!p.ok()) return p.status();
    return SubmitAndWait(*engine, std::move(p).value(), actor);
  }
  Result<json> Save(const std::string& user, const std::string& item, json content,
                    std::optional<uint64_t> expected = {}) {
    SaveItemInput in;
    in.tenant = "acme";
    in.user = user;
    in.item_id = item;
    in.title = "t";
    in.content = std::move(content);
    in.expected_version = expected;
    return Run(ws->PlanSave(in));
  }
  json Share(const std::string& item, uint64_t version = 0, int64_t ttl = 0) {
    Result<json> r = Run(ws->PlanCreateShare("acme", "alice", item, version, ttl));
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    return *r;
  }
};

}  // namespace

TEST_SUITE("engine/workspace") {
  TEST_CASE("ContentLimitIsExactInBytes") {
    Env env(8);
    // "héllo" is 6 bytes: é takes two.
    CHECK(WorkspaceService::ContentBytes(json("h\xc3\xa9llo")) == 6);
    CHECK(WorkspaceService::ContentBytes(json{{"a", 1}}) == 7);  // {"a":1}
    CHECK(env.Save("alice", "n1", std::string(8, 'x')).ok());
    Result<json> r = env.Save("alice", "n1", std::string(9, 'x'));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().IsInvalidArgument());
    CHECK(r.status().message().find("9 bytes; the limit is 8") != std::string::npos);
    CHECK(env.Save("alice", "n2", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9").ok());         // 8 bytes
    CHECK_FALSE(env.Save("alice", "n2", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x").ok());  // 9
    CHECK(env.Save("alice", "n3", json{{"k", 10}}).ok());         // {"k":10}: 8 bytes
    CHECK_FALSE(env.Save("alice", "n4", json{{"k", 100}}).ok());  // {"k":100}: 9
  }

  TEST_CASE("SavesAreVersionsAndLoadReturnsTheLatest") {
    Env env(1024);
    Result<json> r = env.Save("alice", "n1", "one");
    REQUIRE(r.ok());
    CHECK((*r)["version"] == 1);
    CHECK((*r)["created"] == true);
    r = env.Save("alice", "n1", json{{"two", 2}});
    REQUIRE(r.ok());
    CHECK((*r)["version"] == 2);
    CHECK((*r)["created"] == false);
    json item = env.ws->GetItem("acme", "alice", "n1").value();
    CHECK(item["version"] == 2);
    CHECK(item["content"] == json{{"two", 2}});
    CHECK(env.ws->GetItem("acme", "alice", "n1", 1).value()["content"] == "one");
    CHECK(env.ws->GetItem("acme", "alice", "n1", 3).status().IsNotFound());
    // Another user, another tenant: not found.
    CHECK(env.ws->GetItem("acme", "bob", "n1").status().IsNotFound());
    CHECK(env.ws->GetItem("globex", "alice", "n1").status().IsNotFound());
    // Optimistic concurrency.
    r = env.Save("alice", "n1", "three", 1);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().IsConflict());
    CHECK(r.status().actual_version() == 2);
    CHECK(env.Save("alice", "n1", "three", 2).ok());
    // Another user may not take the id.
    CHECK(env.Save("bob", "n1", "mine").status().IsInvalidArgument());

    r = env.Run(env.ws->PlanDelete("acme", "alice", "n1", {}));
    REQUIRE(r.ok());
    CHECK((*r)["version"] == 4);
    CHECK(env.ws->GetItem("acme", "alice", "n1").status().IsNotFound());
    CHECK(env.ws->GetItem("acme", "alice", "n1", 2).ok());  // history stays readable
    CHECK(env.ws->GetItem("acme", "alice", "n1", 4).status().IsNotFound());
    json versions = env.ws->ListVersions("acme", "alice", "n1").value();
    REQUIRE(versions["versions"].size() == 4);
    CHECK(versions["versions"][3]["action"] == "deleted");
    CHECK(env.ws->ListItems("acme", "alice", false, "", 10).value()["items"].empty());
    CHECK(env.ws->ListItems("acme", "alice", true, "", 10).value()["items"].size() == 1);
  }

  TEST_CASE("ShareLinksExpireAreRevokedAndCannotBeForged") {
    Env env(1024);
    REQUIRE(env.Save("alice", "n1", "v1").ok());
    REQUIRE(env.Save("alice", "n1", "v2").ok());
    json link = env.Share("n1", 1, 60 * kSecond);
    const std::string token = link["token"];
    json open = env.ws->OpenShare(token).value();
    CHECK(open["content"] == "v1");
    CHECK(open["version"] == 1);
    CHECK(open["read_only"] == true);
    CHECK_FALSE(open.contains("user"));

    // Forged: another MAC, another share id, garbage.
    std::string forged = token;
    forged.back() = forged.back() == 'A' ? 'B' : 'A';
    CHECK(env.ws->OpenShare(forged).status().message() == "share link not found");
    std::string other_id = token;
    other_id[0] = other_id[0] == 'a' ? 'b' : 'a';
    CHECK(env.ws->OpenShare(other_id).status().IsNotFound());
    CHECK(env.ws->OpenShare("nope").status().IsNotFound());

    // Expiry is judged by the clock.
    env.now->fetch_add(60 * kSecond - 1);
    CHECK(env.ws->OpenShare(token).ok());
    env.now->fetch_add(1);
    Result<json> expired = env.ws->OpenShare(token);
    CHECK(expired.status().IsNotFound());
    CHECK(expired.status().message() == "share link not found");
    json shares = env.ws->ListShares("acme", "alice", "n1").value();
    CHECK(shares["shares"][0]["status"] == "expired");

    // Revoked.
    json link2 = env.Share("n1");
    const std::string token2 = link2["token"];
    REQUIRE(env.ws->OpenShare(token2).ok());
    CHECK(env.Run(env.ws->PlanRevokeShare("globex", "alice", link2["share_id"], ""))
              .status()
              .IsNotFound());
    REQUIRE(env.Run(env.ws->PlanRevokeShare("acme", "alice", link2["share_id"], "oops")).ok());
    CHECK(env.ws->OpenShare(token2).status().message() == "share link not found");

    // Deleting the item closes its links.
    json link3 = env.Share("n1");
    REQUIRE(env.ws->OpenShare(link3["token"]).ok());
    REQUIRE(env.Run(env.ws->PlanDelete("acme", "alice", "n1", {})).ok());
    CHECK(env.ws->OpenShare(link3["token"]).status().IsNotFound());
  }

  TEST_CASE("SecretRotationWithAndWithoutGrace") {
    Env env(1024);
    REQUIRE(env.Save("alice", "n1", "v1").ok());
    const std::string t1 = env.Share("n1")["token"];
    // No grace: old links stop at once; new links work.
    json rot = env.Run(env.ws->RotateSecret(0, "admin")).value();
    CHECK(rot["previous_valid_until"].is_null());
    CHECK(env.ws->OpenShare(t1).status().IsNotFound());
    const std::string t2 = env.Share("n1")["token"];
    CHECK(env.ws->OpenShare(t2).ok());
    // With grace: old links work until the grace ends.
    rot = env.Run(env.ws->RotateSecret(30 * kSecond, "admin")).value();
    CHECK_FALSE(rot["previous_valid_until"].is_null());
    CHECK(env.ws->OpenShare(t2).ok());
    env.now->fetch_add(30 * kSecond);
    CHECK(env.ws->OpenShare(t2).status().IsNotFound());
    CHECK(env.ws->OpenShare(env.Share("n1")["token"].get<std::string>()).ok());

    // The secret never reaches the log; the file is 0600.
    struct stat st;
    REQUIRE(::stat(env.secrets->path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    std::ifstream f(env.secrets->path());
    std::stringstream text;
    text << f.rdbuf();
    const std::string key = json::parse(text.str())["secrets"].back()["key"];
    CHECK(key.size() == 64);
    const std::vector<Event> events = env.engine->log().ReadAll(1, 1000).value();
    for (const Event& e : events) {
      CHECK(Engine::EventToJsonText(e).find(key) == std::string::npos);
      CHECK(e.payload.find(t2) == std::string::npos);
    }
  }

  TEST_CASE("ARotationByAnotherProcessIsPickedUpAndRecordedOnce") {
    Env env(1024);
    REQUIRE(env.Save("alice", "n1", "v1").ok());
    const std::string t1 = env.Share("n1")["token"];
    // The server records its first secret once.
    auto first = env.ws->SyncSecret().value();
    REQUIRE(first.has_value());
    REQUIRE(SubmitAndWait(*env.engine, std::move(*first), env.actor).ok());
    CHECK_FALSE(env.ws->SyncSecret().value().has_value());
    // Another process rotates the file (the CLI does exactly this).
    auto other = ShareSecrets::Open(env.secrets->path()).value();
    ShareSecretRotation r = other->Rotate(0, env.now->load()).value();
    auto sync = env.ws->SyncSecret().value();
    REQUIRE(sync.has_value());
    json rec = SubmitAndWait(*env.engine, std::move(*sync), env.actor).value();
    CHECK(rec["secret_id"] == r.secret_id);
    CHECK(rec["previous_secret_id"] == r.previous_secret_id);
    CHECK(env.secrets->current_id() == r.secret_id);
    CHECK(env.ws->OpenShare(t1).status().IsNotFound());
    // Recording it again (a restarted server, a retry) writes nothing new.
    WorkspaceService restarted(*env.engine, env.secrets.get(), {});
    auto again = restarted.SyncSecret().value();
    REQUIRE(again.has_value());
    json rec2 = SubmitAndWait(*env.engine, std::move(*again), env.actor).value();
    CHECK(rec2["recorded_before"] == true);
    CHECK(rec2["lsn"] == rec["lsn"]);
  }

  TEST_CASE("BookmarksOfItemsAndLinks") {
    Env env(1024);
    REQUIRE(env.Save("alice", "n1", "v1").ok());
    REQUIRE(env.Save("alice", "n2", "v1").ok());
    const std::string token = env.Share("n2")["token"];
    CHECK(env.Run(env.ws->PlanAddBookmark("acme", "alice", "n1", "", "first")).ok());
    CHECK(env.Run(env.ws->PlanAddBookmark("acme", "alice", "n1", "", "again")).ok());
    CHECK(env.Run(env.ws->PlanAddBookmark("acme", "bob", "", token, "alice's")).ok());
    // Not bob's item; a forged token; neither or both targets.
    CHECK(env.Run(env.ws->PlanAddBookmark("acme", "bob", "n1", "", "")).status().IsNotFound());
    CHECK(
        env.Run(env.ws->PlanAddBookmark("acme", "bob", "", token + "x", "")).status().IsNotFound());
    CHECK(env.Run(env.ws->PlanAddBookmark("acme", "bob", "", "", "")).status().IsInvalidArgument());

    json a = env.ws->ListBookmarks("acme", "alice").value();
    REQUIRE(a["bookmarks"].size() == 1);
    CHECK(a["bookmarks"][0]["label"] == "again");
    CHECK(a["bookmarks"][0]["status"] == "active");
    json b = env.ws->ListBookmarks("acme", "bob").value();
    REQUIRE(b["bookmarks"].size() == 1);
    CHECK(b["bookmarks"][0]["kind"] == "share");
    CHECK(b["bookmarks"][0]["status"] == "active");
    env.now->fetch_add(25 * 3600 * kSecond);  // past the default 24 h TTL
    b = env.ws->ListBookmarks("acme", "bob").value();
    CHECK(b["bookmarks"][0]["status"] == "unavailable");

    const std::string id = a["bookmarks"][0]["bookmark_id"];
    CHECK(env.Run(env.ws->PlanRemoveBookmark("acme", "alice", id)).ok());
    CHECK(env.Run(env.ws->PlanRemoveBookmark("acme", "alice", id)).status().IsNotFound());
    CHECK(env.ws->ListBookmarks("acme", "alice").value()["bookmarks"].empty());
  }

  TEST_CASE("ViewsRebuildToTheSameState") {
    Env env(1024);
    REQUIRE(env.Save("alice", "n1", "v1").ok());
    REQUIRE(env.Save("alice", "n1", "v2").ok());
    env.Share("n1");
    REQUIRE(env.Run(env.ws->PlanAddBookmark("acme", "alice", "n1", "", "x")).ok());
    OptOutInput in;
    in.tenant = "acme";
    in.user = "alice";
    in.expires_at_us = kStart + kSecond;
    REQUIRE(env.Run(env.optouts->PlanSet(in)).ok());
    auto dump = [&](std::string_view view) {
      REQUIRE(env.engine->WaitForViews(env.engine->log().LastLsn(), std::chrono::seconds(5)).ok());
      auto reader = NewRocksViewReader(env.engine->log().db(), env.engine->log().views_cf(), view);
      return env.engine->projector().Find(view)->Dump(*reader).value();
    };
    const json ws = dump("workspace"), oo = dump("opt_outs");
    CHECK(ws["items"].size() == 1);
    REQUIRE(env.engine->projector().Reset("").ok());
    CHECK(dump("workspace") == ws);
    CHECK(dump("opt_outs") == oo);
  }
}

TEST_SUITE("engine/share_secrets") {
  TEST_CASE("TheSecretFileIsCheckedOnLoadAndPrunedOnRotation") {
    TempDir dir;
    const std::string path = dir.Sub("s.json");
    auto write = [&](const std::string& text) {
      std::ofstream(path) << text;
      ::chmod(path.c_str(), 0600);  // a wider mode is accepted with a warning
    };
    write("not json");
    Result<std::unique_ptr<ShareSecrets>> r = ShareSecrets::Open(path);
    CHECK(r.status().IsCorruption());
    CHECK(r.status().message().find(path) != std::string::npos);
    write(R"({"format":1,"secrets":[{"id":"0011223344556677","key":"zz","created_at_us":1,)"
          R"("not_after_us":0}]})");
    CHECK(ShareSecrets::Open(path).status().IsCorruption());
    write(R"({"format":1,"secrets":[{"id":"0011223344556677","key":")" + std::string(64, 'a') +
          R"(","created_at_us":1,"not_after_us":5}]})");
    CHECK(ShareSecrets::Open(path).status().IsCorruption());  // no current secret
    write(R"({"format":2,"secrets":[]})");
    CHECK(ShareSecrets::Open(path).status().IsInvalidArgument());
    CHECK(ShareSecrets::Open(dir.Sub("absent.json")).status().IsNotFound());

    std::remove(path.c_str());
    auto s = ShareSecrets::OpenOrCreate(path, 1000).value();
    const std::string first = s->current_id();
    CHECK(s->List().size() == 1);
    // A rotation with grace keeps the old secret until then; the next one drops it.
    s->Rotate(100, 2000).value();
    CHECK(s->List().size() == 2);
    CHECK(s->Usable(first, 2099));
    CHECK_FALSE(s->Usable(first, 2100));
    const ShareSecretRotation r2 = s->Rotate(0, 3000).value();
    CHECK(s->List().size() == 1);  // the first expired, the second retired without grace
    CHECK(s->LastRotation().previous_secret_id == r2.previous_secret_id);
    // Another instance sees the same file.
    auto other = ShareSecrets::Open(path).value();
    CHECK(other->current_id() == r2.secret_id);
    ShareMac mac;
    std::string id;
    s->Sign("message", &id, &mac);
    CHECK(other->Verify(id, "message", mac, 3000));
    CHECK_FALSE(other->Verify(id, "massage", mac, 3000));
    CHECK_FALSE(other->Verify(first, "message", mac, 3000));
  }
}

TEST_SUITE("engine/opt_outs") {
  TEST_CASE("EachScopeAndChannelAndExpiryAcrossARestart") {
    Env env;
    auto set = [&](const std::string& user, const std::string& channel, int64_t expires = 0) {
      OptOutInput in;
      in.tenant = "acme";
      in.user = user;
      in.channel = channel;
      in.reason = "asked to stop";
      in.expires_at_us = expires;
      in.by = "staff-1";
      Result<json> r = env.Run(env.optouts->PlanSet(in));
      REQUIRE_MESSAGE(r.ok(), r.status().ToString());
      return *r;
    };
    auto opted = [&](const std::string& user, const std::string& channel) {
      return env.optouts->Check("acme", user, channel).value()["opted_out"].get<bool>();
    };
    set("alice", "");
    set("", "whatsapp");
    set("bob", "sms", kStart + 10 * kSecond);
    CHECK(opted("alice", ""));
    CHECK(opted("alice", "web"));
    CHECK(opted("carol", "whatsapp"));
    CHECK_FALSE(opted("carol", "web"));
    CHECK_FALSE(opted("", ""));
    CHECK(opted("bob", "sms"));
    CHECK_FALSE(opted("bob", "web"));
    json c = env.optouts->Check("acme", "alice", "web").value();
    CHECK(c["because"]["scope"] == "member");
    CHECK(c["because"]["reason"] == "asked to stop");
    CHECK(c["because"]["by"] == "staff-1");
    CHECK_FALSE(env.optouts->Check("globex", "alice", "").value()["opted_out"].get<bool>());
    // In the past: refused.
    OptOutInput past;
    past.tenant = "acme";
    past.expires_at_us = kStart - 1;
    CHECK(env.optouts->PlanSet(past).status().IsInvalidArgument());

    // Restart: the view is on disk and the answers are the same.
    env.Close();
    env.Open();
    CHECK(opted("alice", "web"));
    CHECK(opted("carol", "whatsapp"));
    CHECK(opted("bob", "sms"));

    // bob's expires: ignored by the check, kept for audit.
    env.now->store(kStart + 10 * kSecond);
    c = env.optouts->Check("acme", "bob", "sms").value();
    CHECK_FALSE(c["opted_out"].get<bool>());
    REQUIRE(c["expired"].size() == 1);
    CHECK(env.optouts->List("acme", "", "", false).value()["opt_outs"].size() == 2);
    json all = env.optouts->List("acme", "", "", true).value()["opt_outs"];
    REQUIRE(all.size() == 3);

    // The whole organization, then cleared by id and by scope.
    json org = set("", "");
    CHECK(opted("dave", ""));
    REQUIRE(
        env.Run(env.optouts->PlanClearId("acme", org["opt_out_id"], "re-enabled", "staff-2")).ok());
    CHECK_FALSE(opted("dave", ""));
    REQUIRE(env.Run(env.optouts->PlanClearScope("acme", "alice", "", "", "staff-2")).ok());
    CHECK_FALSE(opted("alice", "web"));
    CHECK(env.optouts->PlanClearScope("acme", "alice", "", "", "").status().IsNotFound());
    CHECK(env.optouts->PlanClearId("acme", "nope", "", "").status().IsNotFound());

    json h = env.optouts->History("acme", "", "", 0, 100).value()["history"];
    REQUIRE(h.size() == 6);
    CHECK(h[4]["action"] == "cleared");
    CHECK(h[4]["scope"] == "organization");
    CHECK(h[5]["user"] == "alice");
  }
}
