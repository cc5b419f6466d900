#pragma once
// Reading event payloads inside folds (private to projections/): the
// FlatBuffers table of an event type, verified before any field is read.

#include <flatbuffers/flatbuffers.h>

#include <string>

#include "log/record.h"
#include "log/status.h"
#include "projections/projection.h"

namespace logbook {

// The payload of `e` as table T, or null when the bytes do not verify.
// Payload strings are heap or in-object std::string storage, aligned enough
// for the tables' 8-byte scalars.
//
// Folds ignore an event whose payload does not verify: the engine's append
// path checks every payload against its schema, so such an event was written
// around it (Log::Append takes any bytes), and it is not an event of its type.
// Stopping the view on it would let one such event block every later one;
// stored bytes that changed after the write fail the record checksum first.
template <typename T>
const T* DecodePayload(const Event& e) {
  if (!PayloadReadable(e)) return nullptr;  // sealed: its tenant key was destroyed
  const auto* data = reinterpret_cast<const uint8_t*>(e.payload.data());
  if (e.payload.size() < 8) {
    // An empty table ("{}") is still a valid FlatBuffer of 12+ bytes; shorter is garbage.
    return nullptr;
  }
  flatbuffers::Verifier v(data, e.payload.size());
  if (!v.VerifyBuffer<T>(nullptr)) return nullptr;
  return flatbuffers::GetRoot<T>(data);
}

inline std::string Str(const flatbuffers::String* s) { return s == nullptr ? "" : s->str(); }

// A payload's own tenant field, when set, must name the envelope's tenant.
inline bool TenantAgrees(const flatbuffers::String* payload_tenant, const Event& e) {
  return payload_tenant == nullptr || payload_tenant->size() == 0 ||
         payload_tenant->string_view() == e.tenant;
}

}  // namespace logbook
