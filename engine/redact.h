#pragma once
// Redactor: removes personal data and secrets from the strings of exported
// payloads (docs/operations.md "Export and import").
//
// A rule is a name, an ECMAScript regular expression, a strategy and an
// optional validator. Built-in rules, applied in this order: PEM private
// keys, JWTs, Anthropic and OpenAI API keys, AWS keys, URLs, e-mails, credit
// cards (Luhn-checked), SSNs, phone numbers, IPv4 addresses. Strategies:
//   label    "[REDACTED:EMAIL]"
//   mask     every character becomes '*'
//   partial  '*' except the last 4 characters (short matches: all '*')
// Text inside "[...]" (a citation such as "[Source Title]", or an earlier
// label) is never touched, and no strategy's output matches a rule again, so
// redacting twice changes nothing.
//
// std::regex matches recursively, so a long input would exhaust the stack:
// regex rules run over pieces of at most kRedactPiece bytes, cut after a
// newline or whitespace where possible. A match that would straddle a cut
// (only possible in strings longer than a piece) is not found.
//
// Rules are extended or adjusted by a JSON file:
//   {"strategy": "label",                       // default for every rule (optional)
//    "rules": [{"name": "EMPLOYEE_ID", "pattern": "\\bEMP-[0-9]{6}\\b",
//               "strategy": "partial", "validator": "luhn"},   // a new rule
//              {"name": "PHONE", "strategy": "mask"},           // a built-in, restyled
//              {"name": "IPV4", "enabled": false}]}             // a built-in, off
//
// Thread-safety: const methods are safe from any thread.

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "log/status.h"

namespace logbook {

constexpr size_t kRedactPiece = 8192;

enum class RedactStrategy : uint8_t { kLabel = 0, kMask = 1, kPartial = 2 };
std::string_view RedactStrategyName(RedactStrategy s);
bool ParseRedactStrategy(std::string_view name, RedactStrategy* out);

// Luhn checksum over the digits of `text` (other characters ignored); false
// for fewer than 13 or more than 19 digits.
bool LuhnValid(std::string_view text);

struct RedactionRule {
  std::string name;  // [A-Z0-9_]+, shown in labels
  std::string pattern;
  RedactStrategy strategy = RedactStrategy::kLabel;
  std::string validator;  // "" or "luhn"
  std::regex re;
  // PEM blocks are found by hand over the whole string (they are long and
  // span lines); every other rule runs its regex over pieces of the string.
  bool pem = false;
  // Prefilter of the built-in rules (a regex search costs far more): the
  // text holds one of `needles` (when any are given) and at least
  // `min_digits` digits, or the rule cannot match and is skipped.
  std::vector<std::string> needles;
  size_t min_digits = 0;
};

// How many matches each rule replaced.
using RedactionCounts = std::map<std::string, uint64_t>;

class Redactor {
 public:
  // The built-in rules, every one with `strategy`.
  static Redactor Builtin(RedactStrategy strategy = RedactStrategy::kLabel);
  // Applies a rules document (see above). kInvalidArgument names the problem.
  Status Configure(std::string_view json_text);
  Status ConfigureFile(const std::string& path);
  void SetStrategy(RedactStrategy s);

  std::string RedactString(std::string_view s, RedactionCounts* counts = nullptr) const;
  // Every string and object key of `j`, recursively. Values of fields named
  // *_id or *_hash are identifiers and are left as they are; strings of
  // fields named *_json that hold JSON are redacted inside that document.
  void RedactJson(nlohmann::json& j, RedactionCounts* counts = nullptr) const;

  const std::vector<RedactionRule>& rules() const { return rules_; }
  std::vector<std::string> RuleNames() const;

 private:
  std::vector<RedactionRule> rules_;
};

}  // namespace logbook
