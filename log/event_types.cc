#include "log/event_types.h"

#include "schemas/events_generated.h"

namespace logbook {

bool IsKnownEventType(uint16_t type) {
  if (type == 0) return false;
  for (fb::EventType t : fb::EnumValuesEventType()) {
    if (static_cast<uint16_t>(t) == type) return true;
  }
  return false;
}

std::string EventTypeName(uint16_t type) {
  if (IsKnownEventType(type)) return fb::EnumNameEventType(static_cast<fb::EventType>(type));
  return "unknown:" + std::to_string(type);
}

bool ParseEventType(std::string_view name, uint16_t* out) {
  for (fb::EventType t : fb::EnumValuesEventType()) {
    if (t != fb::EventType::Unknown && name == fb::EnumNameEventType(t)) {
      *out = static_cast<uint16_t>(t);
      return true;
    }
  }
  return false;
}

std::vector<uint16_t> AllEventTypes() {
  std::vector<uint16_t> out;
  for (fb::EventType t : fb::EnumValuesEventType()) {
    if (t != fb::EventType::Unknown) out.push_back(static_cast<uint16_t>(t));
  }
  return out;
}

}  // namespace logbook
