#pragma once
// PayloadCodec: event payloads between JSON and FlatBuffers, driven by the
// schema text embedded in the binary (schemas/events.fbs). No hand-written
// mapping per event type: flatbuffers::Parser parses JSON against the table
// named after the event type (rejecting unknown fields and wrong types) and
// GenerateText prints stored payloads back as strict JSON.
//
// Thread-safety: static functions, safe from any thread (each thread keeps
// its own parser).

#include <cstdint>
#include <string>
#include <string_view>

#include "log/status.h"

namespace logbook {

class PayloadCodec {
 public:
  // JSON object text -> FlatBuffers bytes of the event type's table.
  // kInvalidArgument names the type and what the parser rejected.
  static Result<std::string> Encode(uint16_t type, std::string_view json);
  // Verifies the bytes against the schema and prints them as compact JSON.
  static Result<std::string> ToJson(uint16_t type, std::string_view payload);
};

}  // namespace logbook
