#pragma once
// Reading an event's payload inside a fold: the FlatBuffers table of its type,
// verified before any field is touched (a payload written by a newer or buggy
// writer must not crash a fold).
//
// Private to projections/.

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "log/record.h"
#include "schemas/events_generated.h"

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
