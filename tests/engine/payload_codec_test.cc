#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "engine/payload_codec.h"
#include "log/event_types.h"

using namespace logbook;

namespace {
uint16_t Type(const char* name) {
  uint16_t t = 0;
  REQUIRE(ParseEventType(name, &t));
  return t;
}
}  // namespace

TEST_SUITE("engine/payload_codec") {
  TEST_CASE("JsonRoundTripsThroughFlatBuffers") {
    const uint16_t t = Type("UsageRecorded");
    auto bin = PayloadCodec::Encode(
        t, R"({"tenant":"acme","provider":"openai","model":"gpt-4o","kind":"chat",
               "tokens_in":1200,"tokens_out":300,"usd_micros":4500,"latency_ms":812,
               "success":true})");
    REQUIRE_MESSAGE(bin.ok(), bin.status().ToString());
    auto text = PayloadCodec::ToJson(t, *bin);
    REQUIRE(text.ok());
    auto j = nlohmann::json::parse(*text);
    CHECK(j["tenant"] == "acme");
    CHECK(j["tokens_in"] == 1200);
    CHECK(j["usd_micros"] == 4500);
    CHECK(j["success"] == true);
  }

  TEST_CASE("ListsAndNestedTablesRoundTrip") {
    const uint16_t t = Type("RetentionEnforced");
    auto bin = PayloadCodec::Encode(
        t, R"({"counts":[{"family":"usage","events":12},{"family":"checkpoints","events":3}],
               "held_tenants":["acme"]})");
    REQUIRE_MESSAGE(bin.ok(), bin.status().ToString());
    auto j = nlohmann::json::parse(PayloadCodec::ToJson(t, *bin).value());
    CHECK(j["counts"][1]["family"] == "checkpoints");
    CHECK(j["held_tenants"][0] == "acme");
  }

  TEST_CASE("UnknownFieldsWrongTypesAndMalformedJsonAreRejected") {
    const uint16_t t = Type("SessionStarted");
    CHECK(PayloadCodec::Encode(t, R"({"session_id":"s","bogus":1})").status().IsInvalidArgument());
    CHECK(PayloadCodec::Encode(t, R"({"session_id":12})").status().IsInvalidArgument());
    CHECK(PayloadCodec::Encode(t, R"({"session_id":"s")").status().IsInvalidArgument());
    CHECK(PayloadCodec::Encode(t, "[]").status().IsInvalidArgument());
    auto missing = PayloadCodec::Encode(t, R"({"user":"u"})");  // session_id is required
    CHECK(missing.status().IsInvalidArgument());
    CHECK(missing.status().message().find("SessionStarted") != std::string::npos);
  }

  TEST_CASE("UnknownTypeNumberIsRejected") {
    CHECK(PayloadCodec::Encode(9999, "{}").status().IsInvalidArgument());
  }

  TEST_CASE("GarbageBytesDoNotVerify") {
    const uint16_t t = Type("SessionStarted");
    CHECK(PayloadCodec::ToJson(t, std::string(40, '\xff')).status().IsCorruption());
    CHECK(PayloadCodec::ToJson(t, "").status().IsCorruption());
  }

  TEST_CASE("EveryEventTypeHasATable") {
    for (uint16_t t : AllEventTypes()) {
      // {} fails only for tables with required fields, and must say so.
      auto r = PayloadCodec::Encode(t, "{}");
      if (!r.ok()) {
        CHECK_MESSAGE(r.status().message().find("required") != std::string::npos,
                      EventTypeName(t) << ": " << r.status().ToString());
      }
    }
    CHECK(AllEventTypes().size() >= 40);
  }
}
