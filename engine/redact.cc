#include "engine/redact.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "projections/sessions.h"

namespace logbook {

using nlohmann::json;

std::string_view RedactStrategyName(RedactStrategy s) {
  switch (s) {
    case RedactStrategy::kLabel:
      return "label";
    case RedactStrategy::kMask:
      return "mask";
    case RedactStrategy::kPartial:
      return "partial";
  }
  return "label";
}

bool ParseRedactStrategy(std::string_view name, RedactStrategy* out) {
  for (auto s : {RedactStrategy::kLabel, RedactStrategy::kMask, RedactStrategy::kPartial}) {
    if (name == RedactStrategyName(s)) {
      *out = s;
      return true;
    }
  }
  return false;
}

bool LuhnValid(std::string_view text) {
  std::string digits;
  for (char c : text) {
    if (c >= '0' && c <= '9') digits.push_back(c);
  }
  if (digits.size() < 13 || digits.size() > 19) return false;
  int sum = 0;
  bool dbl = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    int d = *it - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

namespace {

struct BuiltinRule {
  const char* name;
  const char* pattern;
  const char* validator;
  std::vector<std::string> needles;  // the prefilter (RedactionRule)
  size_t min_digits;
};

// Order matters: a longer, more specific form goes before the forms it
// contains (a URL before the e-mail or address inside it, a card number
// before the phone number its digits also look like).
const BuiltinRule kBuiltin[] = {
    {"PRIVATE_KEY",
     R"(-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----)",
     "",
     {"PRIVATE KEY"},
     0},
    {"JWT", R"(\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})", "", {"eyJ"}, 0},
    {"ANTHROPIC_KEY", R"(\bsk-ant-[A-Za-z0-9_-]{20,})", "", {"sk-ant-"}, 0},
    {"OPENAI_KEY", R"(\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,})", "", {"sk-"}, 0},
    {"AWS_KEY",
     R"(\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b|\baws_secret_access_key\s*[=:]\s*["']?[A-Za-z0-9/+=]{40})",
     "",
     {"AKIA", "ASIA", "AGPA", "AIDA", "AROA", "aws_secret_access_key"},
     0},
    {"URL", R"(\b(?:https?|ftp)://[^\s<>"'\[\]]+)", "", {"://"}, 0},
    {"EMAIL",
     R"(\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b)",
     "",
     {"@"},
     0},
    {"CREDIT_CARD", R"(\b(?:\d[ -]?){12,18}\d\b)", "luhn", {}, 13},
    {"SSN", R"(\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b)", "", {"-"}, 9},
    {"PHONE",
     R"((?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)[ .-]?|\b\d{3}[ .-])\d{3}[ .-]\d{4}\b|\+\d{1,3}(?:[ .-]\d{2,5}){2,5}\b)",
     "",
     {},
     5},
    {"IPV4",
     R"(\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b)",
     "",
     {"."},
     4},
};

Result<std::regex> Compile(const std::string& name, const std::string& pattern) {
  try {
    return std::regex(pattern, std::regex::ECMAScript | std::regex::optimize);
  } catch (const std::regex_error& e) {
    return Status::InvalidArgument("redaction rule " + name + ": bad pattern: " + e.what());
  }
}

bool ValidName(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

std::string Replacement(const RedactionRule& r, std::string_view match) {
  switch (r.strategy) {
    case RedactStrategy::kLabel:
      return "[REDACTED:" + r.name + "]";
    case RedactStrategy::kMask:
      return std::string(std::max<size_t>(match.size(), 4), '*');
    case RedactStrategy::kPartial: {
      // Keeps the last four characters of a long match; the rest is masked.
      // Four characters cannot form a match of any rule on their own.
      if (match.size() < 8) return std::string(match.size(), '*');
      return std::string(match.size() - 4, '*') + std::string(match.substr(match.size() - 4));
    }
  }
  return "[REDACTED]";
}

// Spans "[...]" (no nesting, no newline, at most 256 bytes inside) that
// redaction leaves alone: citations and earlier labels.
std::vector<std::pair<size_t, size_t>> ProtectedSpans(std::string_view s) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '[') continue;
    size_t j = i + 1;
    while (j < s.size() && j - i <= 257 && s[j] != ']' && s[j] != '[' && s[j] != '\n') ++j;
    if (j < s.size() && s[j] == ']' && j > i + 1) {
      out.emplace_back(i, j + 1);
      i = j;
    }
  }
  return out;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

Redactor Redactor::Builtin(RedactStrategy strategy) {
  Redactor r;
  for (const BuiltinRule& b : kBuiltin) {
    RedactionRule rule;
    rule.name = b.name;
    rule.pattern = b.pattern;
    rule.strategy = strategy;
    rule.validator = b.validator;
    rule.re = std::move(Compile(rule.name, rule.pattern).value());  // built-ins compile
    rule.pem = rule.name == "PRIVATE_KEY";
    rule.needles = b.needles;
    rule.min_digits = b.min_digits;
    r.rules_.push_back(std::move(rule));
  }
  return r;
}

void Redactor::SetStrategy(RedactStrategy s) {
  for (RedactionRule& r : rules_) r.strategy = s;
}

Status Redactor::Configure(std::string_view json_text) {
  json doc = json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::InvalidArgument("redaction rules: not a JSON object");
  }
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it.key() != "strategy" && it.key() != "rules") {
      return Status::InvalidArgument("redaction rules: unknown field '" + it.key() + "'");
    }
  }
  std::vector<RedactionRule> rules = rules_;
  if (doc.contains("strategy")) {
    RedactStrategy s;
    if (!doc["strategy"].is_string() ||
        !ParseRedactStrategy(doc["strategy"].get<std::string>(), &s)) {
      return Status::InvalidArgument("redaction rules: strategy must be label, mask or partial");
    }
    for (RedactionRule& r : rules) r.strategy = s;
  }
  if (doc.contains("rules")) {
    if (!doc["rules"].is_array())
      return Status::InvalidArgument("redaction rules: rules must be an array");
    for (const json& jr : doc["rules"]) {
      if (!jr.is_object() || !jr.contains("name") || !jr["name"].is_string()) {
        return Status::InvalidArgument("redaction rules: every rule needs a string name");
      }
      const std::string name = jr["name"].get<std::string>();
      if (!ValidName(name)) {
        return Status::InvalidArgument("redaction rules: name '" + name + "' must be [A-Z0-9_]+");
      }
      for (auto it = jr.begin(); it != jr.end(); ++it) {
        const std::string& k = it.key();
        if (k != "name" && k != "pattern" && k != "strategy" && k != "validator" &&
            k != "enabled") {
          return Status::InvalidArgument("redaction rule " + name + ": unknown field '" + k + "'");
        }
      }
      auto existing = std::find_if(rules.begin(), rules.end(),
                                   [&](const RedactionRule& r) { return r.name == name; });
      if (jr.value("enabled", true) == false) {
        if (existing != rules.end()) rules.erase(existing);
        continue;
      }
      RedactionRule rule;
      if (existing != rules.end()) rule = *existing;
      rule.name = name;
      if (jr.contains("pattern")) {
        rule.pem = false;  // a new pattern: no built-in matcher or prefilter applies
        rule.needles.clear();
        rule.min_digits = 0;
        if (!jr["pattern"].is_string() || jr["pattern"].get<std::string>().empty()) {
          return Status::InvalidArgument("redaction rule " + name + ": pattern must be a string");
        }
        rule.pattern = jr["pattern"].get<std::string>();
        Result<std::regex> re = Compile(name, rule.pattern);
        if (!re.ok()) return re.status();
        rule.re = std::move(*re);
      } else if (existing == rules.end()) {
        return Status::InvalidArgument("redaction rule " + name + ": a new rule needs a pattern");
      }
      if (jr.contains("strategy")) {
        if (!jr["strategy"].is_string() ||
            !ParseRedactStrategy(jr["strategy"].get<std::string>(), &rule.strategy)) {
          return Status::InvalidArgument("redaction rule " + name +
                                         ": strategy must be label, mask or partial");
        }
      } else if (existing == rules.end() && doc.contains("strategy")) {
        ParseRedactStrategy(doc["strategy"].get<std::string>(), &rule.strategy);
      }
      if (jr.contains("validator")) {
        if (!jr["validator"].is_string() || (jr["validator"] != "luhn" && jr["validator"] != "")) {
          return Status::InvalidArgument("redaction rule " + name + ": validator must be \"luhn\"");
        }
        rule.validator = jr["validator"].get<std::string>();
      }
      if (existing != rules.end()) {
        *existing = std::move(rule);
      } else {
        rules.push_back(std::move(rule));
      }
    }
  }
  rules_ = std::move(rules);
  return Status::OK();
}

Status Redactor::ConfigureFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("redaction rules file '" + path + "' cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  Status s = Configure(ss.str());
  if (!s.ok()) return Status::InvalidArgument(path + ": " + s.message());
  return s;
}

std::vector<std::string> Redactor::RuleNames() const {
  std::vector<std::string> out;
  for (const RedactionRule& r : rules_) out.push_back(r.name);
  return out;
}

namespace {

bool Overlaps(const std::vector<std::pair<size_t, size_t>>& spans, size_t pos, size_t len) {
  for (const auto& [a, b] : spans) {
    if (pos < b && pos + len > a) return true;
  }
  return false;
}

bool MayMatch(const RedactionRule& rule, std::string_view text) {
  if (!rule.needles.empty() &&
      std::none_of(rule.needles.begin(), rule.needles.end(),
                   [&](const std::string& n) { return text.find(n) != std::string_view::npos; })) {
    return false;
  }
  if (rule.min_digits > 0) {
    size_t digits = 0;
    for (char c : text) {
      if (c >= '0' && c <= '9' && ++digits >= rule.min_digits) return true;
    }
    return false;
  }
  return true;
}

// One regex rule over one piece of text.
std::string ApplyRegex(const RedactionRule& rule, std::string_view piece, RedactionCounts* counts) {
  if (!MayMatch(rule, piece)) return std::string(piece);
  const std::vector<std::pair<size_t, size_t>> spans = ProtectedSpans(piece);
  std::string out;
  size_t copied = 0;
  const char* base = piece.data();
  using It = std::regex_iterator<const char*>;
  for (It it(base, base + piece.size(), rule.re), end; it != end; ++it) {
    const size_t pos = static_cast<size_t>(it->position(0));
    const size_t len = static_cast<size_t>(it->length(0));
    if (len == 0 || Overlaps(spans, pos, len)) continue;
    const std::string_view match = piece.substr(pos, len);
    if (rule.validator == "luhn" && !LuhnValid(match)) continue;
    out.append(piece.substr(copied, pos - copied));
    out += Replacement(rule, match);
    copied = pos + len;
    if (counts != nullptr) ++(*counts)[rule.name];
  }
  if (copied == 0) return std::string(piece);
  out.append(piece.substr(copied));
  return out;
}

// Where the piece starting at `pos` ends: after the last newline, else the
// last whitespace, in the second half of the window; else the window's end.
size_t PieceEnd(const std::string& s, size_t pos) {
  if (s.size() - pos <= kRedactPiece) return s.size();
  const size_t limit = pos + kRedactPiece;
  const size_t half = pos + kRedactPiece / 2;
  for (const char* seps : {"\n", " \t\r"}) {
    const size_t cut = s.find_last_of(seps, limit - 1);
    if (cut != std::string::npos && cut >= half) return cut + 1;
  }
  return limit;
}

// PEM private key blocks, BEGIN to END (to the end of the string when the
// END line is missing: what follows a BEGIN line is key material).
std::string ApplyPem(const RedactionRule& rule, const std::string& s, RedactionCounts* counts) {
  static constexpr std::string_view kBegin = "-----BEGIN ", kEnd = "-----END ",
                                    kTail = "PRIVATE KEY-----";
  const std::vector<std::pair<size_t, size_t>> spans = ProtectedSpans(s);
  auto header_end = [&](size_t at, std::string_view lead) -> size_t {
    // lead, then [A-Z0-9 ]*, then "PRIVATE KEY-----"; returns the end or npos.
    size_t i = at + lead.size();
    while (i < s.size() && i - at < 80 &&
           ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == ' ')) {
      if (s.compare(i, kTail.size(), kTail) == 0) return i + kTail.size();
      ++i;
    }
    return std::string::npos;
  };
  std::string out;
  size_t copied = 0;
  for (size_t at = s.find(kBegin); at != std::string::npos; at = s.find(kBegin, at + 1)) {
    if (at < copied) continue;
    const size_t body = header_end(at, kBegin);
    if (body == std::string::npos) continue;
    size_t stop = s.size();
    for (size_t e = s.find(kEnd, body); e != std::string::npos; e = s.find(kEnd, e + 1)) {
      const size_t end = header_end(e, kEnd);
      if (end != std::string::npos) {
        stop = end;
        break;
      }
    }
    if (Overlaps(spans, at, stop - at)) continue;
    out.append(s, copied, at - copied);
    out += Replacement(rule, std::string_view(s).substr(at, stop - at));
    copied = stop;
    if (counts != nullptr) ++(*counts)[rule.name];
  }
  if (copied == 0) return s;
  out.append(s, copied, std::string::npos);
  return out;
}

}  // namespace

std::string Redactor::RedactString(std::string_view input, RedactionCounts* counts) const {
  std::string s(input);
  for (const RedactionRule& rule : rules_) {
    if (s.size() < 4) break;  // no rule matches fewer than four characters
    if (rule.pem) {
      if (MayMatch(rule, s)) s = ApplyPem(rule, s, counts);
      continue;
    }
    if (s.size() <= kRedactPiece) {
      s = ApplyRegex(rule, s, counts);
      continue;
    }
    std::string out;
    for (size_t pos = 0; pos < s.size();) {
      const size_t end = PieceEnd(s, pos);
      out += ApplyRegex(rule, std::string_view(s).substr(pos, end - pos), counts);
      pos = end;
    }
    s = std::move(out);
  }
  return s;
}

void Redactor::RedactJson(json& j, RedactionCounts* counts) const {
  if (j.is_string()) {
    j = RedactString(j.get_ref<const std::string&>(), counts);
    return;
  }
  if (j.is_array()) {
    for (json& v : j) RedactJson(v, counts);
    return;
  }
  if (!j.is_object()) return;
  json out = json::object();
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    json v = std::move(it.value());
    if (EndsWith(key, "_id") || EndsWith(key, "_hash")) {
      // Identifiers link events together; they are not content.
    } else if (EndsWith(key, "_json") && v.is_string()) {
      json inner = json::parse(v.get_ref<const std::string&>(), nullptr, false);
      if (inner.is_discarded()) {
        v = RedactString(v.get_ref<const std::string&>(), counts);
      } else {
        RedactJson(inner, counts);
        v = CanonicalJson(inner);
      }
    } else {
      RedactJson(v, counts);
    }
    out[RedactString(key, counts)] = std::move(v);
  }
  j = std::move(out);
}

}  // namespace logbook
