#include <doctest/doctest.h>

#include <random>

#include "engine/engine.h"
#include "log/event_types.h"
#include "projections/stream_stats.h"
#include "projections/view_store.h"
#include "tests/test_util.h"

using namespace logbook;
using namespace logbook::test;

namespace {

std::unique_ptr<Engine> OpenEngine(const std::string& dir, bool thread = true,
                                   bool catch_up = true) {
  EngineOptions o;
  o.data_dir = dir;
  o.run_projector_thread = thread;
  o.catch_up_views = catch_up;
  Result<std::unique_ptr<Engine>> e = Engine::Open(o);
  REQUIRE_MESSAGE(e.ok(), e.status().ToString());
  return std::move(e).value();
}

nlohmann::json StoredView(Engine& e, std::string_view name) {
  auto reader = NewRocksViewReader(e.log().db(), e.log().views_cf(), name);
  Projection* p = e.projector().Find(name);
  REQUIRE(p != nullptr);
  return p->Dump(*reader).value();
}

// Appends a random workload over a few tenants, streams, actors and types.
void RandomWorkload(Engine& e, std::mt19937& rng, int appends) {
  const std::vector<uint16_t> types = AllEventTypes();
  for (int i = 0; i < appends; ++i) {
    const int s = static_cast<int>(rng() % 12);
    AppendRequest r;
    r.stream = "stream/" + std::to_string(s);
    r.tenant = "tenant" + std::to_string(s % 3);
    r.actor = {"actor" + std::to_string(rng() % 4), Role::kOperator};
    const size_t n = 1 + rng() % 4;
    for (size_t k = 0; k < n; ++k) {
      NewEvent ne;
      ne.type = types[rng() % types.size()];
      ne.payload = std::string(rng() % 64, 'p');
      r.events.push_back(std::move(ne));
    }
    REQUIRE(e.log().Append(std::move(r)).ok());
  }
}

}  // namespace

TEST_SUITE("engine/engine") {
  TEST_CASE("AppendJsonValidatesEveryEventBeforeWritingAny") {
    TempDir dir;
    auto e = OpenEngine(dir.path());
    Actor a{"tester", Role::kOperator};
    std::vector<EventInput> events = {
        {"SessionStarted", "", R"({"session_id":"s1","tenant":"acme"})"},
        {"TurnProposed", "", R"({"turn_id":"1","bogus":true})"}};
    Result<AppendResult> r = e->AppendJson("session/s1", "acme", a, ExpectedVersion::Any(), events);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().IsInvalidArgument());
    CHECK(r.status().message().find("event 2") != std::string::npos);
    CHECK(e->log().LastLsn() == 0);

    events[1] = {"NoSuchType", "", "{}"};
    CHECK(e->AppendJson("session/s1", "acme", a, ExpectedVersion::Any(), events)
              .status()
              .message()
              .find("unknown event type 'NoSuchType'") != std::string::npos);
    events[1] = {"TurnProposed", "not-a-uuid", R"({"turn_id":"1"})"};
    CHECK(e->AppendJson("session/s1", "acme", a, ExpectedVersion::Any(), events)
              .status()
              .IsInvalidArgument());
    CHECK(e->log().LastLsn() == 0);

    events[1] = {"TurnProposed", "3f2b8c4e-9a1d-4e5f-8b7a-1c2d3e4f5a6b", R"({"turn_id":"1"})"};
    r = e->AppendJson("session/s1", "acme", a, ExpectedVersion::NoStream(), events);
    REQUIRE(r.ok());
    CHECK(EventIdToString(r->event_ids[1]) == "3f2b8c4e-9a1d-4e5f-8b7a-1c2d3e4f5a6b");
    Event stored = e->log().ReadEvent(2).value();
    nlohmann::json j = Engine::EventToJson(stored);
    CHECK(j["type"] == "TurnProposed");
    CHECK(j["payload"]["turn_id"] == "1");
    CHECK(j["tenant"] == "acme");
    CHECK(j["actor"]["id"] == "tester");
    CHECK(j["event_id"] == "3f2b8c4e-9a1d-4e5f-8b7a-1c2d3e4f5a6b");
  }

  TEST_CASE("EventJsonIsValidForAnyActorBytes") {
    TempDir dir;
    auto e = OpenEngine(dir.path());
    AppendRequest r = MakeRequest("s", 1);
    r.actor.id = std::string("a\"b\\c\x01\xff\xc3\xa9", 9);
    REQUIRE(e->log().Append(r).ok());
    const std::string text = Engine::EventToJsonText(e->log().ReadEvent(1).value());
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    CHECK(j["actor"]["id"] == "a\"b\\c\u0001\xef\xbf\xbd\xc3\xa9");
    CHECK(j["version"] == 1);
  }

  TEST_CASE("UnknownTypeFromANewerWriterIsShownRaw") {
    TempDir dir;
    auto e = OpenEngine(dir.path());
    AppendRequest r = MakeRequest("s", 1);
    r.events[0].type = 65000;
    r.events[0].payload = "\x01\x02";
    REQUIRE(e->log().Append(r).ok());
    nlohmann::json j = Engine::EventToJson(e->log().ReadEvent(1).value());
    CHECK(j["type"] == "unknown:65000");
    CHECK(j["payload_base64"] == "AQI=");
  }

  TEST_CASE("ProjectionsEqualARebuildFromScratchAfterRandomWorkloads") {
    TempDir dir;
    std::mt19937 rng(12345);
    for (int round = 0; round < 3; ++round) {
      // Alternate: live projector thread, then views left behind and caught up on open.
      auto e = OpenEngine(dir.path(), /*thread=*/round % 2 == 0, /*catch_up=*/true);
      RandomWorkload(*e, rng, 150);
      if (round % 2 == 0) {
        REQUIRE(e->WaitForViews(e->log().LastLsn(), std::chrono::seconds(30)).ok());
      }
    }
    auto e = OpenEngine(dir.path());
    const uint64_t last = e->log().LastLsn();
    REQUIRE(e->WaitForViews(last, std::chrono::seconds(30)).ok());
    for (const auto& p : e->projector().projections()) {
      nlohmann::json live = StoredView(*e, p->name());
      nlohmann::json replayed = e->ReplayView(p->name(), last).value()["state"];
      CHECK_MESSAGE(live == replayed, p->name());
    }
    nlohmann::json before = StoredView(*e, "stream_stats");
    e->projector().Stop();
    REQUIRE(e->projector().Reset("").ok());
    CHECK(e->projector().AppliedLsn() == 0);
    REQUIRE(e->projector().CatchUp().ok());
    CHECK(StoredView(*e, "stream_stats") == before);
    // The counts add up to the number of events.
    uint64_t total = 0;
    for (auto& [tenant, types] : before["counts"].items()) {
      for (auto& [type, n] : types.items()) total += n.get<uint64_t>();
    }
    CHECK(total == last);
  }

  TEST_CASE("ViewsResumeFromTheirCheckpointAfterRestart") {
    TempDir dir;
    {
      auto e = OpenEngine(dir.path(), /*thread=*/false);
      REQUIRE(e->log().Append(MakeRequest("s", 5)).ok());
      REQUIRE(e->projector().CatchUp().ok());
      CHECK(e->projector().AppliedLsn() == 5);
      REQUIRE(e->log().Append(MakeRequest("s", 3)).ok());
      CHECK(e->projector().AppliedLsn() == 5);  // no thread: left behind
    }
    auto e = OpenEngine(dir.path(), /*thread=*/false);
    CHECK(e->projector().AppliedLsn() == 8);
    auto head = StreamStatsProjection::GetHead(
        *NewRocksViewReader(e->log().db(), e->log().views_cf(), "stream_stats"), "s");
    REQUIRE(head.ok());
    REQUIRE(head->has_value());
    CHECK((*head)->version == 8);
    CHECK((*head)->tenant == "t1");
  }

  TEST_CASE("ReadYourWritesWaitsForTheProjector") {
    TempDir dir;
    auto e = OpenEngine(dir.path());
    Result<AppendResult> r = e->log().Append(MakeRequest("s", 2));
    REQUIRE(r.ok());
    REQUIRE(e->WaitForViews(r->last_lsn, std::chrono::seconds(10)).ok());
    CHECK(e->projector().AppliedLsn() >= r->last_lsn);
    CHECK(e->WaitForViews(r->last_lsn + 100, std::chrono::milliseconds(30)).code() ==
          Status::Code::kTimedOut);
  }

  TEST_CASE("AuditQueryByTenantActorTypeAndTime") {
    TempDir dir;
    auto e = OpenEngine(dir.path());
    Actor alice{"alice", Role::kAdmin};
    Actor bob{"bob", Role::kOperator};
    REQUIRE(e->AppendJson("s/1", "acme", alice, ExpectedVersion::Any(),
                          {{"HoldApplied", "", R"({"tenant":"acme","reason":"lawsuit"})"}})
                .ok());
    const int64_t mid = NowMicros();
    REQUIRE(e->AppendJson("s/2", "acme", bob, ExpectedVersion::Any(),
                          {{"SessionClosed", "", "{}"}, {"SessionClosed", "", "{}"}})
                .ok());
    REQUIRE(e->AppendJson("s/3", "globex", alice, ExpectedVersion::Any(),
                          {{"SessionClosed", "", "{}"}})
                .ok());
    REQUIRE(e->WaitForViews(4, std::chrono::seconds(10)).ok());
    uint16_t closed = 0;
    REQUIRE(ParseEventType("SessionClosed", &closed));

    AuditQuery q;
    q.tenant = "acme";
    CHECK(e->QueryAudit(q)->size() == 3);
    q.actor = "alice";
    auto hits = e->QueryAudit(q).value();
    REQUIRE(hits.size() == 1);
    CHECK(hits[0].lsn == 1);
    AuditQuery by_type;
    by_type.type = closed;
    CHECK(e->QueryAudit(by_type)->size() == 3);
    by_type.tenant = "globex";
    CHECK(e->QueryAudit(by_type)->size() == 1);
    AuditQuery by_time;
    by_time.from_us = mid;
    CHECK(e->QueryAudit(by_time)->size() == 3);
    by_time.from_us = 0;
    by_time.to_us = mid;
    CHECK(e->QueryAudit(by_time)->size() == 1);
    AuditQuery limited;
    limited.limit = 2;
    CHECK(e->QueryAudit(limited)->size() == 2);
  }

  TEST_CASE("ReplayShowsAStreamAndAViewAsOfAnLsnOrATime") {
    TempDir dir;
    auto e = OpenEngine(dir.path());
    REQUIRE(e->log().Append(MakeRequest("s", 2)).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const int64_t between = NowMicros();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    REQUIRE(e->log().Append(MakeRequest("s", 3)).ok());

    auto s = e->ReplayStream("s", 2).value();
    CHECK(s["version"] == 2);
    CHECK(s["events"].size() == 2);
    CHECK(e->ReplayStream("s", 100).value()["version"] == 5);
    CHECK(e->ReplayStream("nope", 5).status().IsNotFound());

    CHECK(e->LsnAtTime(between).value() == 2);
    CHECK(e->LsnAtTime(0).value() == 0);
    CHECK(e->LsnAtTime(NowMicros()).value() == 5);

    auto v = e->ReplayView("stream_stats", 2).value();
    CHECK(v["state"]["streams"]["s"]["version"] == 2);
    CHECK(e->ReplayView("nope", 2).status().IsNotFound());
  }

  TEST_CASE("TimestampsParseAndFormat") {
    int64_t us = 0;
    REQUIRE(ParseTimestamp("2026-11-26T07:24:03Z", &us));
    CHECK(FormatTimestamp(us) == "2026-11-26T07:24:03.000000Z");
    REQUIRE(ParseTimestamp("2026-11-26T07:24:03.5Z", &us));
    CHECK(us % 1000000 == 500000);
    REQUIRE(ParseTimestamp("1795678472939095", &us));
    CHECK(us == 1795678472939095);
    REQUIRE(ParseTimestamp("2026-11-26", &us));
    CHECK_FALSE(ParseTimestamp("yesterday", &us));
    CHECK_FALSE(ParseTimestamp("2026-13-01T00:00:00Z", &us));
    CHECK_FALSE(ParseTimestamp("2026-11-26T07:24:03+02:00", &us));
  }
}
