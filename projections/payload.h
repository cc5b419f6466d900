#pragma once
// Reading event payloads inside folds (private to projections/): the
// FlatBuffers table of an event type, verified before any field is read.

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "log/record.h"
#include "log/status.h"
#include "projections/projection.h"
#include "schemas/events_generated.h"

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

// Root<T>: the same, for folds that keep the table while they read it;
// copies the payload when its bytes are not 8-aligned.
namespace logbook::payload {

// Holds the payload bytes 8-aligned (FlatBuffers reads scalars in place) and
// returns the verified root table T, or nullptr when the payload is encrypted
// or does not verify.
template <typename T>
class Root {
 public:
  explicit Root(const Event& e) {
    if (e.payload_encoding != 0 || e.payload.size() < 8) return;
    const char* p = e.payload.data();
    if (reinterpret_cast<uintptr_t>(p) % 8 != 0) {
      copy_.resize((e.payload.size() + 7) / 8);
      std::memcpy(copy_.data(), p, e.payload.size());
      p = reinterpret_cast<const char*>(copy_.data());
    }
    const auto* bytes = reinterpret_cast<const uint8_t*>(p);
    flatbuffers::Verifier v(bytes, e.payload.size());
    if (!v.VerifyBuffer<T>(nullptr)) return;
    table_ = flatbuffers::GetRoot<T>(bytes);
  }
  const T* get() const { return table_; }
  const T* operator->() const { return table_; }
  explicit operator bool() const { return table_ != nullptr; }

 private:
  std::vector<uint64_t> copy_;
  const T* table_ = nullptr;
};

inline std::string Str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

inline std::vector<std::string> Strings(
    const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* v) {
  std::vector<std::string> out;
  if (v == nullptr) return out;
  out.reserve(v->size());
  for (const auto* s : *v) out.push_back(Str(s));
  return out;
}

}  // namespace logbook::payload
