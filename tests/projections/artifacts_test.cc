// The artifacts fold: tiers, the (tier, time in tier) index, per-tenant
// totals, and the events it must ignore.

#include "projections/artifacts.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "engine/payload_codec.h"
#include "log/event_types.h"
#include "projections/view_store.h"

using namespace logbook;
using nlohmann::json;

namespace {

struct Folder {
  ArtifactsProjection p;
  MemViewTxn txn;
  uint64_t lsn = 0;
  std::map<std::string, uint64_t> versions;

  void Apply(const std::string& type, json payload, const std::string& tenant,
             const std::string& stream = "") {
    Event e;
    e.lsn = ++lsn;
    e.stream =
        stream.empty() ? ArtifactStream(tenant, payload["artifact_id"].get<std::string>()) : stream;
    e.stream_version = ++versions[e.stream];
    e.tenant = tenant;
    REQUIRE(ParseEventType(type, &e.type));
    e.actor = {"k1", Role::kCompliance};
    e.recorded_at_us = 1;
    e.payload = PayloadCodec::Encode(e.type, payload.dump()).value();
    REQUIRE(p.Apply(e, txn).ok());
  }
  void Stored(const std::string& tenant, const std::string& id, int64_t at, uint64_t bytes = 10,
              const std::string& tier = "hot") {
    Apply("ArtifactStored",
          {{"tenant", tenant},
           {"artifact_id", id},
           {"workflow", "wf"},
           {"bytes", bytes},
           {"content_hash", std::string(64, '0')},
           {"tier", tier},
           {"stored_at_us", at}},
          tenant);
  }
  void Moved(const std::string& tenant, const std::string& id, const std::string& from,
             const std::string& to, int64_t at) {
    Apply("ArtifactMoved",
          {{"tenant", tenant},
           {"artifact_id", id},
           {"from_tier", from},
           {"to_tier", to},
           {"moved_at_us", at}},
          tenant);
  }
  ArtifactEntry Get(const std::string& tenant, const std::string& id) {
    auto a = ArtifactsProjection::Get(txn, tenant, id);
    REQUIRE(a.ok());
    REQUIRE(a->has_value());
    return **a;
  }
  std::vector<std::string> Due(const std::string& tier, int64_t at_most) {
    std::vector<std::string> out;
    REQUIRE(ArtifactsProjection::ScanDue(txn, tier, at_most, [&](const ArtifactEntry& a) {
              out.push_back(a.tenant + "/" + a.artifact_id);
              return true;
            }).ok());
    return out;
  }
};

}  // namespace

TEST_SUITE("projections/artifacts") {
  TEST_CASE("TiersIndexAndTotalsFollowTheEvents") {
    Folder f;
    f.Stored("acme", "b", 200, 5);
    f.Stored("acme", "a", 100, 7);
    f.Stored("globex", "a", 150, 11);
    CHECK(f.Due("hot", 150) == std::vector<std::string>{"acme/a", "globex/a"});
    CHECK(f.Due("hot", 99).empty());
    CHECK(f.Due("hot", 1000).size() == 3);

    f.Moved("acme", "a", "hot", "warm", 300);
    ArtifactEntry a = f.Get("acme", "a");
    CHECK(a.tier == "warm");
    CHECK(a.tier_since_us == 300);
    CHECK(a.stored_at_us == 100);
    CHECK(a.tier_lsn == 4);
    CHECK(a.version == 2);
    CHECK(f.Due("hot", 1000) == std::vector<std::string>{"globex/a", "acme/b"});
    CHECK(f.Due("warm", 300) == std::vector<std::string>{"acme/a"});

    f.Apply("ArtifactRestored",
            {{"tenant", "acme"},
             {"artifact_id", "a"},
             {"from_tier", "warm"},
             {"to_tier", "hot"},
             {"restored_at_us", 400}},
            "acme");
    CHECK(f.Get("acme", "a").tier == "hot");
    CHECK(f.Due("warm", 1000).empty());

    f.Moved("globex", "a", "hot", "cold", 500);
    f.Apply(
        "ArtifactPurged",
        {{"tenant", "globex"}, {"artifact_id", "a"}, {"from_tier", "cold"}, {"purged_at_us", 600}},
        "globex");
    ArtifactEntry g = f.Get("globex", "a");
    CHECK(g.purged);
    CHECK(g.purged_at_us == 600);
    CHECK(f.Due("cold", 1000).empty());

    auto sum = ArtifactsProjection::Summary(f.txn, "");
    REQUIRE(sum.ok());
    REQUIRE(sum->size() == 2);
    CHECK((*sum)[0].tenant == "acme");
    CHECK((*sum)[0].hot.count == 2);
    CHECK((*sum)[0].hot.bytes == 12);
    CHECK((*sum)[0].warm.count == 0);
    CHECK((*sum)[1].tenant == "globex");
    CHECK((*sum)[1].cold.count == 0);
    CHECK((*sum)[1].purged.count == 1);
    CHECK((*sum)[1].purged.bytes == 11);
    CHECK(ArtifactsProjection::Summary(f.txn, "globex")->size() == 1);
  }

  TEST_CASE("EventsThatDoNotFitAreIgnored") {
    Folder f;
    f.Stored("acme", "a", 100);
    const json before = f.p.Dump(f.txn).value();
    // A second store, a move from the wrong tier, an unknown tier, the wrong
    // stream, a payload naming another tenant, an event for an unknown artifact.
    f.Stored("acme", "a", 999, 1, "cold");
    f.Moved("acme", "a", "warm", "cold", 200);
    f.Moved("acme", "a", "hot", "frozen", 200);
    f.Apply("ArtifactMoved", {{"artifact_id", "a"}, {"from_tier", "hot"}, {"to_tier", "warm"}},
            "acme", "artifact/a");
    f.Apply("ArtifactMoved",
            {{"tenant", "globex"}, {"artifact_id", "a"}, {"from_tier", "hot"}, {"to_tier", "warm"}},
            "acme");
    f.Moved("acme", "nope", "hot", "warm", 200);
    f.Stored("", "x", 1);
    CHECK(f.p.Dump(f.txn).value() == before);
    // Nothing after a purge counts.
    f.Apply("ArtifactPurged", {{"artifact_id", "a"}, {"from_tier", "hot"}}, "acme");
    const json purged = f.p.Dump(f.txn).value();
    f.Apply("ArtifactRestored", {{"artifact_id", "a"}, {"from_tier", "hot"}}, "acme");
    f.Apply("ArtifactPurged", {{"artifact_id", "a"}, {"from_tier", "hot"}}, "acme");
    CHECK(f.p.Dump(f.txn).value() == purged);
  }
}
