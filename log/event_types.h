#pragma once
// Names of event types (schemas/events.fbs, enum EventType).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace logbook {

// "SessionStarted", or "unknown:<n>" for a number this build does not know.
std::string EventTypeName(uint16_t type);
// Exact, case-sensitive name. Returns false for unknown names and "Unknown".
bool ParseEventType(std::string_view name, uint16_t* out);
bool IsKnownEventType(uint16_t type);
// Every known type number, ascending (excluding 0).
std::vector<uint16_t> AllEventTypes();

}  // namespace logbook
