#include <doctest/doctest.h>

#include "log/coding.h"
#include "log/record.h"

using namespace logbook;

namespace {

Event SampleEvent() {
  Event e;
  e.lsn = 42;
  e.stream = "session/abc";
  e.stream_version = 7;
  e.tenant = "acme";
  e.type = 101;
  e.event_id = RandomEventId();
  e.recorded_at_us = 1'795'000'000'000'000;
  e.actor = {"key:ops", Role::kOperator};
  e.prev_hash = GenesisHash("session/abc");
  e.payload = std::string("\x10\x00\x00\x00payload bytes", 17);
  return e;
}

}  // namespace

TEST_SUITE("log/record") {
  TEST_CASE("EncodedRecordDecodesToTheSameEvent") {
    Event e = SampleEvent();
    RecordEncoder enc;
    std::string rec;
    enc.Encode(e, &rec);
    Event d;
    REQUIRE(DecodeRecord(rec, &d).ok());
    CHECK(d.lsn == e.lsn);
    CHECK(d.stream == e.stream);
    CHECK(d.stream_version == e.stream_version);
    CHECK(d.tenant == e.tenant);
    CHECK(d.type == e.type);
    CHECK(d.event_id == e.event_id);
    CHECK(d.recorded_at_us == e.recorded_at_us);
    CHECK(d.actor.id == e.actor.id);
    CHECK(d.actor.role == e.actor.role);
    CHECK(d.prev_hash == e.prev_hash);
    CHECK(d.payload == e.payload);
    CHECK(d.payload_encoding == 0);
  }

  TEST_CASE("FrameLayoutMatchesTheDocumentedBytes") {
    Event e = SampleEvent();
    RecordEncoder enc;
    std::string rec;
    enc.Encode(e, &rec);
    CHECK(coding::DecodeFixed64LE(rec.data()) == RecordChecksum(rec));
    CHECK(static_cast<uint8_t>(rec[8]) == kRecordFormat);
    CHECK(static_cast<uint8_t>(rec[9]) == static_cast<uint8_t>(RecordType::kEvent));
    CHECK(rec[10] == 0);
    CHECK(rec[11] == 0);
    const uint32_t header_len = coding::DecodeFixed32LE(rec.data() + 12);
    CHECK(header_len % 8 == 0);
    CHECK(rec.size() == kRecordFrameSize + header_len + e.payload.size());
    CHECK(rec.substr(kRecordFrameSize + header_len) == e.payload);
  }

  TEST_CASE("EveryFlippedByteIsCaught") {
    Event e = SampleEvent();
    RecordEncoder enc;
    std::string rec;
    enc.Encode(e, &rec);
    for (size_t i = 0; i < rec.size(); ++i) {
      std::string bad = rec;
      bad[i] = static_cast<char>(bad[i] ^ 0x20);
      Event d;
      Status s = DecodeRecord(bad, &d);
      CHECK_MESSAGE(s.IsCorruption(), "byte " << i);
    }
  }

  TEST_CASE("TruncatedRecordIsCorruption") {
    Event e = SampleEvent();
    RecordEncoder enc;
    std::string rec;
    enc.Encode(e, &rec);
    Event d;
    CHECK(DecodeRecord(rec.substr(0, 10), &d).IsCorruption());
    CHECK(DecodeRecord(rec.substr(0, rec.size() - 1), &d).IsCorruption());
    CHECK(DecodeRecord("", &d).IsCorruption());
  }

  TEST_CASE("UnalignedRecordDecodes") {
    Event e = SampleEvent();
    RecordEncoder enc;
    std::string rec;
    enc.Encode(e, &rec);
    std::string shifted = "x" + rec;
    Event d;
    REQUIRE(DecodeRecord(std::string_view(shifted).substr(1), &d).ok());
    CHECK(d.stream == e.stream);
  }

  TEST_CASE("ChainHashCoversEverythingButTheChecksum") {
    Event e = SampleEvent();
    RecordEncoder enc;
    std::string a;
    enc.Encode(e, &a);
    std::string b = a;
    b[0] = static_cast<char>(b[0] ^ 1);  // checksum byte: not covered
    CHECK(ChainHash(a) == ChainHash(b));
    e.payload.back() = 'X';
    std::string c;
    enc.Encode(e, &c);
    CHECK(ChainHash(a) != ChainHash(c));
  }

  TEST_CASE("GenesisDependsOnTheStream") {
    CHECK(GenesisHash("a") != GenesisHash("b"));
    CHECK(GenesisHash("a") == GenesisHash("a"));
  }

  TEST_CASE("EventIdTextRoundTrip") {
    EventId id = RandomEventId();
    std::string s = EventIdToString(id);
    CHECK(s.size() == 36);
    CHECK(s[14] == '4');  // version 4
    EventId back{};
    REQUIRE(ParseEventId(s, &back));
    CHECK(back == id);
    CHECK_FALSE(ParseEventId("not-a-uuid", &back));
    CHECK_FALSE(ParseEventId("0123456789abcdef0123456789abcdeg", &back));
    REQUIRE(ParseEventId("0123456789ABCDEF0123456789abcdef", &back));
    CHECK(EventIdToString(back) == "01234567-89ab-cdef-0123-456789abcdef");
  }

  TEST_CASE("StreamAndTenantNamesAreValidated") {
    CHECK(ValidateStreamName("session/abc-1").ok());
    CHECK(ValidateStreamName("tenant/acme/costs").ok());
    CHECK(ValidateStreamName("").IsInvalidArgument());
    CHECK(ValidateStreamName("/abs").IsInvalidArgument());
    CHECK(ValidateStreamName("has space").IsInvalidArgument());
    CHECK(ValidateStreamName(std::string("nul\0x", 5)).IsInvalidArgument());
    CHECK(ValidateStreamName(std::string(kMaxStreamName + 1, 'a')).IsInvalidArgument());
    CHECK(ValidateTenantName("").ok());
    CHECK(ValidateTenantName("acme-corp").ok());
    CHECK(ValidateTenantName("a/b").IsInvalidArgument());
  }
}

TEST_CASE("GenesisValueMatchesTheDocumentedExample") {
  CHECK(HashToHex(GenesisHash("s")) ==
        "7b565d95ba4f629a4f117a2c085c84eb264a764f0d113c1269cf67f259600d01");
}
