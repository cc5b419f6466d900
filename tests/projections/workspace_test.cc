// The workspace and opt_outs views as pure folds over hand-made events.

#include "projections/workspace.h"

#include <doctest/doctest.h>

#include "engine/payload_codec.h"
#include "log/event_types.h"
#include "projections/opt_outs.h"
#include "projections/view_store.h"

using namespace logbook;

namespace {

// Builds events with real payloads, numbering LSNs and stream versions.
struct Events {
  uint64_t lsn = 0;
  std::map<std::string, uint64_t> versions;

  Event Make(const std::string& stream, const std::string& tenant, const std::string& type,
             const std::string& payload_json) {
    Event e;
    e.lsn = ++lsn;
    e.stream = stream;
    e.stream_version = ++versions[stream];
    e.tenant = tenant;
    REQUIRE(ParseEventType(type, &e.type));
    e.event_id = RandomEventId();
    e.recorded_at_us = 1000 * static_cast<int64_t>(e.lsn);
    e.actor = {"k1", Role::kOperator};
    Result<std::string> p = PayloadCodec::Encode(e.type, payload_json);
    REQUIRE_MESSAGE(p.ok(), p.status().ToString());
    e.payload = *p;
    return e;
  }
};

std::string Save(const std::string& item, const std::string& owner, const std::string& title,
                 const std::string& content) {
  return nlohmann::json{
      {"item_id", item}, {"owner", owner}, {"title", title}, {"content", content}, {"kind", "note"}}
      .dump();
}

}  // namespace

TEST_SUITE("projections/workspace") {
  TEST_CASE("ItemVersionsFollowTheirStream") {
    WorkspaceProjection p;
    MemViewTxn txn;
    Events ev;
    REQUIRE(p.Apply(ev.Make("workspace/acme/n1", "acme", "WorkspaceItemSaved",
                            Save("n1", "alice", "first", "hello")),
                    txn)
                .ok());
    REQUIRE(p.Apply(ev.Make("workspace/acme/n1", "acme", "WorkspaceItemSaved",
                            Save("n1", "alice", "second", "hello, world")),
                    txn)
                .ok());
    auto item = WorkspaceProjection::GetItem(txn, "acme", "n1").value();
    REQUIRE(item.has_value());
    CHECK(item->version == 2);
    CHECK(item->lsn == 2);
    CHECK(item->saves == 2);
    CHECK(item->title == "second");
    CHECK(item->size_bytes == 12);
    CHECK(item->owner == "alice");
    auto v1 = WorkspaceProjection::GetVersion(txn, "acme", "n1", 1).value();
    REQUIRE(v1.has_value());
    CHECK(v1->title == "first");
    CHECK(v1->lsn == 1);

    REQUIRE(p.Apply(ev.Make("workspace/acme/n1", "acme", "WorkspaceItemDeleted",
                            R"({"item_id":"n1","by":"alice"})"),
                    txn)
                .ok());
    item = WorkspaceProjection::GetItem(txn, "acme", "n1").value();
    CHECK(item->deleted);
    CHECK(item->deleted_version == 3);
    CHECK(WorkspaceProjection::ListItems(txn, "acme", "alice", false, "", 10).value().empty());
    CHECK(WorkspaceProjection::ListItems(txn, "acme", "alice", true, "", 10).value().size() == 1);
    auto versions = WorkspaceProjection::ListVersions(txn, "acme", "n1").value();
    REQUIRE(versions.size() == 3);
    CHECK(versions[2].deleted);
    // Saving again brings it back as version 4.
    REQUIRE(p.Apply(ev.Make("workspace/acme/n1", "acme", "WorkspaceItemSaved",
                            Save("n1", "alice", "back", "x")),
                    txn)
                .ok());
    item = WorkspaceProjection::GetItem(txn, "acme", "n1").value();
    CHECK_FALSE(item->deleted);
    CHECK(item->version == 4);
  }

  TEST_CASE("EventsOffTheirCanonicalStreamAreIgnored") {
    WorkspaceProjection p;
    MemViewTxn txn;
    Events ev;
    // Another tenant's name in the stream, a payload tenant that disagrees,
    // and another owner for an existing item: none of them changes the view.
    REQUIRE(p.Apply(ev.Make("workspace/globex/n1", "acme", "WorkspaceItemSaved",
                            Save("n1", "mallory", "x", "x")),
                    txn)
                .ok());
    REQUIRE(
        p.Apply(ev.Make("notes/n1", "acme", "WorkspaceItemSaved", Save("n1", "mallory", "x", "x")),
                txn)
            .ok());
    nlohmann::json tenant_mismatch = nlohmann::json::parse(Save("n2", "bob", "x", "x"));
    tenant_mismatch["tenant"] = "globex";
    REQUIRE(
        p.Apply(ev.Make("workspace/acme/n2", "acme", "WorkspaceItemSaved", tenant_mismatch.dump()),
                txn)
            .ok());
    CHECK_FALSE(WorkspaceProjection::GetItem(txn, "globex", "n1").value().has_value());
    CHECK_FALSE(WorkspaceProjection::GetItem(txn, "acme", "n1").value().has_value());
    CHECK_FALSE(WorkspaceProjection::GetItem(txn, "acme", "n2").value().has_value());

    REQUIRE(p.Apply(ev.Make("workspace/acme/n3", "acme", "WorkspaceItemSaved",
                            Save("n3", "alice", "mine", "a")),
                    txn)
                .ok());
    REQUIRE(p.Apply(ev.Make("workspace/acme/n3", "acme", "WorkspaceItemSaved",
                            Save("n3", "mallory", "stolen", "b")),
                    txn)
                .ok());
    auto item = WorkspaceProjection::GetItem(txn, "acme", "n3").value();
    CHECK(item->owner == "alice");
    CHECK(item->title == "mine");
    CHECK(item->version == 1);
  }

  TEST_CASE("PayloadsThatDoNotVerifyAreIgnored") {
    WorkspaceProjection p;
    OptOutsProjection o;
    MemViewTxn txn;
    Events ev;
    Event bad =
        ev.Make("workspace/acme/n1", "acme", "WorkspaceItemSaved", Save("n1", "a", "t", "c"));
    bad.payload = std::string(40, 'p');  // written around the engine's schema check
    CHECK(p.Apply(bad, txn).ok());
    Event bad_opt = ev.Make("tenant/acme/optouts", "acme", "OptOutSet", R"({"tenant":"acme"})");
    bad_opt.payload = "xyz";
    CHECK(o.Apply(bad_opt, txn).ok());
    CHECK(p.Dump(txn).value()["items"].empty());
    // The view goes on with the next good event.
    REQUIRE(p.Apply(ev.Make("workspace/acme/n1", "acme", "WorkspaceItemSaved",
                            Save("n1", "a", "t", "c")),
                    txn)
                .ok());
    CHECK(WorkspaceProjection::GetItem(txn, "acme", "n1").value()->version == 2);
  }

  TEST_CASE("ShareIdsBelongToTheFirstCreator") {
    WorkspaceProjection p;
    MemViewTxn txn;
    Events ev;
    const std::string share = R"({"share_id":"s1","item_id":"n1","item_version":1,"secret_id":"k1",
                                  "token_hash":"ab","expires_at_us":5000})";
    REQUIRE(
        p.Apply(ev.Make("workspace/acme/n1/shares", "acme", "ShareLinkCreated", share), txn).ok());
    // globex re-uses the id and tries to revoke it: both ignored.
    REQUIRE(p.Apply(ev.Make("workspace/globex/n1/shares", "globex", "ShareLinkCreated", share), txn)
                .ok());
    REQUIRE(p.Apply(ev.Make("workspace/globex/n1/shares", "globex", "ShareLinkRevoked",
                            R"({"share_id":"s1","item_id":"n1"})"),
                    txn)
                .ok());
    auto s = WorkspaceProjection::GetShare(txn, "s1").value();
    REQUIRE(s.has_value());
    CHECK(s->tenant == "acme");
    CHECK(s->revoked_at_us == 0);
    CHECK(s->expires_at_us == 5000);
    CHECK(WorkspaceProjection::ListShares(txn, "acme", "n1").value().size() == 1);
    CHECK(WorkspaceProjection::ListShares(txn, "globex", "n1").value().empty());
    REQUIRE(p.Apply(ev.Make("workspace/acme/n1/shares", "acme", "ShareLinkRevoked",
                            R"({"share_id":"s1","item_id":"n1","reason":"oops"})"),
                    txn)
                .ok());
    s = WorkspaceProjection::GetShare(txn, "s1").value();
    CHECK(s->revoked_at_us == 4000);  // the writer's clock of LSN 4
    CHECK(s->revoke_reason == "oops");
  }

  TEST_CASE("BookmarksAreOnePerTarget") {
    WorkspaceProjection p;
    MemViewTxn txn;
    Events ev;
    REQUIRE(p.Apply(ev.Make("bookmarks/acme/alice", "acme", "BookmarkAdded",
                            R"({"item_id":"n1","label":"a"})"),
                    txn)
                .ok());
    REQUIRE(p.Apply(ev.Make("bookmarks/acme/alice", "acme", "BookmarkAdded",
                            R"({"item_id":"n1","label":"b"})"),
                    txn)
                .ok());
    REQUIRE(p.Apply(ev.Make("bookmarks/acme/alice", "acme", "BookmarkAdded",
                            R"({"item_id":"n9","share_id":"s1"})"),
                    txn)
                .ok());
    // Another user's stream, or a user field that disagrees with the stream.
    REQUIRE(p.Apply(ev.Make("bookmarks/acme/bob", "acme", "BookmarkAdded",
                            R"({"item_id":"n2","user":"alice"})"),
                    txn)
                .ok());
    auto list = WorkspaceProjection::ListBookmarks(txn, "acme", "alice").value();
    REQUIRE(list.size() == 2);
    CHECK(list[0].bookmark_id == "i-n1");
    CHECK(list[0].label == "b");
    CHECK(list[1].bookmark_id == "s-s1");
    CHECK(list[1].share_id == "s1");
    CHECK(WorkspaceProjection::ListBookmarks(txn, "acme", "bob").value().empty());
    REQUIRE(p.Apply(ev.Make("bookmarks/acme/alice", "acme", "BookmarkRemoved",
                            R"({"bookmark_id":"i-n1","item_id":"n1"})"),
                    txn)
                .ok());
    list = WorkspaceProjection::ListBookmarks(txn, "acme", "alice").value();
    REQUIRE(list.size() == 1);
    CHECK(list[0].bookmark_id == "s-s1");
  }

  TEST_CASE("WorkspaceFoldIsDeterministic") {
    Events ev;
    std::vector<Event> events;
    for (int i = 0; i < 30; ++i) {
      const std::string item = "n" + std::to_string(i % 4);
      events.push_back(ev.Make("workspace/acme/" + item, "acme", "WorkspaceItemSaved",
                               Save(item, "u" + std::to_string(i % 4), "t", std::string(i, 'x'))));
    }
    MemViewTxn a, b;
    WorkspaceProjection p1, p2;
    for (const Event& e : events) {
      REQUIRE(p1.Apply(e, a).ok());
      REQUIRE(p2.Apply(e, b).ok());
    }
    CHECK(p1.Dump(a).value() == p2.Dump(b).value());
  }
}

TEST_SUITE("projections/opt_outs") {
  std::string Set(const std::string& id, const std::string& user, const std::string& channel,
                  int64_t expires = 0) {
    return nlohmann::json{{"opt_out_id", id},   {"tenant", "acme"},  {"user", user},
                          {"channel", channel}, {"reason", "asked"}, {"expires_at_us", expires}}
        .dump();
  }

  TEST_CASE("CheckCoversEachScope") {
    OptOutsProjection p;
    MemViewTxn txn;
    Events ev;
    const std::string s = "tenant/acme/optouts";
    REQUIRE(p.Apply(ev.Make(s, "acme", "OptOutSet", Set("o1", "alice", "")), txn).ok());
    REQUIRE(p.Apply(ev.Make(s, "acme", "OptOutSet", Set("o2", "", "whatsapp")), txn).ok());
    REQUIRE(p.Apply(ev.Make(s, "acme", "OptOutSet", Set("o3", "bob", "sms", 10000)), txn).ok());

    auto c = OptOutsProjection::Check(txn, "acme", "alice", "web", 0).value();
    REQUIRE(c.opted_out());
    CHECK(c.active[0].opt_out_id == "o1");
    CHECK(c.active[0].Scope() == "member");
    c = OptOutsProjection::Check(txn, "acme", "carol", "whatsapp", 0).value();
    REQUIRE(c.opted_out());
    CHECK(c.active[0].Scope() == "organization_channel");
    CHECK_FALSE(OptOutsProjection::Check(txn, "acme", "carol", "web", 0).value().opted_out());
    CHECK_FALSE(OptOutsProjection::Check(txn, "globex", "alice", "", 0).value().opted_out());
    // bob on sms until 10000 µs.
    CHECK(OptOutsProjection::Check(txn, "acme", "bob", "sms", 9999).value().opted_out());
    c = OptOutsProjection::Check(txn, "acme", "bob", "sms", 10000).value();
    CHECK_FALSE(c.opted_out());
    REQUIRE(c.expired.size() == 1);
    CHECK(c.expired[0].Scope() == "member_channel");
    CHECK_FALSE(OptOutsProjection::Check(txn, "acme", "bob", "web", 0).value().opted_out());

    // The whole organization.
    REQUIRE(p.Apply(ev.Make(s, "acme", "OptOutSet", Set("o4", "", "")), txn).ok());
    c = OptOutsProjection::Check(txn, "acme", "alice", "whatsapp", 0).value();
    REQUIRE(c.active.size() == 3);
    CHECK(c.active[0].Scope() == "organization");
    CHECK(c.active[1].Scope() == "organization_channel");
    CHECK(c.active[2].Scope() == "member");
  }

  TEST_CASE("ClearByIdOrScopeKeepsTheHistory") {
    OptOutsProjection p;
    MemViewTxn txn;
    Events ev;
    const std::string s = "tenant/acme/optouts";
    REQUIRE(p.Apply(ev.Make(s, "acme", "OptOutSet", Set("o1", "alice", "")), txn).ok());
    REQUIRE(p.Apply(ev.Make(s, "acme", "OptOutSet", Set("o2", "", "sms")), txn).ok());
    // A second set of the same scope replaces the first.
    REQUIRE(p.Apply(ev.Make(s, "acme", "OptOutSet", Set("o3", "alice", "")), txn).ok());
    CHECK_FALSE(OptOutsProjection::Get(txn, "acme", "o1").value().has_value());
    CHECK(OptOutsProjection::Get(txn, "acme", "o3").value()->user == "alice");
    REQUIRE(
        p.Apply(ev.Make(s, "acme", "OptOutCleared", R"({"tenant":"acme","opt_out_id":"o3"})"), txn)
            .ok());
    REQUIRE(
        p.Apply(ev.Make(s, "acme", "OptOutCleared", R"({"tenant":"acme","channel":"sms"})"), txn)
            .ok());
    REQUIRE(
        p.Apply(ev.Make(s, "acme", "OptOutCleared", R"({"tenant":"acme","user":"nobody"})"), txn)
            .ok());
    CHECK(OptOutsProjection::List(txn, "acme", "", "").value().empty());
    CHECK_FALSE(OptOutsProjection::Check(txn, "acme", "alice", "sms", 0).value().opted_out());
    uint64_t next = 0;
    auto h = OptOutsProjection::History(txn, "acme", "", "", 0, 100, &next).value();
    REQUIRE(h.size() == 6);
    CHECK(h[0].action == "set");
    CHECK(h[3].action == "cleared");
    CHECK(h[3].entry.opt_out_id == "o3");
    CHECK(h[3].matched);
    CHECK(h[4].entry.opt_out_id == "o2");
    CHECK_FALSE(h[5].matched);
    CHECK(next == 0);
    h = OptOutsProjection::History(txn, "acme", "alice", "", 0, 1, &next).value();
    REQUIRE(h.size() == 1);
    CHECK(next == 2);  // resume where the scan stopped
  }

  TEST_CASE("OptOutsOffTheirStreamAreIgnored") {
    OptOutsProjection p;
    MemViewTxn txn;
    Events ev;
    REQUIRE(p.Apply(ev.Make("tenant/globex/optouts", "acme", "OptOutSet", Set("o1", "", "")), txn)
                .ok());
    REQUIRE(p.Apply(ev.Make("misc", "acme", "OptOutSet", Set("o2", "", "")), txn).ok());
    nlohmann::json other = nlohmann::json::parse(Set("o3", "", ""));
    other["tenant"] = "globex";
    REQUIRE(p.Apply(ev.Make("tenant/acme/optouts", "acme", "OptOutSet", other.dump()), txn).ok());
    CHECK_FALSE(OptOutsProjection::Check(txn, "acme", "", "", 0).value().opted_out());
    CHECK_FALSE(OptOutsProjection::Check(txn, "globex", "", "", 0).value().opted_out());
  }
}
